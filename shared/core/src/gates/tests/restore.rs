//! A restore is trusted only once seen: `RolledBack` after the restored deployment is
//! stable and healthy; `Failed`, announced as "act now" and paged, when it is not.

use serde_json::json;

use super::verify_restore;
use crate::gate::Gate;
use crate::model::{ReleaseState, ReleaseType};
use crate::ports::{Notification, Rollout};
use crate::releases;
use crate::testkit::Kit;
use crate::testkit::invoke;

use ReleaseState::*;

/// A release being monitored, rolled back by the flow: pointed back at 03:20.
async fn pointed_back(kit: &Kit) -> crate::model::Release {
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    let out = invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap();
    assert_eq!(out["state"], "RollingBack");
    kit.get(&r.id).await
}

#[tokio::test]
async fn given_a_restore_rolling_out_when_verified_then_it_is_awaited_then_recorded_once_healthy() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    *kit.ecs.rollout.lock().unwrap() = Rollout::InProgress;
    let r = pointed_back(&kit).await;
    assert_eq!(*kit.ecs.current.lock().unwrap(), "arn:td/app:1");

    kit.set_now("2026-03-11T03:21:00Z");
    let out = verify_restore(&kit, &r.id).await;
    assert_eq!(
        (&out["state"], &out["ended"]),
        (&json!("RollingBack"), &json!(false))
    );

    *kit.ecs.rollout.lock().unwrap() = Rollout::Completed;
    kit.set_now("2026-03-11T03:23:00Z");
    let out = verify_restore(&kit, &r.id).await;
    assert_eq!(
        (&out["state"], &out["ended"]),
        (&json!("RolledBack"), &json!(true))
    );
    let release = kit.get(&r.id).await;
    let last = release.events.last().unwrap();
    assert!(
        last.detail.contains("2/2 tasks stable") && last.detail.contains("healthy"),
        "{}",
        last.detail
    );
}

#[tokio::test]
async fn given_a_restored_deployment_that_fails_when_verified_then_the_release_ends_failed() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let r = pointed_back(&kit).await;
    *kit.ecs.rollout.lock().unwrap() = Rollout::Failed;
    let err = invoke(
        &kit.deps,
        Gate::Rollback,
        json!({"release_id": r.id, "step": "verify"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Rollback.Failed");
    let release = kit.get(&r.id).await;
    assert_eq!(release.state, Failed);
    assert!(
        release
            .outcome
            .as_deref()
            .is_some_and(|o| o.contains("the restored deployment of arn:td/app:1 failed")),
        "{:?}",
        release.outcome
    );
}

#[tokio::test]
async fn given_a_restore_that_never_settles_when_the_stability_timeout_passes_then_it_fails() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    *kit.ecs.rollout.lock().unwrap() = Rollout::InProgress;
    let r = pointed_back(&kit).await;
    let minutes = kit.deps.config.deploy.stability_timeout_minutes;
    let later = kit.deps.now() + chrono::Duration::minutes(i64::from(minutes) + 1);
    kit.set_now(&later.to_rfc3339());
    let err = invoke(
        &kit.deps,
        Gate::Rollback,
        json!({"release_id": r.id, "step": "verify"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Rollback.Failed");
    assert_eq!(kit.get(&r.id).await.state, Failed);
}

#[tokio::test]
async fn given_an_unhealthy_restore_when_checked_then_retried_announced_failed_and_on_call_paged() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let r = pointed_back(&kit).await;
    kit.probe
        .statuses
        .lock()
        .unwrap()
        .insert("/health".into(), 503);
    let err = invoke(
        &kit.deps,
        Gate::Rollback,
        json!({"release_id": r.id, "step": "verify"}),
    )
    .await
    .unwrap_err();
    // The flow retries HealthCheck.Failed; the release waits, still being rolled back
    assert_eq!(err.error_type(), "HealthCheck.Failed");
    assert_eq!(kit.get(&r.id).await.state, RollingBack);

    // When the retries run out, announce ends it: nobody has seen the service work again
    let caught = json!({"Error": "HealthCheck.Failed", "Cause": "{\"errorMessage\":\"API health: 503\",\"errorType\":\"HealthCheck.Failed\"}"});
    let out = invoke(
        &kit.deps,
        Gate::Announce,
        json!({"release_id": r.id, "error": caught}),
    )
    .await
    .unwrap();
    assert_eq!(out["state"], "Failed");
    let sent = kit.rec.sent.lock().unwrap().clone();
    let slack = sent
        .iter()
        .find(|n| matches!(n, Notification::Slack { .. }))
        .unwrap();
    assert!(slack.text().contains("act now"), "{}", slack.text());
    assert!(
        slack.text().contains("--task-definition app:1"),
        "the exact manual command: {}",
        slack.text()
    );
    let page = sent
        .iter()
        .find_map(|n| match n {
            Notification::Page { to, summary, .. } => Some((to.clone(), summary.clone())),
            _ => None,
        })
        .expect("on-call paged");
    assert_eq!(page.0, kit.deps.config.notifications.on_call);
    assert!(page.1.contains("rollback failed"), "{}", page.1);
}

#[tokio::test]
async fn given_a_finished_release_when_rolled_back_by_hand_then_one_verifying_execution_starts() {
    let kit = Kit::new("2026-03-11T09:00:00Z");
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    let release = releases::manual_rollback(&kit.deps, &r.id, "lee", "signups dropped")
        .await
        .unwrap();
    assert_eq!(release.state, RollingBack);
    let started = kit.rec.inputs.lock().unwrap().clone();
    let (name, input) = started.last().expect("an execution was started");
    assert_eq!(name, &format!("{}-restore", r.id));
    assert_eq!(input["restore_only"], true);
    assert_eq!(input["release_id"], r.id.as_str());
    // Asked again: the same execution (by name), nothing restored twice
    let updates = kit
        .log()
        .iter()
        .filter(|l| l.starts_with("ecs update"))
        .count();
    releases::manual_rollback(&kit.deps, &r.id, "lee", "signups dropped")
        .await
        .unwrap();
    assert_eq!(
        kit.log()
            .iter()
            .filter(|l| l.starts_with("ecs update"))
            .count(),
        updates
    );
}
