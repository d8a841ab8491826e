//! `SqliteReleaseStore`: the release records and per-service deploy locks in SQLite — the
//! local stand-in for the DynamoDB table.
//!
//! A release is one row: the record as JSON plus the columns the queries need (service,
//! state, version, queued_at, finished_at, created_at). Every update is conditional on the
//! version the caller read (`... WHERE id = ? AND version = ?`), the same optimistic
//! concurrency a DynamoDB condition expression gives: of two writers that read version N,
//! one wins and the other gets [`StoreError::Conflict`]; nothing is overwritten.
//!
//! The deploy lock is a row per service with a holder and a lease: re-entrant for its
//! holder, free for anyone once the lease has passed.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use shipgate_core::Version;
use shipgate_core::model::{Release, ReleaseId, ReleaseState, ServiceName};
use shipgate_core::ports::{LockOutcome, ReleaseFilter, ReleaseStore, StoreError};

use crate::db::{Db, DbError, parse_ts, ts};

const SELECT: &str = "SELECT record, version FROM releases";

/// The release store over the shared SQLite file (see the module documentation).
#[derive(Debug, Clone)]
pub struct SqliteReleaseStore {
    db: Arc<Db>,
}

impl SqliteReleaseStore {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn backend(err: impl Into<DbError>) -> StoreError {
    StoreError::Backend(Box::new(err.into()))
}

fn stored_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version)
        .map_err(|_| backend(DbError::OutOfRange(format!("release version {version}"))))
}

/// The release as stored: its JSON with the version column, which is authoritative.
fn decode(record: &str, version: i64) -> Result<Release, StoreError> {
    let mut release: Release = serde_json::from_str(record).map_err(backend)?;
    release.version = u64::try_from(version).map_err(|_| {
        backend(DbError::OutOfRange(format!(
            "stored release version {version}"
        )))
    })?;
    Ok(release)
}

fn query_releases(
    conn: &Connection,
    sql: &str,
    args: Vec<SqlValue>,
) -> Result<Vec<Release>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(args), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(backend)?;
    let mut releases = Vec::new();
    for row in rows {
        let (record, version) = row.map_err(backend)?;
        releases.push(decode(&record, version)?);
    }
    Ok(releases)
}

fn holder_id(holder: String) -> Result<ReleaseId, StoreError> {
    holder
        .parse()
        .map_err(|e: shipgate_core::model::IdError| StoreError::Backend(Box::new(e)))
}

#[async_trait]
impl ReleaseStore for SqliteReleaseStore {
    async fn create(&self, release: &Release) -> Result<(), StoreError> {
        let record = serde_json::to_string(release).map_err(backend)?;
        let version = stored_version(release.version)?;
        let semver = release.semver.to_string();
        self.db.with_conn(|conn| {
            // One transaction: a version another commit's release took is never taken twice.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let taken: Option<(String, String)> = tx
                .query_row(
                    "SELECT id, json_extract(record, '$.commit') FROM releases
                     WHERE service = ?1
                       AND iif(json_valid(record), json_extract(record, '$.release_version'), NULL) = ?2
                     LIMIT 1",
                    params![release.service.as_str(), semver],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            match taken {
                Some((id, _)) if id == release.id.as_str() => {
                    return Err(StoreError::AlreadyExists(release.id.to_string()));
                }
                Some((_, commit)) => {
                    return Err(StoreError::VersionTaken {
                        service: release.service.to_string(),
                        version: semver.clone(),
                        commit,
                    });
                }
                None => {}
            }
            let inserted = tx
                .execute(
                    "INSERT INTO releases (id, service, state, version, queued_at, finished_at, created_at, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO NOTHING",
                    params![
                        release.id.as_str(),
                        release.service.as_str(),
                        release.state.as_str(),
                        version,
                        release.queued_at.map(ts),
                        release.finished_at.map(ts),
                        ts(release.created_at),
                        record,
                    ],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(release.id.to_string()));
            }
            tx.commit().map_err(backend)
        })
    }

    async fn get(&self, id: &ReleaseId) -> Result<Option<Release>, StoreError> {
        let row = self.db.with_conn(|conn| {
            conn.query_row(&format!("{SELECT} WHERE id = ?1"), [id.as_str()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(backend)
        })?;
        row.map(|(record, version)| decode(&record, version))
            .transpose()
    }

    async fn update(&self, release: &Release) -> Result<Release, StoreError> {
        let expected = release.version;
        let mut stored = release.clone();
        stored.version = expected.checked_add(1).ok_or_else(|| {
            backend(DbError::OutOfRange(format!(
                "release version {expected} + 1"
            )))
        })?;
        let record = serde_json::to_string(&stored).map_err(backend)?;
        let expected_sql = stored_version(expected)?;
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let changed = tx
                .execute(
                    "UPDATE releases
                     SET record = ?1, state = ?2, version = version + 1, service = ?3,
                         queued_at = ?4, finished_at = ?5, created_at = ?6
                     WHERE id = ?7 AND version = ?8",
                    params![
                        record,
                        stored.state.as_str(),
                        stored.service.as_str(),
                        stored.queued_at.map(ts),
                        stored.finished_at.map(ts),
                        ts(stored.created_at),
                        stored.id.as_str(),
                        expected_sql,
                    ],
                )
                .map_err(backend)?;
            if changed == 0 {
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM releases WHERE id = ?1",
                        [stored.id.as_str()],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(backend)?
                    .is_some();
                return Err(if exists {
                    StoreError::Conflict {
                        id: stored.id.to_string(),
                        expected,
                    }
                } else {
                    StoreError::NotFound(stored.id.to_string())
                });
            }
            tx.commit().map_err(backend)
        })?;
        Ok(stored)
    }

    async fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        let mut clauses = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(service) = &filter.service {
            args.push(SqlValue::Text(service.to_string()));
            clauses.push(format!("service = ?{}", args.len()));
        }
        if !filter.states.is_empty() {
            let mut marks = Vec::new();
            for state in &filter.states {
                args.push(SqlValue::Text(state.as_str().to_string()));
                marks.push(format!("?{}", args.len()));
            }
            clauses.push(format!("state IN ({})", marks.join(", ")));
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        // `+created_at`: the planner picks the (service, state) index and sorts the few rows
        // it finds, rather than walking every release of the service in creation order.
        let sql = format!("{SELECT}{filter_sql} ORDER BY +created_at DESC, rowid DESC");
        self.db.with_conn(|conn| query_releases(conn, &sql, args))
    }

    async fn window_queue(&self, service: &ServiceName) -> Result<Vec<Release>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE service = ?1 AND state = ?2 ORDER BY queued_at IS NULL, queued_at, created_at, rowid"
        );
        let args = vec![
            SqlValue::Text(service.to_string()),
            SqlValue::Text(ReleaseState::AwaitingWindow.as_str().to_string()),
        ];
        self.db.with_conn(|conn| query_releases(conn, &sql, args))
    }

    async fn last_released(&self, service: &ServiceName) -> Result<Option<Release>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE service = ?1 AND state = ?2 ORDER BY finished_at DESC, created_at DESC, rowid DESC LIMIT 1"
        );
        let args = vec![
            SqlValue::Text(service.to_string()),
            SqlValue::Text(ReleaseState::Succeeded.as_str().to_string()),
        ];
        let mut found = self.db.with_conn(|conn| query_releases(conn, &sql, args))?;
        Ok(found.pop())
    }

    async fn highest_version(
        &self,
        service: &ServiceName,
    ) -> Result<Option<(Version, String)>, StoreError> {
        // One query; the versions are compared as versions, not as text.
        let rows: Vec<(String, String)> = self.db.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT json_extract(record, '$.release_version'), json_extract(record, '$.commit')
                     FROM releases WHERE service = ?1",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([service.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            Ok(rows)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(v, c)| v.parse::<Version>().ok().map(|v| (v, c)))
            .max_by_key(|(v, _)| *v))
    }

    async fn acquire_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let current = tx
                .query_row(
                    "SELECT holder, lease_until FROM locks WHERE service = ?1",
                    [service.as_str()],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(backend)?;
            if let Some((current_holder, current_lease)) = current {
                let expired = parse_ts(&current_lease).map_err(backend)? < now;
                if current_holder != holder.as_str() && !expired {
                    return Ok(LockOutcome::HeldBy(holder_id(current_holder)?));
                }
            }
            tx.execute(
                "INSERT INTO locks (service, holder, lease_until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (service) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until",
                params![service.as_str(), holder.as_str(), ts(lease_until)],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(LockOutcome::Acquired)
        })
    }

    async fn release_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
    ) -> Result<bool, StoreError> {
        let deleted = self.db.with_conn(|conn| {
            conn.execute(
                "DELETE FROM locks WHERE service = ?1 AND holder = ?2",
                params![service.as_str(), holder.as_str()],
            )
            .map_err(backend)
        })?;
        Ok(deleted > 0)
    }

    async fn lock_holder(
        &self,
        service: &ServiceName,
        now: DateTime<Utc>,
    ) -> Result<Option<ReleaseId>, StoreError> {
        let holder = self.db.with_conn(|conn| {
            conn.query_row(
                "SELECT holder FROM locks WHERE service = ?1 AND lease_until >= ?2",
                params![service.as_str(), ts(now)],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(backend)
        })?;
        holder.map(holder_id).transpose()
    }
}

/// The release of `service` that is live now (deploying, being checked or monitored), for
/// the other adapters over the same file: the simulated alarms scope a hand-made trip to
/// it. The deploy lock lets at most one release of a service be live.
pub(crate) fn live_release(conn: &Connection, service: &str) -> Result<Option<ReleaseId>, DbError> {
    let id: Option<String> = conn
        .query_row(
            "SELECT id FROM releases WHERE service = ?1 AND state IN (?2, ?3, ?4)
             ORDER BY +created_at LIMIT 1",
            params![
                service,
                ReleaseState::Deploying.as_str(),
                ReleaseState::HealthChecking.as_str(),
                ReleaseState::Monitoring.as_str(),
            ],
            |r| r.get(0),
        )
        .optional()?;
    id.map(|id| {
        id.parse()
            .map_err(|_| DbError::OutOfRange(format!("stored release id `{id}`")))
    })
    .transpose()
}

/// The state column of release `id`, if the release exists.
pub(crate) fn stored_state(conn: &Connection, id: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row("SELECT state FROM releases WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?)
}

#[cfg(test)]
mod tests;
