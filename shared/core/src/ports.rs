//! The collaborators the gates need, one trait each. Adapters implement them side by side:
//! `shipgate-local` (SQLite, simulated ECS, outbox) and, in production, AWS.
//! Each port has its own error enum that keeps the underlying cause as a `#[source]`.

#![warn(missing_docs)]

use std::error::Error as StdError;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::HealthCheck;
use crate::model::{Release, ReleaseId, ReleaseState, ServiceName};
use crate::semver::Version;

/// The cause a port error keeps as its `#[source]`: whatever the adapter's client failed with.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Time, so tests and the demo can run on a virtual clock.
pub trait Clock: Send + Sync {
    /// The current instant, in UTC: the wall clock in production, a virtual clock in tests and
    /// the demo.
    fn now(&self) -> DateTime<Utc>;
}

/// Who does the work: an id for this process, and whether another is known to be gone —
/// so that a claim whose claimer died is taken over at once instead of after a grace.
pub trait Workers: Send + Sync {
    /// This process's id, recorded with the claims it makes.
    fn this(&self) -> String;
    /// `Some(true)` when `worker` is known to be gone, `Some(false)` when known to be
    /// working, `None` when nobody can tell (then a claim waits out its grace).
    fn gone(&self, worker: &str) -> Option<bool>;
}

/// Workers nobody can see: each process a fresh id, nobody's fate known (AWS Lambda,
/// where a retried invocation cannot tell a dead attempt from a slow one).
#[derive(Debug)]
pub struct UnknownWorkers(String);

impl Default for UnknownWorkers {
    fn default() -> Self {
        Self(format!("worker-{}", uuid::Uuid::new_v4().simple()))
    }
}

impl Workers for UnknownWorkers {
    fn this(&self) -> String {
        self.0.clone()
    }
    fn gone(&self, _worker: &str) -> Option<bool> {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Release store

/// Why the release store refused or failed a call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An update lost a race: the stored record's version is no longer the one the caller read.
    /// Nothing was written; read the release again and decide again.
    #[error(
        "release {id} changed since it was read (expected version {expected}); the write was refused"
    )]
    Conflict {
        /// The release (`lock of <service>` when a lock changed hands while being taken).
        id: String,
        /// The version the refused write was conditional on.
        expected: u64,
    },
    /// No release has this id.
    #[error("release {0} does not exist")]
    NotFound(String),
    /// `create` found a release with this id already; the stored one is unchanged.
    #[error("release {0} already exists")]
    AlreadyExists(String),
    /// Another commit's release already took this version of the service.
    #[error("version {version} of {service} is already taken by commit {commit}")]
    VersionTaken {
        /// The service.
        service: String,
        /// The version taken, as `MAJOR.MINOR.PATCH`.
        version: String,
        /// The commit whose release took it (`(unknown)` when the adapter could not read it).
        commit: String,
    },
    /// The store failed (unreachable, throttled, a record it cannot decode) or the port is not
    /// wired; the cause is the source. A write that failed this way may still have happened.
    #[error("the release store failed")]
    Backend(#[source] BoxError),
}

/// What [`ReleaseStore::acquire_lock`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum LockOutcome {
    /// The caller holds the lock now, its lease running to the `lease_until` it gave.
    Acquired,
    /// Another release holds the lock and its lease has not passed; nothing changed.
    HeldBy(ReleaseId),
}

/// Which releases [`ReleaseStore::list`] returns; the default is every release.
#[derive(Debug, Clone, Default)]
pub struct ReleaseFilter {
    /// Only this service's releases; `None` for every service.
    pub service: Option<ServiceName>,
    /// Only releases in one of these states; empty for any state.
    pub states: Vec<ReleaseState>,
}

/// The release records and the per-service deploy lock (DynamoDB in production, SQLite
/// locally). Every update is conditional on the version the caller read: of two writers that
/// read the same version, one wins and the other gets [`StoreError::Conflict`]. Times are
/// UTC. Every adapter passes the same suite (`store_contract`).
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Writes a new release; `AlreadyExists` when its id is taken.
    async fn create(&self, release: &Release) -> Result<(), StoreError>;
    /// The release `id` as stored, with its stored `version`; `None` when there is none.
    async fn get(&self, id: &ReleaseId) -> Result<Option<Release>, StoreError>;
    /// Writes `release` if the stored version still equals `release.version`; returns the
    /// record as stored, with its version incremented. `Conflict` otherwise.
    async fn update(&self, release: &Release) -> Result<Release, StoreError>;
    /// Newest first.
    async fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError>;
    /// Releases waiting for the window, oldest queued first.
    async fn window_queue(&self, service: &ServiceName) -> Result<Vec<Release>, StoreError>;
    /// The version of the newest release of `service` that reached production for good.
    async fn last_released(&self, service: &ServiceName) -> Result<Option<Release>, StoreError>;
    /// The highest version any release of `service` took, with the commit that took it: one
    /// read however long the history (the trigger calls it on every push).
    async fn highest_version(
        &self,
        service: &ServiceName,
    ) -> Result<Option<(Version, String)>, StoreError>;
    /// Takes the per-service deploy lock for `holder` (re-entrant for the same holder;
    /// an expired lease may be taken over). Taking it again extends the lease to
    /// `lease_until`. `Conflict` when the lock changed hands while it was being taken: ask
    /// again.
    async fn acquire_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError>;
    /// Frees the lock if `holder` has it; true when it did.
    async fn release_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
    ) -> Result<bool, StoreError>;
    /// The release holding `service`'s deploy lock at `now`; `None` when nobody holds it or its
    /// lease has passed (a lease holds through its `lease_until`, inclusive).
    async fn lock_holder(
        &self,
        service: &ServiceName,
        now: DateTime<Utc>,
    ) -> Result<Option<ReleaseId>, StoreError>;
}

// ---------------------------------------------------------------------------------------
// Deployer (ECS)

/// The ECS service a deployer acts on ([`crate::deps::Deps::target`] gives the configured
/// one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployTarget {
    /// The cluster's name.
    pub cluster: String,
    /// The ECS service's name: the configured service name.
    pub service: String,
}

/// Why the deployer refused or failed a call.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The cluster or the service does not exist, or the service is not active.
    #[error("service {service} not found in cluster {cluster}")]
    ServiceNotFound {
        /// The cluster asked for.
        cluster: String,
        /// The service asked for.
        service: String,
    },
    /// The task definition does not exist: its ARN, or ECS's message about it.
    #[error("task definition {0} not found")]
    TaskDefinitionNotFound(String),
    /// The task definition has no container of that name.
    #[error("container {container} not found in task definition {task_definition}")]
    ContainerNotFound {
        /// The container asked for.
        container: String,
        /// The task definition searched.
        task_definition: String,
    },
    /// The request was refused or its result is unusable (a bad parameter, access denied, a
    /// service without a deployment, a task that did not start, stopped without an exit code or
    /// did not stop in time); the message says which.
    #[error("the deploy target refused the request: {0}")]
    Refused(String),
    /// ECS could not be reached or failed (throttling after the SDK's own retries), or the port
    /// is not wired; the cause is the source.
    #[error("the deploy target is unavailable")]
    Unavailable(#[source] BoxError),
}

/// How far the primary deployment's rollout got (ECS's `rolloutState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rollout {
    /// Tasks of the new task definition are still starting or not yet healthy.
    InProgress,
    /// The deployment reached a steady state: the desired number of tasks runs the new task
    /// definition.
    Completed,
    /// The rollout failed and will not complete; `reason` says why when ECS gives one.
    Failed,
}

/// The service's primary deployment: what it runs and how far its rollout got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// The task definition ARN the primary deployment runs: a status is about a deploy only if
    /// this is the ARN that deploy set.
    pub task_definition: String,
    /// How far the rollout got.
    pub rollout: Rollout,
    /// Tasks of the deployment running now.
    pub running: u32,
    /// Tasks the service wants running.
    pub desired: u32,
    /// Why the rollout is in its state, when ECS says (`rolloutStateReason`).
    pub reason: Option<String>,
}

/// How a one-off task (a migration or its reversal) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOutcome {
    /// The task's ARN.
    pub task_arn: String,
    /// The exit code of the container waited on; 0 is success.
    pub exit_code: i32,
}

/// The ECS service and its task definitions (ECS in production, a simulated cluster locally).
#[async_trait]
pub trait Deployer: Send + Sync {
    /// The exact task definition ARN the service runs now.
    async fn current_task_definition(&self, target: &DeployTarget) -> Result<String, DeployError>;
    /// Registers a copy of `base` in which only `container`'s image is `image`, and returns
    /// its ARN. A retry after such a copy was registered gets that revision back, not
    /// another one.
    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String, DeployError>;
    /// Points the service at `task_definition` (`UpdateService`), which starts a rolling
    /// deployment; the one it already runs changes nothing. Returns once the request is
    /// accepted, not when the rollout ends: follow it with [`Deployer::deployment_status`].
    async fn update_service(
        &self,
        target: &DeployTarget,
        task_definition: &str,
    ) -> Result<(), DeployError>;
    /// The primary deployment of the service.
    async fn deployment_status(
        &self,
        target: &DeployTarget,
    ) -> Result<DeploymentStatus, DeployError>;
    /// Starts a one-off task from `task_definition` with `command`, tagged `started_by`
    /// (ECS's `startedBy`: at most 36 of letters, digits, `-`, `/`, `_`); returns its ARN.
    async fn start_task(
        &self,
        target: &DeployTarget,
        task_definition: &str,
        container: &str,
        command: &[String],
        started_by: &str,
    ) -> Result<String, DeployError>;
    /// The task started with `started_by`, running or stopped, while ECS still reports it
    /// (stopped tasks for at least an hour): how an attempt that died between starting a
    /// task and recording its ARN learns whether it started one.
    async fn find_task(
        &self,
        target: &DeployTarget,
        started_by: &str,
    ) -> Result<Option<String>, DeployError>;
    /// Waits for the task `task_arn` (started by anyone, any time) to exit.
    async fn wait_task(
        &self,
        target: &DeployTarget,
        task_arn: &str,
        container: &str,
    ) -> Result<TaskOutcome, DeployError>;
    /// The digest (`sha256:…`) the image registry holds for `image` (`repo:tag`), so what
    /// runs is pinned by content and production deploys exactly what staging ran. `None`
    /// when no registry shipgate reads holds it (a registry other than ECR, an unknown tag).
    async fn image_digest(&self, image: &str) -> Result<Option<String>, DeployError> {
        let _ = image;
        Ok(None)
    }
    /// Runs a one-off task and waits for it to exit.
    async fn run_task(
        &self,
        target: &DeployTarget,
        task_definition: &str,
        container: &str,
        command: &[String],
    ) -> Result<TaskOutcome, DeployError> {
        let task_arn = self
            .start_task(target, task_definition, container, command, "shipgate")
            .await?;
        self.wait_task(target, &task_arn, container).await
    }
}

// ---------------------------------------------------------------------------------------
// Health probe

/// Why a critical path got no answer to judge.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The request got no answer: the connection was refused or reset, or it timed out.
    #[error("{url} did not answer: {message}")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// What went wrong, with its causes.
        message: String,
    },
    /// The check cannot be sent (a bad method or URL, no HTTP client), or the port is not wired.
    #[error("the health check is misconfigured: {0}")]
    Invalid(String),
}

/// A critical path's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The HTTP status code.
    pub status: u16,
    /// Milliseconds from sending the request to having the answer.
    pub millis: u64,
}

/// Probes the service's critical paths over HTTP.
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// Sends `check`'s request once (its method on `base_url` joined with its path), following
    /// no redirect, and answers with the status and the time taken. Any status is an answer:
    /// judging it against the expected one is the caller's ([`crate::checks`]).
    async fn probe(&self, base_url: &str, check: &HealthCheck) -> Result<ProbeResult, ProbeError>;
}

// ---------------------------------------------------------------------------------------
// Alarms and metrics (CloudWatch)

/// Why alarms or metrics could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AlarmsError {
    /// A configured alarm name matches no alarm: a configuration error, said loudly rather than
    /// watching nothing.
    #[error("alarm {0} does not exist")]
    UnknownAlarm(String),
    /// CloudWatch could not be reached or failed, or the port is not wired; the cause is the
    /// source.
    #[error("alarms and metrics are unavailable")]
    Unavailable(#[source] BoxError),
}

/// One alarm's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmState {
    /// The alarm's name, as asked.
    pub name: String,
    /// True in ALARM; false otherwise (OK, or not enough data).
    pub in_alarm: bool,
    /// Why it is in its state, in the alarm's words.
    pub reason: String,
}

/// The service's request metrics over a span of time; `None` where there is no data (no
/// traffic, or no metrics source configured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// Share of 5xx responses, if there was traffic.
    pub error_rate: Option<f64>,
    /// The highest p99 response time seen in the span, in milliseconds.
    pub p99_latency_ms: Option<f64>,
}

/// Alarms and the service's request metrics (CloudWatch in production, simulated locally).
#[async_trait]
pub trait Alarms: Send + Sync {
    /// The state of each alarm in `names`, in the same order (none for no names).
    /// `UnknownAlarm` for a name that matches no alarm, where the adapter can tell.
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmState>, AlarmsError>;
    /// The service's error rate and p99 latency from `from` to `to`.
    async fn metrics(
        &self,
        service: &ServiceName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<MetricsSample, AlarmsError>;
}

// ---------------------------------------------------------------------------------------
// Notifier: in `ports/notify.rs`

mod notify;
pub use notify::*;

// ---------------------------------------------------------------------------------------
// Orchestration: starting executions and answering task tokens (Step Functions)

/// Why the workflow service (Step Functions, the scheduler, the rollback function) refused
/// or failed a call.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// No task waits with this token: it is unknown or garbled.
    #[error("the task token is unknown")]
    TaskDoesNotExist,
    /// The task this token belonged to has ended (answered, timed out, or its execution
    /// stopped): nothing is left to answer.
    #[error("the task this token belongs to has already ended")]
    TaskTimedOut,
    /// The service failed or refused the call, or the port is not wired; the cause is the
    /// source.
    #[error("the workflow service failed")]
    Backend(#[source] BoxError),
}

/// Answers the flow's tasks that wait for a token (`.waitForTaskToken`: the approval and the
/// window waits); Step Functions in production, the local engine otherwise. A token whose
/// task already ended answers `TaskTimedOut`, which a caller repeating an answer may take as
/// done.
#[async_trait]
pub trait TaskTokens: Send + Sync {
    /// Ends the waiting task successfully; `output` becomes its result in the flow.
    async fn succeed(&self, token: &str, output: Value) -> Result<(), WorkflowError>;
    /// Ends the waiting task with the error named `error` (what the flow's `Catch` matches,
    /// such as `Approval.Rejected`) and `cause`, in words.
    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
    /// Tells the waiting task that work on it goes on, resetting its heartbeat timeout.
    async fn heartbeat(&self, token: &str) -> Result<(), WorkflowError>;
}

/// Starts executions of the release flow (`statemachine.json`): Step Functions in
/// production, the local engine otherwise.
#[async_trait]
pub trait Executions: Send + Sync {
    /// Starts the pipeline for a release and returns the execution's id (its ARN on Step
    /// Functions). Idempotent on `name`: a second start returns the existing execution's id.
    async fn start(&self, name: &str, input: Value) -> Result<String, WorkflowError>;
}

/// A rollback asked for by a person (a signed link, a Slack button, the CLI): handed to the
/// same rollback path an alarm takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// The release to roll back.
    pub release_id: ReleaseId,
    /// The approver who asked (their configured id).
    pub actor: String,
    /// Why, in their words: required, and written to the release's timeline.
    pub reason: String,
    /// Where they asked from, for the audit (`link`, `slack`, `cli as arn:aws:iam::…`).
    pub via: String,
}

/// The detail type of the EventBridge event that carries a [`RollbackRequest`] to the
/// rollback function (source [`ROLLBACK_EVENT_SOURCE`]).
pub const ROLLBACK_EVENT_DETAIL_TYPE: &str = "Manual Rollback Requested";
/// The source of the EventBridge event that carries a [`RollbackRequest`] (detail type
/// [`ROLLBACK_EVENT_DETAIL_TYPE`]).
pub const ROLLBACK_EVENT_SOURCE: &str = "shipgate";

/// How a rollback request was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handed {
    /// Rolled back before the answer (locally, in this process).
    Done,
    /// Refused where it was performed (the service runs another release now …), and why.
    Refused(String),
    /// Handed to the rollback function, which works on its own: the release's page follows it.
    Queued,
}

/// Where manual rollbacks go: on AWS an event to the rollback function's rule (the path an
/// alarm takes); locally the rollback itself.
#[async_trait]
pub trait RollbackRequests: Send + Sync {
    /// Hands `request` to the rollback path; [`Handed`] says how it was taken, a refusal
    /// included. An error means it could not be handed over.
    async fn request(&self, request: &RollbackRequest) -> Result<Handed, WorkflowError>;
}

/// Something a gate asks to be woken for at a given time: one-time EventBridge Scheduler
/// schedules in production, the scheduler table locally. Each names the gate it wakes and
/// the payload that gate is invoked with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "wake", rename_all = "snake_case")]
pub enum WakeUp {
    /// Look at the window queue again (the window gate's `open`).
    Window,
    /// Remind the approvers of a release, or escalate (the approve gate's `remind`).
    ApprovalReminder {
        /// The release whose approvers are reminded.
        release_id: ReleaseId,
    },
}

impl WakeUp {
    /// The gate's function name, as in `functions/<name>`.
    pub fn gate(&self) -> crate::gate::Gate {
        match self {
            WakeUp::Window => crate::gate::Gate::Window,
            WakeUp::ApprovalReminder { .. } => crate::gate::Gate::Approve,
        }
    }

    /// The payload the gate is invoked with.
    pub fn payload(&self) -> Value {
        match self {
            WakeUp::Window => serde_json::json!({ "action": "open" }),
            WakeUp::ApprovalReminder { release_id } => {
                serde_json::json!({ "action": "remind", "release_id": release_id })
            }
        }
    }

    /// A stable name for a wake-up at `at` (a schedule name: one per wake-up and moment).
    pub fn name(&self, at: DateTime<Utc>) -> String {
        let when = at.format("%Y%m%dT%H%M%S");
        match self {
            WakeUp::Window => format!("shipgate-window-{when}"),
            WakeUp::ApprovalReminder { release_id } => {
                format!("shipgate-remind-{release_id}-{when}")
            }
        }
    }
}

/// Wakes gates at given times (EventBridge Scheduler in production). Asking twice for the
/// same wake-up at the same moment schedules it once.
#[async_trait]
pub trait WindowScheduler: Send + Sync {
    /// Wakes the window gate at `at`.
    async fn wake_at(&self, at: DateTime<Utc>) -> Result<(), WorkflowError>;

    /// Schedules any wake-up. Adapters that can wake other gates than the window override
    /// this; the default schedules window wake-ups only and refuses the others (callers
    /// treat reminders as best effort).
    async fn schedule(&self, wake: &WakeUp, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        match wake {
            WakeUp::Window => self.wake_at(at).await,
            other => Err(WorkflowError::Backend(
                format!("this scheduler cannot schedule {:?}", other).into(),
            )),
        }
    }
}

/// What the GitHub trigger remembers: deliveries it handled (a redelivery, or another push
/// of the same head commit, must not start a second release) and the `vX.Y.Z` tags it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRecord {
    /// GitHub's id of the delivery (`X-GitHub-Delivery`).
    pub delivery: String,
    /// The pushed head commit (a full SHA).
    pub commit: String,
    /// The release the delivery started or found, if any.
    pub release_id: Option<ReleaseId>,
    /// What the trigger answered, in words.
    pub outcome: String,
    /// When the trigger handled the delivery.
    pub at: DateTime<Utc>,
}

/// What the GitHub trigger remembers ([`TriggerRecord`]): DynamoDB in production, SQLite
/// locally.
#[async_trait]
pub trait TriggerLog: Send + Sync {
    /// The first record that handled `delivery`, or that started a release for `commit`.
    async fn seen(&self, delivery: &str, commit: &str)
    -> Result<Option<TriggerRecord>, StoreError>;
    /// Records a handled delivery (a second record of the same delivery is ignored).
    async fn record(&self, record: &TriggerRecord) -> Result<(), StoreError>;
    /// Remembers that tag `version` points at `commit` (a later tag of the commit replaces
    /// it).
    async fn record_tag(
        &self,
        commit: &str,
        version: &crate::semver::Version,
    ) -> Result<(), StoreError>;
    /// The version a `vX.Y.Z` tag gives `commit`, if one was pushed.
    async fn tag_for(&self, commit: &str) -> Result<Option<crate::semver::Version>, StoreError>;
}
