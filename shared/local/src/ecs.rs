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

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ecs_task_definitions (
    arn           TEXT PRIMARY KEY NOT NULL,
    family        TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    body          TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    UNIQUE (family, revision)
);
CREATE TABLE IF NOT EXISTS ecs_services (
    cluster    TEXT NOT NULL,
    name       TEXT NOT NULL,
    container  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (cluster, name)
);
CREATE TABLE IF NOT EXISTS ecs_deployments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster         TEXT NOT NULL,
    service         TEXT NOT NULL,
    task_definition TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    ready_at        TEXT NOT NULL,
    outcome         TEXT
);
CREATE INDEX IF NOT EXISTS ecs_deployments_by_service ON ecs_deployments (cluster, service, id);
CREATE TABLE IF NOT EXISTS ecs_tasks (
    task_arn        TEXT PRIMARY KEY NOT NULL,
    cluster         TEXT NOT NULL,
    service         TEXT NOT NULL,
    task_definition TEXT NOT NULL,
    container       TEXT NOT NULL,
    command         TEXT NOT NULL,
    exit_code       INTEGER NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ecs_tasks_by_service ON ecs_tasks (cluster, service, at);
CREATE TABLE IF NOT EXISTS ecs_faults (
    version_tag TEXT PRIMARY KEY NOT NULL,
    faults      TEXT NOT NULL
);
";

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
            let mut found = None;
            for deployment in deployments(&tx, cluster, service)? {
                if settle(&tx, &deployment, now)? != Phase::Completed {
                    continue;
                }
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
                break;
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

fn default_body(family: &str, container: &str, image: &str, service: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": container,
            "image": image,
            "essential": true,
            "command": [],
            "portMappings": [{ "containerPort": 8080, "protocol": "tcp" }],
            "environment": [{ "name": "SERVICE", "value": service }]
        }]
    })
}

type TaskDefinitionRow = (String, String, i64, String, String);

fn task_definition_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskDefinitionRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn decode_task_definition(
    (arn, family, revision, body, at): TaskDefinitionRow,
) -> Result<TaskDefinition, DeployError> {
    Ok(TaskDefinition {
        arn,
        family,
        revision: u32::try_from(revision).map_err(|_| {
            unavailable(DbError::OutOfRange(format!(
                "task definition revision {revision}"
            )))
        })?,
        body: serde_json::from_str(&body).map_err(unavailable)?,
        registered_at: parse_ts(&at).map_err(unavailable)?,
    })
}

fn load_task_definition(
    conn: &Connection,
    reference: &str,
) -> Result<Option<TaskDefinition>, DeployError> {
    const COLUMNS: &str =
        "SELECT arn, family, revision, body, registered_at FROM ecs_task_definitions";
    let row = if reference.starts_with("arn:") {
        conn.query_row(
            &format!("{COLUMNS} WHERE arn = ?1"),
            [reference],
            task_definition_row,
        )
    } else if let Some((family, revision)) = reference.rsplit_once(':') {
        let Ok(revision) = revision.parse::<u32>() else {
            return Ok(None);
        };
        conn.query_row(
            &format!("{COLUMNS} WHERE family = ?1 AND revision = ?2"),
            params![family, revision],
            task_definition_row,
        )
    } else {
        conn.query_row(
            &format!("{COLUMNS} WHERE family = ?1 ORDER BY revision DESC LIMIT 1"),
            [reference],
            task_definition_row,
        )
    };
    row.optional()
        .map_err(unavailable)?
        .map(decode_task_definition)
        .transpose()
}

fn insert_revision(
    conn: &Connection,
    family: &str,
    revision: u32,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<String, DeployError> {
    let arn = task_definition_arn(family, revision);
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        object.insert("family".into(), Value::String(family.to_string()));
    }
    let text = serde_json::to_string(&body).map_err(unavailable)?;
    conn.execute(
        "INSERT INTO ecs_task_definitions (arn, family, revision, body, registered_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![arn, family, revision, text, ts(now)],
    )
    .map_err(unavailable)?;
    Ok(arn)
}

fn insert_next_revision(
    conn: &Connection,
    family: &str,
    body: Value,
    now: DateTime<Utc>,
) -> Result<String, DeployError> {
    let latest: Option<i64> = conn
        .query_row(
            "SELECT MAX(revision) FROM ecs_task_definitions WHERE family = ?1",
            [family],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    let next = latest.unwrap_or(0) + 1;
    let next = u32::try_from(next)
        .map_err(|_| unavailable(DbError::OutOfRange(format!("revision {next}"))))?;
    insert_revision(conn, family, next, &body, now)
}

fn load_faults(conn: &Connection, version_tag: &str) -> Result<Faults, DeployError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT faults FROM ecs_faults WHERE version_tag = ?1",
            [version_tag],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    match text {
        Some(text) => serde_json::from_str(&text).map_err(unavailable),
        None => Ok(Faults::default()),
    }
}

/// The faults of the version `task_definition` runs (by its first container's image).
fn faults_of_task_definition(
    conn: &Connection,
    task_definition: &str,
) -> Result<Faults, DeployError> {
    let td = load_task_definition(conn, task_definition)?
        .ok_or_else(|| DeployError::TaskDefinitionNotFound(task_definition.to_string()))?;
    let images: Vec<String> = containers(&td.body)
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .map(version_tag)
        .collect();
    for tag in images {
        let faults = load_faults(conn, &tag)?;
        if !faults.is_empty() {
            return Ok(faults);
        }
    }
    Ok(Faults::default())
}

fn service_container(
    conn: &Connection,
    cluster: &str,
    service: &str,
) -> Result<Option<String>, DeployError> {
    conn.query_row(
        "SELECT container FROM ecs_services WHERE cluster = ?1 AND name = ?2",
        [cluster, service],
        |r| r.get(0),
    )
    .optional()
    .map_err(unavailable)
}

fn require_service(conn: &Connection, target: &DeployTarget) -> Result<String, DeployError> {
    service_container(conn, &target.cluster, &target.service)?.ok_or_else(|| {
        DeployError::ServiceNotFound {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
        }
    })
}

fn deployment_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, String, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn decode_deployment(
    (id, task_definition, created_at, ready_at, outcome): (
        i64,
        String,
        String,
        String,
        Option<String>,
    ),
) -> Result<DeploymentRow, DeployError> {
    Ok(DeploymentRow {
        id,
        task_definition,
        created_at: parse_ts(&created_at).map_err(unavailable)?,
        ready_at: parse_ts(&ready_at).map_err(unavailable)?,
        outcome,
    })
}

/// The service's deployments, newest (the primary) first.
fn deployments(
    conn: &Connection,
    cluster: &str,
    service: &str,
) -> Result<Vec<DeploymentRow>, DeployError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, task_definition, created_at, ready_at, outcome FROM ecs_deployments
             WHERE cluster = ?1 AND service = ?2 ORDER BY id DESC",
        )
        .map_err(unavailable)?;
    let rows = stmt
        .query_map([cluster, service], deployment_row)
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode_deployment(row.map_err(unavailable)?)?);
    }
    Ok(out)
}

fn primary_deployment(
    conn: &Connection,
    cluster: &str,
    service: &str,
) -> Result<Option<DeploymentRow>, DeployError> {
    conn.query_row(
        "SELECT id, task_definition, created_at, ready_at, outcome FROM ecs_deployments
         WHERE cluster = ?1 AND service = ?2 ORDER BY id DESC LIMIT 1",
        [cluster, service],
        deployment_row,
    )
    .optional()
    .map_err(unavailable)?
    .map(decode_deployment)
    .transpose()
}

fn phase_of(outcome: &str) -> Phase {
    match outcome {
        COMPLETED => Phase::Completed,
        FAILED => Phase::Failed,
        _ => Phase::Inactive,
    }
}

/// The deployment's phase at `now`. Once its rollout time has passed it settles, once and
/// for good, by the faults of that moment (a fault set later does not undo a rollout).
fn settle(
    conn: &Connection,
    deployment: &DeploymentRow,
    now: DateTime<Utc>,
) -> Result<Phase, DeployError> {
    if let Some(outcome) = &deployment.outcome {
        return Ok(phase_of(outcome));
    }
    if now < deployment.ready_at {
        return Ok(Phase::InProgress);
    }
    let outcome = if faults_of_task_definition(conn, &deployment.task_definition)?.fail_stability {
        FAILED
    } else {
        COMPLETED
    };
    conn.execute(
        "UPDATE ecs_deployments SET outcome = ?1 WHERE id = ?2 AND outcome IS NULL",
        params![outcome, deployment.id],
    )
    .map_err(unavailable)?;
    let stored: Option<String> = conn
        .query_row(
            "SELECT outcome FROM ecs_deployments WHERE id = ?1",
            [deployment.id],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    Ok(stored.as_deref().map_or(Phase::InProgress, phase_of))
}

fn new_task_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[async_trait]
impl Deployer for SimulatedEcs {
    async fn current_task_definition(&self, target: &DeployTarget) -> Result<String, DeployError> {
        self.db.with_conn(|conn| {
            require_service(conn, target)?;
            primary_deployment(conn, &target.cluster, &target.service)?
                .map(|d| d.task_definition)
                .ok_or_else(|| {
                    DeployError::Refused(format!("service {} has no deployment", target.service))
                })
        })
    }

    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String, DeployError> {
        let now = self.clock.now();
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let base_td = load_task_definition(&tx, base)?
                .ok_or_else(|| DeployError::TaskDefinitionNotFound(base.to_string()))?;
            let mut body = base_td.body.clone();
            let entry = body
                .get_mut("containerDefinitions")
                .and_then(Value::as_array_mut)
                .and_then(|defs| {
                    defs.iter_mut()
                        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
                })
                .and_then(Value::as_object_mut)
                .ok_or_else(|| DeployError::ContainerNotFound {
                    container: container.to_string(),
                    task_definition: base_td.arn.clone(),
                })?;
            entry.insert("image".into(), Value::String(image.to_string()));
            let arn = insert_next_revision(&tx, &base_td.family, body, now)?;
            tx.commit().map_err(unavailable)?;
            Ok(arn)
        })
    }

    async fn update_service(
        &self,
        target: &DeployTarget,
        task_definition: &str,
    ) -> Result<(), DeployError> {
        let now = self.clock.now();
        let ready_at = now + Duration::seconds(i64::from(self.rollout_seconds));
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            require_service(&tx, target)?;
            let td = load_task_definition(&tx, task_definition)?
                .ok_or_else(|| DeployError::TaskDefinitionNotFound(task_definition.to_string()))?;
            if let Some(primary) = primary_deployment(&tx, &target.cluster, &target.service)? {
                if primary.task_definition == td.arn {
                    // Nothing changes (UpdateService without forceNewDeployment).
                    return Ok(());
                }
                // The old primary settles now; if its rollout had not finished it never will.
                if settle(&tx, &primary, now)? == Phase::InProgress {
                    tx.execute(
                        "UPDATE ecs_deployments SET outcome = ?1 WHERE id = ?2 AND outcome IS NULL",
                        params![INACTIVE, primary.id],
                    )
                    .map_err(unavailable)?;
                }
            }
            tx.execute(
                "INSERT INTO ecs_deployments (cluster, service, task_definition, created_at, ready_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![target.cluster, target.service, td.arn, ts(now), ts(ready_at)],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
    }

    async fn deployment_status(
        &self,
        target: &DeployTarget,
    ) -> Result<DeploymentStatus, DeployError> {
        self.status(target)
    }

    async fn start_task(
        &self,
        target: &DeployTarget,
        task_definition: &str,
        container: &str,
        command: &[String],
    ) -> Result<String, DeployError> {
        let now = self.clock.now();
        let reverse = self.is_reverse(command);
        let command_text = serde_json::to_string(command).map_err(unavailable)?;
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            require_service(&tx, target)?;
            let td = load_task_definition(&tx, task_definition)?
                .ok_or_else(|| DeployError::TaskDefinitionNotFound(task_definition.to_string()))?;
            let image = td.image_of(container).ok_or_else(|| DeployError::ContainerNotFound {
                container: container.to_string(),
                task_definition: td.arn.clone(),
            })?;
            let faults = load_faults(&tx, &version_tag(image))?;
            let exit_code = if reverse {
                faults.reverse_migration_exit_code
            } else {
                faults.migration_exit_code
            }
            .unwrap_or(0);
            let task_arn = format!("{ARN_PREFIX}:task/{}/{}", target.cluster, new_task_id());
            tx.execute(
                "INSERT INTO ecs_tasks (task_arn, cluster, service, task_definition, container, command, exit_code, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![task_arn, target.cluster, target.service, td.arn, container, command_text, exit_code, ts(now)],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(task_arn)
        })
    }

    /// A simulated task has exited by the time anyone asks.
    async fn wait_task(
        &self,
        target: &DeployTarget,
        task_arn: &str,
        _container: &str,
    ) -> Result<TaskOutcome, DeployError> {
        self.db.with_conn(|conn| {
            let exit_code: Option<i32> = conn
                .query_row(
                    "SELECT exit_code FROM ecs_tasks WHERE task_arn = ?1 AND cluster = ?2",
                    params![task_arn, target.cluster],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            let exit_code =
                exit_code.ok_or_else(|| DeployError::Refused(format!("no task {task_arn}")))?;
            Ok(TaskOutcome {
                task_arn: task_arn.to_string(),
                exit_code,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::{TestClock, time};

    const CLUSTER: &str = "roleferry-prod";
    const SERVICE: &str = "api";
    const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/roleferry-api";

    fn target() -> DeployTarget {
        DeployTarget {
            cluster: CLUSTER.into(),
            service: SERVICE.into(),
        }
    }

    fn seeded() -> (SimulatedEcs, Arc<TestClock>, String) {
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let ecs = SimulatedEcs::new(Db::open_in_memory().unwrap(), clock.clone());
        let arn = ecs
            .seed_service(
                CLUSTER,
                SERVICE,
                "roleferry-api",
                "api",
                &format!("{IMAGE}:1.2.0"),
                41,
            )
            .unwrap();
        (ecs, clock, arn)
    }

    fn two_container_body() -> Value {
        json!({
            "cpu": "512",
            "memory": "1024",
            "networkMode": "awsvpc",
            "containerDefinitions": [
                { "name": "api", "image": "repo/api:1.0.0", "command": ["serve", "--port", "8080"], "essential": true,
                  "environment": [{ "name": "MODE", "value": "prod" }] },
                { "name": "log-router", "image": "repo/fluent-bit:2.1", "essential": false }
            ]
        })
    }

    #[test]
    fn given_image_references_when_tagged_then_the_version_is_after_the_last_colon() {
        assert_eq!(version_tag(&format!("{IMAGE}:1.3.0")), "1.3.0");
        assert_eq!(version_tag("localhost:5000/api:2.0.1"), "2.0.1");
        assert_eq!(version_tag("localhost:5000/api"), "latest");
        assert_eq!(version_tag("api"), "latest");
    }

    #[tokio::test]
    async fn given_a_seeded_service_then_it_runs_the_exact_revision_and_serves_at_once() {
        let (ecs, clock, arn) = seeded();
        assert_eq!(
            arn,
            "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:41"
        );
        assert_eq!(ecs.current_task_definition(&target()).await.unwrap(), arn);
        let status = ecs.deployment_status(&target()).await.unwrap();
        assert_eq!(status.rollout, Rollout::Completed);
        assert_eq!((status.running, status.desired), (2, 2));
        let serving = ecs.serving(CLUSTER, SERVICE).unwrap().unwrap();
        assert_eq!(serving.task_definition, arn);
        assert_eq!(serving.image, format!("{IMAGE}:1.2.0"));
        assert_eq!(serving.version_tag, "1.2.0");
        assert_eq!(serving.deployed_at, clock.now());
        assert_eq!(
            ecs.task_definition_image(&arn).unwrap(),
            Some(format!("{IMAGE}:1.2.0"))
        );
    }

    #[tokio::test]
    async fn given_a_seeded_service_when_seeded_again_then_nothing_changes() {
        let (ecs, clock, arn) = seeded();
        clock.advance(Duration::hours(1));
        let again = ecs
            .seed_service(
                CLUSTER,
                SERVICE,
                "roleferry-api",
                "api",
                &format!("{IMAGE}:9.9.9"),
                7,
            )
            .unwrap();
        assert_eq!(again, arn);
        assert_eq!(ecs.revisions("roleferry-api").unwrap().len(), 1);
        assert_eq!(
            ecs.serving(CLUSTER, SERVICE).unwrap().unwrap().version_tag,
            "1.2.0"
        );
    }

    #[tokio::test]
    async fn given_a_base_when_registered_with_an_image_then_only_that_image_changes_in_the_next_revision()
     {
        let (ecs, _clock, _) = seeded();
        let base = ecs
            .register_task_definition("worker", two_container_body())
            .unwrap();
        assert_eq!(
            base,
            "arn:aws:ecs:us-east-1:123456789012:task-definition/worker:1"
        );
        let new = ecs
            .register_with_image(&base, "api", "repo/api:1.1.0")
            .await
            .unwrap();
        assert_eq!(
            new,
            "arn:aws:ecs:us-east-1:123456789012:task-definition/worker:2"
        );

        let before = ecs.task_definition(&base).unwrap().unwrap();
        let after = ecs.task_definition(&new).unwrap().unwrap();
        assert_eq!(after.revision, 2);
        assert_eq!(after.image_of("api"), Some("repo/api:1.1.0"));
        assert_eq!(before.image_of("api"), Some("repo/api:1.0.0"));
        let mut expected = before.body.clone();
        expected["containerDefinitions"][0]["image"] = json!("repo/api:1.1.0");
        assert_eq!(after.body, expected);
        assert_eq!(after.body["family"], json!("worker"));

        // The next registration from an older base still gets the next revision.
        let third = ecs
            .register_with_image(&base, "log-router", "repo/fluent-bit:2.2")
            .await
            .unwrap();
        assert!(third.ends_with("/worker:3"), "{third}");
        // Short references work as in ECS.
        assert_eq!(ecs.task_definition("worker:2").unwrap().unwrap().arn, new);
        assert_eq!(ecs.task_definition("worker").unwrap().unwrap().arn, third);
    }

    #[tokio::test]
    async fn given_unknown_references_when_registering_then_task_definition_or_container_not_found()
    {
        let (ecs, _clock, arn) = seeded();
        let missing = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:99";
        let err = ecs
            .register_with_image(missing, "api", "x:1")
            .await
            .unwrap_err();
        assert!(
            matches!(err, DeployError::TaskDefinitionNotFound(ref a) if a == missing),
            "{err:?}"
        );
        let err = ecs
            .register_with_image(&arn, "sidecar", "x:1")
            .await
            .unwrap_err();
        assert!(
            matches!(err, DeployError::ContainerNotFound { ref container, ref task_definition }
                if container == "sidecar" && task_definition == &arn),
            "{err:?}"
        );
        assert_eq!(ecs.revisions("roleferry-api").unwrap().len(), 1);
    }

    #[tokio::test]
    async fn given_an_update_when_time_passes_then_the_rollout_goes_in_progress_to_completed() {
        let (ecs, clock, old) = seeded();
        let new = ecs
            .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
            .await
            .unwrap();
        ecs.update_service(&target(), &new).await.unwrap();
        assert_eq!(ecs.current_task_definition(&target()).await.unwrap(), new);

        let status = ecs.deployment_status(&target()).await.unwrap();
        assert_eq!(status.task_definition, new);
        assert_eq!(
            (status.rollout, status.running, status.desired),
            (Rollout::InProgress, 0, 2)
        );
        // Traffic still goes to the old version.
        assert_eq!(
            ecs.serving(CLUSTER, SERVICE)
                .unwrap()
                .unwrap()
                .task_definition,
            old
        );

        clock.advance(Duration::seconds(100));
        let status = ecs.deployment_status(&target()).await.unwrap();
        assert_eq!((status.rollout, status.running), (Rollout::InProgress, 1));

        clock.advance(Duration::seconds(79));
        assert_eq!(
            ecs.deployment_status(&target()).await.unwrap().rollout,
            Rollout::InProgress
        );
        clock.advance(Duration::seconds(1));
        let status = ecs.deployment_status(&target()).await.unwrap();
        assert_eq!(
            (status.rollout, status.running, status.reason),
            (Rollout::Completed, 2, None)
        );
        let serving = ecs.serving(CLUSTER, SERVICE).unwrap().unwrap();
        assert_eq!(
            (serving.task_definition, serving.version_tag),
            (new, "1.3.0".to_string())
        );
        assert_eq!(serving.deployed_at, time("2026-03-02T03:03:00Z"));
    }

    #[tokio::test]
    async fn given_a_version_failing_stability_when_deployed_then_the_rollout_fails_and_the_old_one_serves()
     {
        let (ecs, clock, old) = seeded();
        ecs.set_faults(
            "1.3.0",
            Faults {
                fail_stability: true,
                ..Faults::default()
            },
        )
        .unwrap();
        let new = ecs
            .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
            .await
            .unwrap();
        ecs.update_service(&target(), &new).await.unwrap();
        clock.advance(Duration::seconds(90));
        let status = ecs.deployment_status(&target()).await.unwrap();
        assert_eq!((status.rollout, status.running), (Rollout::InProgress, 0));
        clock.advance(Duration::seconds(90));
        let status = ecs.deployment_status(&target()).await.unwrap();
        assert_eq!(status.rollout, Rollout::Failed);
        assert_eq!(status.reason.as_deref(), Some(STABILITY_FAILURE));
        assert_eq!(
            ecs.serving(CLUSTER, SERVICE)
                .unwrap()
                .unwrap()
                .task_definition,
            old
        );
        // A rollback to the old revision is a new deployment of it.
        ecs.update_service(&target(), &old).await.unwrap();
        clock.advance(Duration::seconds(180));
        let status = ecs.deployment_status(&target()).await.unwrap();
        assert_eq!(
            (status.task_definition, status.rollout),
            (old, Rollout::Completed)
        );
    }

    #[tokio::test]
    async fn given_a_completed_rollout_when_a_fault_is_set_later_then_the_rollout_stays_completed()
    {
        let (ecs, clock, old) = seeded();
        let new = ecs
            .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
            .await
            .unwrap();
        ecs.update_service(&target(), &new).await.unwrap();
        clock.advance(Duration::seconds(181));
        assert_eq!(
            ecs.deployment_status(&target()).await.unwrap().rollout,
            Rollout::Completed
        );
        ecs.set_faults(
            "1.3.0",
            Faults {
                fail_stability: true,
                ..Faults::default()
            },
        )
        .unwrap();
        assert_eq!(
            ecs.deployment_status(&target()).await.unwrap().rollout,
            Rollout::Completed
        );
        assert_eq!(
            ecs.serving(CLUSTER, SERVICE)
                .unwrap()
                .unwrap()
                .task_definition,
            new
        );
    }

    #[tokio::test]
    async fn given_a_rollout_replaced_midway_when_the_replacement_completes_then_the_replaced_never_served()
     {
        let (ecs, clock, old) = seeded();
        let new = ecs
            .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
            .await
            .unwrap();
        ecs.update_service(&target(), &new).await.unwrap();
        clock.advance(Duration::seconds(60));
        ecs.update_service(&target(), &old).await.unwrap();
        clock.advance(Duration::seconds(150));
        // The replaced rollout's own deadline has passed, but it was drained.
        assert_eq!(
            ecs.serving(CLUSTER, SERVICE)
                .unwrap()
                .unwrap()
                .task_definition,
            old
        );
        assert_eq!(
            ecs.serving(CLUSTER, SERVICE).unwrap().unwrap().deployed_at,
            time("2026-03-02T03:00:00Z")
        );
        clock.advance(Duration::seconds(30));
        let serving = ecs.serving(CLUSTER, SERVICE).unwrap().unwrap();
        assert_eq!(serving.deployed_at, time("2026-03-02T03:04:00Z"));
    }

    #[tokio::test]
    async fn given_the_current_task_definition_when_updated_to_it_again_then_no_new_deployment_starts()
     {
        let (ecs, clock, old) = seeded();
        let new = ecs
            .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
            .await
            .unwrap();
        ecs.update_service(&target(), &new).await.unwrap();
        clock.advance(Duration::seconds(120));
        ecs.update_service(&target(), &new).await.unwrap();
        clock.advance(Duration::seconds(60));
        assert_eq!(
            ecs.deployment_status(&target()).await.unwrap().rollout,
            Rollout::Completed
        );
    }

    #[tokio::test]
    async fn given_unknown_names_when_updating_then_service_or_task_definition_not_found() {
        let (ecs, _clock, old) = seeded();
        let ghost = DeployTarget {
            cluster: CLUSTER.into(),
            service: "ghost".into(),
        };
        let err = ecs.update_service(&ghost, &old).await.unwrap_err();
        assert!(
            matches!(err, DeployError::ServiceNotFound { ref cluster, ref service } if cluster == CLUSTER && service == "ghost"),
            "{err:?}"
        );
        assert!(matches!(
            ecs.deployment_status(&ghost).await,
            Err(DeployError::ServiceNotFound { .. })
        ));
        assert!(matches!(
            ecs.current_task_definition(&ghost).await,
            Err(DeployError::ServiceNotFound { .. })
        ));
        let other_cluster = DeployTarget {
            cluster: "staging".into(),
            service: SERVICE.into(),
        };
        assert!(matches!(
            ecs.update_service(&other_cluster, &old).await,
            Err(DeployError::ServiceNotFound { .. })
        ));
        let missing = "arn:aws:ecs:us-east-1:123456789012:task-definition/roleferry-api:40";
        let err = ecs.update_service(&target(), missing).await.unwrap_err();
        assert!(
            matches!(err, DeployError::TaskDefinitionNotFound(ref a) if a == missing),
            "{err:?}"
        );
        assert_eq!(ecs.current_task_definition(&target()).await.unwrap(), old);
    }

    #[tokio::test]
    async fn given_migration_faults_when_tasks_run_then_exit_codes_follow_forward_and_reverse_faults()
     {
        let (ecs, clock, old) = seeded();
        let ecs = ecs.with_reverse_command(vec!["alembic".into(), "downgrade".into(), "-1".into()]);
        let forward: Vec<String> = ["alembic", "upgrade", "head"].map(String::from).to_vec();
        let reverse: Vec<String> = ["alembic", "downgrade", "-1"].map(String::from).to_vec();
        let new = ecs
            .register_with_image(&old, "api", &format!("{IMAGE}:1.3.0"))
            .await
            .unwrap();

        let ok = ecs
            .run_task(&target(), &new, "api", &forward)
            .await
            .unwrap();
        assert_eq!(ok.exit_code, 0);
        let prefix = "arn:aws:ecs:us-east-1:123456789012:task/roleferry-prod/";
        assert!(ok.task_arn.starts_with(prefix), "{}", ok.task_arn);
        let id = &ok.task_arn[prefix.len()..];
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

        ecs.set_faults(
            "1.3.0",
            Faults {
                migration_exit_code: Some(3),
                ..Faults::default()
            },
        )
        .unwrap();
        assert_eq!(
            ecs.run_task(&target(), &new, "api", &forward)
                .await
                .unwrap()
                .exit_code,
            3
        );
        assert_eq!(
            ecs.run_task(&target(), &new, "api", &reverse)
                .await
                .unwrap()
                .exit_code,
            0
        );
        ecs.set_faults(
            "1.3.0",
            Faults {
                reverse_migration_exit_code: Some(1),
                ..Faults::default()
            },
        )
        .unwrap();
        assert_eq!(
            ecs.run_task(&target(), &new, "api", &forward)
                .await
                .unwrap()
                .exit_code,
            0
        );
        clock.advance(Duration::seconds(5));
        assert_eq!(
            ecs.run_task(&target(), &new, "api", &reverse)
                .await
                .unwrap()
                .exit_code,
            1
        );
        // Faults follow the version: the old image migrates fine.
        assert_eq!(
            ecs.run_task(&target(), &old, "api", &reverse)
                .await
                .unwrap()
                .exit_code,
            0
        );

        let runs = ecs.tasks_run(CLUSTER, SERVICE).unwrap();
        let codes: Vec<i32> = runs.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, vec![0, 3, 0, 0, 1, 0]);
        assert_eq!(runs[4].command, reverse);
        assert_eq!(runs[4].task_definition, new);
        assert_eq!(runs[4].container, "api");
        assert_eq!(runs[4].at, time("2026-03-02T03:00:05Z"));
        assert!(ecs.tasks_run(CLUSTER, "ghost").unwrap().is_empty());
    }

    #[tokio::test]
    async fn given_no_configured_reverse_command_when_a_downgrade_runs_then_it_counts_as_the_reverse_migration()
     {
        let (ecs, _clock, old) = seeded();
        ecs.set_faults(
            "1.2.0",
            Faults {
                reverse_migration_exit_code: Some(2),
                ..Faults::default()
            },
        )
        .unwrap();
        let down: Vec<String> = ["alembic", "downgrade", "-1"].map(String::from).to_vec();
        let up: Vec<String> = ["alembic", "upgrade", "head"].map(String::from).to_vec();
        assert_eq!(
            ecs.run_task(&target(), &old, "api", &down)
                .await
                .unwrap()
                .exit_code,
            2
        );
        assert_eq!(
            ecs.run_task(&target(), &old, "api", &up)
                .await
                .unwrap()
                .exit_code,
            0
        );
    }

    #[tokio::test]
    async fn given_bad_references_when_running_a_task_then_errors_name_them() {
        let (ecs, _clock, old) = seeded();
        let cmd = vec!["true".to_string()];
        assert!(matches!(
            ecs.run_task(&target(), &old, "sidecar", &cmd).await,
            Err(DeployError::ContainerNotFound { .. })
        ));
        assert!(matches!(
            ecs.run_task(&target(), "roleferry-api:77", "api", &cmd)
                .await,
            Err(DeployError::TaskDefinitionNotFound(_))
        ));
        let ghost = DeployTarget {
            cluster: CLUSTER.into(),
            service: "ghost".into(),
        };
        assert!(matches!(
            ecs.run_task(&ghost, &old, "api", &cmd).await,
            Err(DeployError::ServiceNotFound { .. })
        ));
        assert!(ecs.tasks_run(CLUSTER, SERVICE).unwrap().is_empty());
    }

    #[test]
    fn given_faults_when_set_then_they_read_back_and_default_clears_them() {
        let (ecs, _clock, _) = seeded();
        assert_eq!(ecs.faults("1.3.0").unwrap(), Faults::default());
        let faults = Faults {
            failing_path: Some("/apply".into()),
            alarm_after_minutes: Some(("roleferry-api-5xx-rate".into(), 12)),
            error_rate: Some(0.2),
            ..Faults::default()
        };
        ecs.set_faults("1.3.0", faults.clone()).unwrap();
        assert_eq!(ecs.faults("1.3.0").unwrap(), faults);
        assert_eq!(ecs.all_faults().unwrap().len(), 1);
        ecs.set_faults("1.3.0", Faults::default()).unwrap();
        assert!(ecs.all_faults().unwrap().is_empty());
        // Partial documents (another process, an older shipgate) read with defaults.
        let parsed: Faults = serde_json::from_str(r#"{"fail_stability": true}"#).unwrap();
        assert!(parsed.fail_stability && parsed.failing_path.is_none());
    }

    #[test]
    fn given_two_processes_registering_at_once_then_every_revision_is_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let base = SimulatedEcs::new(Db::open(&path).unwrap(), clock.clone())
            .seed_service(
                CLUSTER,
                SERVICE,
                "roleferry-api",
                "api",
                "repo/api:1.2.0",
                41,
            )
            .unwrap();
        let threads: Vec<_> = (0..2)
            .map(|n| {
                let (path, clock, base) = (path.clone(), clock.clone(), base.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    let ecs = SimulatedEcs::new(Db::open(&path).unwrap(), clock);
                    (0..10)
                        .map(|i| {
                            let image = format!("repo/api:{n}.{i}.0");
                            rt.block_on(ecs.register_with_image(&base, "api", &image))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut arns: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        arns.sort();
        arns.dedup();
        assert_eq!(arns.len(), 20);
        let ecs = SimulatedEcs::new(Db::open(&path).unwrap(), clock);
        let revisions: Vec<u32> = ecs
            .revisions("roleferry-api")
            .unwrap()
            .iter()
            .map(|t| t.revision)
            .collect();
        assert_eq!(revisions, (41..=61).collect::<Vec<u32>>());
    }

    #[tokio::test]
    async fn given_two_simulations_over_one_file_when_one_deploys_then_the_other_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let one = SimulatedEcs::new(Db::open(&path).unwrap(), clock.clone());
        let two =
            SimulatedEcs::new(Db::open(&path).unwrap(), clock.clone()).with_rollout_seconds(10);
        let old = one
            .seed_service(
                CLUSTER,
                SERVICE,
                "roleferry-api",
                "api",
                "repo/api:1.2.0",
                3,
            )
            .unwrap();
        let new = two
            .register_with_image(&old, "api", "repo/api:1.3.0")
            .await
            .unwrap();
        two.update_service(&target(), &new).await.unwrap();
        one.set_faults(
            "1.3.0",
            Faults {
                failing_path: Some("/jobs".into()),
                ..Faults::default()
            },
        )
        .unwrap();
        assert_eq!(one.current_task_definition(&target()).await.unwrap(), new);
        assert_eq!(
            two.faults("1.3.0").unwrap().failing_path.as_deref(),
            Some("/jobs")
        );
        // The rollout keeps the duration of the simulation that started it.
        clock.advance(Duration::seconds(10));
        assert_eq!(
            one.deployment_status(&target()).await.unwrap().rollout,
            Rollout::Completed
        );
        assert_eq!(
            one.serving(CLUSTER, SERVICE).unwrap().unwrap().version_tag,
            "1.3.0"
        );
    }
}
