//! Production ships only what passed staging (procedure Step 2, then Step 4's "Database
//! migration tested (staging)"): before approval is asked for a production release, each
//! environment `required_for_production` must show a release of the same code that
//! deployed there, passed its smoke tests, was approved by its approvers (QA) and ran its
//! migration. The same code is the release's commit or — for the merge of a
//! `release/vX.Y.Z` branch — the merged branch's head, the merge commit's second parent.
//!
//! It is one more piece of [`crate::evidence`]: pending while staging is still at work,
//! failed (the release is held, with the reason) when staging failed or never saw the
//! code. Once it passes, the production release is pinned to the image digest staging ran.

#![warn(missing_docs)]

use crate::deps::Deps;
use crate::error::GateError;
use crate::evidence::{EvidenceItem, Proof};
use crate::github::GitHubCall;
use crate::model::{EventKind, Release, ReleaseState};
use crate::ports::ReleaseFilter;

/// What staging showed for a production release: the evidence item, and the release that
/// passed there (whose image digest production deploys).
#[derive(Debug, Clone)]
pub struct Staged {
    /// The evidence item named after the environment.
    pub item: EvidenceItem,
    /// The environment's release that passed, if one did.
    pub passed: Option<Release>,
}

/// The merged branch's head when `commit` is a merge (its second parent), read from GitHub;
/// `None` for any other commit, or without `[github]`.
async fn merged_head(deps: &Deps, commit: &str) -> Result<Option<String>, GateError> {
    if deps.config.github.is_none() {
        return Ok(None);
    }
    let answer = crate::postrelease::answered(
        deps.github
            .call(&GitHubCall::GetCommit {
                commit: commit.into(),
            })
            .await,
    )?;
    if !answer.ok() {
        return Ok(None);
    }
    Ok(answer.body["parents"]
        .as_array()
        .and_then(|parents| parents.get(1))
        .and_then(|p| p["sha"].as_str())
        .map(str::to_ascii_lowercase))
}

/// The releases of `commit` to the environment whose releases are kept under `service`,
/// newest first.
async fn releases_of(env: &Deps, commit: &str) -> Result<Vec<Release>, GateError> {
    let filter = ReleaseFilter {
        service: Some(env.config.service.name.clone()),
        states: vec![],
    };
    let mut found: Vec<Release> = env
        .store
        .list(&filter)
        .await?
        .into_iter()
        .filter(|r| r.commit.eq_ignore_ascii_case(commit))
        .collect();
    found.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    Ok(found)
}

/// What stands between a staging release and "passed", in words; `None` once it passed.
fn shortfall(env: &Deps, release: &Release) -> Option<String> {
    let name = env.config.environment.as_deref().unwrap_or("staging");
    let smoke = release.events.iter().any(|e| {
        e.from == Some(ReleaseState::HealthChecking) && e.to == Some(ReleaseState::Monitoring)
    });
    if !smoke {
        return Some(format!("its smoke tests did not pass on {name}"));
    }
    let quorum = crate::policy::approval::quorum(&env.config, release);
    if !quorum.is_met() {
        return Some(format!(
            "{} has not approved it on {name}",
            quorum.missing.join(" + ")
        ));
    }
    if env.config.service.migration.is_some()
        && release.migration.as_ref().is_none_or(|m| m.exit_code != 0)
    {
        return Some(format!("its database migration did not run on {name}"));
    }
    None
}

/// The evidence item of environment `name` for the production `release`.
pub async fn judge(deps: &Deps, name: &str, release: &Release) -> Result<Staged, GateError> {
    let Some(config) = deps.config.for_environment(name) else {
        return Err(GateError::InvalidInput(format!(
            "environment `{name}` is not configured"
        )));
    };
    let env = deps.with_config(config);
    let item = |proof, detail: String, link: Option<String>| EvidenceItem {
        name: name.to_string(),
        proof,
        detail,
        link,
    };
    let mut candidates = releases_of(&env, &release.commit).await?;
    let mut via = String::new();
    if candidates.is_empty()
        && let Some(head) = merged_head(deps, &release.commit).await?
    {
        candidates = releases_of(&env, &head).await?;
        via = format!(" (the merged branch's head {})", &head[..head.len().min(7)]);
    }
    let link = |r: &Release| {
        crate::links::release_page(
            &deps.config,
            &r.id,
            "approvers",
            deps.now() + chrono::Duration::days(crate::links::ANNOUNCEMENT_LINK_DAYS),
        )
    };
    let passed = candidates
        .iter()
        .find(|r| r.state == ReleaseState::Succeeded && shortfall(&env, r).is_none());
    if let Some(staged) = passed {
        let by: Vec<String> = crate::policy::approval::quorum(&env.config, staged)
            .covered
            .iter()
            .map(|(_, who)| deps.config.name_of(who).to_string())
            .collect();
        let migration = if env.config.service.migration.is_some() {
            ", migration ran"
        } else {
            ""
        };
        let digest = staged
            .image_digest
            .as_deref()
            .map(|d| format!("; image {}", short_digest(d)))
            .unwrap_or_default();
        let detail = format!(
            "v{} passed {name}{via}: smoke tests passed, approved by {}{migration}{digest}",
            staged.semver,
            by.join(", ")
        );
        return Ok(Staged {
            item: item(Proof::Passed, detail, link(staged)),
            passed: Some(staged.clone()),
        });
    }
    let Some(latest) = candidates.first() else {
        return Ok(Staged {
            item: item(
                Proof::Failed,
                format!("this code was never deployed to {name}: push it to its branch first"),
                None,
            ),
            passed: None,
        });
    };
    let (proof, detail) = match latest.state {
        s if !s.is_terminal() || s == ReleaseState::RollingBack => (
            Proof::Pending,
            format!("v{} is {} on {name}{via}", latest.semver, s.as_str()),
        ),
        ReleaseState::Succeeded => (
            Proof::Failed,
            format!(
                "v{} on {name}{via}: {}",
                latest.semver,
                shortfall(&env, latest).unwrap_or_default()
            ),
        ),
        s => (
            Proof::Failed,
            format!(
                "v{} {} on {name}{via}: {}",
                latest.semver,
                s.as_str(),
                latest.outcome.clone().unwrap_or_default()
            ),
        ),
    };
    Ok(Staged {
        item: item(proof, detail, link(latest)),
        passed: None,
    })
}

/// `sha256:0123456789ab` of a digest, for people.
pub fn short_digest(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}

/// Pins `release` (production, not deployed yet) to the image digest `staged` ran, once.
pub fn pin(release: &mut Release, staged: &Release, at: chrono::DateTime<chrono::Utc>) {
    if release.staged_by.as_ref() == Some(&staged.id) || release.deploy_started_at.is_some() {
        return;
    }
    release.staged_by = Some(staged.id.clone());
    release.image_digest = staged.image_digest.clone();
    let detail = match &staged.image_digest {
        Some(digest) => format!(
            "deploys the image {} ran: {}",
            staged.id,
            crate::model::pinned_image(&release.image, Some(digest))
        ),
        None => format!(
            "{} passed staging; its image had no digest, so {} is deployed by tag",
            staged.id, release.image
        ),
    };
    release.note(at, "evidence", EventKind::Evidence, detail);
}

#[cfg(test)]
mod tests;
