//! Retried, concurrent and interrupted deploys and rollbacks: migrations and reverse
//! migrations claimed, found again by their tags, never run twice.

use serde_json::json;

use crate::gate::Gate;
use crate::model::{ReleaseState, ReleaseType};
use crate::ports::ReleaseStore;
use crate::testkit::invoke;
use crate::testkit::{Kit, at};

use ReleaseState::*;

#[tokio::test]
async fn given_a_reversal_another_rollback_started_when_rolling_back_then_it_never_runs_twice() {
    // Given a rollback (the alarm's) that claimed the reverse migration and has not
    // recorded its end yet
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, RollingBack)
        .await;
    r.previous_task_definition = Some("arn:td/app:1".into());
    r.new_task_definition = Some("arn:td/app:2".into());
    r.migration = Some(crate::model::MigrationRecord {
        task_arn: "t".into(),
        exit_code: 0,
        at: at("2026-03-11T03:00:00Z"),
        reversed: false,
    });
    r.reversal_started_at = Some(at("2026-03-11T03:20:00Z"));
    kit.store.update(&r).await.unwrap();
    // When the flow's rollback runs
    let err = invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap_err();
    // Then it waits for the other one (retried by the flow) and runs no second downgrade
    assert_eq!(err.error_type(), "Gate.Unavailable");
    assert!(
        !kit.log().iter().any(|l| l.contains("downgrade")),
        "{:?}",
        kit.log()
    );
    assert_eq!(kit.get(&r.id).await.state, RollingBack);
}

#[tokio::test]
async fn given_a_migrated_release_when_rolled_back_then_the_reversal_is_claimed_and_run_once() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    r.migration = Some(crate::model::MigrationRecord {
        task_arn: "t".into(),
        exit_code: 0,
        at: at("2026-03-11T03:00:00Z"),
        reversed: false,
    });
    kit.store.update(&r).await.unwrap();
    invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap();
    let release = kit.get(&r.id).await;
    assert_eq!(
        release.reversal_started_at,
        Some(at("2026-03-11T03:20:00Z"))
    );
    assert!(release.reversal_task_arn.is_some());
    assert_eq!(
        kit.log().iter().filter(|l| l.contains("downgrade")).count(),
        1
    );
}

async fn claimed_migration(kit: &Kit) -> crate::model::Release {
    let mut r = kit.release_in("1.3.0", ReleaseType::Minor, Deploying).await;
    r.previous_task_definition = Some("arn:td/app:1".into());
    r.new_task_definition = Some("arn:td/app:2".into());
    r.migration_started_at = Some(at("2026-03-11T03:00:00Z"));
    kit.store.update(&r).await.unwrap()
}

#[tokio::test]
async fn given_a_migration_started_but_never_recorded_when_the_deploy_retries_then_it_is_found() {
    // Given a deploy that claimed the migration, started its task and died before writing
    // the task's ARN
    let kit = Kit::new("2026-03-11T03:00:30Z");
    let r = claimed_migration(&kit).await;
    let target = kit.deps.target();
    let tag = r.id.task_tag("migrate");
    let started = kit
        .deps
        .deployer
        .start_task(&target, "arn:td/app:2", "app", &["migrate".into()], &tag)
        .await
        .unwrap();
    // When the flow retries the deploy
    invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap();
    // Then it waits for that very task and starts no other
    let release = kit.store.get(&r.id).await.unwrap().unwrap();
    assert_eq!(
        release.migration_task_arn.as_deref(),
        Some(started.as_str())
    );
    assert_eq!(release.migration.map(|m| m.task_arn), Some(started));
    let runs = kit.log().iter().filter(|l| l.contains("ecs run")).count();
    assert_eq!(runs, 1, "{:?}", kit.log());
}

#[tokio::test]
async fn given_a_migration_claimed_but_never_started_when_the_deploy_retries_then_it_runs_once() {
    // Given a deploy that claimed the migration and died before starting its task
    let kit = Kit::new("2026-03-11T03:00:30Z");
    let r = claimed_migration(&kit).await;
    // When the flow retries the deploy moments later
    invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap();
    // Then the migration runs, once
    let release = kit.store.get(&r.id).await.unwrap().unwrap();
    assert!(release.migration.is_some_and(|m| m.exit_code == 0));
    let runs = kit.log().iter().filter(|l| l.contains("ecs run")).count();
    assert_eq!(runs, 1, "{:?}", kit.log());
}

#[tokio::test]
async fn given_a_migration_claimed_too_long_ago_to_tell_when_the_deploy_retries_then_not_rerun() {
    // Given a claim older than ECS remembers stopped tasks, and no task found
    let kit = Kit::new("2026-03-11T04:30:00Z");
    let r = claimed_migration(&kit).await;
    // When the flow retries the deploy
    let err = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap_err();
    // Then it refuses (and the flow rolls back) instead of running the migration again
    assert_eq!(err.error_type(), "Deploy.MigrationFailed");
    assert!(
        err.describe().contains("never recorded"),
        "{}",
        err.describe()
    );
    assert!(
        !kit.log().iter().any(|l| l.contains("ecs run")),
        "{:?}",
        kit.log()
    );
}

#[tokio::test]
async fn given_a_reverse_migration_a_rollback_started_when_a_second_runs_then_it_waits_for_it() {
    // Given a rollback that started the reverse migration and recorded its task
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, RollingBack)
        .await;
    r.previous_task_definition = Some("arn:td/app:1".into());
    r.new_task_definition = Some("arn:td/app:2".into());
    r.migration = Some(crate::model::MigrationRecord {
        task_arn: "t".into(),
        exit_code: 0,
        at: at("2026-03-11T03:00:00Z"),
        reversed: false,
    });
    r.reversal_started_at = Some(at("2026-03-11T03:20:00Z"));
    r.reversal_task_arn = Some("arn:task/running".into());
    kit.store.update(&r).await.unwrap();
    kit.ecs
        .tasks
        .lock()
        .unwrap()
        .insert("arn:task/running".into(), 0);
    // When another rollback runs
    let out = invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap();
    // Then it waited for that task: no second downgrade, and the release is rolled back
    assert_eq!(out["state"], "RollingBack");
    assert_eq!(
        super::verify_restore(&kit, &r.id).await["state"],
        "RolledBack"
    );
    assert!(
        !kit.log().iter().any(|l| l.contains("downgrade")),
        "{:?}",
        kit.log()
    );
    assert!(kit.get(&r.id).await.migration.unwrap().reversed);
}

#[tokio::test]
async fn given_a_migration_an_earlier_attempt_started_when_the_deploy_retries_then_it_waits() {
    // Given a deploy that started the migration, recorded its task, and timed out waiting
    let kit = Kit::new("2026-03-11T03:00:00Z");
    let mut r = kit.release_in("1.3.0", ReleaseType::Minor, Deploying).await;
    r.previous_task_definition = Some("arn:td/app:1".into());
    r.new_task_definition = Some("arn:td/app:2".into());
    r.migration_started_at = Some(at("2026-03-11T03:00:00Z"));
    r.migration_task_arn = Some("arn:task/earlier".into());
    kit.store.update(&r).await.unwrap();
    kit.ecs
        .tasks
        .lock()
        .unwrap()
        .insert("arn:task/earlier".into(), 0);
    // When the flow retries the deploy
    invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap();
    // Then it recorded that task's outcome and started no other
    let release = kit.get(&r.id).await;
    let migration = release.migration.unwrap();
    assert_eq!(
        (migration.task_arn.as_str(), migration.exit_code),
        ("arn:task/earlier", 0)
    );
    assert!(
        !kit.log().iter().any(|l| l.contains("ecs run")),
        "{:?}",
        kit.log()
    );
    assert!(kit.log().contains(&"ecs update arn:td/app:2".to_string()));
}

#[tokio::test]
async fn given_a_migration_started_but_never_recorded_when_rolled_back_then_it_is_reversed() {
    // Given a deploy that started the migration, recorded its task, and died waiting
    let kit = Kit::new("2026-03-11T03:10:00Z");
    let mut r = kit.release_in("1.3.0", ReleaseType::Minor, Deploying).await;
    r.previous_task_definition = Some("arn:td/app:1".into());
    r.new_task_definition = Some("arn:td/app:2".into());
    r.migration_started_at = Some(at("2026-03-11T03:00:00Z"));
    r.migration_task_arn = Some("arn:task/forward".into());
    kit.store.update(&r).await.unwrap();
    kit.ecs
        .tasks
        .lock()
        .unwrap()
        .insert("arn:task/forward".into(), 0);
    // When the flow rolls back
    let out = invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap();
    // Then it learned the migration ran, and reversed it
    assert_eq!(out["state"], "RollingBack");
    assert_eq!(
        super::verify_restore(&kit, &r.id).await["state"],
        "RolledBack"
    );
    let release = kit.get(&r.id).await;
    assert!(release.migration.unwrap().reversed);
    assert_eq!(
        kit.log().iter().filter(|l| l.contains("downgrade")).count(),
        1,
        "{:?}",
        kit.log()
    );
}
