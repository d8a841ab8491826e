//! A hotfix pushed with a `Hotfix-Bypass:` trailer: the CTO sees the reason on the approval
//! page and in Slack, approving deploys it at once, and "Approve, wait for the window"
//! approves it for the window only.

use serde_json::{Value, json};
use shipgate_core::{ReleaseId, ReleaseState};

use crate::helpers::{Server, post_github};

fn hotfix_push(n: u64, reason: &str) -> Vec<u8> {
    let commit = format!("{:040x}", 0x00b7_0000_u64 + n);
    let head = json!({
        "id": commit,
        "message": format!("fix: SSO login fails (#30{n})\n\nHotfix-Bypass: {reason}"),
        "author": { "name": "Alex Developer", "email": "alex@roleferry.example", "username": "alex-dev" },
    });
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "after": commit,
        "repository": { "full_name": "roleferry/roleferry-api" },
        "pusher": { "name": "alex-dev", "email": "alex@roleferry.example" },
        "commits": [head],
        "head_commit": head,
    }))
    .unwrap()
}

async fn pushed(server: &Server, n: u64, reason: &str) -> ReleaseId {
    let (status, body) = post_github(
        server,
        "push",
        &format!("hotfix-{n}"),
        &hotfix_push(n, reason),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["type"], "hotfix", "{body}");
    server.runtime.run_due().await.unwrap();
    body["release_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_bypass_when_the_cto_sees_and_approves_it_then_it_deploys_at_once() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let id = pushed(&server, 1, "SSO logins failing for all customers").await;
    assert_eq!(
        server.release(&id).await.bypass_reason.as_deref(),
        Some("SSO logins failing for all customers")
    );
    // In Slack: the reason, and both approve buttons.
    let slack = server
        .outbox()
        .into_iter()
        .find(|m| m.channel == "slack" && m.to == ["U0CTO0001"])
        .expect("the CTO is asked in Slack");
    assert!(slack.text.contains("SSO logins failing for all customers"));
    let blocks = slack.blocks.unwrap().to_string();
    assert!(blocks.contains("Approve and deploy now") && blocks.contains("approve_without_bypass"));
    // On the page: the reason and both choices.
    let link = server.link_for("cto@example.com");
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("SSO logins failing for all customers"),
        "{page}"
    );
    assert!(page.contains("Approve, wait for the window"), "{page}");
    // Approving at 14:00 approves the bypass: it deploys now, outside the window.
    let answer = reqwest::Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    server.runtime.run_due().await.unwrap();
    let release = server.release(&id).await;
    assert_eq!(
        release.state,
        ReleaseState::Deploying,
        "{:?}",
        release.events
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_bypass_when_approved_without_it_then_the_release_waits_for_the_window() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let id = pushed(&server, 2, "marketing wants it out today").await;
    let link = server.link_for("cto@example.com");
    let answer = reqwest::Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve_without_bypass")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    server.runtime.run_due().await.unwrap();
    let release = server.release(&id).await;
    assert_eq!(release.state, ReleaseState::AwaitingWindow);
    assert!(release.approvals[0].without_bypass);
    let said: Vec<Value> = release
        .events
        .iter()
        .map(|e| Value::String(e.detail.clone()))
        .collect();
    assert!(
        said.iter()
            .any(|d| d.as_str().unwrap().contains("not the window bypass")),
        "{said:?}"
    );
    // A rejection cannot leave the bypass out: the form refuses nonsense.
    server.stop().await;
}
