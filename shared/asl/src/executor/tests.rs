use super::*;

const DEF: &str = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}}"#;

fn start() -> Snapshot {
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    Snapshot::start(DEF, "id", "n", "sm", json!({"a": 1}), now, 9)
        .unwrap()
        .0
}

#[test]
fn given_context_paths_when_scanned_then_execution_input_detected() {
    assert!(!references_execution_input(r#"{"a.$": "$.x"}"#));
    assert!(!references_execution_input(
        r#"{"i.$": "$$.Map.Item.Value", "n.$": "$$.Execution.Name"}"#
    ));
    assert!(references_execution_input(
        r#"{"a.$": "$$.Execution.Input.x"}"#
    ));
    assert!(references_execution_input(r#"{"a.$": "$$"}"#));
    assert!(references_execution_input(
        r#"{"a.$": "States.JsonToString($$.Execution)"}"#
    ));
    assert!(references_execution_input(r#"{"a.$": "$$['Execution']"}"#));
}

#[test]
fn given_snapshot_when_serialised_then_round_trips() {
    let s = start();
    let back = Snapshot::from_json(&s.to_json().unwrap()).unwrap();
    assert_eq!(back.root, s.root);
    assert_eq!(back.rng, s.rng);
    assert!(back.machine.is_some());
}

#[test]
fn given_other_format_version_when_read_then_refused() {
    let mut v: Value = serde_json::from_str(&start().to_json().unwrap()).unwrap();
    v["format"] = json!(SNAPSHOT_FORMAT + 1);
    let err = Snapshot::from_json(&v.to_string()).unwrap_err();
    assert!(matches!(err, SnapshotError::UnsupportedFormat(f) if f == SNAPSHOT_FORMAT + 1));
    assert_eq!(
        err.to_string(),
        format!(
            "snapshot format {} is not supported (expected {SNAPSHOT_FORMAT})",
            SNAPSHOT_FORMAT + 1
        )
    );
}

#[test]
fn given_nested_threads_when_searching_tokens_then_found_and_woken() {
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let leaf = |phase| Thread {
        scope: vec![],
        state: "T".into(),
        input: json!(null),
        phase,
        retries: vec![],
        entered_at: now,
        last_event: 0,
        entered_event: 0,
    };
    let mut root = leaf(Phase::Parallel {
        children: vec![
            leaf(Phase::AwaitToken {
                token: "k".into(),
                timeout_at: Some(now + Duration::seconds(9)),
                heartbeat_at: None,
                heartbeat_seconds: None,
            }),
            leaf(Phase::Sleep {
                until: now + Duration::seconds(3),
                after: AfterSleep::Retry,
            }),
        ],
    });
    assert!(find_token(&mut root, "k").is_some());
    assert!(find_token(&mut root, "x").is_none());
    assert_eq!(wake(&root, now), Some(now + Duration::seconds(3)));
    let mut toks = vec![];
    collect_tokens(&root, &mut toks);
    assert_eq!(toks, vec!["k".to_string()]);
}

#[test]
fn given_running_snapshot_when_aborted_then_done_and_event() {
    let mut s = start();
    let now = s.start_time;
    let p = abort(&mut s, "E", "C", now);
    assert_eq!(p.end.unwrap().status, ExecutionStatus::Aborted);
    assert_eq!(p.events[0].event_type, E::ExecutionAborted);
    assert!(abort(&mut s, "E", "C", now).events.is_empty());
}

#[test]
fn given_snapshot_without_timeout_then_deadline_is_one_year_after_start() {
    let s = start();
    assert_eq!(s.deadline(), s.start_time + Duration::days(365));
    assert_eq!(s.next_event_id.saturating_sub(1), 1);
    // A snapshot written before the bound existed reads the same: the bound is computed.
    let mut v: Value = serde_json::from_str(&s.to_json().unwrap()).unwrap();
    assert_eq!(v["deadline"], Value::Null);
    v["next_event_id"] = json!(24_000);
    let back = Snapshot::from_json(&v.to_string()).unwrap();
    assert_eq!(back.deadline(), s.deadline());
    assert_eq!(back.next_event_id.saturating_sub(1), 23_999);
}

#[test]
fn given_timeout_seconds_then_deadline_is_the_earlier_bound() {
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let short = r#"{"TimeoutSeconds":60,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}}"#;
    let s = Snapshot::start(short, "id", "n", "sm", json!({}), now, 1)
        .unwrap()
        .0;
    assert_eq!(s.deadline(), now + Duration::seconds(60));
    // Past any representable date: no overflow, and the one-year bound wins.
    let huge = short.replace("60", "18446744073709551615");
    let s = Snapshot::start(&huge, "id", "n", "sm", json!({}), now, 1)
        .unwrap()
        .0;
    assert_eq!(s.deadline(), now + Duration::days(365));
}
