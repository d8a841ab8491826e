//! `DynamoReleaseStore`: the release store contract on a fresh table, and what only
//! DynamoDB has to show (the timeline in its own items, the indexes, reads that stay few).

use chrono::{DateTime, Duration, Utc};
use shipgate_aws::dynamo::DynamoReleaseStore;
use shipgate_core::model::{Changelog, NewRelease, Release, ReleaseState, ReleaseType};
use shipgate_core::ports::{ReleaseFilter, ReleaseStore, StoreError};

use crate::helpers::Moto;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn release(version: &str, at: DateTime<Utc>) -> Release {
    Release::open(
        NewRelease {
            service: "api".parse().unwrap(),
            version: version.parse().unwrap(),
            commit: format!("c{}", version.replace('.', "")),
            author: "alex".into(),
            changelog: Changelog {
                features: vec!["f".into()],
                fixes: vec![],
            },
            release_type: None,
            bypass_reason: None,
            contributors: Vec::new(),
            user_announcement: None,
        },
        ReleaseType::Minor,
        format!("img:{version}"),
        at,
    )
}

async fn store(moto: &Moto) -> DynamoReleaseStore {
    let sdk = moto.sdk().await;
    let store = DynamoReleaseStore::new(aws_sdk_dynamodb::Client::new(&sdk), "shipgate");
    store.create_table().await.unwrap();
    store
}

#[tokio::test]
async fn given_a_fresh_table_when_the_contract_runs_then_every_check_holds() {
    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk().await;
    let tables = std::sync::atomic::AtomicUsize::new(0);
    shipgate_core::store_contract::check(|| async {
        let n = tables.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let store =
            DynamoReleaseStore::new(aws_sdk_dynamodb::Client::new(&sdk), format!("contract-{n}"));
        store.create_table().await.unwrap();
        store
    })
    .await;
}

#[tokio::test]
async fn given_a_release_when_created_and_read_back_then_it_round_trips_with_its_timeline() {
    let Some(moto) = Moto::start() else { return };
    let store = store(&moto).await;
    let r = release("1.3.0", t("2026-03-10T09:00:00Z"));
    store.create(&r).await.unwrap();
    assert_eq!(store.get(&r.id).await.unwrap(), Some(r.clone()));
    assert!(matches!(
        store.create(&r).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store.get(&"api-9.9.9-none".parse().unwrap()).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn given_queued_releases_when_listed_queued_and_released_then_the_indexes_answer() {
    let Some(moto) = Moto::start() else { return };
    let store = store(&moto).await;
    let mut ids = Vec::new();
    for (n, version) in ["1.3.0", "1.4.0", "1.5.0"].iter().enumerate() {
        let mut r = release(
            version,
            t("2026-03-10T09:00:00Z") + Duration::hours(n as i64),
        );
        store.create(&r).await.unwrap();
        r.transition(ReleaseState::AwaitingApproval, "t", "t", r.created_at)
            .unwrap();
        r.transition(ReleaseState::AwaitingWindow, "t", "t", r.created_at)
            .unwrap();
        // Queued in the reverse order of creation.
        r.queued_at = Some(t("2026-03-10T20:00:00Z") - Duration::hours(n as i64));
        store.update(&r).await.unwrap();
        ids.push(r.id.clone());
    }
    let service = "api".parse().unwrap();
    let queue: Vec<_> = store
        .window_queue(&service)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(queue, vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]);

    let listed: Vec<_> = store
        .list(&ReleaseFilter {
            service: Some(service.clone()),
            states: vec![],
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        listed,
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()],
        "newest first"
    );
    let none = store
        .list(&ReleaseFilter {
            service: None,
            states: vec![ReleaseState::Succeeded],
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        store.list(&ReleaseFilter::default()).await.unwrap().len(),
        3
    );

    // The first one deploys and succeeds: it is the last release.
    let mut first = store.get(&ids[0]).await.unwrap().unwrap();
    for state in [
        ReleaseState::Deploying,
        ReleaseState::HealthChecking,
        ReleaseState::Monitoring,
        ReleaseState::Succeeded,
    ] {
        first
            .transition(state, "t", "t", t("2026-03-11T04:00:00Z"))
            .unwrap();
    }
    store.update(&first).await.unwrap();
    assert_eq!(
        store.last_released(&service).await.unwrap().map(|r| r.id),
        Some(ids[0].clone())
    );
    assert_eq!(store.window_queue(&service).await.unwrap().len(), 2);
}

#[tokio::test]
async fn given_versions_when_the_highest_is_asked_then_one_read_compares_versions_not_text() {
    let Some(moto) = Moto::start() else { return };
    let store = store(&moto).await;
    let service = "api".parse().unwrap();
    assert_eq!(store.highest_version(&service).await.unwrap(), None);
    for (i, v) in ["1.3.0", "1.10.0", "1.4.0", "1.9.2"].iter().enumerate() {
        store
            .create(&release(
                v,
                t("2026-03-10T09:00:00Z") + Duration::minutes(i as i64),
            ))
            .await
            .unwrap();
    }
    let (version, commit) = store.highest_version(&service).await.unwrap().unwrap();
    assert_eq!(version.to_string(), "1.10.0");
    assert_eq!(commit, "c1100");
    // Another service's versions are its own.
    assert_eq!(
        store
            .highest_version(&"worker".parse().unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn given_many_succeeded_releases_when_the_last_released_is_asked_then_it_is_the_newest() {
    let Some(moto) = Moto::start() else { return };
    let store = store(&moto).await;
    let service = "api".parse().unwrap();
    for minor in 0..12 {
        let mut r = release(&format!("1.{minor}.0"), t("2026-03-10T09:00:00Z"));
        store.create(&r).await.unwrap();
        r = store.get(&r.id).await.unwrap().unwrap();
        r.state = ReleaseState::Succeeded;
        r.finished_at = Some(t("2026-03-11T04:00:00Z") + Duration::days(minor));
        store.update(&r).await.unwrap();
    }
    let last = store.last_released(&service).await.unwrap().unwrap();
    assert_eq!(last.semver.to_string(), "1.11.0");
}
