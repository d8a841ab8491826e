//! GitHub's REST API over the HTTPS client the other non-AWS APIs use (hyper, rustls with
//! ring): each [`GitHubCall`] as GitHub documents it, with the token from SSM, the
//! `User-Agent` GitHub requires and the API version pinned. A full GitHub client would
//! bring a second HTTP and TLS stack into every function for a dozen requests.

use http::Method;
use serde_json::{Value, json};
use shipgate_core::github::{GitHub, GitHubAnswer, GitHubCall, GitHubError};

use crate::http::HttpsClient;

/// The REST API version the requests are written against.
pub const API_VERSION: &str = "2022-11-28";

/// GitHub's API on `repository`; `base_url` is `https://api.github.com` in production.
pub struct GitHubApi {
    http: HttpsClient,
    base_url: String,
    repository: String,
    token: Option<String>,
}

impl GitHubApi {
    /// Without a token every call is answered 401, as GitHub answers an anonymous write,
    /// and nothing leaves the function.
    pub fn new(http: HttpsClient, base_url: &str, repository: &str, token: Option<String>) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            repository: repository.to_string(),
            token,
        }
    }
}

#[async_trait::async_trait]
impl GitHub for GitHubApi {
    async fn call(&self, call: &GitHubCall) -> Result<GitHubAnswer, GitHubError> {
        let request = call.request(&self.repository);
        let Some(token) = self.token.as_deref() else {
            tracing::warn!(path = %request.path, "no GitHub token is configured: the call is not made");
            return Ok(GitHubAnswer {
                status: 401,
                body: json!({ "message": "no GitHub token is configured (the stack's GitHubTokenParameterName)" }),
            });
        };
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|e| GitHubError::Unreachable(Box::new(e)))?;
        let url = format!("{}{}", self.base_url, request.path);
        let response = self
            .http
            .send_with(
                method,
                &url,
                Some(token),
                &[
                    ("accept", "application/vnd.github+json"),
                    ("x-github-api-version", API_VERSION),
                    ("user-agent", "shipgate"),
                ],
                request.body.as_ref(),
            )
            .await
            .map_err(|e| GitHubError::Unreachable(Box::new(e)))?;
        let body = if response.body.is_empty() {
            Value::Null
        } else {
            response
                .json()
                .unwrap_or_else(|| json!({ "message": String::from_utf8_lossy(&response.body) }))
        };
        tracing::info!(method = %request.method, path = %request.path, status = response.status.as_u16(), "GitHub answered");
        Ok(GitHubAnswer {
            status: response.status.as_u16(),
            body,
        })
    }
}
