//! Version numbering from pushes (procedure §2 Steps 3 and 4): a merged `release/vX.Y.Z`
//! branch names its version, and `git push origin main --tags` — a branch push and a tag
//! push, arriving in either order — releases the commit once.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use shipgate_core::ports::ReleaseFilter;
use tower::ServiceExt;

use crate::helpers::{Server, fixtures, sign_github};

const MERGE: &str = "b2d4f6a8c0e1f3b5d7f9a1c3e5f70a1c3e5f7091";

async fn deliver(server: &Server, delivery: &str, body: &Value) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let request = Request::post("/webhooks/github")
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sign_github(&bytes))
        .body(Body::from(bytes))
        .unwrap();
    let response = server.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The push of `main` after `git merge release/v0.4.0 --no-ff`: the feature commit of the
/// release branch, then the merge commit Git wrote (not a conventional commit).
fn branch_push() -> Value {
    let mut push: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("github/push-main.json")).unwrap())
            .unwrap();
    let feature = push["commits"][0].clone();
    let mut merge = push["commits"][1].clone();
    merge["id"] = json!(MERGE);
    merge["message"] = json!("Merge branch 'release/v0.4.0'");
    push["after"] = json!(MERGE);
    push["commits"] = json!([feature, merge.clone()]);
    push["head_commit"] = merge;
    push
}

/// GitHub's push of the tag `v0.4.0` on that merge commit, the head of `main`.
fn tag_push() -> Value {
    let mut push = branch_push();
    push["ref"] = json!("refs/tags/v0.4.0");
    push["base_ref"] = json!("refs/heads/main");
    push["created"] = json!(true);
    push["before"] = json!("0000000000000000000000000000000000000000");
    push["commits"] = json!([]);
    push
}

async fn releases(server: &Server) -> Vec<String> {
    server
        .runtime
        .deps
        .store
        .list(&ReleaseFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect()
}

#[tokio::test]
async fn given_a_merge_of_a_release_branch_when_main_is_pushed_then_the_branch_names_the_version() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let (status, body) = deliver(&server, "branch-1", &branch_push()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], "0.4.0");
    assert_eq!(body["type"], "minor");
    // The tag GitHub sends next finds the commit released.
    let (status, body) = deliver(&server, "tag-1", &tag_push()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "duplicate");
    assert_eq!(
        releases(&server).await,
        vec![format!("api-0.4.0-{}", &MERGE[..7])]
    );
    server.stop().await;
}

#[tokio::test]
async fn given_the_tag_push_first_when_the_branch_push_follows_then_one_release_starts() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let (status, body) = deliver(&server, "tag-1", &tag_push()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], "0.4.0");
    let (status, body) = deliver(&server, "branch-1", &branch_push()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "duplicate");
    assert_eq!(releases(&server).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn given_a_tag_on_a_commit_off_the_release_branch_when_pushed_then_it_is_only_recorded() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let mut tag = tag_push();
    tag["base_ref"] = json!("refs/heads/develop");
    let (status, body) = deliver(&server, "tag-1", &tag).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("tag v0.4.0 recorded for commit"),
        "{body}"
    );
    assert!(releases(&server).await.is_empty());
    server.stop().await;
}
