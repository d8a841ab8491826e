//! `POST /slack/interactions`: the Approve button of an approval request in Slack.
//!
//! The request is checked (`X-Slack-Signature` over `v0:{timestamp}:{body}`, timestamp
//! within 5 minutes), the Slack user is mapped to an approver, the decision recorded, and
//! the original message replaced (who decided, no buttons). The answer is an empty 200 as
//! soon as that is done — well within Slack's 3 seconds; the pipeline moves on afterwards.
//! A retry (`X-Slack-Retry-Num`) or a second click finds the decision recorded and does
//! nothing more. The Reject button opens the approver's link (a reason is required there),
//! so its click needs nothing here.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shipgate_core::gates::messages::{self, APPROVE_ACTION, SlackMessageRef};
use shipgate_core::model::{Decision, ReleaseId, ReleaseState};
use shipgate_core::ports::Notification;
use tracing::{info, warn};

use crate::Shared;
use crate::signature::verify_slack;

#[derive(Debug, Deserialize)]
struct Form {
    payload: String,
}

/// Why an interaction's body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the body is not a form with a `payload` field: {0}")]
    Form(String),
    #[error("the payload is not an interaction: {0}")]
    Payload(String),
}

/// Reads the body Slack posts (`payload=<JSON>`, form-encoded) as an interaction.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, InteractionError> {
    let form: Form =
        serde_urlencoded::from_bytes(body).map_err(|e| InteractionError::Form(e.to_string()))?;
    serde_json::from_str(&form.payload).map_err(|e| InteractionError::Payload(e.to_string()))
}

#[derive(Debug, Deserialize)]
pub struct Interaction {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: User,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub message_ts: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Channel {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn ok() -> Response {
    StatusCode::OK.into_response()
}

/// Tells the person who clicked why nothing happened (a direct message).
async fn tell(state: &Shared, user: &str, release_id: &str, text: String) {
    let message = Notification::Slack {
        to: user.to_string(),
        text: text.clone(),
        blocks: serde_json::json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]),
        release_id: release_id.to_string(),
    };
    if let Err(err) = state.deps.notifier.send(&message).await {
        warn!(error = %err, "could not answer in Slack");
    }
}

/// What an out-of-date button click is told: who decided what, and when, and where the
/// release stands now.
fn already_decided(config: &shipgate_core::Config, release: &shipgate_core::Release) -> String {
    let decisions: Vec<String> = release
        .approvals
        .iter()
        .map(|a| {
            format!(
                "{} {} at {} UTC",
                config.name_of(&a.approver),
                a.decision.as_str(),
                a.at.format("%Y-%m-%d %H:%M")
            )
        })
        .collect();
    let decided = if decisions.is_empty() {
        String::new()
    } else {
        format!(" {}.", decisions.join("; "))
    };
    format!(
        "Nothing left to decide on {}:{decided} It is {} now.",
        release.id, release.state
    )
}

#[tracing::instrument(skip_all)]
pub async fn interactions(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let deps = &state.deps;
    let Some(secret) = deps.config.web.slack_signing_secret.as_ref() else {
        warn!("a Slack interaction arrived but no signing secret is configured");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the Slack signing secret is not configured",
        )
            .into_response();
    };
    if let Err(err) = verify_slack(
        secret.expose().as_bytes(),
        header(&headers, "x-slack-request-timestamp"),
        &body,
        header(&headers, "x-slack-signature"),
        deps.now(),
    ) {
        warn!(error = %err, "Slack interaction refused");
        return (StatusCode::UNAUTHORIZED, err.to_string()).into_response();
    }
    let retry = header(&headers, "x-slack-retry-num").is_some();
    let interaction = match parse_interaction(&body) {
        Ok(i) => i,
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("malformed interaction: {err}"),
            )
                .into_response();
        }
    };
    if interaction.kind != "block_actions" {
        return ok();
    }
    let Some(action) = interaction.actions.iter().find(|a| {
        a.action_id == APPROVE_ACTION || a.action_id == messages::APPROVE_WITHOUT_BYPASS_ACTION
    }) else {
        // Reject opens the approver's link; other actions are not ours.
        return ok();
    };
    let without_bypass = action.action_id == messages::APPROVE_WITHOUT_BYPASS_ACTION;
    let value = action.value.clone().unwrap_or_default();
    let Ok(release_id) = value.parse::<ReleaseId>() else {
        return (StatusCode::BAD_REQUEST, "the button carries no release id").into_response();
    };
    let Some(approver) = deps.config.approver_by_slack(&interaction.user.id).cloned() else {
        tell(
            &state,
            &interaction.user.id,
            release_id.as_str(),
            format!(
                "You are not a configured approver, so your click on {release_id} was not counted."
            ),
        )
        .await;
        return ok();
    };
    let release = match deps.store.get(&release_id).await {
        Ok(Some(release)) => release,
        Ok(None) => {
            tell(
                &state,
                &interaction.user.id,
                release_id.as_str(),
                format!("Release {release_id} is not known here."),
            )
            .await;
            return ok();
        }
        Err(err) => {
            warn!(error = %err, "could not read the release");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    };
    // A click on a message that is out of date (the decision was taken elsewhere, or the
    // release moved on): say what already happened, to the clicker alone.
    let mine = release.approvals.iter().find(|a| a.approver == approver.id);
    if mine.is_some() || release.state != ReleaseState::AwaitingApproval {
        info!(release_id = %release_id, approver = %approver.id, retry, "nothing left to decide");
        if !retry {
            tell(
                &state,
                &interaction.user.id,
                release_id.as_str(),
                already_decided(&deps.config, &release),
            )
            .await;
        }
        return ok();
    }
    match shipgate_core::gates::releases::decide_with(
        deps,
        &release_id,
        &approver.id,
        Decision::Approved,
        None,
        without_bypass,
    )
    .await
    {
        Ok(decided) => {
            info!(release_id = %release_id, approver = %approver.id, "approved from Slack");
            let channel = interaction
                .container
                .as_ref()
                .and_then(|c| c.channel_id.clone())
                .or_else(|| interaction.channel.as_ref().map(|c| c.id.clone()));
            let ts = interaction
                .container
                .as_ref()
                .and_then(|c| c.message_ts.clone());
            // The decision replaced every recorded ask already; an older message (asked
            // before asks were recorded) is replaced here.
            let recorded = |channel: &str, ts: &str| {
                decided
                    .release
                    .slack_asks
                    .iter()
                    .any(|a| a.channel == channel && a.ts == ts)
            };
            if let (Some(channel), Some(ts)) = (channel, ts)
                && !recorded(&channel, &ts)
            {
                let update = messages::slack_decided(
                    &decided.release,
                    &approver,
                    Decision::Approved,
                    &decided.quorum.missing,
                    SlackMessageRef {
                        channel,
                        ts,
                        response_url: interaction.response_url.clone(),
                    },
                );
                if let Err(err) = deps.notifier.send(&update).await {
                    warn!(error = %err, "could not update the Slack message");
                }
            }
            (state.hooks.after_change)();
        }
        Err(err) => {
            tell(
                &state,
                &interaction.user.id,
                release_id.as_str(),
                format!("Your approval of {release_id} was not recorded: {err}"),
            )
            .await;
        }
    }
    ok()
}
