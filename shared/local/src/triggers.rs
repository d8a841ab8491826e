//! `SqliteTriggerLog`: what the GitHub trigger remembers, in the shared SQLite file — the
//! deliveries it handled (so a redelivery or a second push of one head commit never
//! starts a second release) and the `vX.Y.Z` tags it saw pushed.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use shipgate_core::Version;
use shipgate_core::ports::{StoreError, TriggerLog, TriggerRecord};

use crate::db::{Db, DbError, parse_ts, ts};

#[derive(Debug, Clone)]
pub struct SqliteTriggerLog {
    db: Arc<Db>,
}

fn backend(err: impl Into<DbError>) -> StoreError {
    StoreError::Backend(Box::new(err.into()))
}

impl SqliteTriggerLog {
    pub fn new(db: Arc<Db>) -> Result<Self, DbError> {
        Ok(Self { db })
    }
}

#[async_trait]
impl TriggerLog for SqliteTriggerLog {
    async fn seen(
        &self,
        delivery: &str,
        commit: &str,
    ) -> Result<Option<TriggerRecord>, StoreError> {
        let row: Option<(String, String, Option<String>, String, String)> =
            self.db.with_conn(|conn| {
                conn.query_row(
                    "SELECT delivery, commit_sha, release_id, outcome, at FROM trigger_deliveries
                     WHERE delivery = ?1 OR (commit_sha = ?2 AND release_id IS NOT NULL)
                     ORDER BY at LIMIT 1",
                    params![delivery, commit],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(backend)
            })?;
        row.map(|(delivery, commit, release_id, outcome, at)| {
            Ok(TriggerRecord {
                delivery,
                commit,
                release_id: release_id
                    .map(|id| id.parse().map_err(|e| StoreError::Backend(Box::new(e))))
                    .transpose()?,
                outcome,
                at: parse_ts(&at).map_err(backend)?,
            })
        })
        .transpose()
    }

    async fn record(&self, record: &TriggerRecord) -> Result<(), StoreError> {
        self.db.with_conn(|conn| {
            conn.execute(
                "INSERT INTO trigger_deliveries (delivery, commit_sha, release_id, outcome, at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (delivery) DO NOTHING",
                params![
                    record.delivery,
                    record.commit,
                    record.release_id.as_ref().map(|id| id.to_string()),
                    record.outcome,
                    ts(record.at)
                ],
            )
            .map_err(backend)
        })?;
        Ok(())
    }

    async fn record_tag(&self, commit: &str, version: &Version) -> Result<(), StoreError> {
        self.db.with_conn(|conn| {
            conn.execute(
                "INSERT INTO trigger_tags (commit_sha, version) VALUES (?1, ?2)
                 ON CONFLICT (commit_sha) DO UPDATE SET version = excluded.version",
                params![commit, version.to_string()],
            )
            .map_err(backend)
        })?;
        Ok(())
    }

    async fn tag_for(&self, commit: &str) -> Result<Option<Version>, StoreError> {
        let version: Option<String> = self.db.with_conn(|conn| {
            conn.query_row(
                "SELECT version FROM trigger_tags WHERE commit_sha = ?1",
                [commit],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })?;
        version
            .map(|v| v.parse().map_err(|e| StoreError::Backend(Box::new(e))))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::time;

    #[tokio::test]
    async fn given_a_handled_delivery_then_its_id_and_its_commit_are_seen_and_tags_are_kept() {
        let log = SqliteTriggerLog::new(Db::open_in_memory().unwrap()).unwrap();
        assert!(log.seen("d1", "c1").await.unwrap().is_none());
        let record = TriggerRecord {
            delivery: "d1".into(),
            commit: "c1".into(),
            release_id: Some("api-0.2.0-c1".parse().unwrap()),
            outcome: "started".into(),
            at: time("2026-03-02T03:00:00Z"),
        };
        log.record(&record).await.unwrap();
        log.record(&record).await.unwrap();
        assert_eq!(log.seen("d1", "other").await.unwrap(), Some(record.clone()));
        assert_eq!(log.seen("d2", "c1").await.unwrap(), Some(record));
        assert!(log.seen("d2", "c2").await.unwrap().is_none());

        assert_eq!(log.tag_for("c1").await.unwrap(), None);
        log.record_tag("c1", &"0.3.0".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(
            log.tag_for("c1").await.unwrap(),
            Some("0.3.0".parse().unwrap())
        );
    }
}
