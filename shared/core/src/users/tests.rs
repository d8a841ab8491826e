use serde_json::json;

use super::*;
use crate::config::UsersEmailConfig;
use crate::gate::Gate;
use crate::model::ReleaseType;
use crate::ports::{Contact, ContactList};
use crate::testkit::{Kit, invoke};

fn users() -> UsersEmailConfig {
    UsersEmailConfig {
        contact_list: "roleferry-users".into(),
        topic: "releases".into(),
        product: "RoleFerry".into(),
        product_url: "https://roleferry.com".into(),
    }
}

fn contact(
    email: &str,
    name: Option<&str>,
    unsubscribe_all: bool,
    subscribed: Option<bool>,
) -> Contact {
    Contact {
        email: email.into(),
        name: name.map(String::from),
        unsubscribe_all,
        subscribed,
    }
}

fn list() -> ContactList {
    ContactList {
        topic_default_opt_in: true,
        contacts: vec![
            contact("sam@users.example", Some("Sam"), false, None),
            contact("ana@users.example", None, false, Some(true)),
            contact("jo@users.example", Some("Jo"), false, Some(false)),
            contact("kim@users.example", Some("Kim"), true, Some(true)),
        ],
    }
}

fn kit() -> Kit {
    let mut config = crate::config::tests::example();
    config.notifications.users = Some(users());
    let kit = Kit::with_config(config, "2026-03-11T04:05:00Z");
    *kit.rec.contacts.lock().unwrap() = Some(list());
    kit
}

fn user_emails(kit: &Kit) -> Vec<(String, String, String)> {
    kit.rec
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter_map(|n| match n {
            Notification::UserEmail {
                to, subject, text, ..
            } => Some((to.clone(), subject.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

/// The flow's `RecordOnGitHub` step for release `id`.
async fn record(kit: &Kit, id: &crate::model::ReleaseId) -> Result<serde_json::Value, GateError> {
    invoke(
        &kit.deps,
        Gate::Announce,
        json!({ "action": "record", "release_id": id }),
    )
    .await
}

async fn shipped(kit: &Kit, state: ReleaseState, asked: bool) -> Release {
    let mut release = kit.release_in("1.3.0", ReleaseType::Minor, state).await;
    release.changelog.features = vec!["AI Copilot (beta)".into(), "Match scoring".into()];
    release.changelog.fixes = vec!["Enrichment timeout (#234)".into()];
    if asked {
        release.user_announcement = Some(ASKED_BY_TRAILER.into());
    }
    kit.deps.save(&release).await.unwrap()
}

#[test]
fn given_a_contact_list_when_filtered_then_unsubscribes_and_the_topic_default_are_honoured() {
    let list = list();
    let receiving: Vec<&str> = list.receiving().map(|c| c.email.as_str()).collect();
    assert_eq!(receiving, ["sam@users.example", "ana@users.example"]);
    let opt_out_default = ContactList {
        topic_default_opt_in: false,
        ..list.clone()
    };
    let receiving: Vec<&str> = opt_out_default
        .receiving()
        .map(|c| c.email.as_str())
        .collect();
    assert_eq!(
        receiving,
        ["ana@users.example"],
        "who never chose gets the default"
    );
}

#[test]
fn given_a_release_when_written_for_users_then_it_has_the_procedures_shape() {
    let kit = Kit::new("2026-03-11T04:05:00Z");
    let mut release = crate::model::Release::open(
        crate::model::NewRelease {
            service: "api".parse().unwrap(),
            version: "1.3.0".parse().unwrap(),
            commit: "c".repeat(40),
            author: "alex".into(),
            changelog: crate::model::Changelog {
                features: vec![
                    "AI Copilot".into(),
                    "Better Match Scoring".into(),
                    "Faster Sequences".into(),
                ],
                fixes: vec!["CSV import".into()],
            },
            release_type: None,
            bypass_reason: None,
            contributors: Vec::new(),
            user_announcement: None,
        },
        ReleaseType::Minor,
        "repo:1.3.0".into(),
        kit.deps.now(),
    );
    assert_eq!(
        subject(&users(), &release),
        "New RoleFerry Features: AI Copilot + Better Match Scoring and more"
    );
    let Notification::UserEmail {
        to,
        text,
        contact_list,
        topic,
        ..
    } = email(
        &users(),
        &release,
        &contact("sam@users.example", Some("Sam"), false, None),
    )
    else {
        panic!("a user email")
    };
    assert_eq!(
        (to.as_str(), contact_list.as_str(), topic.as_str()),
        ("sam@users.example", "roleferry-users", "releases")
    );
    assert!(
        text.starts_with("Hi Sam,\n\nWe've just released new features"),
        "{text}"
    );
    assert!(
        text.contains(
            "✨ AI Copilot\n✨ Better Match Scoring\n✨ Faster Sequences\n🔧 And 1 fix\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Try them out: https://roleferry.com\n\n- RoleFerry Team"),
        "{text}"
    );
    assert!(
        text.ends_with("Unsubscribe: {{amazonSESUnsubscribeUrl}}"),
        "{text}"
    );

    release.changelog.features.clear();
    assert_eq!(
        subject(&users(), &release),
        "RoleFerry v1.3.0: fixes and improvements"
    );
    let nameless = email(
        &users(),
        &release,
        &contact("a@b.example", None, false, None),
    );
    assert!(
        nameless
            .text()
            .starts_with("Hi,\n\nWe've just released fixes")
    );
    assert!(nameless.text().contains("🔧 CSV import"));
}

#[tokio::test]
async fn given_a_shipped_release_that_asked_when_announced_then_each_subscribed_user_is_emailed_once()
 {
    let kit = kit();
    let release = shipped(&kit, ReleaseState::Succeeded, true).await;
    record(&kit, &release.id).await.unwrap();
    let sent = user_emails(&kit);
    let to: Vec<&str> = sent.iter().map(|(to, ..)| to.as_str()).collect();
    assert_eq!(to, ["sam@users.example", "ana@users.example"]);
    assert_eq!(
        sent[0].1,
        "New RoleFerry Features: AI Copilot (beta) + Match scoring"
    );
    assert!(
        sent[1].2.starts_with("Hi,\n"),
        "no name, no name in the greeting"
    );
    let noted: Vec<String> = kit
        .get(&release.id)
        .await
        .events
        .iter()
        .filter(|e| e.detail.starts_with(EMAILED))
        .map(|e| e.detail.clone())
        .collect();
    assert_eq!(
        noted,
        [
            "emailed the release to 2 user(s) of roleferry-users (topic releases; 2 unsubscribed), as asked by the User-Announcement trailer of its commit"
        ]
    );
    // The announce step again (a retry of the flow): nobody hears twice.
    record(&kit, &release.id).await.unwrap();
    assert_eq!(user_emails(&kit).len(), 2);
}

#[tokio::test]
async fn given_a_rolled_back_or_unasked_release_when_announced_then_no_user_is_emailed() {
    let kit = kit();
    let rolled_back = shipped(&kit, ReleaseState::RolledBack, true).await;
    record(&kit, &rolled_back.id).await.unwrap();
    assert!(user_emails(&kit).is_empty());

    let other = Kit::new("2026-03-11T04:05:00Z");
    let unasked = shipped(&other, ReleaseState::Succeeded, false).await;
    record(&other, &unasked.id).await.unwrap();
    assert!(user_emails(&other).is_empty());
}

#[tokio::test]
async fn given_the_contact_list_unreachable_when_announced_then_the_step_is_retried_not_skipped() {
    let kit = kit();
    *kit.rec.contacts.lock().unwrap() = None;
    let release = shipped(&kit, ReleaseState::Succeeded, true).await;
    let err = record(&kit, &release.id).await.unwrap_err();
    assert!(matches!(err, GateError::Unavailable { .. }), "{err:?}");
    *kit.rec.contacts.lock().unwrap() = Some(list());
    record(&kit, &release.id).await.unwrap();
    assert_eq!(user_emails(&kit).len(), 2);
}

#[tokio::test]
async fn given_an_approver_asking_on_the_page_when_recorded_then_the_first_ask_is_kept() {
    let kit = kit();
    let release = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::AwaitingWindow)
        .await;
    let asked = ask(&kit.deps, &release.id, "Lee Larsen (Eng Lead)")
        .await
        .unwrap();
    assert_eq!(
        asked.user_announcement.as_deref(),
        Some("Lee Larsen (Eng Lead) on the approval page")
    );
    let again = ask(&kit.deps, &release.id, "Taylor Tran (CTO)")
        .await
        .unwrap();
    assert_eq!(again.user_announcement, asked.user_announcement);
    // Without a contact list, nothing to ask for.
    let mut config = crate::config::tests::example();
    config.notifications.users = None;
    let plain = Kit::with_config(config, "2026-03-10T14:00:00Z");
    let r = plain
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::AwaitingWindow)
        .await;
    assert_eq!(
        ask(&plain.deps, &r.id, "Lee")
            .await
            .unwrap()
            .user_announcement,
        None
    );
}

#[tokio::test]
async fn given_the_contact_list_unreachable_when_recorded_then_github_is_still_told() {
    let kit = kit();
    *kit.rec.contacts.lock().unwrap() = None;
    let release = shipped(&kit, ReleaseState::Succeeded, true).await;
    let err = record(&kit, &release.id).await.unwrap_err();
    assert!(matches!(err, GateError::Unavailable { .. }), "{err:?}");
    let recorded = kit.get(&release.id).await;
    assert!(recorded.github.did("tag"), "{:?}", recorded.github);
    assert!(recorded.github.did("closed"), "{:?}", recorded.github);
}
