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
//!   holder processes the signal before letting go — a signal is never stranded.

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
    /// Removes and returns the queued signals of an execution leased by `owner`.
    fn take_signals(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<QueuedSignal>, StoreError>;
    /// Saves an execution leased by `owner`, appending `events` and closing `closed_tokens`.
    /// With `release`, the lease is released in the same transaction unless signals are
    /// queued. Returns whether the lease was released.
    fn save(
        &self,
        exec: &StoredExecution,
        events: &[HistoryEvent],
        closed_tokens: &[String],
        owner: &str,
        release: bool,
    ) -> Result<bool, StoreError>;
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

// ---------------------------------------------------------------------------------------
// In-memory store
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct MemInner {
    order: Vec<String>,
    execs: BTreeMap<String, (StoredExecution, Option<Lease>)>,
    events: BTreeMap<String, Vec<HistoryEvent>>,
    signals: BTreeMap<String, Vec<QueuedSignal>>,
    tokens: BTreeMap<String, TokenRecord>,
}

/// A store in memory, for tests and `asl run`.
#[derive(Default)]
pub struct MemoryExecutionStore {
    inner: Mutex<MemInner>,
}

impl MemoryExecutionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn lease_free(lease: &Option<Lease>, now: DateTime<Utc>, owner: &str) -> bool {
    match lease {
        None => true,
        Some(l) => l.owner == owner || l.until <= now,
    }
}

impl ExecutionStore for MemoryExecutionStore {
    fn create(
        &self,
        exec: &StoredExecution,
        events: &[HistoryEvent],
    ) -> Result<(StoredExecution, bool), StoreError> {
        let mut g = self.lock();
        if let Some((existing, _)) = g
            .execs
            .values()
            .find(|(e, _)| e.description.name == exec.description.name)
        {
            return Ok((existing.clone(), false));
        }
        let id = exec.description.execution_id.clone();
        g.order.push(id.clone());
        g.execs.insert(id.clone(), (exec.clone(), None));
        g.events.insert(id, events.to_vec());
        Ok((exec.clone(), true))
    }

    fn get(&self, execution_id: &str) -> Result<Option<StoredExecution>, StoreError> {
        Ok(self.lock().execs.get(execution_id).map(|(e, _)| e.clone()))
    }

    fn list(&self) -> Result<Vec<ExecutionDescription>, StoreError> {
        let g = self.lock();
        Ok(g.order
            .iter()
            .filter_map(|id| g.execs.get(id).map(|(e, _)| e.description.clone()))
            .collect())
    }

    fn events(&self, execution_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(self
            .lock()
            .events
            .get(execution_id)
            .cloned()
            .unwrap_or_default())
    }

    fn claim_runnable(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        exclude: &[String],
    ) -> Result<Option<StoredExecution>, StoreError> {
        let mut g = self.lock();
        let mut found = None;
        for id in &g.order {
            if exclude.contains(id) {
                continue;
            }
            let Some((e, l)) = g.execs.get(id) else {
                continue;
            };
            if e.description.status != ExecutionStatus::Running || !lease_free(l, now, &lease.owner)
            {
                continue;
            }
            let due = e.wake_at.is_some_and(|w| w <= now);
            let signalled = g.signals.get(id).is_some_and(|s| !s.is_empty());
            if due || signalled {
                found = Some(id.clone());
                break;
            }
        }
        let Some(id) = found else { return Ok(None) };
        let Some(entry) = g.execs.get_mut(&id) else {
            return Ok(None);
        };
        entry.1 = Some(lease.clone());
        Ok(Some(entry.0.clone()))
    }

    fn claim(
        &self,
        execution_id: &str,
        now: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<Option<StoredExecution>, StoreError> {
        let mut g = self.lock();
        let Some(entry) = g.execs.get_mut(execution_id) else {
            return Ok(None);
        };
        if entry.0.description.status != ExecutionStatus::Running
            || !lease_free(&entry.1, now, &lease.owner)
        {
            return Ok(None);
        }
        entry.1 = Some(lease.clone());
        Ok(Some(entry.0.clone()))
    }

    fn take_signals(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<QueuedSignal>, StoreError> {
        let mut g = self.lock();
        let holds = g
            .execs
            .get(execution_id)
            .and_then(|(_, l)| l.as_ref())
            .is_some_and(|l| l.owner == owner);
        if !holds {
            return Err(StoreError::LeaseLost(execution_id.to_string()));
        }
        Ok(g.signals.remove(execution_id).unwrap_or_default())
    }

    fn save(
        &self,
        exec: &StoredExecution,
        events: &[HistoryEvent],
        closed_tokens: &[String],
        owner: &str,
        release: bool,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let id = exec.description.execution_id.clone();
        let pending = g.signals.get(&id).is_some_and(|s| !s.is_empty());
        let Some(entry) = g.execs.get_mut(&id) else {
            return Err(StoreError::NotFound(id));
        };
        if entry.1.as_ref().is_none_or(|l| l.owner != owner) {
            return Err(StoreError::LeaseLost(id));
        }
        let version = entry.0.version + 1;
        entry.0 = exec.clone();
        entry.0.version = version;
        let released = release && (!pending || exec.description.status != ExecutionStatus::Running);
        if released {
            entry.1 = None;
        }
        g.events.entry(id).or_default().extend_from_slice(events);
        for t in closed_tokens {
            if let Some(r) = g.tokens.get_mut(t) {
                r.open = false;
            }
        }
        Ok(released)
    }

    fn push_signal(&self, execution_id: &str, signal: &QueuedSignal) -> Result<(), StoreError> {
        self.lock()
            .signals
            .entry(execution_id.to_string())
            .or_default()
            .push(signal.clone());
        Ok(())
    }

    fn deliver(
        &self,
        token: &str,
        signal: &QueuedSignal,
        close: bool,
    ) -> Result<Delivery, StoreError> {
        let mut g = self.lock();
        let Some(rec) = g.tokens.get(token).cloned() else {
            return Ok(Delivery::UnknownToken);
        };
        let running = g
            .execs
            .get(&rec.execution_id)
            .is_some_and(|(e, _)| e.description.status == ExecutionStatus::Running);
        if !rec.open || !running {
            return Ok(Delivery::TaskEnded);
        }
        if close && let Some(r) = g.tokens.get_mut(token) {
            r.open = false;
        }
        g.signals
            .entry(rec.execution_id)
            .or_default()
            .push(signal.clone());
        Ok(Delivery::Queued)
    }

    fn open_token(&self, token: &str, execution_id: &str) -> Result<(), StoreError> {
        self.lock().tokens.insert(
            token.to_string(),
            TokenRecord {
                execution_id: execution_id.to_string(),
                open: true,
            },
        );
        Ok(())
    }

    fn token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.lock().tokens.get(token).cloned())
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .lock()
            .execs
            .values()
            .filter(|(e, _)| e.description.status == ExecutionStatus::Running)
            .filter_map(|(e, _)| e.wake_at)
            .min())
    }
}

// ---------------------------------------------------------------------------------------
// SQLite store
// ---------------------------------------------------------------------------------------

/// A store in a SQLite file (WAL mode), safe for several processes: claims and
/// check-and-release run in `BEGIN IMMEDIATE` transactions.
pub struct SqliteExecutionStore {
    conn: Mutex<rusqlite::Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    wake_at INTEGER,
    version INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER
);
CREATE INDEX IF NOT EXISTS executions_wake ON executions(status, wake_at);
CREATE TABLE IF NOT EXISTS events (
    execution_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (execution_id, event_id)
);
CREATE TABLE IF NOT EXISTS signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signals_exec ON signals(execution_id);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    open INTEGER NOT NULL
);
";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

type Row = (String, String, Option<i64>, i64);

fn row_to_exec(r: Row) -> Result<StoredExecution, StoreError> {
    Ok(StoredExecution {
        description: serde_json::from_str(&r.0)?,
        snapshot: r.1,
        wake_at: r.2.map(from_ms),
        version: u64::try_from(r.3).unwrap_or(0),
    })
}

const SELECT_EXEC: &str = "SELECT description, snapshot, wake_at, version FROM executions";

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

impl SqliteExecutionStore {
    /// Opens (creating if needed) the database at `path`, enables WAL and creates the schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    events: &[HistoryEvent],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO events (execution_id, event_id, body) VALUES (?1, ?2, ?3)",
    )?;
    for e in events {
        stmt.execute(params![
            id,
            i64::try_from(e.id).unwrap_or(i64::MAX),
            serde_json::to_string(e)?
        ])?;
    }
    Ok(())
}

impl ExecutionStore for SqliteExecutionStore {
    fn create(
        &self,
        exec: &StoredExecution,
        events: &[HistoryEvent],
    ) -> Result<(StoredExecution, bool), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = tx
            .query_row(
                &format!("{SELECT_EXEC} WHERE name = ?1"),
                params![exec.description.name],
                read_row,
            )
            .optional()?;
        if let Some(r) = existing {
            return Ok((row_to_exec(r)?, false));
        }
        tx.execute(
            "INSERT INTO executions (id, name, status, description, snapshot, wake_at, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                exec.description.execution_id,
                exec.description.name,
                exec.description.status.as_db(),
                serde_json::to_string(&exec.description)?,
                exec.snapshot,
                exec.wake_at.map(ms),
                i64::try_from(exec.version).unwrap_or(0),
            ],
        )?;
        insert_events(&tx, &exec.description.execution_id, events)?;
        tx.commit()?;
        Ok((exec.clone(), true))
    }

    fn get(&self, execution_id: &str) -> Result<Option<StoredExecution>, StoreError> {
        let conn = self.lock();
        let r = conn
            .query_row(
                &format!("{SELECT_EXEC} WHERE id = ?1"),
                params![execution_id],
                read_row,
            )
            .optional()?;
        r.map(row_to_exec).transpose()
    }

    fn list(&self) -> Result<Vec<ExecutionDescription>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT description FROM executions ORDER BY seq")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(serde_json::from_str(&r?)?);
        }
        Ok(out)
    }

    fn events(&self, execution_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM events WHERE execution_id = ?1 ORDER BY event_id")?;
        let rows = stmt.query_map(params![execution_id], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(serde_json::from_str(&r?)?);
        }
        Ok(out)
    }

    fn claim_runnable(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        exclude: &[String],
    ) -> Result<Option<StoredExecution>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let candidates: Vec<String> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id FROM executions e WHERE status = 'RUNNING'
                   AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until <= ?1)
                   AND ((wake_at IS NOT NULL AND wake_at <= ?1)
                        OR EXISTS (SELECT 1 FROM signals s WHERE s.execution_id = e.id))
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![ms(now), lease.owner], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let Some(id) = candidates.into_iter().find(|c| !exclude.contains(c)) else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE executions SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1",
            params![id, lease.owner, ms(lease.until)],
        )?;
        let r = tx.query_row(
            &format!("{SELECT_EXEC} WHERE id = ?1"),
            params![id],
            read_row,
        )?;
        tx.commit()?;
        Ok(Some(row_to_exec(r)?))
    }

    fn claim(
        &self,
        execution_id: &str,
        now: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<Option<StoredExecution>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE executions SET lease_owner = ?2, lease_until = ?3
             WHERE id = ?1 AND status = 'RUNNING'
               AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until <= ?4)",
            params![execution_id, lease.owner, ms(lease.until), ms(now)],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let r = tx.query_row(
            &format!("{SELECT_EXEC} WHERE id = ?1"),
            params![execution_id],
            read_row,
        )?;
        tx.commit()?;
        Ok(Some(row_to_exec(r)?))
    }

    fn take_signals(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<QueuedSignal>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let holder: Option<Option<String>> = tx
            .query_row(
                "SELECT lease_owner FROM executions WHERE id = ?1",
                params![execution_id],
                |r| r.get(0),
            )
            .optional()?;
        if holder.flatten().as_deref() != Some(owner) {
            return Err(StoreError::LeaseLost(execution_id.to_string()));
        }
        let bodies: Vec<(i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT seq, body FROM signals WHERE execution_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![execution_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for (seq, body) in bodies {
            tx.execute("DELETE FROM signals WHERE seq = ?1", params![seq])?;
            out.push(serde_json::from_str(&body)?);
        }
        tx.commit()?;
        Ok(out)
    }

    fn save(
        &self,
        exec: &StoredExecution,
        events: &[HistoryEvent],
        closed_tokens: &[String],
        owner: &str,
        release: bool,
    ) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = &exec.description.execution_id;
        let holder: Option<Option<String>> = tx
            .query_row(
                "SELECT lease_owner FROM executions WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        match holder {
            None => return Err(StoreError::NotFound(id.clone())),
            Some(h) if h.as_deref() != Some(owner) => {
                return Err(StoreError::LeaseLost(id.clone()));
            }
            Some(_) => {}
        }
        let pending: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM signals WHERE execution_id = ?1)",
            params![id],
            |r| r.get(0),
        )?;
        let released = release && (!pending || exec.description.status != ExecutionStatus::Running);
        tx.execute(
            "UPDATE executions SET status = ?2, description = ?3, snapshot = ?4, wake_at = ?5,
                    version = version + 1,
                    lease_owner = CASE WHEN ?6 THEN NULL ELSE lease_owner END,
                    lease_until = CASE WHEN ?6 THEN NULL ELSE lease_until END
             WHERE id = ?1",
            params![
                id,
                exec.description.status.as_db(),
                serde_json::to_string(&exec.description)?,
                exec.snapshot,
                exec.wake_at.map(ms),
                released,
            ],
        )?;
        insert_events(&tx, id, events)?;
        for t in closed_tokens {
            tx.execute("UPDATE tokens SET open = 0 WHERE token = ?1", params![t])?;
        }
        tx.commit()?;
        Ok(released)
    }

    fn push_signal(&self, execution_id: &str, signal: &QueuedSignal) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO signals (execution_id, body) VALUES (?1, ?2)",
            params![execution_id, serde_json::to_string(signal)?],
        )?;
        Ok(())
    }

    fn deliver(
        &self,
        token: &str,
        signal: &QueuedSignal,
        close: bool,
    ) -> Result<Delivery, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rec: Option<(String, bool, Option<String>)> = tx
            .query_row(
                "SELECT t.execution_id, t.open, e.status FROM tokens t
                 LEFT JOIN executions e ON e.id = t.execution_id WHERE t.token = ?1",
                params![token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((execution_id, open, status)) = rec else {
            return Ok(Delivery::UnknownToken);
        };
        if !open || status.as_deref() != Some(ExecutionStatus::Running.as_db()) {
            return Ok(Delivery::TaskEnded);
        }
        if close {
            tx.execute(
                "UPDATE tokens SET open = 0 WHERE token = ?1",
                params![token],
            )?;
        }
        tx.execute(
            "INSERT INTO signals (execution_id, body) VALUES (?1, ?2)",
            params![execution_id, serde_json::to_string(signal)?],
        )?;
        tx.commit()?;
        Ok(Delivery::Queued)
    }

    fn open_token(&self, token: &str, execution_id: &str) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT OR REPLACE INTO tokens (token, execution_id, open) VALUES (?1, ?2, 1)",
            params![token, execution_id],
        )?;
        Ok(())
    }

    fn token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.lock();
        let r = conn
            .query_row(
                "SELECT execution_id, open FROM tokens WHERE token = ?1",
                params![token],
                |r| {
                    Ok(TokenRecord {
                        execution_id: r.get(0)?,
                        open: r.get(1)?,
                    })
                },
            )
            .optional()?;
        Ok(r)
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let conn = self.lock();
        let v: Option<i64> = conn.query_row(
            "SELECT MIN(wake_at) FROM executions WHERE status = 'RUNNING'",
            [],
            |r| r.get(0),
        )?;
        Ok(v.map(from_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn exec(id: &str, wake: Option<i64>) -> StoredExecution {
        StoredExecution {
            description: ExecutionDescription {
                execution_id: id.into(),
                name: id.into(),
                status: ExecutionStatus::Running,
                input: json!({}),
                output: None,
                error: None,
                cause: None,
                start_date: t(0),
                stop_date: None,
            },
            snapshot: "{}".into(),
            wake_at: wake.map(t),
            version: 0,
        }
    }

    fn lease(owner: &str, until: i64) -> Lease {
        Lease {
            owner: owner.into(),
            until: t(until),
        }
    }

    fn contract(store: &dyn ExecutionStore) {
        // Given an execution due at t=10
        let (_, created) = store.create(&exec("a", Some(10)), &[]).unwrap();
        assert!(created);
        let (_, created) = store.create(&exec("a", Some(10)), &[]).unwrap();
        assert!(!created, "same name is idempotent");
        assert!(
            store
                .claim_runnable(t(5), &lease("p1", 100), &[])
                .unwrap()
                .is_none()
        );
        assert_eq!(store.next_wake().unwrap(), Some(t(10)));
        // When p1 claims it, p2 cannot
        let got = store.claim_runnable(t(10), &lease("p1", 100), &[]).unwrap();
        assert!(got.is_some());
        assert!(
            store
                .claim("a", t(11), &lease("p2", 100))
                .unwrap()
                .is_none()
        );
        // When a signal is queued while p1 holds it, save+release keeps the lease
        store
            .push_signal(
                "a",
                &QueuedSignal {
                    at: t(11),
                    signal: Signal::Heartbeat { token: "x".into() },
                },
            )
            .unwrap();
        let mut e = exec("a", None);
        let released = store.save(&e, &[], &[], "p1", true).unwrap();
        assert!(!released);
        assert_eq!(store.take_signals("a", "p1").unwrap().len(), 1);
        e.wake_at = None;
        assert!(store.save(&e, &[], &[], "p1", true).unwrap());
        assert!(store.take_signals("a", "p2").is_err());
        // Then p2 can claim once the lease is gone, after expiry too
        assert!(store.claim("a", t(12), &lease("p2", 20)).unwrap().is_some());
        assert!(store.claim("a", t(21), &lease("p3", 40)).unwrap().is_some());
        let sig = QueuedSignal {
            at: t(21),
            signal: Signal::Heartbeat {
                token: "tok".into(),
            },
        };
        assert_eq!(
            store.deliver("tok", &sig, true).unwrap(),
            Delivery::UnknownToken
        );
        store.open_token("tok", "a").unwrap();
        assert_eq!(store.deliver("tok", &sig, false).unwrap(), Delivery::Queued);
        assert_eq!(store.deliver("tok", &sig, true).unwrap(), Delivery::Queued);
        assert_eq!(
            store.deliver("tok", &sig, true).unwrap(),
            Delivery::TaskEnded
        );
        assert_eq!(store.take_signals("a", "p3").unwrap().len(), 2);
        store.open_token("tok", "a").unwrap();
        assert!(store.token("tok").unwrap().unwrap().open);
        store
            .save(&e, &[], &["tok".to_string()], "p3", true)
            .unwrap();
        assert!(!store.token("tok").unwrap().unwrap().open);
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(store.get("a").unwrap().unwrap().version, 3);
    }

    #[test]
    fn given_memory_store_when_used_then_contract_holds() {
        contract(&MemoryExecutionStore::new());
    }

    #[test]
    fn given_sqlite_store_when_used_then_contract_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteExecutionStore::open(&dir.path().join("x.db")).unwrap();
        contract(&store);
        // and a second connection sees the same data
        let other = SqliteExecutionStore::open(&dir.path().join("x.db")).unwrap();
        assert_eq!(other.list().unwrap().len(), 1);
    }
}
