//! The users' email asked for through the web edge (procedure §6, External): by a
//! `User-Announcement: yes` trailer on the pushed commit, or by the approver on the
//! approval page.

use serde_json::{Value, json};
use shipgate_core::ReleaseId;

use crate::helpers::{Server, fixtures, post_github};

fn push(trailer: bool) -> Vec<u8> {
    let mut push: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("github/push-main.json")).unwrap())
            .unwrap();
    if trailer {
        let message = push["head_commit"]["message"].as_str().unwrap().to_string();
        push["head_commit"]["message"] = json!(format!("{message}\n\nUser-Announcement: yes"));
    }
    serde_json::to_vec(&push).unwrap()
}

async fn pushed(server: &Server, trailer: bool) -> ReleaseId {
    let (status, body) = post_github(server, "push", "push-1", &push(trailer)).await;
    assert_eq!(status, 201, "{body}");
    server.runtime.run_due().await.unwrap();
    body["release_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn given_a_commit_with_the_trailer_when_pushed_then_the_release_will_email_the_users() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let id = pushed(&server, true).await;
    let release = server.release(&id).await;
    assert_eq!(
        release.user_announcement.as_deref(),
        Some("the User-Announcement trailer of its commit")
    );
    // The approver is told, and has nothing to tick.
    let page = reqwest::get(&server.link_for("eng-lead@example.com"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("RoleFerry's users will be emailed the release when it ships"),
        "{page}"
    );
    assert!(!page.contains("name=\"announce_users\""));
    server.stop().await;
}

#[tokio::test]
async fn given_the_box_ticked_when_approved_then_the_approver_is_named_as_asking() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let id = pushed(&server, false).await;
    assert_eq!(server.release(&id).await.user_announcement, None);
    let link = server.link_for("eng-lead@example.com");
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"announce_users\""), "{page}");
    let answer = reqwest::Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve&announce_users=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let release = server.release(&id).await;
    assert_eq!(
        release.user_announcement.as_deref(),
        Some("Lee Larsen (Eng Lead) on the approval page")
    );
    assert!(
        release
            .events
            .iter()
            .any(|e| e.detail == "asked for the users' email when it ships")
    );
    server.stop().await;
}

#[tokio::test]
async fn given_the_box_left_empty_when_approved_then_nobody_asked() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let id = pushed(&server, false).await;
    let answer = reqwest::Client::new()
        .post(server.link_for("eng-lead@example.com"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(server.release(&id).await.user_announcement, None);
    server.stop().await;
}
