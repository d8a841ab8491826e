//! `CountingStore`: a [`ReleaseStore`] that passes every call on and records what reached
//! it — each write with the bytes of the release record and of its new audit events, each
//! read with the bytes it returned — so `shipgate cost` can price a release's DynamoDB use
//! from a real run instead of a guess. Sizes are those of the records' JSON, a close
//! stand-in for a DynamoDB item's size (attribute names plus values).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shipgate_core::Version;
use shipgate_core::model::{Release, ReleaseId, ServiceName};
use shipgate_core::ports::{LockOutcome, ReleaseFilter, ReleaseStore, StoreError};

/// One write as DynamoDB would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreWrite {
    /// `create` or `update`: one `TransactWriteItems` with the release item and one item
    /// per new audit event.
    Transaction {
        release_bytes: usize,
        event_bytes: Vec<usize>,
    },
    /// The deploy lock: a conditional `PutItem` (taken or renewed).
    LockPut,
    /// The deploy lock freed: a conditional `DeleteItem`.
    LockDelete,
}

/// One read: the bytes the call returned (0 for nothing found).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRead {
    pub bytes: usize,
}

/// What reached the store so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub writes: Vec<StoreWrite>,
    pub reads: Vec<StoreRead>,
}

impl StoreCounts {
    /// How many `TransactWriteItems` calls (`create` and `update`).
    pub fn transactions(&self) -> usize {
        self.writes
            .iter()
            .filter(|w| matches!(w, StoreWrite::Transaction { .. }))
            .count()
    }
}

/// Counts what passes through to `inner`.
pub struct CountingStore {
    inner: Arc<dyn ReleaseStore>,
    counts: Mutex<StoreCounts>,
    /// Audit events stored per release, so an update's new events are known.
    stored_events: Mutex<HashMap<String, usize>>,
}

fn release_bytes(release: &Release) -> usize {
    let mut head = release.clone();
    head.events.clear();
    json_len(&head)
}

fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0)
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ReleaseStore>) -> Self {
        Self {
            inner,
            counts: Mutex::new(StoreCounts::default()),
            stored_events: Mutex::new(HashMap::new()),
        }
    }

    /// A copy of the counts so far.
    pub fn counts(&self) -> StoreCounts {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn write(&self, write: StoreWrite) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .writes
            .push(write);
    }

    fn read(&self, bytes: usize) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reads
            .push(StoreRead { bytes });
    }

    fn transaction(&self, release: &Release, already_stored: usize) {
        let event_bytes = release
            .events
            .get(already_stored..)
            .unwrap_or_default()
            .iter()
            .map(json_len)
            .collect();
        self.stored_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(release.id.to_string(), release.events.len());
        self.write(StoreWrite::Transaction {
            release_bytes: release_bytes(release),
            event_bytes,
        });
    }

    fn stored(&self, id: &ReleaseId) -> Option<usize> {
        self.stored_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id.as_str())
            .copied()
    }
}

#[async_trait]
impl ReleaseStore for CountingStore {
    async fn create(&self, release: &Release) -> Result<(), StoreError> {
        self.inner.create(release).await?;
        self.transaction(release, 0);
        Ok(())
    }

    async fn get(&self, id: &ReleaseId) -> Result<Option<Release>, StoreError> {
        let found = self.inner.get(id).await?;
        self.read(found.as_ref().map_or(0, json_len));
        Ok(found)
    }

    async fn update(&self, release: &Release) -> Result<Release, StoreError> {
        // The DynamoDB store reads the stored version and event count first (a GetItem).
        let already = match self.stored(&release.id) {
            Some(n) => n,
            None => self
                .inner
                .get(&release.id)
                .await?
                .map_or(0, |r| r.events.len()),
        };
        self.read(0);
        let stored = self.inner.update(release).await?;
        self.transaction(&stored, already);
        Ok(stored)
    }

    async fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        let found = self.inner.list(filter).await?;
        self.read(found.iter().map(json_len).sum());
        Ok(found)
    }

    async fn window_queue(&self, service: &ServiceName) -> Result<Vec<Release>, StoreError> {
        let found = self.inner.window_queue(service).await?;
        self.read(found.iter().map(json_len).sum());
        Ok(found)
    }

    async fn last_released(&self, service: &ServiceName) -> Result<Option<Release>, StoreError> {
        let found = self.inner.last_released(service).await?;
        self.read(found.as_ref().map_or(0, json_len));
        Ok(found)
    }

    async fn highest_version(
        &self,
        service: &ServiceName,
    ) -> Result<Option<(Version, String)>, StoreError> {
        let found = self.inner.highest_version(service).await?;
        self.read(
            found
                .as_ref()
                .map_or(0, |(v, c)| v.to_string().len() + c.len()),
        );
        Ok(found)
    }

    async fn acquire_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        let outcome = self
            .inner
            .acquire_lock(service, holder, now, lease_until)
            .await?;
        self.write(StoreWrite::LockPut);
        Ok(outcome)
    }

    async fn release_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
    ) -> Result<bool, StoreError> {
        let freed = self.inner.release_lock(service, holder).await?;
        self.write(StoreWrite::LockDelete);
        Ok(freed)
    }

    async fn lock_holder(
        &self,
        service: &ServiceName,
        now: DateTime<Utc>,
    ) -> Result<Option<ReleaseId>, StoreError> {
        let holder = self.inner.lock_holder(service, now).await?;
        self.read(0);
        Ok(holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::store::SqliteReleaseStore;
    use shipgate_core::model::{AuditEvent, Changelog, NewRelease, ReleaseState, ReleaseType};

    fn sample_release() -> Release {
        let mut release = Release::open(
            NewRelease {
                service: "api".parse().unwrap(),
                version: "1.3.0".parse().unwrap(),
                commit: "abcdef1".into(),
                author: "robin".into(),
                changelog: Changelog::default(),
                release_type: None,
                bypass_reason: None,
                contributors: Vec::new(),
                user_announcement: None,
            },
            ReleaseType::Minor,
            "registry/api:1.3.0".into(),
            Utc::now(),
        );
        if release.events.is_empty() {
            release.events.push(event("opened"));
        }
        release
    }

    fn event(kind: &str) -> AuditEvent {
        AuditEvent {
            at: Utc::now(),
            actor: "test".into(),
            kind: kind.to_string().into(),
            from: None,
            to: None,
            detail: String::new(),
        }
    }

    fn counting() -> CountingStore {
        let db = Db::open_in_memory().unwrap();
        CountingStore::new(Arc::new(SqliteReleaseStore::new(db)))
    }

    #[tokio::test]
    async fn given_a_counting_store_when_written_then_each_write_counts_only_its_new_events() {
        // Given a counting store over SQLite and a new release with one audit event
        let store = counting();
        let mut release = sample_release();
        let first = release.events.len();
        store.create(&release).await.unwrap();

        // When it is read, updated with one new event and its lock taken and freed
        let read = store.get(&release.id).await.unwrap().unwrap();
        assert_eq!(read, release);
        release.events.push(event("noted"));
        release.state = ReleaseState::AwaitingApproval;
        let stored = store.update(&release).await.unwrap();
        assert_eq!(stored.version, release.version + 1);
        let now = Utc::now();
        let taken = store
            .acquire_lock(&release.service, &release.id, now, now)
            .await
            .unwrap();
        assert_eq!(taken, shipgate_core::ports::LockOutcome::Acquired);
        store
            .release_lock(&release.service, &release.id)
            .await
            .unwrap();

        // Then two transactions, the second with only the new event, and the lock's writes
        let counts = store.counts();
        assert_eq!(counts.transactions(), 2);
        let events: Vec<usize> = counts
            .writes
            .iter()
            .filter_map(|w| match w {
                StoreWrite::Transaction { event_bytes, .. } => Some(event_bytes.len()),
                _ => None,
            })
            .collect();
        assert_eq!(events, vec![first, 1]);
        assert!(counts.writes.contains(&StoreWrite::LockPut));
        assert!(counts.writes.contains(&StoreWrite::LockDelete));
        assert!(counts.reads[0].bytes > 100, "{:?}", counts.reads);
    }
}
