//! The world outside AWS that the stack talks to, on one server on 127.0.0.1:
//! - `/slack/api/{method}`: a Slack Web API double recording `chat.postMessage`,
//!   `chat.postEphemeral`, `chat.update` and `views.open` (bearer token checked);
//! - `/status/v1/status`: the status page API;
//! - `/github/repos/{owner}/{name}/...`: GitHub's REST API on the service's repository
//!   ([`GitHubWorld`]), token checked, every call recorded;
//! - `/pagerduty/v2/enqueue`, `/pagerduty/v2/change/enqueue`: PagerDuty's Events API v2,
//!   routing key checked, every event recorded;
//! - `/app/...`: the service itself, as the health checks see it — the demo application's
//!   critical paths, answering 500 on a path the serving version is set to fail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde::Serialize;
use serde_json::{Value, json};

use shipgate_core::github::GitHubRequest;
use shipgate_local::demo::CallView;
use shipgate_local::github::GitHubWorld;

use crate::launcher::Control;

/// A message the stack sent outside.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    /// `slack`, `slack_update` or `status_page`.
    pub channel: String,
    /// The Slack channel, or the status.
    pub to: String,
    pub text: String,
    pub body: Value,
    /// The Slack message's `ts` (for a button click on it).
    pub ts: Option<String>,
}

pub struct Outside {
    pub slack_token: String,
    pub status_token: String,
    pub github_token: String,
    pub pagerduty_routing_key: String,
    pagerduty_events: Mutex<Vec<CallView>>,
    /// The repository GitHub's double holds (`service.repository`).
    pub repository: String,
    pub github: Mutex<GitHubWorld>,
    github_calls: Mutex<Vec<CallView>>,
    pub control: Control,
    /// Failing paths by image tag.
    pub failing_paths: Mutex<HashMap<String, String>>,
    pub sent: Mutex<Vec<Sent>>,
    ts: Mutex<u64>,
}

impl Outside {
    pub fn new(
        slack_token: &str,
        status_token: &str,
        github_token: &str,
        pagerduty_routing_key: &str,
        repository: &str,
        control: Control,
    ) -> Self {
        Self {
            slack_token: slack_token.into(),
            status_token: status_token.into(),
            github_token: github_token.into(),
            pagerduty_routing_key: pagerduty_routing_key.into(),
            pagerduty_events: Mutex::default(),
            repository: repository.into(),
            github: Mutex::default(),
            github_calls: Mutex::default(),
            control,
            failing_paths: Mutex::default(),
            sent: Mutex::default(),
            ts: Mutex::new(1_773_100_000),
        }
    }

    /// The events PagerDuty's double accepted, in order.
    pub fn pagerduty_events(&self) -> Vec<CallView> {
        self.pagerduty_events
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The calls GitHub's double received, in order.
    pub fn github_calls(&self) -> Vec<CallView> {
        self.github_calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn record(&self, sent: Sent) {
        if let Ok(mut all) = self.sent.lock() {
            all.push(sent);
        }
    }
}

pub fn router(outside: Arc<Outside>) -> Router {
    Router::new()
        .route("/slack/api/{method}", post(slack))
        .route("/status/v1/status", post(status_page))
        .route("/github/{*path}", any(github))
        .route("/pagerduty/v2/{*path}", post(pagerduty))
        .route("/app/{*path}", any(app))
        .route("/env/{name}/app/{*path}", any(environment_app))
        .with_state(outside)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn slack(
    State(outside): State<Arc<Outside>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if bearer(&headers) != Some(outside.slack_token.as_str()) {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return axum::Json(json!({"ok": false, "error": "invalid_json"})).into_response();
    };
    let channel = body["channel"].as_str().unwrap_or_default().to_string();
    let text = body["text"].as_str().unwrap_or_default().to_string();
    match method.as_str() {
        "chat.postMessage" => {
            if channel.is_empty() {
                return axum::Json(json!({"ok": false, "error": "channel_not_found"}))
                    .into_response();
            }
            let ts = match outside.ts.lock() {
                Ok(mut ts) => {
                    *ts += 1;
                    format!("{}.000100", *ts)
                }
                Err(_) => "0.000100".to_string(),
            };
            outside.record(Sent {
                channel: "slack".into(),
                to: channel.clone(),
                text,
                body: body.clone(),
                ts: Some(ts.clone()),
            });
            axum::Json(json!({"ok": true, "channel": channel, "ts": ts, "message": body}))
                .into_response()
        }
        "chat.postEphemeral" => {
            let user = body["user"].as_str().unwrap_or_default().to_string();
            if channel.is_empty() || user.is_empty() {
                return axum::Json(json!({"ok": false, "error": "invalid_arguments"}))
                    .into_response();
            }
            outside.record(Sent {
                channel: "slack_ephemeral".into(),
                to: user,
                text,
                body: body.clone(),
                ts: None,
            });
            axum::Json(json!({"ok": true, "message_ts": "0.000200"})).into_response()
        }
        "chat.update" => {
            outside.record(Sent {
                channel: "slack_update".into(),
                to: channel.clone(),
                text,
                body: body.clone(),
                ts: body["ts"].as_str().map(str::to_string),
            });
            axum::Json(json!({"ok": true, "channel": channel, "ts": body["ts"]})).into_response()
        }
        "views.open" => {
            if body["trigger_id"].as_str().is_none_or(str::is_empty) || !body["view"].is_object() {
                return axum::Json(json!({"ok": false, "error": "invalid_arguments"}))
                    .into_response();
            }
            outside.record(Sent {
                channel: "slack_modal".into(),
                to: body["trigger_id"].as_str().unwrap_or_default().to_string(),
                text: body["view"]["title"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                body: body.clone(),
                ts: None,
            });
            axum::Json(json!({"ok": true, "view": body["view"]})).into_response()
        }
        _ => axum::Json(json!({"ok": false, "error": "unknown_method"})).into_response(),
    }
}

async fn status_page(
    State(outside): State<Arc<Outside>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if bearer(&headers) != Some(outside.status_token.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    outside.record(Sent {
        channel: "status_page".into(),
        to: body["status"].as_str().unwrap_or_default().to_string(),
        text: body["message"].as_str().unwrap_or_default().to_string(),
        body,
        ts: None,
    });
    StatusCode::OK.into_response()
}

/// GitHub's REST API: `Authorization: Bearer <token>` (or `token <token>`), JSON bodies,
/// answers from the repository's [`GitHubWorld`].
async fn github(
    State(outside): State<Arc<Outside>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    if token != Some(outside.github_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    if headers.get("user-agent").is_none() {
        // GitHub refuses requests without a User-Agent.
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"message": "Request forbidden: a User-Agent header is required"})),
        )
            .into_response();
    }
    let body = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(body) => Some(body),
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"message": "Problems parsing JSON"})),
                )
                    .into_response();
            }
        }
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_default()
        .strip_prefix("/github")
        .unwrap_or_default()
        .to_string();
    let request = GitHubRequest {
        method: method.to_string(),
        path,
        body,
    };
    let answer = match outside.github.lock() {
        Ok(mut world) => world.answer(&outside.repository, &request),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if let Ok(mut calls) = outside.github_calls.lock() {
        calls.push(CallView {
            method: request.method,
            path: request.path,
            status: answer.status,
            body: request.body.unwrap_or(Value::Null),
        });
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if answer.body.is_null() {
        status.into_response()
    } else {
        (status, axum::Json(answer.body)).into_response()
    }
}

/// PagerDuty's Events API v2: 202 for an event with the integration's routing key, 400
/// with `errors` otherwise, as PagerDuty documents.
async fn pagerduty(
    State(outside): State<Arc<Outside>>,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    let invalid = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": [why]})),
        )
            .into_response()
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("Malformed JSON");
    };
    if body["routing_key"].as_str() != Some(outside.pagerduty_routing_key.as_str()) {
        return invalid("Invalid routing key");
    }
    let summary = body["payload"]["summary"].as_str().unwrap_or_default();
    let known = match path.as_str() {
        "enqueue" => matches!(
            body["event_action"].as_str(),
            Some("trigger" | "acknowledge" | "resolve")
        ),
        "change/enqueue" => true,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !known || summary.is_empty() || body["payload"]["source"].as_str().is_none() {
        return invalid(
            "'payload.summary', 'payload.source' and a valid 'event_action' are required",
        );
    }
    let mut recorded = body.clone();
    if let Some(object) = recorded.as_object_mut() {
        object.remove("routing_key");
    }
    if let Ok(mut events) = outside.pagerduty_events.lock() {
        events.push(CallView {
            method: "POST".into(),
            path: format!("/v2/{path}"),
            status: 202,
            body: recorded,
        });
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]})),
    )
        .into_response()
}

/// An environment before production (staging), as its smoke tests see it: the critical
/// paths answer; it has no faults of its own.
async fn environment_app(
    axum::extract::Path((name, path)): axum::extract::Path<(String, String)>,
    method: Method,
) -> Response {
    let path = format!("/{path}");
    let known = matches!(
        (method.as_str(), path.as_str()),
        ("GET", "/health") | ("GET", "/jobs") | ("POST", "/apply")
    );
    if !known {
        return (StatusCode::NOT_FOUND, "no such path").into_response();
    }
    axum::Json(json!({"ok": true, "path": path, "environment": name})).into_response()
}

async fn app(State(outside): State<Arc<Outside>>, method: Method, uri: Uri) -> Response {
    let path = uri.path().strip_prefix("/app").unwrap_or("/").to_string();
    let known = matches!(
        (method.as_str(), path.as_str()),
        ("GET", "/health") | ("GET", "/jobs") | ("POST", "/apply")
    );
    if !known {
        return (StatusCode::NOT_FOUND, "no such path").into_response();
    }
    let serving = outside.control.service().await.ok();
    let tag = serving
        .and_then(|s| s.serving_image_tag)
        .unwrap_or_default();
    let failing = outside
        .failing_paths
        .lock()
        .ok()
        .and_then(|f| f.get(&tag).cloned());
    if failing.as_deref() == Some(path.as_str()) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": format!("{path} fails in {tag}")})),
        )
            .into_response();
    }
    axum::Json(json!({"ok": true, "path": path, "version": tag})).into_response()
}
