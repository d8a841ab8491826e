//! One state run: its input and output processing, its kind's work, retry and catch.

use super::*;
use crate::limits;

impl Runner<'_> {
    pub(super) async fn run_state(&mut self, t: &mut Thread, state: &State) {
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
                if let Err(e) = io::check_input_size(&eff, &t.state) {
                    return self.handle_error(t, state, e.into());
                }
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
                if self.history_full {
                    // No room left to record the task: it must not run.
                    return;
                }
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
                // The task's effects are done; the record of them is not yet saved.
                shipgate_crash::point("engine.task-returned");
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
                            timeout_at: timeout.map(|s| limits::after_seconds(self.now, s)),
                            heartbeat_at: heartbeat.map(|s| limits::after_seconds(self.now, s)),
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
                        Err(e) => {
                            return self
                                .fail_state_error(t, StateError::new(RUNTIME, e.to_string()));
                        }
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
    pub(super) fn handle_state_error(&mut self, t: &mut Thread, state: &State, e: StateError) {
        let f = prefixed(t, e);
        self.handle_error(t, state, f);
    }

    /// An engine error in a state without Retry/Catch.
    pub(super) fn fail_state_error(&mut self, t: &mut Thread, e: StateError) {
        let f = prefixed(t, e);
        self.fail(t, f);
    }

    /// Fails the thread without Retry/Catch (Choice, Wait, Succeed, Fail states).
    pub(super) fn fail(&mut self, t: &mut Thread, f: Failure) {
        t.phase = Phase::Done(Err(f));
    }

    /// ResultSelector → ResultPath → OutputPath, then exit and transition.
    pub(super) fn finish_state(&mut self, t: &mut Thread, state: &State, result: Value) {
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
        );
        match out {
            // AWS reports an oversized state output with its own cause, not prefixed like
            // the other errors raised while running a state; no wildcard catches it.
            Ok(v) => match io::check_size(&v, &t.state) {
                Ok(()) => self.exit_and_transition(t, state, v),
                Err(e) => self.handle_error(t, state, e.into()),
            },
            Err(e) => self.handle_state_error(t, state, e),
        }
    }

    pub(super) fn exit_and_transition(&mut self, t: &mut Thread, state: &State, out: Value) {
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
    pub(super) fn handle_error(&mut self, t: &mut Thread, state: &State, f: Failure) {
        let common = state.common();
        let name = f.error.clone().unwrap_or_default();
        if t.retries.len() < common.retry.len() {
            t.retries.resize(common.retry.len(), 0);
        }
        for (i, r) in common.retry.iter().enumerate() {
            if errors::matches_any(&r.error_equals, &name) {
                t.retries[i] = t.retries[i].saturating_add(1);
                if let Some(ms) = next_delay(r, t.retries[i], &mut self.rng) {
                    if t.last_event == t.entered_event {
                        // The attempt left no event: count it, so that a zero-delay retry
                        // loop still ends at the history quota.
                        self.silent_retries += 1;
                        if self.next_event_id.saturating_add(self.silent_retries)
                            >= limits::MAX_HISTORY_EVENTS
                        {
                            self.history_full = true;
                        }
                    }
                    t.phase = Phase::Sleep {
                        until: limits::after_millis(self.now, ms as f64),
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
                let next_input = io::result_path(&t.input, Value::Object(out), &c.result_path)
                    .and_then(|v| io::check_size(&v, &t.state).map(|()| v));
                match next_input {
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
