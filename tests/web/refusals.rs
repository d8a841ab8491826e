//! What the handlers refuse, and how they say it (through `tower::ServiceExt::oneshot`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use shipgate_core::links::{LinkClaims, LinkSigner};
use shipgate_core::{ReleaseId, ReleaseState};
use tower::ServiceExt;

use crate::helpers::{Server, at, fixtures, sign_github};

async fn send(server: &Server, request: Request<Body>) -> (StatusCode, String) {
    let response = server.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn github(event: &str, body: &[u8], signature: Option<String>) -> Request<Body> {
    let mut request = Request::post("/webhooks/github")
        .header("x-github-event", event)
        .header("x-github-delivery", format!("d-{}", body.len()));
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.body(Body::from(body.to_vec())).unwrap()
}

#[tokio::test]
async fn given_webhooks_when_received_then_bad_signatures_are_refused_and_other_events_explained() {
    let fixtures = fixtures();
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let push = std::fs::read(fixtures.join("github/push-main.json")).unwrap();

    assert_eq!(
        send(&server, github("push", &push, None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong = shipgate_web::signature::github_signature(b"wrong secret", &push);
    assert_eq!(
        send(&server, github("push", &push, Some(wrong))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = push.clone();
    let i = tampered.iter().position(|b| *b == b'7').unwrap();
    tampered[i] = b'8';
    assert_eq!(
        send(&server, github("push", &tampered, Some(sign_github(&push))))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let malformed = b"{\"ref\": ".to_vec();
    assert_eq!(
        send(
            &server,
            github("push", &malformed, Some(sign_github(&malformed)))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    let ping = std::fs::read(fixtures.join("github/ping-payload.json")).unwrap();
    assert_eq!(
        send(&server, github("ping", &ping, Some(sign_github(&ping))))
            .await
            .0,
        StatusCode::OK
    );

    for file in [
        "github/push-new-branch-other-repo.json",
        "github/push-tag-deleted.json",
    ] {
        let body = std::fs::read(fixtures.join(file)).unwrap();
        let (status, text) = send(&server, github("push", &body, Some(sign_github(&body)))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{file}: {text}");
        assert!(text.contains("reason"), "{text}");
    }
    let create = std::fs::read(fixtures.join("github/create-tag.json")).unwrap();
    let (status, text) = send(
        &server,
        github("create", &create, Some(sign_github(&create))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(text.contains("create"), "{text}");

    // A push to another branch of the configured repository is explained too.
    let other = String::from_utf8(push.clone())
        .unwrap()
        .replace("refs/heads/main", "refs/heads/develop");
    let (status, text) = send(
        &server,
        github(
            "push",
            other.as_bytes(),
            Some(sign_github(other.as_bytes())),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(text.contains("refs/heads/develop"), "{text}");
    assert!(server.outbox().is_empty(), "nothing may have been started");
    server.stop().await;
}

#[tokio::test]
async fn given_a_release_tag_on_the_head_commit_when_it_is_pushed_then_the_tag_gives_the_version() {
    let fixtures = fixtures();
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let push =
        String::from_utf8(std::fs::read(fixtures.join("github/push-main.json")).unwrap()).unwrap();
    let tag = push.replace("refs/heads/main", "refs/tags/v1.0.0");
    let (status, text) = send(
        &server,
        github("push", tag.as_bytes(), Some(sign_github(tag.as_bytes()))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (status, text) = send(
        &server,
        github("push", push.as_bytes(), Some(sign_github(push.as_bytes()))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (body["version"].as_str(), body["type"].as_str()),
        (Some("1.0.0"), Some("major"))
    );
    server.stop().await;
}

#[tokio::test]
async fn given_altered_foreign_expired_or_used_links_when_opened_then_each_says_which() {
    let fixtures = fixtures();
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let push = std::fs::read(fixtures.join("github/push-main.json")).unwrap();
    let (status, text) = send(&server, github("push", &push, Some(sign_github(&push)))).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let id: ReleaseId = serde_json::from_str::<serde_json::Value>(&text).unwrap()["release_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    server.runtime.run_due().await.unwrap();
    let link = server.link_for("eng-lead@example.com");
    let path = link.trim_start_matches(&server.base).to_string();
    let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    let post = |p: &str, form: &str| {
        Request::post(p)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap()
    };

    let (status, page) = send(&server, get(&format!("{path}x"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("damaged"), "{page}");
    let foreign = LinkSigner::new("another installation").sign(&LinkClaims {
        release_id: id.clone(),
        approver: "lee".into(),
        expires_at: at("2026-03-11T14:00:00Z"),
    });
    let (status, page) = send(
        &server,
        post(&format!("/approvals/{foreign}"), "decision=approve"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("another shipgate"), "{page}");

    // Someone else's release id in a validly signed link for an unknown release: foreign.
    let unknown = LinkSigner::new(crate::helpers::LINK_KEY).sign(&LinkClaims {
        release_id: "api-9.9.9-0000000".parse().unwrap(),
        approver: "lee".into(),
        expires_at: at("2026-03-11T14:00:00Z"),
    });
    assert_eq!(
        send(&server, get(&format!("/approvals/{unknown}"))).await.0,
        StatusCode::NOT_FOUND
    );

    // A rejection needs a reason; nothing changes without one.
    let (status, page) = send(&server, post(&path, "decision=reject&reason=+")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("needs a reason"));
    assert_eq!(
        server.release(&id).await.state,
        ReleaseState::AwaitingApproval
    );

    // Used: after approving, the link says so.
    assert_eq!(
        send(&server, post(&path, "decision=approve")).await.0,
        StatusCode::OK
    );
    let (status, page) = send(&server, get(&path)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("has been used"), "{page}");
    let (status, _) = send(
        &server,
        post(&path, "decision=reject&reason=changed+my+mind"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Expired: a day later the link is refused in words.
    server.runtime.clock.advance_to(at("2026-03-11T14:00:01Z"));
    let (status, page) = send(&server, get(&path)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired"), "{page}");
    server.stop().await;
}
