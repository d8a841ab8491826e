//! The gates' domain logic against in-memory fakes.

use serde_json::json;

use crate::error::GateError;
use crate::gate::Gate;
use crate::model::{Decision, ReleaseState, ReleaseType};
use crate::ports::{ReleaseStore, Rollout};
use crate::releases;
use crate::testkit::invoke;
use crate::testkit::{Kit, at};

use ReleaseState::*;

mod github;
mod queue;
mod restore;
mod retries;

#[tokio::test]
async fn given_a_release_when_deployed_then_the_running_task_definition_is_recorded_first() {
    let kit = Kit::new("2026-03-11T03:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, AwaitingWindow)
        .await;
    let out = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap();
    assert_eq!(out["previous_task_definition"], "arn:td/app:1");
    assert_eq!(out["task_definition"], "arn:td/app:2");
    let log = kit.log();
    let stored = log
        .iter()
        .position(|l| l == &format!("store {} Deploying", r.id))
        .unwrap();
    let register = log
        .iter()
        .position(|l| l.starts_with("ecs register arn:td/app:1 api repo:1.3.0"))
        .unwrap();
    let migrate = log
        .iter()
        .position(|l| l == "ecs run arn:td/app:2 alembic upgrade head")
        .unwrap();
    let update = log
        .iter()
        .position(|l| l == "ecs update arn:td/app:2")
        .unwrap();
    assert!(
        log[0] == "ecs describe" && stored < register && register < migrate && migrate < update,
        "{log:?}"
    );
    let release = kit.get(&r.id).await;
    assert_eq!(
        release.previous_task_definition.as_deref(),
        Some("arn:td/app:1")
    );
    assert_eq!(release.migration.as_ref().unwrap().exit_code, 0);
}

#[tokio::test]
async fn given_a_failed_migration_when_deploying_then_it_stops_before_the_service_changes() {
    let kit = Kit::new("2026-03-11T03:00:00Z");
    kit.ecs.exit_codes.lock().unwrap().push(3);
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, AwaitingWindow)
        .await;
    let err = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Deploy.MigrationFailed");
    assert!(!kit.log().iter().any(|l| l.starts_with("ecs update")));
    // Rollback must not reverse a migration that did not succeed.
    invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap();
    assert!(
        !kit.log().iter().any(|l| l.contains("downgrade")),
        "{:?}",
        kit.log()
    );
    assert_eq!(verify_restore(&kit, &r.id).await["state"], "RolledBack");
}

/// The flow's `VerifyRestore` step.
pub(super) async fn verify_restore(kit: &Kit, id: &crate::model::ReleaseId) -> serde_json::Value {
    invoke(
        &kit.deps,
        Gate::Rollback,
        json!({"release_id": id, "step": "verify"}),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn given_a_release_the_window_has_not_let_through_when_deployed_then_it_is_refused() {
    let kit = Kit::new("2026-03-11T03:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, AwaitingApproval)
        .await;
    let err = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Release.InvalidState");
    assert!(
        kit.log().iter().all(|l| !l.starts_with("ecs")),
        "nothing touched ECS: {:?}",
        kit.log()
    );
}

#[tokio::test]
async fn given_a_rollout_when_polled_then_completed_moves_on_and_failed_or_too_slow_fails() {
    let kit = Kit::new("2026-03-11T03:00:00Z");
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Deploying).await;
    *kit.ecs.rollout.lock().unwrap() = Rollout::InProgress;
    let out = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "status", "release_id": r.id}),
    )
    .await
    .unwrap();
    assert_eq!(out["stable"], false);
    kit.set_now("2026-03-11T03:21:00Z");
    let err = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "status", "release_id": r.id}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Deploy.NotStable");
    *kit.ecs.rollout.lock().unwrap() = Rollout::Failed;
    let err = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "status", "release_id": r.id}),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("essential container exited"),
        "{err}"
    );
    *kit.ecs.rollout.lock().unwrap() = Rollout::Completed;
    let out = invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "status", "release_id": r.id}),
    )
    .await
    .unwrap();
    assert_eq!(out["stable"], true);
    assert_eq!(kit.get(&r.id).await.state, HealthChecking);
}

#[tokio::test]
async fn given_a_failing_critical_path_when_checked_then_it_is_named_and_the_release_stays_put() {
    let kit = Kit::new("2026-03-11T03:05:00Z");
    kit.probe
        .statuses
        .lock()
        .unwrap()
        .insert("/apply".into(), 503);
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, HealthChecking)
        .await;
    let err = invoke(&kit.deps, Gate::HealthCheck, json!({"release_id": r.id}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "HealthCheck.Failed");
    assert!(
        err.to_string()
            .contains("Apply: POST /apply answered 503 (expected 200)"),
        "{err}"
    );
    assert_eq!(kit.get(&r.id).await.state, HealthChecking);
    kit.probe.statuses.lock().unwrap().clear();
    invoke(&kit.deps, Gate::HealthCheck, json!({"release_id": r.id}))
        .await
        .unwrap();
    assert_eq!(kit.get(&r.id).await.state, Monitoring);
}

#[tokio::test]
async fn given_monitoring_when_alarm_or_threshold_trips_then_fails_else_succeeds_after_the_hour() {
    let kit = Kit::new("2026-03-11T03:10:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    kit.set_now("2026-03-11T03:30:00Z");
    let out = invoke(&kit.deps, Gate::Monitor, json!({"release_id": r.id}))
        .await
        .unwrap();
    assert_eq!(out["done"], false);
    assert_eq!(out["minutes_left"], 40);

    *kit.alarms.error_rate.lock().unwrap() = Some(0.05);
    let err = invoke(&kit.deps, Gate::Monitor, json!({"release_id": r.id}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Monitor.ThresholdBreached");
    *kit.alarms.error_rate.lock().unwrap() = None;

    kit.alarms
        .in_alarm
        .lock()
        .unwrap()
        .push("roleferry-api-5xx-rate".into());
    let err = invoke(&kit.deps, Gate::Monitor, json!({"release_id": r.id}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Monitor.AlarmFired");
    kit.alarms.in_alarm.lock().unwrap().clear();

    kit.set_now("2026-03-11T04:10:00Z");
    let out = invoke(&kit.deps, Gate::Monitor, json!({"release_id": r.id}))
        .await
        .unwrap();
    assert_eq!(out["done"], true);
    assert_eq!(kit.get(&r.id).await.state, Succeeded);
}

#[tokio::test]
async fn given_a_rollback_when_run_twice_then_the_recorded_revision_and_down_migration_run_once() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    // The recorded previous is not "revision - 1": rollback must use it exactly.
    r.previous_task_definition = Some("arn:td/app:7".into());
    r.migration = Some(crate::model::MigrationRecord {
        task_arn: "t".into(),
        exit_code: 0,
        at: at("2026-03-11T03:00:00Z"),
        reversed: false,
    });
    kit.store.update(&r).await.unwrap();
    let error = json!({"Error": "Monitor.AlarmFired", "Cause": "{\"errorMessage\":\"alarm fired: 5xx\",\"errorType\":\"Monitor.AlarmFired\"}"});
    let out = invoke(
        &kit.deps,
        Gate::Rollback,
        json!({"release_id": r.id, "error": error}),
    )
    .await
    .unwrap();
    assert_eq!(
        out["state"], "RollingBack",
        "pointed back, not yet seen working"
    );
    assert_eq!(out["ended"], false);
    assert_eq!(*kit.ecs.current.lock().unwrap(), "arn:td/app:7");
    let log = kit.log();
    assert!(log.contains(&"ecs update arn:td/app:7".to_string()));
    assert!(
        log.contains(&"ecs run arn:td/app:2 alembic downgrade -1".to_string()),
        "{log:?}"
    );
    let release = kit.get(&r.id).await;
    assert_eq!(
        release.outcome.as_deref(),
        Some("Monitor.AlarmFired: alarm fired: 5xx")
    );
    assert!(release.migration.unwrap().reversed);

    let before = kit.log().len();
    invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap();
    assert_eq!(kit.log().len(), before, "a second rollback does nothing");
    let out = verify_restore(&kit, &r.id).await;
    assert_eq!(
        (&out["state"], &out["ended"]),
        (&json!("RolledBack"), &json!(true))
    );
}

#[tokio::test]
async fn given_a_failed_reverse_migration_when_rolling_back_then_the_release_fails_loudly() {
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
    kit.ecs.exit_codes.lock().unwrap().push(1);
    let err = invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rollback.Failed");
    assert_eq!(kit.get(&r.id).await.state, Failed);
    invoke(&kit.deps, Gate::Announce, json!({"release_id": r.id}))
        .await
        .unwrap();
    assert!(
        kit.texts()
            .iter()
            .any(|t| t.contains("FAILED") && t.contains("act now")),
        "{:?}",
        kit.texts()
    );
}

#[tokio::test]
async fn given_a_failure_before_deploy_when_rolled_back_then_it_fails_with_the_service_untouched() {
    let kit = Kit::new("2026-03-11T03:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, AwaitingWindow)
        .await;
    let out = invoke(&kit.deps, Gate::Rollback, json!({"release_id": r.id, "error": {"Error": "Deploy.Failed", "Cause": "no such service"}})).await.unwrap();
    assert_eq!(out["state"], "Failed");
    assert!(kit.log().iter().all(|l| !l.starts_with("ecs update")));
}

#[tokio::test]
async fn given_a_release_holding_the_service_when_announced_then_said_once_the_next_let_through() {
    let kit = Kit::new("2026-03-11T03:00:00Z");
    let first = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    let mut waiting = kit
        .release_in("1.4.0", ReleaseType::Minor, AwaitingWindow)
        .await;
    waiting.window_token = Some("window-token".into());
    waiting.queued_at = Some(at("2026-03-10T14:00:00Z"));
    kit.store.update(&waiting).await.unwrap();
    let service = first.service.clone();
    let taken = kit
        .store
        .acquire_lock(
            &service,
            &first.id,
            at("2026-03-11T03:00:00Z"),
            at("2026-03-11T06:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(taken, crate::ports::LockOutcome::Acquired);

    // The window gate holds the second back while the first has the service.
    let out = invoke(&kit.deps, Gate::Window, json!({"action": "open"}))
        .await
        .unwrap();
    assert!(out["dispatched"].is_null());

    kit.set_now("2026-03-11T04:10:00Z");
    invoke(&kit.deps, Gate::Monitor, json!({"release_id": first.id}))
        .await
        .unwrap();
    invoke(&kit.deps, Gate::Announce, json!({"release_id": first.id}))
        .await
        .unwrap();
    invoke(&kit.deps, Gate::Announce, json!({"release_id": first.id}))
        .await
        .unwrap();
    let launches = kit
        .rec
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|n| n.channel() == "slack" && n.text().starts_with("🚀 Release v1.3.0"))
        .count();
    assert_eq!(launches, 1);
    assert!(
        kit.rec.wakes.lock().unwrap().is_empty(),
        "announce frees the service; it calls no other gate"
    );
    // The flow's next state (WakeNextRelease) asks the window gate.
    invoke(&kit.deps, Gate::Window, json!({"action": "open"}))
        .await
        .unwrap();
    // 04:10 is too late for the second: it is scheduled for the next window.
    assert_eq!(
        kit.rec.wakes.lock().unwrap().last(),
        Some(&at("2026-03-12T03:00:00Z"))
    );
    assert!(
        kit.rec.tokens.lock().unwrap().is_empty(),
        "{:?}",
        kit.rec.tokens.lock().unwrap()
    );

    kit.set_now("2026-03-12T03:00:00Z");
    let out = invoke(&kit.deps, Gate::Window, json!({"action": "open"}))
        .await
        .unwrap();
    assert_eq!(out["dispatched"], json!(waiting.id));
    assert_eq!(kit.rec.tokens.lock().unwrap()[0].0, "window-token");
}

#[tokio::test]
async fn given_a_hotfix_off_hours_when_enqueued_then_a_bypass_needs_a_reason_and_is_announced() {
    let kit = Kit::new("2026-03-10T14:00:00Z");
    let mut hotfix = kit
        .release_in("1.2.1", ReleaseType::Hotfix, AwaitingApproval)
        .await;
    hotfix.bypass_reason = Some("payments down".into());
    kit.store.update(&hotfix).await.unwrap();
    invoke(
        &kit.deps,
        Gate::Window,
        json!({"action": "enqueue", "release_id": hotfix.id, "task_token": "t1"}),
    )
    .await
    .unwrap();
    assert_eq!(
        kit.rec.tokens.lock().unwrap().len(),
        1,
        "let through at 14:00"
    );
    assert!(
        kit.texts()
            .iter()
            .any(|t| t.contains("bypasses") && t.contains("payments down"))
    );

    // Without a reason a hotfix waits like everyone else.
    let plain = kit
        .release_in("1.2.2", ReleaseType::Hotfix, AwaitingApproval)
        .await;
    kit.store
        .release_lock(&plain.service, &hotfix.id)
        .await
        .unwrap();
    invoke(
        &kit.deps,
        Gate::Window,
        json!({"action": "enqueue", "release_id": plain.id, "task_token": "t2"}),
    )
    .await
    .unwrap();
    assert_eq!(kit.rec.tokens.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn given_approval_decisions_when_recorded_then_the_approval_resumes_only_at_quorum() {
    let kit = Kit::new("2026-03-10T10:00:00Z");
    let mut r = kit
        .release_in("2.0.0", ReleaseType::Major, AwaitingApproval)
        .await;
    r.approval_token = Some("approval-token".into());
    kit.store.update(&r).await.unwrap();
    let decided = releases::decide(&kit.deps, &r.id, "taylor", Decision::Approved, None)
        .await
        .unwrap();
    assert!(!decided.quorum.met);
    assert!(
        kit.rec.tokens.lock().unwrap().is_empty(),
        "{:?}",
        kit.rec.tokens.lock().unwrap()
    );
    releases::decide(&kit.deps, &r.id, "casey", Decision::Approved, None)
        .await
        .unwrap();
    assert_eq!(kit.rec.tokens.lock().unwrap().len(), 1);
    // Repeating is harmless; changing one's mind is refused.
    releases::decide(&kit.deps, &r.id, "casey", Decision::Approved, None)
        .await
        .unwrap();
    let err = releases::decide(
        &kit.deps,
        &r.id,
        "casey",
        Decision::Rejected,
        Some("no".into()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Gate.InvalidInput");
    assert_eq!(kit.get(&r.id).await.approvals.len(), 2);
}

#[tokio::test]
async fn given_a_rejection_when_decided_then_the_approval_task_fails_with_its_reason() {
    let kit = Kit::new("2026-03-10T10:00:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, AwaitingApproval)
        .await;
    r.approval_token = Some("approval-token".into());
    kit.store.update(&r).await.unwrap();
    releases::decide(
        &kit.deps,
        &r.id,
        "lee",
        Decision::Rejected,
        Some("not on staging".into()),
    )
    .await
    .unwrap();
    let tokens = kit.rec.tokens.lock().unwrap().clone();
    let (token, result) = &tokens[0];
    assert_eq!(token, "approval-token");
    let (error, cause) = result.clone().unwrap_err();
    assert_eq!(error, "Approval.Rejected");
    assert!(cause.contains("not on staging"));
    assert_eq!(kit.get(&r.id).await.state, Rejected);
}

#[tokio::test]
async fn given_two_racing_writes_when_stored_then_the_second_is_refused_not_overwriting() {
    let kit = Kit::new("2026-03-10T10:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, AwaitingApproval)
        .await;
    let mut a = kit.get(&r.id).await;
    let mut b = kit.get(&r.id).await;
    a.transition(AwaitingWindow, "a", "a", kit.deps.now())
        .unwrap();
    b.transition(Expired, "b", "b", kit.deps.now()).unwrap();
    kit.store.update(&a).await.unwrap();
    let err = kit.store.update(&b).await.unwrap_err();
    assert!(matches!(err, crate::ports::StoreError::Conflict { .. }));
    assert_eq!(kit.get(&r.id).await.state, AwaitingWindow);
}

#[tokio::test]
async fn given_malformed_gate_input_when_invoked_then_it_is_a_clear_error() {
    let kit = Kit::new("2026-03-10T10:00:00Z");
    for payload in [
        json!({}),
        json!({"action": "launch", "release_id": "x"}),
        json!({"release_id": "has space"}),
        json!(42),
    ] {
        let err = invoke(&kit.deps, Gate::Deploy, payload).await.unwrap_err();
        assert_eq!(err.error_type(), "Gate.InvalidInput");
    }
    let err = invoke(
        &kit.deps,
        Gate::Monitor,
        json!({"release_id": "api-9.9.9-none"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Release.NotFound");
}

#[tokio::test]
async fn given_one_commit_when_started_twice_then_one_release_opens() {
    let kit = Kit::new("2026-03-10T09:00:00Z");
    let new = crate::model::NewRelease {
        service: "api".parse().unwrap(),
        version: "1.3.0".parse().unwrap(),
        commit: "ABCDEF1234ABCDEF1234ABCDEF1234ABCDEF1234".into(),
        author: "alex".into(),
        changelog: Default::default(),
        release_type: None,
        bypass_reason: None,
        contributors: Vec::new(),
        user_announcement: None,
    };
    let a = releases::start(&kit.deps, new.clone()).await.unwrap();
    let b = releases::start(&kit.deps, new.clone()).await.unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.release.id, b.release.id);
    assert_eq!(a.release.commit, "abcdef1234abcdef1234abcdef1234abcdef1234");
    // A commit named by less than its full SHA is refused, with how to name it.
    for short in ["abcdef1", "zz", "", &"a".repeat(100_000)] {
        let mut bad = new.clone();
        bad.commit = short.to_string();
        let err = releases::start(&kit.deps, bad).await.unwrap_err();
        assert_eq!(err.error_type(), "Gate.InvalidInput");
        assert!(err.to_string().contains("40-character SHA"), "{err}");
    }
    // Another commit never takes a version that is taken — not even one whose first seven
    // characters are the same (and so would have the same release id).
    for commit in [
        "abcdef1999999999999999999999999999999999",
        "0000000000000000000000000000000000000000",
    ] {
        let mut twin = new.clone();
        twin.commit = commit.into();
        let err = releases::start(&kit.deps, twin).await.unwrap_err();
        assert!(
            matches!(&err, GateError::VersionTaken { commit, .. } if commit.starts_with("abcdef1234")),
            "{err:?}"
        );
    }
    let mut other = new;
    other.service = "billing".parse().unwrap();
    assert_eq!(
        releases::start(&kit.deps, other)
            .await
            .unwrap_err()
            .error_type(),
        "Gate.InvalidInput"
    );
}

#[tokio::test]
async fn given_a_stated_type_the_version_contradicts_when_started_then_it_is_refused_naming_the_bump()
 {
    let kit = Kit::new("2026-03-10T09:00:00Z");
    kit.release_in("1.2.0", ReleaseType::Minor, Succeeded).await;
    let new = |version: &str, kind| crate::model::NewRelease {
        service: "api".parse().unwrap(),
        version: version.parse().unwrap(),
        commit: format!("{:040x}", 0xabc_u32),
        author: "alex".into(),
        changelog: crate::model::Changelog::default(),
        release_type: Some(kind),
        bypass_reason: None,
        contributors: Vec::new(),
        user_announcement: None,
    };
    let err = releases::start(&kit.deps, new("1.3.0", ReleaseType::Hotfix))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Gate.InvalidInput");
    assert_eq!(
        err.to_string(),
        "invalid gate input: the type hotfix contradicts the version: 1.2.0 → 1.3.0 is a minor release"
    );
    let started = releases::start(&kit.deps, new("1.2.1", ReleaseType::Hotfix))
        .await
        .unwrap();
    assert_eq!(started.release.release_type, ReleaseType::Hotfix);
}
