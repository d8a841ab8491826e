use super::*;
use crate::db::tests::{TestClock, time};

const CLUSTER: &str = "roleferry-prod";
const SERVICE: &str = "api";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/roleferry-api";

fn target() -> DeployTarget {
    DeployTarget {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
    }
}

fn seeded() -> (SimulatedEcs, Arc<TestClock>, String) {
    let clock = TestClock::at("2026-03-02T03:00:00Z");
    let ecs = SimulatedEcs::new(Db::open_in_memory().unwrap(), clock.clone());
    let arn = ecs
        .seed_service(
            CLUSTER,
            SERVICE,
            "roleferry-api",
            "api",
            &format!("{IMAGE}:1.2.0"),
            41,
        )
        .unwrap();
    (ecs, clock, arn)
}

fn two_container_body() -> Value {
    json!({
        "cpu": "512",
        "memory": "1024",
        "networkMode": "awsvpc",
        "containerDefinitions": [
            { "name": "api", "image": "repo/api:1.0.0", "command": ["serve", "--port", "8080"], "essential": true,
              "environment": [{ "name": "MODE", "value": "prod" }] },
            { "name": "log-router", "image": "repo/fluent-bit:2.1", "essential": false }
        ]
    })
}

#[test]
fn given_image_references_when_tagged_then_the_version_is_after_the_last_colon() {
    assert_eq!(version_tag(&format!("{IMAGE}:1.3.0")), "1.3.0");
    assert_eq!(version_tag("localhost:5000/api:2.0.1"), "2.0.1");
    assert_eq!(version_tag("localhost:5000/api"), "latest");
    assert_eq!(version_tag("api"), "latest");
}

#[tokio::test]
async fn given_a_seeded_service_then_it_runs_the_exact_revision_and_serves_at_once() {
    let (ecs, clock, arn) = seeded();
    assert_eq!(
        arn,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:41"
    );
    assert_eq!(ecs.current_task_definition(&target()).await.unwrap(), arn);
    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!(status.rollout, Rollout::Completed);
    assert_eq!((status.running, status.desired), (2, 2));
    let serving = ecs.serving(CLUSTER, SERVICE).unwrap().unwrap();
    assert_eq!(serving.task_definition, arn);
    assert_eq!(serving.image, format!("{IMAGE}:1.2.0"));
    assert_eq!(serving.version_tag, "1.2.0");
    assert_eq!(serving.deployed_at, clock.now());
    assert_eq!(
        ecs.task_definition_image(&arn).unwrap(),
        Some(format!("{IMAGE}:1.2.0"))
    );
}

#[tokio::test]
async fn given_a_seeded_service_when_seeded_again_then_nothing_changes() {
    let (ecs, clock, arn) = seeded();
    clock.advance(Duration::hours(1));
    let again = ecs
        .seed_service(
            CLUSTER,
            SERVICE,
            "roleferry-api",
            "api",
            &format!("{IMAGE}:9.9.9"),
            7,
        )
        .unwrap();
    assert_eq!(again, arn);
    assert_eq!(ecs.revisions("roleferry-api").unwrap().len(), 1);
    assert_eq!(
        ecs.serving(CLUSTER, SERVICE).unwrap().unwrap().version_tag,
        "1.2.0"
    );
}

#[tokio::test]
async fn given_a_base_when_registered_with_an_image_then_only_that_image_changes_in_the_next_revision()
 {
    let (ecs, _clock, _) = seeded();
    let base = ecs
        .register_task_definition("worker", two_container_body())
        .unwrap();
    assert_eq!(
        base,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/worker:1"
    );
    let new = ecs
        .register_with_image(&base, "api", "repo/api:1.1.0")
        .await
        .unwrap();
    assert_eq!(
        new,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/worker:2"
    );

    let before = ecs.task_definition(&base).unwrap().unwrap();
    let after = ecs.task_definition(&new).unwrap().unwrap();
    assert_eq!(after.revision, 2);
    assert_eq!(after.image_of("api"), Some("repo/api:1.1.0"));
    assert_eq!(before.image_of("api"), Some("repo/api:1.0.0"));
    let mut expected = before.body.clone();
    expected["containerDefinitions"][0]["image"] = json!("repo/api:1.1.0");
    assert_eq!(after.body, expected);
    assert_eq!(after.body["family"], json!("worker"));

    // The next registration from an older base still gets the next revision.
    let third = ecs
        .register_with_image(&base, "log-router", "repo/fluent-bit:2.2")
        .await
        .unwrap();
    assert!(third.ends_with("/worker:3"), "{third}");
    // Short references work as in ECS.
    assert_eq!(ecs.task_definition("worker:2").unwrap().unwrap().arn, new);
    assert_eq!(ecs.task_definition("worker").unwrap().unwrap().arn, third);
}

#[tokio::test]
async fn given_unknown_references_when_registering_then_task_definition_or_container_not_found() {
    let (ecs, _clock, arn) = seeded();
    let missing = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:99";
    let err = ecs
        .register_with_image(missing, "api", "x:1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeployError::TaskDefinitionNotFound(ref a) if a == missing),
        "{err:?}"
    );
    let err = ecs
        .register_with_image(&arn, "sidecar", "x:1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeployError::ContainerNotFound { ref container, ref task_definition }
            if container == "sidecar" && task_definition == &arn),
        "{err:?}"
    );
    assert_eq!(ecs.revisions("roleferry-api").unwrap().len(), 1);
}

#[tokio::test]
async fn given_an_update_when_time_passes_then_the_rollout_goes_in_progress_to_completed() {
    let (ecs, clock, old) = seeded();
    let new = ecs
        .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
        .await
        .unwrap();
    ecs.update_service(&target(), &new).await.unwrap();
    assert_eq!(ecs.current_task_definition(&target()).await.unwrap(), new);

    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!(status.task_definition, new);
    assert_eq!(
        (status.rollout, status.running, status.desired),
        (Rollout::InProgress, 0, 2)
    );
    // Traffic still goes to the old version.
    assert_eq!(
        ecs.serving(CLUSTER, SERVICE)
            .unwrap()
            .unwrap()
            .task_definition,
        old
    );

    clock.advance(Duration::seconds(100));
    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!((status.rollout, status.running), (Rollout::InProgress, 1));

    clock.advance(Duration::seconds(79));
    assert_eq!(
        ecs.deployment_status(&target()).await.unwrap().rollout,
        Rollout::InProgress
    );
    clock.advance(Duration::seconds(1));
    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!(
        (status.rollout, status.running, status.reason),
        (Rollout::Completed, 2, None)
    );
    let serving = ecs.serving(CLUSTER, SERVICE).unwrap().unwrap();
    assert_eq!(
        (serving.task_definition, serving.version_tag),
        (new, "1.3.0".to_string())
    );
    assert_eq!(serving.deployed_at, time("2026-03-02T03:03:00Z"));
}

#[tokio::test]
async fn given_a_version_failing_stability_when_deployed_then_the_rollout_fails_and_the_old_one_serves()
 {
    let (ecs, clock, old) = seeded();
    ecs.set_faults(
        "1.3.0",
        Faults {
            fail_stability: true,
            ..Faults::default()
        },
    )
    .unwrap();
    let new = ecs
        .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
        .await
        .unwrap();
    ecs.update_service(&target(), &new).await.unwrap();
    clock.advance(Duration::seconds(90));
    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!((status.rollout, status.running), (Rollout::InProgress, 0));
    clock.advance(Duration::seconds(90));
    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!(status.rollout, Rollout::Failed);
    assert_eq!(status.reason.as_deref(), Some(STABILITY_FAILURE));
    assert_eq!(
        ecs.serving(CLUSTER, SERVICE)
            .unwrap()
            .unwrap()
            .task_definition,
        old
    );
    // A rollback to the old revision is a new deployment of it.
    ecs.update_service(&target(), &old).await.unwrap();
    clock.advance(Duration::seconds(180));
    let status = ecs.deployment_status(&target()).await.unwrap();
    assert_eq!(
        (status.task_definition, status.rollout),
        (old, Rollout::Completed)
    );
}

#[tokio::test]
async fn given_a_completed_rollout_when_a_fault_is_set_later_then_the_rollout_stays_completed() {
    let (ecs, clock, old) = seeded();
    let new = ecs
        .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
        .await
        .unwrap();
    ecs.update_service(&target(), &new).await.unwrap();
    clock.advance(Duration::seconds(181));
    assert_eq!(
        ecs.deployment_status(&target()).await.unwrap().rollout,
        Rollout::Completed
    );
    ecs.set_faults(
        "1.3.0",
        Faults {
            fail_stability: true,
            ..Faults::default()
        },
    )
    .unwrap();
    assert_eq!(
        ecs.deployment_status(&target()).await.unwrap().rollout,
        Rollout::Completed
    );
    assert_eq!(
        ecs.serving(CLUSTER, SERVICE)
            .unwrap()
            .unwrap()
            .task_definition,
        new
    );
}

#[tokio::test]
async fn given_a_rollout_replaced_midway_when_the_replacement_completes_then_the_replaced_never_served()
 {
    let (ecs, clock, old) = seeded();
    let new = ecs
        .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
        .await
        .unwrap();
    ecs.update_service(&target(), &new).await.unwrap();
    clock.advance(Duration::seconds(60));
    ecs.update_service(&target(), &old).await.unwrap();
    clock.advance(Duration::seconds(150));
    // The replaced rollout's own deadline has passed, but it was drained.
    assert_eq!(
        ecs.serving(CLUSTER, SERVICE)
            .unwrap()
            .unwrap()
            .task_definition,
        old
    );
    assert_eq!(
        ecs.serving(CLUSTER, SERVICE).unwrap().unwrap().deployed_at,
        time("2026-03-02T03:00:00Z")
    );
    clock.advance(Duration::seconds(30));
    let serving = ecs.serving(CLUSTER, SERVICE).unwrap().unwrap();
    assert_eq!(serving.deployed_at, time("2026-03-02T03:04:00Z"));
}

#[tokio::test]
async fn given_the_current_task_definition_when_updated_to_it_again_then_no_new_deployment_starts()
{
    let (ecs, clock, old) = seeded();
    let new = ecs
        .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
        .await
        .unwrap();
    ecs.update_service(&target(), &new).await.unwrap();
    clock.advance(Duration::seconds(120));
    ecs.update_service(&target(), &new).await.unwrap();
    clock.advance(Duration::seconds(60));
    assert_eq!(
        ecs.deployment_status(&target()).await.unwrap().rollout,
        Rollout::Completed
    );
}

#[tokio::test]
async fn given_unknown_names_when_updating_then_service_or_task_definition_not_found() {
    let (ecs, _clock, old) = seeded();
    let ghost = DeployTarget {
        cluster: CLUSTER.into(),
        service: "ghost".into(),
    };
    let err = ecs.update_service(&ghost, &old).await.unwrap_err();
    assert!(
        matches!(err, DeployError::ServiceNotFound { ref cluster, ref service } if cluster == CLUSTER && service == "ghost"),
        "{err:?}"
    );
    assert!(matches!(
        ecs.deployment_status(&ghost).await,
        Err(DeployError::ServiceNotFound { .. })
    ));
    assert!(matches!(
        ecs.current_task_definition(&ghost).await,
        Err(DeployError::ServiceNotFound { .. })
    ));
    let other_cluster = DeployTarget {
        cluster: "staging".into(),
        service: SERVICE.into(),
    };
    assert!(matches!(
        ecs.update_service(&other_cluster, &old).await,
        Err(DeployError::ServiceNotFound { .. })
    ));
    let missing = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:40";
    let err = ecs.update_service(&target(), missing).await.unwrap_err();
    assert!(
        matches!(err, DeployError::TaskDefinitionNotFound(ref a) if a == missing),
        "{err:?}"
    );
    assert_eq!(ecs.current_task_definition(&target()).await.unwrap(), old);
}

#[tokio::test]
async fn given_migration_faults_when_tasks_run_then_exit_codes_follow_forward_and_reverse_faults() {
    let (ecs, clock, old) = seeded();
    let ecs = ecs.with_reverse_command(vec!["alembic".into(), "downgrade".into(), "-1".into()]);
    let forward: Vec<String> = ["alembic", "upgrade", "head"].map(String::from).to_vec();
    let reverse: Vec<String> = ["alembic", "downgrade", "-1"].map(String::from).to_vec();
    let new = ecs
        .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
        .await
        .unwrap();

    let ok = ecs
        .run_task(&target(), &new, "api", &forward)
        .await
        .unwrap();
    assert_eq!(ok.exit_code, 0);
    let prefix = "arn:aws:ecs:us-east-1:123456789012:task/roleferry-prod/";
    assert!(ok.task_arn.starts_with(prefix), "{}", ok.task_arn);
    let id = &ok.task_arn[prefix.len()..];
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    ecs.set_faults(
        "1.3.0",
        Faults {
            migration_exit_code: Some(3),
            ..Faults::default()
        },
    )
    .unwrap();
    assert_eq!(
        ecs.run_task(&target(), &new, "api", &forward)
            .await
            .unwrap()
            .exit_code,
        3
    );
    assert_eq!(
        ecs.run_task(&target(), &new, "api", &reverse)
            .await
            .unwrap()
            .exit_code,
        0
    );
    ecs.set_faults(
        "1.3.0",
        Faults {
            reverse_migration_exit_code: Some(1),
            ..Faults::default()
        },
    )
    .unwrap();
    assert_eq!(
        ecs.run_task(&target(), &new, "api", &forward)
            .await
            .unwrap()
            .exit_code,
        0
    );
    clock.advance(Duration::seconds(5));
    assert_eq!(
        ecs.run_task(&target(), &new, "api", &reverse)
            .await
            .unwrap()
            .exit_code,
        1
    );
    // Faults follow the version: the old image migrates fine.
    assert_eq!(
        ecs.run_task(&target(), &old, "api", &reverse)
            .await
            .unwrap()
            .exit_code,
        0
    );

    let runs = ecs.tasks_run(CLUSTER, SERVICE).unwrap();
    let codes: Vec<i32> = runs.iter().map(|r| r.exit_code).collect();
    assert_eq!(codes, vec![0, 3, 0, 0, 1, 0]);
    assert_eq!(runs[4].command, reverse);
    assert_eq!(runs[4].task_definition, new);
    assert_eq!(runs[4].container, "api");
    assert_eq!(runs[4].at, time("2026-03-02T03:00:05Z"));
    assert!(ecs.tasks_run(CLUSTER, "ghost").unwrap().is_empty());
}

#[tokio::test]
async fn given_no_configured_reverse_command_when_a_downgrade_runs_then_it_counts_as_the_reverse_migration()
 {
    let (ecs, _clock, old) = seeded();
    ecs.set_faults(
        "1.2.0",
        Faults {
            reverse_migration_exit_code: Some(2),
            ..Faults::default()
        },
    )
    .unwrap();
    let down: Vec<String> = ["alembic", "downgrade", "-1"].map(String::from).to_vec();
    let up: Vec<String> = ["alembic", "upgrade", "head"].map(String::from).to_vec();
    assert_eq!(
        ecs.run_task(&target(), &old, "api", &down)
            .await
            .unwrap()
            .exit_code,
        2
    );
    assert_eq!(
        ecs.run_task(&target(), &old, "api", &up)
            .await
            .unwrap()
            .exit_code,
        0
    );
}

#[tokio::test]
async fn given_bad_references_when_running_a_task_then_errors_name_them() {
    let (ecs, _clock, old) = seeded();
    let cmd = vec!["true".to_string()];
    assert!(matches!(
        ecs.run_task(&target(), &old, "sidecar", &cmd).await,
        Err(DeployError::ContainerNotFound { .. })
    ));
    assert!(matches!(
        ecs.run_task(&target(), "roleferry-api:77", "api", &cmd)
            .await,
        Err(DeployError::TaskDefinitionNotFound(_))
    ));
    let ghost = DeployTarget {
        cluster: CLUSTER.into(),
        service: "ghost".into(),
    };
    assert!(matches!(
        ecs.run_task(&ghost, &old, "api", &cmd).await,
        Err(DeployError::ServiceNotFound { .. })
    ));
    assert!(ecs.tasks_run(CLUSTER, SERVICE).unwrap().is_empty());
}

#[test]
fn given_faults_when_set_then_they_read_back_and_default_clears_them() {
    let (ecs, _clock, _) = seeded();
    assert_eq!(ecs.faults("1.3.0").unwrap(), Faults::default());
    let faults = Faults {
        failing_path: Some("/apply".into()),
        alarm_after_minutes: Some(("roleferry-api-5xx-rate".into(), 12)),
        error_rate: Some(0.2),
        ..Faults::default()
    };
    ecs.set_faults("1.3.0", faults.clone()).unwrap();
    assert_eq!(ecs.faults("1.3.0").unwrap(), faults);
    assert_eq!(ecs.all_faults().unwrap().len(), 1);
    ecs.set_faults("1.3.0", Faults::default()).unwrap();
    assert!(ecs.all_faults().unwrap().is_empty());
    // Partial documents (another process, an older shipgate) read with defaults.
    let parsed: Faults = serde_json::from_str(r#"{"fail_stability": true}"#).unwrap();
    assert!(parsed.fail_stability && parsed.failing_path.is_none());
}

#[test]
fn given_two_processes_registering_at_once_then_every_revision_is_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipgate.db");
    let clock = TestClock::at("2026-03-02T03:00:00Z");
    let base = SimulatedEcs::new(Db::open(&path).unwrap(), clock.clone())
        .seed_service(
            CLUSTER,
            SERVICE,
            "roleferry-api",
            "api",
            "repo/api:1.2.0",
            41,
        )
        .unwrap();
    let threads: Vec<_> = (0..2)
        .map(|n| {
            let (path, clock, base) = (path.clone(), clock.clone(), base.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let ecs = SimulatedEcs::new(Db::open(&path).unwrap(), clock);
                (0..10)
                    .map(|i| {
                        let image = format!("repo/api:{n}.{i}.0");
                        rt.block_on(ecs.register_with_image(&base, "api", &image))
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut arns: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    arns.sort();
    arns.dedup();
    assert_eq!(arns.len(), 20);
    let ecs = SimulatedEcs::new(Db::open(&path).unwrap(), clock);
    let revisions: Vec<u32> = ecs
        .revisions("roleferry-api")
        .unwrap()
        .iter()
        .map(|t| t.revision)
        .collect();
    assert_eq!(revisions, (41..=61).collect::<Vec<u32>>());
}

#[tokio::test]
async fn given_two_simulations_over_one_file_when_one_deploys_then_the_other_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipgate.db");
    let clock = TestClock::at("2026-03-02T03:00:00Z");
    let one = SimulatedEcs::new(Db::open(&path).unwrap(), clock.clone());
    let two = SimulatedEcs::new(Db::open(&path).unwrap(), clock.clone()).with_rollout_seconds(10);
    let old = one
        .seed_service(
            CLUSTER,
            SERVICE,
            "roleferry-api",
            "api",
            "repo/api:1.2.0",
            3,
        )
        .unwrap();
    let new = two
        .register_with_image(&old, "api", "repo/api:1.3.0")
        .await
        .unwrap();
    two.update_service(&target(), &new).await.unwrap();
    one.set_faults(
        "1.3.0",
        Faults {
            failing_path: Some("/jobs".into()),
            ..Faults::default()
        },
    )
    .unwrap();
    assert_eq!(one.current_task_definition(&target()).await.unwrap(), new);
    assert_eq!(
        two.faults("1.3.0").unwrap().failing_path.as_deref(),
        Some("/jobs")
    );
    // The rollout keeps the duration of the simulation that started it.
    clock.advance(Duration::seconds(10));
    assert_eq!(
        one.deployment_status(&target()).await.unwrap().rollout,
        Rollout::Completed
    );
    assert_eq!(
        one.serving(CLUSTER, SERVICE).unwrap().unwrap().version_tag,
        "1.3.0"
    );
}
