//! The rollback gate: back to the exact task definition recorded before the deploy (never
//! "revision − 1"), then the reverse migration if a migration ran. Reached from every gate
//! after deploy starts (the flow's `Catch`), from an alarm event, or by hand. Exactly once:
//! the move to `RollingBack` is a conditional write, so a second caller finds it done.

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::GateError;
use crate::gates::{CaughtError, Deps};
use crate::model::{Release, ReleaseId, ReleaseState};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub release_id: ReleaseId,
    /// What the flow caught, when it got here from a failing gate.
    #[serde(default)]
    pub error: Option<CaughtError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub state: ReleaseState,
    pub serving_task_definition: Option<String>,
}

#[tracing::instrument(skip(deps), fields(release_id = %input.release_id))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    let release = deps.load(&input.release_id).await?;
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
    Ok(Output {
        state: release.state,
        serving_task_definition: release.previous_task_definition,
    })
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

/// Rolls a live (or just succeeded) release back and records every step.
pub async fn roll_back(
    deps: &Deps,
    mut release: Release,
    actor: &str,
    why: &str,
) -> Result<Release, GateError> {
    let now = deps.now();
    if release.state != ReleaseState::RollingBack {
        release.outcome = Some(why.to_string());
        release.transition(ReleaseState::RollingBack, actor, why, now)?;
        release = deps.save(&release).await?;
    }
    if release.reversal_task_arn.is_none()
        && release.migration.as_ref().is_some_and(|m| !m.reversed)
        && claimer_working(deps, &release)
    {
        // Another rollback (the flow's or the alarm's) is starting the reverse migration:
        // leave the release to it, never run the reverse migration twice. The flow retries
        // this one; past the grace, the claim is resolved below (found by its tag, or its
        // claimer died before starting it).
        return Err(reversal_in_progress(&release));
    }
    let target = deps.target();
    let Some(previous) = release.previous_task_definition.clone() else {
        return finish(
            deps,
            release,
            ReleaseState::Failed,
            "no previous task definition was recorded",
        )
        .await;
    };
    if let Err(err) = deps.deployer.update_service(&target, &previous).await {
        let err = GateError::from(err);
        if err.error_type() == "Gate.Unavailable" {
            return Err(err);
        }
        return finish(
            deps,
            release,
            ReleaseState::Failed,
            &format!("could not restore {previous}: {err}"),
        )
        .await;
    }
    // Restoring again (a retry, a second rollback) changes nothing and is said once.
    if !release.events.iter().any(|e| e.kind == "restored") {
        release.note(
            deps.now(),
            actor,
            "restored",
            format!("service set back to {previous}"),
        );
        release = deps.save(&release).await?;
    }

    if let (None, Some(task_arn)) = (&release.migration, release.migration_task_arn.clone()) {
        // The deploy started the migration and never recorded how it ended (it timed out
        // waiting): learn it from the task, so a migration that ran is reversed.
        let outcome = deps
            .deployer
            .wait_task(&target, &task_arn, &deps.config.service.container)
            .await?;
        let detail = format!(
            "the migration task {task_arn} the deploy started exited with {}",
            outcome.exit_code
        );
        release = deps
            .record(release, |r| {
                r.record_migration(&outcome.task_arn, outcome.exit_code, deps.now());
                r.note(deps.now(), actor, "migration", detail.clone());
            })
            .await?;
    }

    let reverse = deps
        .config
        .service
        .migration
        .as_ref()
        .map(|m| m.reverse_command.clone());
    let migration_ran = release
        .migration
        .as_ref()
        .is_some_and(|m| m.exit_code == 0 && !m.reversed);
    if let (true, Some(command), Some(new)) =
        (migration_ran, reverse, release.new_task_definition.clone())
    {
        let container = &deps.config.service.container;
        let tag = release.id.task_tag("reverse-migration");
        let task_arn = match (&release.reversal_task_arn, release.reversal_started_at) {
            // Started by another rollback (the flow's or the alarm's), or by an earlier
            // attempt of this one: wait for that very task, never start another.
            (Some(task_arn), _) => task_arn.clone(),
            // Claimed by an attempt that died before recording the task: ECS knows it by
            // its tag if it was started.
            (None, Some(_)) => match deps.deployer.find_task(&target, &tag).await? {
                Some(task_arn) => {
                    release = deps
                        .record(release, |r| r.reversal_task_arn = Some(task_arn.clone()))
                        .await?;
                    task_arn
                }
                // The claimer is (or may be) about to start it: the flow retries this one.
                None if claimer_working(deps, &release) => {
                    return Err(reversal_in_progress(&release));
                }
                // The claimer died before starting it.
                None => {
                    let task_arn = deps
                        .deployer
                        .start_task(&target, &new, container, &command, &tag)
                        .await?;
                    release = deps
                        .record(release, |r| r.reversal_task_arn = Some(task_arn.clone()))
                        .await?;
                    task_arn
                }
            },
            (None, None) => {
                // Claimed with a conditional write before the task starts: of two
                // concurrent rollbacks, only one gets past this save.
                release.reversal_started_at = Some(deps.now());
                release.reversal_claimed_by = Some(deps.workers.this());
                release = deps.save(&release).await?;
                shipgate_crash::point("rollback.reversal-claimed");
                // The reverse migration needs the code that knows the migration: the new image.
                let task_arn = deps
                    .deployer
                    .start_task(&target, &new, container, &command, &tag)
                    .await?;
                shipgate_crash::point("rollback.reversal-started");
                release = deps
                    .record(release, |r| r.reversal_task_arn = Some(task_arn.clone()))
                    .await?;
                task_arn
            }
        };
        let outcome = deps
            .deployer
            .wait_task(&target, &task_arn, container)
            .await?;
        let command = command.join(" ");
        if outcome.exit_code != 0 {
            warn!(exit_code = outcome.exit_code, "reverse migration failed");
            return finish(
                deps,
                release,
                ReleaseState::Failed,
                &format!(
                    "reverse migration `{command}` exited with {}",
                    outcome.exit_code
                ),
            )
            .await;
        }
        let detail = format!("`{command}` exited with 0 ({})", outcome.task_arn);
        release = deps
            .record(release, |r| {
                if let Some(m) = r.migration.as_mut() {
                    m.reversed = true;
                }
                r.note(deps.now(), actor, "migration-reversed", detail.clone());
            })
            .await?;
    }
    info!(previous = %previous, "rolled back");
    let detail = format!("serving {previous} again");
    finish(deps, release, ReleaseState::RolledBack, &detail).await
}

/// How long a claimed reverse migration may go without a task before its claimer is taken
/// for dead (within the flow's retries of `Gate.Unavailable`).
const CLAIM_GRACE: chrono::Duration = chrono::Duration::seconds(30);

/// Whether whoever claimed the reverse migration may still be starting it: known to be
/// working, or unknown and within the grace a live claimer needs to start its task.
fn claimer_working(deps: &Deps, release: &Release) -> bool {
    let Some(claimed) = release.reversal_started_at else {
        return false;
    };
    match release
        .reversal_claimed_by
        .as_deref()
        .and_then(|w| deps.workers.gone(w))
    {
        Some(gone) => !gone,
        None => deps.now() - claimed < CLAIM_GRACE,
    }
}

fn reversal_in_progress(release: &Release) -> GateError {
    GateError::Unavailable {
        what: "the reverse migration".into(),
        source: format!(
            "claimed at {} by another rollback, whose task is not recorded yet",
            release
                .reversal_started_at
                .map(|t| t.to_string())
                .unwrap_or_default()
        )
        .into(),
    }
}

async fn finish(
    deps: &Deps,
    mut release: Release,
    to: ReleaseState,
    detail: &str,
) -> Result<Release, GateError> {
    // Another rollback of the same release may have finished meanwhile: on a conflict the
    // fresh record is taken, and a release already where this one was going is left so.
    let mut attempts = 0;
    let release = loop {
        if release.state == to {
            break release;
        }
        if to == ReleaseState::Failed {
            let outcome = format!(
                "rollback failed: {detail}; {}",
                release.outcome.clone().unwrap_or_default()
            );
            release.outcome = Some(outcome);
        }
        release.transition(to, "rollback", detail, deps.now())?;
        match deps.save(&release).await {
            Err(GateError::Conflict(..)) if attempts < 3 => {
                attempts += 1;
                release = deps.load(&release.id).await?;
            }
            other => break other?,
        }
    };
    if to == ReleaseState::Failed {
        return Err(GateError::RollbackFailed(detail.to_string()));
    }
    Ok(release)
}

/// An alarm went off (EventBridge "CloudWatch Alarm State Change"): roll back the release
/// that is live on the service, if any, and if the alarm is one of the watched ones.
/// Repeated deliveries find it already rolling back and do nothing.
pub async fn on_alarm(
    deps: &Deps,
    alarm: &str,
    reason: &str,
) -> Result<Option<Release>, GateError> {
    if !deps.config.monitor.alarms.iter().any(|a| a == alarm) {
        info!(alarm, "alarm is not one shipgate watches");
        return Ok(None);
    }
    let filter = crate::ports::ReleaseFilter {
        service: Some(deps.config.service.name.clone()),
        states: vec![
            ReleaseState::Deploying,
            ReleaseState::HealthChecking,
            ReleaseState::Monitoring,
        ],
    };
    let Some(live) = deps.store.list(&filter).await?.into_iter().next() else {
        info!(alarm, "no live release to roll back");
        return Ok(None);
    };
    let why = format!("alarm {alarm} in ALARM: {reason}");
    match roll_back(deps, live, "alarm", &why).await {
        Ok(release) => Ok(Some(release)),
        // Someone else (the flow, another delivery) moved it first: that rollback stands.
        Err(GateError::Conflict(..) | GateError::IllegalTransition(_)) => Ok(None),
        Err(other) => Err(other),
    }
}
