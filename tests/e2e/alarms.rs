//! Rollbacks that do not come from the flow itself: an alarm event delivered (perhaps more
//! than once) by EventBridge, and a person rolling back by hand.

use shipgate_core::ReleaseState;
use shipgate_core::{releases, restore};
use shipgate_local::outbox::Outbox;

use crate::helpers::{approve, at, load, runtime_in, start};

const SEED: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:41";

#[tokio::test]
async fn given_a_live_release_when_its_alarm_event_repeats_then_it_rolls_back_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime_in(&dir, at("2026-03-10T09:00:00Z")).await;
    let id = start(&runtime, "1.3.0", "alex").await;
    approve(&runtime, &id, "lee").await;
    runtime.run_until(at("2026-03-11T03:30:00Z")).await.unwrap();
    assert_eq!(load(&runtime, &id).await.state, ReleaseState::Monitoring);

    // The same event delivered three times.
    let mut rolled = 0;
    for _ in 0..3 {
        if restore::on_alarm(&runtime.deps, "roleferry-api-p99-latency", "p99 > 1500 ms")
            .await
            .unwrap()
            .is_some()
        {
            rolled += 1;
        }
    }
    assert_eq!(rolled, 1);
    runtime.run_until(at("2026-03-11T06:00:00Z")).await.unwrap();

    let release = load(&runtime, &id).await;
    assert_eq!(release.state, ReleaseState::RolledBack);
    let serving = runtime
        .ecs
        .serving("roleferry-prod", "api")
        .unwrap()
        .unwrap();
    assert_eq!(serving.task_definition, SEED);
    let restores = release
        .events
        .iter()
        .filter(|e| e.kind == "restored")
        .count();
    assert_eq!(restores, 1, "{:#?}", release.events);
    let outbox = Outbox::read_all(&runtime.outbox_dir()).unwrap();
    let rollback_posts = outbox
        .iter()
        .filter(|m| m.message.channel() == "slack" && m.text.starts_with("⏪"))
        .count();
    assert_eq!(rollback_posts, 1, "announced once");
    let execution = runtime.engine.list_executions().unwrap().pop().unwrap();
    assert_eq!(execution.error.as_deref(), Some("Release.RolledBack"));
    runtime.shutdown().await;
}

#[tokio::test]
async fn given_a_live_release_when_an_unwatched_alarm_fires_then_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime_in(&dir, at("2026-03-10T09:00:00Z")).await;
    let id = start(&runtime, "1.3.0", "alex").await;
    approve(&runtime, &id, "lee").await;
    runtime.run_until(at("2026-03-11T03:30:00Z")).await.unwrap();
    assert!(
        restore::on_alarm(&runtime.deps, "billing-db-cpu", "cpu")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(load(&runtime, &id).await.state, ReleaseState::Monitoring);
    runtime.shutdown().await;
}

#[tokio::test]
async fn given_a_succeeded_release_when_rolled_back_manually_then_it_is_restored_and_announced() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime_in(&dir, at("2026-03-10T09:00:00Z")).await;
    let id = start(&runtime, "1.3.0", "alex").await;
    approve(&runtime, &id, "lee").await;
    runtime.run_until(at("2026-03-11T06:00:00Z")).await.unwrap();
    assert_eq!(load(&runtime, &id).await.state, ReleaseState::Succeeded);

    let err = releases::manual_rollback(&runtime.deps, &id, "taylor", " ")
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Gate.InvalidInput");

    let release = releases::manual_rollback(&runtime.deps, &id, "taylor", "signups dropped")
        .await
        .unwrap();
    // Pointed back; recorded rolled back only once the restore is seen working.
    assert_eq!(release.state, ReleaseState::RollingBack);
    // ECS rolls the service back over a few minutes; an execution of its own verifies it.
    runtime.run_until(at("2026-03-11T06:10:00Z")).await.unwrap();
    assert_eq!(load(&runtime, &id).await.state, ReleaseState::RolledBack);
    assert_eq!(
        runtime
            .ecs
            .serving("roleferry-prod", "api")
            .unwrap()
            .unwrap()
            .task_definition,
        SEED
    );
    let outbox = Outbox::read_all(&runtime.outbox_dir()).unwrap();
    assert!(
        outbox
            .iter()
            .any(|m| m.text.starts_with("⏪") && m.text.contains("signups dropped"))
    );

    // Asked again (a command re-run after it was cut short): nothing more happens.
    let serving = runtime.ecs.serving("roleferry-prod", "api").unwrap();
    let again = releases::manual_rollback(&runtime.deps, &id, "taylor", "again")
        .await
        .unwrap();
    assert_eq!(again.state, ReleaseState::RolledBack);
    runtime.run_until(at("2026-03-11T06:20:00Z")).await.unwrap();
    assert_eq!(
        runtime.ecs.serving("roleferry-prod", "api").unwrap(),
        serving,
        "no second restore"
    );
    let announced = Outbox::read_all(&runtime.outbox_dir())
        .unwrap()
        .iter()
        .filter(|m| m.text.starts_with("⏪"))
        .count();
    assert_eq!(
        announced,
        outbox.iter().filter(|m| m.text.starts_with("⏪")).count()
    );
    runtime.shutdown().await;
}
