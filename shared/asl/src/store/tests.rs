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
    let released = store.save(&e, &Step::default(), "p1", true).unwrap();
    assert!(!released);
    let pending = store.pending_signals("a", "p1").unwrap();
    assert_eq!(pending.len(), 1);
    // Reading a signal does not consume it: only the save that applies it does.
    assert_eq!(store.pending_signals("a", "p1").unwrap(), pending);
    e.wake_at = None;
    let consumed = [pending[0].seq];
    let step = Step {
        consumed: &consumed,
        ..Step::default()
    };
    assert!(store.save(&e, &step, "p1", true).unwrap());
    assert!(store.pending_signals("a", "p2").is_err());
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
    assert_eq!(store.pending_signals("a", "p3").unwrap().len(), 2);
    store.open_token("tok", "a").unwrap();
    assert!(store.token("tok").unwrap().unwrap().open);
    let closed = ["tok".to_string()];
    let step = Step {
        closed_tokens: &closed,
        ..Step::default()
    };
    store.save(&e, &step, "p3", true).unwrap();
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

/// A holder that read a signal and died before saving: the signal is still queued, the
/// snapshot is the one before, and once the dead holder's leases are handed back the next
/// claimant sees exactly what the dead one saw.
fn crash_before_save(store: &dyn ExecutionStore) {
    store.create(&exec("b", None), &[]).unwrap();
    store.open_token("tok-b", "b").unwrap();
    let success = QueuedSignal {
        at: t(1),
        signal: Signal::TaskSuccess {
            token: "tok-b".into(),
            output: json!({"ok": true}),
        },
    };
    assert_eq!(
        store.deliver("tok-b", &success, true).unwrap(),
        Delivery::Queued
    );
    let claimed = store.claim_runnable(t(2), &lease("dead", 1_000), &[]);
    assert!(claimed.unwrap().is_some());
    let seen = store.pending_signals("b", "dead").unwrap();
    assert_eq!(seen.len(), 1);
    // ... the holder dies here. Its lease blocks everyone until handed back.
    assert!(
        store
            .claim("b", t(3), &lease("next", 1_000))
            .unwrap()
            .is_none()
    );
    assert_eq!(store.release_leases("dead").unwrap(), 1);
    let again = store
        .claim("b", t(3), &lease("next", 1_000))
        .unwrap()
        .unwrap();
    assert_eq!(again.version, 0, "nothing of the dead run was saved");
    assert_eq!(store.pending_signals("b", "next").unwrap(), seen);
    // The replayed step saves once, consuming the signal with its events.
    let mut after = exec("b", None);
    after.snapshot = "{\"step\":1}".into();
    let events = [HistoryEvent {
        id: 1,
        previous_event_id: 0,
        timestamp: t(3),
        event_type: crate::history::HistoryEventType::TaskSucceeded,
        details: json!({}),
    }];
    let consumed: Vec<u64> = seen.iter().map(|s| s.seq).collect();
    let step = Step {
        events: &events,
        consumed: &consumed,
        ..Step::default()
    };
    assert!(store.save(&after, &step, "next", true).unwrap());
    assert!(
        store
            .claim("b", t(4), &lease("x", 1_000))
            .unwrap()
            .is_some()
    );
    assert!(store.pending_signals("b", "x").unwrap().is_empty());
    assert_eq!(store.events("b").unwrap().len(), 1);
}

#[test]
fn given_a_holder_killed_before_its_save_when_the_next_claims_then_the_signal_outlives_it() {
    crash_before_save(&MemoryExecutionStore::new());
    let dir = tempfile::tempdir().unwrap();
    crash_before_save(&SqliteExecutionStore::open(&dir.path().join("x.db")).unwrap());
}
