//! The SQLite release store: the contract every store keeps, and what only a file shared
//! by processes has to show.

use chrono::Duration;
use shipgate_core::store_contract::release;

use super::*;
use crate::db::tests::time;

fn store() -> SqliteReleaseStore {
    SqliteReleaseStore::new(Db::open_in_memory().unwrap())
}

#[tokio::test]
async fn given_a_fresh_sqlite_store_when_the_contract_runs_then_every_check_holds() {
    shipgate_core::store_contract::check(|| async { store() }).await;
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
    assert_eq!(
        one.acquire_lock(&r.service, &r.id, now, now + Duration::hours(1))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        two.lock_holder(&r.service, now).await.unwrap(),
        Some(r.id.clone())
    );
}

#[test]
fn given_two_processes_racing_on_one_release_when_each_retries_on_conflict_then_no_write_is_lost() {
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
                        read.note(
                            read.created_at,
                            name,
                            shipgate_core::model::EventKind::Other("write".into()),
                            format!("{name}{i}"),
                        );
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
