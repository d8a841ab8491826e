//! The window gate. `enqueue` runs as a `.waitForTaskToken` task once a release is
//! approved: the release joins its service's queue and the gate tries to dispatch.
//! `open` runs when the scheduler wakes it (at a window's opening) and `dispatch` again
//! whenever a release ends and frees its service. A release is let through (its token
//! resumed) only when its service's deploy lock is free and the window policy allows a
//! start now — or, for a hotfix with a stated reason, when bypass is allowed.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::info;

use crate::error::GateError;
use crate::gates::{Deps, messages, order, releases, wrong_state};
use crate::model::{Release, ReleaseId, ReleaseState, ServiceName};
use crate::policy::window::{WindowPolicy, bypass};
use crate::ports::{LockOutcome, WorkflowError};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    Enqueue {
        release_id: ReleaseId,
        task_token: String,
    },
    Open {},
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Output {
    /// The release let through, if any.
    pub dispatched: Option<ReleaseId>,
    /// When the gate will look again, if a release is still waiting.
    pub next_check: Option<chrono::DateTime<chrono::Utc>>,
}

#[tracing::instrument(skip(deps))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    match input {
        Input::Enqueue {
            release_id,
            task_token,
        } => {
            enqueue(deps, &release_id, task_token).await?;
            dispatch(deps, &deps.config.service.name).await
        }
        Input::Open {} => {
            // The window's daily opening and the end of every release are where a process
            // that died mid-operation (a decision recorded but not handed on, a release
            // without its execution) is caught up, on AWS as locally.
            if let Err(err) = releases::resume_interrupted(deps).await {
                tracing::warn!(error = %err, "could not resume interrupted releases");
            }
            dispatch(deps, &deps.config.service.name).await
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

/// Lets the first release in `service`'s queue through if it may start now.
pub async fn dispatch(deps: &Deps, service: &ServiceName) -> Result<Output, GateError> {
    let now = deps.now();
    let mut queue = deps.store.window_queue(service).await?;
    queue.retain(|r| r.window_token.is_some());
    // Never below what serves: a release that fell behind a newer one that shipped ends.
    if let Some(serving) = deps.store.last_released(service).await? {
        let (stale, fresh): (Vec<Release>, Vec<Release>) = queue
            .into_iter()
            .partition(|r| order::is_stale(r, Some(&serving)));
        for release in stale {
            order::supersede(deps, release, &serving).await?;
        }
        queue = fresh;
    }
    // Hotfixes allowed to bypass the window go first; then first come, first served.
    queue.sort_by_key(|r| (bypass(&deps.config, r).is_err(), r.queued_at));
    let Some(mut first) = queue.into_iter().next() else {
        return Ok(Output::default());
    };
    let holder = deps.store.lock_holder(service, now).await?;
    if let Some(holder) = holder.filter(|h| *h != first.id) {
        note_once(
            deps,
            &mut first,
            format!("waiting: {holder} is deploying {service}"),
        )
        .await?;
        return Ok(Output::default());
    }
    let bypass_reason = bypass(&deps.config, &first).ok();
    let policy = WindowPolicy::new(&deps.config);
    let not_now = match bypass_reason {
        Some(_) => Ok(()),
        None => policy.may_start_at(now),
    };
    if let Err(why) = not_now {
        let next = policy.next_start(now).ok_or_else(|| {
            GateError::NoWindow(format!("no window fits within the horizon after {now}"))
        })?;
        deps.scheduler.wake_at(next).await?;
        let frozen = policy.freezes_between(now, next);
        let frozen = if frozen.is_empty() {
            String::new()
        } else {
            format!(" (windows before it are frozen: {})", frozen.join(", "))
        };
        note_once(
            deps,
            &mut first,
            format!("waiting for the window: {why}; next start {next}{frozen}"),
        )
        .await?;
        return Ok(Output {
            dispatched: None,
            next_check: Some(next),
        });
    }
    let lease = now + chrono::Duration::minutes(i64::from(deps.config.deploy.lock_lease_minutes));
    if let LockOutcome::HeldBy(holder) = deps
        .store
        .acquire_lock(service, &first.id, now, lease)
        .await?
    {
        note_once(
            deps,
            &mut first,
            format!("waiting: {holder} is deploying {service}"),
        )
        .await?;
        return Ok(Output::default());
    }
    let Some(token) = first.window_token.clone() else {
        return Ok(Output::default());
    };
    let detail = match &bypass_reason {
        Some(reason) => format!("hotfix bypasses the window: {reason}"),
        None => "window open; deploy may start".to_string(),
    };
    if let Some(reason) = &bypass_reason {
        for (n, message) in messages::bypass(&deps.config, &first, reason)
            .iter()
            .enumerate()
        {
            let key = format!("{}/bypass/{n}", first.id);
            deps.notifier.send_once(&key, message).await?;
        }
    }
    // The wait is resumed before the token is let go of: a dispatcher killed in between
    // leaves the token with the release, and the next one resumes it again (a token that
    // was already used is refused harmlessly) instead of losing it.
    match deps
        .tokens
        .succeed(
            &token,
            json!({ "deploy_at": now, "bypass": bypass_reason.is_some() }),
        )
        .await
    {
        Ok(()) | Err(WorkflowError::TaskTimedOut) => {}
        Err(other) => return Err(other.into()),
    }
    shipgate_crash::point("window.resumed");
    let first = deps
        .record(first, |r| {
            if r.window_token.take().is_some() {
                r.note(now, "window", "dispatched", detail.clone());
            }
        })
        .await?;
    info!(release_id = %first.id, bypass = bypass_reason.is_some(), "dispatched to deploy");
    Ok(Output {
        dispatched: Some(first.id),
        next_check: None,
    })
}

/// Records why a release waits, without repeating the same line on every wake-up.
async fn note_once(deps: &Deps, release: &mut Release, detail: String) -> Result<(), GateError> {
    if release
        .events
        .last()
        .is_some_and(|e| e.kind == "waiting" && e.detail == detail)
    {
        return Ok(());
    }
    release.note(deps.now(), "window", "waiting", detail);
    *release = deps.save(release).await?;
    Ok(())
}
