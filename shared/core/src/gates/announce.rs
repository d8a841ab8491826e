//! The announce gate, last in every path of the flow: it makes sure the release has ended
//! (a release that failed before deploying is marked `Failed`; a live one is rolled back
//! first — nothing leaves a new version running unannounced), tells people the outcome
//! once and frees the service's lane; the flow then wakes the next release (a gate never
//! calls another).

use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::GateError;
use crate::gates::CaughtError;
use crate::model::{EventKind, GitHubRecord, Release, ReleaseId, ReleaseState};
use crate::{lane, messages, order, postrelease, restore, users};

/// What the announce function is asked: `announce` (the default, as executions started
/// before `record` existed ask it) ends the release and tells people; `record`, once the
/// lane is free, emails the users a release that asked for it ([`users`]) and leaves the
/// release's record on GitHub ([`postrelease`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Announce,
    Record,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    #[serde(default)]
    pub action: Action,
    pub release_id: ReleaseId,
    #[serde(default)]
    pub error: Option<CaughtError>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Output {
    Announced {
        state: ReleaseState,
        outcome: Option<String>,
        announced: usize,
    },
    Recorded {
        state: ReleaseState,
        github: GitHubRecord,
    },
}

#[tracing::instrument(skip(deps), fields(release_id = %input.release_id, action = ?input.action))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    let Input {
        action,
        release_id,
        error,
    } = input;
    // A release to an environment before production runs with its configuration.
    let laid = deps.for_release(&release_id);
    let deps = laid.as_ref();
    if action == Action::Record {
        // The users' email and GitHub's record: each is retried by the flow (both are
        // idempotent), neither waits on the other, and neither changes how the release
        // ended.
        let emailed = users::announce(deps, deps.load(&release_id).await?).await;
        let release = postrelease::record(deps, &release_id).await?;
        emailed?;
        return Ok(Output::Recorded {
            state: release.state,
            github: release.github,
        });
    }
    let before = deps.load(&release_id).await?;
    let already = before.announced == Some(before.state);
    let release = announce(deps, &release_id, error).await?;
    let sent = if already {
        0
    } else {
        messages::outcome(&deps.config, &release).len()
    };
    Ok(Output::Announced {
        state: release.state,
        outcome: release.outcome,
        announced: sent,
    })
}

/// Ends the release if it has not ended, announces its outcome once, and frees its service.
pub async fn announce(
    deps: &Deps,
    id: &ReleaseId,
    error: Option<CaughtError>,
) -> Result<Release, GateError> {
    let mut release = deps.load(id).await?;
    let why = error
        .map(|e| e.summary())
        .unwrap_or_else(|| "the pipeline ended early".into());
    if release.state.is_live() {
        release = match restore::roll_back(deps, release, "announce", &why).await {
            Ok(r) => r,
            Err(GateError::RollbackFailed(_)) => deps.load(id).await?,
            Err(other) => return Err(other),
        };
    } else if !release.state.is_terminal() && release.state != ReleaseState::RollingBack {
        release.outcome = Some(why.clone());
        release.approval_token = None;
        release.window_token = None;
        release.transition(ReleaseState::Failed, "announce", why.clone(), deps.now())?;
        release = deps.save(&release).await?;
    }
    if release.state == ReleaseState::RollingBack {
        // The flow gave up on the rollback or on seeing it work: nobody has seen the
        // service healthy on the previous version. Say so loudly.
        let detail = format!("the restore was not verified: {why}");
        release.outcome = Some(format!(
            "rollback failed: {detail}; {}",
            release.outcome.clone().unwrap_or_default()
        ));
        release.transition(ReleaseState::Failed, "announce", detail, deps.now())?;
        release = deps.save(&release).await?;
    }
    if release.announced != Some(release.state) && release.state.is_terminal() {
        for (n, message) in messages::outcome(&deps.config, &release).iter().enumerate() {
            let key = format!("{}/outcome/{}/{n}", release.id, release.state);
            deps.notifier.send_once(&key, message).await?;
            shipgate_crash::point("announce.sent-one");
        }
        release.announced = Some(release.state);
        release.note(
            deps.now(),
            "announce",
            EventKind::Announced,
            format!("outcome announced: {}", release.state),
        );
        release = deps.save(&release).await?;
    }
    // A newer version is serving now: older releases still waiting would downgrade it.
    if release.state == ReleaseState::Succeeded {
        order::supersede_older(deps, &release).await?;
    }
    // Frees the service; the flow then asks the window gate to let the next release
    // through (`WakeNextRelease`): a gate never calls another.
    lane::free(deps, &release).await?;
    Ok(release)
}
