//! The release ticket (§2 Step 5, "Close release ticket"): a GitHub issue opened when the
//! release asks for approval, commented as the release moves, closed with its outcome.
//!
//! Keeping it is best effort: GitHub being down never holds a release. Each comment tells
//! every timeline entry not told yet, so the next step catches up on what a failed call
//! missed. What was told is recorded on the release after each call.

use crate::deps::Deps;
use crate::github::{CloseReason, GitHubCall};
use crate::model::{AuditEvent, Release, ReleaseState};
use crate::policy::approval::required_roles;

/// `v1.3.0 of api`.
fn title(release: &Release) -> String {
    format!(
        "Release v{} of {} ({})",
        release.semver, release.service, release.release_type
    )
}

fn line(event: &AuditEvent) -> String {
    format!(
        "- {} · {} · {}",
        event.at.format("%Y-%m-%d %H:%M UTC"),
        event.actor,
        event.detail
    )
}

/// The commit on GitHub.
pub fn commit_link(repository: &str, commit: &str) -> String {
    format!("https://github.com/{repository}/commit/{commit}")
}

/// The changelog as Markdown sections.
pub fn changelog_markdown(release: &Release) -> String {
    let mut out = String::new();
    for (heading, items) in [
        ("Features", &release.changelog.features),
        ("Fixes", &release.changelog.fixes),
    ] {
        if !items.is_empty() {
            out.push_str(&format!("**{heading}**\n"));
            for item in items {
                out.push_str(&format!("- {item}\n"));
            }
        }
    }
    if out.is_empty() {
        out.push_str("(no changelog entries)\n");
    }
    out
}

/// The ticket's first text: what the release is, who must approve, its changelog and links,
/// and the timeline so far.
pub fn body(deps: &Deps, release: &Release) -> String {
    let config = &deps.config;
    let roles = required_roles(config, release);
    let short: String = release.commit.chars().take(7).collect();
    let mut text = format!(
        "Release **v{}** of `{}`: a {} release of [`{short}`]({}) by {}.\n\n",
        release.semver,
        release.service,
        release.release_type,
        commit_link(&config.service.repository, &release.commit),
        release.author,
    );
    text.push_str(&format!("**Approval**: {}\n\n", roles.join(" and ")));
    text.push_str(&changelog_markdown(release));
    text.push_str(&format!(
        "\n**Release page**: {}/releases/{}\n",
        config.web.public_url().trim_end_matches('/'),
        release.id
    ));
    text.push_str("\n**Timeline**\n");
    for event in &release.events {
        text.push_str(&line(event));
        text.push('\n');
    }
    text
}

/// Opens the ticket if the release has none, else comments the timeline entries not told
/// yet. Returns the release as saved (or as given, when nothing was done or GitHub failed).
pub async fn keep(deps: &Deps, release: Release) -> Release {
    let Some(github) = deps.config.github.as_ref().filter(|g| g.ticket) else {
        return release;
    };
    let told = release.events.len();
    let call = match release.github.ticket {
        None => GitHubCall::OpenIssue {
            title: title(&release),
            body: body(deps, &release),
            labels: github.ticket_labels.clone(),
            assignees: Vec::new(),
        },
        Some(issue) if release.github.told < told => GitHubCall::Comment {
            issue,
            body: release.events[release.github.told.min(told)..]
                .iter()
                .map(line)
                .collect::<Vec<_>>()
                .join("\n"),
        },
        Some(_) => return release,
    };
    let opened = match deps.github.call(&call).await {
        Ok(answer) if answer.ok() => answer.number(),
        Ok(answer) => {
            tracing::warn!(release_id = %release.id, answer = %answer.describe(), "GitHub refused a ticket update");
            return release;
        }
        Err(err) => {
            tracing::warn!(release_id = %release.id, error = %err, "the ticket could not be updated");
            return release;
        }
    };
    let fallback = release.clone();
    let saved = deps
        .record(release, |r| {
            if r.github.ticket.is_none() {
                r.github.ticket = opened;
            }
            r.github.told = r.github.told.max(told);
        })
        .await;
    saved.unwrap_or_else(|err| {
        tracing::warn!(release_id = %fallback.id, error = %err, "what the ticket was told could not be recorded");
        fallback
    })
}

/// Tells the rest of the timeline and closes the ticket with the release's outcome: after
/// a success as completed, otherwise as not planned. Returns the release as saved.
pub async fn close(deps: &Deps, release: Release) -> Release {
    if deps.config.github.as_ref().is_none_or(|g| !g.ticket) || release.github.did("closed") {
        return release;
    }
    let release = keep(deps, release).await;
    let Some(issue) = release.github.ticket else {
        return release;
    };
    let outcome = match release.state {
        ReleaseState::Succeeded => format!("Released: v{} is in production.", release.semver),
        state => format!(
            "Ended {state}: {}",
            release.outcome.clone().unwrap_or_default()
        ),
    };
    let reason = if release.state == ReleaseState::Succeeded {
        CloseReason::Completed
    } else {
        CloseReason::NotPlanned
    };
    for call in [
        GitHubCall::Comment {
            issue,
            body: outcome,
        },
        GitHubCall::CloseIssue { issue, reason },
    ] {
        match deps.github.call(&call).await {
            Ok(answer) if answer.ok() => {}
            Ok(answer) => {
                tracing::warn!(release_id = %release.id, answer = %answer.describe(), "GitHub refused to close the ticket");
                return release;
            }
            Err(err) => {
                tracing::warn!(release_id = %release.id, error = %err, "the ticket could not be closed");
                return release;
            }
        }
    }
    let fallback = release.clone();
    deps.record(release, |r| {
        if !r.github.did("closed") {
            r.github.done.push("closed".into());
        }
    })
    .await
    .unwrap_or(fallback)
}
