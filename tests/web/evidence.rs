//! Evidence before approval through the web edge: a push whose security scan failed is
//! held, GitHub's `check_run` and `status` webhooks wake it, and the approval page shows the
//! evidence with its links.

use serde_json::{Value, json};
use shipgate_core::config::EvidenceConfig;
use shipgate_core::{ReleaseId, ReleaseState};
use shipgate_local::github::LocalGitHub;
use shipgate_local::outbox::OutboxMessage;

use crate::helpers::{Routes, Server, fixtures, post_github};

const HEAD: &str = "a1c3e5f7091b2d4f6a8c0e1f3b5d7f9a1c3e5f70";

async fn server() -> Server {
    Server::start_configured("2026-03-10T14:00:00Z", Routes::Local, |config| {
        if let Some(github) = config.github.as_mut() {
            github.evidence = Some(EvidenceConfig {
                required_checks: vec!["tests".into(), "snyk".into(), "perf-regression".into()],
                required_approvals: 1,
                recheck_minutes: 10,
            });
        }
    })
    .await
}

/// What CI has reported on the pushed commit before the push arrives.
fn report(server: &Server, write: impl FnOnce(&mut shipgate_local::github::CommitReports)) {
    let file = server.runtime.data_dir.join("github.json");
    let mut world = LocalGitHub::world(&file).unwrap();
    write(&mut world.reports);
    LocalGitHub::save_world(&file, &world).unwrap();
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("github").join(name)).unwrap()).unwrap()
}

async fn deliver(server: &Server, event: &str, delivery: &str, body: &Value) -> (u16, Value) {
    post_github(server, event, delivery, &serde_json::to_vec(body).unwrap()).await
}

fn channel(server: &Server) -> Vec<String> {
    server
        .outbox()
        .into_iter()
        .filter(|m: &OutboxMessage| m.channel == "slack" && m.to.iter().any(|t| t.starts_with('#')))
        .map(|m| m.text)
        .collect()
}

async fn pushed_and_held(server: &Server) -> ReleaseId {
    report(server, |r| {
        r.run(HEAD, "tests", Some("success"));
        r.run(HEAD, "snyk", Some("failure"));
        r.status(HEAD, "perf-regression", "pending", "running");
        r.merged_pull(HEAD, &["robin-reviewer"]);
    });
    let (status, body) = deliver(server, "push", "push-1", &fixture("push-main.json")).await;
    assert_eq!(status, 201, "{body}");
    let id: ReleaseId = body["release_id"].as_str().unwrap().parse().unwrap();
    server.runtime.run_due().await.unwrap();
    let release = server.release(&id).await;
    assert_eq!(release.state, ReleaseState::Pending);
    assert!(
        release.evidence_token.is_some(),
        "the flow waits for evidence"
    );
    id
}

#[tokio::test]
async fn given_a_failed_scan_when_its_rerun_passes_then_the_check_run_webhook_asks_for_approval() {
    let server = server().await;
    let id = pushed_and_held(&server).await;
    let posts = channel(&server);
    assert!(
        posts.iter().any(|p| p.contains("is held")
            && p.contains(
                "*snyk*: check run failure <https://github.com/roleferry/roleferry-api/runs/"
            )),
        "{posts:?}"
    );
    assert!(
        !server.outbox().iter().any(|m| m.channel == "email"),
        "nobody is asked to approve a held release"
    );

    // The scan runs again and passes; perf-regression reports through a commit status.
    report(&server, |r| {
        r.run(HEAD, "snyk", Some("success"));
        r.status(
            HEAD,
            "perf-regression",
            "success",
            "p99 within 5% of the baseline",
        );
    });
    let (status, body) = deliver(
        &server,
        "check_run",
        "check-1",
        &fixture("check-run-completed.json"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "rechecking");
    assert_eq!(body["release_ids"], json!([id.as_str()]));
    server.runtime.run_due().await.unwrap();
    let release = server.release(&id).await;
    assert_eq!(release.state, ReleaseState::AwaitingApproval);
    assert_eq!(release.evidence_token, None);

    // The approver's page shows each piece of evidence with its link, and what stays a
    // confirmation.
    let link = server.link_for("eng-lead@example.com");
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("All evidence passed: tests, snyk, perf-regression, review of #900"),
        "{page}"
    );
    assert!(
        page.contains("href=\"https://ci.example.com/perf-regression/"),
        "{page}"
    );
    assert!(page.contains("href=\"https://github.com/roleferry/roleferry-api/pull/900\""));
    assert!(page.contains("No system proves these"));
    server.stop().await;
}

#[tokio::test]
async fn given_a_status_webhook_when_no_release_of_its_commit_waits_then_nothing_is_woken() {
    let server = server().await;
    let (status, body) = deliver(&server, "status", "status-1", &fixture("status.json")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "ignored");
    assert!(body["reason"].as_str().unwrap().contains("no release of"));

    let id = pushed_and_held(&server).await;
    let (status, body) = deliver(&server, "status", "status-2", &fixture("status.json")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["release_ids"], json!([id.as_str()]));
    server.stop().await;
}

#[tokio::test]
async fn given_bad_check_reports_when_delivered_then_each_gets_a_clear_answer_and_nothing_wakes() {
    let server = server().await;
    let id = pushed_and_held(&server).await;
    let mut other_repo = fixture("check-run-completed.json");
    other_repo["repository"]["full_name"] = json!("someone/else");
    let (status, body) = deliver(&server, "check_run", "c-1", &other_repo).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("ignored")));

    let mut short = fixture("status.json");
    short["sha"] = json!("a1c3e5f");
    let (status, body) = deliver(&server, "status", "c-2", &short).await;
    assert_eq!(status, 422, "{body}");

    let mut nameless = fixture("check-run-completed.json");
    nameless["check_run"] = json!(null);
    let (status, body) = deliver(&server, "check_run", "c-3", &nameless).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("names no commit"));

    let (status, body) = post_github(&server, "check_suite", "c-4", b"{not json").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("malformed check_suite payload")
    );

    let release = server.release(&id).await;
    assert!(release.evidence_token.is_some(), "the wait is still kept");
    server.stop().await;
}
