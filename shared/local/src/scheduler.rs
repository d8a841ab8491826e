//! `LocalScheduler`: window wake-ups in the shared SQLite file — the local stand-in for the
//! EventBridge Scheduler schedule that opens the deploy window.
//!
//! The window gate asks to be woken at a time ([`WindowScheduler::wake_at`]); the local
//! runtime asks for the next wake-up ([`LocalScheduler::next`]) to move its clock there,
//! and takes the due ones ([`LocalScheduler::take_due`]) to call the gate. Equal times are
//! kept once; taking is atomic, so two processes never both take one wake-up.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior};
use shipgate_core::ports::{WindowScheduler, WorkflowError};

use crate::db::{Db, DbError, parse_ts, ts};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS wakeups (
    at TEXT PRIMARY KEY NOT NULL
);
";

/// Window wake-ups over the shared database.
#[derive(Debug, Clone)]
pub struct LocalScheduler {
    db: Arc<Db>,
}

fn backend(err: impl Into<DbError>) -> WorkflowError {
    WorkflowError::Backend(Box::new(err.into()))
}

impl LocalScheduler {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// The earliest pending wake-up.
    pub fn next(&self) -> Result<Option<DateTime<Utc>>, WorkflowError> {
        let at: Option<String> = self.db.with_conn(|conn| {
            conn.query_row("SELECT at FROM wakeups ORDER BY at LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(backend)
        })?;
        at.map(|at| parse_ts(&at).map_err(backend)).transpose()
    }

    /// Removes and returns the wake-ups due at `now` (at or before it), oldest first.
    pub fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, WorkflowError> {
        let due: Vec<String> = self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let due = {
                let mut stmt = tx
                    .prepare("SELECT at FROM wakeups WHERE at <= ?1 ORDER BY at")
                    .map_err(backend)?;
                let rows = stmt.query_map([ts(now)], |r| r.get(0)).map_err(backend)?;
                rows.collect::<Result<Vec<String>, _>>().map_err(backend)?
            };
            tx.execute("DELETE FROM wakeups WHERE at <= ?1", [ts(now)])
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(due)
        })?;
        due.iter().map(|at| parse_ts(at).map_err(backend)).collect()
    }

    /// Every pending wake-up, oldest first.
    pub fn pending(&self) -> Result<Vec<DateTime<Utc>>, WorkflowError> {
        let all: Vec<String> = self.db.with_conn(|conn| {
            let mut stmt = conn
                .prepare("SELECT at FROM wakeups ORDER BY at")
                .map_err(backend)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
            rows.collect::<Result<Vec<String>, _>>().map_err(backend)
        })?;
        all.iter().map(|at| parse_ts(at).map_err(backend)).collect()
    }
}

#[async_trait]
impl WindowScheduler for LocalScheduler {
    async fn wake_at(&self, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        self.db.with_conn(|conn| {
            conn.execute(
                "INSERT INTO wakeups (at) VALUES (?1) ON CONFLICT (at) DO NOTHING",
                [ts(at)],
            )
            .map_err(backend)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::time;

    #[tokio::test]
    async fn given_no_wake_ups_then_nothing_is_next_or_due() {
        let scheduler = LocalScheduler::new(Db::open_in_memory().unwrap());
        assert_eq!(scheduler.next().unwrap(), None);
        assert!(
            scheduler
                .take_due(time("2030-01-01T00:00:00Z"))
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn given_wake_ups_in_any_order_when_asked_then_the_earliest_is_next_and_equal_times_count_once()
     {
        let scheduler = LocalScheduler::new(Db::open_in_memory().unwrap());
        for at in [
            "2026-03-03T03:00:00Z",
            "2026-03-02T03:00:00Z",
            "2026-03-03T03:00:00Z",
        ] {
            scheduler.wake_at(time(at)).await.unwrap();
        }
        assert_eq!(
            scheduler.next().unwrap(),
            Some(time("2026-03-02T03:00:00Z"))
        );
        assert_eq!(scheduler.pending().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn given_due_and_future_wake_ups_when_taken_then_only_the_due_ones_are_removed_and_returned()
     {
        let scheduler = LocalScheduler::new(Db::open_in_memory().unwrap());
        for at in [
            "2026-03-02T03:00:00Z",
            "2026-03-01T03:00:00Z",
            "2026-03-03T03:00:00Z",
        ] {
            scheduler.wake_at(time(at)).await.unwrap();
        }
        let due = scheduler.take_due(time("2026-03-02T03:00:00Z")).unwrap();
        assert_eq!(
            due,
            vec![time("2026-03-01T03:00:00Z"), time("2026-03-02T03:00:00Z")]
        );
        assert!(
            scheduler
                .take_due(time("2026-03-02T03:00:00Z"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            scheduler.next().unwrap(),
            Some(time("2026-03-03T03:00:00Z"))
        );
    }

    #[tokio::test]
    async fn given_two_schedulers_over_one_file_when_one_schedules_then_the_other_takes_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        let one = LocalScheduler::new(Db::open(&path).unwrap());
        let two = LocalScheduler::new(Db::open(&path).unwrap());
        one.wake_at(time("2026-03-02T03:00:00Z")).await.unwrap();
        assert_eq!(two.take_due(time("2026-03-02T04:00:00Z")).unwrap().len(), 1);
        assert!(
            one.take_due(time("2026-03-02T04:00:00Z"))
                .unwrap()
                .is_empty()
        );
    }
}
