//! AWS Step Functions quotas, end to end: the 25,000-event history, the 256 KiB payload,
//! Wait bounds and the one-year execution. Each test runs a real execution on the virtual
//! clock and checks its status, error, cause and history, not just that nothing panicked.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use shipgate_asl::*;
use shipgate_asl::{MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES, history_limit_cause};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A task that returns a fixed value.
struct Returns(Value);

#[async_trait::async_trait]
impl TaskInvoker for Returns {
    async fn invoke(&self, _call: TaskCall) -> Result<Value, TaskFailure> {
        Ok(self.0.clone())
    }
}

/// Runs `def` to its end on a virtual clock; returns the description and the history.
async fn run(
    def: &str,
    input: Value,
    invoker: Arc<dyn TaskInvoker>,
) -> (ExecutionDescription, Vec<HistoryEvent>) {
    let clock = VirtualClock::new(t0());
    let engine = Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        invoker,
        Arc::new(clock.clone()),
    );
    let started = engine
        .start_execution(def, "limits", input)
        .await
        .expect("starts");
    loop {
        engine.run_due().await.expect("runs");
        let d = engine
            .describe(&started.execution_id)
            .expect("describes")
            .expect("exists");
        if d.status != ExecutionStatus::Running {
            let h = engine.history(&started.execution_id).expect("history");
            return (d, h);
        }
        match engine.next_wake().expect("next wake") {
            Some(t) if t > clock.now() => clock.set(t),
            _ => panic!("execution stuck: {d:?}"),
        }
    }
}

/// The execution failed at exactly the history quota, like AWS: 25,000 events with
/// consecutive ids, the last an `ExecutionFailed` with `States.Runtime`.
fn assert_failed_at_history_limit(d: &ExecutionDescription, h: &[HistoryEvent]) {
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("States.Runtime"));
    assert_eq!(d.cause.as_deref(), Some(history_limit_cause().as_str()));
    assert_eq!(h.len() as u64, MAX_HISTORY_EVENTS);
    assert!(
        h.iter().zip(1..).all(|(e, id)| e.id == id),
        "ids not 1..=25000"
    );
    let last = h.last().expect("events");
    assert_eq!(last.event_type, HistoryEventType::ExecutionFailed);
    assert_eq!(last.details["error"], json!("States.Runtime"));
    assert_eq!(
        last.details["cause"],
        json!("The execution reached the maximum number of history events (25000).")
    );
}

#[tokio::test]
async fn given_catch_looping_to_its_own_state_when_run_then_fails_at_history_limit() {
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Catch":[{"ErrorEquals":["States.ALL"],"Next":"T"}],"End":true}}}"#;
    let (d, h) = run(def, json!({}), Arc::new(NoTasks)).await;
    assert_failed_at_history_limit(&d, &h);
    // The loop itself was recorded up to the limit: the task failed again and again.
    let failed = h
        .iter()
        .filter(|e| e.event_type == HistoryEventType::TaskFailed)
        .count();
    assert!(failed > 4_000, "only {failed} task failures recorded");
}

#[tokio::test]
async fn given_retry_with_a_billion_attempts_and_no_delay_when_run_then_fails_at_history_limit() {
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1000000000,"IntervalSeconds":0}],
        "End":true}}}"#;
    let (d, h) = run(def, json!({}), Arc::new(NoTasks)).await;
    assert_failed_at_history_limit(&d, &h);
    // All of it happened in one instant of the virtual clock.
    assert_eq!(d.stop_date, Some(t0()));
}

#[tokio::test]
async fn given_retry_with_a_billion_attempts_one_second_apart_when_run_then_fails_at_history_limit()
{
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1000000000,"IntervalSeconds":1,
                  "BackoffRate":1}],
        "End":true}}}"#;
    let (d, h) = run(def, json!({}), Arc::new(NoTasks)).await;
    assert_failed_at_history_limit(&d, &h);
    // ExecutionStarted, TaskStateEntered, then 3 events per attempt: the 8,332nd retry
    // (one second apart) is the first attempt with no room left for its TaskScheduled.
    assert_eq!(d.stop_date, Some(t0() + Duration::seconds(8_332)));
}

#[tokio::test]
async fn given_retry_whose_attempts_fail_before_any_event_when_run_then_ends_bounded() {
    // Parameters fail every attempt (not JSON), before the task is scheduled, so attempts
    // leave no event: they still count against the history quota.
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Parameters":{"v.$":"States.StringToJson($.text)"},
        "Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1000000000,"IntervalSeconds":0}],
        "End":true}}}"#;
    let (d, h) = run(def, json!({"text": "not json"}), Arc::new(NoTasks)).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.cause.as_deref(), Some(history_limit_cause().as_str()));
    let types: Vec<String> = h.iter().map(|e| e.event_type.to_string()).collect();
    assert_eq!(
        types,
        ["ExecutionStarted", "TaskStateEntered", "ExecutionFailed"]
    );
}

/// A counting loop: Init (2 events), `turns` × (Test + Step, 4 events), the last Test (2),
/// Done (2), with ExecutionStarted and the end: 8 + 4 × turns events in all.
const COUNT: &str = r#"{"StartAt":"Init","States":{
    "Init":{"Type":"Pass","Parameters":{"i":0,"n.$":"$.n"},"Next":"Test"},
    "Test":{"Type":"Choice","Choices":[{"Variable":"$.i","NumericLessThanPath":"$.n","Next":"Step"}],
            "Default":"Done"},
    "Step":{"Type":"Pass","Parameters":{"i.$":"States.MathAdd($.i, 1)","n.$":"$.n"},"Next":"Test"},
    "Done":{"Type":"Succeed"}}}"#;

#[tokio::test]
async fn given_execution_whose_25000th_event_is_its_success_when_run_then_succeeds() {
    let (d, h) = run(COUNT, json!({"n": 6_248}), Arc::new(NoTasks)).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded, "{d:?}");
    assert_eq!(d.output, Some(json!({"i": 6_248, "n": 6_248})));
    assert_eq!(h.len() as u64, MAX_HISTORY_EVENTS);
    assert_eq!(
        h.last().map(|e| e.event_type),
        Some(HistoryEventType::ExecutionSucceeded)
    );
}

#[tokio::test]
async fn given_execution_one_turn_longer_when_run_then_fails_at_history_limit() {
    let (d, h) = run(COUNT, json!({"n": 6_249}), Arc::new(NoTasks)).await;
    assert_failed_at_history_limit(&d, &h);
}

#[tokio::test]
async fn given_pass_state_output_over_256_kib_when_run_then_fails_uncaught_like_aws() {
    // As AWS records it: the state entered, then the execution failed, no state exit.
    let big = "a".repeat(257 * 1024);
    let def = json!({"StartAt": "State_1", "States": {
        "State_1": {"Type": "Pass", "Result": {"Arg1": big}, "End": true}}})
    .to_string();
    let (d, h) = run(&def, json!({}), Arc::new(NoTasks)).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("States.DataLimitExceeded"));
    assert_eq!(
        d.cause.as_deref(),
        Some(
            "The state/task 'State_1' returned a result with a size exceeding the maximum number of bytes service limit."
        )
    );
    let types: Vec<String> = h.iter().map(|e| e.event_type.to_string()).collect();
    assert_eq!(
        types,
        ["ExecutionStarted", "PassStateEntered", "ExecutionFailed"]
    );
}

#[tokio::test]
async fn given_task_result_over_256_kib_when_caught_by_states_all_then_not_caught() {
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},
        "Caught":{"Type":"Succeed"}}}"#;
    let big = json!("x".repeat(MAX_PAYLOAD_BYTES));
    let (d, h) = run(def, json!({}), Arc::new(Returns(big))).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("States.DataLimitExceeded"));
    assert_eq!(
        d.cause.as_deref(),
        Some(
            "The state/task 'r' returned a result with a size exceeding the maximum number of bytes service limit."
        )
    );
    let failed = h
        .iter()
        .find(|e| e.event_type == HistoryEventType::TaskFailed)
        .expect("TaskFailed");
    assert_eq!(failed.details["error"], json!("States.DataLimitExceeded"));
    assert!(
        !h.iter()
            .any(|e| e.event_type == HistoryEventType::TaskSucceeded)
    );
}

#[tokio::test]
async fn given_task_result_over_256_kib_when_caught_by_name_then_caught() {
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Catch":[{"ErrorEquals":["States.DataLimitExceeded"],"ResultPath":"$.err","Next":"Caught"}],
        "End":true},
        "Caught":{"Type":"Succeed"}}}"#;
    let big = json!("x".repeat(MAX_PAYLOAD_BYTES));
    let (d, _) = run(def, json!({"keep": 1}), Arc::new(Returns(big))).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    let out = d.output.expect("output");
    assert_eq!(out["keep"], json!(1));
    assert_eq!(out["err"]["Error"], json!("States.DataLimitExceeded"));
}

#[tokio::test]
async fn given_task_result_just_under_the_limit_when_run_then_succeeds() {
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true}}}"#;
    // Two quote bytes plus the characters: exactly 262,144 bytes of JSON.
    let at_limit = json!("x".repeat(MAX_PAYLOAD_BYTES - 2));
    let (d, _) = run(def, json!({}), Arc::new(Returns(at_limit.clone()))).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output, Some(at_limit));
}

#[tokio::test]
async fn given_parameters_building_input_over_256_kib_when_run_then_data_limit_before_task() {
    // 1000 items of a 300-character string: over the limit only after Parameters.
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Parameters":{"xs.$":"States.ArrayRange(1, 1000, 1)","pad.$":"$.pad","more.$":"$.pad",
            "a.$":"States.Array($.pad, $.pad, $.pad, $.pad, $.pad, $.pad, $.pad, $.pad)"},
        "End":true}}}"#;
    let pad = "p".repeat(30_000);
    let (d, h) = run(def, json!({ "pad": pad }), Arc::new(NoTasks)).await;
    assert_eq!(
        d.error.as_deref(),
        Some("States.DataLimitExceeded"),
        "{d:?}"
    );
    assert!(
        !h.iter()
            .any(|e| e.event_type == HistoryEventType::TaskScheduled),
        "the task must not be scheduled"
    );
}

#[tokio::test]
async fn given_input_over_256_kib_when_started_then_refused_and_nothing_created() {
    let clock = VirtualClock::new(t0());
    let engine = Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        Arc::new(NoTasks),
        Arc::new(clock),
    );
    let def = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
    let over = json!("x".repeat(MAX_PAYLOAD_BYTES - 1));
    assert!(matches!(
        engine.start_execution(def, "big", over).await,
        Err(EngineError::ExecutionInputTooLarge)
    ));
    assert!(engine.list_executions().expect("list").is_empty());
    // Multi-byte characters count as their UTF-8 bytes.
    let wide = json!("é".repeat(MAX_PAYLOAD_BYTES / 2));
    assert!(matches!(
        engine.start_execution(def, "wide", wide).await,
        Err(EngineError::ExecutionInputTooLarge)
    ));
    let at_limit = json!("x".repeat(MAX_PAYLOAD_BYTES - 2));
    assert!(engine.start_execution(def, "fits", at_limit).await.is_ok());
}

#[tokio::test]
async fn given_wait_seconds_1e18_when_started_then_refused_by_validation() {
    let clock = VirtualClock::new(t0());
    let engine = Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        Arc::new(NoTasks),
        Arc::new(clock),
    );
    let def = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1e18,"End":true}}}"#;
    match engine.start_execution(def, "w", json!({})).await {
        Err(EngineError::InvalidDefinition(f)) => {
            assert!(f.iter().any(|f| f.pointer == "/States/W/Seconds"), "{f:?}")
        }
        other => panic!("expected InvalidDefinition, got {other:?}"),
    }
}

/// One year after [`t0`]: when every execution started then times out at the latest.
fn one_year_later() -> DateTime<Utc> {
    t0() + Duration::days(365)
}

async fn assert_times_out_after_a_year(def: &str, input: Value) {
    let (d, h) = run(def, input, Arc::new(NoTasks)).await;
    assert_eq!(d.status, ExecutionStatus::TimedOut, "{d:?}");
    assert_eq!(d.error.as_deref(), Some("States.Timeout"));
    assert_eq!(d.stop_date, Some(one_year_later()));
    assert_eq!(
        h.last().map(|e| e.event_type),
        Some(HistoryEventType::ExecutionTimedOut)
    );
}

#[tokio::test]
async fn given_longest_wait_seconds_when_run_then_execution_times_out_after_a_year() {
    let def = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":99999999,"End":true}}}"#;
    assert_times_out_after_a_year(def, json!({})).await;
}

#[tokio::test]
async fn given_huge_seconds_path_or_far_timestamp_when_run_then_times_out_after_a_year() {
    let by_path =
        r#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#;
    assert_times_out_after_a_year(by_path, json!({"s": i64::MAX})).await;
    let literal = r#"{"StartAt":"W","States":{"W":{"Type":"Wait",
        "Timestamp":"9999-12-31T23:59:59Z","End":true}}}"#;
    assert_times_out_after_a_year(literal, json!({})).await;
    let ts_path =
        r#"{"StartAt":"W","States":{"W":{"Type":"Wait","TimestampPath":"$.at","End":true}}}"#;
    assert_times_out_after_a_year(ts_path, json!({"at": "9999-12-31T23:59:59Z"})).await;
}

#[tokio::test]
async fn given_bad_seconds_path_values_when_run_then_states_runtime() {
    let def = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#;
    let cases = [
        (
            json!(-5),
            "The SecondsPath parameter references a negative value: $.s == -5",
        ),
        (
            json!(1.5),
            "The SecondsPath parameter cannot be parsed as a long value: $.s == 1.5",
        ),
        (
            json!(1e30),
            "The SecondsPath parameter cannot be parsed as a long value: $.s == 1e+30",
        ),
        (
            json!(u64::MAX),
            "The SecondsPath parameter cannot be parsed as a long value: $.s == 18446744073709551615",
        ),
        (
            json!("10"),
            "The SecondsPath parameter cannot be parsed as a long value: $.s == \"10\"",
        ),
    ];
    for (s, cause) in cases {
        let (d, _) = run(def, json!({ "s": s }), Arc::new(NoTasks)).await;
        assert_eq!(d.status, ExecutionStatus::Failed, "{s}");
        assert_eq!(d.error.as_deref(), Some("States.Runtime"), "{s}");
        let got = d.cause.unwrap_or_default();
        assert!(got.ends_with(cause), "{s}: {got}");
    }
}

#[tokio::test]
async fn given_huge_timeout_seconds_when_run_then_no_overflow_and_year_bound_applies() {
    let def = r#"{"TimeoutSeconds":10000000000000,"StartAt":"W","States":{
        "W":{"Type":"Wait","Seconds":99999999,"End":true}}}"#;
    assert_times_out_after_a_year(def, json!({})).await;
}
