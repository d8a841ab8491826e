//! `POST /slack/interactions`: the Approve button of an approval request in Slack, and the
//! Roll back button of a release announcement (a modal asks the approver for the reason;
//! its submission asks for the rollback).
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
use serde_json::{Value, json};
use shipgate_core::GateError;
use shipgate_core::messages::{self, APPROVE_ACTION, SlackMessageRef};
use shipgate_core::model::{Decision, ReleaseId, ReleaseState};
use shipgate_core::ports::{Handed, Notification, RollbackRequest};
use shipgate_core::releases;
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
    /// A click's trigger, to open a modal with (valid for three seconds).
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// The submitted modal of a `view_submission`.
    #[serde(default)]
    pub view: Option<View>,
}

#[derive(Debug, Deserialize)]
pub struct View {
    #[serde(default)]
    pub callback_id: String,
    #[serde(default)]
    pub private_metadata: String,
    /// `values.<block_id>.<action_id>.value`.
    #[serde(default)]
    pub state: Value,
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

/// The `callback_id` of the Roll back modal; its `private_metadata` is the release id.
pub const ROLLBACK_VIEW: &str = "shipgate_rollback";
/// The `block_id` (and `action_id`) of the modal's reason input.
pub const REASON_BLOCK: &str = "reason";

/// Where the rollback was asked from, in the release's timeline.
pub const VIA_SLACK: &str = "Slack";

/// The Roll back button of a release announcement (a channel message, the same for all):
/// the clicker, if an approver, gets a modal that says what will happen and asks for the
/// reason; nothing happens before they submit it.
async fn offer_rollback(state: &Shared, interaction: &Interaction, action: &Action) {
    let deps = &state.deps;
    let user = interaction.user.id.as_str();
    let value = action.value.clone().unwrap_or_default();
    let Ok(release_id) = value.parse::<ReleaseId>() else {
        warn!("a Roll back button carried no release id");
        return;
    };
    if deps.config.approver_by_slack(user).is_none() {
        tell(
            state,
            user,
            release_id.as_str(),
            format!("Only approvers can roll a release back; {release_id} was not touched."),
        )
        .await;
        return;
    }
    let release = match deps.store.get(&release_id).await {
        Ok(Some(release)) => release,
        Ok(None) => {
            tell(
                state,
                user,
                release_id.as_str(),
                format!("Release {release_id} is not known here."),
            )
            .await;
            return;
        }
        Err(err) => {
            warn!(error = %err, "could not read the release");
            return;
        }
    };
    match releases::rollback_possible(&release) {
        Ok(true) => {}
        Ok(false) => {
            let text = format!(
                "v{} is {} already: {}",
                release.semver,
                release.state,
                release.outcome.as_deref().unwrap_or("")
            );
            tell(state, user, release_id.as_str(), text).await;
            return;
        }
        Err(err) => {
            let text = format!("v{} cannot be rolled back: {err}", release.semver);
            tell(state, user, release_id.as_str(), text).await;
            return;
        }
    }
    let Some(trigger_id) = interaction.trigger_id.clone() else {
        warn!("a Roll back click carried no trigger_id");
        return;
    };
    let modal = Notification::SlackModal {
        to: user.to_string(),
        trigger_id,
        text: format!("Roll back v{}", release.semver),
        view: rollback_view(&deps.config, &release),
        release_id: release_id.to_string(),
    };
    if let Err(err) = deps.notifier.send(&modal).await {
        warn!(error = %err, "could not open the rollback modal");
    }
}

/// The modal of a manual rollback: what it does, and the reason (required).
pub fn rollback_view(config: &shipgate_core::Config, release: &shipgate_core::Release) -> Value {
    let back_to = release
        .previous_task_definition
        .as_deref()
        .map(messages::family_revision)
        .unwrap_or("the task definition it replaced");
    let mut what = format!("*{}* goes back to `{back_to}`.", release.service);
    let migration_ran = release
        .migration
        .as_ref()
        .is_some_and(|m| m.exit_code == 0 && !m.reversed);
    if let (true, Some(m)) = (migration_ran, &config.service.migration) {
        what.push_str(&format!(
            " The reverse migration `{}` runs.",
            m.reverse_command.join(" ")
        ));
    }
    json!({
        "type": "modal",
        "callback_id": ROLLBACK_VIEW,
        "private_metadata": release.id.to_string(),
        // Slack limits a title to 24 characters.
        "title": { "type": "plain_text", "text": format!("Roll back v{}", release.semver).chars().take(24).collect::<String>() },
        "submit": { "type": "plain_text", "text": "Roll back now" },
        "close": { "type": "plain_text", "text": "Cancel" },
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": what } },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": { "type": "plain_text", "text": "Why roll back? (announced)" },
                "element": { "type": "plain_text_input", "action_id": REASON_BLOCK, "multiline": true },
            },
        ],
    })
}

/// The Roll back modal submitted: the rollback is asked for as the approver the Slack user
/// is. Slack shows an answer with `response_action` on the modal itself.
async fn submit_rollback(state: &Shared, interaction: &Interaction) -> Response {
    let deps = &state.deps;
    let user = interaction.user.id.as_str();
    let Some(view) = &interaction.view else {
        return ok();
    };
    let errors = |text: &str| {
        axum::Json(json!({ "response_action": "errors", "errors": { REASON_BLOCK: text } }))
            .into_response()
    };
    let Ok(release_id) = view.private_metadata.parse::<ReleaseId>() else {
        return (StatusCode::BAD_REQUEST, "the modal carries no release id").into_response();
    };
    let Some(approver) = deps.config.approver_by_slack(user).cloned() else {
        return errors("Only approvers can roll a release back.");
    };
    let reason = view.state["values"][REASON_BLOCK][REASON_BLOCK]["value"]
        .as_str()
        .unwrap_or("")
        .trim()
        .to_string();
    if reason.is_empty() {
        return errors("A rollback needs a reason: it is announced.");
    }
    let request = RollbackRequest {
        release_id: release_id.clone(),
        actor: approver.id.clone(),
        reason,
        via: VIA_SLACK.into(),
    };
    let text = match releases::request_rollback(deps, state.rollbacks.as_ref(), request).await {
        Ok(asked) => {
            info!(release_id = %release_id, approver = %approver.id, handed = ?asked.handed, "manual rollback asked from Slack");
            (state.hooks.after_change)();
            match asked.handed {
                None => format!(
                    "v{} is {} already; nothing more was asked.",
                    asked.release.semver, asked.release.state
                ),
                Some(Handed::Done) => format!(
                    "v{} is {} now: {}",
                    asked.release.semver,
                    asked.release.state,
                    asked.release.outcome.as_deref().unwrap_or("")
                ),
                Some(Handed::Queued) => format!(
                    "The rollback of v{} has started; it is announced when it is done.",
                    asked.release.semver
                ),
                Some(Handed::Refused(why)) => format!("Nothing was rolled back: {why}"),
            }
        }
        Err(err @ (GateError::InvalidState { .. } | GateError::InvalidInput(_))) => {
            return errors(&err.to_string());
        }
        Err(err) => {
            warn!(error = %err, "a manual rollback could not be asked for");
            return errors(&format!("Try again in a moment: {}", err.describe()));
        }
    };
    tell(state, user, release_id.as_str(), text).await;
    ok()
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
    if interaction.kind == "view_submission"
        && interaction
            .view
            .as_ref()
            .is_some_and(|v| v.callback_id == ROLLBACK_VIEW)
    {
        return submit_rollback(&state, &interaction).await;
    }
    if interaction.kind != "block_actions" {
        return ok();
    }
    if let Some(action) = interaction
        .actions
        .iter()
        .find(|a| a.action_id == messages::ROLLBACK_ACTION)
    {
        // A retried click would open a second modal (and its trigger has expired).
        if !retry {
            offer_rollback(&state, &interaction, action).await;
        }
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
            let answer = Notification::SlackEphemeral {
                to: interaction.user.id.clone(),
                response_url: interaction.response_url.clone(),
                conversation: interaction
                    .container
                    .as_ref()
                    .and_then(|c| c.channel_id.clone())
                    .or_else(|| interaction.channel.as_ref().map(|c| c.id.clone())),
                text: already_decided(&deps.config, &release),
                release_id: release_id.to_string(),
            };
            if let Err(err) = deps.notifier.send(&answer).await {
                warn!(error = %err, "could not answer in Slack");
            }
        }
        return ok();
    }
    match shipgate_core::releases::decide_with(
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
