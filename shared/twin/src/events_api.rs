//! EventBridge's `PutEvents` (awsJson 1.1, `X-Amz-Target: AWSEvents.PutEvents`) on the
//! twin: what the functions and the CLI call through `AWS_ENDPOINT_URL_EVENTBRIDGE`. Each
//! call is authorised against the caller's policies (moto's IAM evaluation, through the
//! launcher); each entry becomes an event on the default bus, delivered to the rules it
//! matches ([`crate::rules`]). Answers as EventBridge does: per-entry results, a failed
//! entry counted in `FailedEntryCount`, not an HTTP error.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::calls::CallLog;
use crate::clock::TwinClock;
use crate::launcher::Control;
use crate::manifest::Manifest;
use crate::rules::Rules;
use crate::signed;

pub struct EventsApi {
    pub rules: Arc<Rules>,
    pub manifest: Arc<Manifest>,
    pub control: Control,
    pub calls: Arc<CallLog>,
    pub clock: TwinClock,
}

pub fn router(api: Arc<EventsApi>) -> Router {
    Router::new().fallback(handle).with_state(api)
}

const JSON: &str = "application/x-amz-json-1.1";

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"__type": kind, "message": message.into()});
    (
        status,
        [("content-type", JSON), ("x-amzn-errortype", kind)],
        body.to_string(),
    )
        .into_response()
}

/// The event EventBridge makes of a `PutEvents` entry, or why the entry fails.
pub fn event_of(
    entry: &Value,
    account: &str,
    region: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, (&'static str, String)> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str);
    let (Some(source), Some(detail_type), Some(detail)) =
        (text("Source"), text("DetailType"), text("Detail"))
    else {
        return Err((
            "InvalidArgument",
            "Source, DetailType and Detail are required".into(),
        ));
    };
    if source.starts_with("aws.") {
        return Err((
            "NotAuthorizedForSourceException",
            format!("Not authorized for the source {source}"),
        ));
    }
    let Ok(detail @ Value::Object(_)) = serde_json::from_str::<Value>(detail) else {
        return Err((
            "MalformedDetail",
            "Detail is malformed (a JSON object is required)".into(),
        ));
    };
    Ok(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": region,
        "resources": entry.get("Resources").cloned().unwrap_or_else(|| json!([])),
        "detail": detail,
    }))
}

async fn handle(State(api): State<Arc<EventsApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AWSEvents."));
    if target != Some("PutEvents") {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "the twin's EventBridge serves PutEvents only",
        );
    }
    let action = "events:PutEvents";
    if let Err(refused) =
        signed::authorize(&headers, &api.manifest, &api.control, &api.calls, action).await
    {
        let status = refused.status(StatusCode::BAD_REQUEST);
        return error(status, refused.kind(), refused.message());
    }
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the body is not JSON",
        );
    };
    let entries = input
        .get("Entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if entries.is_empty() || entries.len() > 10 {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "Entries must hold 1 to 10 entries",
        );
    }
    let mut results = Vec::new();
    let mut failed = 0;
    for entry in &entries {
        match event_of(
            entry,
            &api.manifest.account,
            &api.manifest.region,
            api.clock.now(),
        ) {
            Ok(event) => {
                let id = event["id"].clone();
                api.rules.deliver(&event).await;
                results.push(json!({ "EventId": id }));
            }
            Err((code, message)) => {
                failed += 1;
                results.push(json!({ "ErrorCode": code, "ErrorMessage": message }));
            }
        }
    }
    (
        StatusCode::OK,
        [("content-type", JSON)],
        json!({ "FailedEntryCount": failed, "Entries": results }).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_entry_when_put_then_it_is_the_event_rules_match_or_fails_as_eventbridge_does() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let entry = json!({
            "Source": "shipgate",
            "DetailType": "Manual Rollback Requested",
            "Resources": ["arn:aws:states:us-east-1:123456789012:stateMachine:s"],
            "Detail": "{\"release_id\":\"r\"}",
        });
        let event = event_of(&entry, "123456789012", "us-east-1", now).unwrap();
        assert_eq!(event["detail"]["release_id"], "r");
        assert_eq!(event["detail-type"], "Manual Rollback Requested");
        assert_eq!(event["account"], "123456789012");
        let pattern = json!({
            "source": ["shipgate"],
            "resources": ["arn:aws:states:us-east-1:123456789012:stateMachine:s"],
        });
        assert!(crate::events::matches(&pattern, &event));
        let aws = json!({"Source": "aws.cloudwatch", "DetailType": "x", "Detail": "{}"});
        assert_eq!(
            event_of(&aws, "1", "r", now).unwrap_err().0,
            "NotAuthorizedForSourceException"
        );
        let garbled = json!({"Source": "s", "DetailType": "x", "Detail": "[1]"});
        assert_eq!(
            event_of(&garbled, "1", "r", now).unwrap_err().0,
            "MalformedDetail"
        );
    }
}
