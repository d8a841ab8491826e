//! Durable storage of executions.
//!
//! An execution is stored as a row: its public [`ExecutionDescription`], an opaque
//! interpreter snapshot (JSON, carrying its own format version — the full continuation, not a
//! replay log), the instant it next becomes runnable by time (`wake_at`), a row version and a
//! lease (owner + expiry). History events, queued signals (token deliveries, stop requests)
//! and issued task tokens are kept beside it.
//!
//! Concurrency contract (what lets two processes share one SQLite file):
//! - an engine must [`ExecutionStore::claim`] an execution (take its lease) before running
//!   it; a claim fails while another owner holds an unexpired lease;
//! - signals can be queued at any time by anyone ([`ExecutionStore::push_signal`]);
//! - [`ExecutionStore::save`] with `release = true` releases the lease only if no signal is
//!   queued, in the same transaction; otherwise it keeps the lease and reports it, so the
//!   holder processes the signal before letting go — a signal is never stranded;
//! - a signal is read with [`ExecutionStore::pending_signals`] and removed only by the save
//!   that records its effect, in one transaction: a process killed in between leaves the
//!   signal queued and the old snapshot, and whoever claims the execution next applies it
//!   again (the tasks run in between are at-least-once, as on AWS);
//! - a lease whose holder died can be handed back at once with
//!   [`ExecutionStore::release_leases`] instead of waiting for it to expire.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::HistoryEvent;

/// Status of an execution, as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running (possibly suspended on a timer or a token).
    Running,
    /// Ended in a Succeed state or an End.
    Succeeded,
    /// Ended in a failure.
    Failed,
    /// Ended by the state machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped by `stop_execution`.
    Aborted,
}

impl ExecutionStatus {
    fn as_db(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

/// What `describe` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionDescription {
    /// Execution id (an ARN-like string).
    pub execution_id: String,
    /// Execution name (unique).
    pub name: String,
    /// Current status.
    pub status: ExecutionStatus,
    /// Execution input.
    pub input: Value,
    /// Output, once succeeded.
    pub output: Option<Value>,
    /// Error name, once failed (may be absent even then: a Fail state without Error).
    pub error: Option<String>,
    /// Cause, once failed.
    pub cause: Option<String>,
    /// Clock time of the start.
    pub start_date: DateTime<Utc>,
    /// Clock time of the end.
    pub stop_date: Option<DateTime<Utc>>,
}

/// A stored execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredExecution {
    /// Public description (status etc.).
    pub description: ExecutionDescription,
    /// Interpreter snapshot, opaque to the store.
    pub snapshot: String,
    /// When the execution becomes runnable by time; `None` when only a signal can wake it
    /// (or it has ended).
    pub wake_at: Option<DateTime<Utc>>,
    /// Row version, incremented by every save.
    pub version: u64,
}

/// Something delivered to a running execution from outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Signal {
    /// `SendTaskSuccess`.
    TaskSuccess {
        /// Task token.
        token: String,
        /// Task output.
        output: Value,
    },
    /// `SendTaskFailure`.
    TaskFailure {
        /// Task token.
        token: String,
        /// Error name.
        error: String,
        /// Cause.
        cause: String,
    },
    /// `SendTaskHeartbeat`.
    Heartbeat {
        /// Task token.
        token: String,
    },
    /// `StopExecution`.
    Stop {
        /// Error.
        error: String,
        /// Cause.
        cause: String,
    },
}

/// A queued signal with the clock time it was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedSignal {
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The signal.
    pub signal: Signal,
}

/// A queued signal as read back, with the id its consuming save names.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSignal {
    /// Store-assigned, increasing in queue order.
    pub seq: u64,
    /// The signal.
    pub queued: QueuedSignal,
}

/// An issued task token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The execution that issued it.
    pub execution_id: String,
    /// Whether its task is still waiting for it.
    pub open: bool,
}

/// Outcome of [`ExecutionStore::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The signal is queued for the token's execution.
    Queued,
    /// No such token was ever issued.
    UnknownToken,
    /// The token's task already ended, or its execution did.
    TaskEnded,
}

/// A lease: who runs an execution, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Unique per engine instance.
    pub owner: String,
    /// Expiry; after it another engine may claim the execution.
    pub until: DateTime<Utc>,
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored JSON could not be (de)serialised.
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The lease was lost (another engine took over).
    #[error("execution {0} is not leased by this engine")]
    LeaseLost(String),
    /// No such execution.
    #[error("no execution {0}")]
    NotFound(String),
}

/// What one run of an execution changed besides its snapshot, saved with it atomically.
#[derive(Debug, Clone, Copy, Default)]
pub struct Step<'a> {
    /// New history events.
    pub events: &'a [HistoryEvent],
    /// Task tokens whose tasks ended.
    pub closed_tokens: &'a [String],
    /// The [`PendingSignal::seq`] of the signals this run applied.
    pub consumed: &'a [u64],
}

/// Persistence of executions; see the module doc for the concurrency contract.
pub trait ExecutionStore: Send + Sync {
    /// Inserts `exec` with its first events unless an execution with the same name exists.
    /// Returns the stored execution and whether it was created.
    fn create(
        &self,
        exec: &StoredExecution,
        events: &[HistoryEvent],
    ) -> Result<(StoredExecution, bool), StoreError>;
    /// Reads an execution.
    fn get(&self, execution_id: &str) -> Result<Option<StoredExecution>, StoreError>;
    /// All executions, in creation order.
    fn list(&self) -> Result<Vec<ExecutionDescription>, StoreError>;
    /// The history of an execution, in order.
    fn events(&self, execution_id: &str) -> Result<Vec<HistoryEvent>, StoreError>;
    /// Claims one running, unleased execution that is runnable at `now` (its `wake_at` has
    /// come, or a signal is queued), skipping ids in `exclude`.
    fn claim_runnable(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        exclude: &[String],
    ) -> Result<Option<StoredExecution>, StoreError>;
    /// Claims a specific running execution; `None` when it is not running or leased by
    /// another owner.
    fn claim(
        &self,
        execution_id: &str,
        now: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<Option<StoredExecution>, StoreError>;
    /// The queued signals of an execution leased by `owner`, oldest first. They stay queued
    /// until a [`ExecutionStore::save`] names them as consumed.
    fn pending_signals(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<PendingSignal>, StoreError>;
    /// Saves an execution leased by `owner`: appends `events`, closes `closed_tokens` and
    /// removes the `consumed` signals, all in one transaction. With `release`, the lease is
    /// released too unless other signals are queued. Returns whether the lease was released.
    fn save(
        &self,
        exec: &StoredExecution,
        step: &Step<'_>,
        owner: &str,
        release: bool,
    ) -> Result<bool, StoreError>;
    /// Hands back every lease `owner` holds (its process is known to be gone). Returns how
    /// many executions it held.
    fn release_leases(&self, owner: &str) -> Result<usize, StoreError>;
    /// Queues a signal for an execution.
    fn push_signal(&self, execution_id: &str, signal: &QueuedSignal) -> Result<(), StoreError>;
    /// Atomically checks that `token` is open and its execution running, queues `signal`
    /// for that execution and, with `close`, closes the token (so a second success or
    /// failure for the same token is refused).
    fn deliver(
        &self,
        token: &str,
        signal: &QueuedSignal,
        close: bool,
    ) -> Result<Delivery, StoreError>;
    /// Records an issued task token as open.
    fn open_token(&self, token: &str, execution_id: &str) -> Result<(), StoreError>;
    /// Looks a token up.
    fn token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// The earliest `wake_at` among running executions.
    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}

mod memory;
pub use memory::*;
mod sqlite;
pub use sqlite::*;

#[cfg(test)]
mod tests;
