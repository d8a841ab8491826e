//! The local-only routes through a real server on 127.0.0.1: tripping a simulated alarm
//! needs a caller on this machine, addressed by a loopback name, with the data
//! directory's token; a cross-site form cannot; only configured alarms can be tripped;
//! and a trip counts for the release it was made for, never for a later one.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use shipgate_core::{ReleaseId, ReleaseState};
use tower::ServiceExt;

use crate::helpers::{Server, at, fixtures, post_github};

const ALARM: &str = "roleferry-api-5xx-rate";

/// A release pushed, approved by the Eng Lead, and deployed in the next window: it is
/// being monitored at 03:20 of `window_day`.
async fn monitored_release(
    server: &Server,
    commit: &str,
    delivery: &str,
    window_day: &str,
) -> ReleaseId {
    let push = std::fs::read_to_string(fixtures().join("github/push-main.json")).unwrap();
    let push = push.replace("a1c3e5f7091b2d4f6a8c0e1f3b5d7f9a1c3e5f70", commit);
    let (status, body) = post_github(server, "push", delivery, push.as_bytes()).await;
    assert_eq!(status, 201, "{body}");
    let id: ReleaseId = body["release_id"].as_str().unwrap().parse().unwrap();
    server.runtime.run_due().await.unwrap();
    let approved = reqwest::Client::new()
        .post(server.link_for("eng-lead@example.com"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve")
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status().as_u16(), 200);
    server.runtime.run_due().await.unwrap();
    server
        .runtime
        .run_until(at(&format!("{window_day}T03:20:00Z")))
        .await
        .unwrap();
    let live = server.release(&id).await;
    assert_eq!(live.state, ReleaseState::Monitoring, "{:?}", live.events);
    id
}

fn trip_url(server: &Server, alarm: &str) -> String {
    server.url(&format!("/local/alarms/{alarm}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_trip_when_posted_then_loopback_and_token_are_needed_and_only_its_release_counts() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Nothing live yet: even with the token, a trip has nothing to roll back.
    let idle = client
        .post(trip_url(&server, ALARM))
        .header("x-shipgate-token", &server.local_token)
        .send()
        .await
        .unwrap();
    assert_eq!(idle.status().as_u16(), 409);
    assert!(server.runtime.alarms.trips().unwrap().is_empty());

    let first = monitored_release(
        &server,
        "a1c3e5f7091b2d4f6a8c0e1f3b5d7f9a1c3e5f70",
        "local-1",
        "2026-03-11",
    )
    .await;

    // Without the token, with a wrong one, or from another site's form: refused.
    let refusals = [
        client.post(trip_url(&server, ALARM)),
        client
            .post(trip_url(&server, ALARM))
            .header("x-shipgate-token", "0".repeat(64)),
        client
            .post(trip_url(&server, ALARM))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://evil.example.com")
            .header("sec-fetch-site", "cross-site")
            .body("token="),
        // The right token, but sent by a page whose own name resolves to 127.0.0.1.
        client
            .post(trip_url(&server, ALARM))
            .header("host", "evil.example.com")
            .header("x-shipgate-token", &server.local_token),
        // The right token, relayed by a proxy.
        client
            .post(trip_url(&server, ALARM))
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-shipgate-token", &server.local_token),
    ];
    for request in refusals {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403);
    }
    // An alarm the configuration does not watch: unknown here.
    let unknown = client
        .post(trip_url(&server, "billing-db-cpu"))
        .header("x-shipgate-token", &server.local_token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(server.release(&first).await.state, ReleaseState::Monitoring);
    assert!(server.runtime.alarms.trips().unwrap().is_empty());

    // The dashboard, opened on this machine, carries the token in its forms; pressing
    // Trip (a form post with the token field) rolls the live release back.
    let page = client
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = format!("name=\"token\" value=\"{}\"", server.local_token);
    assert!(page.contains(&field), "{page}");
    assert!(page.contains(&format!("action=\"/local/alarms/{ALARM}\"")));
    let pressed = client
        .post(trip_url(&server, ALARM))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", server.local_token))
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status().as_u16(), 303);
    server.runtime.run_due().await.unwrap();
    let later = server.runtime.now() + chrono::Duration::minutes(10);
    server.runtime.run_until(later).await.unwrap();
    assert_eq!(server.release(&first).await.state, ReleaseState::RolledBack);

    // A week later another release is monitored: the old trip does not roll it back.
    server
        .runtime
        .run_until(at("2026-03-17T14:00:00Z"))
        .await
        .unwrap();
    let second = monitored_release(
        &server,
        "9c4d6e2a0b1c3d5e7f8091a2b3c4d5e6f7081920",
        "local-2",
        "2026-03-18",
    )
    .await;
    assert_ne!(first, second);
    server
        .runtime
        .run_until(at("2026-03-18T05:00:00Z"))
        .await
        .unwrap();
    let later = server.release(&second).await;
    assert_eq!(later.state, ReleaseState::Succeeded, "{:?}", later.events);
    assert!(server.runtime.alarms.trips().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn given_no_known_peer_when_requesting_then_local_routes_refuse_and_the_page_has_no_token() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    // Straight into the router, as a request whose peer nobody knows.
    let request = Request::post(format!("/local/alarms/{ALARM}"))
        .header("host", "127.0.0.1")
        .header("x-shipgate-token", &server.local_token)
        .body(Body::empty())
        .unwrap();
    let response = server.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let request = Request::get("/")
        .header("host", "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let response = server.router.clone().oneshot(request).await.unwrap();
    let page = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("Releases"), "{page}");
    assert!(!page.contains(&server.local_token) && !page.contains("/local/alarms/"));
    server.stop().await;
}
