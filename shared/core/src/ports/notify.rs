//! The Notifier port: the messages shipgate sends people, and the adapters' contract.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::BoxError;

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The channel could not deliver the message, or the record of what was sent could not be
    /// read or written; the cause is the source.
    #[error("the {channel} notification could not be delivered")]
    Delivery {
        /// The message's channel, as [`Notification::channel`] names it.
        channel: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
}

/// One message to people. Slack messages carry Block Kit blocks as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Notification {
    /// Posts a message (`chat.postMessage`).
    Slack {
        /// The channel, or a user's id for a direct message.
        to: String,
        /// The message as text: what Slack shows where blocks cannot be shown (notifications).
        text: String,
        /// The Block Kit blocks Slack shows (a JSON array).
        blocks: Value,
        /// The release the message is about.
        release_id: String,
    },
    /// A plain-text email (SES in production).
    Email {
        /// The recipients' addresses.
        to: Vec<String>,
        /// The subject line.
        subject: String,
        /// The body.
        text: String,
        /// The personal links the body carries (a decision or rollback link, the release's page),
        /// listed apart so that the local outbox and tests can follow them.
        links: Vec<String>,
        /// The release the message is about.
        release_id: String,
    },
    /// Sets the status page's status (`POST <base>/v1/status`).
    StatusPage {
        /// The status page, as configured (`notifications.status_page`).
        to: String,
        /// The new status: `maintenance`, `operational` or `degraded`.
        status: String,
        /// The message shown with it.
        text: String,
        /// The release the message is about.
        release_id: String,
    },
    /// Replaces a Slack message posted earlier (`chat.update` on channel `to` at `ts`, or
    /// a POST to Slack's `response_url` with `replace_original`): after a decision taken
    /// with a button, the message shows who decided and loses its buttons.
    SlackUpdate {
        /// The channel the message is in.
        to: String,
        /// The message's timestamp: its id within the channel.
        ts: String,
        /// The click's `response_url`: used instead of `chat.update` when present.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
        /// The new text.
        text: String,
        /// The new Block Kit blocks (a JSON array).
        blocks: Value,
        /// The release the message is about.
        release_id: String,
    },
    /// Answers the Slack user `to` alone, in the conversation they clicked in: through
    /// the click's `response_url` (`response_type: ephemeral`), else `chat.postEphemeral`
    /// in `conversation`. A stale button's answer: what already happened.
    SlackEphemeral {
        /// The Slack user's id.
        to: String,
        /// The click's `response_url`, tried first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
        /// The conversation the click came from, for `chat.postEphemeral`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation: Option<String>,
        /// The answer.
        text: String,
        /// The release the message is about.
        release_id: String,
    },
    /// Pages the on-call engineers (`notifications.on_call`): something needs a person now
    /// (a rollback failed or could not be verified). Sent as an urgent email until a paging
    /// service is configured.
    Page {
        /// The on-call engineers' email addresses.
        to: Vec<String>,
        /// One line: the email's subject, after `[PAGE]`.
        summary: String,
        /// What happened and what to do.
        text: String,
        /// The release the message is about.
        release_id: String,
    },
    /// An event for PagerDuty's Events API v2 (`notifications.pagerduty`): at `path`
    /// `/v2/change/enqueue`, a change event (a production deploy started or ended); at
    /// `/v2/enqueue`, an alert that pages (a rollback failed). `event` is the documented
    /// body without `routing_key`, which the adapter adds.
    PagerDuty {
        /// `/v2/change/enqueue` or `/v2/enqueue`.
        path: String,
        /// The event.
        event: Value,
        /// Its summary, for logs and the outbox.
        text: String,
        /// The release the event is about.
        release_id: String,
    },
    /// The release announced to one of the product's users (procedure §6, External): sent
    /// through SES to an address of the users' contact list, with SES's list management
    /// (`contact_list`, `topic`), so SES adds the unsubscribe link and honours it.
    UserEmail {
        /// The user's address.
        to: String,
        /// The subject line.
        subject: String,
        /// The body; `{{amazonSESUnsubscribeUrl}}` is where SES puts the unsubscribe link.
        text: String,
        /// The SES contact list the address is on.
        contact_list: String,
        /// The list's topic the user subscribed to.
        topic: String,
        /// The release the message is about.
        release_id: String,
    },
    /// Opens a modal for the Slack user `to` who just pressed a button (`views.open` with
    /// the click's `trigger_id`, valid for three seconds): the Roll back button's form.
    SlackModal {
        /// The Slack user's id.
        to: String,
        /// The click's `trigger_id`.
        trigger_id: String,
        /// A one-line summary for logs and the local outbox; Slack shows `view`.
        text: String,
        /// The modal's Block Kit view (a JSON object).
        view: Value,
        /// The release the message is about.
        release_id: String,
    },
}

impl Notification {
    /// The channel's name (`slack`, `email`, `status_page`, `slack_update`, `slack_modal`,
    /// `page`, `slack_ephemeral`, `pagerduty`, `user_email`): in [`NotifyError::Delivery`], logs and outbox file names.
    pub fn channel(&self) -> &'static str {
        match self {
            Notification::Slack { .. } => "slack",
            Notification::Email { .. } => "email",
            Notification::StatusPage { .. } => "status_page",
            Notification::SlackUpdate { .. } => "slack_update",
            Notification::SlackModal { .. } => "slack_modal",
            Notification::Page { .. } => "page",
            Notification::SlackEphemeral { .. } => "slack_ephemeral",
            Notification::PagerDuty { .. } => "pagerduty",
            Notification::UserEmail { .. } => "user_email",
        }
    }

    /// The message's text, whatever the channel.
    pub fn text(&self) -> &str {
        match self {
            Notification::Slack { text, .. }
            | Notification::Email { text, .. }
            | Notification::StatusPage { text, .. }
            | Notification::SlackUpdate { text, .. }
            | Notification::SlackModal { text, .. }
            | Notification::Page { text, .. }
            | Notification::SlackEphemeral { text, .. }
            | Notification::PagerDuty { text, .. }
            | Notification::UserEmail { text, .. } => text,
        }
    }
}

/// Tells people: Slack, email, the status page and pages (those services in production, an
/// outbox of JSON files locally).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `message` to its channel, on every call: a retried call may deliver it twice
    /// (see [`Notifier::send_once`]). An adapter with no configuration for the channel skips
    /// it, logs that, and returns `Ok`.
    async fn send(&self, message: &Notification) -> Result<(), NotifyError>;

    /// Sends `message` unless a message with the same `key` was sent already, so that a step
    /// replayed after a crash, or an invocation retried, tells people once. Keys name what
    /// the message is about (`<release>/asked/<approver>/<n>`), never when it was sent.
    /// The default sends every time: an adapter that can remember does better. Returns
    /// where a Slack message went, when the adapter knows, so it can be replaced later.
    async fn send_once(
        &self,
        key: &str,
        message: &Notification,
    ) -> Result<Option<Posted>, NotifyError> {
        let _ = key;
        self.send(message).await?;
        Ok(None)
    }

    /// The users' contact list `list` with the subscriptions to `topic` (SES's
    /// `ListContacts` and `GetContactList` in production). The default has no users.
    async fn contacts(&self, list: &str, topic: &str) -> Result<ContactList, NotifyError> {
        let _ = (list, topic);
        Ok(ContactList::default())
    }
}

/// One address of the users' contact list, as SES keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The address.
    pub email: String,
    /// Their name (the contact's `AttributesData` `name`), for the greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// They unsubscribed from every topic of the list.
    #[serde(default)]
    pub unsubscribe_all: bool,
    /// Their own choice for the releases topic: `Some(true)` opted in, `Some(false)` opted
    /// out, `None` never chose (the topic's default applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<bool>,
}

/// The users' contact list: its addresses and the releases topic's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactList {
    /// Whether a contact who never chose receives the topic (`OPT_IN` default).
    pub topic_default_opt_in: bool,
    /// Every contact.
    pub contacts: Vec<Contact>,
}

impl ContactList {
    /// The contacts who receive the topic: not unsubscribed from the list, and subscribed
    /// to the topic by their own choice or by its default.
    pub fn receiving(&self) -> impl Iterator<Item = &Contact> {
        self.contacts
            .iter()
            .filter(|c| !c.unsubscribe_all && c.subscribed.unwrap_or(self.topic_default_opt_in))
    }
}

/// Where a Slack message went: enough to replace it later (`chat.update`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    /// The channel the message is in.
    pub channel: String,
    /// The message's timestamp: its id within the channel.
    pub ts: String,
}
