//! The one SQLite file of the embedded world.
//!
//! Everything the local adapters persist — release records and deploy locks, the
//! simulated ECS cluster and its faults, tripped alarms, window wake-ups — lives in one
//! SQLite file, so separate `shipgate` processes (the CLI, `shipgate serve`) see the same
//! world. [`Db::open`] creates the file and its parent directories, switches the file to
//! WAL (readers never wait for the writer), sets a busy timeout so a writer waits for
//! another process's write instead of failing, and creates every table (idempotently).
//!
//! The connection sits behind a `std::sync::Mutex`; adapters take it in a synchronous
//! closure ([`Db::with_conn`]) and never across an `.await`. Statements are short, so
//! running them on the async worker is cheaper than handing them to a blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

/// The tables of every adapter over the database.
const SCHEMA: &str = include_str!("schema.sql");

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not create the directory {path} for the database")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not open the database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("could not prepare the database schema")]
    Schema(#[source] rusqlite::Error),
    #[error("a database statement failed")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a stored JSON document could not be read or written")]
    Json(#[from] serde_json::Error),
    #[error("the stored timestamp `{value}` is not RFC 3339")]
    Timestamp {
        value: String,
        #[source]
        source: chrono::ParseError,
    },
    #[error("the stored value is out of range: {0}")]
    OutOfRange(String),
}

/// The shared SQLite database (see the module documentation).
#[derive(Debug)]
pub struct Db {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl Db {
    /// Opens (or creates) the database file at `path`, creating its parent directories,
    /// and prepares every table the local adapters use.
    pub fn open(path: &Path) -> Result<Arc<Db>, DbError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| DbError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| DbError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::prepare(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory database with the same schema, for tests.
    pub fn open_in_memory() -> Result<Arc<Db>, DbError> {
        let conn = Connection::open_in_memory().map_err(|source| DbError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Self::prepare(conn, None)
    }

    fn prepare(conn: Connection, path: Option<PathBuf>) -> Result<Arc<Db>, DbError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(DbError::Schema)?;
        // `journal_mode` answers with the mode in force ("memory" for an in-memory db).
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(DbError::Schema)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(DbError::Schema)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(DbError::Schema)?;
        conn.execute_batch(SCHEMA).map_err(DbError::Schema)?;
        Ok(Arc::new(Db {
            conn: Mutex::new(conn),
            path,
        }))
    }

    /// The file this database lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` with the connection, holding the lock for the duration of `f` only.
    /// A panic in an earlier holder does not wedge the database: SQLite rolled its
    /// transaction back when the transaction guard dropped.
    pub fn with_conn<T, E>(&self, f: impl FnOnce(&mut Connection) -> Result<T, E>) -> Result<T, E> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }
}

/// A timestamp as stored: RFC 3339 in UTC with nanoseconds, fixed width, so text order
/// is time order.
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a timestamp written by [`ts`].
pub fn parse_ts(value: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|source| DbError::Timestamp {
            value: value.to_string(),
            source,
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A settable clock for the adapters' tests.
    #[derive(Debug)]
    pub(crate) struct TestClock(Mutex<DateTime<Utc>>);

    impl TestClock {
        pub(crate) fn at(rfc3339: &str) -> Arc<TestClock> {
            Arc::new(TestClock(Mutex::new(time(rfc3339))))
        }

        pub(crate) fn set(&self, at: DateTime<Utc>) {
            *self.0.lock().unwrap() = at;
        }

        pub(crate) fn advance(&self, by: chrono::Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl shipgate_core::ports::Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    pub(crate) fn time(rfc3339: &str) -> DateTime<Utc> {
        parse_ts(rfc3339).unwrap()
    }

    #[test]
    fn given_a_missing_directory_when_opened_then_it_is_created_with_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state/shipgate.db");
        let db = Db::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(db.path(), Some(path.as_path()));
        let tables: Vec<String> = db
            .with_conn(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                )?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<Result<Vec<String>, rusqlite::Error>>()
            })
            .unwrap();
        for table in [
            "releases",
            "locks",
            "ecs_task_definitions",
            "ecs_deployments",
            "ecs_faults",
            "release_alarm_trips",
            "wakeups",
        ] {
            assert!(
                tables.iter().any(|t| t == table),
                "{table} missing from {tables:?}"
            );
        }
    }

    #[test]
    fn given_an_existing_file_when_opened_twice_then_the_schema_is_kept_and_wal_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        let first = Db::open(&path).unwrap();
        first
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO wakeups(at) VALUES ('2026-01-01T03:00:00.000000000Z')",
                    [],
                )
            })
            .unwrap();
        let second = Db::open(&path).unwrap();
        let (count, mode): (i64, String) = second
            .with_conn(|c| {
                let count = c.query_row("SELECT COUNT(*) FROM wakeups", [], |r| r.get(0))?;
                let mode = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                Ok::<_, rusqlite::Error>((count, mode))
            })
            .unwrap();
        assert_eq!(count, 1);
        assert_eq!(mode.to_ascii_lowercase(), "wal");
    }

    #[test]
    fn given_timestamps_when_stored_then_text_order_is_time_order_and_they_round_trip() {
        let a = time("2026-03-01T03:00:00Z");
        let b = a + chrono::Duration::nanoseconds(1);
        let c = time("2026-11-30T23:59:59.5Z");
        assert!(ts(a) < ts(b) && ts(b) < ts(c));
        assert_eq!(parse_ts(&ts(b)).unwrap(), b);
        assert!(matches!(
            parse_ts("yesterday"),
            Err(DbError::Timestamp { .. })
        ));
    }
}
