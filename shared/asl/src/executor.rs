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
use crate::retry::next_delay;
use crate::store::{ExecutionStatus, ExecutionStore, QueuedSignal, Signal};
use crate::task::{TaskCall, TaskInvoker};

/// Version of the snapshot format; bumped on incompatible changes.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// What the interpreter needs from the outside world.
pub struct Env<'a> {
    /// Runs task resources.
    pub invoker: &'a dyn TaskInvoker,
    /// The time.
    pub clock: &'a dyn Clock,
    /// For registering task tokens as they are issued.
    pub store: &'a dyn ExecutionStore,
}

/// A failure as it travels up: a Fail state may have neither error nor cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
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
pub enum Scope {
    /// Branch `1` of Parallel state `0`.
    Branch(String, usize),
    /// The processor of Map state `0`.
    Map(String),
}

/// What a sleeping thread does when its timer fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AfterSleep {
    /// A Wait state exits with this output.
    WaitExit(Value),
    /// Run the state again (retry).
    Retry,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskEnd {
    /// Succeeded or failed normally.
    Normal,
    /// Timed out (timeout or heartbeat).
    TimedOut,
}

/// A running Map iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iteration {
    /// Item index.
    pub index: usize,
    /// The thread.
    pub thread: Thread,
}

/// Where a thread stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Phase {
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
pub struct Thread {
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
pub struct Snapshot {
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
pub struct End {
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
pub struct Progress {
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
    pub fn start(
        definition_json: &str,
        execution_id: &str,
        name: &str,
        state_machine_name: &str,
        input: Value,
        now: DateTime<Utc>,
        seed: u64,
    ) -> Result<(Snapshot, Vec<HistoryEvent>), String> {
        let machine = definition::parse(definition_json).map_err(|e| e.to_string())?;
        let deadline = machine
            .timeout_seconds
            .map(|s| now + Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000)));
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
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }

    /// Reads a snapshot, checking its format version.
    pub fn from_json(s: &str) -> Result<Snapshot, String> {
        let mut snap: Snapshot = serde_json::from_str(s).map_err(|e| e.to_string())?;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(format!(
                "snapshot format {} is not supported (expected {SNAPSHOT_FORMAT})",
                snap.format
            ));
        }
        let machine = definition::parse(&snap.definition).map_err(|e| e.to_string())?;
        snap.machine = Some(Arc::new(machine));
        Ok(snap)
    }

    /// The root thread (for inspection).
    pub fn root(&self) -> &Thread {
        &self.root
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
pub fn abort(snap: &mut Snapshot, error: &str, cause: &str, now: DateTime<Utc>) -> Progress {
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
pub async fn advance(snap: &mut Snapshot, signals: Vec<QueuedSignal>, env: &Env<'_>) -> Progress {
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
                    *heartbeat_at = Some(s.at + millis(*h * 1000.0));
                }
            }
        }
    }
    if let Some(deadline) = snap.deadline
        && now >= deadline
    {
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
        match (w, snap.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    };
    snap.root = root_thread;
    snap.rng = runner.rng;
    snap.next_event_id = runner.next_event_id;
    progress.events = runner.events;
    progress.closed_tokens.extend(runner.closed_tokens);
    progress
}

fn millis(ms: f64) -> Duration {
    if !ms.is_finite() || ms <= 0.0 {
        return Duration::zero();
    }
    Duration::milliseconds(ms.min(1e15) as i64)
}

struct Runner<'a> {
    env: &'a Env<'a>,
    machine: Arc<StateMachine>,
    execution_id: String,
    name: String,
    state_machine_name: String,
    exec_input: Value,
    /// Whether the definition can read `$$.Execution.Input`: the context object carries a
    /// copy only then (a Map over a large input would otherwise copy it once per state).
    context_input: bool,
    start_time: DateTime<Utc>,
    rng: Rng,
    next_event_id: u64,
    events: Vec<HistoryEvent>,
    closed_tokens: Vec<String>,
    now: DateTime<Utc>,
}

/// Whether a definition may read `$$.Execution.Input`: true unless every `$$` in it is
/// followed by a context field other than the execution's input (conservative: `$$`,
/// `$$.Execution` or `$$['Execution']` count as reading it).
fn references_execution_input(definition: &str) -> bool {
    const OTHERS: &[&str] = &[
        ".Map.",
        ".State.",
        ".Task.",
        ".StateMachine.",
        ".Execution.Id",
        ".Execution.Name",
        ".Execution.StartTime",
        ".Execution.RoleArn",
        ".Execution.RedriveCount",
        ".Execution.RedriveTime",
    ];
    definition
        .match_indices("$$")
        .any(|(i, _)| !OTHERS.iter().any(|o| definition[i + 2..].starts_with(o)))
}

fn states_of<'m>(m: &'m StateMachine, scope: &[Scope]) -> Option<&'m StateMachine> {
    let mut cur = m;
    for s in scope {
        cur = match s {
            Scope::Branch(name, idx) => match cur.states.get(name)? {
                State::Parallel(p) => p.branches.get(*idx)?,
                _ => return None,
            },
            Scope::Map(name) => match cur.states.get(name)? {
                State::Map(mp) => mp.processor()?,
                _ => return None,
            },
        };
    }
    Some(cur)
}

fn entered(s: &State) -> E {
    match s {
        State::Pass(_) => E::PassStateEntered,
        State::Task(_) => E::TaskStateEntered,
        State::Choice(_) => E::ChoiceStateEntered,
        State::Wait(_) => E::WaitStateEntered,
        State::Succeed(_) => E::SucceedStateEntered,
        State::Fail(_) => E::FailStateEntered,
        State::Parallel(_) => E::ParallelStateEntered,
        State::Map(_) => E::MapStateEntered,
    }
}

fn exited(s: &State) -> Option<E> {
    Some(match s {
        State::Pass(_) => E::PassStateExited,
        State::Task(_) => E::TaskStateExited,
        State::Choice(_) => E::ChoiceStateExited,
        State::Wait(_) => E::WaitStateExited,
        State::Succeed(_) => E::SucceedStateExited,
        State::Fail(_) => return None,
        State::Parallel(_) => E::ParallelStateExited,
        State::Map(_) => E::MapStateExited,
    })
}

type BoxFut<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

impl Runner<'_> {
    fn emit_raw(&mut self, prev: u64, ty: E, details: Value) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        self.events.push(HistoryEvent {
            id,
            previous_event_id: prev,
            timestamp: self.now,
            event_type: ty,
            details,
        });
        id
    }

    fn emit(&mut self, t: &mut Thread, ty: E, details: Value) {
        t.last_event = self.emit_raw(t.last_event, ty, details);
    }

    fn context(&self, t: &Thread, token: Option<&str>, item: Option<(usize, &Value)>) -> Value {
        let mut execution = json!({
            "Id": self.execution_id,
            "Name": self.name,
            "StartTime": ts(self.start_time),
            "RoleArn": "arn:aws:iam::000000000000:role/local",
        });
        if self.context_input
            && let Some(o) = execution.as_object_mut()
        {
            o.insert("Input".into(), self.exec_input.clone());
        }
        let mut c = json!({
            "Execution": execution,
            "State": {
                "Name": t.state,
                "EnteredTime": ts(t.entered_at),
                "RetryCount": t.retries.iter().sum::<u32>(),
            },
            "StateMachine": {
                "Id": format!("arn:aws:states:local:000000000000:stateMachine:{}", self.state_machine_name),
                "Name": self.state_machine_name,
            },
        });
        if let Some(tok) = token
            && let Some(o) = c.as_object_mut()
        {
            o.insert("Task".into(), json!({"Token": tok}));
        }
        if let Some((i, v)) = item
            && let Some(o) = c.as_object_mut()
        {
            o.insert("Map".into(), json!({"Item": {"Index": i, "Value": v}}));
        }
        c
    }

    fn run_thread<'s>(&'s mut self, t: &'s mut Thread) -> BoxFut<'s> {
        Box::pin(async move {
            let machine = self.machine.clone();
            loop {
                let Some(state) =
                    states_of(&machine, &t.scope).and_then(|m| m.states.get(&t.state))
                else {
                    t.phase = Phase::Done(Err(StateError::new(
                        RUNTIME,
                        format!("State '{}' does not exist.", t.state),
                    )
                    .into()));
                    return;
                };
                match std::mem::replace(&mut t.phase, Phase::Run) {
                    Phase::Done(r) => {
                        t.phase = Phase::Done(r);
                        return;
                    }
                    Phase::Enter => {
                        t.entered_at = self.now;
                        t.retries = vec![0; state.common().retry.len()];
                        let d = json!({"name": t.state, "input": t.input});
                        self.emit(t, entered(state), d);
                        t.entered_event = t.last_event;
                        t.phase = Phase::Run;
                    }
                    Phase::Run => self.run_state(t, state).await,
                    Phase::Sleep { until, after } => {
                        if until > self.now {
                            t.phase = Phase::Sleep { until, after };
                            return;
                        }
                        match after {
                            AfterSleep::Retry => t.phase = Phase::Run,
                            AfterSleep::WaitExit(out) => self.exit_and_transition(t, state, out),
                        }
                    }
                    Phase::AwaitToken {
                        token,
                        timeout_at,
                        heartbeat_at,
                        heartbeat_seconds,
                    } => {
                        let timed_out = timeout_at.is_some_and(|d| d <= self.now);
                        let hb = heartbeat_at.is_some_and(|d| d <= self.now);
                        if timed_out || hb {
                            self.closed_tokens.push(token);
                            let err = if timed_out {
                                TIMEOUT
                            } else {
                                errors::HEARTBEAT_TIMEOUT
                            };
                            t.phase = Phase::TaskResult {
                                result: Err(Failure {
                                    error: Some(err.into()),
                                    cause: None,
                                }),
                                end: TaskEnd::TimedOut,
                            };
                        } else {
                            t.phase = Phase::AwaitToken {
                                token,
                                timeout_at,
                                heartbeat_at,
                                heartbeat_seconds,
                            };
                            return;
                        }
                    }
                    Phase::TaskResult { result, end } => {
                        let resource = match state {
                            State::Task(ts) => ts.resource.clone(),
                            _ => String::new(),
                        };
                        match result {
                            Ok(v) => {
                                self.emit(
                                    t,
                                    E::TaskSucceeded,
                                    json!({"resource": resource, "output": v}),
                                );
                                self.finish_state(t, state, v);
                            }
                            Err(f) => {
                                let ty = if end == TaskEnd::TimedOut {
                                    E::TaskTimedOut
                                } else {
                                    E::TaskFailed
                                };
                                self.emit(t, ty, failure_details(&f, Some(&resource)));
                                self.handle_error(t, state, f);
                            }
                        }
                    }
                    Phase::Parallel { mut children } => {
                        for c in children.iter_mut() {
                            self.run_thread(c).await;
                        }
                        let failed = children.iter().find_map(|c| match &c.phase {
                            Phase::Done(Err(f)) => Some(f.clone()),
                            _ => None,
                        });
                        if let Some(f) = failed {
                            for c in &children {
                                collect_tokens(c, &mut self.closed_tokens);
                            }
                            self.emit(t, E::ParallelStateFailed, failure_details(&f, None));
                            self.handle_error(t, state, f);
                        } else if children
                            .iter()
                            .all(|c| matches!(c.phase, Phase::Done(Ok(_))))
                        {
                            let results: Vec<Value> = children
                                .into_iter()
                                .filter_map(|c| match c.phase {
                                    Phase::Done(Ok(v)) => Some(v),
                                    _ => None,
                                })
                                .collect();
                            self.emit(t, E::ParallelStateSucceeded, json!({}));
                            self.finish_state(t, state, Value::Array(results));
                        } else {
                            t.phase = Phase::Parallel { children };
                            return;
                        }
                    }
                    Phase::Map {
                        items,
                        input,
                        results,
                        running,
                        next,
                        max,
                    } => {
                        if !self
                            .run_map(t, state, items, input, results, running, next, max)
                            .await
                        {
                            return;
                        }
                    }
                }
            }
        })
    }

    /// One round of a Map state; returns false when the thread is blocked.
    #[allow(clippy::too_many_arguments)]
    async fn run_map(
        &mut self,
        t: &mut Thread,
        state: &State,
        items: Vec<Value>,
        input: Value,
        mut results: Vec<Option<Value>>,
        mut running: Vec<Iteration>,
        mut next: usize,
        max: usize,
    ) -> bool {
        let State::Map(ms) = state else {
            t.phase = Phase::Done(Err(StateError::new(RUNTIME, "not a Map state").into()));
            return true;
        };
        // start iterations
        while next < items.len() && (max == 0 || running.len() < max) {
            let item = &items[next];
            let ctx = self.context(t, None, Some((next, item)));
            let selector = ms.item_selector.as_ref().or(ms.common.parameters.as_ref());
            let item_input = match selector {
                Some(tpl) => match io::apply_template(tpl, &input, &ctx, &mut self.rng) {
                    Ok(v) => v,
                    Err(e) => {
                        for i in &running {
                            collect_tokens(&i.thread, &mut self.closed_tokens);
                        }
                        let f = prefixed(t, e);
                        self.emit(t, E::MapStateFailed, failure_details(&f, None));
                        self.handle_error(t, state, f);
                        return true;
                    }
                },
                None => item.clone(),
            };
            let start = ms
                .processor()
                .map(|p| p.start_at.clone())
                .unwrap_or_default();
            self.emit(
                t,
                E::MapIterationStarted,
                json!({"index": next, "name": t.state}),
            );
            let mut scope = t.scope.clone();
            scope.push(Scope::Map(t.state.clone()));
            running.push(Iteration {
                index: next,
                thread: Thread {
                    scope,
                    state: start,
                    input: item_input,
                    phase: Phase::Enter,
                    retries: vec![],
                    entered_at: self.now,
                    last_event: t.last_event,
                    entered_event: 0,
                },
            });
            next += 1;
        }
        for it in running.iter_mut() {
            self.run_thread(&mut it.thread).await;
        }
        let mut still = Vec::new();
        let mut progressed = false;
        let mut failure = None;
        for it in running {
            match &it.thread.phase {
                Phase::Done(Ok(v)) => {
                    if let Some(slot) = results.get_mut(it.index) {
                        *slot = Some(v.clone());
                    }
                    self.emit(
                        t,
                        E::MapIterationSucceeded,
                        json!({"index": it.index, "name": t.state}),
                    );
                    progressed = true;
                }
                Phase::Done(Err(f)) => {
                    if failure.is_none() {
                        self.emit(
                            t,
                            E::MapIterationFailed,
                            json!({"index": it.index, "name": t.state}),
                        );
                        failure = Some(f.clone());
                    }
                }
                _ => still.push(it),
            }
        }
        if let Some(f) = failure {
            for i in &still {
                collect_tokens(&i.thread, &mut self.closed_tokens);
            }
            self.emit(t, E::MapStateFailed, failure_details(&f, None));
            self.handle_error(t, state, f);
            return true;
        }
        if still.is_empty() && next >= items.len() {
            self.emit(t, E::MapStateSucceeded, json!({}));
            let out: Vec<Value> = results
                .into_iter()
                .map(|r| r.unwrap_or(Value::Null))
                .collect();
            self.finish_state(t, state, Value::Array(out));
            return true;
        }
        let can_start = next < items.len() && (max == 0 || still.len() < max);
        t.phase = Phase::Map {
            items,
            input,
            results,
            running: still,
            next,
            max,
        };
        progressed || can_start
    }

    async fn run_state(&mut self, t: &mut Thread, state: &State) {
        let common = state.common();
        let ctx = self.context(t, None, None);
        match state {
            State::Pass(p) => {
                let eff = match io::effective_input(
                    &t.input,
                    &common.input_path,
                    common.parameters.as_ref(),
                    &ctx,
                    &mut self.rng,
                ) {
                    Ok(v) => v,
                    Err(e) => return self.handle_state_error(t, state, e),
                };
                let result = p.result.clone().unwrap_or(eff);
                self.finish_state(t, state, result);
            }
            State::Task(task) => {
                let wait = task.resource.ends_with(".waitForTaskToken");
                let token = wait.then(|| format!("{}", uuid::Uuid::new_v4().simple()));
                let ctx = self.context(t, token.as_deref(), None);
                let eff = match io::effective_input(
                    &t.input,
                    &common.input_path,
                    common.parameters.as_ref(),
                    &ctx,
                    &mut self.rng,
                ) {
                    Ok(v) => v,
                    Err(e) => return self.handle_state_error(t, state, e),
                };
                let timeout = match seconds(
                    task.timeout_seconds,
                    task.timeout_seconds_path.as_deref(),
                    &t.input,
                ) {
                    Ok(v) => v,
                    Err(e) => return self.handle_state_error(t, state, e),
                };
                let heartbeat = match seconds(
                    task.heartbeat_seconds,
                    task.heartbeat_seconds_path.as_deref(),
                    &t.input,
                ) {
                    Ok(v) => v,
                    Err(e) => return self.handle_state_error(t, state, e),
                };
                let mut d =
                    json!({"resource": task.resource, "region": "local", "parameters": eff});
                if let Some(o) = d.as_object_mut() {
                    if let Some(s) = timeout {
                        o.insert("timeoutInSeconds".into(), json!(s));
                    }
                    if let Some(s) = heartbeat {
                        o.insert("heartbeatInSeconds".into(), json!(s));
                    }
                }
                self.emit(t, E::TaskScheduled, d);
                self.emit(t, E::TaskStarted, json!({"resource": task.resource}));
                if let Some(tok) = &token
                    && let Err(e) = self.env.store.open_token(tok, &self.execution_id)
                {
                    t.phase = Phase::TaskResult {
                        result: Err(StateError::new(
                            RUNTIME,
                            format!("Could not register the task token: {e}"),
                        )
                        .into()),
                        end: TaskEnd::Normal,
                    };
                    return;
                }
                let call = TaskCall {
                    resource: task.resource.clone(),
                    input: eff,
                    task_token: token.clone(),
                    execution_id: self.execution_id.clone(),
                    state_name: t.state.clone(),
                };
                let before = self.env.clock.now();
                let result = self.env.invoker.invoke(call).await;
                if token.is_none()
                    && let Some(limit) = timeout
                    && self.env.clock.now() - before > millis(limit * 1000.0)
                {
                    // A synchronous task cannot be pre-empted; one that overran its
                    // TimeoutSeconds (as measured on the clock) has its result discarded.
                    t.phase = Phase::TaskResult {
                        result: Err(Failure {
                            error: Some(TIMEOUT.into()),
                            cause: None,
                        }),
                        end: TaskEnd::TimedOut,
                    };
                    return;
                }
                match (result, token) {
                    (Err(f), tok) => {
                        if let Some(tok) = tok {
                            self.closed_tokens.push(tok);
                        }
                        t.phase = Phase::TaskResult {
                            result: Err(Failure {
                                error: Some(f.error),
                                cause: Some(f.cause),
                            }),
                            end: TaskEnd::Normal,
                        };
                    }
                    (Ok(v), None) => {
                        t.phase = Phase::TaskResult {
                            result: Ok(v),
                            end: TaskEnd::Normal,
                        };
                    }
                    (Ok(v), Some(tok)) => {
                        self.emit(
                            t,
                            E::TaskSubmitted,
                            json!({"resource": task.resource, "output": v}),
                        );
                        t.phase = Phase::AwaitToken {
                            token: tok,
                            timeout_at: timeout.map(|s| self.now + millis(s * 1000.0)),
                            heartbeat_at: heartbeat.map(|s| self.now + millis(s * 1000.0)),
                            heartbeat_seconds: heartbeat,
                        };
                    }
                }
            }
            State::Choice(c) => {
                let eff = match io::input_path(&t.input, &common.input_path, &ctx) {
                    Ok(v) => v,
                    Err(e) => return self.fail_state_error(t, e),
                };
                let mut next = None;
                for raw in &c.choices {
                    let rule = match choice::parse_choice(raw) {
                        Ok(r) => r,
                        Err(e) => return self.fail_state_error(t, StateError::new(RUNTIME, e)),
                    };
                    match choice::evaluate(&rule.rule, &eff, &ctx) {
                        Ok(true) => {
                            next = Some(rule.next);
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => return self.fail_state_error(t, e),
                    }
                }
                let Some(next) = next.or_else(|| c.default.clone()) else {
                    return self.fail(
                        t,
                        StateError::new(
                            NO_CHOICE_MATCHED,
                            format!("No Matches! for state '{}'", t.state),
                        )
                        .into(),
                    );
                };
                let out = match io::output_path(&eff, &common.output_path, &ctx) {
                    Ok(v) => v,
                    Err(e) => return self.fail_state_error(t, e),
                };
                self.emit(
                    t,
                    E::ChoiceStateExited,
                    json!({"name": t.state, "output": out}),
                );
                t.state = next;
                t.input = out;
                t.phase = Phase::Enter;
            }
            State::Wait(w) => {
                let eff = match io::input_path(&t.input, &common.input_path, &ctx) {
                    Ok(v) => v,
                    Err(e) => return self.fail_state_error(t, e),
                };
                let until = match wait_until(w, &eff, self.now) {
                    Ok(u) => u,
                    Err(e) => return self.fail_state_error(t, e),
                };
                let out = match io::output_path(&eff, &common.output_path, &ctx) {
                    Ok(v) => v,
                    Err(e) => return self.fail_state_error(t, e),
                };
                t.phase = Phase::Sleep {
                    until,
                    after: AfterSleep::WaitExit(out),
                };
            }
            State::Succeed(_) => {
                let out = io::input_path(&t.input, &common.input_path, &ctx)
                    .and_then(|v| io::output_path(&v, &common.output_path, &ctx));
                match out {
                    Ok(v) => {
                        self.emit(
                            t,
                            E::SucceedStateExited,
                            json!({"name": t.state, "output": v}),
                        );
                        t.phase = Phase::Done(Ok(v));
                    }
                    Err(e) => self.fail_state_error(t, e),
                }
            }
            State::Fail(f) => {
                let mut rng = self.rng;
                let mut dyn_field = |lit: &Option<String>,
                                     path: &Option<String>|
                 -> Result<Option<String>, StateError> {
                    if let Some(l) = lit {
                        return Ok(Some(l.clone()));
                    }
                    let Some(p) = path else { return Ok(None) };
                    let v = if intrinsics::is_intrinsic(p) {
                        intrinsics::evaluate(
                            p,
                            &mut IntrinsicEnv {
                                input: &t.input,
                                context: &ctx,
                                rng: &mut rng,
                            },
                        )?
                    } else {
                        io::select(p, &t.input)?
                    };
                    Ok(Some(match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }))
                };
                let error = dyn_field(&f.error, &f.error_path);
                let cause = dyn_field(&f.cause, &f.cause_path);
                self.rng = rng;
                match (error, cause) {
                    (Ok(error), Ok(cause)) => t.phase = Phase::Done(Err(Failure { error, cause })),
                    (Err(e), _) | (_, Err(e)) => t.phase = Phase::Done(Err(prefixed(t, e))),
                }
            }
            State::Parallel(p) => {
                let eff = match io::effective_input(
                    &t.input,
                    &common.input_path,
                    common.parameters.as_ref(),
                    &ctx,
                    &mut self.rng,
                ) {
                    Ok(v) => v,
                    Err(e) => return self.handle_state_error(t, state, e),
                };
                self.emit(t, E::ParallelStateStarted, json!({}));
                let children = p
                    .branches
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        let mut scope = t.scope.clone();
                        scope.push(Scope::Branch(t.state.clone(), i));
                        Thread {
                            scope,
                            state: b.start_at.clone(),
                            input: eff.clone(),
                            phase: Phase::Enter,
                            retries: vec![],
                            entered_at: self.now,
                            last_event: t.last_event,
                            entered_event: 0,
                        }
                    })
                    .collect();
                t.phase = Phase::Parallel { children };
            }
            State::Map(m) => {
                if m.item_reader.is_some() || m.item_batcher.is_some() || m.result_writer.is_some()
                {
                    return self.handle_state_error(
                        t,
                        state,
                        StateError::new(
                            RUNTIME,
                            "ItemReader, ItemBatcher and ResultWriter are not supported by this engine.",
                        ),
                    );
                }
                let eff = match io::input_path(&t.input, &common.input_path, &ctx) {
                    Ok(v) => v,
                    Err(e) => return self.handle_state_error(t, state, e),
                };
                let items = match m.items_path.as_deref() {
                    None => Ok(eff.clone()),
                    Some(p) => {
                        let doc_ctx = p.starts_with("$$");
                        io::select(p, if doc_ctx { &ctx } else { &eff })
                    }
                };
                let items = match items {
                    Ok(Value::Array(a)) => a,
                    Ok(other) => {
                        return self.handle_error(
                            t,
                            state,
                            StateError::new(
                                RUNTIME,
                                format!(
                                    "Item path {} must point to a JSON array, got {}",
                                    m.items_path.as_deref().unwrap_or("$"),
                                    other
                                ),
                            )
                            .into(),
                        );
                    }
                    Err(e) => return self.handle_state_error(t, state, e),
                };
                let max = match (m.max_concurrency, m.max_concurrency_path.as_deref()) {
                    (Some(n), _) => usize::try_from(n).unwrap_or(0),
                    (None, Some(p)) => match io::select(p, &eff).map(|v| v.as_u64()) {
                        Ok(Some(n)) => usize::try_from(n).unwrap_or(0),
                        Ok(None) => {
                            return self.handle_error(
                                t,
                                state,
                                StateError::new(RUNTIME, format!("MaxConcurrencyPath {p} must point to a non-negative integer")).into(),
                            );
                        }
                        Err(e) => return self.handle_state_error(t, state, e),
                    },
                    (None, None) => 0,
                };
                self.emit(t, E::MapStateStarted, json!({"length": items.len()}));
                let n = items.len();
                t.phase = Phase::Map {
                    items,
                    input: eff,
                    results: vec![None; n],
                    running: vec![],
                    next: 0,
                    max,
                };
            }
        }
    }

    /// An error raised by the engine while running a state (path, template, intrinsic):
    /// prefixed like AWS, then Retry/Catch.
    fn handle_state_error(&mut self, t: &mut Thread, state: &State, e: StateError) {
        let f = prefixed(t, e);
        self.handle_error(t, state, f);
    }

    /// An engine error in a state without Retry/Catch.
    fn fail_state_error(&mut self, t: &mut Thread, e: StateError) {
        let f = prefixed(t, e);
        self.fail(t, f);
    }

    /// Fails the thread without Retry/Catch (Choice, Wait, Succeed, Fail states).
    fn fail(&mut self, t: &mut Thread, f: Failure) {
        t.phase = Phase::Done(Err(f));
    }

    /// ResultSelector → ResultPath → OutputPath, then exit and transition.
    fn finish_state(&mut self, t: &mut Thread, state: &State, result: Value) {
        let common = state.common();
        let ctx = self.context(t, None, None);
        let out = io::state_output(
            &t.input,
            result,
            common.result_selector.as_ref(),
            &common.result_path,
            &common.output_path,
            &ctx,
            &mut self.rng,
        )
        .and_then(|v| io::check_size(&v, &t.state).map(|()| v));
        match out {
            Ok(v) => self.exit_and_transition(t, state, v),
            Err(e) => self.handle_state_error(t, state, e),
        }
    }

    fn exit_and_transition(&mut self, t: &mut Thread, state: &State, out: Value) {
        if let Some(ty) = exited(state) {
            let d = json!({"name": t.state, "output": out});
            self.emit(t, ty, d);
        }
        let common = state.common();
        match &common.next {
            Some(n) if common.end != Some(true) => {
                t.state = n.clone();
                t.input = out;
                t.phase = Phase::Enter;
            }
            _ => t.phase = Phase::Done(Ok(out)),
        }
    }

    /// Retry → Catch → fail.
    fn handle_error(&mut self, t: &mut Thread, state: &State, f: Failure) {
        let common = state.common();
        let name = f.error.clone().unwrap_or_default();
        if t.retries.len() < common.retry.len() {
            t.retries.resize(common.retry.len(), 0);
        }
        for (i, r) in common.retry.iter().enumerate() {
            if errors::matches_any(&r.error_equals, &name) {
                t.retries[i] += 1;
                if let Some(ms) = next_delay(r, t.retries[i], &mut self.rng) {
                    t.phase = Phase::Sleep {
                        until: self.now + millis(ms as f64),
                        after: AfterSleep::Retry,
                    };
                    return;
                }
                break;
            }
        }
        for c in &common.catch {
            if errors::matches_any(&c.error_equals, &name) {
                let mut out = Map::new();
                out.insert(
                    "Error".into(),
                    f.error.clone().map(Value::String).unwrap_or(Value::Null),
                );
                out.insert(
                    "Cause".into(),
                    f.cause.clone().map(Value::String).unwrap_or(Value::Null),
                );
                match io::result_path(&t.input, Value::Object(out), &c.result_path) {
                    Ok(v) => {
                        if let Some(ty) = exited(state) {
                            let d = json!({"name": t.state, "output": v});
                            self.emit(t, ty, d);
                        }
                        t.state = c.next.clone();
                        t.input = v;
                        t.phase = Phase::Enter;
                    }
                    Err(e) => t.phase = Phase::Done(Err(prefixed(t, e))),
                }
                return;
            }
        }
        t.phase = Phase::Done(Err(f));
    }
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

fn wait_until(
    w: &definition::WaitState,
    input: &Value,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, StateError> {
    if let Some(s) = w.seconds {
        return Ok(now + millis(s * 1000.0));
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
        return match v.as_f64() {
            Some(s) if s >= 0.0 => Ok(now + millis(s * 1000.0)),
            _ => Err(StateError::new(
                RUNTIME,
                format!(
                    "The SecondsPath parameter does not reference a valid positive integer value: {v}"
                ),
            )),
        };
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

#[cfg(test)]
mod tests {
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
        assert_eq!(back.root(), s.root());
        assert_eq!(back.rng, s.rng);
        assert!(back.machine.is_some());
    }

    #[test]
    fn given_other_format_version_when_read_then_refused() {
        let mut v: Value = serde_json::from_str(&start().to_json().unwrap()).unwrap();
        v["format"] = json!(SNAPSHOT_FORMAT + 1);
        assert!(
            Snapshot::from_json(&v.to_string())
                .unwrap_err()
                .contains("format")
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
}
