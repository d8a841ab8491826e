//! The window gate. `enqueue` runs as a `.waitForTaskToken` task once a release is
//! approved: the release joins its service's queue and the lane may let it through.
//! `open` runs when the scheduler wakes it (at a window's opening) and whenever a release
//! ends and frees its service (the flow's `WakeNextRelease`). Who goes through, and when,
//! is the lane's ([`crate::lane::dispatch`]).

use serde::Deserialize;

use crate::deps::Deps;
use crate::error::{GateError, wrong_state};
use crate::lane::{self, Output};
use crate::model::{ReleaseId, ReleaseState};
use crate::releases;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    Enqueue {
        release_id: ReleaseId,
        task_token: String,
    },
    Open {},
}

#[tracing::instrument(skip(deps))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    match input {
        Input::Enqueue {
            release_id,
            task_token,
        } => {
            // A release to an environment before production queues in its own lane.
            let laid = deps.for_release(&release_id);
            let deps = laid.as_ref();
            enqueue(deps, &release_id, task_token).await?;
            lane::dispatch(deps, &deps.config.service.name).await
        }
        Input::Open {} => {
            // Production's lane and each environment's: one that cannot be dispatched
            // now does not keep the others waiting.
            let mut output = Output::default();
            let mut failed = None;
            for deps in deps.every_environment() {
                // The window's daily opening and the end of every release are where a
                // process that died mid-operation (a decision recorded but not handed on,
                // a release without its execution) is caught up, on AWS as locally.
                if let Err(err) = releases::resume_interrupted(&deps).await {
                    tracing::warn!(error = %err, "could not resume interrupted releases");
                }
                let lane = match lane::dispatch(&deps, &deps.config.service.name).await {
                    Ok(lane) => lane,
                    Err(err) => {
                        failed.get_or_insert(err);
                        continue;
                    }
                };
                output.dispatched = output.dispatched.or(lane.dispatched);
                output.next_check = match (output.next_check, lane.next_check) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            match failed {
                Some(err) => Err(err),
                None => Ok(output),
            }
        }
    }
}

async fn enqueue(deps: &Deps, id: &ReleaseId, token: String) -> Result<(), GateError> {
    let mut release = deps.load(id).await?;
    let now = deps.now();
    match release.state {
        ReleaseState::AwaitingApproval => {
            release.transition(
                ReleaseState::AwaitingWindow,
                "window",
                "approved; waiting for the window",
                now,
            )?;
            release.queued_at = Some(now);
        }
        // Staging deploys before it is approved: its approvers test what it runs.
        ReleaseState::Pending if deps.config.stage().is_some() => {
            let env = deps.config.environment.clone().unwrap_or_default();
            release.transition(
                ReleaseState::AwaitingWindow,
                "window",
                format!(
                    "deploys to {env} first; its approvers are asked once the smoke tests passed"
                ),
                now,
            )?;
            release.queued_at = Some(now);
        }
        ReleaseState::AwaitingWindow => {}
        _ => {
            return Err(wrong_state(
                &release,
                "only an approved release joins the window queue",
            ));
        }
    }
    release.window_token = Some(token);
    // The approval wait is over: its token is spent and is kept no longer.
    release.approval_token = None;
    deps.save(&release).await?;
    Ok(())
}
