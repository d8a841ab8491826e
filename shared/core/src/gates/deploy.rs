//! The deploy gate. `start` records the exact task definition the service runs *before*
//! changing anything, registers a copy with the release's image, runs the migration if one
//! is configured, and updates the service. `status` is polled by the flow until the
//! deployment is stable (or has failed, or taken too long).

use chrono::Duration;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::deps::Deps;
use crate::error::{GateError, rolled_back_elsewhere, wrong_state};
use crate::messages;
use crate::model::{EventKind, pinned_image};
use crate::model::{Release, ReleaseId, ReleaseState};
use crate::ports::Rollout;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    Start { release_id: ReleaseId },
    Status { release_id: ReleaseId },
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub stable: bool,
    pub previous_task_definition: Option<String>,
    pub task_definition: Option<String>,
}

#[tracing::instrument(skip(deps))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    let (Input::Start { release_id } | Input::Status { release_id }) = &input;
    // A release to an environment before production runs with its configuration.
    let laid = deps.for_release(release_id);
    let deps = laid.as_ref();
    match input {
        Input::Start { release_id } => start(deps, &release_id).await,
        Input::Status { release_id } => status(deps, &release_id).await,
    }
}

async fn start(deps: &Deps, id: &ReleaseId) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    let target = deps.target();
    let service = &deps.config.service;
    if let Some(err) = rolled_back_elsewhere(&release) {
        return Err(err);
    }
    if release.state == ReleaseState::AwaitingWindow {
        // Before anything changes: what runs now is what a rollback returns to.
        let previous = deps.deployer.current_task_definition(&target).await?;
        // By digest: what is deployed is pinned by content (production's was pinned to
        // what staging ran when its evidence was read).
        if release.image_digest.is_none() {
            release.image_digest = deps.deployer.image_digest(&release.image).await?;
        }
        let now = deps.now();
        release.previous_task_definition = Some(previous.clone());
        release.deploy_started_at = Some(now);
        release.transition(
            ReleaseState::Deploying,
            "deploy",
            format!("deploying; the service ran {previous}"),
            now,
        )?;
        release = deps.save(&release).await?;
        shipgate_crash::point("deploy.started");
    } else if release.state != ReleaseState::Deploying {
        return Err(wrong_state(
            &release,
            "deploy starts only after the window gate",
        ));
    }
    // The ticket hears of the deploy (its comments follow the timeline, so a replay tells
    // the same).
    release = crate::ticket::keep(deps, release).await;
    // Once per release, also when a retry or a replay finds the deploy already started.
    if let Some(maintenance) = messages::maintenance(&deps.config, &release) {
        deps.notifier
            .send_once(&format!("{}/maintenance", release.id), &maintenance)
            .await?;
    }
    if let Some(change) = messages::deploy_change(&deps.config, &release, "started") {
        deps.notifier
            .send_once(&format!("{}/pagerduty/started", release.id), &change)
            .await?;
    }
    let previous = release.previous_task_definition.clone().ok_or_else(|| {
        wrong_state(
            &release,
            "deploying without a recorded previous task definition",
        )
    })?;
    let new = match release.new_task_definition.clone() {
        Some(existing) => existing,
        None => {
            let image = pinned_image(&release.image, release.image_digest.as_deref());
            let new = deps
                .deployer
                .register_with_image(&previous, &service.container, &image)
                .await?;
            release.new_task_definition = Some(new.clone());
            release.note(
                deps.now(),
                "deploy",
                EventKind::Registered,
                format!("registered {new} with image {image}"),
            );
            release = deps.save(&release).await?;
            new
        }
    };
    if let (Some(migration), None) = (&service.migration, &release.migration) {
        let command = migration.command.join(" ");
        let tag = release.id.task_tag("migrate");
        let task_arn = match (&release.migration_task_arn, release.migration_started_at) {
            // An earlier attempt started it (and timed out, or lost its wait): wait for
            // that very task, never start another.
            (Some(task_arn), _) => task_arn.clone(),
            // Claimed, but the task's ARN was never recorded: the attempt died between the
            // claim and the write. ECS knows the task by its tag if it started one.
            (None, Some(started)) => match deps.deployer.find_task(&target, &tag).await? {
                Some(task_arn) => {
                    release = record_started(deps, release, &command, &task_arn).await?;
                    task_arn
                }
                // Not started, and recent enough that ECS would still report it: start it.
                None if deps.now() - started < TASK_MEMORY => {
                    let task_arn =
                        start_migration(deps, &target, &new, &migration.command, &tag).await?;
                    release = record_started(deps, release, &command, &task_arn).await?;
                    task_arn
                }
                // Too long ago to tell: running it again could apply it twice, and rolling
                // it back blindly could undo what never ran. Stop; rollback restores the
                // service.
                None => return Err(GateError::MigrationOutcomeUnknown { command, started }),
            },
            (None, None) => {
                // Claimed with a conditional write before the task starts: of two
                // concurrent or retried deploys, only one gets past this save.
                release.migration_started_at = Some(deps.now());
                release = deps.save(&release).await?;
                shipgate_crash::point("deploy.migration-claimed");
                let task_arn =
                    start_migration(deps, &target, &new, &migration.command, &tag).await?;
                shipgate_crash::point("deploy.migration-started");
                release = record_started(deps, release, &command, &task_arn).await?;
                task_arn
            }
        };
        let outcome = deps
            .deployer
            .wait_task(&target, &task_arn, &service.container)
            .await?;
        // Recorded whatever else was written meanwhile (an alarm's rollback): a migration
        // that ran is never forgotten, or rollback would not reverse it.
        let detail = format!(
            "`{command}` exited with {} ({})",
            outcome.exit_code, outcome.task_arn
        );
        release = deps
            .record(release, |r| {
                r.record_migration(&outcome.task_arn, outcome.exit_code, deps.now());
                r.note(deps.now(), "deploy", EventKind::Migration, detail.clone());
            })
            .await?;
        if outcome.exit_code != 0 {
            return Err(GateError::MigrationFailed {
                command,
                exit_code: outcome.exit_code,
            });
        }
    }
    deps.deployer.update_service(&target, &new).await?;
    // A retried or replayed deploy updates the service to the same revision (nothing
    // changes) and says so once.
    if !release.events.iter().any(|e| e.kind == EventKind::Updated) {
        release.note(
            deps.now(),
            "deploy",
            EventKind::Updated,
            format!("service {} now deploying {new}", service.name),
        );
        deps.save(&release).await?;
    }
    info!(previous = %previous, new = %new, "service updated");
    Ok(Output {
        stable: false,
        previous_task_definition: Some(previous),
        task_definition: Some(new),
    })
}

async fn status(deps: &Deps, id: &ReleaseId) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    if let Some(err) = rolled_back_elsewhere(&release) {
        return Err(err);
    }
    let done = |release: &crate::model::Release| Output {
        stable: true,
        previous_task_definition: release.previous_task_definition.clone(),
        task_definition: release.new_task_definition.clone(),
    };
    match release.state {
        ReleaseState::Deploying => {}
        ReleaseState::HealthChecking | ReleaseState::Monitoring => return Ok(done(&release)),
        _ => {
            return Err(wrong_state(
                &release,
                "only a deploying release has a deployment to watch",
            ));
        }
    }
    let expected = release.new_task_definition.clone().unwrap_or_default();
    let status = deps.deployer.deployment_status(&deps.target()).await?;
    if status.task_definition != expected {
        return Err(GateError::NotStable(format!(
            "the service's primary deployment runs {}, not {expected}",
            status.task_definition
        )));
    }
    let now = deps.now();
    match status.rollout {
        Rollout::Completed => {
            let detail = format!(
                "deployment stable: {}/{} tasks running {expected}",
                status.running, status.desired
            );
            release.transition(ReleaseState::HealthChecking, "deploy", detail, now)?;
            let release = deps.save(&release).await?;
            Ok(done(&release))
        }
        Rollout::Failed => Err(GateError::NotStable(format!(
            "the deployment failed: {}",
            status.reason.unwrap_or_else(|| "no reason given".into())
        ))),
        Rollout::InProgress => {
            let started = release.deploy_started_at.unwrap_or(now);
            let limit = Duration::minutes(i64::from(deps.config.deploy.stability_timeout_minutes));
            if now - started > limit {
                return Err(GateError::NotStable(format!(
                    "not stable after {} minutes ({}/{} tasks running)",
                    deps.config.deploy.stability_timeout_minutes, status.running, status.desired
                )));
            }
            Ok(Output {
                stable: false,
                previous_task_definition: release.previous_task_definition,
                task_definition: release.new_task_definition,
            })
        }
    }
}

/// How long ECS keeps reporting a stopped task (at least an hour), so that a task that is
/// not found was never started.
const TASK_MEMORY: Duration = Duration::minutes(50);

async fn start_migration(
    deps: &Deps,
    target: &crate::ports::DeployTarget,
    task_definition: &str,
    command: &[String],
    tag: &str,
) -> Result<String, GateError> {
    Ok(deps
        .deployer
        .start_task(
            target,
            task_definition,
            &deps.config.service.container,
            command,
            tag,
        )
        .await?)
}

async fn record_started(
    deps: &Deps,
    release: Release,
    command: &str,
    task_arn: &str,
) -> Result<Release, GateError> {
    let started = format!("`{command}` started ({task_arn})");
    deps.record(release, |r| {
        r.migration_task_arn = Some(task_arn.to_string());
        r.note(
            deps.now(),
            "deploy",
            EventKind::MigrationStarted,
            started.clone(),
        );
    })
    .await
}
