//! End to end through the server: signed push → release → links in the outbox → approval
//! → deploy in the window → an alarm → rollback, visible on the dashboard.

use shipgate_core::{ReleaseId, ReleaseState};

use crate::helpers::{Server, at, fixtures, post_github};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_signed_push_when_approved_then_deploy_and_alarm_rollback_show_on_the_dashboard() {
    let fixtures = fixtures();
    let push = std::fs::read(fixtures.join("github/push-main.json")).unwrap();
    let server = Server::start("2026-03-10T14:00:00Z").await;

    // Given a signed push of a feature and a fix to main
    let (status, body) = post_github(&server, "push", "delivery-1", &push).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], "0.2.0");
    assert_eq!(body["type"], "minor");
    let id: ReleaseId = body["release_id"].as_str().unwrap().parse().unwrap();
    // The release's page, which the open local dashboard serves
    let page = body["release"].as_str().unwrap();
    assert_eq!(
        reqwest::get(page).await.unwrap().status(),
        200,
        "{page} resolves"
    );
    server.runtime.run_due().await.unwrap();

    // A redelivery, and another delivery of the same head commit, start nothing
    for delivery in ["delivery-1", "delivery-2"] {
        let (status, body) = post_github(&server, "push", delivery, &push).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "duplicate");
    }
    let all: serde_json::Value = reqwest::get(server.url("/api/releases"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert!(
        !all.to_string().contains("approval_token") && !all.to_string().contains("window_token")
    );

    // Then the Eng Lead got an email with a link of their own
    let release = server.release(&id).await;
    assert_eq!(release.state, ReleaseState::AwaitingApproval);
    assert_eq!(
        release.changelog.fixes,
        vec!["Keep the cover letter when the upload is retried (#241)"]
    );
    let link = server.link_for("eng-lead@example.com");
    assert!(link.starts_with(&server.url("/approvals/")));
    assert!(!link.contains(release.approval_token.as_deref().unwrap()));

    // Opening it changes nothing
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Approve")
            && html.contains("Security scan (Snyk)")
            && html.contains("Filter the jobs list by remote-friendly roles")
    );
    let head = reqwest::Client::new().head(&link).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(server.release(&id).await.version, release.version);

    // Approving moves it to the window
    let client = reqwest::Client::new();
    let approved = client
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve")
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status().as_u16(), 200);
    server.runtime.run_due().await.unwrap();
    assert_eq!(
        server.release(&id).await.state,
        ReleaseState::AwaitingWindow
    );
    // A second POST shows the status and changes nothing
    let again = client
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert!(again.text().await.unwrap().contains("already recorded"));

    // The window opens at 03:00: deploy, health checks, monitoring
    server
        .runtime
        .run_until(at("2026-03-11T03:20:00Z"))
        .await
        .unwrap();
    let live = server.release(&id).await;
    assert_eq!(live.state, ReleaseState::Monitoring, "{:?}", live.events);

    // An alarm trips: the release rolls back to the task definition it replaced
    let tripped: serde_json::Value = client
        .post(server.url("/local/alarms/roleferry-api-5xx-rate"))
        .header("x-shipgate-token", &server.local_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tripped["rolled_back"], id.as_str());
    server.runtime.run_due().await.unwrap();
    assert_eq!(server.release(&id).await.state, ReleaseState::RollingBack);
    // Recorded once the restored deployment is seen stable and healthy
    let later = server.runtime.now() + chrono::Duration::minutes(10);
    server.runtime.run_until(later).await.unwrap();
    let rolled = server.release(&id).await;
    assert_eq!(rolled.state, ReleaseState::RolledBack);

    let dashboard = reqwest::get(server.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dashboard.contains(id.as_str()) && dashboard.contains("data-state=\"RolledBack\""));
    let timeline = reqwest::get(server.url(&format!("/releases/{id}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "AwaitingApproval → AwaitingWindow",
        "Monitoring → RollingBack",
        "alarm roleferry-api-5xx-rate",
        "RolledBack",
    ] {
        assert!(
            timeline.contains(&shipgate_web::html::escaped(expected)),
            "{expected} missing from the timeline"
        );
    }
    let api: serde_json::Value = reqwest::get(server.url(&format!("/api/releases/{id}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["state"], "RolledBack");
    assert!(api.get("approval_token").is_none() && api.get("window_token").is_none());
    server.stop().await;
}
