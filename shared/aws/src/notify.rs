//! Telling people: email through SES v2, Slack through its Web API, and a status page
//! through its HTTP API. [`AwsNotifier`] sends each [`Notification`] to its channel.
//! Posting is not idempotent, so only a refusal that says nothing was done (HTTP 429) is
//! retried, once, after the delay the server asks for.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sesv2::Client as SesClient;
use aws_sdk_sesv2::types::{
    Body, Content, Destination, EmailContent, ListManagementOptions, Message,
};
use http::Method;
use serde_json::{Value, json};
use shipgate_core::ports::{BoxError, ContactList, Notification, Notifier, NotifyError, Posted};

use crate::http::HttpsClient;
use tracing::{info, warn};

/// The HTTP client for Slack and the status page: rustls with ring, a timeout on every call.
pub fn http_client(timeout: Duration) -> Result<HttpsClient, BoxError> {
    Ok(HttpsClient::new(timeout)?)
}

fn failed(channel: &'static str, source: impl Into<BoxError>) -> NotifyError {
    NotifyError::Delivery {
        channel,
        source: source.into(),
    }
}

pub struct SesEmail {
    pub(crate) client: SesClient,
    from: String,
}

impl SesEmail {
    pub fn new(client: SesClient, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }

    pub async fn send(
        &self,
        to: &[String],
        subject: &str,
        text: &str,
    ) -> Result<String, NotifyError> {
        self.send_through(to, subject, text, None, "email").await
    }

    /// Sends a plain-text message; with `list`, through a contact list's management
    /// options (SES adds the unsubscribe link). `channel` names the message in errors.
    pub(crate) async fn send_through(
        &self,
        to: &[String],
        subject: &str,
        text: &str,
        list: Option<ListManagementOptions>,
        channel: &'static str,
    ) -> Result<String, NotifyError> {
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| failed(channel, e))
        };
        let message = Message::builder()
            .subject(content(subject)?)
            .body(Body::builder().text(content(text)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(to.to_vec()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .set_list_management_options(list)
            .send()
            .await
            .map_err(|e| failed(channel, e.into_service_error()))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

/// Slack's Web API (`chat.postMessage`, `chat.update`) with a bot token.
pub struct SlackApi {
    http: HttpsClient,
    base_url: String,
    token: String,
}

/// Where a Slack message was posted, to update it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackMessageRef {
    pub channel: String,
    pub ts: String,
}

impl SlackApi {
    /// `base_url` is `https://slack.com/api` in production.
    pub fn new(http: HttpsClient, base_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token: token.into(),
        }
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, NotifyError> {
        let url = format!("{}/{method}", self.base_url);
        for attempt in 0..2 {
            let response = self
                .http
                .send(Method::POST, &url, Some(&self.token), Some(body))
                .await
                .map_err(|e| failed("slack", e))?;
            if response.status.as_u16() == 429 && attempt == 0 {
                let wait = response.retry_after.unwrap_or(1).min(10);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let answer = response.json().unwrap_or(Value::Null);
            if !response.status.is_success() || answer["ok"] != json!(true) {
                let error = answer["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_string();
                return Err(failed(
                    "slack",
                    format!("{method} answered {}: {error}", response.status),
                ));
            }
            return Ok(answer);
        }
        Err(failed("slack", format!("{method} was rate limited twice")))
    }

    pub async fn post(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<SlackMessageRef, NotifyError> {
        let answer = self
            .call(
                "chat.postMessage",
                &json!({ "channel": channel, "text": text, "blocks": blocks }),
            )
            .await?;
        Ok(SlackMessageRef {
            channel: answer["channel"].as_str().unwrap_or(channel).to_string(),
            ts: answer["ts"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Answers the person who clicked, them alone: through the click's `response_url`, else
    /// `chat.postEphemeral` in the channel, else a direct message.
    pub async fn answer_privately(
        &self,
        user: &str,
        response_url: Option<&str>,
        channel: Option<&str>,
        text: &str,
    ) -> Result<(), NotifyError> {
        if let Some(url) = response_url {
            let body =
                json!({ "response_type": "ephemeral", "replace_original": false, "text": text });
            return self.post_response(url, &body).await;
        }
        match channel {
            Some(channel) => self
                .call(
                    "chat.postEphemeral",
                    &json!({ "channel": channel, "user": user, "text": text }),
                )
                .await
                .map(|_| ()),
            None => self
                .call(
                    "chat.postMessage",
                    &json!({ "channel": user, "text": text }),
                )
                .await
                .map(|_| ()),
        }
    }

    /// Replaces the message an interaction came from, through the interaction's `response_url`.
    pub async fn respond(
        &self,
        response_url: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), NotifyError> {
        let body = json!({ "replace_original": true, "text": text, "blocks": blocks });
        self.post_response(response_url, &body).await
    }

    /// A POST to an interaction's `response_url` (no token: the URL is the credential).
    async fn post_response(&self, response_url: &str, body: &Value) -> Result<(), NotifyError> {
        let response = self
            .http
            .send(Method::POST, response_url, None, Some(body))
            .await
            .map_err(|e| failed("slack", e))?;
        if !response.status.is_success() {
            return Err(failed(
                "slack",
                format!("response_url answered {}", response.status),
            ));
        }
        Ok(())
    }

    pub async fn update(
        &self,
        message: &SlackMessageRef,
        text: &str,
        blocks: &Value,
    ) -> Result<(), NotifyError> {
        self.call("chat.update", &json!({ "channel": message.channel, "ts": message.ts, "text": text, "blocks": blocks }))
            .await?;
        Ok(())
    }

    /// `views.open`: a modal for the user whose click gave `trigger_id`.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), NotifyError> {
        self.call(
            "views.open",
            &json!({ "trigger_id": trigger_id, "view": view }),
        )
        .await?;
        Ok(())
    }
}

/// A status page's HTTP API: `POST <base>/v1/status` with a bearer token and
/// `{"status", "message", "release_id"}`.
pub struct StatusPageApi {
    http: HttpsClient,
    base_url: String,
    token: String,
}

impl StatusPageApi {
    pub fn new(http: HttpsClient, base_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token: token.into(),
        }
    }

    pub async fn update(
        &self,
        status: &str,
        message: &str,
        release_id: &str,
    ) -> Result<(), NotifyError> {
        let body = json!({ "status": status, "message": message, "release_id": release_id });
        let response = self
            .http
            .send(
                Method::POST,
                &format!("{}/v1/status", self.base_url),
                Some(&self.token),
                Some(&body),
            )
            .await
            .map_err(|e| failed("status_page", e))?;
        if !response.status.is_success() {
            return Err(failed(
                "status_page",
                format!("the status page answered {}", response.status),
            ));
        }
        Ok(())
    }
}

/// Sends every notification to its channel; a channel left unconfigured is skipped with a log line.
/// PagerDuty's Events API v2 (`https://events.pagerduty.com`) with the routing key of the
/// service's integration.
pub struct PagerDutyEvents {
    http: HttpsClient,
    base_url: String,
    routing_key: String,
}

impl PagerDutyEvents {
    pub fn new(http: HttpsClient, base_url: &str, routing_key: impl Into<String>) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            routing_key: routing_key.into(),
        }
    }

    /// Sends `event` to `path` (`/v2/enqueue`, `/v2/change/enqueue`) with the routing key;
    /// PagerDuty accepts it with 202. A 429 is retried once, after a second.
    pub async fn enqueue(&self, path: &str, event: &Value) -> Result<(), NotifyError> {
        let mut body = event.clone();
        if let Some(object) = body.as_object_mut() {
            object.insert("routing_key".into(), json!(self.routing_key));
        }
        let url = format!("{}{path}", self.base_url);
        for attempt in 0..2 {
            let response = self
                .http
                .send(Method::POST, &url, None, Some(&body))
                .await
                .map_err(|e| failed("pagerduty", e))?;
            if response.status.as_u16() == 429 && attempt == 0 {
                tokio::time::sleep(Duration::from_secs(
                    response.retry_after.unwrap_or(1).min(10),
                ))
                .await;
                continue;
            }
            if !response.status.is_success() {
                let answer = response.json().unwrap_or(Value::Null);
                let why = answer["errors"]
                    .as_array()
                    .and_then(|e| e.first())
                    .and_then(Value::as_str)
                    .or_else(|| answer["message"].as_str())
                    .unwrap_or("no reason given")
                    .to_string();
                return Err(failed(
                    "pagerduty",
                    format!("{path} answered {}: {why}", response.status),
                ));
            }
            return Ok(());
        }
        Err(failed(
            "pagerduty",
            format!("{path} was rate limited twice"),
        ))
    }
}

pub struct AwsNotifier {
    pub email: Option<SesEmail>,
    pub slack: Option<SlackApi>,
    pub status_page: Option<StatusPageApi>,
    pub pagerduty: Option<PagerDutyEvents>,
    /// Where keyed messages are remembered; without it `send_once` sends every time.
    pub sent: Option<crate::sent::SentMarks>,
}

#[async_trait]
impl Notifier for AwsNotifier {
    async fn send(&self, message: &Notification) -> Result<(), NotifyError> {
        self.deliver(message).await.map(|_| ())
    }

    async fn send_once(
        &self,
        key: &str,
        message: &Notification,
    ) -> Result<Option<Posted>, NotifyError> {
        let Some(marks) = &self.sent else {
            return self.deliver(message).await;
        };
        if let Some(earlier) = marks.seen(key, message.channel()).await? {
            info!(key, "already sent");
            return Ok(earlier);
        }
        let posted = self.deliver(message).await?;
        marks.mark(key, message.channel(), posted.as_ref()).await?;
        Ok(posted)
    }

    async fn contacts(&self, list: &str, topic: &str) -> Result<ContactList, NotifyError> {
        match &self.email {
            Some(email) => crate::users::contacts(&email.client, list, topic).await,
            None => Err(failed(
                "user_email",
                "SES is not configured (SHIPGATE_EMAIL_FROM): the users' contact list cannot be read",
            )),
        }
    }
}

impl AwsNotifier {
    /// Sends `message`; for a Slack post, where it went.
    async fn deliver(&self, message: &Notification) -> Result<Option<Posted>, NotifyError> {
        if let Notification::PagerDuty {
            path,
            event,
            release_id,
            ..
        } = message
        {
            match &self.pagerduty {
                Some(pagerduty) => {
                    pagerduty.enqueue(path, event).await?;
                    warn!(release_id, path, "PagerDuty event sent");
                }
                None => info!(
                    channel = message.channel(),
                    "channel not configured; message not sent"
                ),
            }
            return Ok(None);
        }
        let mut out = None;
        match (message, &self.email, &self.slack, &self.status_page) {
            (
                Notification::Email {
                    to,
                    subject,
                    text,
                    release_id,
                    ..
                },
                Some(email),
                _,
                _,
            ) => {
                let id = email.send(to, subject, text).await?;
                info!(release_id, message_id = %id, "email sent");
            }
            (
                Notification::Slack {
                    to,
                    text,
                    blocks,
                    release_id,
                },
                _,
                Some(slack),
                _,
            ) => {
                let posted = slack.post(to, text, blocks).await?;
                info!(release_id, channel = %posted.channel, ts = %posted.ts, "slack message posted");
                out = Some(Posted {
                    channel: posted.channel,
                    ts: posted.ts,
                });
            }
            (
                Notification::SlackUpdate {
                    to,
                    ts,
                    response_url,
                    text,
                    blocks,
                    release_id,
                },
                _,
                Some(slack),
                _,
            ) => {
                match response_url {
                    Some(url) => slack.respond(url, text, blocks).await?,
                    None => {
                        slack
                            .update(
                                &SlackMessageRef {
                                    channel: to.clone(),
                                    ts: ts.clone(),
                                },
                                text,
                                blocks,
                            )
                            .await?
                    }
                }
                info!(release_id, channel = %to, "slack message updated");
            }
            (
                Notification::SlackModal {
                    to,
                    trigger_id,
                    view,
                    release_id,
                    ..
                },
                _,
                Some(slack),
                _,
            ) => {
                slack.open_view(trigger_id, view).await?;
                info!(release_id, user = %to, "slack modal opened");
            }
            (
                Notification::StatusPage {
                    status,
                    text,
                    release_id,
                    ..
                },
                _,
                _,
                Some(page),
            ) => {
                page.update(status, text, release_id).await?;
                info!(release_id, status, "status page updated");
            }
            (
                Notification::SlackEphemeral {
                    to,
                    response_url,
                    conversation,
                    text,
                    release_id,
                },
                _,
                Some(slack),
                _,
            ) => {
                slack
                    .answer_privately(to, response_url.as_deref(), conversation.as_deref(), text)
                    .await?;
                info!(release_id, "answered privately in Slack");
            }
            (
                Notification::Page {
                    to,
                    summary,
                    text,
                    release_id,
                },
                Some(email),
                _,
                _,
            ) => {
                let id = email.send(to, &format!("[PAGE] {summary}"), text).await?;
                warn!(release_id, message_id = %id, "on-call paged");
            }
            (
                Notification::UserEmail {
                    to,
                    subject,
                    text,
                    contact_list,
                    topic,
                    release_id,
                },
                Some(email),
                _,
                _,
            ) => {
                let id = crate::users::send(email, to, subject, text, contact_list, topic).await?;
                info!(release_id, message_id = %id, "release announced to a user");
            }
            (other, ..) => info!(
                channel = other.channel(),
                "channel not configured; message not sent"
            ),
        }
        Ok(out)
    }
}
