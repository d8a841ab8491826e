//! The engine: starts executions, runs whatever is runnable, delivers signals.
//!
//! Each execution is a row in an [`ExecutionStore`] holding a serialisable snapshot of the
//! interpreter ([`crate::executor`]). [`Engine::run_due`] repeatedly claims a runnable
//! execution (lease), applies its queued signals, advances the interpreter until every
//! branch is suspended (timer or token) or the execution ends, and saves the snapshot with
//! the new history events, removing the signals it applied and releasing the lease only if
//! no signal arrived meanwhile (one transaction in the store). A process killed before that
//! save leaves the old snapshot and the signals queued: the next claim replays the step. Signals (`send_task_*`, `stop_execution` on a leased execution) are only
//! queued, so task handlers may call them while the engine runs that very execution.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::clock::{Clock, VirtualClock};
use crate::executor::{self, Env, Snapshot, SnapshotError};
use crate::history::HistoryEvent;
use crate::store::{
    Delivery, ExecutionDescription, ExecutionStatus, ExecutionStore, Lease, MemoryExecutionStore,
    QueuedSignal, Signal, Step, StoreError, StoredExecution,
};
use crate::task::TaskInvoker;
use crate::validate::{Finding, validate};

/// Engine failures (not execution failures: those end up in the execution's status).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The definition did not validate.
    #[error("invalid definition: {}", .0.iter().map(|f| format!("{}: {}", f.pointer, f.message)).collect::<Vec<_>>().join("; "))]
    InvalidDefinition(Vec<Finding>),
    /// Unknown or garbled task token.
    #[error("task does not exist for token '{0}'")]
    TaskDoesNotExist(String),
    /// The token's task already ended (succeeded, failed, timed out, execution over).
    #[error("task for token '{0}' has already ended")]
    TaskTimedOut(String),
    /// No such execution.
    #[error("execution does not exist: {0}")]
    ExecutionDoesNotExist(String),
    /// A snapshot could not be created, written or read (wrong format version or corrupt).
    #[error("bad execution snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    /// An execution kept running past 100,000 steps in one turn without suspending.
    #[error("execution {0} does not settle")]
    DoesNotSettle(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The execution input is over the 256 KiB payload quota: refused like AWS's
    /// `StartExecution` refuses it, before any execution exists.
    #[error(
        "invalid execution input: larger than {} bytes",
        crate::limits::MAX_PAYLOAD_BYTES
    )]
    ExecutionInputTooLarge,
}

/// Result of [`Engine::start_execution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Execution id.
    pub execution_id: String,
    /// False when an execution with this name already existed.
    pub created: bool,
}

/// Runs executions; see the module doc.
pub struct Engine {
    store: Arc<dyn ExecutionStore>,
    invoker: Arc<dyn TaskInvoker>,
    clock: Arc<dyn Clock>,
    owner: String,
    seed: AtomicU64,
    lease_seconds: i64,
    state_machine_name: String,
}

impl Engine {
    /// An engine over `store`, running tasks through `invoker`, on `clock`.
    pub fn new(
        store: Arc<dyn ExecutionStore>,
        invoker: Arc<dyn TaskInvoker>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            invoker,
            clock,
            owner: format!("engine-{}", uuid::Uuid::new_v4()),
            seed: AtomicU64::new(0x5eed_5eed_5eed_5eed),
            lease_seconds: 300,
            state_machine_name: "StateMachine".to_string(),
        }
    }

    /// Sets the seed of `States.UUID`, `States.MathRandom` and retry jitter for executions
    /// started afterwards (each execution derives its own stream from it).
    pub fn with_seed(self, seed: u64) -> Self {
        self.seed.store(seed, Ordering::SeqCst);
        self
    }

    /// Sets the state machine name used in execution ids and `$$.StateMachine`.
    pub fn with_state_machine_name(mut self, name: &str) -> Self {
        self.state_machine_name = name.to_string();
        self
    }

    /// Names this engine's leases (unique per engine instance), so that a supervisor that
    /// knows the instance is gone can hand its leases back with
    /// [`ExecutionStore::release_leases`].
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.owner = owner.to_string();
        self
    }

    /// This engine's lease owner name.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Sets how long a claim on an execution lasts (clock time) before another engine may
    /// take it over.
    pub fn with_lease_seconds(mut self, seconds: i64) -> Self {
        self.lease_seconds = seconds.max(1);
        self
    }

    fn lease(&self) -> Lease {
        Lease {
            owner: self.owner.clone(),
            until: self.clock.now() + Duration::seconds(self.lease_seconds),
        }
    }

    /// Starts an execution, idempotently on `name`.
    pub async fn start_execution(
        &self,
        definition_json: &str,
        name: &str,
        input: Value,
    ) -> Result<Started, EngineError> {
        let findings = validate(definition_json);
        if !findings.is_empty() {
            return Err(EngineError::InvalidDefinition(findings));
        }
        if crate::limits::exceeds_payload_limit(&input) {
            return Err(EngineError::ExecutionInputTooLarge);
        }
        let now = self.clock.now();
        let execution_id = format!(
            "arn:aws:states:local:000000000000:execution:{}:{}",
            self.state_machine_name, name
        );
        let seed = self.seed.load(Ordering::SeqCst) ^ fnv(name);
        let (snapshot, events) = Snapshot::start(
            definition_json,
            &execution_id,
            name,
            &self.state_machine_name,
            input.clone(),
            now,
            seed,
        )?;
        let stored = StoredExecution {
            description: ExecutionDescription {
                execution_id: execution_id.clone(),
                name: name.to_string(),
                status: ExecutionStatus::Running,
                input,
                output: None,
                error: None,
                cause: None,
                start_date: now,
                stop_date: None,
            },
            snapshot: snapshot.to_json()?,
            wake_at: Some(now),
            version: 0,
        };
        let (existing, created) = self.store.create(&stored, &events)?;
        Ok(Started {
            execution_id: existing.description.execution_id,
            created,
        })
    }

    fn signal_token(&self, token: &str, signal: Signal, close: bool) -> Result<(), EngineError> {
        let queued = QueuedSignal {
            at: self.clock.now(),
            signal,
        };
        match self.store.deliver(token, &queued, close)? {
            Delivery::Queued => Ok(()),
            Delivery::UnknownToken => Err(EngineError::TaskDoesNotExist(token.to_string())),
            Delivery::TaskEnded => Err(EngineError::TaskTimedOut(token.to_string())),
        }
    }

    /// Queues a task success for the task waiting on `token`.
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), EngineError> {
        self.signal_token(
            token,
            Signal::TaskSuccess {
                token: token.to_string(),
                output,
            },
            true,
        )
    }

    /// Queues a task failure for the task waiting on `token`.
    pub fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), EngineError> {
        self.signal_token(
            token,
            Signal::TaskFailure {
                token: token.to_string(),
                error: error.to_string(),
                cause: cause.to_string(),
            },
            true,
        )
    }

    /// Queues a heartbeat for the task waiting on `token`.
    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), EngineError> {
        self.signal_token(
            token,
            Signal::Heartbeat {
                token: token.to_string(),
            },
            false,
        )
    }

    /// Runs every runnable execution until nothing is runnable at `clock.now()`. Returns the
    /// number of execution resumptions.
    pub async fn run_due(&self) -> Result<usize, EngineError> {
        let mut count = 0;
        let mut skip: Vec<String> = Vec::new();
        loop {
            let now = self.clock.now();
            let Some(stored) = self.store.claim_runnable(now, &self.lease(), &skip)? else {
                return Ok(count);
            };
            let id = stored.description.execution_id.clone();
            match self.run_claimed(stored).await {
                Ok(n) => count += n,
                Err(EngineError::Snapshot(err)) => {
                    // A snapshot this engine cannot read: leave it to one that can.
                    tracing::error!(execution_id = %id, "cannot resume execution: {err}");
                    skip.push(id);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs a claimed execution until it is suspended with no queued signal, or ended.
    async fn run_claimed(&self, mut stored: StoredExecution) -> Result<usize, EngineError> {
        let mut count = 0;
        let mut snapshot = Snapshot::from_json(&stored.snapshot)?;
        loop {
            let pending = self
                .store
                .pending_signals(&stored.description.execution_id, &self.owner)?;
            let consumed: Vec<u64> = pending.iter().map(|p| p.seq).collect();
            let signals: Vec<QueuedSignal> = pending.into_iter().map(|p| p.queued).collect();
            let env = Env {
                invoker: self.invoker.as_ref(),
                clock: self.clock.as_ref(),
                store: self.store.as_ref(),
            };
            let progress = executor::advance(&mut snapshot, signals, &env).await;
            count += 1;
            let d = &mut stored.description;
            if let Some(end) = &progress.end {
                d.status = end.status;
                d.output = end.output.clone();
                d.error = end.error.clone();
                d.cause = end.cause.clone();
                d.stop_date = Some(end.at);
            }
            stored.snapshot = snapshot.to_json()?;
            stored.wake_at = if progress.end.is_some() {
                None
            } else {
                progress.wake_at
            };
            shipgate_crash::point("engine.before-save");
            let step = Step {
                events: &progress.events,
                closed_tokens: &progress.closed_tokens,
                consumed: &consumed,
            };
            let released = self.store.save(&stored, &step, &self.owner, true)?;
            shipgate_crash::point("engine.saved");
            stored.version += 1;
            if released {
                return Ok(count);
            }
            if count > 100_000 {
                return Err(EngineError::DoesNotSettle(
                    stored.description.execution_id.clone(),
                ));
            }
        }
    }

    /// The earliest timer among running executions.
    pub fn next_wake(&self) -> Result<Option<DateTime<Utc>>, EngineError> {
        Ok(self.store.next_wake()?)
    }

    /// Describes an execution.
    pub fn describe(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionDescription>, EngineError> {
        Ok(self.store.get(execution_id)?.map(|e| e.description))
    }

    /// The history of an execution.
    pub fn history(&self, execution_id: &str) -> Result<Vec<HistoryEvent>, EngineError> {
        Ok(self.store.events(execution_id)?)
    }

    /// All executions.
    pub fn list_executions(&self) -> Result<Vec<ExecutionDescription>, EngineError> {
        Ok(self.store.list()?)
    }

    /// Stops a running execution (→ `Aborted`). Applied at once when no other engine holds
    /// the execution, else queued for the holder. Stopping an ended execution does nothing.
    pub fn stop_execution(
        &self,
        execution_id: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), EngineError> {
        let Some(current) = self.store.get(execution_id)? else {
            return Err(EngineError::ExecutionDoesNotExist(execution_id.to_string()));
        };
        if current.description.status != ExecutionStatus::Running {
            return Ok(());
        }
        let now = self.clock.now();
        let signal = QueuedSignal {
            at: now,
            signal: Signal::Stop {
                error: error.to_string(),
                cause: cause.to_string(),
            },
        };
        // A distinct owner: if this very engine is running the execution right now (a task
        // handler calling stop), the claim fails and the stop is queued for the run.
        let stopper = Lease {
            owner: format!("{}-stop", self.owner),
            until: now + Duration::seconds(self.lease_seconds),
        };
        let Some(mut stored) = self.store.claim(execution_id, now, &stopper)? else {
            self.store.push_signal(execution_id, &signal)?;
            return Ok(());
        };
        let mut snapshot = Snapshot::from_json(&stored.snapshot)?;
        let progress = executor::abort(&mut snapshot, error, cause, now);
        let d = &mut stored.description;
        d.status = ExecutionStatus::Aborted;
        d.error = Some(error.to_string());
        d.cause = Some(cause.to_string());
        d.stop_date = Some(now);
        stored.snapshot = snapshot.to_json()?;
        stored.wake_at = None;
        let step = Step {
            events: &progress.events,
            closed_tokens: &progress.closed_tokens,
            consumed: &[],
        };
        self.store.save(&stored, &step, &stopper.owner, true)?;
        Ok(())
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Runs one execution to its end on a virtual clock starting at `start`, with an in-memory
/// store, advancing the clock to each next wake. Task tokens are never delivered, so a
/// `.waitForTaskToken` task only ends by timeout; an execution that can never wake again is
/// returned as it stands (status `Running`).
pub async fn run_to_completion(
    definition_json: &str,
    input: Value,
    invoker: Arc<dyn TaskInvoker>,
    start: DateTime<Utc>,
) -> Result<ExecutionDescription, EngineError> {
    let clock = VirtualClock::new(start);
    let engine = Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        invoker,
        Arc::new(clock.clone()),
    );
    let started = engine
        .start_execution(definition_json, "run", input)
        .await?;
    loop {
        engine.run_due().await?;
        let Some(d) = engine.describe(&started.execution_id)? else {
            return Err(EngineError::ExecutionDoesNotExist(started.execution_id));
        };
        if d.status != ExecutionStatus::Running {
            return Ok(d);
        }
        match engine.next_wake()? {
            Some(t) if t > clock.now() => clock.set(t),
            _ => return Ok(d),
        }
    }
}
