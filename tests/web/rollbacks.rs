//! Manual rollback by an approver: their link in the announcement, a confirmation page that
//! changes nothing, a reason, exactly once; and the Roll back button in Slack (a modal).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use shipgate_core::ReleaseState;
use shipgate_core::links::{Claims, Grant, LinkSigner};
use shipgate_local::demo::rollback_link_in;
use tower::ServiceExt;

use crate::helpers::{LINK_KEY, SLACK_SECRET, Server};

fn form(reason: &str) -> String {
    serde_urlencoded::to_string([("reason", reason)]).unwrap()
}

async fn post_form(client: &reqwest::Client, url: &str, body: String) -> (u16, String) {
    let response = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn given_an_approver_link_when_used_then_the_shipped_release_rolls_back_once_with_a_reason() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let id = server.shipped_release().await;
    let shipped = server.release(&id).await;
    let previous = shipped.previous_task_definition.clone().unwrap();

    // The approver's own copy of the announcement carries their rollback link; the list's
    // copy carries none.
    let outbox = server.outbox();
    let mine = outbox
        .iter()
        .find(|m| {
            m.channel == "email"
                && m.to == vec!["eng-lead@example.com"]
                && m.subject
                    .as_deref()
                    .is_some_and(|s| s.contains("Succeeded"))
        })
        .expect("lee's copy of the announcement");
    let link = rollback_link_in(&mine.text).expect("a rollback link");
    assert!(link.starts_with(&server.url("/rollbacks/")), "{link}");
    assert!(mine.text.contains("/releases/") && mine.text.contains("access="));
    assert!(
        outbox
            .iter()
            .filter(|m| m.channel == "email" && m.to != vec!["eng-lead@example.com"])
            .filter(|m| m
                .subject
                .as_deref()
                .is_some_and(|s| s.contains("Succeeded")))
            .all(|m| rollback_link_in(&m.text).is_none())
    );
    let slack = outbox
        .iter()
        .find(|m| m.channel == "slack" && m.text.contains("deployed to production"))
        .unwrap();
    assert_eq!(
        slack.raw["blocks"][1]["elements"][0]["action_id"],
        "rollback"
    );

    let client = reqwest::Client::new();
    // The page says what happens and changes nothing.
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(text.contains("Roll back now") && text.contains("Lee Larsen"));
    let family_revision = previous.rsplit('/').next().unwrap();
    assert!(text.contains(family_revision), "{text}");
    assert!(text.contains("alembic downgrade -1"));
    assert_eq!(server.release(&id).await.state, ReleaseState::Succeeded);

    // No reason, nothing happens.
    let (status, text) = post_form(&client, &link, form("  ")).await;
    assert_eq!(status, 422);
    assert!(text.contains("needs a reason"));
    assert_eq!(server.release(&id).await.state, ReleaseState::Succeeded);

    // Links for other uses, or altered, roll nothing back.
    let signer = LinkSigner::new(LINK_KEY);
    let until = server.runtime.now() + chrono::Duration::hours(1);
    let view = signer.sign_claims(&Claims {
        grant: Grant::View,
        person: "lee".into(),
        expires_at: until,
    });
    let (status, _) = post_form(
        &client,
        &server.url(&format!("/rollbacks/{view}")),
        form("x"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post_form(&client, &format!("{link}x"), form("x")).await;
    assert_eq!(status, 400);
    let stranger = signer.sign_claims(&Claims {
        grant: Grant::RollBack(id.clone()),
        person: "mallory".into(),
        expires_at: until,
    });
    let (status, _) = post_form(
        &client,
        &server.url(&format!("/rollbacks/{stranger}")),
        form("x"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(server.release(&id).await.state, ReleaseState::Succeeded);

    // With a reason: pointed back (locally, before the answer), recorded with who and why,
    // and rolled back once the restore is seen working.
    let (status, text) = post_form(&client, &link, form("Signups fail on Safari")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("RollingBack"), "{text}");
    assert!(text.contains("seen stable and healthy"), "{text}");
    let later = server.runtime.now() + chrono::Duration::minutes(10);
    server.runtime.run_until(later).await.unwrap();
    let release = server.release(&id).await;
    assert_eq!(release.state, ReleaseState::RolledBack);
    let asked = release
        .events
        .iter()
        .find(|e| e.kind == "rollback-requested")
        .unwrap();
    assert_eq!(asked.actor, "lee");
    assert!(
        asked
            .detail
            .contains("their rollback link: Signups fail on Safari")
    );
    assert!(
        release
            .outcome
            .as_deref()
            .unwrap()
            .contains("Signups fail on Safari")
    );
    // The service serves what it served before; no alarm was set to get there.
    let deps = &server.runtime.deps;
    let serving = deps
        .deployer
        .current_task_definition(&deps.target())
        .await
        .unwrap();
    assert_eq!(serving, previous);
    assert!(server.runtime.alarms.trips().unwrap().is_empty());

    // Again: nothing more is asked.
    let (status, text) = post_form(&client, &link, form("again")).await;
    assert_eq!(status, 200);
    assert!(text.contains("has been rolled back"), "{text}");
    let release = server.release(&id).await;
    assert_eq!(
        release
            .events
            .iter()
            .filter(|e| e.kind == "rollback-requested")
            .count(),
        1
    );
    assert_eq!(
        release
            .events
            .iter()
            .filter(|e| e.to == Some(ReleaseState::RolledBack))
            .count(),
        1
    );
    server.stop().await;
}

fn interaction(payload: &serde_json::Value, ts: i64) -> Request<Body> {
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let ts = ts.to_string();
    let signature =
        shipgate_web::signature::slack_signature(SLACK_SECRET.as_bytes(), &ts, body.as_bytes());
    Request::post("/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn given_an_approver_when_clicking_roll_back_then_a_modal_opens_and_its_reason_rolls_back() {
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let id = server.shipped_release().await;
    let now = server.runtime.now().timestamp();
    let send = |request| server.router.clone().oneshot(request);
    let click = |user: &str| {
        serde_json::json!({
            "type": "block_actions",
            "user": {"id": user},
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "channel": {"id": "C0RELEASES"},
            "actions": [{"action_id": "rollback", "value": id.as_str(), "block_id": "announcement"}],
        })
    };

    // Someone who is not an approver is told so; nothing opens.
    let answer = send(interaction(&click("U0NOBODY1"), now)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let outbox = server.outbox();
    assert!(outbox.iter().all(|m| m.channel != "slack_modal"));
    assert!(
        outbox
            .iter()
            .any(|m| m.to == vec!["U0NOBODY1"] && m.text.contains("Only approvers"))
    );

    // The Eng Lead gets the modal: what happens, and the reason to give.
    let answer = send(interaction(&click("U0LEAD001"), now)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let modal = server
        .outbox()
        .into_iter()
        .find(|m| m.channel == "slack_modal")
        .expect("a modal");
    assert_eq!(modal.raw["view"]["callback_id"], "shipgate_rollback");
    assert_eq!(modal.raw["view"]["private_metadata"], id.as_str());
    assert_eq!(
        modal.raw["trigger_id"],
        "13345224609.738474920.8088930838d88f008e0"
    );
    assert_eq!(server.release(&id).await.state, ReleaseState::Succeeded);

    let submit = |user: &str, reason: &str| {
        serde_json::json!({
            "type": "view_submission",
            "user": {"id": user},
            "view": {
                "callback_id": "shipgate_rollback",
                "private_metadata": id.as_str(),
                "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}},
            },
        })
    };
    // An empty reason is shown as an error on the modal.
    let answer = send(interaction(&submit("U0LEAD001", " "), now))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(
        body["errors"]["reason"]
            .as_str()
            .unwrap()
            .contains("reason")
    );
    assert_eq!(server.release(&id).await.state, ReleaseState::Succeeded);

    let answer = send(interaction(&submit("U0LEAD001", "Checkout is broken"), now))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let later = server.runtime.now() + chrono::Duration::minutes(10);
    server.runtime.run_until(later).await.unwrap();
    let release = server.release(&id).await;
    assert_eq!(release.state, ReleaseState::RolledBack);
    let asked = release
        .events
        .iter()
        .find(|e| e.kind == "rollback-requested")
        .unwrap();
    assert_eq!(
        (asked.actor.as_str(), asked.detail.as_str()),
        ("lee", "asked from Slack: Checkout is broken")
    );
    server.stop().await;
}
