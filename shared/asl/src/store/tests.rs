use super::*;
use serde_json::json;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

fn exec(id: &str, wake: Option<i64>) -> StoredExecution {
    StoredExecution {
        description: ExecutionDescription {
            execution_id: id.into(),
            name: id.into(),
            status: ExecutionStatus::Running,
            input: json!({}),
            output: None,
            error: None,
            cause: None,
            start_date: t(0),
            stop_date: None,
        },
        snapshot: "{}".into(),
        wake_at: wake.map(t),
        version: 0,
    }
}

fn lease(owner: &str, until: i64) -> Lease {
    Lease {
        owner: owner.into(),
        until: t(until),
    }
}

fn contract(store: &dyn ExecutionStore) {
    // Given an execution due at t=10
    let (_, created) = store.create(&exec("a", Some(10)), &[]).unwrap();
    assert!(created);
    let (_, created) = store.create(&exec("a", Some(10)), &[]).unwrap();
    assert!(!created, "same name is idempotent");
    assert!(
        store
            .claim_runnable(t(5), &lease("p1", 100), &[])
            .unwrap()
            .is_none()
    );
    assert_eq!(store.next_wake().unwrap(), Some(t(10)));
    // When p1 claims it, p2 cannot
    let got = store.claim_runnable(t(10), &lease("p1", 100), &[]).unwrap();
    assert!(got.is_some());
    assert!(
        store
            .claim("a", t(11), &lease("p2", 100))
            .unwrap()
            .is_none()
    );
    // When a signal is queued while p1 holds it, save+release keeps the lease
    store
        .push_signal(
            "a",
            &QueuedSignal {
                at: t(11),
                signal: Signal::Heartbeat { token: "x".into() },
            },
        )
        .unwrap();
    let mut e = exec("a", None);
    let released = store.save(&e, &[], &[], "p1", true).unwrap();
    assert!(!released);
    assert_eq!(store.take_signals("a", "p1").unwrap().len(), 1);
    e.wake_at = None;
    assert!(store.save(&e, &[], &[], "p1", true).unwrap());
    assert!(store.take_signals("a", "p2").is_err());
    // Then p2 can claim once the lease is gone, after expiry too
    assert!(store.claim("a", t(12), &lease("p2", 20)).unwrap().is_some());
    assert!(store.claim("a", t(21), &lease("p3", 40)).unwrap().is_some());
    let sig = QueuedSignal {
        at: t(21),
        signal: Signal::Heartbeat {
            token: "tok".into(),
        },
    };
    assert_eq!(
        store.deliver("tok", &sig, true).unwrap(),
        Delivery::UnknownToken
    );
    store.open_token("tok", "a").unwrap();
    assert_eq!(store.deliver("tok", &sig, false).unwrap(), Delivery::Queued);
    assert_eq!(store.deliver("tok", &sig, true).unwrap(), Delivery::Queued);
    assert_eq!(
        store.deliver("tok", &sig, true).unwrap(),
        Delivery::TaskEnded
    );
    assert_eq!(store.take_signals("a", "p3").unwrap().len(), 2);
    store.open_token("tok", "a").unwrap();
    assert!(store.token("tok").unwrap().unwrap().open);
    store
        .save(&e, &[], &["tok".to_string()], "p3", true)
        .unwrap();
    assert!(!store.token("tok").unwrap().unwrap().open);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(store.get("a").unwrap().unwrap().version, 3);
}

#[test]
fn given_memory_store_when_used_then_contract_holds() {
    contract(&MemoryExecutionStore::new());
}

#[test]
fn given_sqlite_store_when_used_then_contract_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteExecutionStore::open(&dir.path().join("x.db")).unwrap();
    contract(&store);
    // and a second connection sees the same data
    let other = SqliteExecutionStore::open(&dir.path().join("x.db")).unwrap();
    assert_eq!(other.list().unwrap().len(), 1);
}
