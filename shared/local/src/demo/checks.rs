//! What the scenarios check, shared by the demo and the twin: the calls GitHub and
//! PagerDuty received, the messages people got, and how the releases and executions ended.

use std::path::Path;

use serde::Serialize;
use shipgate_core::model::EventKind;
use shipgate_core::{Config, Release};

use super::StartSpec;
use crate::github::GitHubWorld;
use crate::outbox::Outbox;

/// Whether the user `to` received an email saying `says` (`None`: any email) among
/// `sent` (recipient, subject and body); the problem if that is not as expected.
pub fn user_email_problem<'a>(
    mut sent: impl Iterator<Item = (&'a str, String)>,
    to: &str,
    says: Option<&str>,
) -> Option<String> {
    let found = sent.any(|(address, text)| address == to && says.is_none_or(|s| text.contains(s)));
    match (says, found) {
        (Some(says), false) => Some(format!("{to} was not emailed the release saying {says:?}")),
        (None, true) => Some(format!("{to} was emailed although they unsubscribed")),
        _ => None,
    }
}

/// What GitHub shows on the commit of `spec`'s push when it arrives, when the
/// configuration asks for evidence: each required check passed unless `spec.checks` says
/// otherwise, and a pull request approved by `spec.reviewers` brought the commit.
pub fn seed_evidence(world: &mut GitHubWorld, config: &Config, spec: &StartSpec, commit: &str) {
    // The merge of a release branch: its second parent is the branch's head.
    if let Some(merged) = spec.merge_of {
        world.reports.merge(
            commit,
            &super::commit_for("main"),
            &super::commit_for(merged),
        );
    }
    let Some(evidence) = config.github.as_ref().and_then(|g| g.evidence.as_ref()) else {
        return;
    };
    for name in &evidence.required_checks {
        let conclusion = spec
            .checks
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Some("success"), |(_, c)| *c);
        world.reports.run(commit, name, conclusion);
    }
    if evidence.required_approvals > 0 {
        world.reports.merged_pull(commit, spec.reviewers);
    }
}

/// Why `production` was not deployed as `staged` ran: proved by it, and registered with
/// the digest it ran.
pub fn deployed_as_staged_problem(production: &Release, staged: &Release) -> Option<String> {
    let Some(digest) = staged.image_digest.as_deref() else {
        return Some(format!("{} recorded no image digest", staged.id));
    };
    if production.staged_by.as_ref() != Some(&staged.id) {
        return Some(format!(
            "{} was proved by {:?}, not by {}",
            production.id, production.staged_by, staged.id
        ));
    }
    let registered = production
        .events
        .iter()
        .any(|e| e.kind == EventKind::Registered && e.detail.ends_with(&format!("@{digest}")));
    (!registered).then(|| {
        format!(
            "{} was not registered with the image digest {} ran ({digest})",
            production.id, staged.id
        )
    })
}

/// Whether one of `texts` (the releases channel's messages) says `says`; the problem if not.
pub fn channel_problem<'a>(mut texts: impl Iterator<Item = &'a str>, says: &str) -> Option<String> {
    (!texts.any(|t| t.contains(says)))
        .then(|| format!("no message in the releases channel says \"{says}\""))
}

/// One call GitHub or PagerDuty received, as the outbox (locally) or the double (on the
/// twin) saw it.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    pub method: String,
    pub path: String,
    pub status: u16,
    #[serde(skip)]
    pub body: serde_json::Value,
}

/// What is wrong with `calls` for an `ExpectGitHub` or `ExpectPagerDuty`, if anything.
pub fn call_problem(
    service: &str,
    calls: &[CallView],
    method: &str,
    path: &str,
    says: &str,
) -> Option<String> {
    let found = calls.iter().any(|c| {
        c.method == method
            && c.path.split('?').next().is_some_and(|p| p.ends_with(path))
            && (200..300).contains(&c.status)
            && c.body.to_string().contains(says)
    });
    (!found).then(|| format!("{service} received no {method} …{path} saying {says:?}"))
}

/// The calls to `service` (`github`, `pagerduty`) recorded in an outbox, in order.
pub fn recorded_calls(
    outbox: &Path,
    service: &str,
) -> Result<Vec<CallView>, crate::outbox::OutboxError> {
    Ok(Outbox::read_records(outbox, service)?
        .into_iter()
        .map(|r| CallView {
            method: r["method"].as_str().unwrap_or_default().to_string(),
            path: r["path"].as_str().unwrap_or_default().to_string(),
            status: r["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(202),
            body: r["body"].clone(),
        })
        .collect())
}

/// The newest link under `/rollbacks/` in the text of a message.
pub fn rollback_link_in(text: &str) -> Option<String> {
    text.split_whitespace()
        .rev()
        .find(|w| w.contains("/rollbacks/"))
        .map(|w| w.trim_end_matches(['.', ',', ')']).to_string())
}

/// What went wrong in how a scenario ended, whatever ran it: an outcome never announced,
/// an execution that ended otherwise than by a `Release.*` Fail state.
pub fn ending_problems(
    releases: &[Release],
    executions: &[shipgate_asl::ExecutionDescription],
) -> Vec<String> {
    let mut problems = Vec::new();
    for release in releases {
        if release.announced != Some(release.state) {
            problems.push(format!(
                "the outcome of {} ({}) was never announced",
                release.id, release.state
            ));
        }
    }
    for execution in executions {
        let error = execution.error.clone().unwrap_or_default();
        let ended_well = match execution.status {
            shipgate_asl::ExecutionStatus::Succeeded => true,
            shipgate_asl::ExecutionStatus::Failed => error.starts_with("Release."),
            _ => false,
        };
        if !ended_well {
            problems.push(format!(
                "execution {} ended {:?} {error}: {}",
                execution.name,
                execution.status,
                execution.cause.clone().unwrap_or_default()
            ));
        }
    }
    problems
}
