//! The interpreter, as a serialisable snapshot advanced step by step.
//!
//! An execution is a tree of [`Thread`]s: the root runs the top-level states; a Parallel
//! state owns one child thread per branch, a Map state one per running iteration. Each
//! thread has a [`Phase`]: about to enter a state, running it, sleeping until a clock time
//! (Wait state or retry delay — nothing ever sleeps for real), awaiting a task token (with
//! timeout/heartbeat deadlines), holding a task result, supervising children, or done.
//! [`advance`] applies queued signals and moves every thread forward until each is blocked
//! on a future timer or a token, or the execution ends; the whole [`Snapshot`] is then
//! saved by the engine, so any engine instance (another process) can continue it later.
//!
//! Per state the executor follows the loop try → (error) retry with a delay on the clock →
//! catch → fail, using the pure pieces in [`crate::io`], [`crate::retry`],
//! [`crate::errors`] and [`crate::choice`].
//!
//! AWS's quotas ([`crate::limits`]) are enforced where they arise: events are numbered
//! from the snapshot's `next_event_id`, which counts the events already stored, and the
//! runner refuses any event but the execution's last once 24,999 exist, which ends loops
//! that would otherwise never stop (a Catch back to its own state, a huge `MaxAttempts`);
//! task results, effective task inputs and state outputs over 256 KiB raise
//! `States.DataLimitExceeded`; every deadline saturates instead of overflowing, and the
//! execution times out a year after its start at the latest.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::choice;
use crate::clock::Clock;
use crate::definition::{self, State, StateMachine};
use crate::errors::{self, NO_CHOICE_MATCHED, RUNTIME, StateError, TIMEOUT};
use crate::history::{HistoryEvent, HistoryEventType as E};
use crate::intrinsics::{self, IntrinsicEnv, Rng};
use crate::io;
use crate::limits;
use crate::retry::next_delay;
use crate::store::{ExecutionStatus, ExecutionStore, QueuedSignal, Signal};
use crate::task::{TaskCall, TaskInvoker};

/// Version of the snapshot format; bumped on incompatible changes.
pub(crate) const SNAPSHOT_FORMAT: u32 = 1;

/// Why a snapshot could not be created, written or read back.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot's definition (new or stored) is not a parseable state machine.
    #[error(transparent)]
    Definition(serde_json::Error),
    /// The snapshot could not be serialised to JSON.
    #[error(transparent)]
    Encode(serde_json::Error),
    /// The stored text is not a snapshot's JSON.
    #[error(transparent)]
    Decode(serde_json::Error),
    /// The stored snapshot has another format version than [`SNAPSHOT_FORMAT`]; holds it.
    #[error("snapshot format {0} is not supported (expected {SNAPSHOT_FORMAT})")]
    UnsupportedFormat(u32),
}

/// What the interpreter needs from the outside world.
pub(crate) struct Env<'a> {
    /// Runs task resources.
    pub invoker: &'a dyn TaskInvoker,
    /// The time.
    pub clock: &'a dyn Clock,
    /// For registering task tokens as they are issued.
    pub store: &'a dyn ExecutionStore,
}

/// A failure as it travels up: a Fail state may have neither error nor cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Failure {
    /// Error name.
    pub error: Option<String>,
    /// Cause.
    pub cause: Option<String>,
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        Failure {
            error: Some(e.error),
            cause: Some(e.cause),
        }
    }
}

/// Which Parallel branch or Map processor a thread runs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Scope {
    /// Branch `1` of Parallel state `0`.
    Branch(String, usize),
    /// The processor of Map state `0`.
    Map(String),
}

/// What a sleeping thread does when its timer fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum AfterSleep {
    /// A Wait state exits with this output.
    WaitExit(Value),
    /// Run the state again (retry).
    Retry,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TaskEnd {
    /// Succeeded or failed normally.
    Normal,
    /// Timed out (timeout or heartbeat).
    TimedOut,
}

/// A running Map iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Iteration {
    /// Item index.
    pub index: usize,
    /// The thread.
    pub thread: Thread,
}

/// Where a thread stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Phase {
    /// About to enter `state`.
    Enter,
    /// Entered; run the state's work.
    Run,
    /// Waiting for the clock.
    Sleep {
        /// Wake time.
        until: DateTime<Utc>,
        /// What then.
        after: AfterSleep,
    },
    /// Waiting for a task token.
    AwaitToken {
        /// The token.
        token: String,
        /// `TimeoutSeconds` deadline.
        timeout_at: Option<DateTime<Utc>>,
        /// `HeartbeatSeconds` deadline.
        heartbeat_at: Option<DateTime<Utc>>,
        /// `HeartbeatSeconds`, to push the deadline on heartbeats.
        heartbeat_seconds: Option<f64>,
    },
    /// A task result to process.
    TaskResult {
        /// Output or failure.
        result: Result<Value, Failure>,
        /// How it ended.
        end: TaskEnd,
    },
    /// Supervising Parallel branches.
    Parallel {
        /// One per branch.
        children: Vec<Thread>,
    },
    /// Supervising Map iterations.
    Map {
        /// The items.
        items: Vec<Value>,
        /// The effective input of the Map state.
        input: Value,
        /// Results so far.
        results: Vec<Option<Value>>,
        /// Running iterations.
        running: Vec<Iteration>,
        /// Next item to start.
        next: usize,
        /// Concurrency limit (0 = unlimited).
        max: usize,
    },
    /// Finished.
    Done(Result<Value, Failure>),
}

/// One line of execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Thread {
    /// Where its states are.
    pub scope: Vec<Scope>,
    /// Current state.
    pub state: String,
    /// Raw input of the current state.
    pub input: Value,
    /// Phase.
    pub phase: Phase,
    /// Attempts used per retrier of the current state.
    pub retries: Vec<u32>,
    /// When the current state was entered.
    pub entered_at: DateTime<Utc>,
    /// Last history event of this thread.
    pub last_event: u64,
    /// The id of the current state's `…StateEntered` event.
    #[serde(default)]
    pub entered_event: u64,
}

/// The full continuation of an execution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    format: u32,
    definition: String,
    #[serde(skip)]
    machine: Option<Arc<StateMachine>>,
    execution_id: String,
    name: String,
    state_machine_name: String,
    input: Value,
    start_time: DateTime<Utc>,
    next_event_id: u64,
    rng: Rng,
    deadline: Option<DateTime<Utc>>,
    root: Thread,
    finished: bool,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct End {
    /// Final status.
    pub status: ExecutionStatus,
    /// Output on success.
    pub output: Option<Value>,
    /// Error on failure.
    pub error: Option<String>,
    /// Cause on failure.
    pub cause: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// What one [`advance`] did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    /// New history events.
    pub events: Vec<HistoryEvent>,
    /// Tokens whose tasks ended.
    pub closed_tokens: Vec<String>,
    /// Set when the execution ended.
    pub end: Option<End>,
    /// Next timer, if suspended.
    pub wake_at: Option<DateTime<Utc>>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Snapshot {
    /// A new execution, with its `ExecutionStarted` event.
    pub(crate) fn start(
        definition_json: &str,
        execution_id: &str,
        name: &str,
        state_machine_name: &str,
        input: Value,
        now: DateTime<Utc>,
        seed: u64,
    ) -> Result<(Snapshot, Vec<HistoryEvent>), SnapshotError> {
        let machine = definition::parse(definition_json).map_err(SnapshotError::Definition)?;
        let deadline = machine
            .timeout_seconds
            .map(|s| limits::after_seconds(now, s as f64));
        let event = HistoryEvent {
            id: 1,
            previous_event_id: 0,
            timestamp: now,
            event_type: E::ExecutionStarted,
            details: json!({"input": input, "roleArn": "arn:aws:iam::000000000000:role/local"}),
        };
        let snap = Snapshot {
            format: SNAPSHOT_FORMAT,
            definition: definition_json.to_string(),
            root: Thread {
                scope: vec![],
                state: machine.start_at.clone(),
                input: input.clone(),
                phase: Phase::Enter,
                retries: vec![],
                entered_at: now,
                last_event: 1,
                entered_event: 0,
            },
            machine: Some(Arc::new(machine)),
            execution_id: execution_id.to_string(),
            name: name.to_string(),
            state_machine_name: state_machine_name.to_string(),
            input,
            start_time: now,
            next_event_id: 2,
            rng: Rng(seed),
            deadline,
            finished: false,
        };
        Ok((snap, vec![event]))
    }

    /// Serialises the snapshot.
    pub(crate) fn to_json(&self) -> Result<String, SnapshotError> {
        serde_json::to_string(self).map_err(SnapshotError::Encode)
    }

    /// Reads a snapshot, checking its format version.
    pub(crate) fn from_json(s: &str) -> Result<Snapshot, SnapshotError> {
        let mut snap: Snapshot = serde_json::from_str(s).map_err(SnapshotError::Decode)?;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::UnsupportedFormat(snap.format));
        }
        let machine = definition::parse(&snap.definition).map_err(SnapshotError::Definition)?;
        snap.machine = Some(Arc::new(machine));
        Ok(snap)
    }

    /// When the execution times out: its `TimeoutSeconds` if any, and at the latest a year
    /// after its start (AWS's maximum execution time for Standard workflows). Computed, not
    /// stored, so snapshots written before the one-year bound existed get it too.
    pub(crate) fn deadline(&self) -> DateTime<Utc> {
        let max = limits::execution_end(self.start_time);
        self.deadline.map_or(max, |d| d.min(max))
    }
}

fn collect_tokens(t: &Thread, out: &mut Vec<String>) {
    match &t.phase {
        Phase::AwaitToken { token, .. } => out.push(token.clone()),
        Phase::Parallel { children } => children.iter().for_each(|c| collect_tokens(c, out)),
        Phase::Map { running, .. } => running.iter().for_each(|i| collect_tokens(&i.thread, out)),
        _ => {}
    }
}

fn find_token<'t>(t: &'t mut Thread, token: &str) -> Option<&'t mut Thread> {
    if matches!(&t.phase, Phase::AwaitToken { token: tk, .. } if tk == token) {
        return Some(t);
    }
    match &mut t.phase {
        Phase::Parallel { children } => children.iter_mut().find_map(|c| find_token(c, token)),
        Phase::Map { running, .. } => running
            .iter_mut()
            .find_map(|i| find_token(&mut i.thread, token)),
        _ => None,
    }
}

fn wake(t: &Thread, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match &t.phase {
        Phase::Sleep { until, .. } => Some(*until),
        Phase::AwaitToken {
            timeout_at,
            heartbeat_at,
            ..
        } => match (timeout_at, heartbeat_at) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(*b),
        },
        Phase::Parallel { children } => children.iter().filter_map(|c| wake(c, now)).min(),
        Phase::Map { running, .. } => running.iter().filter_map(|i| wake(&i.thread, now)).min(),
        Phase::Done(_) => None,
        Phase::Enter | Phase::Run | Phase::TaskResult { .. } => Some(now),
    }
}

/// Aborts a running execution (`StopExecution`).
pub(crate) fn abort(snap: &mut Snapshot, error: &str, cause: &str, now: DateTime<Utc>) -> Progress {
    let mut p = Progress::default();
    if snap.finished {
        return p;
    }
    collect_tokens(&snap.root, &mut p.closed_tokens);
    let id = snap.next_event_id;
    snap.next_event_id += 1;
    p.events.push(HistoryEvent {
        id,
        previous_event_id: id - 1,
        timestamp: now,
        event_type: E::ExecutionAborted,
        details: json!({"error": error, "cause": cause}),
    });
    snap.root.phase = Phase::Done(Err(Failure {
        error: Some(error.to_string()),
        cause: Some(cause.to_string()),
    }));
    snap.finished = true;
    p.end = Some(End {
        status: ExecutionStatus::Aborted,
        output: None,
        error: Some(error.to_string()),
        cause: Some(cause.to_string()),
        at: now,
    });
    p
}

/// Applies `signals` and advances the execution until it is suspended or ended.
pub(crate) async fn advance(
    snap: &mut Snapshot,
    signals: Vec<QueuedSignal>,
    env: &Env<'_>,
) -> Progress {
    let now = env.clock.now();
    let mut progress = Progress::default();
    if snap.finished {
        return progress;
    }
    let Some(machine) = snap.machine.clone() else {
        return progress;
    };
    let mut runner = Runner {
        env,
        machine,
        execution_id: snap.execution_id.clone(),
        name: snap.name.clone(),
        state_machine_name: snap.state_machine_name.clone(),
        exec_input: snap.input.clone(),
        context_input: references_execution_input(&snap.definition),
        start_time: snap.start_time,
        rng: snap.rng,
        next_event_id: snap.next_event_id,
        events: vec![],
        closed_tokens: vec![],
        now,
        history_full: false,
        silent_retries: 0,
    };
    let mut root_thread = snap.root.clone();
    for s in signals {
        match s.signal {
            Signal::Stop { error, cause } => {
                snap.rng = runner.rng;
                let p = abort(snap, &error, &cause, now);
                let mut all = runner.events;
                all.extend(p.events);
                let mut toks = runner.closed_tokens;
                toks.extend(p.closed_tokens);
                return Progress {
                    events: all,
                    closed_tokens: toks,
                    end: p.end,
                    wake_at: None,
                };
            }
            Signal::TaskSuccess { token, output } => {
                if let Some(t) = find_token(&mut root_thread, &token) {
                    runner.closed_tokens.push(token);
                    t.phase = Phase::TaskResult {
                        result: Ok(output),
                        end: TaskEnd::Normal,
                    };
                }
            }
            Signal::TaskFailure {
                token,
                error,
                cause,
            } => {
                if let Some(t) = find_token(&mut root_thread, &token) {
                    runner.closed_tokens.push(token);
                    t.phase = Phase::TaskResult {
                        result: Err(Failure {
                            error: Some(error),
                            cause: Some(cause),
                        }),
                        end: TaskEnd::Normal,
                    };
                }
            }
            Signal::Heartbeat { token } => {
                if let Some(t) = find_token(&mut root_thread, &token)
                    && let Phase::AwaitToken {
                        heartbeat_at,
                        heartbeat_seconds: Some(h),
                        ..
                    } = &mut t.phase
                {
                    *heartbeat_at = Some(limits::after_seconds(s.at, *h));
                }
            }
        }
    }
    let deadline = snap.deadline();
    if now >= deadline {
        collect_tokens(&root_thread, &mut runner.closed_tokens);
        let prev = root_thread.last_event;
        runner.emit_raw(
            prev,
            E::ExecutionTimedOut,
            json!({"error": TIMEOUT, "cause": "The execution has timed out."}),
        );
        root_thread.phase = Phase::Done(Err(Failure {
            error: Some(TIMEOUT.into()),
            cause: None,
        }));
        snap.finished = true;
        progress.end = Some(End {
            status: ExecutionStatus::TimedOut,
            output: None,
            error: Some(TIMEOUT.into()),
            cause: Some("The execution has timed out.".into()),
            at: now,
        });
    } else {
        runner.run_thread(&mut root_thread).await;
        if runner.history_full {
            // AWS: once 24,999 events are recorded, the next one is `ExecutionSucceeded` or
            // else an `ExecutionFailed` for the full history, whatever the threads were doing.
            collect_tokens(&root_thread, &mut runner.closed_tokens);
            root_thread.phase = Phase::Done(Err(Failure {
                error: Some(RUNTIME.into()),
                cause: Some(limits::history_limit_cause()),
            }));
        }
        if let Phase::Done(result) = &root_thread.phase {
            snap.finished = true;
            let prev = root_thread.last_event;
            match result {
                Ok(out) => {
                    runner.emit_raw(prev, E::ExecutionSucceeded, json!({"output": out}));
                    progress.end = Some(End {
                        status: ExecutionStatus::Succeeded,
                        output: Some(out.clone()),
                        error: None,
                        cause: None,
                        at: now,
                    });
                }
                Err(f) => {
                    let mut d = Map::new();
                    if let Some(e) = &f.error {
                        d.insert("error".into(), json!(e));
                    }
                    if let Some(c) = &f.cause {
                        d.insert("cause".into(), json!(c));
                    }
                    runner.emit_raw(prev, E::ExecutionFailed, Value::Object(d));
                    progress.end = Some(End {
                        status: ExecutionStatus::Failed,
                        output: None,
                        error: f.error.clone(),
                        cause: f.cause.clone(),
                        at: now,
                    });
                }
            }
        }
    }
    progress.wake_at = if snap.finished {
        None
    } else {
        let w = wake(&root_thread, now);
        Some(w.map_or(deadline, |w| w.min(deadline)))
    };
    snap.root = root_thread;
    snap.rng = runner.rng;
    snap.next_event_id = runner.next_event_id;
    progress.events = runner.events;
    progress.closed_tokens.extend(runner.closed_tokens);
    progress
}

/// AWS prefixes the causes of errors the service raises while running a state.
fn prefixed(t: &Thread, e: StateError) -> Failure {
    Failure {
        error: Some(e.error),
        cause: Some(format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
            t.state, t.entered_event, e.cause
        )),
    }
}

fn failure_details(f: &Failure, resource: Option<&str>) -> Value {
    let mut d = Map::new();
    if let Some(r) = resource {
        d.insert("resource".into(), json!(r));
    }
    if let Some(e) = &f.error {
        d.insert("error".into(), json!(e));
    }
    if let Some(c) = &f.cause {
        d.insert("cause".into(), json!(c));
    }
    Value::Object(d)
}

fn seconds(lit: Option<f64>, path: Option<&str>, input: &Value) -> Result<Option<f64>, StateError> {
    if let Some(s) = lit {
        return Ok(Some(s));
    }
    let Some(p) = path else { return Ok(None) };
    let v = io::select(p, input)?;
    match v.as_f64() {
        Some(s) if s > 0.0 => Ok(Some(s)),
        _ => Err(StateError::new(
            RUNTIME,
            format!("The value at path '{p}' must be a positive number of seconds, got {v}"),
        )),
    }
}

/// When a Wait state entered at `now` ends. Every instant saturates (see
/// [`crate::limits`]) rather than overflow, and the execution's one-year deadline cuts any
/// longer wait short; a literal `Seconds` is checked by validation (an integer up to
/// [`limits::MAX_WAIT_SECONDS`]).
fn wait_until(
    w: &definition::WaitState,
    input: &Value,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, StateError> {
    if let Some(s) = w.seconds {
        return Ok(limits::after_seconds(now, s));
    }
    let parse_ts = |s: &str| {
        choice::timestamp(s)
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| {
                StateError::new(
                    RUNTIME,
                    format!("The timestamp '{s}' is not a valid RFC 3339 timestamp"),
                )
            })
    };
    if let Some(ts) = &w.timestamp {
        return parse_ts(ts);
    }
    if let Some(p) = &w.seconds_path {
        let v = io::select(p, input)?;
        return seconds_path_value(p, &v).map(|s| limits::after_seconds(now, s as f64));
    }
    if let Some(p) = &w.timestamp_path {
        let v = io::select(p, input)?;
        return match v.as_str() {
            Some(s) => parse_ts(s),
            None => Err(StateError::new(
                RUNTIME,
                format!("The TimestampPath parameter does not reference a valid timestamp: {v}"),
            )),
        };
    }
    Ok(now)
}

/// The seconds a `SecondsPath` selected: AWS reads a long (64-bit integer) that must not be
/// negative, and fails the state with `States.Runtime` otherwise (a fraction, a number out of
/// range, a string...).
fn seconds_path_value(path: &str, v: &Value) -> Result<i64, StateError> {
    match v.as_i64() {
        Some(s) if s >= 0 => Ok(s),
        Some(_) => Err(StateError::new(
            RUNTIME,
            format!("The SecondsPath parameter references a negative value: {path} == {v}"),
        )),
        None => Err(StateError::new(
            RUNTIME,
            format!("The SecondsPath parameter cannot be parsed as a long value: {path} == {v}"),
        )),
    }
}

mod runner;
mod state;
use runner::*;

#[cfg(test)]
mod tests;
