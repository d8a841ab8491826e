//! The release announced to the product's users (procedure §6, External): optional per
//! release — asked by a `User-Announcement: yes` trailer on its commit or by an approver on
//! the approval page — and sent only once it has shipped (never for a rollback), to each
//! address of the users' SES contact list still subscribed to the releases topic. Each
//! message goes out with SES's list management, so SES adds the unsubscribe link and keeps
//! the unsubscribes; shipgate also skips those who unsubscribed, so a list SES has not
//! filtered yet is never mailed past a user's choice.

#![warn(missing_docs)]

use tracing::info;

use crate::config::{Config, UsersEmailConfig};
use crate::deps::Deps;
use crate::error::GateError;
use crate::model::{EventKind, Release, ReleaseState};
use crate::ports::{Contact, Notification};

/// Where SES puts each user's own unsubscribe link.
pub const UNSUBSCRIBE_URL: &str = "{{amazonSESUnsubscribeUrl}}";

/// Who asked, when a commit's trailer asked.
pub const ASKED_BY_TRAILER: &str = "the User-Announcement trailer of its commit";

/// How the timeline says the users were emailed.
const EMAILED: &str = "emailed the release to";

/// The subject: `New RoleFerry Features: AI Copilot + Match scoring improvements`, or the
/// fixes when the release brings no feature.
pub fn subject(users: &UsersEmailConfig, release: &Release) -> String {
    let features = &release.changelog.features;
    if features.is_empty() {
        return format!(
            "{} v{}: fixes and improvements",
            users.product, release.semver
        );
    }
    let shown: Vec<&str> = features.iter().take(2).map(String::as_str).collect();
    let more = if features.len() > 2 { " and more" } else { "" };
    format!(
        "New {} Features: {}{more}",
        users.product,
        shown.join(" + ")
    )
}

/// The email of §6 for `contact`: a greeting, the features (or the fixes), where to try
/// them, the signature and the unsubscribe link.
pub fn email(users: &UsersEmailConfig, release: &Release, contact: &Contact) -> Notification {
    let greeting = match contact.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => format!("Hi {name},"),
        _ => "Hi,".to_string(),
    };
    let mut lines = vec![greeting, String::new()];
    if release.changelog.features.is_empty() {
        lines.push(format!(
            "We've just released fixes to make {} work better for you:",
            users.product
        ));
        lines.push(String::new());
        lines.extend(release.changelog.fixes.iter().map(|f| format!("🔧 {f}")));
    } else {
        lines.push(
            "We've just released new features to make your job search even more effective:"
                .to_string(),
        );
        lines.push(String::new());
        lines.extend(release.changelog.features.iter().map(|f| format!("✨ {f}")));
        if !release.changelog.fixes.is_empty() {
            lines.push(format!(
                "🔧 And {} fix{}",
                release.changelog.fixes.len(),
                if release.changelog.fixes.len() == 1 {
                    ""
                } else {
                    "es"
                }
            ));
        }
    }
    lines.push(String::new());
    lines.push(format!("Try them out: {}", users.product_url));
    lines.push(String::new());
    lines.push(format!("- {} Team", users.product));
    lines.push(String::new());
    lines.push(format!(
        "You receive this because you subscribed to {} release news. Unsubscribe: {UNSUBSCRIBE_URL}",
        users.product
    ));
    Notification::UserEmail {
        to: contact.email.clone(),
        subject: subject(users, release),
        text: lines.join("\n"),
        contact_list: users.contact_list.clone(),
        topic: users.topic.clone(),
        release_id: release.id.to_string(),
    }
}

/// Whether `release` is to be announced to the users now: asked for, shipped, configured,
/// and not announced yet.
pub fn due<'a>(config: &'a Config, release: &Release) -> Option<&'a UsersEmailConfig> {
    let done = release
        .events
        .iter()
        .any(|e| e.kind == EventKind::Announced && e.detail.starts_with(EMAILED));
    (release.state == ReleaseState::Succeeded && release.user_announcement.is_some() && !done)
        .then_some(config.notifications.users.as_ref())
        .flatten()
}

/// Emails the users the release, once each (keyed by release and address), then notes it
/// on the timeline. Runs in the flow's `RecordOnGitHub` step, after the outcome was
/// announced and the lane freed: a contact list that cannot be read is
/// [`GateError::Unavailable`], which the flow retries (those already emailed are not
/// emailed again), and a failure there never changes how the release ended.
pub async fn announce(deps: &Deps, release: Release) -> Result<Release, GateError> {
    let Some(users) = due(&deps.config, &release).cloned() else {
        return Ok(release);
    };
    let list = deps
        .notifier
        .contacts(&users.contact_list, &users.topic)
        .await?;
    let mut emailed = 0;
    for contact in list.receiving() {
        let key = format!(
            "{}/users/{}",
            release.id,
            contact.email.to_ascii_lowercase()
        );
        deps.notifier
            .send_once(&key, &email(&users, &release, contact))
            .await?;
        emailed += 1;
    }
    let skipped = list.contacts.len() - emailed;
    info!(emailed, skipped, "release announced to the users");
    let now = deps.now();
    let asked_by = release.user_announcement.clone().unwrap_or_default();
    deps.record(release, |r| {
        if due(&deps.config, r).is_some() {
            r.note(
                now,
                "announce",
                EventKind::Announced,
                format!(
                    "{EMAILED} {emailed} user(s) of {} (topic {}; {skipped} unsubscribed), as asked by {asked_by}",
                    users.contact_list, users.topic
                ),
            );
        }
    })
    .await
}

/// An approver asked, on the approval page, for the users to be emailed when `id` ships.
/// Recorded once (whoever asked first is named); nothing is recorded without a contact
/// list configured or for a release that has ended.
pub async fn ask(
    deps: &Deps,
    id: &crate::model::ReleaseId,
    who: &str,
) -> Result<Release, GateError> {
    let release = deps.load(id).await?;
    if deps.config.notifications.users.is_none()
        || release.user_announcement.is_some()
        || release.state.is_terminal()
    {
        return Ok(release);
    }
    let now = deps.now();
    let asked = format!("{who} on the approval page");
    deps.record(release, |r| {
        if r.user_announcement.is_none() {
            r.user_announcement = Some(asked.clone());
            r.note(
                now,
                who,
                EventKind::Approved,
                "asked for the users' email when it ships".to_string(),
            );
        }
    })
    .await
}

#[cfg(test)]
mod tests;
