//! Step Functions and EventBridge Scheduler adapters.

use aws_sdk_scheduler::Client as SchedulerClient;
use aws_sdk_sfn::Client;
use chrono::{DateTime, Utc};
use serde_json::json;
use shipgate_aws::scheduler::EventBridgeScheduler;
use shipgate_aws::sfn::StepFunctions;
use shipgate_core::ports::{Executions, TaskTokens, WindowScheduler, WorkflowError};

use crate::helpers::Moto;

const DEFINITION: &str = r#"{"StartAt":"Wait","States":{"Wait":{"Type":"Pass","End":true}}}"#;

#[tokio::test]
async fn given_an_execution_name_when_started_twice_then_the_same_execution_is_returned() {
    let Some(moto) = Moto::start() else { return };
    let client = Client::new(&moto.sdk().await);
    let machine = client
        .create_state_machine()
        .name("shipgate-release")
        .definition(DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/shipgate-states")
        .send()
        .await
        .unwrap();
    let sfn = StepFunctions::new(client.clone(), machine.state_machine_arn());
    let input = json!({ "release_id": "api-1.3.0-abc" });
    let first = sfn.start("api-1.3.0-abc", input.clone()).await.unwrap();
    let second = sfn.start("api-1.3.0-abc", input).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first, sfn.execution_arn("api-1.3.0-abc"));
    let described = sfn.describe(&first).await.unwrap();
    assert_eq!(described.arn, first);
}

/// AWS's JSON error answers for token calls, from a server on 127.0.0.1 standing in for
/// Step Functions (moto accepts any token, so it cannot show these).
async fn token_errors_server() -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::http::{HeaderMap, StatusCode};
    let router = axum::Router::new().route(
        "/",
        axum::routing::post(|headers: HeaderMap, body: String| async move {
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let kind = if body.contains("ended-token") {
                "TaskTimedOut"
            } else if body.contains("garbled") {
                "InvalidToken"
            } else if body.contains("busy") {
                "ServiceUnavailable"
            } else {
                "TaskDoesNotExist"
            };
            let status = if kind == "ServiceUnavailable" {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            (
                status,
                [("content-type", "application/x-amz-json-1.0")],
                json!({ "__type": kind, "message": format!("{target}: {kind}") }).to_string(),
            )
        }),
    );
    crate::local_api::serve(router).await
}

#[tokio::test]
async fn given_task_token_errors_when_answered_then_they_are_told_apart() {
    let (url, stop) = token_errors_server().await;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&url)
        .http_client(shipgate_aws::sdk::sdk_http_client())
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let sfn = StepFunctions::new(
        Client::new(&sdk),
        "arn:aws:states:us-east-1:123456789012:stateMachine:shipgate-release",
    );
    assert!(matches!(
        sfn.succeed("unknown-token", json!({})).await,
        Err(WorkflowError::TaskDoesNotExist)
    ));
    assert!(matches!(
        sfn.fail("garbled", "Approval.Rejected", "no").await,
        Err(WorkflowError::TaskDoesNotExist)
    ));
    assert!(matches!(
        sfn.heartbeat("ended-token").await,
        Err(WorkflowError::TaskTimedOut)
    ));
    assert!(matches!(
        sfn.succeed("busy", json!({})).await,
        Err(WorkflowError::Backend(_))
    ));
    stop.send(()).ok();
}

#[tokio::test]
async fn given_a_window_wake_up_when_scheduled_twice_then_a_single_one_time_utc_schedule_exists() {
    let Some(moto) = Moto::start() else { return };
    let client = SchedulerClient::new(&moto.sdk().await);
    client
        .create_schedule_group()
        .name("shipgate")
        .send()
        .await
        .unwrap();
    let scheduler = EventBridgeScheduler::new(
        client.clone(),
        "shipgate",
        "arn:aws:lambda:us-east-1:123456789012:function:shipgate-window",
        "arn:aws:iam::123456789012:role/shipgate-scheduler",
    );
    let at: DateTime<Utc> = "2026-03-12T03:00:00Z".parse().unwrap();
    scheduler.wake_at(at).await.unwrap();
    scheduler.wake_at(at).await.unwrap();
    let schedule = client
        .get_schedule()
        .group_name("shipgate")
        .name(EventBridgeScheduler::schedule_name(at))
        .send()
        .await
        .unwrap();
    assert_eq!(
        schedule.schedule_expression(),
        Some("at(2026-03-12T03:00:00)")
    );
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    let target = schedule.target().unwrap();
    assert_eq!(
        target.arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:shipgate-window"
    );
    assert_eq!(target.input(), Some(r#"{"action":"open"}"#));
    let listed = client
        .list_schedules()
        .group_name("shipgate")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.schedules().len(), 1);
}
