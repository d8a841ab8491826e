//! Arbitrary bodies and links through the real handlers: a signed push or Slack
//! interaction that is not one, and a link that is not a link, are refused with a 4xx —
//! never a panic, never a server error — and change nothing.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tower::ServiceExt;

use crate::helpers::{SLACK_SECRET, Server, sign_github};

async fn status(server: &Server, request: Request<Body>) -> StatusCode {
    match server.router.clone().oneshot(request).await {
        Ok(response) => response.status(),
        Err(never) => match never {},
    }
}

/// Percent-encodes text as one path segment.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn one_case(server: &Server, body: Vec<u8>, link: String) -> Result<(), TestCaseError> {
    let push = Request::post("/webhooks/github")
        .header("x-github-event", "push")
        .header("x-github-delivery", "arbitrary")
        .header("x-hub-signature-256", sign_github(&body))
        .body(Body::from(body.clone()))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(status(server, push).await, StatusCode::BAD_REQUEST);

    let timestamp = server.runtime.deps.now().timestamp().to_string();
    let signature =
        shipgate_web::signature::slack_signature(SLACK_SECRET.as_bytes(), &timestamp, &body);
    let click = Request::post("/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp)
        .header("x-slack-signature", signature)
        .body(Body::from(body))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(status(server, click).await, StatusCode::BAD_REQUEST);

    let path = format!("/approvals/{}", segment(&link));
    for request in [
        Request::get(path.as_str()).body(Body::empty()),
        Request::post(path.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("decision=approve")),
    ] {
        let request = request.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let answered = status(server, request).await;
        prop_assert!(answered.is_client_error(), "{} answered {}", path, answered);
    }
    Ok(())
}

#[test]
fn given_arbitrary_signed_bodies_and_links_when_handled_then_they_are_refused() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let server = runtime.block_on(Server::start("2026-03-10T14:00:00Z"));
    let mut runner = TestRunner::new(Config {
        cases: 128,
        ..Config::default()
    });
    let inputs = (
        prop::collection::vec(any::<u8>(), 0..512),
        prop_oneof![any::<String>(), "[A-Za-z0-9_.-]{0,120}"],
    );
    let outcome = runner.run(&inputs, |(body, link)| {
        runtime.block_on(one_case(&server, body, link))
    });
    let releases = runtime
        .block_on(server.runtime.deps.store.list(&Default::default()))
        .expect("the releases");
    runtime.block_on(server.stop());
    outcome.expect("every arbitrary input is refused");
    assert!(releases.is_empty(), "arbitrary input started a release");
}
