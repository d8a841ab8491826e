//! The lane: one release at a time deploys a service. A release takes the lane when the
//! window lets it through, renews it while it is watched, and frees it when it ends; the
//! next release in the queue is then let through. The lane is a lock with a lease in the
//! release store, so a release whose process died does not hold it forever.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tracing::{info, warn};

use crate::deps::Deps;
use crate::error::GateError;
use crate::messages;
use crate::model::EventKind;
use crate::model::{Release, ReleaseId, ServiceName};
use crate::order;
use crate::policy::window::{WindowPolicy, bypass};
use crate::ports::{LockOutcome, WorkflowError};

/// What the window gate answers: whom the lane let through, and when it looks again.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Output {
    /// The release let through, if any.
    pub dispatched: Option<ReleaseId>,
    /// When the gate will look again, if a release is still waiting.
    pub next_check: Option<chrono::DateTime<chrono::Utc>>,
}

fn lease_from(deps: &Deps, now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::minutes(i64::from(deps.config.deploy.lock_lease_minutes))
}

/// Takes `service`'s lane for `release` (again, harmlessly, if it has it).
pub async fn take(
    deps: &Deps,
    service: &ServiceName,
    release: &ReleaseId,
) -> Result<LockOutcome, GateError> {
    let now = deps.now();
    Ok(deps
        .store
        .acquire_lock(service, release, now, lease_from(deps, now))
        .await?)
}

/// Keeps the lane while `release` is watched. Someone else holding it means the lease ran
/// out while nobody renewed it: said in the release's timeline, once, and in the log.
pub async fn renew(deps: &Deps, release: &mut Release) -> Result<(), GateError> {
    if let LockOutcome::HeldBy(other) = take(deps, &release.service, &release.id).await? {
        warn!(release_id = %release.id, holder = %other, "the lane was taken while monitoring");
        let detail = format!(
            "{other} took the lane of {} while this release was monitored (its lease ran out)",
            release.service
        );
        note_once(deps, release, "monitor", EventKind::Lane, detail).await?;
    }
    Ok(())
}

/// Frees `service`'s lane if `release` holds it.
pub async fn free(deps: &Deps, release: &Release) -> Result<bool, GateError> {
    Ok(deps
        .store
        .release_lock(&release.service, &release.id)
        .await?)
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
        wait_for(deps, &mut first, &holder, service).await?;
        return Ok(Output::default());
    }
    let bypass_reason = bypass(&deps.config, &first).ok();
    let policy = WindowPolicy::new(&deps.config);
    let not_now = match bypass_reason {
        Some(_) => Ok(()),
        // An environment without a window of its own deploys at once.
        None if !deps.config.window_applies() => Ok(()),
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
            "window",
            EventKind::Waiting,
            format!("waiting for the window: {why}; next start {next}{frozen}"),
        )
        .await?;
        return Ok(Output {
            dispatched: None,
            next_check: Some(next),
        });
    }
    if let LockOutcome::HeldBy(holder) = take(deps, service, &first.id).await? {
        wait_for(deps, &mut first, &holder, service).await?;
        return Ok(Output::default());
    }
    let Some(token) = first.window_token.clone() else {
        return Ok(Output::default());
    };
    let detail = match &bypass_reason {
        Some(reason) => format!("hotfix bypasses the window: {reason}"),
        None if !deps.config.window_applies() => format!(
            "{} has no window: deploy may start",
            deps.config.environment.as_deref().unwrap_or("production")
        ),
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
                r.note(now, "window", EventKind::Dispatched, detail.clone());
            }
        })
        .await?;
    info!(release_id = %first.id, bypass = bypass_reason.is_some(), "dispatched to deploy");
    Ok(Output {
        dispatched: Some(first.id),
        next_check: None,
    })
}

/// Notes (once) that `release` waits for `holder`, which is deploying `service`.
async fn wait_for(
    deps: &Deps,
    release: &mut Release,
    holder: &ReleaseId,
    service: &ServiceName,
) -> Result<(), GateError> {
    note_once(
        deps,
        release,
        "window",
        EventKind::Waiting,
        format!("waiting: {holder} is deploying {service}"),
    )
    .await
}

/// Records why a release waits, without repeating the same line on every wake-up.
async fn note_once(
    deps: &Deps,
    release: &mut Release,
    actor: &str,
    kind: EventKind,
    detail: String,
) -> Result<(), GateError> {
    if release
        .events
        .last()
        .is_some_and(|e| e.kind == kind && e.detail == detail)
    {
        return Ok(());
    }
    release.note(deps.now(), actor, kind, detail);
    *release = deps.save(release).await?;
    Ok(())
}
