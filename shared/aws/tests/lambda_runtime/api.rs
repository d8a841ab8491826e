//! A Lambda Runtime API server for tests and benchmarks: it hands one event to the
//! function on `GET /next` and records the response or error it posts back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Response(Value),
    Error(Value),
    InitError(Value),
}

#[derive(Clone)]
pub(crate) struct RuntimeApi {
    pub event: Arc<Mutex<Option<Value>>>,
    pub answer: Arc<Mutex<Option<Answer>>>,
    /// When the function first asked for an event.
    pub first_poll: Arc<Mutex<Option<std::time::Instant>>>,
}

async fn next(State(api): State<RuntimeApi>) -> impl IntoResponse {
    api.first_poll
        .lock()
        .unwrap()
        .get_or_insert_with(std::time::Instant::now);
    let event = api.event.lock().unwrap().take();
    match event {
        Some(event) => {
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
            let deadline = (chrono::Utc::now() + chrono::Duration::seconds(30)).timestamp_millis();
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:shipgate"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".parse().unwrap(),
            );
            (StatusCode::OK, headers, event.to_string()).into_response()
        }
        // One event per test: later polls wait until the process is stopped.
        None => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

fn record(api: &RuntimeApi, answer: Answer) -> StatusCode {
    *api.answer.lock().unwrap() = Some(answer);
    StatusCode::ACCEPTED
}

pub(crate) fn router(api: RuntimeApi) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(
                |State(api): State<RuntimeApi>, Path(_id): Path<String>, body: String| async move {
                    record(
                        &api,
                        Answer::Response(
                            serde_json::from_str(&body).unwrap_or(Value::String(body)),
                        ),
                    )
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(
                |State(api): State<RuntimeApi>, Path(_id): Path<String>, body: String| async move {
                    record(
                        &api,
                        Answer::Error(serde_json::from_str(&body).unwrap_or(Value::String(body))),
                    )
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(api): State<RuntimeApi>, body: String| async move {
                record(
                    &api,
                    Answer::InitError(serde_json::from_str(&body).unwrap_or(Value::String(body))),
                )
            }),
        )
        .with_state(api)
}
