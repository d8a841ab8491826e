//! Evidence before approval (procedure Steps 1 and 4: "all tests passing", "no linter
//! errors", "code review with 1+ approval", the security scan, the performance tests): what
//! GitHub shows on the release commit, read before anyone is asked to approve.
//!
//! Each check named in `[github.evidence] required_checks` must have passed on the commit,
//! as a check run (by name) or a commit status (by context); each pull request that brought
//! the commit must have `required_approvals` approving reviews from distinct people. The
//! flow's `GatherEvidence` reads it: all passed, approval is asked; anything pending, the
//! release waits (`WaitForEvidence`, woken by GitHub's webhooks or after
//! `recheck_minutes`); anything failed, the release is held and the releases channel is told
//! which check failed, with its link. Evidence still incomplete when approval would have
//! expired expires the release.

#![warn(missing_docs)]

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::config::EvidenceConfig;
use crate::deps::Deps;
use crate::error::GateError;
use crate::github::{GitHubAnswer, GitHubCall};
use crate::model::{EventKind, Release, ReleaseId, ReleaseState};

/// Where a piece of evidence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// It passed.
    Passed,
    /// Not reported yet, or still running.
    Pending,
    /// It failed, or GitHub would not show it.
    Failed,
}

/// One piece of evidence: a required check, or the reviews of one pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// The check's name, or `review of #12`.
    pub name: String,
    /// Where it stands.
    pub proof: Proof,
    /// What GitHub shows about it, in one line.
    pub detail: String,
    /// Its page on GitHub (the check's run, the pull request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// What GitHub showed on a release's commit when it was last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// When it was read.
    pub read_at: DateTime<Utc>,
    /// Every required piece, in the configured order, then the reviews.
    pub items: Vec<EvidenceItem>,
}

/// What the flow does next (`GatherEvidence`'s answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything passed (or nothing is required): ask for approval.
    Ready,
    /// Something has not reported yet: wait.
    Waiting,
    /// Something failed: hold the release until it passes.
    Held,
    /// The wait lasted as long as approval may: the release expires.
    Expired,
}

impl Evidence {
    /// Ready when everything passed, held when anything failed, else waiting.
    pub fn verdict(&self) -> Verdict {
        if self.items.iter().any(|i| i.proof == Proof::Failed) {
            Verdict::Held
        } else if self.items.iter().any(|i| i.proof == Proof::Pending) {
            Verdict::Waiting
        } else {
            Verdict::Ready
        }
    }

    /// The items with `proof`.
    pub fn with(&self, proof: Proof) -> impl Iterator<Item = &EvidenceItem> {
        self.items.iter().filter(move |i| i.proof == proof)
    }

    /// What stands between the release and its approval, in one line: each failed item
    /// with its link, then what is pending.
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self
            .with(Proof::Failed)
            .map(|i| match &i.link {
                Some(link) => format!("{} — {} ({link})", i.name, i.detail),
                None => format!("{} — {}", i.name, i.detail),
            })
            .collect();
        let pending: Vec<&str> = self.with(Proof::Pending).map(|i| i.name.as_str()).collect();
        let mut parts = Vec::new();
        if !failed.is_empty() {
            parts.push(format!("Held by {}", failed.join("; ")));
        }
        if !pending.is_empty() {
            let waiting = format!("aiting for {}", pending.join(", "));
            parts.push(if parts.is_empty() {
                format!("W{waiting}")
            } else {
                format!("w{waiting}")
            });
        }
        if parts.is_empty() {
            let names: Vec<&str> = self.items.iter().map(|i| i.name.as_str()).collect();
            return format!("All evidence passed: {}", names.join(", "));
        }
        parts.join("; ")
    }
}

/// What a pending release waits for while its evidence is incomplete, in words; `None`
/// once the evidence passed (or was never read).
pub fn waiting(release: &Release) -> Option<String> {
    release
        .evidence
        .as_ref()
        .filter(|e| e.verdict() != Verdict::Ready)
        .map(|e| format!("its evidence on GitHub ({})", e.summary()))
}

/// One line per item for a message: its mark, name, what GitHub shows, and its link.
pub fn lines(evidence: &Evidence) -> Vec<String> {
    evidence
        .items
        .iter()
        .map(|i| {
            let mark = match i.proof {
                Proof::Passed => "✓",
                Proof::Pending => "…",
                Proof::Failed => "✗",
            };
            match &i.link {
                Some(link) => format!("  {mark} {}: {} {link}", i.name, i.detail),
                None => format!("  {mark} {}: {}", i.name, i.detail),
            }
        })
        .collect()
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

fn link(value: &Value, fields: &[&str]) -> Option<String> {
    fields
        .iter()
        .map(|f| text(value, f))
        .find(|s| s.starts_with("https://") || s.starts_with("http://"))
        .map(String::from)
}

/// A required check judged from the check runs (`filter=latest`) and the combined status
/// of the commit: a check run of that name wins over a status of that context.
pub fn judge_check(name: &str, runs: &Value, statuses: &Value) -> EvidenceItem {
    let item = |proof, detail: String, link| EvidenceItem {
        name: name.to_string(),
        proof,
        detail,
        link,
    };
    let run = runs["check_runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| text(r, "name") == name));
    if let Some(run) = run {
        let url = link(run, &["html_url", "details_url"]);
        if text(run, "status") != "completed" {
            let status = text(run, "status").replace('_', " ");
            return item(Proof::Pending, format!("check run {status}"), url);
        }
        let conclusion = text(run, "conclusion");
        let proof = match conclusion {
            "success" | "neutral" | "skipped" => Proof::Passed,
            _ => Proof::Failed,
        };
        let conclusion = if conclusion.is_empty() {
            "no conclusion".to_string()
        } else {
            conclusion.replace('_', " ")
        };
        return item(proof, format!("check run {conclusion}"), url);
    }
    let status = statuses["statuses"]
        .as_array()
        .and_then(|s| s.iter().find(|s| text(s, "context") == name));
    if let Some(status) = status {
        let url = link(status, &["target_url"]);
        let state = text(status, "state");
        let proof = match state {
            "success" => Proof::Passed,
            "pending" => Proof::Pending,
            _ => Proof::Failed,
        };
        let description = text(status, "description");
        let detail = if description.is_empty() {
            format!("status {state}")
        } else {
            format!("status {state}: {description}")
        };
        return item(proof, detail, url);
    }
    item(Proof::Pending, "not reported yet".into(), None)
}

/// The reviews of pull request `number` judged against `required` approvals: each
/// reviewer's latest decision counts (an approval later dismissed or followed by a request
/// for changes does not).
pub fn judge_reviews(
    number: u64,
    link: Option<String>,
    reviews: &Value,
    required: u32,
) -> EvidenceItem {
    let mut latest: Vec<(&str, &str)> = Vec::new();
    for review in reviews.as_array().map(Vec::as_slice).unwrap_or_default() {
        let login = review["user"]["login"].as_str().unwrap_or_default();
        let state = text(review, "state");
        if login.is_empty() || !matches!(state, "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") {
            continue;
        }
        match latest.iter_mut().find(|(who, _)| *who == login) {
            Some(entry) => entry.1 = state,
            None => latest.push((login, state)),
        }
    }
    let approvers: Vec<&str> = latest
        .iter()
        .filter(|(_, s)| *s == "APPROVED")
        .map(|(who, _)| *who)
        .collect();
    let changes: Vec<&str> = latest
        .iter()
        .filter(|(_, s)| *s == "CHANGES_REQUESTED")
        .map(|(who, _)| *who)
        .collect();
    let count = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
    let (proof, detail) = if !changes.is_empty() {
        (
            Proof::Failed,
            format!("changes requested by {}", changes.join(", ")),
        )
    } else if count >= required {
        (
            Proof::Passed,
            format!("{count} approving review(s): {}", approvers.join(", ")),
        )
    } else {
        (
            Proof::Pending,
            format!("{count} of {required} approving review(s)"),
        )
    };
    EvidenceItem {
        name: format!("review of #{number}"),
        proof,
        detail,
        link,
    }
}

/// What GitHub refused to show, as failed evidence.
fn refused(name: &str, answer: &GitHubAnswer) -> EvidenceItem {
    EvidenceItem {
        name: name.to_string(),
        proof: Proof::Failed,
        detail: format!("GitHub would not show it ({})", answer.describe()),
        link: None,
    }
}

/// Reads the evidence `config` requires on `commit`. GitHub unreachable, 5xx or 429 is
/// [`GateError::Unavailable`] (the release goes on waiting); a refusal (401, 403, 404) is
/// failed evidence: what cannot be shown is not proven.
pub async fn read(
    deps: &Deps,
    config: &EvidenceConfig,
    commit: &str,
) -> Result<Evidence, GateError> {
    let github = deps.github.as_ref();
    let send =
        |call: GitHubCall| async move { crate::postrelease::answered(github.call(&call).await) };
    let mut items = Vec::new();
    if !config.required_checks.is_empty() {
        let runs = send(GitHubCall::CheckRuns {
            commit: commit.into(),
        })
        .await?;
        let statuses = send(GitHubCall::CombinedStatus {
            commit: commit.into(),
        })
        .await?;
        for name in &config.required_checks {
            items.push(match (runs.ok(), statuses.ok()) {
                (true, true) => judge_check(name, &runs.body, &statuses.body),
                (false, _) => refused(name, &runs),
                (_, false) => refused(name, &statuses),
            });
        }
    }
    if config.required_approvals > 0 {
        let pulls = send(GitHubCall::PullsOfCommit {
            commit: commit.into(),
        })
        .await?;
        if !pulls.ok() {
            items.push(refused("code review", &pulls));
        } else {
            let merged: Vec<&Value> = pulls
                .body
                .as_array()
                .map(|p| p.iter().filter(|p| !p["merged_at"].is_null()).collect())
                .unwrap_or_default();
            if merged.is_empty() {
                items.push(EvidenceItem {
                    name: "code review".into(),
                    proof: Proof::Failed,
                    detail: "no merged pull request brought this commit: nobody reviewed it".into(),
                    link: None,
                });
            }
            for pull in merged.into_iter().take(20) {
                let Some(number) = pull["number"].as_u64() else {
                    continue;
                };
                let reviews = send(GitHubCall::Reviews { pull: number }).await?;
                let page = link(pull, &["html_url"]);
                items.push(if reviews.ok() {
                    judge_reviews(number, page, &reviews.body, config.required_approvals)
                } else {
                    refused(&format!("review of #{number}"), &reviews)
                });
            }
        }
    }
    Ok(Evidence {
        read_at: deps.now(),
        items,
    })
}

/// What GitHub shows (if `config` asks for it) and what each environment in `stages`
/// showed for `release`, with the environments' releases that passed.
async fn read_all(
    deps: &Deps,
    config: Option<&EvidenceConfig>,
    stages: &[String],
    release: &Release,
) -> Result<(Evidence, Vec<Release>), GateError> {
    let mut evidence = match config {
        Some(config) => read(deps, config, &release.commit).await?,
        None => Evidence {
            read_at: deps.now(),
            items: vec![],
        },
    };
    let mut passed = Vec::new();
    for name in stages {
        let staged = crate::staging::judge(deps, name, release).await?;
        evidence.items.push(staged.item);
        passed.extend(staged.passed);
    }
    Ok((evidence, passed))
}

/// When a release still without its evidence expires: as long after it opened as
/// approvers would have had to answer.
pub fn deadline(deps: &Deps, release: &Release) -> DateTime<Utc> {
    release.created_at + Duration::hours(i64::from(deps.config.approvals.expires_after_hours))
}

/// `GatherEvidence`: reads the evidence of release `id`, records it (and, when it changed,
/// a timeline entry) and says what the flow does next, with the release's state. A
/// release past `Pending` is ready: a replayed gather never holds a release already asked
/// for approval.
pub async fn gather(deps: &Deps, id: &ReleaseId) -> Result<(Verdict, ReleaseState), GateError> {
    let release = deps.load(id).await?;
    let state = release.state;
    let config = deps.config.github.as_ref().and_then(|g| g.evidence.clone());
    // Production ships only what passed the environments before it.
    let stages: Vec<String> = deps
        .config
        .required_before_production()
        .map(String::from)
        .collect();
    if release.state != ReleaseState::Pending || (config.is_none() && stages.is_empty()) {
        return Ok((Verdict::Ready, state));
    }
    let now = deps.now();
    let evidence = match read_all(deps, config.as_ref(), &stages, &release).await {
        Ok(evidence) => evidence,
        // GitHub down while the release waits: it goes on waiting (the next recheck reads
        // again), as long as it may wait.
        Err(GateError::Unavailable { source, .. }) => {
            warn!(error = %source, "GitHub could not be read for the evidence; waiting");
            let verdict = if now >= deadline(deps, &release) {
                Verdict::Expired
            } else {
                Verdict::Waiting
            };
            return Ok((verdict, state));
        }
        Err(other) => return Err(other),
    };
    let (evidence, staged) = evidence;
    let mut verdict = evidence.verdict();
    let summary = evidence.summary();
    if verdict != Verdict::Ready && now >= deadline(deps, &release) {
        verdict = Verdict::Expired;
    }
    let changed = release
        .evidence
        .as_ref()
        .is_none_or(|before| before.items != evidence.items);
    let release = deps
        .record(release, |r| {
            r.evidence_token = None;
            if changed {
                r.note(now, "evidence", EventKind::Evidence, summary.clone());
            }
            r.evidence = Some(evidence.clone());
            if verdict != Verdict::Expired {
                for passed in &staged {
                    crate::staging::pin(r, passed, now);
                }
            }
        })
        .await?;
    if verdict == Verdict::Held && changed {
        tell_held(deps, &release, &evidence).await;
    }
    info!(?verdict, %summary, "evidence read");
    Ok((verdict, release.state))
}

/// Tells the releases channel what holds the release, once per set of failures.
async fn tell_held(deps: &Deps, release: &Release, evidence: &Evidence) {
    let failed: Vec<String> = evidence
        .with(Proof::Failed)
        .map(|i| match &i.link {
            Some(link) => format!("• *{}*: {} <{link}|details>", i.name, i.detail),
            None => format!("• *{}*: {}", i.name, i.detail),
        })
        .collect();
    let names: Vec<&str> = evidence
        .with(Proof::Failed)
        .map(|i| i.name.as_str())
        .collect();
    // What makes it pass: a check runs again; an environment before production sees the
    // code (pushed to its branch) and approves it there.
    let stages: Vec<&str> = deps
        .config
        .environments
        .keys()
        .map(String::as_str)
        .collect();
    let hint = if names.iter().all(|n| stages.contains(n)) {
        "pass it there first"
    } else {
        "re-run the check"
    };
    let text = format!(
        ":no_entry: Release v{} of {} is held: its evidence failed, so nobody is asked to approve it yet.\n{}\nIt goes on by itself once the evidence passes ({hint}).",
        release.semver,
        release.service,
        failed.join("\n")
    );
    let key = format!("{}/evidence-held/{}", release.id, names.join(","));
    let message = crate::messages::channel_post(&deps.config, release, text);
    if let Err(err) = deps.notifier.send_once(&key, &message).await {
        warn!(error = %err, "could not tell the releases channel the release is held");
    }
}

/// `WaitForEvidence`: keeps the flow's token with the release, for GitHub's webhooks to
/// wake it ([`wake`]).
pub async fn hold(deps: &Deps, id: &ReleaseId, token: String) -> Result<ReleaseState, GateError> {
    let release = deps.load(id).await?;
    let release = deps
        .record(release, |r| r.evidence_token = Some(token.clone()))
        .await?;
    Ok(release.state)
}

/// GitHub reported on `commit` (a `check_suite`, `check_run` or `status` webhook): every
/// release of it waiting for evidence reads it again now. Returns the releases woken.
pub async fn wake(deps: &Deps, commit: &str) -> Result<Vec<ReleaseId>, GateError> {
    let filter = crate::ports::ReleaseFilter {
        service: Some(deps.config.service.name.clone()),
        states: vec![ReleaseState::Pending],
    };
    let mut woken = Vec::new();
    for release in deps.store.list(&filter).await? {
        let Some(token) = release.evidence_token.clone() else {
            continue;
        };
        if !release.commit.eq_ignore_ascii_case(commit) {
            continue;
        }
        // A token already used (the wait timed out, another webhook came first) is refused
        // by the flow: the release is being read again anyway.
        match deps
            .tokens
            .succeed(&token, serde_json::json!({ "woken_by": "github" }))
            .await
        {
            Ok(()) => woken.push(release.id.clone()),
            Err(err) => {
                warn!(release = %release.id, error = %err, "the evidence wait was not woken")
            }
        }
    }
    Ok(woken)
}

#[cfg(test)]
mod tests;
