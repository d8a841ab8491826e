//! `LocalScheduler`: wake-ups in the shared SQLite file — the local stand-in for the
//! EventBridge Scheduler schedules that open the deploy window and remind approvers.
//!
//! A gate asks to be woken at a time ([`WindowScheduler::schedule`], or `wake_at` for the
//! window); the local runtime asks for the next wake-up ([`LocalScheduler::next`]) to move
//! its clock there, reads the due ones ([`LocalScheduler::due`]), invokes their gates and
//! only then removes each ([`LocalScheduler::done`]): a process killed in between leaves the
//! wake-up due, and the next run delivers it again — at least once, as EventBridge Scheduler
//! does, so the gates it wakes are idempotent. One wake-up at one time is kept once. Window wake-ups keep their original table (`wakeups`); the
//! others live in `wakeup_tasks` as the JSON of their [`WakeUp`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shipgate_core::ports::{WakeUp, WindowScheduler, WorkflowError};

use crate::db::{Db, DbError, parse_ts, ts};

/// Wake-ups over the shared database.
#[derive(Debug, Clone)]
pub struct LocalScheduler {
    db: Arc<Db>,
}

fn backend(err: impl Into<DbError>) -> WorkflowError {
    WorkflowError::Backend(Box::new(err.into()))
}

const ALL: &str =
    "SELECT at, NULL AS wake FROM wakeups UNION ALL SELECT at, wake FROM wakeup_tasks";

fn decode(
    rows: Vec<(String, Option<String>)>,
) -> Result<Vec<(DateTime<Utc>, WakeUp)>, WorkflowError> {
    rows.into_iter()
        .map(|(at, wake)| {
            let at = parse_ts(&at).map_err(backend)?;
            let wake = match wake {
                None => WakeUp::Window,
                Some(json) => serde_json::from_str(&json).map_err(backend)?,
            };
            Ok((at, wake))
        })
        .collect()
}

impl LocalScheduler {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// The time of the earliest pending wake-up.
    pub fn next(&self) -> Result<Option<DateTime<Utc>>, WorkflowError> {
        Ok(self.pending()?.into_iter().map(|(at, _)| at).next())
    }

    /// The wake-ups due at `now` (at or before it), oldest first. They stay pending until
    /// [`LocalScheduler::done`] removes them.
    pub fn due(&self, now: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, WakeUp)>, WorkflowError> {
        Ok(self
            .pending()?
            .into_iter()
            .take_while(|(at, _)| *at <= now)
            .collect())
    }

    /// Removes one delivered wake-up.
    pub fn done(&self, at: DateTime<Utc>, wake: &WakeUp) -> Result<(), WorkflowError> {
        let json = match wake {
            WakeUp::Window => None,
            other => Some(serde_json::to_string(other).map_err(backend)?),
        };
        self.db.with_conn(|conn| match &json {
            None => conn
                .execute("DELETE FROM wakeups WHERE at = ?1", [ts(at)])
                .map_err(backend),
            Some(json) => conn
                .execute(
                    "DELETE FROM wakeup_tasks WHERE at = ?1 AND wake = ?2",
                    [ts(at), json.clone()],
                )
                .map_err(backend),
        })?;
        Ok(())
    }

    /// Removes and returns the wake-ups due at `now` in one step (for callers that cannot
    /// lose one to a crash, use [`LocalScheduler::due`] and [`LocalScheduler::done`]).
    pub fn take_due(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, WakeUp)>, WorkflowError> {
        let due = self.due(now)?;
        for (at, wake) in &due {
            self.done(*at, wake)?;
        }
        Ok(due)
    }

    /// Every pending wake-up, oldest first.
    pub fn pending(&self) -> Result<Vec<(DateTime<Utc>, WakeUp)>, WorkflowError> {
        let all: Vec<(String, Option<String>)> = self.db.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT at, wake FROM ({ALL}) ORDER BY at, wake"))
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })?;
        decode(all)
    }
}

#[async_trait]
impl WindowScheduler for LocalScheduler {
    async fn wake_at(&self, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        self.schedule(&WakeUp::Window, at).await
    }

    async fn schedule(&self, wake: &WakeUp, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        let json = match wake {
            WakeUp::Window => None,
            other => Some(serde_json::to_string(other).map_err(backend)?),
        };
        self.db.with_conn(|conn| match &json {
            None => conn
                .execute(
                    "INSERT INTO wakeups (at) VALUES (?1) ON CONFLICT (at) DO NOTHING",
                    [ts(at)],
                )
                .map_err(backend),
            Some(json) => conn
                .execute(
                    "INSERT INTO wakeup_tasks (at, wake) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    [ts(at), json.clone()],
                )
                .map_err(backend),
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
        let reminder = WakeUp::ApprovalReminder {
            release_id: "api-1.3.0-abc".parse().unwrap(),
        };
        for _ in 0..2 {
            scheduler
                .schedule(&reminder, time("2026-03-02T03:00:00Z"))
                .await
                .unwrap();
        }
        assert_eq!(
            scheduler.pending().unwrap(),
            vec![
                (time("2026-03-02T03:00:00Z"), WakeUp::Window),
                (time("2026-03-02T03:00:00Z"), reminder.clone()),
                (time("2026-03-03T03:00:00Z"), WakeUp::Window),
            ]
        );
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
            vec![
                (time("2026-03-01T03:00:00Z"), WakeUp::Window),
                (time("2026-03-02T03:00:00Z"), WakeUp::Window)
            ]
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
    async fn given_a_due_wake_up_when_read_then_it_stays_until_it_is_done() {
        let scheduler = LocalScheduler::new(Db::open_in_memory().unwrap());
        let reminder = WakeUp::ApprovalReminder {
            release_id: "api-1.3.0-0123456".parse().unwrap(),
        };
        let at = time("2026-03-02T03:00:00Z");
        scheduler.wake_at(at).await.unwrap();
        scheduler.schedule(&reminder, at).await.unwrap();
        let now = time("2026-03-02T04:00:00Z");
        let due = scheduler.due(now).unwrap();
        assert_eq!(due.len(), 2);
        // A process that read them and died: both are still due.
        assert_eq!(scheduler.due(now).unwrap(), due);
        scheduler.done(at, &reminder).unwrap();
        assert_eq!(scheduler.due(now).unwrap(), vec![(at, WakeUp::Window)]);
        scheduler.done(at, &WakeUp::Window).unwrap();
        assert!(scheduler.due(now).unwrap().is_empty());
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
