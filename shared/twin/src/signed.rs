//! A signed request to one of the twin's own AWS APIs (Step Functions, EventBridge,
//! Lambda's control plane): who sent it — the SigV4 access key, known to the manifest —
//! and whether their policies allow the action (moto's IAM evaluation through the
//! launcher), the decision recorded in the call log as AWS's would be in CloudTrail.

use axum::http::{HeaderMap, StatusCode};

use crate::calls::CallLog;
use crate::launcher::Control;
use crate::manifest::Manifest;

/// Why a request was refused, in AWS's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Unsigned,
    UnknownKey,
    Denied {
        caller: String,
        action: String,
    },
    /// The launcher could not be asked.
    Failed(String),
}

impl Refused {
    /// The error code the SDKs read.
    pub fn kind(&self) -> &'static str {
        match self {
            Refused::Unsigned => "MissingAuthenticationTokenException",
            Refused::UnknownKey => "UnrecognizedClientException",
            Refused::Denied { .. } => "AccessDeniedException",
            Refused::Failed(_) => "InternalFailure",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refused::Unsigned => "the request is not signed".into(),
            Refused::UnknownKey => "The security token included in the request is invalid.".into(),
            Refused::Denied { caller, action } => {
                format!("User: {caller} is not authorized to perform: {action}")
            }
            Refused::Failed(e) => e.clone(),
        }
    }

    /// The HTTP status: the API's own for a caller's fault (`for_caller`), 500 when the
    /// twin failed.
    pub fn status(&self, for_caller: StatusCode) -> StatusCode {
        match self {
            Refused::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => for_caller,
        }
    }
}

/// The access key a SigV4-signed request was signed with.
pub fn access_key(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_string())
}

/// The caller of a signed request, if their policies allow `action`.
pub async fn authorize(
    headers: &HeaderMap,
    manifest: &Manifest,
    control: &Control,
    calls: &CallLog,
    action: &str,
) -> Result<String, Refused> {
    let key = access_key(headers).ok_or(Refused::Unsigned)?;
    let caller = manifest.caller(&key).ok_or(Refused::UnknownKey)?;
    let allowed = control
        .authorize(&key, action)
        .await
        .map_err(|e| Refused::Failed(e.to_string()))?;
    calls.record(&caller, action, allowed);
    if !allowed {
        return Err(Refused::Denied {
            caller,
            action: action.to_string(),
        });
    }
    Ok(caller)
}
