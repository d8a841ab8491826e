//! What shipgate tells people, in the procedure's words (§6): the `#releases` Slack post
//! (Block Kit), emails, and status-page updates.

use serde_json::{Value, json};

use crate::config::{Approver, Config};
use crate::model::{Decision, Release, ReleaseState, ReleaseType};
use crate::ports::Notification;

fn title(release: &Release) -> String {
    format!("v{} of {}", release.semver, release.service)
}

/// `roleferry-api:42` from a task definition ARN, as the procedure's commands write it.
pub fn family_revision(task_definition: &str) -> &str {
    task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition)
}

fn rollback_command(config: &Config, task_definition: &str) -> String {
    format!(
        "aws ecs update-service --cluster {} --service {} --task-definition {}",
        config.service.cluster,
        config.service.name,
        family_revision(task_definition)
    )
}

fn changelog_lines(release: &Release) -> Vec<String> {
    let mut lines = Vec::new();
    for (heading, items) in [
        ("Features", &release.changelog.features),
        ("Fixes", &release.changelog.fixes),
    ] {
        if !items.is_empty() {
            lines.push(format!("{heading}:"));
            lines.extend(items.iter().map(|i| format!("- {i}")));
        }
    }
    lines
}

/// A plain post in the releases channel about `release`.
pub fn channel_post(config: &Config, release: &Release, text: String) -> Notification {
    slack(config, release, text)
}

fn slack(config: &Config, release: &Release, text: String) -> Notification {
    let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
    Notification::Slack {
        to: config.notifications.slack_channel.clone(),
        text,
        blocks,
        release_id: release.id.to_string(),
    }
}

/// Why an approver hears from shipgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    First,
    Reminder,
    /// They are the backup approver of a role nobody has covered in time.
    Escalation,
}

/// The Slack `action_id`s of the decision buttons; the button's `value` is the release id.
pub const APPROVE_ACTION: &str = "approve";
pub const REJECT_ACTION: &str = "reject";
/// The Slack button that approves a hotfix for the window, not the bypass it asks for.
pub const APPROVE_WITHOUT_BYPASS_ACTION: &str = "approve_without_bypass";

/// The reason of the window bypass `release` asks for, when the configuration allows it.
pub fn bypass_asked(config: &Config, release: &Release) -> Option<String> {
    release
        .bypass_reason
        .as_ref()
        .filter(|_| config.window.hotfix_bypass && release.release_type == ReleaseType::Hotfix)
        .cloned()
}
/// The Slack button of a success announcement that offers a manual rollback: a click opens
/// a modal for the clicker (an approver) asking for the reason.
pub const ROLLBACK_ACTION: &str = "rollback";
/// The `block_id` of the block holding the decision buttons.
pub const DECISION_BLOCK: &str = "decision";

/// The messages asking one approver to decide: an email with their own link, and a Slack
/// message with Approve and Reject buttons (Reject opens the link, where a reason is asked).
pub fn approval_request(
    config: &Config,
    release: &Release,
    approver: &Approver,
    missing: &[String],
    link: Option<&str>,
    ask: Ask,
) -> Vec<Notification> {
    let lead = match ask {
        Ask::First => format!(
            "{} ({} release, commit {}) by {} needs your approval.",
            title(release),
            release.release_type,
            release.commit,
            release.author
        ),
        Ask::Reminder => format!(
            "Reminder: {} ({} release, commit {}) by {} still needs your approval.",
            title(release),
            release.release_type,
            release.commit,
            release.author
        ),
        Ask::Escalation => format!(
            "Escalation: {} ({} release, commit {}) by {} has not been approved in time; you are the backup approver.",
            title(release),
            release.release_type,
            release.commit,
            release.author
        ),
    };
    let mut body = vec![lead, format!("Still needed: {}.", missing.join(" + "))];
    let bypass = bypass_asked(config, release);
    if let Some(reason) = &bypass {
        body.push(format!(
            "⚠ This hotfix asks to skip the deploy window: {reason}. Approving deploys it now; \"Approve, wait for the window\" approves it for the next window."
        ));
    }
    let strangers: Vec<String> = crate::policy::approval::unknown_contributors(config, release)
        .iter()
        .map(|c| c.display())
        .collect();
    if !strangers.is_empty() {
        body.push(format!(
            "Code by people who are not approvers: {}.",
            strangers.join(", ")
        ));
    }
    body.extend(changelog_lines(release));
    if let Some(evidence) = &release.evidence {
        body.push(format!("{}.", evidence.summary()));
        body.extend(crate::evidence::lines(evidence));
    }
    match (config.environment.as_deref(), config.stage()) {
        (Some(env), Some(stage)) => {
            body.push(format!(
                "It runs on {env} now ({}), and its smoke tests passed. Test it, then approve; production may ship it only once you have.",
                stage.health_base_url
            ));
            body.extend(image_line(release));
            body.push("Test cases:".into());
            body.extend(
                config
                    .approvals
                    .checklist
                    .iter()
                    .map(|case| format!("  ☐ {case}")),
            );
        }
        _ => body.push(format!(
            "It deploys in the next {}–{} UTC window after approval.",
            config.window.start.format("%H:%M"),
            config.window.end.format("%H:%M")
        )),
    }
    if let Some(on_call) = on_call(config).filter(|_| config.stage().is_none()) {
        body.push(format!("On call during the deploy: {on_call}."));
    }
    let page = crate::gates::approve::deadline(config, release)
        .and_then(|until| crate::links::release_page(config, &release.id, &approver.id, until))
        .map(|page| format!("The release's page (your own link): {page}"));
    let mut email_body = body.clone();
    match link {
        Some(link) => email_body.push(format!(
            "Approve or reject (the link is yours alone; opening it changes nothing until you press a button):\n{link}"
        )),
        None => {
            email_body.push(format!(
                "Approve: shipgate release approve {} --as {}",
                release.id, approver.id
            ));
            email_body.push(format!(
                "Reject:  shipgate release reject {} --as {} --reason \"...\"",
                release.id, approver.id
            ));
        }
    }
    // After the decision link: the one an approver is here for comes first.
    email_body.extend(page.clone());
    body.extend(page);
    let text = email_body.join("\n");
    let prefix = match ask {
        Ask::First => "Approval needed",
        Ask::Reminder => "Reminder: approval needed",
        Ask::Escalation => "Escalated: approval needed",
    };
    let mut out = vec![Notification::Email {
        to: vec![approver.email.clone()],
        subject: format!("{prefix}: {} ({})", title(release), release.release_type),
        text,
        links: link.map(str::to_string).into_iter().collect(),
        release_id: release.id.to_string(),
    }];
    if let Some(user) = &approver.slack_user {
        let text = body.join("\n");
        let mut buttons = vec![json!({
            "type": "button",
            "action_id": APPROVE_ACTION,
            "style": "primary",
            "text": { "type": "plain_text", "text": if bypass.is_some() { "Approve and deploy now" } else { "Approve" } },
            "value": release.id.to_string(),
        })];
        if bypass.is_some() {
            buttons.push(json!({
                "type": "button",
                "action_id": APPROVE_WITHOUT_BYPASS_ACTION,
                "text": { "type": "plain_text", "text": "Approve, wait for the window" },
                "value": release.id.to_string(),
            }));
        }
        if let Some(link) = link {
            buttons.push(json!({
                "type": "button",
                "action_id": REJECT_ACTION,
                "style": "danger",
                "text": { "type": "plain_text", "text": "Reject…" },
                "url": link,
                "value": release.id.to_string(),
            }));
        }
        out.push(Notification::Slack {
            to: user.clone(),
            text: text.clone(),
            blocks: json!([
                { "type": "section", "text": { "type": "mrkdwn", "text": text } },
                { "type": "actions", "block_id": DECISION_BLOCK, "elements": buttons },
            ]),
            release_id: release.id.to_string(),
        });
    }
    out
}

/// Replaces the Slack message a decision was taken from: who decided, where the release
/// stands, and no buttons any more.
pub fn slack_decided(
    release: &Release,
    approver: &Approver,
    decision: Decision,
    still_missing: &[String],
    message: SlackMessageRef,
) -> Notification {
    let verb = match decision {
        Decision::Approved => "✅ Approved",
        Decision::Rejected => "🛑 Rejected",
    };
    let mut text = format!("{verb} by {} — {}", approver.name, title(release));
    match (decision, still_missing.is_empty()) {
        (Decision::Rejected, _) => text.push_str(". Nothing will be deployed."),
        (Decision::Approved, true) => {
            text.push_str(". Every required role has approved; it waits for the window.")
        }
        (Decision::Approved, false) => {
            text.push_str(&format!(". Still needed: {}.", still_missing.join(" + ")))
        }
    }
    Notification::SlackUpdate {
        to: message.channel,
        ts: message.ts,
        response_url: message.response_url,
        text: text.clone(),
        blocks: json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]),
        release_id: release.id.to_string(),
    }
}

/// The Slack message a button was pressed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackMessageRef {
    pub channel: String,
    pub ts: String,
    pub response_url: Option<String>,
}

pub fn bypass(config: &Config, release: &Release, reason: &str) -> Vec<Notification> {
    vec![slack(
        config,
        release,
        format!(
            "⚠️ Hotfix {} bypasses the {}–{} UTC window: {reason}",
            title(release),
            config.window.start.format("%H:%M"),
            config.window.end.format("%H:%M")
        ),
    )]
}

/// Procedure §4: "Status page updated (Maintenance in progress)".
/// None for an environment before production: its users are the team.
pub fn maintenance(config: &Config, release: &Release) -> Option<Notification> {
    config.stage().is_none().then(|| Notification::StatusPage {
        to: config.notifications.status_page.clone(),
        status: "maintenance".into(),
        text: format!("Maintenance in progress: deploying {}", title(release)),
        release_id: release.id.to_string(),
    })
}

/// The image a release deployed, pinned by digest when it was.
fn image_line(release: &Release) -> Option<String> {
    release.image_digest.as_deref().map(|digest| {
        format!(
            "Image: {}",
            crate::model::pinned_image(&release.image, Some(digest))
        )
    })
}

fn when(release: &Release) -> String {
    release
        .deploy_started_at
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "not deployed".into())
}

/// The announcement of a release's final outcome, in every channel.
pub fn outcome(config: &Config, release: &Release) -> Vec<Notification> {
    let why = release.outcome.clone().unwrap_or_default();
    let previous = release.previous_task_definition.as_deref();
    let mut lines = Vec::new();
    let stage = config
        .environment
        .as_deref()
        .filter(|_| config.stage().is_some());
    // On an environment before production, what QA saw keeps running there.
    let nothing_deployed = match stage {
        Some(env) if release.deploy_started_at.is_some() => format!(
            "{env} keeps running it until the next push to {}.",
            config.web.branch
        ),
        _ => "Nothing was deployed.".to_string(),
    };
    let status = match release.state {
        ReleaseState::Succeeded if stage.is_some() => {
            let env = stage.unwrap_or_default();
            lines.push(format!(
                "✅ Release v{} passed {env}: {why}",
                release.semver
            ));
            lines.extend(changelog_lines(release));
            lines.push(format!("Deployed to {env}: {}", when(release)));
            lines.extend(image_line(release));
            lines.push("Production may now ship this code: it will deploy this very image.".into());
            None
        }
        ReleaseState::Succeeded => {
            lines.push(format!(
                "🚀 Release v{} deployed to production",
                release.semver
            ));
            lines.extend(changelog_lines(release));
            lines.push(format!("Deployed: {}", when(release)));
            lines.extend(image_line(release));
            if let Some(on_call) = on_call(config) {
                lines.push(format!("On call: {on_call}"));
            }
            if let Some(prev) = previous {
                lines.push(format!("Rollback: {}", rollback_command(config, prev)));
            }
            Some(("operational", format!("{} released", title(release))))
        }
        ReleaseState::RolledBack => {
            lines.push(format!("⏪ Release v{} rolled back: {why}", release.semver));
            if let Some(prev) = previous {
                lines.push(format!("Serving again: {}", family_revision(prev)));
            }
            if release.migration.as_ref().is_some_and(|m| m.reversed) {
                lines.push("The database migration was reversed.".into());
            }
            lines.push(format!("Deploy started: {}", when(release)));
            Some((
                "operational",
                format!("{} rolled back; service restored", title(release)),
            ))
        }
        ReleaseState::Rejected => {
            lines.push(format!(
                "🛑 Release v{} rejected: {why}. {nothing_deployed}",
                release.semver
            ));
            None
        }
        ReleaseState::Expired => {
            lines.push(format!(
                "⌛ Release v{} expired: {why}. {nothing_deployed}",
                release.semver
            ));
            None
        }
        ReleaseState::Superseded => {
            lines.push(format!(
                "⏭ Release v{} superseded: {why}. Nothing was deployed.",
                release.semver
            ));
            None
        }
        _ => {
            lines.push(format!("❌ Release v{} FAILED: {why}", release.semver));
            if release.deploy_started_at.is_some() {
                lines.push("The service may not be running the previous version: act now.".into());
                if let Some(prev) = previous {
                    lines.push(format!(
                        "Manual rollback: {}",
                        rollback_command(config, prev)
                    ));
                }
            } else {
                lines.push("Nothing was deployed.".into());
            }
            Some(("degraded", format!("{} failed", title(release))))
        }
    };
    let text = lines.join("\n");
    let mut out = vec![announcement_slack(config, release, text.clone())];
    out.extend(outcome_emails(config, release, &text));
    if let Some((status, status_text)) = status.filter(|_| stage.is_none()) {
        out.push(Notification::StatusPage {
            to: config.notifications.status_page.clone(),
            status: status.into(),
            text: status_text,
            release_id: release.id.to_string(),
        });
    }
    let act_now = release.state == ReleaseState::Failed && release.deploy_started_at.is_some();
    if act_now && !config.notifications.on_call.is_empty() {
        out.push(Notification::Page {
            to: config.notifications.on_call.clone(),
            summary: format!(
                "{}: rollback failed, the service may not be running the previous version",
                title(release)
            ),
            text: text.clone(),
            release_id: release.id.to_string(),
        });
    }
    if act_now && config.notifications.pagerduty {
        let summary = format!(
            "{}: rollback failed, the service may not be running the previous version",
            title(release)
        );
        out.push(Notification::PagerDuty {
            path: "/v2/enqueue".into(),
            event: json!({
                "event_action": "trigger",
                "dedup_key": format!("shipgate/{}", release.id),
                "payload": {
                    "summary": summary,
                    "source": format!("shipgate/{}", release.service),
                    "severity": "critical",
                    "component": release.service.as_str(),
                    "group": config.service.cluster,
                    "class": "rollback failed",
                    "custom_details": {
                        "release": release.id.as_str(),
                        "outcome": release.outcome,
                        "previous_task_definition": release.previous_task_definition,
                        "new_task_definition": release.new_task_definition,
                        "what to do": text,
                    },
                },
            }),
            text: summary,
            release_id: release.id.to_string(),
        });
    }
    if release.deploy_started_at.is_some() {
        out.extend(deploy_change(config, release, "ended"));
    }
    out
}

/// Who is on call, as configured (`notifications.on_call`).
fn on_call(config: &Config) -> Option<String> {
    (!config.notifications.on_call.is_empty()).then(|| config.notifications.on_call.join(", "))
}

/// PagerDuty's change event of a production deploy that `started` or `ended`
/// (`notifications.pagerduty`).
pub fn deploy_change(config: &Config, release: &Release, moment: &str) -> Option<Notification> {
    if !config.notifications.pagerduty {
        return None;
    }
    let summary = match moment {
        "started" => format!("Deploying {} to {}", title(release), config.service.cluster),
        _ => match release.state {
            ReleaseState::Succeeded => format!("{} released", title(release)),
            ReleaseState::RolledBack => format!("{} rolled back", title(release)),
            state => format!("{} ended {state}", title(release)),
        },
    };
    let timestamp = if moment == "started" {
        release.deploy_started_at
    } else {
        release.finished_at.or(Some(release.updated_at))
    };
    Some(Notification::PagerDuty {
        path: "/v2/change/enqueue".into(),
        event: json!({
            "payload": {
                "summary": summary,
                "timestamp": timestamp.map(|t| t.to_rfc3339()),
                "source": format!("shipgate/{}", release.service),
                "custom_details": {
                    "release": release.id.as_str(),
                    "version": release.semver.to_string(),
                    "type": release.release_type,
                    "commit": release.commit,
                    "state": release.state,
                    "previous_task_definition": release.previous_task_definition,
                    "new_task_definition": release.new_task_definition,
                },
            },
        }),
        text: summary,
        release_id: release.id.to_string(),
    })
}

/// The channel's announcement; a success carries a Roll back button (a channel message
/// cannot carry personal links: the click is mapped to the approver who made it).
fn announcement_slack(config: &Config, release: &Release, text: String) -> Notification {
    let rollback_offered = release.state == ReleaseState::Succeeded
        && crate::links::LinkSigner::from_config(config).is_some();
    if !rollback_offered {
        return slack(config, release, text);
    }
    let blocks = json!([
        { "type": "section", "text": { "type": "mrkdwn", "text": text } },
        { "type": "actions", "block_id": "announcement", "elements": [{
            "type": "button",
            "action_id": ROLLBACK_ACTION,
            "style": "danger",
            "text": { "type": "plain_text", "text": "Roll back…" },
            "value": release.id.to_string(),
        }] },
    ]);
    Notification::Slack {
        to: config.notifications.slack_channel.clone(),
        text,
        blocks,
        release_id: release.id.to_string(),
    }
}

/// The outcome by email: each approver who decided on the release gets their own copy with
/// their links (the release's page; after a success, their rollback link), everyone else
/// on the list one plain copy. Without a link key, one plain copy to all.
fn outcome_emails(config: &Config, release: &Release, text: &str) -> Vec<Notification> {
    let subject = format!("{}: {}", title(release), release.state);
    let until = release.updated_at + chrono::Duration::days(crate::links::ANNOUNCEMENT_LINK_DAYS);
    let mut personal: Vec<&Approver> = Vec::new();
    for approval in &release.approvals {
        if let Some(a) = config.approver(&approval.approver)
            && !personal.iter().any(|p| p.id == a.id)
        {
            personal.push(a);
        }
    }
    let mut out = Vec::new();
    let mut mailed: Vec<String> = Vec::new();
    for approver in personal {
        let Some(page) = crate::links::release_page(config, &release.id, &approver.id, until)
        else {
            break;
        };
        let mut body = vec![text.to_string(), String::new()];
        let mut links = vec![page.clone()];
        if release.state == ReleaseState::Succeeded
            && let Some(rollback) = crate::links::link(
                config,
                crate::links::Grant::RollBack(release.id.clone()),
                &approver.id,
                until,
            )
        {
            body.push(format!(
                "Roll back (your own link until {}; it asks for a reason before anything happens):\n{rollback}",
                until.format("%Y-%m-%d %H:%M UTC")
            ));
            links.push(rollback);
        }
        body.push(format!("The release's page (your own link): {page}"));
        out.push(Notification::Email {
            to: vec![approver.email.clone()],
            subject: subject.clone(),
            text: body.join("\n"),
            links,
            release_id: release.id.to_string(),
        });
        mailed.push(approver.email.to_ascii_lowercase());
    }
    let mut to: Vec<String> = config
        .notifications
        .email_to
        .iter()
        .filter(|a| !mailed.contains(&a.to_ascii_lowercase()))
        .cloned()
        .collect();
    if mailed.is_empty() {
        // No personal copies (no link key): the approvers are on the plain one.
        for approval in &release.approvals {
            if let Some(a) = config.approver(&approval.approver) {
                to.push(a.email.clone());
            }
        }
    }
    to.dedup();
    if !to.is_empty() {
        out.push(Notification::Email {
            to,
            subject,
            text: text.to_string(),
            links: vec![],
            release_id: release.id.to_string(),
        });
    }
    out
}

/// The Slack blocks of a message, for an outbox or an API.
pub fn blocks_of(message: &Notification) -> Value {
    match message {
        Notification::Slack { blocks, .. } => blocks.clone(),
        _ => Value::Null,
    }
}
