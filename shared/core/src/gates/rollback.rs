//! The rollback gate, reached from every gate after deploy starts (the flow's `Catch`):
//! `restore` rolls the release back ([`crate::restore::roll_back`]: the exact task
//! definition recorded before the deploy, then the reverse migration); `verify` is
//! `statemachine.json`'s `VerifyRestore` loop ([`crate::restore::verify`]). A release that
//! failed before deploying had nothing changed: it just fails.

use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::GateError;
use crate::gates::CaughtError;
use crate::model::{Release, ReleaseId, ReleaseState};
use crate::restore::{roll_back, verify};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub release_id: ReleaseId,
    /// What the flow caught, when it got here from a failing gate.
    #[serde(default)]
    pub error: Option<CaughtError>,
    #[serde(default)]
    pub step: Step,
}

/// What the gate is asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Point the service back and reverse the migration.
    #[default]
    Restore,
    /// See whether the restored deployment is stable and healthy.
    Verify,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub state: ReleaseState,
    pub serving_task_definition: Option<String>,
    /// The rollback has ended (`RolledBack` or `Failed`): nothing more to wait for.
    pub ended: bool,
}

impl Output {
    fn of(release: &Release) -> Self {
        Output {
            state: release.state,
            serving_task_definition: release.previous_task_definition.clone(),
            ended: release.state != ReleaseState::RollingBack,
        }
    }
}

#[tracing::instrument(skip(deps), fields(release_id = %input.release_id))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    // A release to an environment before production runs with its configuration.
    let laid = deps.for_release(&input.release_id);
    let deps = laid.as_ref();
    let release = deps.load(&input.release_id).await?;
    if input.step == Step::Verify {
        return verify(deps, release).await.map(|r| Output::of(&r));
    }
    let why = input
        .error
        .map(|e| e.summary())
        .unwrap_or_else(|| "rollback requested".into());
    let release = match release.state {
        s if s.is_live() || s == ReleaseState::RollingBack => {
            roll_back(deps, release, "rollback", &why).await?
        }
        // Nothing was changed yet (the failure came before deploy): the release just fails.
        ReleaseState::Pending | ReleaseState::AwaitingApproval | ReleaseState::AwaitingWindow => {
            fail_before_deploy(deps, release, &why).await?
        }
        _ => release,
    };
    Ok(Output::of(&release))
}

async fn fail_before_deploy(
    deps: &Deps,
    mut release: Release,
    why: &str,
) -> Result<Release, GateError> {
    release.outcome = Some(format!("failed before deploying, nothing changed: {why}"));
    release.approval_token = None;
    release.window_token = None;
    release.transition(
        ReleaseState::Failed,
        "rollback",
        format!("nothing to roll back: {why}"),
        deps.now(),
    )?;
    deps.save(&release).await
}
