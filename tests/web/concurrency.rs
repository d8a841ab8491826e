//! Pushes that race: every push gets a version of its own, and whoever pushed a release
//! cannot approve it under another name.

use serde_json::{Value, json};
use shipgate_core::ReleaseId;

use crate::helpers::{Server, post_github, sign_github};

/// A push of one `feat` commit, as GitHub shapes it, by `pusher` (name, email) and
/// `login`.
fn push(n: usize, pusher: (&str, &str), login: &str) -> Vec<u8> {
    let commit = format!("{:040x}", 0x00c0_ffee_0000_u64 + n as u64);
    let person = json!({ "name": pusher.0, "email": pusher.1, "username": login });
    let head = json!({
        "id": commit,
        "message": format!("feat: change number {n}"),
        "author": person,
        "committer": person,
    });
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "after": commit,
        "repository": { "full_name": "roleferry/roleferry-api" },
        "pusher": { "name": pusher.0, "email": pusher.1 },
        "sender": { "login": login },
        "commits": [head],
        "head_commit": head,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_concurrent_pushes_when_versioned_then_none_share_a_version() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let url = server.url("/webhooks/github");
    let mut racing = tokio::task::JoinSet::new();
    for n in 0..30 {
        let body = push(n, ("Alex Developer", "alex@roleferry.example"), "alex-dev");
        let url = url.clone();
        racing.spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-github-event", "push")
                .header("x-github-delivery", format!("race-{n}"))
                .header("x-hub-signature-256", sign_github(&body))
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
    }
    let answers = racing.join_all().await;
    let mut versions = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        versions.push(body["version"].as_str().unwrap().to_string());
    }
    let mut distinct = versions.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), versions.len(), "{versions:?}");
    let all: Value = reqwest::get(server.url("/api/releases"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 30);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_pusher_whose_login_matches_an_approver_id_when_approving_then_it_is_refused() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    // Lee pushes from a personal address the configuration does not list; his GitHub
    // login is his approver id.
    let body = push(1, ("Lee", "lee@roleferry.example"), "lee");
    let (status, answer) = post_github(&server, "push", "lee-1", &body).await;
    assert_eq!(status, 201, "{answer}");
    let id: ReleaseId = answer["release_id"].as_str().unwrap().parse().unwrap();
    server.runtime.run_due().await.unwrap();
    let err = shipgate_core::releases::decide(
        &server.runtime.deps,
        &id,
        "lee",
        shipgate_core::model::Decision::Approved,
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot approve"), "{err}");
    let release = server.release(&id).await;
    assert!(
        release
            .contributors
            .iter()
            .any(|c| c.login.as_deref() == Some("lee")),
        "{:?}",
        release.contributors
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_commit_that_is_no_full_sha_when_pushed_then_it_is_refused_and_nothing_kept() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    for id in ["zz".to_string(), "c0ffee1".into(), "a".repeat(100_000)] {
        let mut body: Value =
            serde_json::from_slice(&push(1, ("Alex", "alex@roleferry.example"), "alex")).unwrap();
        body["head_commit"]["id"] = json!(id);
        body["commits"][0]["id"] = json!(id);
        body["after"] = json!(id);
        let body = serde_json::to_vec(&body).unwrap();
        let (status, answer) = post_github(&server, "push", "bad-sha", &body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("SHA"),
            "{answer}"
        );
        assert!(
            answer.to_string().len() < 1_000,
            "the answer echoes no huge id"
        );
    }
    let all: Value = reqwest::get(server.url("/api/releases"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 0);
    // The same delivery id with a good commit is not taken for a duplicate.
    let (status, answer) = post_github(
        &server,
        "push",
        "bad-sha",
        &push(2, ("Alex", "alex@roleferry.example"), "alex"),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_code_by_someone_who_is_no_approver_when_approval_is_asked_then_they_are_named() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let body = push(3, ("Alex Developer", "alex@roleferry.example"), "alex-dev");
    let (status, answer) = post_github(&server, "push", "alex-3", &body).await;
    assert_eq!(status, 201, "{answer}");
    server.runtime.run_due().await.unwrap();
    let email = server
        .outbox()
        .into_iter()
        .find(|m| m.channel == "email" && m.to.contains(&"eng-lead@example.com".to_string()))
        .expect("the Eng Lead is asked");
    assert!(
        email
            .text
            .contains("Code by people who are not approvers: Alex Developer <alex@roleferry.example> (@alex-dev)"),
        "{}",
        email.text
    );
    let page = reqwest::get(server.link_for("eng-lead@example.com"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Not an approver"), "{page}");
    assert!(page.contains("alex@roleferry.example"), "{page}");
    server.stop().await;
}
