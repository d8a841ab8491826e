//! SES email, SSM secrets, and the Slack and status-page HTTP APIs (against servers on
//! 127.0.0.1 that this test starts and stops).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use shipgate_aws::notify::{AwsNotifier, SesEmail, SlackApi, StatusPageApi, http_client};
use shipgate_aws::ssm::{SecretError, SsmSecrets};
use shipgate_core::ports::{Notification, Notifier, NotifyError};

use crate::helpers::Moto;
use crate::local_api::serve;

/// What moto's backends hold (`/moto-api/data.json`), as text: where the tests find the
/// emails SES sent.
pub(crate) async fn backend_data(moto: &Moto) -> String {
    let http = shipgate_aws::http::HttpsClient::new(Duration::from_secs(5)).unwrap();
    let data = http
        .send(
            http::Method::GET,
            &format!("{}/moto-api/data.json", moto.endpoint),
            None,
            None,
        )
        .await
        .unwrap();
    data.json()
        .map(|v: Value| v.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn given_ssm_parameters_when_read_then_decrypted_in_one_call_and_each_missing_one_named() {
    let Some(moto) = Moto::start() else { return };
    let client = aws_sdk_ssm::Client::new(&moto.sdk().await);
    for (name, value) in [
        ("/shipgate/slack-bot-token", "xoxb-test-token"),
        ("/shipgate/link-key", "link key"),
    ] {
        client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let secrets = SsmSecrets::new(client.clone());
    let values = secrets
        .get_all(&["/shipgate/slack-bot-token", "/shipgate/link-key"])
        .await
        .unwrap();
    assert_eq!(values["/shipgate/slack-bot-token"], "xoxb-test-token");
    assert_eq!(values["/shipgate/link-key"], "link key");
    // More names than one call takes are read in several.
    let many: Vec<String> = (0..12).map(|n| format!("/shipgate/p{n}")).collect();
    for name in &many {
        client
            .put_parameter()
            .name(name)
            .value(name.as_str())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(secrets.get_all(&names).await.unwrap().len(), 12);
    match secrets
        .get_all(&["/shipgate/link-key", "/shipgate/missing", "/shipgate/gone"])
        .await
    {
        Err(SecretError::Missing(names)) => {
            assert_eq!(names, "/shipgate/gone, /shipgate/missing")
        }
        other => panic!("expected the missing parameters named: {other:?}"),
    }
    assert_eq!(secrets.get("/shipgate/link-key").await.unwrap(), "link key");
}

#[tokio::test]
async fn given_an_email_notification_when_sent_then_it_goes_through_ses() {
    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk().await;
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    ses.create_email_identity()
        .email_identity("shipgate@example.com")
        .send()
        .await
        .unwrap();
    let notifier = AwsNotifier {
        email: Some(SesEmail::new(ses, "shipgate@example.com")),
        slack: None,
        status_page: None,
        pagerduty: None,
        sent: None,
    };
    notifier
        .send(&Notification::Email {
            to: vec!["cto@example.com".into()],
            subject: "v1.3.0 of api: Succeeded".into(),
            text: "🚀 Release v1.3.0 deployed to production".into(),
            links: vec![],
            release_id: "api-1.3.0-abc".into(),
        })
        .await
        .unwrap();
    // moto keeps what SES sent at its backend-inspection endpoint.
    let sent = backend_data(&moto).await;
    assert!(sent.contains("cto@example.com"), "moto recorded the email");

    let unverified = AwsNotifier {
        email: Some(SesEmail::new(
            aws_sdk_sesv2::Client::new(&sdk),
            "nobody@unverified.example",
        )),
        slack: None,
        status_page: None,
        pagerduty: None,
        sent: None,
    };
    let err = unverified
        .send(&Notification::Email {
            to: vec!["cto@example.com".into()],
            subject: "s".into(),
            text: "t".into(),
            links: vec![],
            release_id: "r".into(),
        })
        .await;
    assert!(
        matches!(
            err,
            Err(NotifyError::Delivery {
                channel: "email",
                ..
            })
        ),
        "{err:?}"
    );
}

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    throttle_first: Arc<Mutex<bool>>,
}

async fn slack(State(seen): State<Seen>, headers: HeaderMap, body: String) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    {
        let mut throttle = seen.throttle_first.lock().unwrap();
        if *throttle {
            *throttle = false;
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "").into_response();
        }
    }
    seen.requests.lock().unwrap().push((auth, body.clone()));
    if body["channel"] == "#nowhere" {
        return axum::Json(json!({ "ok": false, "error": "channel_not_found" })).into_response();
    }
    axum::Json(json!({ "ok": true, "channel": "C0RELEASES", "ts": "1741600000.000100" }))
        .into_response()
}

#[tokio::test]
async fn given_slack_posts_and_updates_when_throttled_or_refused_then_retried_once_or_reported() {
    let seen = Seen::default();
    let router = Router::new()
        .route("/api/chat.postMessage", post(slack))
        .route("/api/chat.update", post(slack))
        .with_state(seen.clone());
    let (url, stop) = serve(router).await;
    let api = SlackApi::new(
        http_client(Duration::from_secs(5)).unwrap(),
        format!("{url}/api"),
        "xoxb-test",
    );

    *seen.throttle_first.lock().unwrap() = true;
    let posted = api
        .post("#releases", "🚀 Release v1.3.0", &json!([]))
        .await
        .unwrap();
    assert_eq!(posted.ts, "1741600000.000100");
    api.update(&posted, "approved by lee", &json!([]))
        .await
        .unwrap();
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0, "Bearer xoxb-test");
    assert_eq!(requests[0].1["channel"], "#releases");
    assert_eq!(requests[1].1["ts"], "1741600000.000100");

    let err = api.post("#nowhere", "x", &json!([])).await.unwrap_err();
    assert!(
        format!("{:?}", err).contains("channel_not_found"),
        "{err:?}"
    );
    stop.send(()).ok();
}

#[tokio::test]
async fn given_a_private_answer_when_sent_then_via_the_response_url_else_an_ephemeral_message() {
    let seen = Seen::default();
    let router = Router::new()
        .route("/api/chat.postEphemeral", post(slack))
        .route("/respond/T0/1", post(slack))
        .with_state(seen.clone());
    let (url, stop) = serve(router).await;
    let api = SlackApi::new(
        http_client(Duration::from_secs(5)).unwrap(),
        format!("{url}/api"),
        "xoxb-test",
    );
    let text = "Nothing left to decide on api-1.3.0-abc";
    api.answer_privately(
        "U0LEAD001",
        Some(&format!("{url}/respond/T0/1")),
        Some("C0"),
        text,
    )
    .await
    .unwrap();
    api.answer_privately("U0LEAD001", None, Some("C0"), text)
        .await
        .unwrap();
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    // The response_url is its own credential: no token; ephemeral, the original kept
    assert_eq!(requests[0].0, "");
    assert_eq!(
        requests[0].1,
        json!({"response_type": "ephemeral", "replace_original": false, "text": text})
    );
    // Without one: chat.postEphemeral to that user in that conversation, with the token
    assert_eq!(requests[1].0, "Bearer xoxb-test");
    assert_eq!(
        requests[1].1,
        json!({"channel": "C0", "user": "U0LEAD001", "text": text})
    );
    stop.send(()).ok();
}

#[tokio::test]
async fn given_a_status_page_update_when_sent_then_status_and_message_go_with_its_token() {
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/v1/status",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: String| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    seen.requests
                        .lock()
                        .unwrap()
                        .push((auth, serde_json::from_str(&body).unwrap_or(Value::Null)));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(seen.clone());
    let (url, stop) = serve(router).await;
    let page = StatusPageApi::new(
        http_client(Duration::from_secs(5)).unwrap(),
        &url,
        "page-token",
    );
    page.update(
        "maintenance",
        "Maintenance in progress: deploying v1.3.0 of api",
        "api-1.3.0-abc",
    )
    .await
    .unwrap();
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests[0].0, "Bearer page-token");
    assert_eq!(
        requests[0].1,
        json!({"status": "maintenance", "message": "Maintenance in progress: deploying v1.3.0 of api", "release_id": "api-1.3.0-abc"})
    );
    stop.send(()).ok();

    let gone = StatusPageApi::new(http_client(Duration::from_secs(2)).unwrap(), &url, "t");
    assert!(
        gone.update("operational", "x", "r").await.is_err(),
        "a stopped server is an error, not a silent success"
    );
}

#[tokio::test]
async fn given_a_keyed_message_when_sent_again_on_retries_then_it_goes_out_once() {
    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk().await;
    let store = shipgate_aws::dynamo::DynamoReleaseStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "sent-marks",
    );
    store.create_table().await.unwrap();
    let seen = Seen::default();
    let router = Router::new()
        .route("/api/chat.postMessage", post(slack))
        .with_state(seen.clone());
    let (url, stop) = serve(router).await;
    let notifier = AwsNotifier {
        email: None,
        slack: Some(SlackApi::new(
            http_client(Duration::from_secs(5)).unwrap(),
            format!("{url}/api"),
            "xoxb-test",
        )),
        status_page: None,
        pagerduty: None,
        sent: Some(shipgate_aws::sent::SentMarks::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            "sent-marks",
        )),
    };
    let ask = |text: &str| Notification::Slack {
        to: "#releases".into(),
        text: text.into(),
        blocks: json!([]),
        release_id: "api-1.3.0-abc".into(),
    };
    for _ in 0..3 {
        notifier
            .send_once("api-1.3.0-abc/asked/lee/0", &ask("please approve"))
            .await
            .unwrap();
    }
    notifier
        .send_once("api-1.3.0-abc/reminded-0/lee/0", &ask("reminder"))
        .await
        .unwrap();
    let texts: Vec<Value> = seen
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| body["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("please approve"), json!("reminder")]);
    stop.send(()).ok();
}
