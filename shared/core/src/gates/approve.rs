//! The approve gate. `request` runs as a `.waitForTaskToken` task: it keeps the token with
//! the release (it never leaves the backend) and asks every approver who can still complete
//! the quorum. Decisions arrive through [`crate::gates::releases::decide`]. `expire` runs
//! when the wait times out.

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::error::GateError;
use crate::gates::{Deps, messages, wrong_state};
use crate::model::{ReleaseId, ReleaseState};
use crate::policy::approval;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    Request {
        release_id: ReleaseId,
        task_token: String,
    },
    Expire {
        release_id: ReleaseId,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub state: ReleaseState,
    pub asked: Vec<String>,
}

#[tracing::instrument(skip(deps), fields(release_id))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    match input {
        Input::Request {
            release_id,
            task_token,
        } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            request(deps, &release_id, task_token).await
        }
        Input::Expire { release_id } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            expire(deps, &release_id).await
        }
    }
}

async fn request(deps: &Deps, id: &ReleaseId, token: String) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    let now = deps.now();
    match release.state {
        ReleaseState::Pending => {
            release.transition(
                ReleaseState::AwaitingApproval,
                "approve",
                "approval requested",
                now,
            )?;
        }
        // A retried request keeps the newest token.
        ReleaseState::AwaitingApproval => {}
        _ => {
            return Err(wrong_state(
                &release,
                "approval is requested only for a new release",
            ));
        }
    }
    release.approval_token = Some(token);
    let quorum = approval::quorum(&deps.config, &release);
    let asked: Vec<_> = deps
        .config
        .approvers
        .iter()
        .filter(|a| a.roles.iter().any(|r| quorum.missing.contains(r)))
        .filter(|a| !approval::is_author(a, &release))
        .collect();
    let names: Vec<String> = asked.iter().map(|a| a.id.clone()).collect();
    release.note(
        now,
        "approve",
        "asked",
        format!(
            "asked {} to approve ({} needed)",
            names.join(", "),
            quorum.missing.join(" + ")
        ),
    );
    let release = deps.save(&release).await?;
    for approver in asked {
        for message in messages::approval_request(&deps.config, &release, approver, &quorum.missing)
        {
            deps.notifier.send(&message).await?;
        }
    }
    info!(asked = ?names, "approval requested");
    Ok(Output {
        state: release.state,
        asked: names,
    })
}

async fn expire(deps: &Deps, id: &ReleaseId) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    if release.state == ReleaseState::Expired {
        return Ok(Output {
            state: release.state,
            asked: vec![],
        });
    }
    if release.state != ReleaseState::AwaitingApproval {
        return Err(wrong_state(
            &release,
            "only a release awaiting approval can expire",
        ));
    }
    let quorum = approval::quorum(&deps.config, &release);
    let why = format!(
        "no quorum within {} h (still missing: {})",
        deps.config.approvals.expires_after_hours,
        quorum.missing.join(" + ")
    );
    release.outcome = Some(why.clone());
    release.approval_token = None;
    release.transition(ReleaseState::Expired, "approve", why, deps.now())?;
    let release = deps.save(&release).await?;
    Ok(Output {
        state: release.state,
        asked: vec![],
    })
}
