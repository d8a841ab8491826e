//! Who goes next: superseded releases, the window queue, the hotfix bypass, and what a
//! window opening hands on.

use serde_json::json;

use crate::gate::Gate;
use crate::model::{Decision, ReleaseState, ReleaseType};
use crate::ports::ReleaseStore;
use crate::releases;
use crate::testkit::invoke;
use crate::testkit::{Kit, at};

use ReleaseState::*;

#[tokio::test]
async fn given_releases_waiting_when_a_newer_one_ships_then_the_older_ones_are_superseded() {
    // Given 1.3.0 monitored to success while 1.2.5 awaits approval, 1.2.6 the window, and
    // 1.4.0 (newer) awaits approval too
    let kit = Kit::new("2026-03-11T04:05:00Z");
    let mut older = kit
        .release_in("1.2.5", ReleaseType::Minor, AwaitingApproval)
        .await;
    older.approval_token = Some("tok-approve-125".into());
    let older = kit.store.update(&older).await.unwrap();
    let mut queued = kit
        .release_in("1.2.6", ReleaseType::Hotfix, AwaitingWindow)
        .await;
    queued.window_token = Some("tok-window-126".into());
    let queued = kit.store.update(&queued).await.unwrap();
    let newer = kit
        .release_in("1.4.0", ReleaseType::Minor, AwaitingApproval)
        .await;
    let shipped = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    // When its success is announced
    invoke(&kit.deps, Gate::Announce, json!({"release_id": shipped.id}))
        .await
        .unwrap();
    // Then the older ones end Superseded, their waits ended with Release.Superseded
    for id in [&older.id, &queued.id] {
        let r = kit.store.get(id).await.unwrap().unwrap();
        assert_eq!(r.state, Superseded, "{id}");
        assert!(
            r.outcome.as_deref().unwrap_or_default().contains("v1.3.0"),
            "{r:?}"
        );
    }
    let failed: Vec<(String, String)> = kit
        .rec
        .tokens
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(t, r)| r.as_ref().err().map(|(e, _)| (t.clone(), e.clone())))
        .collect();
    assert!(failed.contains(&("tok-approve-125".into(), "Release.Superseded".into())));
    assert!(failed.contains(&("tok-window-126".into(), "Release.Superseded".into())));
    // and the newer one waits on
    let newer = kit.store.get(&newer.id).await.unwrap().unwrap();
    assert_eq!(newer.state, AwaitingApproval);
}

#[tokio::test]
async fn given_a_version_below_the_serving_one_when_the_window_opens_then_it_never_deploys() {
    // Given 1.4.0 serving and 1.3.5 (approved before it, say) queued for the window
    let kit = Kit::new("2026-03-12T03:00:00Z");
    kit.release_in("1.4.0", ReleaseType::Minor, Succeeded).await;
    let mut stale = kit
        .release_in("1.3.5", ReleaseType::Minor, AwaitingWindow)
        .await;
    stale.window_token = Some("tok-window-135".into());
    stale.queued_at = Some(at("2026-03-11T10:00:00Z"));
    let stale = kit.store.update(&stale).await.unwrap();
    // When the window opens
    let out = invoke(&kit.deps, Gate::Window, json!({"action": "open"}))
        .await
        .unwrap();
    // Then nothing is dispatched, and 1.3.5 ends Superseded instead of downgrading
    assert!(out["dispatched"].is_null(), "{out}");
    let stale = kit.store.get(&stale.id).await.unwrap().unwrap();
    assert_eq!(stale.state, Superseded);
    let resumed = kit
        .rec
        .tokens
        .lock()
        .unwrap()
        .iter()
        .any(|(t, r)| t == "tok-window-135" && r.is_ok());
    assert!(!resumed, "the stale release's wait was resumed");
}

#[tokio::test]
async fn given_a_hotfix_asking_to_bypass_when_approved_without_it_then_it_is_left_to_the_window() {
    // Given a hotfix that asks to bypass the window, at 14:00
    let kit = Kit::new("2026-03-10T14:00:00Z");
    let mut r = kit
        .release_in("1.2.1", ReleaseType::Hotfix, AwaitingApproval)
        .await;
    r.bypass_reason = Some("SSO logins failing".into());
    r.approval_token = Some("tok-approve".into());
    let r = kit.store.update(&r).await.unwrap();
    // A rejection cannot "leave the bypass out"
    let err = releases::decide_with(
        &kit.deps,
        &r.id,
        "taylor",
        Decision::Rejected,
        Some("no".into()),
        true,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Gate.InvalidInput");
    // When the CTO approves it for the window only
    releases::decide_with(&kit.deps, &r.id, "taylor", Decision::Approved, None, true)
        .await
        .unwrap();
    let r = kit.store.get(&r.id).await.unwrap().unwrap();
    assert!(r.approvals[0].without_bypass);
    // Then the window policy refuses the bypass, naming who declined it
    let refused = crate::policy::window::bypass(&kit.deps.config, &r).unwrap_err();
    assert!(refused.to_string().contains("taylor"), "{refused}");
    // while an approval with the bypass grants it
    let mut granted = r.clone();
    granted.approvals[0].without_bypass = false;
    assert_eq!(
        crate::policy::window::bypass(&kit.deps.config, &granted).unwrap(),
        "SSO logins failing"
    );
}

#[tokio::test]
async fn given_work_a_dead_process_left_undone_when_the_window_opens_then_it_is_handed_on() {
    // Given a release whose quorum was recorded but never delivered (the process died
    // before SendTaskSuccess), and one created without its execution
    let kit = Kit::new("2026-03-10T15:00:00Z");
    let mut approved = kit
        .release_in("1.3.0", ReleaseType::Minor, AwaitingApproval)
        .await;
    approved.approval_token = Some("tok-approve-130".into());
    approved.approvals.push(crate::model::Approval {
        approver: "lee".into(),
        role: "Eng Lead".into(),
        decision: Decision::Approved,
        at: at("2026-03-10T14:00:00Z"),
        reason: None,
        without_bypass: false,
    });
    kit.store.update(&approved).await.unwrap();
    let orphan = kit.release_in("1.4.0", ReleaseType::Minor, Pending).await;
    // When the window gate is woken
    invoke(&kit.deps, Gate::Window, json!({"action": "open"}))
        .await
        .unwrap();
    // Then the approval wait is resumed and the execution started
    let resumed = kit
        .rec
        .tokens
        .lock()
        .unwrap()
        .iter()
        .any(|(t, r)| t == "tok-approve-130" && r.is_ok());
    assert!(resumed);
    assert!(
        kit.rec
            .started
            .lock()
            .unwrap()
            .contains(&orphan.id.to_string())
    );
}
