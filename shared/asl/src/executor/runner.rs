//! The interpreter of one advance: threads, history events, the context object, Map.

use super::*;
use crate::limits::MAX_HISTORY_EVENTS;

/// A duration of `ms` milliseconds, zero for bad amounts and capped (for comparisons only:
/// clock times are computed with [`crate::limits::after_millis`], which cannot overflow).
pub(super) fn millis(ms: f64) -> Duration {
    if !ms.is_finite() || ms <= 0.0 {
        return Duration::zero();
    }
    Duration::milliseconds(ms.min(1e15) as i64)
}

pub(super) struct Runner<'a> {
    pub(super) env: &'a Env<'a>,
    pub(super) machine: Arc<StateMachine>,
    pub(super) execution_id: String,
    pub(super) name: String,
    pub(super) state_machine_name: String,
    pub(super) exec_input: Value,
    /// Whether the definition can read `$$.Execution.Input`: the context object carries a
    /// copy only then (a Map over a large input would otherwise copy it once per state).
    pub(super) context_input: bool,
    pub(super) start_time: DateTime<Utc>,
    pub(super) rng: Rng,
    pub(super) next_event_id: u64,
    pub(super) events: Vec<HistoryEvent>,
    pub(super) closed_tokens: Vec<String>,
    pub(super) now: DateTime<Utc>,
    /// Set when an event was refused because the history is full (every id below the
    /// quota is taken and only the execution's own end may follow): every thread stops at
    /// once and [`advance`] fails the execution with `States.Runtime`.
    pub(super) history_full: bool,
    /// Retries in this advance whose attempt produced no event (a Task whose input
    /// processing fails before it is scheduled). With no delay they would loop within one
    /// instant without ever filling the history, so each counts against the event quota.
    pub(super) silent_retries: u64,
}

/// Whether `ty` ends the execution: the one kind of event allowed as the history's last.
fn ends_execution(ty: E) -> bool {
    matches!(
        ty,
        E::ExecutionSucceeded | E::ExecutionFailed | E::ExecutionTimedOut | E::ExecutionAborted
    )
}

/// Whether a definition may read `$$.Execution.Input`: true unless every `$$` in it is
/// followed by a context field other than the execution's input (conservative: `$$`,
/// `$$.Execution` or `$$['Execution']` count as reading it).
pub(super) fn references_execution_input(definition: &str) -> bool {
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

pub(super) fn states_of<'m>(m: &'m StateMachine, scope: &[Scope]) -> Option<&'m StateMachine> {
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

pub(super) fn entered(s: &State) -> E {
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

pub(super) fn exited(s: &State) -> Option<E> {
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
    /// Appends an event and returns its id; when the history has no room left for it (AWS:
    /// only the event that ends the execution may take the last id), records nothing, sets
    /// [`Runner::history_full`] and returns `prev`.
    pub(super) fn emit_raw(&mut self, prev: u64, ty: E, details: Value) -> u64 {
        let id = self.next_event_id;
        if !ends_execution(ty) && id.saturating_add(self.silent_retries) >= MAX_HISTORY_EVENTS {
            self.history_full = true;
            return prev;
        }
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

    pub(super) fn emit(&mut self, t: &mut Thread, ty: E, details: Value) {
        t.last_event = self.emit_raw(t.last_event, ty, details);
    }

    pub(super) fn context(
        &self,
        t: &Thread,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
    ) -> Value {
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

    pub(super) fn run_thread<'s>(&'s mut self, t: &'s mut Thread) -> BoxFut<'s> {
        Box::pin(async move {
            let machine = self.machine.clone();
            loop {
                if self.history_full {
                    return;
                }
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
                        // A task result over the payload quota fails the task (AWS: a
                        // `TaskFailed` with `States.DataLimitExceeded`, caught only by name).
                        let result = result.and_then(|v| {
                            io::check_size(&v, &resource)
                                .map(|()| v)
                                .map_err(Failure::from)
                        });
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
    pub(super) async fn run_map(
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
        while next < items.len() && (max == 0 || running.len() < max) && !self.history_full {
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
}
