//! Versions only go up. A release never deploys a version at or below the one serving,
//! and once a newer version ships, the older releases still waiting (for approval or for
//! the window) end `Superseded`: deploying them later would be a downgrade.

use tracing::info;

use crate::deps::Deps;
use crate::error::GateError;
use crate::model::{Release, ReleaseState};
use crate::ports::{ReleaseFilter, WorkflowError};

/// The error their waits end with; the flow announces and ends as `Superseded`.
pub const SUPERSEDED: &str = "Release.Superseded";

const WAITING: [ReleaseState; 3] = [
    ReleaseState::Pending,
    ReleaseState::AwaitingApproval,
    ReleaseState::AwaitingWindow,
];

/// Whether `release` would go below (or repeat) the version `serving`.
pub fn is_stale(release: &Release, serving: Option<&Release>) -> bool {
    serving.is_some_and(|s| s.id != release.id && release.semver <= s.semver)
}

/// Ends `release` as superseded by `by` (recorded first, so the flow that wakes up finds it
/// settled), then ends its wait. Returns the release as stored.
pub async fn supersede(deps: &Deps, release: Release, by: &Release) -> Result<Release, GateError> {
    let why = format!("v{} of {} shipped first", by.semver, by.service);
    let now = deps.now();
    let release = deps
        .record(release, |r| {
            if WAITING.contains(&r.state) {
                r.outcome = Some(why.clone());
                // Allowed from every waiting state; a release that moved on meanwhile stays.
                let _ = r.transition(
                    ReleaseState::Superseded,
                    "shipgate",
                    format!("superseded: {why}"),
                    now,
                );
            }
        })
        .await?;
    if release.state == ReleaseState::Superseded {
        info!(release_id = %release.id, by = %by.id, "superseded");
        end_wait(deps, &release).await?;
    }
    Ok(release)
}

/// Ends the approval or window wait of a superseded release (again, harmlessly, if it
/// already ended).
pub async fn end_wait(deps: &Deps, release: &Release) -> Result<(), GateError> {
    let cause = release.outcome.clone().unwrap_or_default();
    for token in [&release.approval_token, &release.window_token]
        .into_iter()
        .flatten()
    {
        match deps.tokens.fail(token, SUPERSEDED, &cause).await {
            Ok(()) | Err(WorkflowError::TaskTimedOut) | Err(WorkflowError::TaskDoesNotExist) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// After `shipped` succeeded: every older release of its service still waiting is
/// superseded. Returns how many.
pub async fn supersede_older(deps: &Deps, shipped: &Release) -> Result<usize, GateError> {
    let filter = ReleaseFilter {
        service: Some(shipped.service.clone()),
        states: WAITING.to_vec(),
    };
    let mut count = 0;
    for release in deps.store.list(&filter).await? {
        if is_stale(&release, Some(shipped)) {
            supersede(deps, release, shipped).await?;
            count += 1;
        }
    }
    Ok(count)
}
