//! The users' contact list on SES v2 (procedure §6, External): who is on it and what they
//! chose for the releases topic (`ListContacts`, `GetContactList`, `GetContact` for the
//! name), and the announcement sent to one of them with SES's list management
//! (`SendEmail` with `ListManagementOptions`), so SES adds the unsubscribe link and keeps
//! who used it.

use aws_sdk_sesv2::Client as SesClient;
use aws_sdk_sesv2::types::{ListManagementOptions, SubscriptionStatus};
use shipgate_core::ports::{Contact, ContactList, NotifyError};

use crate::notify::SesEmail;

fn failed(source: impl Into<shipgate_core::ports::BoxError>) -> NotifyError {
    NotifyError::Delivery {
        channel: "user_email",
        source: source.into(),
    }
}

/// Contacts listed per page (SES's largest).
const PAGE: i32 = 1000;

/// The contact list `list` with each contact's choice for `topic`.
pub async fn contacts(
    client: &SesClient,
    list: &str,
    topic: &str,
) -> Result<ContactList, NotifyError> {
    let described = client
        .get_contact_list()
        .contact_list_name(list)
        .send()
        .await
        .map_err(|e| failed(e.into_service_error()))?;
    let topic_default_opt_in = described
        .topics()
        .iter()
        .find(|t| t.topic_name() == topic)
        .is_some_and(|t| *t.default_subscription_status() == SubscriptionStatus::OptIn);
    let mut out = ContactList {
        topic_default_opt_in,
        contacts: Vec::new(),
    };
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_contacts()
            .contact_list_name(list)
            .page_size(PAGE)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| failed(e.into_service_error()))?;
        for contact in page.contacts() {
            let Some(email) = contact.email_address() else {
                continue;
            };
            let subscribed = contact
                .topic_preferences()
                .iter()
                .find(|p| p.topic_name() == topic)
                .map(|p| *p.subscription_status() == SubscriptionStatus::OptIn);
            out.contacts.push(Contact {
                email: email.to_string(),
                name: None,
                unsubscribe_all: contact.unsubscribe_all(),
                subscribed,
            });
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => break,
        }
    }
    // The greeting's name is in each contact's attributes, which only GetContact returns:
    // read it for those who will be emailed.
    let receiving: Vec<String> = out.receiving().map(|c| c.email.clone()).collect();
    for contact in out
        .contacts
        .iter_mut()
        .filter(|c| receiving.contains(&c.email))
    {
        let got = client
            .get_contact()
            .contact_list_name(list)
            .email_address(&contact.email)
            .send()
            .await
            .map_err(|e| failed(e.into_service_error()))?;
        contact.name = got
            .attributes_data()
            .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
            .and_then(|a| a["name"].as_str().map(str::to_string));
    }
    Ok(out)
}

/// Sends the announcement to one user with the list's management options.
pub async fn send(
    email: &SesEmail,
    to: &str,
    subject: &str,
    text: &str,
    list: &str,
    topic: &str,
) -> Result<String, NotifyError> {
    let management = ListManagementOptions::builder()
        .contact_list_name(list)
        .topic_name(topic)
        .build()
        .map_err(failed)?;
    email
        .send_through(
            &[to.to_string()],
            subject,
            text,
            Some(management),
            "user_email",
        )
        .await
}
