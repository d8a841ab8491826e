//! Staging before production through the GitHub webhook: a push to `develop` releases to
//! staging (its own service, at once), QA approves on its page with the test cases, and the
//! same commit reaching `main` is a release of its own to production.

use serde_json::{Value, json};
use shipgate_core::ReleaseState;

use crate::helpers::{Routes, Server, fixtures, post_github};

async fn server() -> Server {
    Server::start_configured(
        "2026-03-10T14:00:00Z",
        Routes::Local,
        shipgate_local::demo::with_staging,
    )
    .await
}

fn push_to(branch: &str) -> Vec<u8> {
    let mut push: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("github/push-main.json")).unwrap())
            .unwrap();
    push["ref"] = json!(format!("refs/heads/{branch}"));
    serde_json::to_vec(&push).unwrap()
}

#[tokio::test]
async fn given_a_push_to_develop_when_delivered_then_staging_deploys_it_at_once_and_asks_qa_with_the_test_cases()
 {
    let server = server().await;
    let (status, body) = post_github(&server, "push", "d-develop", &push_to("develop")).await;
    assert_eq!(status, 201, "{body}");
    let id: shipgate_core::ReleaseId = body["release_id"].as_str().unwrap().parse().unwrap();
    assert!(id.as_str().starts_with("api-staging-"), "{id}");
    // 14:00 is outside production's window; staging has none. Smoke tests, then QA.
    let later = server.runtime.now() + chrono::Duration::minutes(10);
    server.runtime.run_until(later).await.unwrap();
    let release = server.release(&id).await;
    assert_eq!(release.environment.as_deref(), Some("staging"));
    assert_eq!(release.state, ReleaseState::AwaitingApproval);
    assert!(release.deploy_started_at.is_some());
    let page = reqwest::get(server.link_for("qa@example.com"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Test cases"), "{page}");
    assert!(page.contains("Apply to a job"), "{page}");
    assert!(page.contains("its smoke tests passed"), "{page}");
    assert!(page.contains("@sha256:"), "the image by digest: {page}");
    // Production's approvers were not asked.
    assert!(
        !server
            .outbox()
            .iter()
            .any(|m| m.channel == "email" && m.to.iter().any(|t| t == "eng-lead@example.com")),
    );
    server.stop().await;
}

#[tokio::test]
async fn given_one_commit_pushed_to_develop_then_to_main_when_delivered_then_each_starts_its_own_release()
 {
    let server = server().await;
    let (status, staged) = post_github(&server, "push", "d-1", &push_to("develop")).await;
    assert_eq!(status, 201, "{staged}");
    // The same head commit reaching main is production's release, not a duplicate.
    let (status, shipped) = post_github(&server, "push", "d-2", &push_to("main")).await;
    assert_eq!(status, 201, "{shipped}");
    assert_ne!(staged["release_id"], shipped["release_id"]);
    assert!(
        shipped["release_id"]
            .as_str()
            .unwrap()
            .starts_with("api-0.")
    );
    // Either push delivered again is a duplicate of its own release.
    let (status, again) = post_github(&server, "push", "d-1", &push_to("develop")).await;
    assert_eq!((status, &again["release_id"]), (200, &staged["release_id"]));
    let (_, ignored) = post_github(&server, "push", "d-3", &push_to("feature/x")).await;
    assert_eq!(ignored["status"], "ignored");
    assert!(
        ignored["reason"]
            .as_str()
            .unwrap()
            .contains("refs/heads/main or refs/heads/develop"),
        "{ignored}"
    );
    server.stop().await;
}
