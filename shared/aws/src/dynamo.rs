//! The release store on DynamoDB: one table, conditional writes, transactions.
//!
//! Key design (attribute names `pk`, `sk`, `gsi1pk`, `gsi1sk`, `gsi2pk`, `gsi2sk`):
//!
//! | item            | pk                  | sk              | gsi1pk / gsi1sk                              | gsi2pk / gsi2sk              |
//! |-----------------|---------------------|-----------------|----------------------------------------------|------------------------------|
//! | release         | `RELEASE#<id>`      | `#RELEASE`      | `SVC#<service>#<state>` / `<time>#<id>`      | `SVC#<service>` / `<created>#<id>` |
//! | audit event     | `RELEASE#<id>`      | `EVENT#<000042>`| –                                            | –                            |
//! | deploy lock     | `LOCK#<service>`    | `#LOCK`         | –                                            | –                            |
//! | version taken   | `VERSIONS#<service>`| `V#<major>.<minor>.<patch>` (zero-padded) | –                   | –                            |
//!
//! The version items (written with each release) answer "the highest version taken" with
//! one `Query`, `Limit 1`, newest first: the trigger's read on every push.
//!
//! `gsi1` answers "releases of a service in a state, in time order": the window queue
//! (`AwaitingWindow` by queue time) and the last release (`Succeeded` by finish time).
//! `gsi2` lists a service's releases newest first. A release and its timeline are read
//! with one query on `pk`. Every update is a `TransactWriteItems`: the release item,
//! conditional on the version read, plus the new audit events, conditional on not
//! existing — so a racing writer fails with `Conflict` and nothing is half-written.
//! The lock item carries a lease; an expired lease can be taken over.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem, Update,
};
use chrono::{DateTime, SecondsFormat, Utc};
use shipgate_core::Version;
use shipgate_core::model::{AuditEvent, Release, ReleaseId, ReleaseState, ServiceName};
use shipgate_core::ports::{LockOutcome, ReleaseFilter, ReleaseStore, StoreError};

type Item = HashMap<String, AttributeValue>;

const RELEASE_SK: &str = "#RELEASE";
const LOCK_SK: &str = "#LOCK";
/// DynamoDB's limit of items in one transaction, less the release item itself.
const MAX_NEW_EVENTS: usize = 99;

pub struct DynamoReleaseStore {
    client: Client,
    table: String,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

fn release_pk(id: &str) -> String {
    format!("RELEASE#{id}")
}

fn event_sk(index: usize) -> String {
    format!("EVENT#{index:06}")
}

/// The time a release sorts by in its state's index entry.
fn state_time(release: &Release) -> DateTime<Utc> {
    match release.state {
        ReleaseState::AwaitingWindow => release.queued_at.unwrap_or(release.created_at),
        s if s.is_terminal() => release.finished_at.unwrap_or(release.updated_at),
        _ => release.created_at,
    }
}

/// How many of the newest succeeded releases `last_released` reads at most.
const LAST_RELEASED_CANDIDATES: i32 = 5;

fn version_pk(service: &str) -> String {
    format!("VERSIONS#{service}")
}

/// One item per version a release of the service took, sorted by version (each part
/// zero-padded), so the highest is one `Query` with `Limit 1`.
fn version_item(release: &Release) -> Item {
    let v = release.semver;
    HashMap::from([
        ("pk".into(), s(version_pk(release.service.as_str()))),
        (
            "sk".into(),
            s(format!("V#{:020}.{:020}.{:020}", v.major, v.minor, v.patch)),
        ),
        ("semver".into(), s(v.to_string())),
        ("commit".into(), s(release.commit.clone())),
        ("release_id".into(), s(release.id.as_str())),
    ])
}

fn release_item(release: &Release, version: u64) -> Result<Item, StoreError> {
    let mut record = release.clone();
    record.version = version;
    record.events.clear();
    let json = serde_json::to_string(&record).map_err(backend)?;
    let service = release.service.as_str();
    Ok(HashMap::from([
        ("pk".into(), s(release_pk(release.id.as_str()))),
        ("sk".into(), s(RELEASE_SK)),
        (
            "gsi1pk".into(),
            s(format!("SVC#{service}#{}", release.state)),
        ),
        (
            "gsi1sk".into(),
            s(format!("{}#{}", ts(state_time(release)), release.id)),
        ),
        ("gsi2pk".into(), s(format!("SVC#{service}"))),
        (
            "gsi2sk".into(),
            s(format!("{}#{}", ts(release.created_at), release.id)),
        ),
        ("state".into(), s(release.state.as_str())),
        ("version".into(), AttributeValue::N(version.to_string())),
        (
            "event_count".into(),
            AttributeValue::N(release.events.len().to_string()),
        ),
        ("record".into(), s(json)),
    ]))
}

fn event_item(id: &ReleaseId, index: usize, event: &AuditEvent) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        ("pk".into(), s(release_pk(id.as_str()))),
        ("sk".into(), s(event_sk(index))),
        (
            "event".into(),
            s(serde_json::to_string(event).map_err(backend)?),
        ),
    ]))
}

fn string_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Backend(
            format!("item has no string attribute `{name}`").into(),
        )),
    }
}

fn number_attr(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(backend),
        _ => Err(StoreError::Backend(
            format!("item has no number attribute `{name}`").into(),
        )),
    }
}

/// A release from its item and its event items.
fn decode(release_item: &Item, events: &[Item]) -> Result<Release, StoreError> {
    let mut release: Release =
        serde_json::from_str(string_attr(release_item, "record")?).map_err(backend)?;
    release.version = number_attr(release_item, "version")?;
    release.events = events
        .iter()
        .map(|e| serde_json::from_str(string_attr(e, "event")?).map_err(backend))
        .collect::<Result<_, _>>()?;
    Ok(release)
}

impl DynamoReleaseStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table as the SAM template does (for tests and first-time local setups).
    /// The commit whose release took `release`'s version, if one did.
    async fn version_holder(&self, release: &Release) -> Result<Option<String>, StoreError> {
        let item = version_item(release);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(
                item.into_iter()
                    .filter(|(k, _)| k == "pk" || k == "sk")
                    .collect(),
            ))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        Ok(out
            .item()
            .and_then(|i| string_attr(i, "commit").ok())
            .map(str::to_string))
    }

    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(backend)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(backend)
        };
        let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(backend)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(vec![
                attr("pk")?,
                attr("sk")?,
                attr("gsi1pk")?,
                attr("gsi1sk")?,
                attr("gsi2pk")?,
                attr("gsi2sk")?,
            ]))
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi("gsi1", "gsi1pk", "gsi1sk")?)
            .global_secondary_indexes(gsi("gsi2", "gsi2pk", "gsi2sk")?)
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        Ok(())
    }

    /// A transaction item writing `item` only if nothing has its key yet.
    fn put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn query_all(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<Item>, _>>()
            .await
            .map_err(|e| backend(e.into_service_error()))
    }

    /// Releases whose index entry matches, loading each with its timeline.
    async fn query_index(
        &self,
        index: &str,
        pk: String,
        newest_first: bool,
        limit: Option<i32>,
    ) -> Result<Vec<Release>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{index}pk = :pk"))
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(!newest_first);
        // With a limit, one page is the answer; without, every page.
        let items: Vec<Item> = match limit {
            Some(limit) => query
                .limit(limit)
                .send()
                .await
                .map_err(|e| backend(e.into_service_error()))?
                .items()
                .to_vec(),
            None => query
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<Item>, _>>()
                .await
                .map_err(|e| backend(e.into_service_error()))?,
        };
        let mut ids = Vec::new();
        for item in &items {
            let key = string_attr(item, "pk")?;
            ids.push(key.trim_start_matches("RELEASE#").to_string());
        }
        self.load_all(ids).await
    }

    /// Each release by id, read consistently; ids whose release is gone are skipped.
    async fn load_all(&self, ids: Vec<String>) -> Result<Vec<Release>, StoreError> {
        let mut releases = Vec::new();
        for id in ids {
            let id: ReleaseId = id.parse().map_err(backend)?;
            if let Some(release) = self.get(&id).await? {
                releases.push(release);
            }
        }
        Ok(releases)
    }

    /// A service's releases in `state`, by the time they sort by in that state. An index is
    /// eventually consistent: each is re-read, and only those still in `state` are kept.
    async fn in_state(
        &self,
        service: &ServiceName,
        state: ReleaseState,
        newest_first: bool,
    ) -> Result<Vec<Release>, StoreError> {
        let mut releases = self
            .query_index("gsi1", format!("SVC#{service}#{state}"), newest_first, None)
            .await?;
        releases.retain(|r| r.state == state);
        Ok(releases)
    }
}

#[async_trait]
impl ReleaseStore for DynamoReleaseStore {
    async fn create(&self, release: &Release) -> Result<(), StoreError> {
        let mut items = vec![self.put_new(release_item(release, release.version)?)?];
        if release.events.len() > MAX_NEW_EVENTS {
            return Err(StoreError::Backend(
                "too many audit events in one write".into(),
            ));
        }
        for (index, event) in release.events.iter().enumerate() {
            items.push(self.put_new(event_item(&release.id, index, event)?)?);
        }
        // The version item is written only if no release took the version yet: two
        // concurrent pushes never both get the same version.
        items.push(self.put_new(version_item(release))?);
        let version_index = items.len() - 1;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if failed_conditions(&err).first() == Some(&0) => {
                Err(StoreError::AlreadyExists(release.id.to_string()))
            }
            Err(err) if failed_conditions(&err).contains(&version_index) => {
                let taken = self.version_holder(release).await?;
                Err(StoreError::VersionTaken {
                    service: release.service.to_string(),
                    version: release.semver.to_string(),
                    commit: taken.unwrap_or_else(|| "(unknown)".into()),
                })
            }
            Err(err) => Err(backend(err.into_service_error())),
        }
    }

    async fn get(&self, id: &ReleaseId) -> Result<Option<Release>, StoreError> {
        let items = self.query_all(&release_pk(id.as_str())).await?;
        let Some(head) = items
            .iter()
            .find(|i| matches!(i.get("sk"), Some(AttributeValue::S(sk)) if sk == RELEASE_SK))
        else {
            return Ok(None);
        };
        let events: Vec<Item> = items
            .iter()
            .filter(
                |i| matches!(i.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with("EVENT#")),
            )
            .cloned()
            .collect();
        decode(head, &events).map(Some)
    }

    async fn update(&self, release: &Release) -> Result<Release, StoreError> {
        let id = release.id.to_string();
        let expected = release.version;
        // How many events are stored at the version read: those after are new.
        let current = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(release_pk(&id)))
            .key("sk", s(RELEASE_SK))
            .projection_expression("#v, event_count")
            .expression_attribute_names("#v", "version")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        let Some(current) = current.item() else {
            return Err(StoreError::NotFound(id));
        };
        if number_attr(current, "version")? != expected {
            return Err(StoreError::Conflict { id, expected });
        }
        let stored_events = number_attr(current, "event_count")? as usize;
        let new_events = release.events.get(stored_events..).unwrap_or_default();
        if new_events.len() > MAX_NEW_EVENTS {
            return Err(StoreError::Backend(
                "too many audit events in one write".into(),
            ));
        }
        let mut next = release.clone();
        next.version = expected + 1;
        let item = release_item(&next, next.version)?;
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(release_pk(&id)))
            .key("sk", s(RELEASE_SK))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()));
        let mut sets = Vec::new();
        for (n, (name, value)) in item
            .into_iter()
            .filter(|(k, _)| k != "pk" && k != "sk")
            .enumerate()
        {
            update = update
                .expression_attribute_names(format!("#a{n}"), name)
                .expression_attribute_values(format!(":a{n}"), value);
            sets.push(format!("#a{n} = :a{n}"));
        }
        let update = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .build()
            .map_err(backend)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        for (offset, event) in new_events.iter().enumerate() {
            items.push(self.put_new(event_item(&release.id, stored_events + offset, event)?)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(next),
            Err(err) if is_condition_failure(&err) => Err(StoreError::Conflict { id, expected }),
            Err(err) => Err(backend(err.into_service_error())),
        }
    }

    async fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        let mut releases = match &filter.service {
            // A service's releases in some states (the live ones, for an alarm): one index
            // query per state, never the service's whole history.
            Some(service) if !filter.states.is_empty() => {
                let mut found = Vec::new();
                for state in &filter.states {
                    found.extend(self.in_state(service, *state, true).await?);
                }
                found
            }
            Some(service) => {
                self.query_index("gsi2", format!("SVC#{service}"), true, None)
                    .await?
            }
            None => {
                let items: Vec<Item> = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .filter_expression("sk = :sk")
                    .expression_attribute_values(":sk", s(RELEASE_SK))
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<Item>, _>>()
                    .await
                    .map_err(|e| backend(e.into_service_error()))?;
                let mut ids = Vec::new();
                for item in &items {
                    ids.push(
                        string_attr(item, "pk")?
                            .trim_start_matches("RELEASE#")
                            .to_string(),
                    );
                }
                self.load_all(ids).await?
            }
        };
        releases.retain(|r| filter.states.is_empty() || filter.states.contains(&r.state));
        releases.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(releases)
    }

    async fn window_queue(&self, service: &ServiceName) -> Result<Vec<Release>, StoreError> {
        self.in_state(service, ReleaseState::AwaitingWindow, false)
            .await
    }

    async fn last_released(&self, service: &ServiceName) -> Result<Option<Release>, StoreError> {
        // The newest few only (the index is eventually consistent: each is re-read and one
        // that left the state meanwhile is skipped) — never the whole history.
        let mut releases = self
            .query_index(
                "gsi1",
                format!("SVC#{service}#{}", ReleaseState::Succeeded),
                true,
                Some(LAST_RELEASED_CANDIDATES),
            )
            .await?;
        releases.retain(|r| r.state == ReleaseState::Succeeded);
        Ok(releases.into_iter().next())
    }

    async fn highest_version(
        &self,
        service: &ServiceName,
    ) -> Result<Option<(Version, String)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(version_pk(service.as_str())))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        let Some(item) = out.items().first() else {
            return Ok(None);
        };
        let version: Version = string_attr(item, "semver")?.parse().map_err(backend)?;
        Ok(Some((version, string_attr(item, "commit")?.to_string())))
    }

    async fn acquire_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("LOCK#{service}")))
            .item("sk", s(LOCK_SK))
            .item("holder", s(holder.as_str()))
            .item("lease_until", s(ts(lease_until)))
            .condition_expression("attribute_not_exists(pk) OR holder = :me OR lease_until < :now")
            .expression_attribute_values(":me", s(holder.as_str()))
            .expression_attribute_values(":now", s(ts(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(LockOutcome::Acquired),
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => {
                    match self.lock_holder(service, now).await? {
                        Some(other) => Ok(LockOutcome::HeldBy(other)),
                        // Expired or freed between the two calls: the caller may try again.
                        None => Err(StoreError::Conflict {
                            id: format!("lock of {service}"),
                            expected: 0,
                        }),
                    }
                }
                e => Err(backend(e)),
            },
        }
    }

    async fn release_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("LOCK#{service}")))
            .key("sk", s(LOCK_SK))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Ok(false),
                e => Err(backend(e)),
            },
        }
    }

    async fn lock_holder(
        &self,
        service: &ServiceName,
        now: DateTime<Utc>,
    ) -> Result<Option<ReleaseId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("LOCK#{service}")))
            .key("sk", s(LOCK_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        if string_attr(item, "lease_until")? < ts(now).as_str() {
            return Ok(None);
        }
        Ok(Some(string_attr(item, "holder")?.parse().map_err(backend)?))
    }
}

/// Whether a transaction was cancelled because a condition did not hold.
/// The indexes of the transaction's items whose condition failed.
fn failed_conditions<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Vec<usize> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect(),
        _ => Vec::new(),
    }
}

fn is_condition_failure<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}
