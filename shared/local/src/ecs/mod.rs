//! `SimulatedEcs`: an Amazon ECS cluster simulated in the shared SQLite file — the local
//! stand-in for `UpdateService` / `RunTask`.
//!
//! It keeps what the deploy and rollback gates look at: task-definition revisions (with
//! real-looking ARNs and a JSON body of `containerDefinitions`), services and their
//! deployments, and one-off tasks. Time comes from a [`Clock`], so a rollout that takes
//! three minutes passes in no time on a virtual clock:
//!
//! - `update_service` starts a new PRIMARY deployment, `IN_PROGRESS` until
//!   `created_at + rollout_seconds`; then it settles once, to `COMPLETED`, or `FAILED` when
//!   the deployed image's version is marked to fail stability. A deployment replaced
//!   before it finished never completes (`INACTIVE`).
//! - What answers traffic ([`SimulatedEcs::serving`]) is the newest completed deployment:
//!   the primary once it completed, the previous one until then (or after a failure).
//! - [`Faults`] are keyed by image version tag and stored in a table, so `shipgate` in
//!   another process can make a version fail its rollout, a health path, an alarm, the
//!   metrics, or its (reverse) migration.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shipgate_core::ports::{
    Clock, DeployError, DeployTarget, Deployer, DeploymentStatus, Rollout, TaskOutcome,
};

use crate::db::{Db, DbError, parse_ts, ts};

/// The account and region every simulated ARN names.
pub const ARN_PREFIX: &str = "arn:aws:ecs:us-east-1:123456789012";
/// How long a simulated rollout takes unless configured otherwise.
pub const DEFAULT_ROLLOUT_SECONDS: u32 = 180;
/// How many tasks a simulated service runs unless configured otherwise.
pub const DEFAULT_DESIRED_COUNT: u32 = 2;
/// The reason a deployment of a version marked `fail_stability` fails with.
pub const STABILITY_FAILURE: &str = "tasks failed to start: essential container exited";

const COMPLETED: &str = "COMPLETED";
const FAILED: &str = "FAILED";
const INACTIVE: &str = "INACTIVE";

/// What can go wrong with a version, keyed by its image tag (`1.3.0`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Its rollout ends `FAILED` instead of `COMPLETED`.
    pub fail_stability: bool,
    /// This path of the demo service answers 500 while the version serves (`/apply`).
    pub failing_path: Option<String>,
    /// This alarm goes to ALARM this many minutes after the version starts serving.
    pub alarm_after_minutes: Option<(String, u32)>,
    /// Exit code of the forward migration run from this version (0 when unset).
    pub migration_exit_code: Option<i32>,
    /// Exit code of the reverse migration run from this version (0 when unset).
    pub reverse_migration_exit_code: Option<i32>,
    /// Share of 5xx responses while the version serves.
    pub error_rate: Option<f64>,
    pub p99_latency_ms: Option<f64>,
}

impl Faults {
    pub fn is_empty(&self) -> bool {
        self == &Faults::default()
    }
}

/// A registered task-definition revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: u32,
    /// `{"family", "containerDefinitions": [{"name", "image", "command", ...}], "cpu", "memory", ...}`
    pub body: Value,
    pub registered_at: DateTime<Utc>,
}

impl TaskDefinition {
    /// The image of the named container.
    pub fn image_of(&self, container: &str) -> Option<&str> {
        containers(&self.body)
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
            .and_then(|c| c.get("image"))
            .and_then(Value::as_str)
    }

    /// The image of the first container.
    pub fn first_image(&self) -> Option<&str> {
        containers(&self.body)
            .first()
            .and_then(|c| c.get("image"))
            .and_then(Value::as_str)
    }
}

fn containers(body: &Value) -> &[Value] {
    body.get("containerDefinitions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// What actually answers a service's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServingInfo {
    pub task_definition: String,
    pub image: String,
    /// The image tag (`1.3.0`), which [`Faults`] are keyed by.
    pub version_tag: String,
    /// When it started answering: the end of its rollout.
    pub deployed_at: DateTime<Utc>,
}

/// A one-off task that ran (a migration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTaskRecord {
    pub task_arn: String,
    pub task_definition: String,
    pub container: String,
    pub command: Vec<String>,
    pub exit_code: i32,
    pub at: DateTime<Utc>,
}

/// The tag of an image reference: what follows the last `:` (`repo:1.3.0` → `1.3.0`);
/// `latest` when the reference has no tag (a `:` before a `/` is a registry port).
pub fn version_tag(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') && !tag.is_empty() => tag.to_string(),
        _ => "latest".to_string(),
    }
}

/// The ARN of revision `revision` of `family`.
pub fn task_definition_arn(family: &str, revision: u32) -> String {
    format!("{ARN_PREFIX}:task-definition/{family}:{revision}")
}

/// The simulated cluster (see the module documentation).
pub struct SimulatedEcs {
    db: Arc<Db>,
    clock: Arc<dyn Clock>,
    rollout_seconds: u32,
    desired_count: u32,
    reverse_commands: Vec<Vec<String>>,
}

impl std::fmt::Debug for SimulatedEcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedEcs")
            .field("rollout_seconds", &self.rollout_seconds)
            .field("desired_count", &self.desired_count)
            .finish_non_exhaustive()
    }
}

fn unavailable(err: impl Into<DbError>) -> DeployError {
    DeployError::Unavailable(Box::new(err.into()))
}

#[derive(Debug, Clone)]
struct DeploymentRow {
    id: i64,
    task_definition: String,
    created_at: DateTime<Utc>,
    ready_at: DateTime<Utc>,
    outcome: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    InProgress,
    Completed,
    Failed,
    Inactive,
}

impl SimulatedEcs {
    /// A cluster over `db` on `clock`, with rollouts of [`DEFAULT_ROLLOUT_SECONDS`] and
    /// [`DEFAULT_DESIRED_COUNT`] tasks per service.
    pub fn new(db: Arc<Db>, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            rollout_seconds: DEFAULT_ROLLOUT_SECONDS,
            desired_count: DEFAULT_DESIRED_COUNT,
            reverse_commands: Vec::new(),
        }
    }

    /// How long new deployments take to roll out (each deployment keeps the duration it
    /// started with).
    pub fn with_rollout_seconds(mut self, seconds: u32) -> Self {
        self.rollout_seconds = seconds;
        self
    }

    pub fn with_desired_count(mut self, count: u32) -> Self {
        self.desired_count = count.max(1);
        self
    }

    /// Names the reverse-migration command, so `run_task` knows which fault applies
    /// (`reverse_migration_exit_code` for it, `migration_exit_code` for anything else).
    /// Without it, a command with a word like `downgrade`, `rollback`, `reverse` or `down`
    /// counts as the reverse migration.
    pub fn with_reverse_command(mut self, command: Vec<String>) -> Self {
        self.reverse_commands.push(command);
        self
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn is_reverse(&self, command: &[String]) -> bool {
        if !self.reverse_commands.is_empty() {
            return self
                .reverse_commands
                .iter()
                .any(|c| c.as_slice() == command);
        }
        command.iter().any(|word| {
            let word = word.to_ascii_lowercase();
            ["downgrade", "rollback", "reverse", "down", "revert", "undo"].contains(&word.as_str())
        })
    }

    // ---------------------------------------------------------------------------------
    // Task definitions

    /// Registers the next revision of `family` with `body` (its `family` field is set to
    /// `family`); returns the new ARN. The body needs a `containerDefinitions` array.
    pub fn register_task_definition(
        &self,
        family: &str,
        body: Value,
    ) -> Result<String, DeployError> {
        if family.is_empty() || family.contains(':') || family.contains('/') {
            return Err(DeployError::Refused(format!(
                "`{family}` is not a task definition family"
            )));
        }
        if !body
            .get("containerDefinitions")
            .is_some_and(Value::is_array)
        {
            return Err(DeployError::Refused(
                "a task definition needs a containerDefinitions array".into(),
            ));
        }
        let now = self.clock.now();
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let arn = insert_next_revision(&tx, family, body, now)?;
            tx.commit().map_err(unavailable)?;
            Ok(arn)
        })
    }

    /// A task definition by ARN, `family:revision` or `family` (its latest revision).
    pub fn task_definition(&self, reference: &str) -> Result<Option<TaskDefinition>, DeployError> {
        self.db
            .with_conn(|conn| load_task_definition(conn, reference))
    }

    /// The image of the first container of a task definition.
    pub fn task_definition_image(&self, reference: &str) -> Result<Option<String>, DeployError> {
        Ok(self
            .task_definition(reference)?
            .and_then(|td| td.first_image().map(str::to_string)))
    }

    /// Every revision of `family`, oldest first.
    pub fn revisions(&self, family: &str) -> Result<Vec<TaskDefinition>, DeployError> {
        self.db.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT arn, family, revision, body, registered_at FROM ecs_task_definitions
                     WHERE family = ?1 ORDER BY revision",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([family], task_definition_row)
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(decode_task_definition(row.map_err(unavailable)?)?);
            }
            Ok(out)
        })
    }

    // ---------------------------------------------------------------------------------
    // Services

    /// Creates `service` in `cluster`, running `image` in `container` as revision
    /// `revision` of `family`, already stable — unless the service exists, in which case
    /// nothing changes. Returns the task definition the service runs.
    pub fn seed_service(
        &self,
        cluster: &str,
        service: &str,
        family: &str,
        container: &str,
        image: &str,
        revision: u32,
    ) -> Result<String, DeployError> {
        let now = self.clock.now();
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            if service_container(&tx, cluster, service)?.is_some() {
                let primary = primary_deployment(&tx, cluster, service)?;
                return primary
                    .map(|d| d.task_definition)
                    .ok_or_else(|| DeployError::Refused(format!("service {service} has no deployment")));
            }
            let arn = task_definition_arn(family, revision);
            if load_task_definition(&tx, &arn)?.is_none() {
                let body = default_body(family, container, image, service);
                insert_revision(&tx, family, revision, &body, now)?;
            }
            tx.execute(
                "INSERT INTO ecs_services (cluster, name, container, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![cluster, service, container, ts(now)],
            )
            .map_err(unavailable)?;
            tx.execute(
                "INSERT INTO ecs_deployments (cluster, service, task_definition, created_at, ready_at, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                params![cluster, service, arn, ts(now), COMPLETED],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(arn)
        })
    }

    /// What answers the service's traffic now: the primary deployment once completed,
    /// otherwise the newest earlier one that completed. `None` for an unknown service.
    pub fn serving(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<ServingInfo>, DeployError> {
        let now = self.clock.now();
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let Some(container) = service_container(&tx, cluster, service)? else {
                return Ok(None);
            };
            // Deployments that became ready are settled first; what serves is then the
            // newest that completed (the primary once it has).
            for deployment in unsettled_deployments(&tx, cluster, service)? {
                settle(&tx, &deployment, now)?;
            }
            let mut found = None;
            if let Some(deployment) = newest_completed(&tx, cluster, service)? {
                let td =
                    load_task_definition(&tx, &deployment.task_definition)?.ok_or_else(|| {
                        DeployError::TaskDefinitionNotFound(deployment.task_definition.clone())
                    })?;
                let image = td
                    .image_of(&container)
                    .or_else(|| td.first_image())
                    .unwrap_or_default()
                    .to_string();
                found = Some(ServingInfo {
                    task_definition: deployment.task_definition.clone(),
                    version_tag: version_tag(&image),
                    image,
                    deployed_at: deployment.ready_at,
                });
            }
            tx.commit().map_err(unavailable)?;
            Ok(found)
        })
    }

    /// The one-off tasks run for the service, oldest first.
    pub fn tasks_run(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Vec<RunTaskRecord>, DeployError> {
        self.db.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT task_arn, task_definition, container, command, exit_code, at FROM ecs_tasks
                     WHERE cluster = ?1 AND service = ?2 ORDER BY at, rowid",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([cluster, service], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i32>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (task_arn, task_definition, container, command, exit_code, at) = row.map_err(unavailable)?;
                out.push(RunTaskRecord {
                    task_arn,
                    task_definition,
                    container,
                    command: serde_json::from_str(&command).map_err(unavailable)?,
                    exit_code,
                    at: parse_ts(&at).map_err(unavailable)?,
                });
            }
            Ok(out)
        })
    }

    // ---------------------------------------------------------------------------------
    // Faults

    /// Sets what goes wrong with `version_tag`; default faults clear them.
    pub fn set_faults(&self, version_tag: &str, faults: Faults) -> Result<(), DeployError> {
        let text = serde_json::to_string(&faults).map_err(unavailable)?;
        self.db.with_conn(|conn| {
            if faults.is_empty() {
                conn.execute(
                    "DELETE FROM ecs_faults WHERE version_tag = ?1",
                    [version_tag],
                )
            } else {
                conn.execute(
                    "INSERT INTO ecs_faults (version_tag, faults) VALUES (?1, ?2)
                     ON CONFLICT (version_tag) DO UPDATE SET faults = excluded.faults",
                    params![version_tag, text],
                )
            }
            .map_err(unavailable)
        })?;
        Ok(())
    }

    /// What goes wrong with `version_tag` (nothing, unless set).
    pub fn faults(&self, version_tag: &str) -> Result<Faults, DeployError> {
        self.db.with_conn(|conn| load_faults(conn, version_tag))
    }

    /// Every version with faults set.
    pub fn all_faults(&self) -> Result<BTreeMap<String, Faults>, DeployError> {
        self.db.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT version_tag, faults FROM ecs_faults ORDER BY version_tag")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(unavailable)?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (tag, text) = row.map_err(unavailable)?;
                out.insert(tag, serde_json::from_str(&text).map_err(unavailable)?);
            }
            Ok(out)
        })
    }

    fn status(&self, target: &DeployTarget) -> Result<DeploymentStatus, DeployError> {
        let now = self.clock.now();
        let desired = self.desired_count;
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            require_service(&tx, target)?;
            let primary =
                primary_deployment(&tx, &target.cluster, &target.service)?.ok_or_else(|| {
                    DeployError::Refused(format!("service {} has no deployment", target.service))
                })?;
            let phase = settle(&tx, &primary, now)?;
            let failing = phase == Phase::InProgress
                && faults_of_task_definition(&tx, &primary.task_definition)?.fail_stability;
            tx.commit().map_err(unavailable)?;
            let status = match phase {
                Phase::Completed => DeploymentStatus {
                    task_definition: primary.task_definition,
                    rollout: Rollout::Completed,
                    running: desired,
                    desired,
                    reason: None,
                },
                Phase::Failed | Phase::Inactive => DeploymentStatus {
                    task_definition: primary.task_definition,
                    rollout: Rollout::Failed,
                    running: 0,
                    desired,
                    reason: Some(STABILITY_FAILURE.to_string()),
                },
                Phase::InProgress => {
                    let running = if failing {
                        0
                    } else {
                        let total = (primary.ready_at - primary.created_at)
                            .num_milliseconds()
                            .max(1);
                        let elapsed = (now - primary.created_at)
                            .num_milliseconds()
                            .clamp(0, total);
                        let grown = i64::from(desired) * elapsed / total;
                        u32::try_from(grown)
                            .unwrap_or(0)
                            .min(desired.saturating_sub(1))
                    };
                    DeploymentStatus {
                        task_definition: primary.task_definition,
                        rollout: Rollout::InProgress,
                        running,
                        desired,
                        reason: None,
                    }
                }
            };
            Ok(status)
        })
    }
}

mod rows;
use rows::*;
mod deployer;

#[cfg(test)]
mod tests;
