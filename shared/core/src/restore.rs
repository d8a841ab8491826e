//! Rolling a release back: the service back to the exact task definition recorded before
//! the deploy (never "revision − 1"), the reverse migration if one ran, and the restore
//! verified before the release is `RolledBack`. Used by the rollback gate, by announce
//! (nothing is left running unannounced), by an alarm, and by a person's request.
//! Exactly once: the move to `RollingBack` is a conditional write, so a second caller
//! finds it done.

use tracing::{info, warn};

use crate::checks;
use crate::deps::Deps;
use crate::error::{GateError, wrong_state};
use crate::model::EventKind;
use crate::model::{Release, ReleaseState};
use crate::ports::Rollout;

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
    // The ticket hears of the rollback (its comments follow the timeline, so a replay
    // tells the same).
    release = crate::ticket::keep(deps, release).await;
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
    // Pointed back once: a second rollback (the flow's after the alarm's, a retry) leaves
    // the restore's rollout alone.
    let restored = release.events.iter().any(|e| e.kind == EventKind::Restored);
    if restored {
        info!(previous = %previous, "already pointed back");
    } else if let Err(err) = deps.deployer.update_service(&target, &previous).await {
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
    if !restored {
        release.note(
            deps.now(),
            actor,
            EventKind::Restored,
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
                r.note(deps.now(), actor, EventKind::Migration, detail.clone());
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
                r.note(
                    deps.now(),
                    actor,
                    EventKind::MigrationReversed,
                    detail.clone(),
                );
            })
            .await?;
    }
    info!(previous = %previous, "restored; the restore is verified next");
    Ok(release)
}

/// Whether the restore took: the service's primary deployment runs the previous task
/// definition, has settled, and the critical paths answer. Leaves the release
/// `RollingBack` while the rollout runs (the flow polls again), records `RolledBack` once
/// it is seen working, `Failed` when it failed or did not settle in time; failing health
/// checks are `HealthCheck.Failed`, retried by the flow and then ended by announce.
pub async fn verify(deps: &Deps, release: Release) -> Result<Release, GateError> {
    match release.state {
        ReleaseState::RollingBack => {}
        ReleaseState::RolledBack | ReleaseState::Failed => return Ok(release),
        _ => {
            return Err(wrong_state(
                &release,
                "only a release being rolled back has a restore to verify",
            ));
        }
    }
    let Some(restored_at) = release
        .events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Restored)
        .map(|e| e.at)
    else {
        // Another rollback is still pointing the service back: look again shortly.
        return Err(GateError::Unavailable {
            what: "the restore".into(),
            source: "the service has not been pointed back yet".into(),
        });
    };
    let previous = release.previous_task_definition.clone().unwrap_or_default();
    let status = deps.deployer.deployment_status(&deps.target()).await?;
    if status.task_definition != previous {
        let detail = format!(
            "the service's primary deployment runs {}, not the restored {previous}",
            status.task_definition
        );
        return finish(deps, release, ReleaseState::Failed, &detail).await;
    }
    let minutes = deps.config.deploy.stability_timeout_minutes;
    let late = deps.now() - restored_at > chrono::Duration::minutes(i64::from(minutes));
    match status.rollout {
        Rollout::Failed => {
            let detail = format!(
                "the restored deployment of {previous} failed: {}",
                status.reason.unwrap_or_else(|| "no reason given".into())
            );
            finish(deps, release, ReleaseState::Failed, &detail).await
        }
        Rollout::InProgress if late => {
            let detail = format!(
                "the restored deployment of {previous} was not stable after {minutes} minutes ({}/{} tasks running)",
                status.running, status.desired
            );
            finish(deps, release, ReleaseState::Failed, &detail).await
        }
        Rollout::InProgress => Ok(release),
        Rollout::Completed => {
            let checks = checks::probe_all(deps).await;
            if let Some(failed) = checks::failures(&checks) {
                let detail = format!("the restored {previous} is unhealthy: {failed}");
                let release = deps
                    .record(release, |r| {
                        r.note(deps.now(), "rollback", EventKind::Unhealthy, detail.clone())
                    })
                    .await?;
                warn!(release_id = %release.id, "restored deployment unhealthy");
                return Err(GateError::HealthCheckFailed(detail));
            }
            info!(previous = %previous, "rolled back and verified");
            let detail = format!(
                "serving {previous} again: {}/{} tasks stable, {} critical path(s) healthy",
                status.running,
                status.desired,
                checks.len()
            );
            finish(deps, release, ReleaseState::RolledBack, &detail).await
        }
    }
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
