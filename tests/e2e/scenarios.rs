//! Every demo scenario through the real `statemachine.json`, with what each must show.

use shipgate_core::ReleaseState;
use shipgate_core::model::Decision;
use shipgate_local::demo::{self, ScenarioReport};
use shipgate_tests::{STATEMACHINE, config};

use crate::helpers::at;

const SEED: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:41";
const NEXT: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:42";

async fn run(name: &str) -> ScenarioReport {
    let scenario = demo::scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = demo::run(&scenario, &config(), STATEMACHINE, dir.path())
        .await
        .unwrap();
    assert!(report.passed, "{name}: {:?}", report.problems);
    assert_eq!(report.final_state, scenario.expected_state);
    report
}

fn slack(report: &ScenarioReport) -> Vec<&str> {
    report
        .announcements
        .iter()
        .filter(|a| a.channel == "slack")
        .map(|a| a.text.as_str())
        .collect()
}

fn approvers(report: &ScenarioReport) -> Vec<(String, String, Decision)> {
    report
        .approvals
        .iter()
        .map(|a| (a.approver.clone(), a.role.clone(), a.decision))
        .collect()
}

#[tokio::test]
async fn given_a_minor_release_when_approved_then_it_ships_at_three_announced_per_the_procedures() {
    let report = run("minor-happy").await;
    assert_eq!(report.deploy_started_at, Some(at("2026-03-11T03:00:00Z")));
    assert_eq!(report.previous_task_definition.as_deref(), Some(SEED));
    assert_eq!(report.serving_task_definition.as_deref(), Some(NEXT));
    assert_eq!(
        approvers(&report),
        vec![("lee".into(), "Eng Lead".into(), Decision::Approved)]
    );
    let release = &report.releases[0];
    let finished = release.finished_at.unwrap();
    assert!(
        finished >= at("2026-03-11T04:00:00Z"),
        "monitored a full hour, finished {finished}"
    );
    let posts = slack(&report);
    let post = posts
        .iter()
        .find(|t| t.starts_with("🚀 Release v1.3.0 deployed to production"))
        .unwrap();
    assert!(post.contains("Features:\n- AI Copilot (beta)"), "{post}");
    assert!(post.contains("Deployed: 2026-03-11 03:00 UTC"), "{post}");
    assert!(
        post.contains("Rollback: aws ecs update-service --cluster roleferry-prod --service api --task-definition roleferry-api:41"),
        "{post}"
    );
    let statuses: Vec<_> = report
        .announcements
        .iter()
        .filter(|a| a.channel == "status_page")
        .collect();
    assert!(
        statuses
            .first()
            .unwrap()
            .text
            .starts_with("Maintenance in progress")
    );
    assert!(statuses.last().unwrap().text.contains("released"));
}

#[tokio::test]
async fn given_a_major_release_when_approved_then_it_needs_the_ceo_and_the_cto() {
    let report = run("major-quorum").await;
    assert_eq!(
        approvers(&report),
        vec![
            ("taylor".into(), "CTO".into(), Decision::Approved),
            ("casey".into(), "CEO".into(), Decision::Approved)
        ]
    );
    assert_eq!(report.deploy_started_at, Some(at("2026-03-11T03:00:00Z")));
}

#[tokio::test]
async fn given_an_author_when_approving_their_own_release_then_it_is_refused() {
    let report = run("self-approval-refused").await;
    assert_eq!(
        approvers(&report),
        vec![("taylor".into(), "Eng Lead".into(), Decision::Approved)]
    );
}

#[tokio::test]
async fn given_a_release_when_rejected_then_nothing_deploys_and_it_says_why() {
    let report = run("rejected").await;
    assert_eq!(report.deploy_started_at, None);
    assert_eq!(report.previous_task_definition, None);
    assert_eq!(report.serving_task_definition.as_deref(), Some(SEED));
    assert_eq!(report.releases[0].new_task_definition, None);
    assert_eq!(report.approvals[0].decision, Decision::Rejected);
    assert!(
        slack(&report)
            .iter()
            .any(|t| t.contains("rejected") && t.contains("not tested on staging"))
    );
}

#[tokio::test]
async fn given_an_unapproved_release_when_a_day_passes_then_it_expires() {
    let report = run("expired").await;
    assert_eq!(report.deploy_started_at, None);
    assert_eq!(
        report.releases[0].finished_at,
        Some(at("2026-03-11T09:00:00Z"))
    );
    assert!(
        slack(&report)
            .iter()
            .any(|t| t.contains("expired") && t.contains("Eng Lead"))
    );
    assert_eq!(report.serving_task_definition.as_deref(), Some(SEED));
}

#[tokio::test]
async fn given_a_monitored_release_when_an_alarm_fires_then_it_returns_to_the_recorded_revision() {
    let report = run("alarm-rollback").await;
    assert_eq!(report.previous_task_definition.as_deref(), Some(SEED));
    assert_eq!(report.serving_task_definition.as_deref(), Some(SEED));
    let outcome = report.releases[0].outcome.clone().unwrap();
    assert!(outcome.contains("roleferry-api-5xx-rate"), "{outcome}");
    let finished = report.releases[0].finished_at.unwrap();
    assert!(
        finished < at("2026-03-11T04:00:00Z"),
        "rolled back during the hour, at {finished}"
    );
    assert!(
        slack(&report)
            .iter()
            .any(|t| t.starts_with("⏪ Release v1.3.0 rolled back")
                && t.contains("roleferry-api:41"))
    );
}

#[tokio::test]
async fn given_a_failing_critical_path_when_health_checked_then_the_release_rolls_back() {
    let report = run("health-rollback").await;
    assert_eq!(report.serving_task_definition.as_deref(), Some(SEED));
    let outcome = report.releases[0].outcome.clone().unwrap();
    assert!(outcome.contains("/apply"), "{outcome}");
}

#[tokio::test]
async fn given_a_migration_that_ran_when_the_release_rolls_back_then_it_is_reversed() {
    let report = run("migration-rollback").await;
    assert_eq!(report.serving_task_definition.as_deref(), Some(SEED));
    assert_eq!(
        report.tasks_run,
        vec![
            "alembic upgrade head → exit 0",
            "alembic downgrade -1 → exit 0"
        ]
    );
    assert!(
        slack(&report)
            .iter()
            .any(|t| t.contains("migration was reversed"))
    );
}

#[tokio::test]
async fn given_a_hotfix_with_a_reason_when_approved_then_it_bypasses_the_window_and_says_so() {
    let report = run("hotfix-bypass").await;
    assert_eq!(report.deploy_started_at, Some(at("2026-03-10T14:00:00Z")));
    assert_eq!(
        approvers(&report),
        vec![("taylor".into(), "CTO".into(), Decision::Approved)]
    );
    assert!(
        slack(&report)
            .iter()
            .any(|t| t.contains("bypasses") && t.contains("SSO logins failing"))
    );
}

#[tokio::test]
async fn given_a_release_approved_too_late_in_a_window_when_scheduled_then_it_waits_for_the_next() {
    let report = run("window-fit").await;
    assert_eq!(report.deploy_started_at, Some(at("2026-03-11T03:00:00Z")));
}

#[tokio::test]
async fn given_frozen_windows_when_a_release_is_scheduled_then_they_are_skipped() {
    let report = run("freeze").await;
    assert_eq!(report.deploy_started_at, Some(at("2026-03-13T03:00:00Z")));
}

#[tokio::test]
async fn given_two_releases_of_a_service_when_approved_then_they_deploy_one_at_a_time() {
    let report = run("one-at-a-time").await;
    let [first, second] = &report.releases[..] else {
        panic!("two releases expected")
    };
    assert_eq!(first.final_state, ReleaseState::Succeeded);
    assert_eq!(first.deploy_started_at, Some(at("2026-03-11T03:00:00Z")));
    assert!(second.deploy_started_at.unwrap() > first.finished_at.unwrap());
    assert_eq!(second.deploy_started_at, Some(at("2026-03-12T03:00:00Z")));
    // The second replaced what the first deployed, and a rollback of it would return there.
    assert_eq!(second.previous_task_definition.as_deref(), Some(NEXT));
    assert_eq!(
        report.serving_task_definition.as_deref(),
        Some("arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:43")
    );
}

#[tokio::test]
async fn given_a_failed_security_scan_when_pushed_then_nobody_is_asked_until_a_rerun_passes() {
    let report = run("failing-checks-hold-approval").await;
    let release = &report.releases[0];
    let asked = release
        .timeline
        .iter()
        .find(|e| e.to == Some(ReleaseState::AwaitingApproval))
        .map(|e| e.at);
    assert_eq!(
        asked,
        Some(at("2026-03-10T11:05:00Z")),
        "asked once snyk passed"
    );
    let evidence: Vec<&str> = release
        .timeline
        .iter()
        .filter(|e| e.kind == shipgate_core::model::EventKind::Evidence)
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(evidence.len(), 3, "{evidence:?}");
    assert!(evidence[0].starts_with("Held by snyk — check run failure (https://github.com/"));
    assert!(evidence[0].ends_with("waiting for perf-regression"));
    assert!(evidence[2].starts_with("All evidence passed"));
    // The evidence was read from GitHub's check runs, statuses and reviews, and re-read on
    // the schedule while held (every 10 minutes from 09:00 to 11:05).
    let reads = |end: &str| {
        report
            .github
            .iter()
            .filter(|c| c.method == "GET" && c.path.split('?').next().unwrap().ends_with(end))
            .count()
    };
    assert!(reads("/check-runs") >= 12, "{}", reads("/check-runs"));
    assert_eq!(reads("/check-runs"), reads("/status"));
    assert_eq!(reads("/pulls/900/reviews"), reads("/check-runs"));
    let held: Vec<&str> = slack(&report)
        .into_iter()
        .filter(|t| t.contains("is held"))
        .collect();
    assert_eq!(held.len(), 1, "told once: {held:?}");
}

#[tokio::test]
async fn given_a_release_that_asked_to_tell_the_users_when_shipped_then_only_subscribers_are_emailed()
 {
    let report = run("users-announcement").await;
    let release = &report.releases[0];
    let emailed = release
        .timeline
        .iter()
        .find(|e| e.detail.starts_with("emailed the release to"))
        .expect("the timeline says the users were emailed");
    assert!(
        emailed.at >= release.finished_at.unwrap(),
        "after it shipped"
    );
    assert!(
        emailed.detail.starts_with(
            "emailed the release to 2 user(s) of roleferry-users (topic releases; 2 unsubscribed)"
        ),
        "{}",
        emailed.detail
    );
}

#[tokio::test]
async fn given_a_push_to_develop_when_staged_and_approved_by_qa_then_production_ships_its_very_image()
 {
    let report = run("staging-then-production").await;
    let [staged, unstaged, shipped] = &report.releases[..] else {
        panic!("three releases: {:?}", report.releases.len());
    };
    // Staging: no approval and no window before deploying (09:00 is outside 03:00–05:00).
    let moved = |release: &shipgate_local::demo::ReleaseReport, to: ReleaseState| {
        release
            .timeline
            .iter()
            .find(|e| e.to == Some(to))
            .map(|e| e.at)
    };
    assert_eq!(
        moved(staged, ReleaseState::Deploying),
        Some(at("2026-03-10T09:00:00Z"))
    );
    let asked_qa = moved(staged, ReleaseState::AwaitingApproval).unwrap();
    assert!(asked_qa > moved(staged, ReleaseState::Monitoring).unwrap());
    assert!(
        staged
            .timeline
            .iter()
            .any(|e| e.actor == "quinn" && e.detail == "approved as QA"),
        "QA approved"
    );
    assert_eq!(staged.final_state, ReleaseState::Succeeded);
    // Never staged: held, with the reason.
    assert!(unstaged.timeline.iter().any(|e| {
        e.kind == shipgate_core::model::EventKind::Evidence
            && e.detail.contains("never deployed to staging")
    }));
    // The release branch's merge: proved by staging through its second parent, approved
    // only afterwards, and deployed with the digest staging ran.
    let proved = shipped
        .timeline
        .iter()
        .position(|e| e.detail.starts_with("deploys the image api-staging-1.3.0-"))
        .expect("pinned to staging's image");
    let asked = shipped
        .timeline
        .iter()
        .position(|e| e.to == Some(ReleaseState::AwaitingApproval))
        .unwrap();
    assert!(proved < asked);
    let digest = staged
        .timeline
        .iter()
        .find(|e| e.kind == shipgate_core::model::EventKind::Registered)
        .and_then(|e| e.detail.rsplit_once('@').map(|(_, d)| d.to_string()))
        .expect("staging registered its image by digest");
    assert!(digest.starts_with("sha256:"));
    assert!(shipped.timeline.iter().any(|e| {
        e.kind == shipgate_core::model::EventKind::Registered
            && e.detail.ends_with(&format!("@{digest}"))
    }));
    assert!(
        report
            .github
            .iter()
            .any(|c| c.method == "GET" && c.path.ends_with(&format!("/commits/{}", shipped.commit))),
        "the merge commit's parents were read"
    );
}
