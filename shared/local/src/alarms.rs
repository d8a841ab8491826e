//! `SimulatedAlarms`: CloudWatch alarms and metrics for the simulated service — the local
//! stand-in for `DescribeAlarms` / `GetMetricData`.
//!
//! An alarm is in ALARM when someone tripped it by hand ([`SimulatedAlarms::trip`], kept
//! in the shared SQLite file so the CLI in another process can do it), or when the version
//! now answering traffic has a fault `alarm_after_minutes = (name, N)` and it has served
//! for N minutes. Every other alarm asked about is OK. Metrics come from the serving
//! version's faults, with healthy defaults.
//!
//! A trip belongs to the release that was live (deploying, being checked or monitored)
//! when it was made, and counts only until that release is finished: a trip left over
//! from last week's release must never roll back today's. Finished releases' trips are
//! cleared whenever trips are read or made, and a trip with no live release is refused.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use shipgate_core::model::{ReleaseId, ReleaseState, ServiceName};
use shipgate_core::ports::{AlarmState, Alarms, AlarmsError, Clock, MetricsSample};

use crate::db::{Db, DbError, parse_ts, ts};
use crate::ecs::{ServingInfo, SimulatedEcs};

/// The share of 5xx responses a healthy version shows.
pub const DEFAULT_ERROR_RATE: f64 = 0.002;
/// The p99 latency a healthy version shows.
pub const DEFAULT_P99_LATENCY_MS: f64 = 180.0;

/// An alarm put in ALARM by hand, for the release live at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trip {
    pub name: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// The release the trip is about; it stops counting once this release is finished.
    pub release_id: ReleaseId,
}

/// Why an alarm could not be tripped.
#[derive(Debug, thiserror::Error)]
pub enum TripError {
    #[error(
        "no release of {service} is deploying, being checked or monitored: alarm {alarm} would have nothing to roll back"
    )]
    NoLiveRelease { service: String, alarm: String },
    #[error(transparent)]
    Alarms(#[from] AlarmsError),
}

/// Simulated alarms over the shared database and the simulated cluster.
pub struct SimulatedAlarms {
    db: Arc<Db>,
    ecs: Arc<SimulatedEcs>,
    clock: Arc<dyn Clock>,
    cluster: String,
    service: String,
}

impl std::fmt::Debug for SimulatedAlarms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedAlarms")
            .field("cluster", &self.cluster)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

fn unavailable(err: impl Into<DbError>) -> AlarmsError {
    AlarmsError::Unavailable(Box::new(err.into()))
}

impl SimulatedAlarms {
    /// Alarms of `service` in `cluster` (whose serving version decides fault alarms).
    pub fn new(
        db: Arc<Db>,
        ecs: Arc<SimulatedEcs>,
        clock: Arc<dyn Clock>,
        cluster: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            db,
            ecs,
            clock,
            cluster: cluster.into(),
            service: service.into(),
        }
    }

    /// Puts `name` in ALARM now, with `reason`, for the release of the service that is
    /// live now, until it is reset or that release is finished.
    pub fn trip(&self, name: &str, reason: &str) -> Result<Trip, TripError> {
        let now = self.clock.now();
        let live = self.db.with_conn(|conn| {
            clear_finished(conn)?;
            crate::store::live_release(conn, &self.service).map_err(unavailable)
        })?;
        let Some(release_id) = live else {
            return Err(TripError::NoLiveRelease {
                service: self.service.clone(),
                alarm: name.to_string(),
            });
        };
        self.db.with_conn(|conn| {
            conn.execute(
                "INSERT INTO release_alarm_trips (name, release_id, reason, tripped_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET release_id = excluded.release_id,
                     reason = excluded.reason, tripped_at = excluded.tripped_at",
                params![name, release_id.as_str(), reason, ts(now)],
            )
            .map_err(unavailable)
        })?;
        Ok(Trip {
            name: name.to_string(),
            reason: reason.to_string(),
            at: now,
            release_id,
        })
    }

    /// Clears a trip; true when there was one.
    pub fn reset(&self, name: &str) -> Result<bool, AlarmsError> {
        let deleted = self.db.with_conn(|conn| {
            conn.execute("DELETE FROM release_alarm_trips WHERE name = ?1", [name])
                .map_err(unavailable)
        })?;
        Ok(deleted > 0)
    }

    /// Clears every trip; returns how many there were.
    pub fn reset_all(&self) -> Result<usize, AlarmsError> {
        self.db.with_conn(|conn| {
            conn.execute("DELETE FROM release_alarm_trips", [])
                .map_err(unavailable)
        })
    }

    /// The alarms tripped by hand for releases not finished yet, by name.
    pub fn trips(&self) -> Result<Vec<Trip>, AlarmsError> {
        self.db.with_conn(|conn| {
            clear_finished(conn)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, reason, tripped_at, release_id FROM release_alarm_trips ORDER BY name",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (name, reason, at, release_id) = row.map_err(unavailable)?;
                out.push(Trip {
                    name,
                    reason,
                    at: parse_ts(&at).map_err(unavailable)?,
                    release_id: parse_release_id(&release_id)?,
                });
            }
            Ok(out)
        })
    }

    /// The trip of `name`, if there is one (finished releases' trips cleared first).
    fn trip_of(&self, name: &str) -> Result<Option<Trip>, AlarmsError> {
        let row = self.db.with_conn(|conn| {
            conn.query_row(
                "SELECT reason, tripped_at, release_id FROM release_alarm_trips WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(unavailable)
        })?;
        row.map(|(reason, at, release_id)| {
            Ok(Trip {
                name: name.to_string(),
                reason,
                at: parse_ts(&at).map_err(unavailable)?,
                release_id: parse_release_id(&release_id)?,
            })
        })
        .transpose()
    }

    fn serving(&self, service: &str) -> Result<Option<ServingInfo>, AlarmsError> {
        self.ecs
            .serving(&self.cluster, service)
            .map_err(|e| AlarmsError::Unavailable(Box::new(e)))
    }

    /// Why the serving version has `name` in ALARM at `now`, if it does.
    fn fault_alarm(
        &self,
        serving: Option<&ServingInfo>,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, AlarmsError> {
        let Some(serving) = serving else {
            return Ok(None);
        };
        let faults = self
            .ecs
            .faults(&serving.version_tag)
            .map_err(|e| AlarmsError::Unavailable(Box::new(e)))?;
        Ok(faults.alarm_after_minutes.and_then(|(alarm, minutes)| {
            let fires_at = serving.deployed_at + Duration::minutes(i64::from(minutes));
            (alarm == name && now >= fires_at).then(|| {
                format!(
                    "Threshold Crossed: version {} has served for {minutes} minutes (since {})",
                    serving.version_tag, serving.deployed_at
                )
            })
        }))
    }
}

fn parse_release_id(text: &str) -> Result<ReleaseId, AlarmsError> {
    text.parse()
        .map_err(|e: shipgate_core::model::IdError| AlarmsError::Unavailable(Box::new(e)))
}

/// Deletes the trips whose release is finished (or gone): they must not count for any
/// later release.
fn clear_finished(conn: &rusqlite::Connection) -> Result<usize, AlarmsError> {
    let mut stmt = conn
        .prepare_cached("SELECT name, release_id FROM release_alarm_trips")
        .map_err(unavailable)?;
    let trips = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let mut cleared = 0;
    for (name, release_id) in trips {
        let state = crate::store::stored_state(conn, &release_id).map_err(unavailable)?;
        let finished = state
            .and_then(|s| s.parse::<ReleaseState>().ok())
            .is_none_or(ReleaseState::is_terminal);
        if finished {
            cleared += conn
                .execute(
                    "DELETE FROM release_alarm_trips WHERE name = ?1 AND release_id = ?2",
                    params![name, release_id],
                )
                .map_err(unavailable)?;
        }
    }
    Ok(cleared)
}

#[async_trait]
impl Alarms for SimulatedAlarms {
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmState>, AlarmsError> {
        let now = self.clock.now();
        let serving = self.serving(&self.service)?;
        self.db.with_conn(|conn| clear_finished(conn))?;
        let mut states = Vec::with_capacity(names.len());
        for name in names {
            let state = if let Some(trip) = self.trip_of(name)? {
                AlarmState {
                    name: name.clone(),
                    in_alarm: true,
                    reason: format!(
                        "tripped by hand at {} during release {}: {}",
                        trip.at, trip.release_id, trip.reason
                    ),
                }
            } else if let Some(reason) = self.fault_alarm(serving.as_ref(), name, now)? {
                AlarmState {
                    name: name.clone(),
                    in_alarm: true,
                    reason,
                }
            } else {
                AlarmState {
                    name: name.clone(),
                    in_alarm: false,
                    reason: "OK".into(),
                }
            };
            states.push(state);
        }
        Ok(states)
    }

    async fn metrics(
        &self,
        service: &ServiceName,
        _from: DateTime<Utc>,
        _to: DateTime<Utc>,
    ) -> Result<MetricsSample, AlarmsError> {
        let Some(serving) = self.serving(service.as_str())? else {
            // No such service: no traffic, no data.
            return Ok(MetricsSample {
                error_rate: None,
                p99_latency_ms: None,
            });
        };
        let faults = self
            .ecs
            .faults(&serving.version_tag)
            .map_err(|e| AlarmsError::Unavailable(Box::new(e)))?;
        Ok(MetricsSample {
            error_rate: Some(faults.error_rate.unwrap_or(DEFAULT_ERROR_RATE)),
            p99_latency_ms: Some(faults.p99_latency_ms.unwrap_or(DEFAULT_P99_LATENCY_MS)),
        })
    }
}

#[cfg(test)]
mod tests {
    use shipgate_core::model::{Changelog, NewRelease, Release, ReleaseType};
    use shipgate_core::ports::{DeployTarget, Deployer, ReleaseStore};

    use super::*;
    use crate::db::tests::{TestClock, time};
    use crate::ecs::Faults;
    use crate::store::SqliteReleaseStore;

    const CLUSTER: &str = "roleferry-prod";
    const FIVE_XX: &str = "roleferry-api-5xx-rate";
    const P99: &str = "roleferry-api-p99-latency";

    struct World {
        ecs: Arc<SimulatedEcs>,
        alarms: SimulatedAlarms,
        store: SqliteReleaseStore,
        clock: Arc<TestClock>,
        seeded: String,
    }

    fn world() -> World {
        let db = Db::open_in_memory().unwrap();
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let ecs = Arc::new(SimulatedEcs::new(db.clone(), clock.clone()));
        let seeded = ecs
            .seed_service(CLUSTER, "api", "roleferry-api", "api", "repo/api:1.2.0", 41)
            .unwrap();
        let store = SqliteReleaseStore::new(db.clone());
        let alarms = SimulatedAlarms::new(db, ecs.clone(), clock.clone(), CLUSTER, "api");
        World {
            ecs,
            alarms,
            store,
            clock,
            seeded,
        }
    }

    /// A release of `version` of the api, stored in `state` (as the gates would leave it).
    async fn release_in(store: &SqliteReleaseStore, version: &str, state: ReleaseState) -> Release {
        let mut release = Release::open(
            NewRelease {
                service: "api".parse().unwrap(),
                version: version.parse().unwrap(),
                commit: format!("c0ffee{}", version.replace('.', "")),
                author: "robin".into(),
                changelog: Changelog::default(),
                release_type: None,
                bypass_reason: None,
                contributors: Vec::new(),
                user_announcement: None,
            },
            ReleaseType::Minor,
            format!("repo/api:{version}"),
            time("2026-03-01T14:00:00Z"),
        );
        release.state = state;
        store.create(&release).await.unwrap();
        release
    }

    /// Moves a stored release to `state`.
    async fn finish(store: &SqliteReleaseStore, release: &Release, state: ReleaseState) {
        let mut current = store.get(&release.id).await.unwrap().unwrap();
        current.state = state;
        store.update(&current).await.unwrap();
    }

    fn names() -> Vec<String> {
        vec![FIVE_XX.to_string(), P99.to_string()]
    }

    async fn deploy(w: &World, image: &str) {
        let target = DeployTarget {
            cluster: CLUSTER.into(),
            service: "api".into(),
        };
        let new = w
            .ecs
            .register_with_image(&w.seeded, "api", image)
            .await
            .unwrap();
        w.ecs.update_service(&target, &new).await.unwrap();
    }

    #[tokio::test]
    async fn given_nothing_wrong_when_asked_then_every_alarm_named_is_ok() {
        let w = world();
        let mut asked = names();
        asked.push("some-alarm-nobody-created".into());
        let states = w.alarms.states(&asked).await.unwrap();
        assert_eq!(states.len(), 3);
        assert!(
            states.iter().all(|s| !s.in_alarm && s.reason == "OK"),
            "{states:?}"
        );
        assert_eq!(
            states.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            asked
        );
    }

    #[tokio::test]
    async fn given_a_tripped_alarm_when_asked_then_it_is_in_alarm_until_reset() {
        let w = world();
        let live = release_in(&w.store, "1.3.0", ReleaseState::Monitoring).await;
        let trip = w
            .alarms
            .trip(FIVE_XX, "5xx over 2% for 3 datapoints")
            .unwrap();
        assert_eq!(trip.release_id, live.id);
        let states = w.alarms.states(&names()).await.unwrap();
        assert!(states[0].in_alarm);
        assert!(
            states[0].reason.contains("5xx over 2%") && states[0].reason.contains("api-1.3.0"),
            "{}",
            states[0].reason
        );
        assert!(!states[1].in_alarm);
        assert_eq!(w.alarms.trips().unwrap(), vec![trip]);
        assert_eq!(
            w.alarms.trips().unwrap()[0].at,
            time("2026-03-02T03:00:00Z")
        );
        assert!(w.alarms.reset(FIVE_XX).unwrap());
        assert!(!w.alarms.reset(FIVE_XX).unwrap());
        assert!(
            w.alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| !s.in_alarm)
        );
    }

    #[tokio::test]
    async fn given_no_live_release_when_an_alarm_is_tripped_then_it_is_refused_and_nothing_kept() {
        let w = world();
        release_in(&w.store, "1.3.0", ReleaseState::AwaitingWindow).await;
        release_in(&w.store, "1.2.9", ReleaseState::Succeeded).await;
        let err = w.alarms.trip(FIVE_XX, "by hand").unwrap_err();
        assert!(matches!(err, TripError::NoLiveRelease { .. }), "{err:?}");
        assert!(err.to_string().contains(FIVE_XX), "{err}");
        assert!(w.alarms.trips().unwrap().is_empty());
        assert!(
            w.alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| !s.in_alarm)
        );
    }

    #[tokio::test]
    async fn given_a_trip_for_a_release_when_it_is_finished_then_a_later_release_is_not_affected() {
        for ended in [
            ReleaseState::RolledBack,
            ReleaseState::Succeeded,
            ReleaseState::Failed,
        ] {
            let w = world();
            let first = release_in(&w.store, "1.3.0", ReleaseState::Monitoring).await;
            w.alarms.trip(FIVE_XX, "tripped during 1.3.0").unwrap();
            // Still in force while the release is live (or rolling back).
            finish(&w.store, &first, ReleaseState::RollingBack).await;
            assert!(w.alarms.states(&names()).await.unwrap()[0].in_alarm);
            finish(&w.store, &first, ended).await;

            // A week later another release is monitored: the old trip does not count.
            w.clock.advance(Duration::days(7));
            release_in(&w.store, "1.4.0", ReleaseState::Monitoring).await;
            let states = w.alarms.states(&names()).await.unwrap();
            assert!(states.iter().all(|s| !s.in_alarm), "{ended}: {states:?}");
            // And it is gone, not merely ignored.
            assert!(w.alarms.trips().unwrap().is_empty(), "{ended}");
            assert!(!w.alarms.reset(FIVE_XX).unwrap(), "{ended}");
        }
    }

    #[tokio::test]
    async fn given_a_trip_whose_release_vanished_then_it_does_not_count() {
        let w = world();
        let live = release_in(&w.store, "1.3.0", ReleaseState::Deploying).await;
        w.alarms.trip(P99, "by hand").unwrap();
        w.alarms
            .db
            .with_conn(|c| c.execute("DELETE FROM releases WHERE id = ?1", [live.id.as_str()]))
            .unwrap();
        assert!(
            w.alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| !s.in_alarm)
        );
        assert!(w.alarms.trips().unwrap().is_empty());
    }

    #[tokio::test]
    async fn given_trips_from_before_they_were_scoped_when_the_file_is_opened_then_they_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        drop(Db::open(&path).unwrap());
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE alarm_trips (name TEXT PRIMARY KEY NOT NULL, reason TEXT NOT NULL, tripped_at TEXT NOT NULL);
                 INSERT INTO alarm_trips VALUES ('roleferry-api-5xx-rate', 'old', '2026-01-01T00:00:00.000000000Z');",
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let ecs = Arc::new(SimulatedEcs::new(db.clone(), clock.clone()));
        ecs.seed_service(CLUSTER, "api", "roleferry-api", "api", "repo/api:1.2.0", 41)
            .unwrap();
        let store = SqliteReleaseStore::new(db.clone());
        release_in(&store, "1.3.0", ReleaseState::Monitoring).await;
        let alarms = SimulatedAlarms::new(db.clone(), ecs, clock, CLUSTER, "api");
        assert!(
            alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| !s.in_alarm)
        );
        let old_table: Option<String> = db
            .with_conn(|c| {
                c.query_row(
                    "SELECT name FROM sqlite_master WHERE name = 'alarm_trips'",
                    [],
                    |r| r.get(0),
                )
                .optional()
            })
            .unwrap();
        assert_eq!(old_table, None);
    }

    #[tokio::test]
    async fn given_several_trips_when_reset_all_then_all_are_ok() {
        let w = world();
        release_in(&w.store, "1.3.0", ReleaseState::Monitoring).await;
        w.alarms.trip(FIVE_XX, "a").unwrap();
        w.alarms.trip(P99, "b").unwrap();
        assert!(
            w.alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| s.in_alarm)
        );
        assert_eq!(w.alarms.reset_all().unwrap(), 2);
        assert!(
            w.alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| !s.in_alarm)
        );
        assert!(w.alarms.trips().unwrap().is_empty());
    }

    #[tokio::test]
    async fn given_a_version_with_a_delayed_alarm_when_it_has_served_long_enough_then_the_alarm_fires()
     {
        let w = world();
        w.ecs
            .set_faults(
                "1.3.0",
                Faults {
                    alarm_after_minutes: Some((FIVE_XX.into(), 12)),
                    ..Faults::default()
                },
            )
            .unwrap();
        deploy(&w, "repo/api:1.3.0").await;
        // Still rolling out: the old version serves, so no alarm yet even after 12 minutes
        // of wall time would have passed since the update.
        assert!(
            w.alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| !s.in_alarm)
        );
        w.clock.advance(Duration::seconds(180));
        // Serving since 03:03; the alarm fires at 03:15.
        w.clock.set(time("2026-03-02T03:14:59Z"));
        assert!(!w.alarms.states(&names()).await.unwrap()[0].in_alarm);
        w.clock.set(time("2026-03-02T03:15:00Z"));
        let states = w.alarms.states(&names()).await.unwrap();
        assert!(states[0].in_alarm, "{states:?}");
        assert!(states[0].reason.contains("1.3.0"), "{}", states[0].reason);
        assert!(!states[1].in_alarm);
    }

    #[tokio::test]
    async fn given_a_delayed_alarm_on_a_version_not_serving_then_it_stays_ok() {
        let w = world();
        w.ecs
            .set_faults(
                "1.3.0",
                Faults {
                    alarm_after_minutes: Some((FIVE_XX.into(), 0)),
                    ..Faults::default()
                },
            )
            .unwrap();
        w.clock.advance(Duration::hours(2));
        assert!(
            w.alarms
                .states(&names())
                .await
                .unwrap()
                .iter()
                .all(|s| !s.in_alarm)
        );
    }

    #[tokio::test]
    async fn given_a_healthy_version_when_metrics_are_read_then_the_defaults() {
        let w = world();
        let api: ServiceName = "api".parse().unwrap();
        let now = w.clock.now();
        let sample = w
            .alarms
            .metrics(&api, now - Duration::hours(1), now)
            .await
            .unwrap();
        assert_eq!(sample.error_rate, Some(DEFAULT_ERROR_RATE));
        assert_eq!(sample.p99_latency_ms, Some(DEFAULT_P99_LATENCY_MS));
        let ghost: ServiceName = "ghost".parse().unwrap();
        let none = w.alarms.metrics(&ghost, now, now).await.unwrap();
        assert_eq!(
            none,
            MetricsSample {
                error_rate: None,
                p99_latency_ms: None
            }
        );
    }

    #[tokio::test]
    async fn given_a_serving_version_with_bad_metrics_when_read_then_its_faults_show() {
        let w = world();
        w.ecs
            .set_faults(
                "1.3.0",
                Faults {
                    error_rate: Some(0.08),
                    p99_latency_ms: Some(2400.0),
                    ..Faults::default()
                },
            )
            .unwrap();
        deploy(&w, "repo/api:1.3.0").await;
        let api: ServiceName = "api".parse().unwrap();
        let now = w.clock.now();
        // Before the rollout completes the healthy old version answers.
        let before = w.alarms.metrics(&api, now, now).await.unwrap();
        assert_eq!(before.error_rate, Some(DEFAULT_ERROR_RATE));
        w.clock.advance(Duration::minutes(5));
        let after = w.alarms.metrics(&api, now, w.clock.now()).await.unwrap();
        assert_eq!(
            after,
            MetricsSample {
                error_rate: Some(0.08),
                p99_latency_ms: Some(2400.0)
            }
        );
        // Only the latency may be set: the error rate stays the default.
        w.ecs
            .set_faults(
                "1.3.0",
                Faults {
                    p99_latency_ms: Some(900.0),
                    ..Faults::default()
                },
            )
            .unwrap();
        let partial = w.alarms.metrics(&api, now, w.clock.now()).await.unwrap();
        assert_eq!(partial.error_rate, Some(DEFAULT_ERROR_RATE));
        assert_eq!(partial.p99_latency_ms, Some(900.0));
    }

    #[tokio::test]
    async fn given_two_processes_when_one_trips_an_alarm_then_the_other_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.db");
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let open = || {
            let db = Db::open(&path).unwrap();
            let ecs = Arc::new(SimulatedEcs::new(db.clone(), clock.clone()));
            ecs.seed_service(CLUSTER, "api", "roleferry-api", "api", "repo/api:1.2.0", 41)
                .unwrap();
            SimulatedAlarms::new(db, ecs, clock.clone(), CLUSTER, "api")
        };
        let cli = open();
        let pipeline = open();
        release_in(
            &SqliteReleaseStore::new(Db::open(&path).unwrap()),
            "1.3.0",
            ReleaseState::HealthChecking,
        )
        .await;
        cli.trip(P99, "by hand").unwrap();
        let states = pipeline.states(&names()).await.unwrap();
        assert!(!states[0].in_alarm && states[1].in_alarm);
    }
}
