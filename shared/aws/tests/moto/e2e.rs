//! The pipeline on the AWS adapters: `statemachine.json` on the local engine, with the
//! DynamoDB release store, CloudWatch alarms (set with `SetAlarmState`) and SES email on
//! moto. ECS stays simulated: moto's deployments never become stable.

use std::sync::Arc;

use aws_sdk_cloudwatch::types::StateValue;
use chrono::{DateTime, Utc};
use shipgate_aws::cloudwatch::CloudWatchAlarms;
use shipgate_aws::dynamo::DynamoReleaseStore;
use shipgate_aws::notify::{AwsNotifier, SesEmail};
use shipgate_core::model::{Changelog, Decision, NewRelease};
use shipgate_core::ports::ReleaseStore;
use shipgate_core::releases;
use shipgate_core::{Config, ReleaseId, ReleaseState};
use shipgate_local::runtime::{LocalClock, PortOverrides, Runtime, RuntimeOptions};

use crate::cloudwatch::put_alarm;
use crate::helpers::Moto;

const SEED: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:41";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct World {
    runtime: Runtime,
    store: Arc<DynamoReleaseStore>,
    cloudwatch: aws_sdk_cloudwatch::Client,
    _dir: tempfile::TempDir,
}

async fn world(moto: &Moto) -> World {
    let sdk = moto.sdk().await;
    let store = Arc::new(DynamoReleaseStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "shipgate",
    ));
    store.create_table().await.unwrap();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    put_alarm(&cloudwatch, "roleferry-api-5xx-rate").await;
    put_alarm(&cloudwatch, "roleferry-api-p99-latency").await;
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    ses.create_email_identity()
        .email_identity("shipgate@example.com")
        .send()
        .await
        .unwrap();

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shipgate.toml"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open_with(
        RuntimeOptions {
            data_dir: dir.path().to_path_buf(),
            config: Config::from_toml_str(&text).unwrap(),
            definition: std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../statemachine.json"
            ))
            .unwrap(),
            clock: LocalClock::virtual_at(at("2026-03-10T09:00:00Z")),
            demo_service: true,
        },
        PortOverrides {
            store: Some(store.clone()),
            alarms: Some(Arc::new(CloudWatchAlarms::new(cloudwatch.clone(), None))),
            notifier: Some(Arc::new(AwsNotifier {
                email: Some(SesEmail::new(ses, "shipgate@example.com")),
                slack: None,
                status_page: None,
                pagerduty: None,
                sent: None,
            })),
            github: None,
        },
    )
    .await
    .unwrap();
    World {
        runtime,
        store,
        cloudwatch,
        _dir: dir,
    }
}

async fn start_and_approve(world: &World) -> ReleaseId {
    let runtime = &world.runtime;
    let started = releases::start(
        &runtime.deps,
        NewRelease {
            service: runtime.config.service.name.clone(),
            version: "1.3.0".parse().unwrap(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            author: "alex".into(),
            changelog: Changelog {
                features: vec!["AI Copilot (beta)".into()],
                fixes: vec![],
            },
            release_type: None,
            bypass_reason: None,
            contributors: Vec::new(),
            user_announcement: None,
        },
    )
    .await
    .unwrap();
    runtime.run_due().await.unwrap();
    runtime.run_until(at("2026-03-10T14:00:00Z")).await.unwrap();
    releases::decide(
        &runtime.deps,
        &started.release.id,
        "lee",
        Decision::Approved,
        None,
    )
    .await
    .unwrap();
    runtime.run_due().await.unwrap();
    started.release.id
}

async fn emails(moto: &Moto) -> String {
    crate::messaging::backend_data(moto).await
}

#[tokio::test]
async fn given_dynamodb_cloudwatch_and_ses_when_a_minor_release_is_approved_then_it_succeeds() {
    let Some(moto) = Moto::start() else { return };
    let world = world(&moto).await;
    let id = start_and_approve(&world).await;
    world
        .runtime
        .run_until(at("2026-03-11T06:00:00Z"))
        .await
        .unwrap();

    let release = world.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        release.state,
        ReleaseState::Succeeded,
        "{:#?}",
        release.events
    );
    assert_eq!(release.deploy_started_at, Some(at("2026-03-11T03:00:00Z")));
    assert_eq!(release.previous_task_definition.as_deref(), Some(SEED));
    assert!(release.events.iter().any(|e| e.kind == "announced"));
    assert_eq!(
        world
            .store
            .last_released(&release.service)
            .await
            .unwrap()
            .map(|r| r.id),
        Some(id)
    );
    let sent = emails(&moto).await;
    assert!(
        sent.contains("Approval needed"),
        "the approval request went out by SES"
    );
    assert!(
        sent.contains("deployed to production"),
        "the outcome went out by SES"
    );
    world.runtime.shutdown().await;
}

#[tokio::test]
async fn given_dynamodb_cloudwatch_and_ses_when_an_alarm_fires_in_monitoring_then_it_rolls_back() {
    let Some(moto) = Moto::start() else { return };
    let world = world(&moto).await;
    let id = start_and_approve(&world).await;
    world
        .runtime
        .run_until(at("2026-03-11T03:20:00Z"))
        .await
        .unwrap();
    assert_eq!(
        world.store.get(&id).await.unwrap().unwrap().state,
        ReleaseState::Monitoring
    );

    world
        .cloudwatch
        .set_alarm_state()
        .alarm_name("roleferry-api-5xx-rate")
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: 5xx above 2%")
        .send()
        .await
        .unwrap();
    world
        .runtime
        .run_until(at("2026-03-11T06:00:00Z"))
        .await
        .unwrap();

    let release = world.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        release.state,
        ReleaseState::RolledBack,
        "{:#?}",
        release.events
    );
    assert!(release.outcome.unwrap().contains("roleferry-api-5xx-rate"));
    let serving = world
        .runtime
        .ecs
        .serving("roleferry-prod", "api")
        .unwrap()
        .unwrap();
    assert_eq!(serving.task_definition, SEED);
    assert!(emails(&moto).await.contains("rolled back"));
    world.runtime.shutdown().await;
}
