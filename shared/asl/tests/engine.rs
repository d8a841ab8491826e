//! Engine behaviour on the virtual clock: state types, I/O order, retry timing, catch,
//! task tokens, timeouts, Parallel timing, durability across engine instances.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use shipgate_asl::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Records calls; fails `fail_times` times with `Boom`, then returns `{"ok": input}`.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<TaskCall>>,
    fail_times: Mutex<u32>,
}

#[async_trait::async_trait]
impl TaskInvoker for Recorder {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        self.calls.lock().unwrap().push(call.clone());
        let mut f = self.fail_times.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return Err(TaskFailure::new("Boom", "exploded"));
        }
        Ok(json!({"ok": call.input}))
    }
}

fn engine(invoker: Arc<dyn TaskInvoker>) -> (Engine, VirtualClock) {
    let clock = VirtualClock::new(t0());
    let e = Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        invoker,
        Arc::new(clock.clone()),
    );
    (e, clock)
}

async fn drive(e: &Engine, clock: &VirtualClock) {
    for _ in 0..10_000 {
        e.run_due().await.unwrap();
        match e.next_wake().unwrap() {
            Some(t) if t > clock.now() => clock.set(t),
            _ => return,
        }
    }
}

fn types(h: &[HistoryEvent]) -> Vec<String> {
    h.iter().map(|e| e.event_type.to_string()).collect()
}

#[tokio::test]
async fn given_task_with_io_fields_when_run_then_spec_order_applied() {
    let inv = Arc::new(Recorder::default());
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "InputPath":"$.in","Parameters":{"v.$":"$.x","name.$":"$$.Execution.Name"},
        "ResultSelector":{"got.$":"$.ok.v"},"ResultPath":"$.res","OutputPath":"$.res","End":true}}}"#;
    let d = run_to_completion(def, json!({"in": {"x": 7}}), inv.clone(), t0())
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output, Some(json!({"got": 7})));
    assert_eq!(
        inv.calls.lock().unwrap()[0].input,
        json!({"v": 7, "name": "run"})
    );
}

#[tokio::test]
async fn given_each_state_type_when_run_then_history_in_aws_order() {
    let (e, clock) = engine(Arc::new(NoTasks));
    let def = r#"{"StartAt":"P","States":{
        "P":{"Type":"Pass","Result":{"n":3},"ResultPath":"$.r","Next":"C"},
        "C":{"Type":"Choice","Choices":[{"Variable":"$.r.n","NumericGreaterThan":2,"Next":"W"}],"Default":"F"},
        "W":{"Type":"Wait","Seconds":5,"Next":"S"},
        "S":{"Type":"Succeed"},
        "F":{"Type":"Fail","Error":"E","Cause":"C"}}}"#;
    let s = e.start_execution(def, "x", json!({})).await.unwrap();
    drive(&e, &clock).await;
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output, Some(json!({"r": {"n": 3}})));
    assert_eq!(d.stop_date, Some(t0() + Duration::seconds(5)));
    let h = e.history(&s.execution_id).unwrap();
    assert_eq!(
        types(&h),
        vec![
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert!(
        h.windows(2)
            .all(|w| w[1].id == w[0].id + 1 && w[1].previous_event_id == w[0].id)
    );
}

#[tokio::test]
async fn given_fail_and_no_choice_when_run_then_failed_with_error() {
    let def = r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true,"Next":"F"}]},
        "F":{"Type":"Fail","ErrorPath":"$.e","Cause":"why"}}}"#;
    let d = run_to_completion(def, json!({"a": 1, "e": "Custom"}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(
        (d.error.as_deref(), d.cause.as_deref()),
        (Some("Custom"), Some("why"))
    );
    let d = run_to_completion(def, json!({}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(d.error.as_deref(), Some("States.NoChoiceMatched"));
}

#[tokio::test]
async fn given_retrier_when_task_fails_then_backoff_on_virtual_clock() {
    let inv = Arc::new(Recorder::default());
    *inv.fail_times.lock().unwrap() = 3;
    let (e, clock) = engine(inv.clone());
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Retry":[{"ErrorEquals":["Boom"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":3}],"End":true}}}"#;
    let s = e.start_execution(def, "r", json!({})).await.unwrap();
    drive(&e, &clock).await;
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    let started: Vec<i64> = e
        .history(&s.execution_id)
        .unwrap()
        .iter()
        .filter(|ev| ev.event_type == HistoryEventType::TaskScheduled)
        .map(|ev| (ev.timestamp - t0()).num_seconds())
        .collect();
    assert_eq!(started, vec![0, 2, 8, 26]);
}

#[tokio::test]
async fn given_catch_with_result_path_when_retries_exhausted_then_error_merged() {
    let inv = Arc::new(Recorder::default());
    *inv.fail_times.lock().unwrap() = 10;
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",
        "Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1}],
        "Catch":[{"ErrorEquals":["Boom"],"ResultPath":"$.err","Next":"Done"}],"End":true},
        "Done":{"Type":"Pass","End":true}}}"#;
    let d = run_to_completion(def, json!({"keep": 1}), inv.clone(), t0())
        .await
        .unwrap();
    assert_eq!(
        d.output,
        Some(json!({"keep": 1, "err": {"Error": "Boom", "Cause": "exploded"}}))
    );
    assert_eq!(inv.calls.lock().unwrap().len(), 2);
}

const TOKEN_DEF: &str = r#"{"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters":{"FunctionName":"f","Payload":{"token.$":"$$.Task.Token"}},
    "TimeoutSeconds":3600,"HeartbeatSeconds":60,"Next":"S"},"S":{"Type":"Succeed"}}}"#;

fn token_of(inv: &Recorder) -> String {
    inv.calls
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .task_token
        .clone()
        .unwrap()
}

#[tokio::test]
async fn given_token_task_when_success_sent_later_then_execution_succeeds() {
    let inv = Arc::new(Recorder::default());
    let (e, clock) = engine(inv.clone());
    let s = e.start_execution(TOKEN_DEF, "t", json!({})).await.unwrap();
    e.run_due().await.unwrap();
    let tok = token_of(&inv);
    assert_eq!(
        inv.calls.lock().unwrap()[0].input["Payload"]["token"],
        json!(tok)
    );
    clock.advance(Duration::seconds(30));
    e.send_task_heartbeat(&tok).unwrap();
    e.run_due().await.unwrap();
    clock.advance(Duration::seconds(50)); // 80 s after start, heartbeat pushed deadline to 90 s
    e.send_task_success(&tok, json!({"done": true})).unwrap();
    e.run_due().await.unwrap();
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output, Some(json!({"done": true})));
    let h = types(&e.history(&s.execution_id).unwrap());
    assert!(h.contains(&"TaskSubmitted".to_string()));
    assert!(matches!(
        e.send_task_success(&tok, json!(1)),
        Err(EngineError::TaskTimedOut(_))
    ));
    assert!(matches!(
        e.send_task_success("garbage", json!(1)),
        Err(EngineError::TaskDoesNotExist(_))
    ));
}

#[tokio::test]
async fn given_token_task_when_failure_sent_then_execution_fails() {
    let inv = Arc::new(Recorder::default());
    let (e, _clock) = engine(inv.clone());
    let s = e.start_execution(TOKEN_DEF, "t", json!({})).await.unwrap();
    e.run_due().await.unwrap();
    e.send_task_failure(&token_of(&inv), "Rejected", "no")
        .unwrap();
    e.run_due().await.unwrap();
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(
        (d.status, d.error.as_deref()),
        (ExecutionStatus::Failed, Some("Rejected"))
    );
}

#[tokio::test]
async fn given_token_task_without_heartbeats_then_heartbeat_timeout() {
    let inv = Arc::new(Recorder::default());
    let d = run_to_completion(TOKEN_DEF, json!({}), inv, t0())
        .await
        .unwrap();
    assert_eq!(d.error.as_deref(), Some("States.HeartbeatTimeout"));
    assert_eq!(d.stop_date, Some(t0() + Duration::seconds(60)));
}

#[tokio::test]
async fn given_token_task_with_timeout_only_then_states_timeout() {
    let def = TOKEN_DEF.replace("\"HeartbeatSeconds\":60,", "");
    let d = run_to_completion(&def, json!({}), Arc::new(Recorder::default()), t0())
        .await
        .unwrap();
    assert_eq!(d.error.as_deref(), Some("States.Timeout"));
    assert_eq!(d.stop_date, Some(t0() + Duration::seconds(3600)));
}

#[tokio::test]
async fn given_parallel_branches_waiting_when_run_then_concurrent_on_clock() {
    let def = r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
        {"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":10,"End":true}}},
        {"StartAt":"B","States":{"B":{"Type":"Wait","Seconds":10,"Next":"B2"},"B2":{"Type":"Pass","Result":2,"End":true}}}]}}}"#;
    let d = run_to_completion(def, json!(1), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(d.output, Some(json!([1, 2])));
    assert_eq!(d.stop_date, Some(t0() + Duration::seconds(10)));
}

#[tokio::test]
async fn given_map_with_concurrency_when_run_then_results_in_order() {
    let def = r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":1,
        "ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value"},
        "ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}},"End":true}}}"#;
    let d = run_to_completion(def, json!({"xs": ["a", "b"]}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(
        d.output,
        Some(json!([{"i": 0, "v": "a"}, {"i": 1, "v": "b"}]))
    );
    assert_eq!(d.stop_date, Some(t0() + Duration::seconds(2)));
}

#[tokio::test]
async fn given_hour_long_wait_loop_when_run_then_fast_on_virtual_clock() {
    let def = r#"{"StartAt":"Init","States":{
        "Init":{"Type":"Pass","Result":0,"ResultPath":"$.n","Next":"W"},
        "W":{"Type":"Wait","Seconds":10,"Next":"Inc"},
        "Inc":{"Type":"Pass","Parameters":{"n.$":"States.MathAdd($.n, 1)"},"Next":"C"},
        "C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":360,"Next":"W"}],"Default":"Done"},
        "Done":{"Type":"Succeed"}}}"#;
    let started = std::time::Instant::now();
    let d = run_to_completion(def, json!({}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(d.output, Some(json!({"n": 360})));
    assert_eq!(d.stop_date, Some(t0() + Duration::hours(1)));
    assert!(started.elapsed().as_secs() < 20);
}

#[tokio::test]
async fn given_same_name_when_started_twice_then_idempotent() {
    let (e, _c) = engine(Arc::new(NoTasks));
    let def = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
    let a = e.start_execution(def, "n", json!(1)).await.unwrap();
    let b = e.start_execution(def, "n", json!(2)).await.unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.execution_id, b.execution_id);
    assert_eq!(e.list_executions().unwrap().len(), 1);
    assert!(matches!(
        e.start_execution("{}", "bad", json!(1)).await,
        Err(EngineError::InvalidDefinition(_))
    ));
}

#[tokio::test]
async fn given_running_execution_when_stopped_then_aborted_and_token_dead() {
    let inv = Arc::new(Recorder::default());
    let (e, _c) = engine(inv.clone());
    let s = e.start_execution(TOKEN_DEF, "s", json!({})).await.unwrap();
    e.run_due().await.unwrap();
    e.stop_execution(&s.execution_id, "Stop", "user").unwrap();
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(d.status, ExecutionStatus::Aborted);
    assert!(matches!(
        e.send_task_success(&token_of(&inv), json!(1)),
        Err(EngineError::TaskTimedOut(_))
    ));
    assert_eq!(
        types(&e.history(&s.execution_id).unwrap()).last().unwrap(),
        "ExecutionAborted"
    );
}

#[tokio::test]
async fn given_sqlite_store_when_engine_replaced_then_new_engine_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exec.db");
    let inv = Arc::new(Recorder::default());
    let clock = VirtualClock::new(t0());
    let def = r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Next":"W","Branches":[
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
          "Parameters":{"FunctionName":"f","Payload":{"token.$":"$$.Task.Token"}},"End":true}}},
        {"StartAt":"B","States":{"B":{"Type":"Pass","Result":"b","End":true}}}]},
        "W":{"Type":"Wait","Seconds":30,"End":true}}}"#;
    let id = {
        let a = Engine::new(
            Arc::new(SqliteExecutionStore::open(&db).unwrap()),
            inv.clone(),
            Arc::new(clock.clone()),
        );
        let s = a.start_execution(def, "durable", json!({})).await.unwrap();
        a.run_due().await.unwrap();
        s.execution_id
    };
    let b = Engine::new(
        Arc::new(SqliteExecutionStore::open(&db).unwrap()),
        inv.clone(),
        Arc::new(clock.clone()),
    );
    assert_eq!(
        b.describe(&id).unwrap().unwrap().status,
        ExecutionStatus::Running
    );
    b.send_task_success(&token_of(&inv), json!("a")).unwrap();
    b.run_due().await.unwrap();
    assert_eq!(b.next_wake().unwrap(), Some(t0() + Duration::seconds(30)));
    clock.advance(Duration::seconds(30));
    b.run_due().await.unwrap();
    let d = b.describe(&id).unwrap().unwrap();
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output, Some(json!(["a", "b"])));
    let h = types(&b.history(&id).unwrap());
    assert_eq!(h.first().unwrap(), "ExecutionStarted");
    assert!(
        h.contains(&"TaskSubmitted".to_string())
            && h.contains(&"ParallelStateSucceeded".to_string())
    );
    assert_eq!(h.last().unwrap(), "ExecutionSucceeded");
}

/// A task handler that delivers its own token while the engine runs that execution.
struct SelfSignaller {
    engine: Mutex<Option<Arc<Engine>>>,
}

#[async_trait::async_trait]
impl TaskInvoker for SelfSignaller {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        let e = self.engine.lock().unwrap().clone().unwrap();
        e.send_task_success(call.task_token.as_deref().unwrap(), json!("early"))
            .unwrap();
        Ok(Value::Null)
    }
}

#[tokio::test]
async fn given_handler_signals_during_run_when_run_due_then_signal_not_lost() {
    let inv = Arc::new(SelfSignaller {
        engine: Mutex::new(None),
    });
    let e = Arc::new(Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        inv.clone(),
        Arc::new(VirtualClock::new(t0())),
    ));
    *inv.engine.lock().unwrap() = Some(e.clone());
    let s = e
        .start_execution(TOKEN_DEF, "self", json!({}))
        .await
        .unwrap();
    e.run_due().await.unwrap();
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(d.output, Some(json!("early")));
    inv.engine.lock().unwrap().take();
}

#[tokio::test]
async fn given_lambda_registry_when_run_then_integration_shape() {
    struct Add;
    #[async_trait::async_trait]
    impl LambdaFunction for Add {
        async fn call(&self, p: Value) -> Result<Value, FunctionError> {
            Ok(json!(p["a"].as_i64().unwrap() + 1))
        }
    }
    let mut reg = LambdaRegistry::new();
    reg.register("${AddArn}", Arc::new(Add));
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
        "Parameters":{"FunctionName":"${AddArn}","Payload":{"a.$":"$.a"}},"OutputPath":"$.Payload","End":true}}}"#;
    let d = run_to_completion(def, json!({"a": 1}), Arc::new(reg), t0())
        .await
        .unwrap();
    assert_eq!(d.output, Some(json!(2)));
}

#[tokio::test]
async fn given_token_when_success_sent_twice_then_second_refused() {
    let inv = Arc::new(Recorder::default());
    let (e, _c) = engine(inv.clone());
    e.start_execution(TOKEN_DEF, "twice", json!({}))
        .await
        .unwrap();
    e.run_due().await.unwrap();
    let tok = token_of(&inv);
    e.send_task_success(&tok, json!(1)).unwrap();
    assert!(matches!(
        e.send_task_failure(&tok, "E", "C"),
        Err(EngineError::TaskTimedOut(_))
    ));
    assert!(matches!(
        e.send_task_heartbeat("nope"),
        Err(EngineError::TaskDoesNotExist(_))
    ));
}

/// A handler that stops its own execution while the engine runs it.
struct SelfStopper {
    engine: Mutex<Option<Arc<Engine>>>,
}

#[async_trait::async_trait]
impl TaskInvoker for SelfStopper {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        let e = self.engine.lock().unwrap().clone().unwrap();
        e.stop_execution(&call.execution_id, "Cancelled", "by handler")
            .unwrap();
        Ok(json!(1))
    }
}

#[tokio::test]
async fn given_handler_stops_own_execution_when_running_then_aborted_after_run() {
    let inv = Arc::new(SelfStopper {
        engine: Mutex::new(None),
    });
    let e = Arc::new(Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        inv.clone(),
        Arc::new(VirtualClock::new(t0())),
    ));
    *inv.engine.lock().unwrap() = Some(e.clone());
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","Next":"W"},
        "W":{"Type":"Wait","Seconds":100,"End":true}}}"#;
    let s = e.start_execution(def, "stopme", json!({})).await.unwrap();
    e.run_due().await.unwrap();
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(d.status, ExecutionStatus::Aborted);
    assert_eq!(d.error.as_deref(), Some("Cancelled"));
    inv.engine.lock().unwrap().take();
}

/// Counts invocations per execution.
#[derive(Default)]
struct Counter {
    calls: Mutex<std::collections::BTreeMap<String, u32>>,
}

#[async_trait::async_trait]
impl TaskInvoker for Counter {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        tokio::task::yield_now().await;
        *self
            .calls
            .lock()
            .unwrap()
            .entry(call.execution_id)
            .or_default() += 1;
        Ok(json!(1))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_two_engines_on_one_sqlite_file_when_running_concurrently_then_each_task_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let counter = Arc::new(Counter::default());
    let clock = VirtualClock::new(t0());
    let mk = || {
        Arc::new(Engine::new(
            Arc::new(SqliteExecutionStore::open(&db).unwrap()),
            counter.clone(),
            Arc::new(clock.clone()),
        ))
    };
    let (a, b) = (mk(), mk());
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true}}}"#;
    for i in 0..20 {
        a.start_execution(def, &format!("e{i}"), json!(i))
            .await
            .unwrap();
    }
    let (ra, rb) = tokio::join!(
        tokio::spawn({
            let a = a.clone();
            async move { a.run_due().await.unwrap() }
        }),
        tokio::spawn({
            let b = b.clone();
            async move { b.run_due().await.unwrap() }
        })
    );
    assert_eq!(ra.unwrap() + rb.unwrap(), 20);
    let calls = counter.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 20);
    assert!(calls.values().all(|n| *n == 1));
    assert!(
        a.list_executions()
            .unwrap()
            .iter()
            .all(|d| d.status == ExecutionStatus::Succeeded)
    );
}

#[test]
fn given_engine_then_it_and_its_futures_are_send_and_sync() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Engine>();
    let (e, _c) = engine(Arc::new(NoTasks));
    assert_send(&e.run_due());
    assert_send(&e.start_execution("{}", "x", json!(null)));
}

#[tokio::test]
async fn given_missing_parameter_path_when_run_then_runtime_error_with_aws_cause_not_caught() {
    let def = r#"{"StartAt":"Check Address","States":{"Check Address":{"Type":"Task","Resource":"r",
        "Parameters":{"address.$":"$.application.address"},
        "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},
        "Caught":{"Type":"Succeed"}}}"#;
    let d = run_to_completion(def, json!({"flagged": false}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        d.cause.as_deref(),
        Some(
            "An error occurred while executing the state 'Check Address' (entered at the event id #2). \
             The JSONPath '$.application.address' specified for the field 'address.$' could not be found in the input '{\"flagged\":false}'"
        )
    );
}

#[tokio::test]
async fn given_wait_paths_and_result_path_null_when_run_then_timed_and_input_kept() {
    let def = r#"{"StartAt":"A","States":{
        "A":{"Type":"Wait","SecondsPath":"$.s","Next":"B"},
        "B":{"Type":"Wait","TimestampPath":"$.at","Next":"C"},
        "C":{"Type":"Pass","Result":"x","ResultPath":null,"End":true}}}"#;
    let input = json!({"s": 7, "at": "2024-01-01T01:00:00Z"});
    let d = run_to_completion(def, input.clone(), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(d.output, Some(input));
    assert_eq!(d.stop_date, Some(t0() + Duration::hours(1)));
}

#[tokio::test]
async fn given_execution_timeout_when_exceeded_then_timed_out() {
    let def = r#"{"TimeoutSeconds":5,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}"#;
    let d = run_to_completion(def, json!({}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::TimedOut);
    assert_eq!(d.stop_date, Some(t0() + Duration::seconds(5)));
}

/// A task that takes `secs` of virtual time.
struct Slow {
    clock: VirtualClock,
    secs: i64,
}

#[async_trait::async_trait]
impl TaskInvoker for Slow {
    async fn invoke(&self, _call: TaskCall) -> Result<Value, TaskFailure> {
        self.clock.advance(Duration::seconds(self.secs));
        Ok(json!("late"))
    }
}

#[tokio::test]
async fn given_sync_task_overrunning_timeout_then_states_timeout_caught() {
    let clock = VirtualClock::new(t0());
    let e = Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        Arc::new(Slow {
            clock: clock.clone(),
            secs: 10,
        }),
        Arc::new(clock.clone()),
    );
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","TimeoutSeconds":5,
        "Catch":[{"ErrorEquals":["States.Timeout"],"Next":"F"}],"End":true},
        "F":{"Type":"Pass","Result":"timed out","End":true}}}"#;
    let s = e.start_execution(def, "slow", json!({})).await.unwrap();
    e.run_due().await.unwrap();
    let d = e.describe(&s.execution_id).unwrap().unwrap();
    assert_eq!(d.output, Some(json!("timed out")));
    let h = types(&e.history(&s.execution_id).unwrap());
    assert!(h.contains(&"TaskTimedOut".to_string()));
}

#[tokio::test]
async fn given_failing_map_iteration_when_caught_then_error_output() {
    let def = r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs",
        "ItemProcessor":{"StartAt":"C","States":{
            "C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":2,"Next":"F"}],"Default":"OK"},
            "F":{"Type":"Fail","Error":"Two","Cause":"item two"},
            "OK":{"Type":"Succeed"}}},
        "Catch":[{"ErrorEquals":["Two"],"ResultPath":"$.err","Next":"Done"}],"End":true},
        "Done":{"Type":"Succeed"}}}"#;
    let d = run_to_completion(def, json!({"xs": [1, 2, 3]}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(
        d.output,
        Some(json!({"xs": [1, 2, 3], "err": {"Error": "Two", "Cause": "item two"}}))
    );
}

#[tokio::test]
async fn given_parallel_branch_fails_when_run_then_state_fails_with_branch_error() {
    let def = r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
        {"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}},
        {"StartAt":"F","States":{"F":{"Type":"Fail","Error":"BranchBroke","Cause":"b"}}}]}}}"#;
    let d = run_to_completion(def, json!({}), Arc::new(NoTasks), t0())
        .await
        .unwrap();
    assert_eq!(
        (d.error.as_deref(), d.cause.as_deref()),
        (Some("BranchBroke"), Some("b"))
    );
    assert_eq!(d.stop_date, Some(t0()));
}
