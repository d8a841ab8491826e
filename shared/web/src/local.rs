//! `POST /local/alarms/{name}` (local runtime only): trips a simulated alarm and delivers
//! the alarm event as the EventBridge rule would in production, so a person can watch the
//! live release roll back. A browser form is sent back to the dashboard; other callers get
//! JSON.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use shipgate_core::gates::rollback;

use crate::Shared;

pub async fn trip_alarm(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(trip) = state.hooks.trip_alarm.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let reason = "tripped by hand from the dashboard".to_string();
    if let Err(err) = trip(name.clone(), reason.clone()).await {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": err }))).into_response();
    }
    let rolled_back = match rollback::on_alarm(&state.deps, &name, &reason).await {
        Ok(release) => release.map(|r| r.id),
        Err(err) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": err.to_string() })),
            )
                .into_response();
        }
    };
    (state.hooks.after_change)();
    let from_browser = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if from_browser {
        return Redirect::to("/").into_response();
    }
    Json(json!({ "alarm": name, "rolled_back": rolled_back })).into_response()
}
