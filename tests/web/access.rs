//! The dashboard on the deployed stack (the callback function's routes): only through a
//! personal, signed, expiring dashboard link; 401 and nothing about any release otherwise.

use shipgate_core::links::{Claims, Grant, LinkSigner};

use crate::helpers::{LINK_KEY, Routes, Server};

#[tokio::test]
async fn given_dashboard_links_when_used_then_only_a_current_approvers_unexpired_one_opens_it() {
    let server = Server::start_with("2026-03-10T14:00:00Z", Routes::Callback).await;
    let id = server.shipped_release().await;
    let client = reqwest::Client::new();
    let signer = LinkSigner::new(LINK_KEY);
    let now = server.runtime.now();
    let token = |grant: Grant, person: &str, hours: i64| {
        signer.sign_claims(&Claims {
            grant,
            person: person.into(),
            expires_at: now + chrono::Duration::hours(hours),
        })
    };
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let www = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            (status, www, response.text().await.unwrap())
        }
    };

    // Without a link, or with a bad one: 401, and nothing about the release.
    let view = token(Grant::View, "lee", 2);
    for url in [
        server.url("/"),
        server.url(&format!("/releases/{id}")),
        server.url("/api/releases"),
        server.url(&format!("/api/releases/{id}")),
        server.url(&format!("/?access={}", token(Grant::View, "lee", -1))),
        server.url(&format!(
            "/?access={}",
            token(Grant::RollBack(id.clone()), "lee", 2)
        )),
        server.url(&format!("/?access={}", token(Grant::View, "mallory", 2))),
        server.url(&format!("/?access={view}x")),
        server.url(&format!(
            "/?access={}",
            LinkSigner::new("another stack").sign_claims(&Claims {
                grant: Grant::View,
                person: "lee".into(),
                expires_at: now + chrono::Duration::hours(2),
            })
        )),
    ] {
        let (status, www, body) = get(url.clone()).await;
        assert_eq!(status, 401, "{url}");
        assert_eq!(www.as_deref(), Some("Bearer realm=\"shipgate\""), "{url}");
        assert!(!body.contains(id.as_str()), "{url} leaked the release");
    }
    let (_, _, body) =
        get(server.url(&format!("/?access={}", token(Grant::View, "lee", -1)))).await;
    assert!(body.contains("expired"), "{body}");
    let (_, _, body) = get(server.url("/")).await;
    assert!(body.contains("dashboard-link --as"), "{body}");

    // With the link: the list, whose links keep the access, and the release's page, which
    // offers the approver their rollback.
    let (status, _, body) = get(server.url(&format!("/?access={view}"))).await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!("/releases/{id}?access={view}")),
        "{body}"
    );
    assert!(body.contains("Lee Larsen"));
    let (status, _, body) = get(server.url(&format!("/releases/{id}?access={view}"))).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("id=\"rollback\" href=\"/rollbacks/"),
        "{body}"
    );
    assert!(body.contains(&format!("href=\"/?access={view}\"")));

    // The JSON, by bearer token too.
    let list: serde_json::Value = client
        .get(server.url("/api/releases"))
        .bearer_auth(&view)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert!(list[0].get("approval_token").is_none());
    let (status, _, body) = get(server.url(&format!(
        "/api/releases?access={}",
        token(Grant::View, "lee", -1)
    )))
    .await;
    assert_eq!(status, 401);
    assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn given_an_approval_page_on_the_deployed_stack_when_followed_then_every_link_resolves() {
    let server = Server::start_with("2026-03-10T14:00:00Z", Routes::Callback).await;
    let id = server.shipped_release().await;
    let client = reqwest::Client::new();
    let link = server
        .outbox()
        .into_iter()
        .find(|m| {
            m.channel == "email"
                && m.to == vec!["eng-lead@example.com"]
                && m.text.contains("/approvals/")
        })
        .map(|m| m.links[0].clone())
        .unwrap();
    // The approval page (the release has shipped: the link is used) links to the release's
    // page with the approver's own access.
    let page = client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hrefs: Vec<String> = page
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|h| h.replace("&amp;", "&"))
        .collect();
    assert!(
        hrefs
            .iter()
            .any(|h| h.starts_with(&format!("/releases/{id}?access="))),
        "{hrefs:?}"
    );
    for href in hrefs {
        let status = client.get(server.url(&href)).send().await.unwrap().status();
        assert_eq!(status, 200, "{href}");
    }
    server.stop().await;
}
