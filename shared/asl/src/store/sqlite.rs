//! The durable execution store on SQLite: executions survive restarts and are shared between processes.

use super::*;

// ---------------------------------------------------------------------------------------
// SQLite store
// ---------------------------------------------------------------------------------------

/// A store in a SQLite file (WAL mode), safe for several processes: claims and
/// check-and-release run in `BEGIN IMMEDIATE` transactions.
pub struct SqliteExecutionStore {
    conn: Mutex<rusqlite::Connection>,
}

pub(super) const SCHEMA: &str = "
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

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

pub(super) type Row = (String, String, Option<i64>, i64);

pub(super) fn row_to_exec(r: Row) -> Result<StoredExecution, StoreError> {
    Ok(StoredExecution {
        description: serde_json::from_str(&r.0)?,
        snapshot: r.1,
        wake_at: r.2.map(from_ms),
        version: u64::try_from(r.3).unwrap_or(0),
    })
}

pub(super) const SELECT_EXEC: &str =
    "SELECT description, snapshot, wake_at, version FROM executions";

pub(super) fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
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

pub(super) fn insert_events(
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

    fn pending_signals(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<PendingSignal>, StoreError> {
        let conn = self.lock();
        let holder: Option<Option<String>> = conn
            .query_row(
                "SELECT lease_owner FROM executions WHERE id = ?1",
                params![execution_id],
                |r| r.get(0),
            )
            .optional()?;
        if holder.flatten().as_deref() != Some(owner) {
            return Err(StoreError::LeaseLost(execution_id.to_string()));
        }
        let mut stmt = conn
            .prepare_cached("SELECT seq, body FROM signals WHERE execution_id = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![execution_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row?;
            out.push(PendingSignal {
                seq: u64::try_from(seq).unwrap_or(0),
                queued: serde_json::from_str(&body)?,
            });
        }
        Ok(out)
    }

    fn save(
        &self,
        exec: &StoredExecution,
        step: &Step<'_>,
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
        for seq in step.consumed {
            tx.execute(
                "DELETE FROM signals WHERE seq = ?1 AND execution_id = ?2",
                params![i64::try_from(*seq).unwrap_or(i64::MAX), id],
            )?;
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
        insert_events(&tx, id, step.events)?;
        for t in step.closed_tokens {
            tx.execute("UPDATE tokens SET open = 0 WHERE token = ?1", params![t])?;
        }
        tx.commit()?;
        Ok(released)
    }

    fn release_leases(&self, owner: &str) -> Result<usize, StoreError> {
        let conn = self.lock();
        Ok(conn.execute(
            "UPDATE executions SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?1",
            params![owner],
        )?)
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
