//! The release ticket (§2 Step 5, "Close release ticket"): a GitHub issue opened when the
//! release asks for approval, commented as the release moves, closed with its outcome.
//!
//! The ticket opens with the timeline up to the approval request; each comment then tells
//! the timeline up to the next mark (the deploy started, a rollback started), and the last
//! one the rest and the outcome. Comments follow these marks, not the moments gates run,
//! so a step replayed after a crash tells the same story in the same comments. Keeping it
//! is best effort: GitHub being down never holds a release, and the next step catches up
//! on what a failed call missed. The ticket and each comment carry a hidden marker: a
//! part is claimed on the release before it is posted (two gates telling at once post it
//! once) and recorded as posted after; a part claimed by a process killed before it was
//! recorded is looked for on the ticket by its marker and posted only if missing. So the
//! ticket is opened once and each part is posted once, whatever is killed when.

use crate::deps::Deps;
use crate::evidence::Proof;
use crate::github::{CloseReason, GitHubAnswer, GitHubCall};
use crate::model::{AuditEvent, EventKind, Release, ReleaseState};
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
/// and the first `told` entries of its timeline.
pub fn body(deps: &Deps, release: &Release, told: usize) -> String {
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
    if let Some(evidence) = &release.evidence {
        text.push_str(&format!(
            "\n**Evidence** (read {})\n\n",
            evidence.read_at.format("%Y-%m-%d %H:%M UTC")
        ));
        for item in &evidence.items {
            let mark = match item.proof {
                Proof::Passed => "✓",
                Proof::Pending => "…",
                Proof::Failed => "✗",
            };
            match &item.link {
                Some(link) => text.push_str(&format!(
                    "- {mark} **{}**: {} ([details]({link}))\n",
                    item.name, item.detail
                )),
                None => text.push_str(&format!("- {mark} **{}**: {}\n", item.name, item.detail)),
            }
        }
    }
    text.push_str(&format!(
        "\n**Release page**: {}/releases/{}\n",
        config.web.public_url().trim_end_matches('/'),
        release.id
    ));
    text.push_str("\n**Timeline**\n");
    for event in release.events.iter().take(told) {
        text.push_str(&line(event));
        text.push('\n');
    }
    text
}

/// Where the story breaks into messages: approval asked, the deploy started, a rollback
/// started. Comments follow these marks, not the moments a gate happens to run, so a step
/// replayed after a crash tells the same story in the same messages.
fn milestone(event: &AuditEvent) -> bool {
    event.kind == EventKind::Asked
        || event.to == Some(ReleaseState::Deploying)
        || event.to == Some(ReleaseState::RollingBack)
}

/// The ends (exclusive) of the complete parts of the timeline.
fn part_ends(release: &Release) -> Vec<usize> {
    release
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| milestone(e))
        .map(|(i, _)| i + 1)
        .collect()
}

fn lines(events: &[AuditEvent]) -> String {
    events.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// Sends `call`; what GitHub answered when it was done, or `None` (logged). The ticket is
/// opened once, whatever happens between GitHub's answer and its record.
async fn send(deps: &Deps, release: &Release, call: &GitHubCall) -> Option<GitHubAnswer> {
    let sent = match call {
        GitHubCall::OpenIssue { .. } => {
            let marker = crate::github::marker(release.id.as_str(), "ticket");
            crate::github::open_issue_once(deps.github.as_ref(), &marker, call.clone()).await
        }
        _ => deps.github.call(call).await,
    };
    match sent {
        Ok(answer) if answer.ok() => Some(answer),
        Ok(answer) => {
            tracing::warn!(release_id = %release.id, answer = %answer.describe(), "GitHub refused a ticket update");
            None
        }
        Err(err) => {
            tracing::warn!(release_id = %release.id, error = %err, "the ticket could not be updated");
            None
        }
    }
}

/// How many timeline entries GitHub is known to have received.
fn posted(release: &Release) -> usize {
    release.github.posted.unwrap_or(release.github.told)
}

/// How long a claimed part may go unposted before its claimer, if nobody can tell
/// whether it is alive, is taken for gone.
const CLAIM_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// Whether another process claimed the part being told and may still be posting it:
/// known to be working, or unknown and within the grace.
fn claimed_elsewhere(deps: &Deps, release: &Release) -> bool {
    let github = &release.github;
    match github.claimed_by.as_deref() {
        None => false,
        Some(me) if me == deps.workers.this() => false,
        Some(other) => match deps.workers.gone(other) {
            Some(gone) => !gone,
            None => github
                .claimed_at
                .is_some_and(|at| deps.now() - at < CLAIM_GRACE),
        },
    }
}

/// The hidden line of the comment that tells the timeline up to `end` (`close` for the
/// closing one).
fn part_marker(release: &Release, part: &str) -> String {
    crate::github::marker(release.id.as_str(), &format!("ticket-part-{part}"))
}

/// Posts `text` on `issue` with `marker` unless a comment carrying `marker` is there
/// already (a post repeated after its poster was killed); whether the comment is there.
async fn comment_once(
    deps: &Deps,
    release: &Release,
    issue: u64,
    text: String,
    marker: &str,
) -> bool {
    if let Ok(listed) = deps.github.call(&GitHubCall::ListComments { issue }).await
        && listed.ok()
        && listed.body.as_array().is_some_and(|comments| {
            comments
                .iter()
                .any(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)))
        })
    {
        return true;
    }
    let call = GitHubCall::Comment {
        issue,
        body: format!("{text}\n{marker}\n"),
    };
    let posted = send(deps, release, &call).await.is_some();
    shipgate_crash::point("ticket.commented");
    posted
}

/// Records what the ticket was told and GitHub received; the release as saved, or as
/// given if that failed.
async fn told(deps: &Deps, release: Release, ticket: Option<u64>, upto: usize) -> Release {
    let fallback = release.clone();
    deps.record(release, |r| {
        if r.github.ticket.is_none() {
            r.github.ticket = ticket;
        }
        r.github.told = r.github.told.max(upto);
        r.github.posted = Some(posted(r).max(upto));
    })
    .await
    .unwrap_or_else(|err| {
        tracing::warn!(release_id = %fallback.id, error = %err, "what the ticket was told could not be recorded");
        fallback
    })
}

/// Opens the ticket once approval has been asked (its text: the release and its timeline
/// so far), then comments each part of the timeline completed since (see [`milestone`]).
/// A part is claimed (recorded as told, a conditional write) before it is posted, so two
/// gates telling the ticket at once (the flow's rollback and the alarm's) post it once,
/// and recorded as posted once GitHub has it; a part claimed but never recorded posted is
/// posted if the ticket does not carry its marker. A part GitHub refuses is left for the
/// closing comment. Returns the release as saved (or as given, when nothing was done or
/// the store failed).
pub async fn keep(deps: &Deps, mut release: Release) -> Release {
    let Some(github) = deps.config.github.as_ref().filter(|g| g.ticket) else {
        return release;
    };
    let mut conflicts = 0;
    'parts: loop {
        let ends = part_ends(&release);
        for (k, &end) in ends.iter().enumerate() {
            let Some(issue) = release.github.ticket else {
                let call = GitHubCall::OpenIssue {
                    title: title(&release),
                    body: body(deps, &release, end),
                    labels: github.ticket_labels.clone(),
                    assignees: Vec::new(),
                };
                let Some(number) = send(deps, &release, &call).await.and_then(|a| a.number())
                else {
                    return release;
                };
                release = told(deps, release, Some(number), end).await;
                continue;
            };
            if end <= posted(&release) {
                continue;
            }
            let from = if k == 0 { 0 } else { ends[k - 1] };
            if end <= release.github.told && claimed_elsewhere(deps, &release) {
                // Its claimer is posting it (or was, moments ago): not twice.
                return release;
            }
            if end > release.github.told {
                let mut claimed = release.clone();
                claimed.github.posted = Some(posted(&release));
                claimed.github.told = end;
                claimed.github.claimed_by = Some(deps.workers.this());
                claimed.github.claimed_at = Some(deps.now());
                match deps.save(&claimed).await {
                    Ok(saved) => release = saved,
                    Err(crate::error::GateError::Conflict(..)) if conflicts < 4 => {
                        conflicts += 1;
                        match deps.load(&release.id).await {
                            Ok(fresh) => release = fresh,
                            Err(_) => return release,
                        }
                        continue 'parts;
                    }
                    Err(err) => {
                        tracing::warn!(release_id = %release.id, error = %err, "the ticket's next part could not be claimed");
                        return release;
                    }
                }
            }
            let text = lines(&release.events[from.min(end)..end]);
            let marker = part_marker(&release, &end.to_string());
            if !comment_once(deps, &release, issue, text, &marker).await {
                return release;
            }
            release = told(deps, release, Some(issue), end).await;
        }
        return release;
    }
}

/// Tells the rest of the timeline and closes the ticket with the release's outcome: after
/// a success as completed, otherwise as not planned. A release that never asked for
/// approval gets its ticket now, with its whole story. Returns the release as saved.
pub async fn close(deps: &Deps, release: Release) -> Release {
    let Some(github) = deps.config.github.as_ref().filter(|g| g.ticket) else {
        return release;
    };
    if release.github.did("closed") {
        return release;
    }
    let mut release = keep(deps, release).await;
    let outcome = match release.state {
        ReleaseState::Succeeded => format!("Released: v{} is in production.", release.semver),
        state => format!(
            "Ended {state}: {}",
            release.outcome.clone().unwrap_or_default()
        ),
    };
    let all = release.events.len();
    let issue = match release.github.ticket {
        Some(issue) => {
            let rest = lines(&release.events[release.github.told.min(all)..]);
            let text = if rest.is_empty() {
                outcome
            } else {
                format!("{rest}\n\n{outcome}")
            };
            let marker = part_marker(&release, "close");
            if !comment_once(deps, &release, issue, text, &marker).await {
                return release;
            }
            issue
        }
        None => {
            let call = GitHubCall::OpenIssue {
                title: title(&release),
                body: format!("{}\n{outcome}\n", body(deps, &release, all)),
                labels: github.ticket_labels.clone(),
                assignees: Vec::new(),
            };
            let Some(number) = send(deps, &release, &call).await.and_then(|a| a.number()) else {
                return release;
            };
            number
        }
    };
    release = told(deps, release, Some(issue), all).await;
    let reason = if release.state == ReleaseState::Succeeded {
        CloseReason::Completed
    } else {
        CloseReason::NotPlanned
    };
    if send(deps, &release, &GitHubCall::CloseIssue { issue, reason })
        .await
        .is_none()
    {
        return release;
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
