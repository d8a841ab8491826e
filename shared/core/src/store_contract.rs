//! The release store's contract: one suite every adapter runs — the in-memory fake (core's
//! tests), SQLite (`shipgate-local`) and DynamoDB on moto (`shipgate-aws`). Each check takes
//! a fresh, empty store. Enabled by the `store-contract` feature for the adapters' tests.

#![allow(clippy::unwrap_used, missing_docs)]

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use crate::model::{
    Changelog, NewRelease, Release, ReleaseId, ReleaseState, ReleaseType, ServiceName,
};
use crate::ports::{LockOutcome, ReleaseFilter, ReleaseStore, StoreError};

/// Runs every check of the contract, each on a store `fresh` makes.
pub async fn check<S, F, Fut>(fresh: F)
where
    S: ReleaseStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    given_versions_of_two_services_when_asked_for_the_highest_then_they_compare_as_versions(
        &fresh().await,
    )
    .await;
    given_a_new_release_when_created_then_get_returns_it_unchanged(&fresh().await).await;
    given_a_version_taken_by_one_commit_when_another_commit_creates_it_then_version_taken(
        &fresh().await,
    )
    .await;
    given_an_existing_id_when_created_again_then_already_exists_and_the_first_stays(&fresh().await)
        .await;
    given_a_read_release_when_updated_then_the_version_increments_and_is_stored(&fresh().await)
        .await;
    given_two_writers_of_one_version_when_both_update_then_one_wins_and_the_other_conflicts(
        &fresh().await,
    )
    .await;
    given_an_unknown_release_when_updated_then_not_found(&fresh().await).await;
    given_releases_of_two_services_when_listed_then_newest_first_filtered_by_service_and_state(
        &fresh().await,
    )
    .await;
    given_releases_awaiting_the_window_when_queued_then_oldest_queued_comes_first(&fresh().await)
        .await;
    given_several_succeeded_releases_when_asked_for_the_last_released_then_the_newest_finished_one(
        &fresh().await,
    )
    .await;
    given_a_held_lock_when_another_release_asks_then_held_by_and_the_holder_may_extend(
        &fresh().await,
    )
    .await;
    given_an_expired_lease_when_another_release_asks_then_it_takes_the_lock_over(&fresh().await)
        .await;
    given_a_lock_when_released_then_only_by_its_holder(&fresh().await).await;
}

/// An RFC 3339 instant.
pub fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A minor release of `service` at `version` from `commit`, opened at `created`.
pub fn release(service: &str, version: &str, commit: &str, created: &str) -> Release {
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
            user_announcement: None,
        },
        ReleaseType::Minor,
        format!("registry/{service}:{version}"),
        time(created),
    )
}

fn svc(name: &str) -> ServiceName {
    name.parse().unwrap()
}

fn ids(releases: &[Release]) -> Vec<String> {
    releases.iter().map(|r| r.id.to_string()).collect()
}

/// Moves a stored release to `state` through the store, returning the stored record.
async fn set_state<S: ReleaseStore>(store: &S, id: &ReleaseId, state: ReleaseState) -> Release {
    let mut r = store.get(id).await.unwrap().unwrap();
    r.state = state;
    store.update(&r).await.unwrap()
}

/// Part of the contract: see [`check`].
pub async fn given_versions_of_two_services_when_asked_for_the_highest_then_they_compare_as_versions<
    S: ReleaseStore,
>(
    store: &S,
) {
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

/// Part of the contract: see [`check`].
pub async fn given_a_new_release_when_created_then_get_returns_it_unchanged<S: ReleaseStore>(
    store: &S,
) {
    let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
    store.create(&r).await.unwrap();
    assert_eq!(store.get(&r.id).await.unwrap(), Some(r));
    let missing: ReleaseId = "api-9.9.9-nothing".parse().unwrap();
    assert_eq!(store.get(&missing).await.unwrap(), None);
}

/// Part of the contract: see [`check`].
pub async fn given_an_existing_id_when_created_again_then_already_exists_and_the_first_stays<
    S: ReleaseStore,
>(
    store: &S,
) {
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

/// Part of the contract: see [`check`].
pub async fn given_a_read_release_when_updated_then_the_version_increments_and_is_stored<
    S: ReleaseStore,
>(
    store: &S,
) {
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

/// Part of the contract: see [`check`].
pub async fn given_two_writers_of_one_version_when_both_update_then_one_wins_and_the_other_conflicts<
    S: ReleaseStore,
>(
    store: &S,
) {
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

/// Part of the contract: see [`check`].
pub async fn given_an_unknown_release_when_updated_then_not_found<S: ReleaseStore>(store: &S) {
    let r = release("api", "1.2.0", "abcdef1", "2026-03-01T10:00:00Z");
    let err = store.update(&r).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(ref id) if id == r.id.as_str()),
        "{err:?}"
    );
}

/// Part of the contract: see [`check`].
pub async fn given_releases_of_two_services_when_listed_then_newest_first_filtered_by_service_and_state<
    S: ReleaseStore,
>(
    store: &S,
) {
    let old = release("api", "1.0.0", "aaaaaaa", "2026-03-01T10:00:00Z");
    let mid = release("web", "2.0.0", "bbbbbbb", "2026-03-02T10:00:00Z");
    let new = release("api", "1.1.0", "ccccccc", "2026-03-03T10:00:00Z");
    for r in [&old, &mid, &new] {
        store.create(r).await.unwrap();
    }
    set_state(store, &old.id, ReleaseState::Succeeded).await;

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

/// Part of the contract: see [`check`].
pub async fn given_releases_awaiting_the_window_when_queued_then_oldest_queued_comes_first<
    S: ReleaseStore,
>(
    store: &S,
) {
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

/// Part of the contract: see [`check`].
pub async fn given_several_succeeded_releases_when_asked_for_the_last_released_then_the_newest_finished_one<
    S: ReleaseStore,
>(
    store: &S,
) {
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

/// Part of the contract: see [`check`].
pub async fn given_a_held_lock_when_another_release_asks_then_held_by_and_the_holder_may_extend<
    S: ReleaseStore,
>(
    store: &S,
) {
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

/// Part of the contract: see [`check`].
pub async fn given_an_expired_lease_when_another_release_asks_then_it_takes_the_lock_over<
    S: ReleaseStore,
>(
    store: &S,
) {
    let api = svc("api");
    let a: ReleaseId = "api-1.1.0-aaaaaaa".parse().unwrap();
    let b: ReleaseId = "api-1.2.0-bbbbbbb".parse().unwrap();
    let now = time("2026-03-01T03:00:00Z");
    let lease = now + Duration::minutes(10);
    assert_eq!(
        store.acquire_lock(&api, &a, now, lease).await.unwrap(),
        LockOutcome::Acquired
    );
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

/// Part of the contract: see [`check`].
pub async fn given_a_lock_when_released_then_only_by_its_holder<S: ReleaseStore>(store: &S) {
    let api = svc("api");
    let a: ReleaseId = "api-1.1.0-aaaaaaa".parse().unwrap();
    let b: ReleaseId = "api-1.2.0-bbbbbbb".parse().unwrap();
    let now = time("2026-03-01T03:00:00Z");
    assert_eq!(
        store
            .acquire_lock(&api, &a, now, now + Duration::hours(3))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
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

/// Part of the contract: see [`check`].
pub async fn given_a_version_taken_by_one_commit_when_another_commit_creates_it_then_version_taken<
    S: ReleaseStore,
>(
    store: &S,
) {
    let first = release("api", "1.2.0", "aaaaaaa", "2026-03-01T10:00:00Z");
    store.create(&first).await.unwrap();
    let other = release("api", "1.2.0", "bbbbbbb", "2026-03-01T11:00:00Z");
    let err = store.create(&other).await.unwrap_err();
    assert!(
        matches!(err, StoreError::VersionTaken { ref commit, ref version, .. } if commit == "aaaaaaa" && version == "1.2.0"),
        "{err:?}"
    );
    assert_eq!(store.get(&other.id).await.unwrap(), None);
    // Another service may take the same version.
    store
        .create(&release("web", "1.2.0", "bbbbbbb", "2026-03-01T11:00:00Z"))
        .await
        .unwrap();
}
