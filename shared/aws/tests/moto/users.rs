//! The users' contact list on SES v2 (procedure §6, External): read with the choices each
//! user made, and the announcement sent through it.

use aws_sdk_sesv2::types::{SubscriptionStatus, Topic, TopicPreference};
use shipgate_aws::notify::{AwsNotifier, SesEmail};
use shipgate_core::ports::{Contact, Notification, Notifier};

use crate::helpers::Moto;

const LIST: &str = "roleferry-users";
const TOPIC: &str = "releases";

fn preference(opt_in: bool) -> TopicPreference {
    TopicPreference::builder()
        .topic_name(TOPIC)
        .subscription_status(if opt_in {
            SubscriptionStatus::OptIn
        } else {
            SubscriptionStatus::OptOut
        })
        .build()
        .unwrap()
}

async fn notifier(moto: &Moto) -> AwsNotifier {
    let sdk = moto.sdk().await;
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    ses.create_email_identity()
        .email_identity("shipgate@example.com")
        .send()
        .await
        .unwrap();
    ses.create_contact_list()
        .contact_list_name(LIST)
        .topics(
            Topic::builder()
                .topic_name(TOPIC)
                .display_name("Release news")
                .default_subscription_status(SubscriptionStatus::OptIn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let add = |email: &str| {
        ses.create_contact()
            .contact_list_name(LIST)
            .email_address(email)
    };
    add("sam@users.example")
        .attributes_data(r#"{"name": "Sam"}"#)
        .send()
        .await
        .unwrap();
    add("ana@users.example")
        .topic_preferences(preference(true))
        .send()
        .await
        .unwrap();
    add("jo@users.example")
        .attributes_data(r#"{"name": "Jo"}"#)
        .topic_preferences(preference(false))
        .send()
        .await
        .unwrap();
    add("kim@users.example")
        .unsubscribe_all(true)
        .send()
        .await
        .unwrap();
    AwsNotifier {
        email: Some(SesEmail::new(ses, "shipgate@example.com")),
        slack: None,
        status_page: None,
        pagerduty: None,
        sent: None,
    }
}

#[tokio::test]
async fn given_a_contact_list_when_read_then_each_users_choice_and_the_receivers_names_come_back() {
    let Some(moto) = Moto::start() else { return };
    let notifier = notifier(&moto).await;
    let mut list = notifier.contacts(LIST, TOPIC).await.unwrap();
    assert!(list.topic_default_opt_in);
    list.contacts.sort_by(|a, b| a.email.cmp(&b.email));
    let contact = |email: &str, name: Option<&str>, unsubscribe_all, subscribed| Contact {
        email: email.into(),
        name: name.map(String::from),
        unsubscribe_all,
        subscribed,
    };
    assert_eq!(
        list.contacts,
        [
            contact("ana@users.example", None, false, Some(true)),
            // Jo opted out: their name is never read.
            contact("jo@users.example", None, false, Some(false)),
            contact("kim@users.example", None, true, None),
            contact("sam@users.example", Some("Sam"), false, None),
        ]
    );
    let receiving: Vec<&str> = list.receiving().map(|c| c.email.as_str()).collect();
    assert_eq!(receiving, ["ana@users.example", "sam@users.example"]);

    let missing = notifier.contacts("no-such-list", TOPIC).await;
    assert!(
        missing.is_err(),
        "a list that does not exist is an error, not no users"
    );
}

#[tokio::test]
async fn given_a_user_email_when_sent_then_it_goes_through_ses_to_that_user() {
    let Some(moto) = Moto::start() else { return };
    let notifier = notifier(&moto).await;
    notifier
        .send(&Notification::UserEmail {
            to: "sam@users.example".into(),
            subject: "New RoleFerry Features: AI Copilot".into(),
            text: "Hi Sam,\n\nUnsubscribe: {{amazonSESUnsubscribeUrl}}".into(),
            contact_list: LIST.into(),
            topic: TOPIC.into(),
            release_id: "api-1.3.0-abc".into(),
        })
        .await
        .unwrap();
    let sent = crate::messaging::backend_data(&moto).await;
    assert!(sent.contains("sam@users.example"), "{sent}");
    assert!(
        sent.contains("New RoleFerry Features: AI Copilot"),
        "{sent}"
    );
}
