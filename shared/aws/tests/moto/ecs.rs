//! `EcsDeployer` against moto, and the stability logic against recorded service shapes
//! (moto's deployments never leave `IN_PROGRESS`).

use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    ContainerDefinition, Deployment, DeploymentRolloutState, KeyValuePair, NetworkMode,
    PortMapping, Service,
};
use shipgate_aws::ecs::{EcsDeployer, status_of};
use shipgate_core::ports::{DeployError, DeployTarget, Deployer, Rollout};

use crate::helpers::Moto;

async fn setup(client: &Client) -> String {
    client
        .create_cluster()
        .cluster_name("roleferry-prod")
        .send()
        .await
        .unwrap();
    let registered = client
        .register_task_definition()
        .family("roleferry-api")
        .network_mode(NetworkMode::Bridge)
        .cpu("256")
        .memory("512")
        .execution_role_arn("arn:aws:iam::123456789012:role/exec")
        .task_role_arn("arn:aws:iam::123456789012:role/task")
        .container_definitions(
            ContainerDefinition::builder()
                .name("api")
                .image("repo/roleferry-api:1.2.0")
                .memory(512)
                .essential(true)
                .environment(KeyValuePair::builder().name("MODE").value("prod").build())
                .port_mappings(PortMapping::builder().container_port(8080).build())
                .command("serve")
                .build(),
        )
        .container_definitions(
            ContainerDefinition::builder()
                .name("sidecar")
                .image("envoy:1.30")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = registered
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    client
        .create_service()
        .cluster("roleferry-prod")
        .service_name("api")
        .task_definition(&arn)
        .desired_count(2)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .send()
        .await
        .unwrap();
    arn
}

fn target() -> DeployTarget {
    DeployTarget {
        cluster: "roleferry-prod".into(),
        service: "api".into(),
    }
}

#[tokio::test]
async fn given_a_service_when_deployed_then_it_is_updated_to_a_copy_with_only_the_image_changed() {
    let Some(moto) = Moto::start() else { return };
    let client = Client::new(&moto.sdk().await);
    let original = setup(&client).await;
    let ecs = EcsDeployer::new(client.clone());

    let current = ecs.current_task_definition(&target()).await.unwrap();
    assert_eq!(current, original);
    assert!(
        current.ends_with(":task-definition/roleferry-api:1"),
        "{current}"
    );

    let new = ecs
        .register_with_image(&current, "api", "repo/roleferry-api:1.3.0")
        .await
        .unwrap();
    assert!(new.ends_with(":task-definition/roleferry-api:2"), "{new}");
    let describe = |arn: String| {
        let client = client.clone();
        async move {
            client
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .unwrap()
                .task_definition
                .unwrap()
        }
    };
    let (before, after) = (describe(current.clone()).await, describe(new.clone()).await);
    assert_eq!(after.family(), before.family());
    assert_eq!(after.cpu(), before.cpu());
    assert_eq!(after.memory(), before.memory());
    assert_eq!(after.network_mode(), before.network_mode());
    assert_eq!(after.execution_role_arn(), before.execution_role_arn());
    assert_eq!(after.task_role_arn(), before.task_role_arn());
    let (old_api, new_api) = (
        &before.container_definitions()[0],
        &after.container_definitions()[0],
    );
    assert_eq!(new_api.image(), Some("repo/roleferry-api:1.3.0"));
    assert_eq!(new_api.environment(), old_api.environment());
    assert_eq!(new_api.port_mappings(), old_api.port_mappings());
    assert_eq!(new_api.command(), old_api.command());
    assert_eq!(
        after.container_definitions()[1].image(),
        Some("envoy:1.30"),
        "other containers untouched"
    );

    ecs.update_service(&target(), &new).await.unwrap();
    assert_eq!(ecs.current_task_definition(&target()).await.unwrap(), new);
    // moto limitation: UpdateService changes the service's task definition but neither adds
    // a PRIMARY deployment nor moves one along, so the status is read (it parses) but its
    // task definition and rollout are not asserted here; `status_of` is tested on real shapes.
    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!(status.rollout, Rollout::InProgress);

    // Rollback is UpdateService to the exact recorded ARN.
    ecs.update_service(&target(), &original).await.unwrap();
    assert_eq!(
        ecs.current_task_definition(&target()).await.unwrap(),
        original
    );
}

#[tokio::test]
async fn given_unknown_services_containers_or_revisions_when_used_then_the_error_names_them() {
    let Some(moto) = Moto::start() else { return };
    let client = Client::new(&moto.sdk().await);
    let original = setup(&client).await;
    let ecs = EcsDeployer::new(client);
    let missing = DeployTarget {
        cluster: "roleferry-prod".into(),
        service: "billing".into(),
    };
    assert!(matches!(
        ecs.current_task_definition(&missing).await,
        Err(DeployError::ServiceNotFound { service, .. }) if service == "billing"
    ));
    let no_cluster = DeployTarget {
        cluster: "nope".into(),
        service: "api".into(),
    };
    assert!(matches!(
        ecs.current_task_definition(&no_cluster).await,
        Err(DeployError::ServiceNotFound { .. })
    ));
    assert!(matches!(
        ecs.register_with_image(&original, "worker", "x:1").await,
        Err(DeployError::ContainerNotFound { .. })
    ));
    let bad = original.replace("roleferry-api:1", "roleferry-api:99");
    let err = ecs
        .register_with_image(&bad, "api", "x:1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DeployError::TaskDefinitionNotFound(_) | DeployError::Refused(_)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn given_a_migration_when_run_then_it_is_a_one_off_task_waited_on_until_it_stops() {
    let Some(moto) = Moto::start() else { return };
    let client = Client::new(&moto.sdk().await);
    let original = setup(&client).await;
    let ecs = EcsDeployer::new(client.clone())
        .with_task_wait(Duration::from_millis(10), Duration::from_secs(10));
    let command = vec!["alembic".to_string(), "upgrade".into(), "head".into()];
    let outcome = ecs
        .run_task(&target(), &original, "api", &command)
        .await
        .unwrap();
    assert_eq!(outcome.exit_code, 0);
    let task = client
        .describe_tasks()
        .cluster("roleferry-prod")
        .tasks(&outcome.task_arn)
        .send()
        .await
        .unwrap()
        .tasks()[0]
        .clone();
    assert_eq!(
        task.task_definition_arn(),
        Some(original.as_str()),
        "the exact task definition"
    );
    assert_eq!(task.started_by(), Some("shipgate"));
    let overrides = task.overrides().unwrap().container_overrides();
    assert_eq!(overrides[0].name(), Some("api"));
    assert_eq!(overrides[0].command(), command.as_slice());

    let missing = DeployTarget {
        cluster: "roleferry-prod".into(),
        service: "billing".into(),
    };
    assert!(matches!(
        ecs.run_task(&missing, &original, "api", &command).await,
        Err(DeployError::ServiceNotFound { .. })
    ));
}

#[tokio::test]
async fn given_a_dead_attempt_when_retried_then_it_finds_what_was_registered_and_started() {
    let Some(moto) = Moto::start() else { return };
    let client = Client::new(&moto.sdk().await);
    let original = setup(&client).await;
    let ecs = EcsDeployer::new(client.clone())
        .with_task_wait(Duration::from_millis(10), Duration::from_secs(10));
    // Registering the same image twice (a deploy retried after dying before it recorded
    // the revision) yields the one revision.
    let first = ecs
        .register_with_image(&original, "api", "repo/roleferry-api:1.3.0")
        .await
        .unwrap();
    let again = ecs
        .register_with_image(&original, "api", "repo/roleferry-api:1.3.0")
        .await
        .unwrap();
    assert_eq!(again, first);
    let other = ecs
        .register_with_image(&original, "api", "repo/roleferry-api:1.4.0")
        .await
        .unwrap();
    assert_ne!(other, first);
    // A task started with a tag is found by it; an unknown tag finds nothing.
    let tag = "shipgate-0123456789abcdef0123456789a";
    assert!(ecs.find_task(&target(), tag).await.unwrap().is_none());
    let started = ecs
        .start_task(&target(), &first, "api", &["migrate".to_string()], tag)
        .await
        .unwrap();
    assert_eq!(
        ecs.find_task(&target(), tag).await.unwrap().as_deref(),
        Some(started.as_str())
    );
}

fn service_with(deployments: Vec<Deployment>) -> Service {
    Service::builder()
        .service_name("api")
        .set_deployments(Some(deployments))
        .build()
}

fn deployment(
    status: &str,
    rollout: Option<DeploymentRolloutState>,
    running: i32,
    desired: i32,
    td: &str,
) -> Deployment {
    Deployment::builder()
        .status(status)
        .set_rollout_state(rollout)
        .running_count(running)
        .desired_count(desired)
        .task_definition(td)
        .rollout_state_reason("ECS deployment ecs-svc/123 in progress.")
        .build()
}

#[test]
fn given_rolling_and_settled_deployments_when_read_then_stability_comes_from_the_primary() {
    // Shapes as DescribeServices returns them during and after a rolling deployment.
    let rolling = service_with(vec![
        deployment(
            "PRIMARY",
            Some(DeploymentRolloutState::InProgress),
            1,
            2,
            "td:2",
        ),
        deployment(
            "ACTIVE",
            Some(DeploymentRolloutState::Completed),
            1,
            2,
            "td:1",
        ),
    ]);
    let status = status_of(&rolling).unwrap();
    assert_eq!(
        (status.rollout, status.running, status.desired),
        (Rollout::InProgress, 1, 2)
    );
    assert_eq!(status.task_definition, "td:2");

    let done = service_with(vec![deployment(
        "PRIMARY",
        Some(DeploymentRolloutState::Completed),
        2,
        2,
        "td:2",
    )]);
    assert_eq!(status_of(&done).unwrap().rollout, Rollout::Completed);

    let failed = service_with(vec![deployment(
        "PRIMARY",
        Some(DeploymentRolloutState::Failed),
        0,
        2,
        "td:2",
    )]);
    assert_eq!(status_of(&failed).unwrap().rollout, Rollout::Failed);

    // No rollout state (an older controller): settled only when alone and at full count.
    let legacy = service_with(vec![deployment("PRIMARY", None, 2, 2, "td:2")]);
    assert_eq!(status_of(&legacy).unwrap().rollout, Rollout::Completed);
    let legacy_rolling = service_with(vec![
        deployment("PRIMARY", None, 2, 2, "td:2"),
        deployment("ACTIVE", None, 1, 2, "td:1"),
    ]);
    assert_eq!(
        status_of(&legacy_rolling).unwrap().rollout,
        Rollout::InProgress
    );

    assert!(status_of(&service_with(vec![])).is_none());
}

/// A stand-in for ECS on 127.0.0.1 that throttles the first `throttled` calls, then
/// answers `DescribeServices` with one service.
async fn throttling_ecs(
    throttled: usize,
) -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::sync::oneshot::Sender<()>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let router = axum::Router::new().route(
        "/",
        axum::routing::post(move || {
            let seen = seen.clone();
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let json = [("content-type", "application/x-amz-json-1.1")];
                if n < throttled {
                    let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                    return (axum::http::StatusCode::BAD_REQUEST, json, body.to_string());
                }
                let body = serde_json::json!({
                    "services": [{
                        "serviceName": "api",
                        "status": "ACTIVE",
                        "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:41"
                    }],
                    "failures": []
                });
                (axum::http::StatusCode::OK, json, body.to_string())
            }
        }),
    );
    let (url, stop) = crate::local_api::serve(router).await;
    (url, calls, stop)
}

async fn client_for(url: &str, attempts: u32) -> Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .http_client(shipgate_aws::sdk::sdk_http_client())
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .load()
        .await;
    Client::new(&sdk)
}

#[tokio::test]
async fn given_throttling_when_called_then_it_is_retried_and_only_then_reported_unavailable() {
    use std::sync::atomic::Ordering;
    // Two throttles, four attempts: the call succeeds on the third.
    let (url, calls, stop) = throttling_ecs(2).await;
    let ecs = EcsDeployer::new(client_for(&url, 4).await);
    let current = ecs.current_task_definition(&target()).await.unwrap();
    assert!(current.ends_with("roleferry-api:41"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    stop.send(()).ok();

    // Throttled throughout: after its attempts, the deploy target is unavailable (retryable
    // by the flow as Gate.Unavailable), never a wrong answer.
    let (url, calls, stop) = throttling_ecs(usize::MAX).await;
    let ecs = EcsDeployer::new(client_for(&url, 3).await);
    assert!(matches!(
        ecs.current_task_definition(&target()).await,
        Err(DeployError::Unavailable(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    stop.send(()).ok();
}
