//! The Approve button in Slack: signed, mapped to an approver, once, with the message updated.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use shipgate_core::{ReleaseId, ReleaseState};
use tower::ServiceExt;

use crate::helpers::{SLACK_SECRET, Server, fixtures, sign_github};

fn interaction(
    server: &Server,
    payload: &str,
    ts: i64,
    secret: &str,
    retry: bool,
) -> Request<Body> {
    let body = serde_urlencoded::to_string([("payload", payload)]).unwrap();
    let ts = ts.to_string();
    let signature =
        shipgate_web::signature::slack_signature(secret.as_bytes(), &ts, body.as_bytes());
    let _ = server;
    let mut request = Request::post("/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature);
    if retry {
        request = request.header("x-slack-retry-num", "1");
    }
    request.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn given_an_approve_click_when_received_then_verified_counted_once_and_message_replaced() {
    let fixtures = fixtures();
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let push = std::fs::read(fixtures.join("github/push-main.json")).unwrap();
    let started = server
        .router
        .clone()
        .oneshot(
            Request::post("/webhooks/github")
                .header("x-github-event", "push")
                .header("x-hub-signature-256", sign_github(&push))
                .body(Body::from(push.clone()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::CREATED);
    let bytes = axum::body::to_bytes(started.into_body(), 1 << 20)
        .await
        .unwrap();
    let id: ReleaseId = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["release_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    server.runtime.run_due().await.unwrap();
    // The Slack request asked the Eng Lead with buttons.
    let asked = server
        .outbox()
        .into_iter()
        .find(|m| m.channel == "slack")
        .unwrap();
    assert_eq!(asked.to, vec!["U0LEAD001"]);
    assert_eq!(
        asked.raw["blocks"][1]["elements"][0]["action_id"],
        "approve"
    );

    // The fixture's click, by the Eng Lead, on this release.
    let mut click: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("slack-block-actions.json")).unwrap(),
    )
    .unwrap();
    click["user"]["id"] = "U0LEAD001".into();
    click["actions"][0]["value"] = id.as_str().into();
    let payload = click.to_string();
    let now = server.runtime.now().timestamp();
    let send = |request| server.router.clone().oneshot(request);

    // Stale, tampered or wrongly signed clicks count for nothing.
    assert_eq!(
        send(interaction(
            &server,
            &payload,
            now - 301,
            SLACK_SECRET,
            false
        ))
        .await
        .unwrap()
        .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(interaction(&server, &payload, now, "not the secret", false))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = interaction(&server, &payload, now, SLACK_SECRET, false);
    *tampered.body_mut() = Body::from(
        serde_urlencoded::to_string([("payload", payload.replace("U0LEAD001", "U0CTO0001"))])
            .unwrap(),
    );
    assert_eq!(
        send(tampered).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.release(&id).await.approvals.len(), 0);

    let started = std::time::Instant::now();
    assert_eq!(
        send(interaction(&server, &payload, now, SLACK_SECRET, false))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // Slack retries: no second effect.
    assert_eq!(
        send(interaction(&server, &payload, now, SLACK_SECRET, true))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let release = server.release(&id).await;
    assert_eq!(release.approvals.len(), 1);
    assert_eq!(release.approvals[0].approver, "lee");
    let updates: Vec<_> = server
        .outbox()
        .into_iter()
        .filter(|m| m.channel == "slack_update")
        .collect();
    // The ask shipgate recorded, and the message the click came from, each replaced once.
    let ask = &release.slack_asks[0];
    assert_eq!(
        (ask.approver.as_str(), ask.channel.as_str()),
        ("lee", "U0LEAD001")
    );
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(
        updates
            .iter()
            .any(|u| u.to == vec!["U0LEAD001"] && u.raw["ts"] == ask.ts.as_str())
    );
    assert!(
        updates
            .iter()
            .any(|u| u.to == vec!["C0RELEASES"] && u.raw["ts"] == "1773151200.000200")
    );
    for update in &updates {
        assert!(update.text.contains("Approved by Lee Larsen"));
        assert!(!update.raw["blocks"].to_string().contains("button"));
    }
    // A later click on the old message is answered privately with what already happened.
    assert_eq!(
        send(interaction(&server, &payload, now, SLACK_SECRET, false))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let answer = server
        .outbox()
        .into_iter()
        .rev()
        .find(|m| m.channel == "slack_ephemeral" && m.to == vec!["U0LEAD001"])
        .expect("an answer to the clicker alone");
    assert!(
        answer.text.contains("Nothing left to decide")
            && answer
                .text
                .contains("Lee Larsen (Eng Lead) approved at 2026-03-10 14:00"),
        "{}",
        answer.text
    );
    assert_eq!(server.release(&id).await.approvals.len(), 1);
    server.runtime.run_due().await.unwrap();
    assert_eq!(
        server.release(&id).await.state,
        ReleaseState::AwaitingWindow
    );
    server.stop().await;
}
