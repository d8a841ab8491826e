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

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS releases (
    id          TEXT PRIMARY KEY NOT NULL,
    service     TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    queued_at   TEXT,
    finished_at TEXT,
    created_at  TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS releases_by_created ON releases (created_at DESC);
CREATE INDEX IF NOT EXISTS releases_by_service_created ON releases (service, created_at DESC);
CREATE INDEX IF NOT EXISTS releases_by_service_state_queued ON releases (service, state, queued_at);
CREATE INDEX IF NOT EXISTS releases_by_service_state_finished ON releases (service, state, finished_at DESC);
CREATE TABLE IF NOT EXISTS locks (
    service     TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    lease_until TEXT NOT NULL
);
";

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
                     WHERE service = ?1 AND json_extract(record, '$.release_version') = ?2
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
        let sql = format!("{SELECT}{filter_sql} ORDER BY created_at DESC, rowid DESC");
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
             ORDER BY created_at LIMIT 1",
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
mod tests {
    use chrono::Duration;
    use shipgate_core::model::{Changelog, NewRelease, ReleaseType};

    use super::*;
    use crate::db::tests::time;

    fn release(service: &str, version: &str, commit: &str, created: &str) -> Release {
        Release::open(
            NewRelease {
                service: service.parse().unwrap(),
                version: version.parse().unwrap(),
                commit: commit.into(),
                author: "robin".into(),
                changelog: Changelog::default(),
                release_type: None,
                bypass_reason: None,
                contributors: Vec::new(),
            },
            ReleaseType::Minor,
            format!("registry/{service}:{version}"),
            time(created),
        )
    }

    fn store() -> SqliteReleaseStore {
        SqliteReleaseStore::new(Db::open_in_memory().unwrap())
    }

    fn svc(name: &str) -> ServiceName {
        name.parse().unwrap()
    }

    fn ids(releases: &[Release]) -> Vec<String> {
        releases.iter().map(|r| r.id.to_string()).collect()
    }

    /// Moves a stored release to `state` through the store, returning the stored record.
    async fn set_state(store: &SqliteReleaseStore, id: &ReleaseId, state: ReleaseState) -> Release {
        let mut r = store.get(id).await.unwrap().unwrap();
        r.state = state;
        store.update(&r).await.unwrap()
    }

    #[tokio::test]
    async fn the_highest_version_compares_versions_not_text() {
        let store = store();
        assert_eq!(store.highest_version(&svc("api")).await.unwrap(), None);
        for (v, c) in [("1.3.0", "a1"), ("1.10.0", "b2"), ("1.4.0", "c3")] {
            store
                .create(&release("api", v, c, "2026-03-10T09:00:00Z"))
                .await
                .unwrap();
        }
        store
            .create(&release("worker", "9.0.0", "d4", "2026-03-10T09:00:00Z"))
            .await
            .unwrap();
        let (version, commit) = store.highest_version(&svc("api")).await.unwrap().unwrap();
        assert_eq!(
            (version.to_string(), commit.as_str()),
            ("1.10.0".into(), "b2")
        );
    }

    #[tokio::test]
    async fn given_a_new_release_when_created_then_get_returns_it_unchanged() {
        let store = store();
        let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
        store.create(&r).await.unwrap();
        assert_eq!(store.get(&r.id).await.unwrap(), Some(r));
        let missing: ReleaseId = "api-9.9.9-nothing".parse().unwrap();
        assert_eq!(store.get(&missing).await.unwrap(), None);
    }

    #[tokio::test]
    async fn given_an_existing_id_when_created_again_then_already_exists_and_the_first_stays() {
        let store = store();
        let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
        store.create(&r).await.unwrap();
        let mut other = r.clone();
        other.author = "mallory".into();
        let err = store.create(&other).await.unwrap_err();
        assert!(
            matches!(err, StoreError::AlreadyExists(ref id) if id == r.id.as_str()),
            "{err:?}"
        );
        assert_eq!(store.get(&r.id).await.unwrap().unwrap().author, "robin");
    }

    #[tokio::test]
    async fn given_a_read_release_when_updated_then_the_version_increments_and_is_stored() {
        let store = store();
        let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
        store.create(&r).await.unwrap();
        let mut read = store.get(&r.id).await.unwrap().unwrap();
        read.state = ReleaseState::AwaitingApproval;
        let written = store.update(&read).await.unwrap();
        assert_eq!(written.version, 1);
        assert_eq!(written.state, ReleaseState::AwaitingApproval);
        assert_eq!(store.get(&r.id).await.unwrap(), Some(written.clone()));
        let again = store.update(&written).await.unwrap();
        assert_eq!(again.version, 2);
    }

    #[tokio::test]
    async fn given_two_writers_of_one_version_when_both_update_then_one_wins_and_the_other_conflicts()
     {
        let store = store();
        let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
        store.create(&r).await.unwrap();
        let mut a = store.get(&r.id).await.unwrap().unwrap();
        let mut b = store.get(&r.id).await.unwrap().unwrap();
        a.outcome = Some("writer a".into());
        b.outcome = Some("writer b".into());
        let winner = store.update(&a).await.unwrap();
        let err = store.update(&b).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { ref id, expected: 0 } if id == r.id.as_str()),
            "{err:?}"
        );
        let stored = store.get(&r.id).await.unwrap().unwrap();
        assert_eq!(stored, winner);
        assert_eq!(stored.outcome.as_deref(), Some("writer a"));
    }

    #[tokio::test]
    async fn given_an_unknown_release_when_updated_then_not_found() {
        let store = store();
        let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
        let err = store.update(&r).await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound(ref id) if id == r.id.as_str()),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn given_releases_of_two_services_when_listed_then_newest_first_filtered_by_service_and_state()
     {
        let store = store();
        let old = release("api", "1.0.0", "aaaaaaa", "2026-03-01T10:00:00Z");
        let mid = release("web", "2.0.0", "bbbbbbb", "2026-03-02T10:00:00Z");
        let new = release("api", "1.1.0", "ccccccc", "2026-03-03T10:00:00Z");
        for r in [&old, &mid, &new] {
            store.create(r).await.unwrap();
        }
        set_state(&store, &old.id, ReleaseState::Succeeded).await;

        let all = store.list(&ReleaseFilter::default()).await.unwrap();
        assert_eq!(ids(&all), ids(&[new.clone(), mid.clone(), old.clone()]));

        let api = ReleaseFilter {
            service: Some(svc("api")),
            states: vec![],
        };
        assert_eq!(
            ids(&store.list(&api).await.unwrap()),
            ids(&[new.clone(), old.clone()])
        );

        let pending = ReleaseFilter {
            service: Some(svc("api")),
            states: vec![ReleaseState::Pending],
        };
        assert_eq!(
            ids(&store.list(&pending).await.unwrap()),
            vec![new.id.to_string()]
        );

        let either = ReleaseFilter {
            service: None,
            states: vec![ReleaseState::Succeeded, ReleaseState::Pending],
        };
        assert_eq!(store.list(&either).await.unwrap().len(), 3);

        let none = ReleaseFilter {
            service: Some(svc("worker")),
            states: vec![],
        };
        assert!(store.list(&none).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn given_releases_awaiting_the_window_when_queued_then_oldest_queued_comes_first() {
        let store = store();
        // Created in one order, queued in the other.
        let first_created = release("api", "1.1.0", "aaaaaaa", "2026-03-01T10:00:00Z");
        let second_created = release("api", "1.2.0", "bbbbbbb", "2026-03-01T11:00:00Z");
        let not_waiting = release("api", "1.3.0", "ccccccc", "2026-03-01T12:00:00Z");
        let other_service = release("web", "1.0.0", "ddddddd", "2026-03-01T09:00:00Z");
        for r in [
            &first_created,
            &second_created,
            &not_waiting,
            &other_service,
        ] {
            store.create(r).await.unwrap();
        }
        for (r, queued) in [
            (&first_created, "2026-03-01T14:00:00Z"),
            (&second_created, "2026-03-01T13:00:00Z"),
            (&other_service, "2026-03-01T12:00:00Z"),
        ] {
            let mut read = store.get(&r.id).await.unwrap().unwrap();
            read.state = ReleaseState::AwaitingWindow;
            read.queued_at = Some(time(queued));
            store.update(&read).await.unwrap();
        }
        let queue = store.window_queue(&svc("api")).await.unwrap();
        assert_eq!(ids(&queue), ids(&[second_created, first_created]));
    }

    #[tokio::test]
    async fn given_several_succeeded_releases_when_asked_for_the_last_released_then_the_newest_finished_one()
     {
        let store = store();
        assert_eq!(store.last_released(&svc("api")).await.unwrap(), None);
        let a = release("api", "1.0.0", "aaaaaaa", "2026-03-01T10:00:00Z");
        let b = release("api", "1.1.0", "bbbbbbb", "2026-03-02T10:00:00Z");
        let c = release("api", "1.2.0", "ccccccc", "2026-03-03T10:00:00Z");
        let other = release("web", "3.0.0", "ddddddd", "2026-03-04T10:00:00Z");
        for r in [&a, &b, &c, &other] {
            store.create(r).await.unwrap();
        }
        // b finished after a; c was rolled back; web is another service.
        for (r, state, finished) in [
            (&a, ReleaseState::Succeeded, "2026-03-05T04:00:00Z"),
            (&b, ReleaseState::Succeeded, "2026-03-06T04:00:00Z"),
            (&c, ReleaseState::RolledBack, "2026-03-07T04:00:00Z"),
            (&other, ReleaseState::Succeeded, "2026-03-08T04:00:00Z"),
        ] {
            let mut read = store.get(&r.id).await.unwrap().unwrap();
            read.state = state;
            read.finished_at = Some(time(finished));
            store.update(&read).await.unwrap();
        }
        let last = store.last_released(&svc("api")).await.unwrap().unwrap();
        assert_eq!(last.id, b.id);
    }

    #[tokio::test]
    async fn given_a_held_lock_when_another_release_asks_then_held_by_and_the_holder_may_extend() {
        let store = store();
        let api = svc("api");
        let a: ReleaseId = "api-1.1.0-aaaaaaa".parse().unwrap();
        let b: ReleaseId = "api-1.2.0-bbbbbbb".parse().unwrap();
        let now = time("2026-03-01T03:00:00Z");
        let lease = now + Duration::minutes(180);
        assert_eq!(store.lock_holder(&api, now).await.unwrap(), None);
        assert_eq!(
            store.acquire_lock(&api, &a, now, lease).await.unwrap(),
            LockOutcome::Acquired
        );
        assert_eq!(
            store.acquire_lock(&api, &b, now, lease).await.unwrap(),
            LockOutcome::HeldBy(a.clone())
        );
        // Re-entrant: the holder extends its lease.
        let later = now + Duration::minutes(170);
        let extended = later + Duration::minutes(180);
        assert_eq!(
            store.acquire_lock(&api, &a, later, extended).await.unwrap(),
            LockOutcome::Acquired
        );
        let after_first_lease = lease + Duration::minutes(1);
        assert_eq!(
            store.lock_holder(&api, after_first_lease).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store
                .acquire_lock(&api, &b, after_first_lease, after_first_lease)
                .await
                .unwrap(),
            LockOutcome::HeldBy(a.clone())
        );
        // Another service has its own lock.
        assert_eq!(
            store
                .acquire_lock(&svc("web"), &b, now, lease)
                .await
                .unwrap(),
            LockOutcome::Acquired
        );
    }

    #[tokio::test]
    async fn given_an_expired_lease_when_another_release_asks_then_it_takes_the_lock_over() {
        let store = store();
        let api = svc("api");
        let a: ReleaseId = "api-1.1.0-aaaaaaa".parse().unwrap();
        let b: ReleaseId = "api-1.2.0-bbbbbbb".parse().unwrap();
        let now = time("2026-03-01T03:00:00Z");
        let lease = now + Duration::minutes(10);
        store.acquire_lock(&api, &a, now, lease).await.unwrap();
        // At the lease's last instant it still holds.
        assert_eq!(
            store.lock_holder(&api, lease).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store.acquire_lock(&api, &b, lease, lease).await.unwrap(),
            LockOutcome::HeldBy(a.clone())
        );
        let expired = lease + Duration::seconds(1);
        assert_eq!(store.lock_holder(&api, expired).await.unwrap(), None);
        assert_eq!(
            store
                .acquire_lock(&api, &b, expired, expired + Duration::minutes(10))
                .await
                .unwrap(),
            LockOutcome::Acquired
        );
        assert_eq!(
            store.lock_holder(&api, expired).await.unwrap(),
            Some(b.clone())
        );
        // The old holder can no longer free it.
        assert!(!store.release_lock(&api, &a).await.unwrap());
    }

    #[tokio::test]
    async fn given_a_lock_when_released_then_only_by_its_holder() {
        let store = store();
        let api = svc("api");
        let a: ReleaseId = "api-1.1.0-aaaaaaa".parse().unwrap();
        let b: ReleaseId = "api-1.2.0-bbbbbbb".parse().unwrap();
        let now = time("2026-03-01T03:00:00Z");
        store
            .acquire_lock(&api, &a, now, now + Duration::hours(3))
            .await
            .unwrap();
        assert!(!store.release_lock(&api, &b).await.unwrap());
        assert_eq!(store.lock_holder(&api, now).await.unwrap(), Some(a.clone()));
        assert!(store.release_lock(&api, &a).await.unwrap());
        assert!(!store.release_lock(&api, &a).await.unwrap());
        assert_eq!(store.lock_holder(&api, now).await.unwrap(), None);
        assert_eq!(
            store.acquire_lock(&api, &b, now, now).await.unwrap(),
            LockOutcome::Acquired
        );
    }

    #[tokio::test]
    async fn given_two_stores_over_one_file_when_one_writes_then_the_other_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        let one = SqliteReleaseStore::new(Db::open(&path).unwrap());
        let two = SqliteReleaseStore::new(Db::open(&path).unwrap());
        let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
        one.create(&r).await.unwrap();
        let mut read = two.get(&r.id).await.unwrap().unwrap();
        read.state = ReleaseState::AwaitingApproval;
        two.update(&read).await.unwrap();
        // The first store's stale copy now conflicts.
        assert!(matches!(
            one.update(&r).await,
            Err(StoreError::Conflict { expected: 0, .. })
        ));
        assert_eq!(
            one.get(&r.id).await.unwrap().unwrap().state,
            ReleaseState::AwaitingApproval
        );
        let now = time("2026-03-01T03:00:00Z");
        one.acquire_lock(&r.service, &r.id, now, now + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(
            two.lock_holder(&r.service, now).await.unwrap(),
            Some(r.id.clone())
        );
    }

    #[test]
    fn given_two_processes_racing_on_one_release_when_each_retries_on_conflict_then_no_write_is_lost()
     {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(SqliteReleaseStore::new(Db::open(&path).unwrap()).create(&r))
            .unwrap();
        const WRITES: usize = 25;
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let path = path.clone();
                let id = r.id.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    let store = SqliteReleaseStore::new(Db::open(&path).unwrap());
                    let mut conflicts = 0;
                    for i in 0..WRITES {
                        loop {
                            let mut read = rt.block_on(store.get(&id)).unwrap().unwrap();
                            read.note(read.created_at, name, "write", format!("{name}{i}"));
                            match rt.block_on(store.update(&read)) {
                                Ok(_) => break,
                                Err(StoreError::Conflict { .. }) => conflicts += 1,
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let store = SqliteReleaseStore::new(Db::open(&path).unwrap());
        let stored = rt.block_on(store.get(&r.id)).unwrap().unwrap();
        assert_eq!(stored.version, 2 * WRITES as u64);
        let writes = stored.events.iter().filter(|e| e.kind == "write").count();
        assert_eq!(writes, 2 * WRITES);
    }

    #[tokio::test]
    async fn given_a_corrupt_record_when_read_then_a_backend_error_keeps_the_cause() {
        let db = Db::open_in_memory().unwrap();
        db.with_conn(|c| {
            c.execute(
                "INSERT INTO releases (id, service, state, version, created_at, record)
                 VALUES ('api-1.0.0-bad', 'api', 'Pending', 0, '2026-03-01T00:00:00.000000000Z', '{not json')",
                [],
            )
        })
        .unwrap();
        let store = SqliteReleaseStore::new(db);
        let err = store
            .get(&"api-1.0.0-bad".parse().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)));
        assert!(std::error::Error::source(&err).is_some());
    }
}
