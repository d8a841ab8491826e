//! PagerDuty's Events API v2 over HTTP, against a server on 127.0.0.1 that answers as
//! PagerDuty documents: 202 for an accepted event, 400 with `errors` for an invalid one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use shipgate_aws::notify::{AwsNotifier, PagerDutyEvents, http_client};
use shipgate_core::ports::{Notification, Notifier};

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn enqueue(State(seen): State<Seen>, Path(path): Path<String>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((path, body.clone()));
    if body["routing_key"] != "R0UT1NGKEY" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"] })),
        )
            .into_response();
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "status": "success", "message": "Event processed", "dedup_key": body["dedup_key"] })),
    )
        .into_response()
}

async fn serve(seen: Seen) -> (String, tokio::sync::oneshot::Sender<()>) {
    let router = Router::new()
        .route("/v2/{*path}", post(enqueue))
        .with_state(seen);
    crate::local_api::serve(router).await
}

fn notifier(url: &str, key: &str) -> AwsNotifier {
    AwsNotifier {
        email: None,
        slack: None,
        status_page: None,
        pagerduty: Some(PagerDutyEvents::new(
            http_client(Duration::from_secs(5)).unwrap(),
            url,
            key,
        )),
        sent: None,
    }
}

fn alert() -> Notification {
    Notification::PagerDuty {
        path: "/v2/enqueue".into(),
        event: json!({
            "event_action": "trigger",
            "dedup_key": "shipgate/api-1.3.0-abc1234",
            "payload": { "summary": "v1.3.0 of api: rollback failed", "source": "shipgate/api", "severity": "critical" },
        }),
        text: "v1.3.0 of api: rollback failed".into(),
        release_id: "api-1.3.0-abc1234".into(),
    }
}

#[tokio::test]
async fn given_an_alert_and_a_change_when_sent_then_pagerduty_gets_each_with_the_routing_key() {
    let seen = Seen::default();
    let (url, stop) = serve(seen.clone()).await;
    let pagerduty = notifier(&url, "R0UT1NGKEY");
    pagerduty.send(&alert()).await.unwrap();
    pagerduty
        .send(&Notification::PagerDuty {
            path: "/v2/change/enqueue".into(),
            event: json!({ "payload": { "summary": "Deploying v1.3.0 of api", "source": "shipgate/api" } }),
            text: "Deploying v1.3.0 of api".into(),
            release_id: "api-1.3.0-abc1234".into(),
        })
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, "enqueue");
    assert_eq!(seen[0].1["event_action"], "trigger");
    assert_eq!(seen[0].1["routing_key"], "R0UT1NGKEY");
    assert_eq!(seen[0].1["payload"]["severity"], "critical");
    assert_eq!(seen[1].0, "change/enqueue");
    assert_eq!(seen[1].1["routing_key"], "R0UT1NGKEY");
    stop.send(()).ok();
}

#[tokio::test]
async fn given_a_wrong_routing_key_when_sent_then_the_error_says_what_pagerduty_said() {
    let seen = Seen::default();
    let (url, stop) = serve(seen.clone()).await;
    let err = notifier(&url, "wrong").send(&alert()).await.unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert_eq!(
        chain,
        "the pagerduty notification could not be delivered: /v2/enqueue answered 400 Bad Request: Invalid routing key"
    );
    stop.send(()).ok();
}
