//! The collaborators the gates need, one trait each. Adapters implement them side by side:
//! `shipgate-local` (SQLite, simulated ECS, outbox) and, in production, AWS.
//! Each port has its own error enum that keeps the underlying cause as a `#[source]`.

use std::error::Error as StdError;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::HealthCheck;
use crate::model::{Release, ReleaseId, ReleaseState, ServiceName};
use crate::semver::Version;

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Time, so tests and the demo can run on a virtual clock.
pub trait Clock: Send + Sync {
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "release {id} changed since it was read (expected version {expected}); the write was refused"
    )]
    Conflict { id: String, expected: u64 },
    #[error("release {0} does not exist")]
    NotFound(String),
    #[error("release {0} already exists")]
    AlreadyExists(String),
    /// Another commit's release already took this version of the service.
    #[error("version {version} of {service} is already taken by commit {commit}")]
    VersionTaken {
        service: String,
        version: String,
        commit: String,
    },
    #[error("the release store failed")]
    Backend(#[source] BoxError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum LockOutcome {
    Acquired,
    HeldBy(ReleaseId),
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseFilter {
    pub service: Option<ServiceName>,
    pub states: Vec<ReleaseState>,
}

#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Writes a new release; `AlreadyExists` when its id is taken.
    async fn create(&self, release: &Release) -> Result<(), StoreError>;
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
    /// an expired lease may be taken over).
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
    async fn lock_holder(
        &self,
        service: &ServiceName,
        now: DateTime<Utc>,
    ) -> Result<Option<ReleaseId>, StoreError>;
}

// ---------------------------------------------------------------------------------------
// Deployer (ECS)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployTarget {
    pub cluster: String,
    pub service: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("service {service} not found in cluster {cluster}")]
    ServiceNotFound { cluster: String, service: String },
    #[error("task definition {0} not found")]
    TaskDefinitionNotFound(String),
    #[error("container {container} not found in task definition {task_definition}")]
    ContainerNotFound {
        container: String,
        task_definition: String,
    },
    #[error("the deploy target refused the request: {0}")]
    Refused(String),
    #[error("the deploy target is unavailable")]
    Unavailable(#[source] BoxError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rollout {
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub task_definition: String,
    pub rollout: Rollout,
    pub running: u32,
    pub desired: u32,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub task_arn: String,
    pub exit_code: i32,
}

#[async_trait]
pub trait Deployer: Send + Sync {
    /// The exact task definition ARN the service runs now.
    async fn current_task_definition(&self, target: &DeployTarget) -> Result<String, DeployError>;
    /// Registers a copy of `base` in which only `container`'s image is `image`.
    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String, DeployError>;
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

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{url} did not answer: {message}")]
    Unreachable { url: String, message: String },
    #[error("the health check is misconfigured: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub status: u16,
    pub millis: u64,
}

#[async_trait]
pub trait HealthProbe: Send + Sync {
    async fn probe(&self, base_url: &str, check: &HealthCheck) -> Result<ProbeResult, ProbeError>;
}

// ---------------------------------------------------------------------------------------
// Alarms and metrics (CloudWatch)

#[derive(Debug, thiserror::Error)]
pub enum AlarmsError {
    #[error("alarm {0} does not exist")]
    UnknownAlarm(String),
    #[error("alarms and metrics are unavailable")]
    Unavailable(#[source] BoxError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmState {
    pub name: String,
    pub in_alarm: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// Share of 5xx responses, if there was traffic.
    pub error_rate: Option<f64>,
    pub p99_latency_ms: Option<f64>,
}

#[async_trait]
pub trait Alarms: Send + Sync {
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmState>, AlarmsError>;
    async fn metrics(
        &self,
        service: &ServiceName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<MetricsSample, AlarmsError>;
}

// ---------------------------------------------------------------------------------------
// Notifier

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the {channel} notification could not be delivered")]
    Delivery {
        channel: &'static str,
        #[source]
        source: BoxError,
    },
}

/// One message to people. Slack messages carry Block Kit blocks as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Notification {
    Slack {
        to: String,
        text: String,
        blocks: Value,
        release_id: String,
    },
    Email {
        to: Vec<String>,
        subject: String,
        text: String,
        links: Vec<String>,
        release_id: String,
    },
    StatusPage {
        to: String,
        status: String,
        text: String,
        release_id: String,
    },
    /// Replaces a Slack message posted earlier (`chat.update` on channel `to` at `ts`, or
    /// a POST to Slack's `response_url` with `replace_original`): after a decision taken
    /// with a button, the message shows who decided and loses its buttons.
    SlackUpdate {
        to: String,
        ts: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
        text: String,
        blocks: Value,
        release_id: String,
    },
    /// Answers the Slack user `to` alone, in the conversation they clicked in: through
    /// the click's `response_url` (`response_type: ephemeral`), else `chat.postEphemeral`
    /// in `conversation`. A stale button's answer: what already happened.
    SlackEphemeral {
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation: Option<String>,
        text: String,
        release_id: String,
    },
    /// Pages the on-call engineers (`notifications.on_call`): something needs a person now
    /// (a rollback failed or could not be verified). Sent as an urgent email until a paging
    /// service is configured.
    Page {
        to: Vec<String>,
        summary: String,
        text: String,
        release_id: String,
    },
    /// Opens a modal for the Slack user `to` who just pressed a button (`views.open` with
    /// the click's `trigger_id`, valid for three seconds): the Roll back button's form.
    SlackModal {
        to: String,
        trigger_id: String,
        text: String,
        view: Value,
        release_id: String,
    },
}

impl Notification {
    pub fn channel(&self) -> &'static str {
        match self {
            Notification::Slack { .. } => "slack",
            Notification::Email { .. } => "email",
            Notification::StatusPage { .. } => "status_page",
            Notification::SlackUpdate { .. } => "slack_update",
            Notification::SlackModal { .. } => "slack_modal",
            Notification::Page { .. } => "page",
            Notification::SlackEphemeral { .. } => "slack_ephemeral",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Notification::Slack { text, .. }
            | Notification::Email { text, .. }
            | Notification::StatusPage { text, .. }
            | Notification::SlackUpdate { text, .. }
            | Notification::SlackModal { text, .. }
            | Notification::Page { text, .. }
            | Notification::SlackEphemeral { text, .. } => text,
        }
    }
}

#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, message: &Notification) -> Result<(), NotifyError>;

    /// Sends `message` unless a message with the same `key` was sent already, so that a step
    /// replayed after a crash, or an invocation retried, tells people once. Keys name what
    /// the message is about (`<release>/asked/<approver>/<n>`), never when it was sent.
    /// The default sends every time: an adapter that can remember does better. Returns
    /// where a Slack message went, when the adapter knows, so it can be replaced later.
    async fn send_once(
        &self,
        key: &str,
        message: &Notification,
    ) -> Result<Option<Posted>, NotifyError> {
        let _ = key;
        self.send(message).await?;
        Ok(None)
    }
}

/// Where a Slack message went: enough to replace it later (`chat.update`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

// ---------------------------------------------------------------------------------------
// Orchestration: starting executions and answering task tokens (Step Functions)

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("the task token is unknown")]
    TaskDoesNotExist,
    #[error("the task this token belongs to has already ended")]
    TaskTimedOut,
    #[error("the workflow service failed")]
    Backend(#[source] BoxError),
}

#[async_trait]
pub trait TaskTokens: Send + Sync {
    async fn succeed(&self, token: &str, output: Value) -> Result<(), WorkflowError>;
    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
    async fn heartbeat(&self, token: &str) -> Result<(), WorkflowError>;
}

#[async_trait]
pub trait Executions: Send + Sync {
    /// Starts the pipeline for a release. Idempotent on `name`: a second start returns the
    /// existing execution's id.
    async fn start(&self, name: &str, input: Value) -> Result<String, WorkflowError>;
}

/// A rollback asked for by a person (a signed link, a Slack button, the CLI): handed to the
/// same rollback path an alarm takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRequest {
    pub release_id: ReleaseId,
    /// The approver who asked (their configured id).
    pub actor: String,
    pub reason: String,
    /// Where they asked from, for the audit (`link`, `slack`, `cli as arn:aws:iam::…`).
    pub via: String,
}

/// The detail type of the EventBridge event that carries a [`RollbackRequest`] to the
/// rollback function (source [`ROLLBACK_EVENT_SOURCE`]).
pub const ROLLBACK_EVENT_DETAIL_TYPE: &str = "Manual Rollback Requested";
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
    ApprovalReminder { release_id: ReleaseId },
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
    pub delivery: String,
    pub commit: String,
    /// The release the delivery started or found, if any.
    pub release_id: Option<ReleaseId>,
    /// What the trigger answered, in words.
    pub outcome: String,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait TriggerLog: Send + Sync {
    /// The first record that handled `delivery`, or that started a release for `commit`.
    async fn seen(&self, delivery: &str, commit: &str)
    -> Result<Option<TriggerRecord>, StoreError>;
    /// Records a handled delivery (a second record of the same delivery is ignored).
    async fn record(&self, record: &TriggerRecord) -> Result<(), StoreError>;
    /// Remembers that tag `version` points at `commit`.
    async fn record_tag(
        &self,
        commit: &str,
        version: &crate::semver::Version,
    ) -> Result<(), StoreError>;
    /// The version a `vX.Y.Z` tag gives `commit`, if one was pushed.
    async fn tag_for(&self, commit: &str) -> Result<Option<crate::semver::Version>, StoreError>;
}
