//! Staging before production, through the gates as the flow calls them.

use serde_json::{Value, json};

use crate::config::environments::tests::with_staging;
use crate::gate::Gate;
use crate::model::{Changelog, Decision, NewRelease, Release, ReleaseId, ReleaseState};
use crate::ports::Notification;
use crate::ports::ReleaseStore;
use crate::releases;
use crate::testkit::{Kit, invoke};

use ReleaseState::*;

const STAGED: &str = "5a9ed0000000000000000000000000000000000a";
const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn image(kit: &Kit, version: &str) -> String {
    format!("{}:{version}", kit.deps.config.service.image)
}

fn new(service: &str, version: &str, commit: &str) -> NewRelease {
    NewRelease {
        service: service.parse().unwrap(),
        version: version.parse().unwrap(),
        commit: commit.into(),
        author: "alex@example.com".into(),
        changelog: Changelog {
            features: vec!["Saved searches".into()],
            fixes: vec![],
        },
        release_type: None,
        bypass_reason: None,
        contributors: vec![],
        user_announcement: None,
    }
}

/// A kit at noon (outside production's window) with staging configured.
fn kit() -> Kit {
    Kit::with_config(with_staging(), "2026-03-11T12:00:00Z")
}

async fn call(kit: &Kit, gate: Gate, payload: Value) -> Value {
    invoke(&kit.deps, gate, payload).await.unwrap()
}

/// A push to `develop`, through staging until QA is asked; the release's id.
async fn deployed_to_staging(kit: &Kit, commit: &str) -> ReleaseId {
    let id = rolled_out_on_staging(kit, commit).await;
    call(kit, Gate::HealthCheck, json!({"release_id": id})).await;
    let monitored = call(kit, Gate::Monitor, json!({"release_id": id})).await;
    assert_eq!(monitored["done"], true);
    assert_eq!(kit.get(&id).await.state, AwaitingApproval);
    id
}

/// A push to `develop`: the staging release it opens, not queued yet.
async fn pushed_to_develop(kit: &Kit, commit: &str) -> ReleaseId {
    let staging = kit
        .deps
        .with_config(kit.deps.config.for_environment("staging").unwrap());
    let started = releases::start(&staging, new("api-staging", "0.2.0", commit))
        .await
        .unwrap();
    assert_eq!(started.release.environment.as_deref(), Some("staging"));
    let input = kit.rec.inputs.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(input["settings"]["environment"], "staging");
    started.release.id
}

/// A push to `develop`, deployed to staging and stable, before its smoke tests.
async fn rolled_out_on_staging(kit: &Kit, commit: &str) -> ReleaseId {
    let id = pushed_to_develop(kit, commit).await;
    let out = call(
        kit,
        Gate::Window,
        json!({"action": "enqueue", "release_id": id, "task_token": "t-window"}),
    )
    .await;
    // No approval, and no window: at noon it goes at once.
    assert_eq!(out["dispatched"], json!(id));
    call(
        kit,
        Gate::Deploy,
        json!({"action": "start", "release_id": id}),
    )
    .await;
    call(
        kit,
        Gate::Deploy,
        json!({"action": "status", "release_id": id}),
    )
    .await;
    assert_eq!(kit.get(&id).await.state, HealthChecking);
    id
}

/// QA approves `id` and the flow accepts it.
async fn qa_approves(kit: &Kit, id: &ReleaseId) {
    let asked = call(
        kit,
        Gate::Approve,
        json!({"action": "request", "release_id": id, "task_token": "t-qa"}),
    )
    .await;
    assert_eq!(asked["asked"], json!(["quinn"]));
    releases::decide(&kit.deps, id, "quinn", Decision::Approved, None)
        .await
        .unwrap();
    let accepted = call(
        kit,
        Gate::Approve,
        json!({"action": "accept", "release_id": id}),
    )
    .await;
    assert_eq!(accepted["state"], "Succeeded");
}

#[tokio::test]
async fn given_a_push_to_develop_when_staged_then_it_deploys_at_once_and_qa_approves_after_the_smoke_tests()
 {
    let kit = kit();
    kit.ecs
        .digests
        .lock()
        .unwrap()
        .insert(image(&kit, "0.2.0"), DIGEST.into());
    let id = deployed_to_staging(&kit, STAGED).await;
    let release = kit.get(&id).await;
    assert_eq!(release.service.as_str(), "api-staging");
    assert_eq!(release.image_digest.as_deref(), Some(DIGEST));
    assert!(
        kit.log()
            .iter()
            .any(|l| l.ends_with(&format!("{}@{DIGEST}", image(&kit, "0.2.0")))),
        "staging registers the image by digest: {:?}",
        kit.log()
    );
    // Production's approvers may not approve a staging release; QA only.
    let err = releases::decide(&kit.deps, &id, "taylor", Decision::Approved, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("QA"), "{err}");
    // Accepting before QA approved is refused.
    let early = invoke(
        &kit.deps,
        Gate::Approve,
        json!({"action": "accept", "release_id": id}),
    )
    .await
    .unwrap_err();
    assert!(early.to_string().contains("QA"), "{early}");
    qa_approves(&kit, &id).await;
    let announced = call(&kit, Gate::Announce, json!({"release_id": id})).await;
    assert_eq!(announced["state"], "Succeeded");
    let texts = kit.texts();
    assert!(
        texts.iter().any(|t| t.contains("passed staging")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Test cases:") && t.contains("Apply to a job")),
        "QA is asked with the test cases: {texts:?}"
    );
    let sent = kit.rec.sent.lock().unwrap().clone();
    assert!(
        !sent
            .iter()
            .any(|n| matches!(n, Notification::StatusPage { .. })),
        "staging never touches the status page"
    );
}

async fn production(kit: &Kit, version: &str, commit: &str) -> Release {
    let started = releases::start(&kit.deps, new("api", version, commit))
        .await
        .unwrap();
    let input = kit.rec.inputs.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(input["settings"]["environment"], "production");
    started.release
}

async fn gather(kit: &Kit, id: &ReleaseId) -> String {
    let out = call(
        kit,
        Gate::Approve,
        json!({"action": "evidence", "release_id": id}),
    )
    .await;
    out["verdict"].as_str().unwrap().to_string()
}

/// Production release `id`, its evidence read: held, and staging's item says why.
async fn held(kit: &Kit, id: &ReleaseId) -> crate::evidence::EvidenceItem {
    assert_eq!(gather(kit, id).await, "held");
    staging_item(&kit.get(id).await)
}

fn staging_item(release: &Release) -> crate::evidence::EvidenceItem {
    release
        .evidence
        .as_ref()
        .unwrap()
        .items
        .iter()
        .find(|i| i.name == "staging")
        .unwrap()
        .clone()
}

#[tokio::test]
async fn given_code_that_passed_staging_when_released_then_production_deploys_the_very_digest() {
    let kit = kit();
    kit.ecs
        .digests
        .lock()
        .unwrap()
        .insert(image(&kit, "0.2.0"), DIGEST.into());
    let staged = deployed_to_staging(&kit, STAGED).await;
    qa_approves(&kit, &staged).await;
    let release = production(&kit, "0.2.0", STAGED).await;
    assert_eq!(gather(&kit, &release.id).await, "ready");
    let mut release = kit.get(&release.id).await;
    let item = staging_item(&release);
    assert!(
        item.detail.contains("passed staging") && item.detail.contains("Quinn"),
        "{item:?}"
    );
    assert_eq!(release.staged_by.as_ref(), Some(&staged));
    assert_eq!(release.image_digest.as_deref(), Some(DIGEST));
    // Approved and in its window: it registers the digest staging ran, whatever the
    // registry says of its own tag now.
    kit.ecs
        .digests
        .lock()
        .unwrap()
        .insert(image(&kit, "0.2.0"), "sha256:retagged".into());
    release.state = AwaitingWindow;
    kit.store.update(&release).await.unwrap();
    kit.set_now("2026-03-12T03:00:00Z");
    call(
        &kit,
        Gate::Deploy,
        json!({"action": "start", "release_id": release.id}),
    )
    .await;
    let register = format!("api {}@{DIGEST}", image(&kit, "0.2.0"));
    assert!(
        kit.log()
            .iter()
            .any(|l| l.starts_with("ecs register") && l.ends_with(&register)),
        "{:?}",
        kit.log()
    );
    // The announcement names the image by digest.
    let mut shipped = kit.get(&release.id).await;
    shipped.state = Succeeded;
    let told = crate::messages::outcome(&kit.deps.config, &shipped);
    assert!(
        told[0]
            .text()
            .contains(&format!("Image: {}@{DIGEST}", image(&kit, "0.2.0"))),
        "{}",
        told[0].text()
    );
}

#[tokio::test]
async fn given_code_never_staged_when_released_then_it_is_held_with_the_reason() {
    let kit = kit();
    let release = production(&kit, "0.2.0", &"b".repeat(40)).await;
    let item = held(&kit, &release.id).await;
    assert!(
        item.detail.contains("never deployed to staging"),
        "{item:?}"
    );
    assert!(
        kit.texts()
            .iter()
            .any(|t| t.contains("is held") && t.contains("never deployed to staging")),
        "{:?}",
        kit.texts()
    );
}

#[tokio::test]
async fn given_a_release_branch_merge_when_released_then_the_branch_head_s_staging_counts() {
    let kit = kit();
    let staged = deployed_to_staging(&kit, STAGED).await;
    qa_approves(&kit, &staged).await;
    let merge = "3e4ce0000000000000000000000000000000000b";
    kit.github.reports.lock().unwrap().insert(
        merge.into(),
        json!({ "sha": merge, "parents": [{ "sha": "c".repeat(40) }, { "sha": STAGED }] }),
    );
    let release = production(&kit, "0.2.0", merge).await;
    assert_eq!(gather(&kit, &release.id).await, "ready");
    let item = staging_item(&kit.get(&release.id).await);
    assert!(
        item.detail.contains("merged branch's head 5a9ed00"),
        "{item:?}"
    );
    assert!(
        kit.github.calls().iter().any(|c| c.contains(&format!(
            "GET /repos/roleferry/roleferry-api/commits/{merge}"
        ))),
        "{:?}",
        kit.github.calls()
    );
}

#[tokio::test]
async fn given_staging_still_at_work_or_failed_when_released_then_production_waits_or_is_held() {
    let kit = kit();
    let staged = deployed_to_staging(&kit, STAGED).await;
    let release = production(&kit, "0.2.0", STAGED).await;
    // QA has not answered yet: production waits.
    assert_eq!(gather(&kit, &release.id).await, "waiting");
    let item = staging_item(&kit.get(&release.id).await);
    assert!(
        item.detail.contains("AwaitingApproval on staging"),
        "{item:?}"
    );
    // QA rejects it: production is held, with QA's reason.
    releases::decide(
        &kit.deps,
        &staged,
        "quinn",
        Decision::Rejected,
        Some("apply form loses the cover letter".into()),
    )
    .await
    .unwrap();
    let item = held(&kit, &release.id).await;
    assert!(
        item.detail.contains("Rejected on staging") && item.detail.contains("cover letter"),
        "{item:?}"
    );
}

#[tokio::test]
async fn given_production_when_a_pending_release_is_queued_then_it_is_refused_without_approval() {
    let kit = kit();
    let release = production(&kit, "0.2.0", STAGED).await;
    let err = invoke(
        &kit.deps,
        Gate::Window,
        json!({"action": "enqueue", "release_id": release.id, "task_token": "t"}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("approved"), "{err}");
    assert_eq!(kit.get(&release.id).await.state, Pending);
    assert!(kit.store.get(&release.id).await.unwrap().is_some());
}

#[tokio::test]
async fn given_smoke_tests_failing_on_staging_when_rolled_back_then_production_is_held_with_the_reason()
 {
    let kit = kit();
    let staged = rolled_out_on_staging(&kit, STAGED).await;
    kit.probe
        .statuses
        .lock()
        .unwrap()
        .insert("/apply".into(), 500);
    let failed = invoke(&kit.deps, Gate::HealthCheck, json!({"release_id": staged}))
        .await
        .unwrap_err();
    assert_eq!(failed.error_type(), "HealthCheck.Failed");
    // The flow's Catch: staging's service goes back to what it ran, as production's would.
    let caught = json!({"Error": "HealthCheck.Failed", "Cause": failed.to_string()});
    call(
        &kit,
        Gate::Rollback,
        json!({"release_id": staged, "error": caught}),
    )
    .await;
    assert!(
        kit.log().iter().any(|l| l == "ecs update arn:td/app:1"),
        "{:?}",
        kit.log()
    );
    kit.probe.statuses.lock().unwrap().clear();
    let verified = call(
        &kit,
        Gate::Rollback,
        json!({"release_id": staged, "step": "verify"}),
    )
    .await;
    assert_eq!(verified["state"], "RolledBack");
    let release = production(&kit, "0.2.0", STAGED).await;
    let item = held(&kit, &release.id).await;
    assert!(
        item.detail.contains("RolledBack on staging") && item.detail.contains("/apply"),
        "{item:?}"
    );
}

#[tokio::test]
async fn given_staging_with_a_window_of_its_own_when_queued_outside_it_then_it_waits_for_it() {
    let mut config = with_staging();
    let mut window = config.window.clone();
    window.freezes.clear();
    config.environments.get_mut("staging").unwrap().window = Some(window);
    let kit = Kit::with_config(config, "2026-03-11T12:00:00Z");
    let id = pushed_to_develop(&kit, STAGED).await;
    let out = call(
        &kit,
        Gate::Window,
        json!({"action": "enqueue", "release_id": id, "task_token": "t"}),
    )
    .await;
    assert_eq!(out["dispatched"], Value::Null);
    assert_eq!(out["next_check"], "2026-03-12T03:00:00Z");
    assert_eq!(kit.get(&id).await.state, AwaitingWindow);
}

#[tokio::test]
async fn given_a_release_that_passed_staging_when_rolled_back_by_hand_then_staging_s_service_is_restored()
 {
    let kit = kit();
    let staged = deployed_to_staging(&kit, STAGED).await;
    qa_approves(&kit, &staged).await;
    let release = releases::manual_rollback(&kit.deps, &staged, "taylor", "bad seed data")
        .await
        .unwrap();
    assert_eq!(release.state, RollingBack);
    assert!(
        kit.log().iter().any(|l| l == "ecs update arn:td/app:1"),
        "{:?}",
        kit.log()
    );
    // Its restore is watched by an execution run with staging's settings.
    let (name, input) = kit.rec.inputs.lock().unwrap().last().unwrap().clone();
    assert_eq!(name, format!("{staged}-restore"));
    assert_eq!(input["settings"]["environment"], "staging");
}
