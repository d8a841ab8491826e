//! The in-memory execution store: tests, `run_to_completion`, single-process use.

use super::*;

// ---------------------------------------------------------------------------------------
// In-memory store
// ---------------------------------------------------------------------------------------

#[derive(Default)]
pub(super) struct MemInner {
    order: Vec<String>,
    execs: BTreeMap<String, (StoredExecution, Option<Lease>)>,
    events: BTreeMap<String, Vec<HistoryEvent>>,
    signals: BTreeMap<String, Vec<PendingSignal>>,
    next_signal: u64,
    tokens: BTreeMap<String, TokenRecord>,
}

impl MemInner {
    fn queue(&mut self, execution_id: &str, signal: &QueuedSignal) {
        self.next_signal += 1;
        let seq = self.next_signal;
        self.signals
            .entry(execution_id.to_string())
            .or_default()
            .push(PendingSignal {
                seq,
                queued: signal.clone(),
            });
    }
}

/// A store in memory, for tests and `asl run`.
#[derive(Default)]
pub struct MemoryExecutionStore {
    inner: Mutex<MemInner>,
}

impl MemoryExecutionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(super) fn lease_free(lease: &Option<Lease>, now: DateTime<Utc>, owner: &str) -> bool {
    match lease {
        None => true,
        Some(l) => l.owner == owner || l.until <= now,
    }
}

impl ExecutionStore for MemoryExecutionStore {
    fn create(
        &self,
        exec: &StoredExecution,
        events: &[HistoryEvent],
    ) -> Result<(StoredExecution, bool), StoreError> {
        let mut g = self.lock();
        if let Some((existing, _)) = g
            .execs
            .values()
            .find(|(e, _)| e.description.name == exec.description.name)
        {
            return Ok((existing.clone(), false));
        }
        let id = exec.description.execution_id.clone();
        g.order.push(id.clone());
        g.execs.insert(id.clone(), (exec.clone(), None));
        g.events.insert(id, events.to_vec());
        Ok((exec.clone(), true))
    }

    fn get(&self, execution_id: &str) -> Result<Option<StoredExecution>, StoreError> {
        Ok(self.lock().execs.get(execution_id).map(|(e, _)| e.clone()))
    }

    fn list(&self) -> Result<Vec<ExecutionDescription>, StoreError> {
        let g = self.lock();
        Ok(g.order
            .iter()
            .filter_map(|id| g.execs.get(id).map(|(e, _)| e.description.clone()))
            .collect())
    }

    fn events(&self, execution_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(self
            .lock()
            .events
            .get(execution_id)
            .cloned()
            .unwrap_or_default())
    }

    fn claim_runnable(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        exclude: &[String],
    ) -> Result<Option<StoredExecution>, StoreError> {
        let mut g = self.lock();
        let mut found = None;
        for id in &g.order {
            if exclude.contains(id) {
                continue;
            }
            let Some((e, l)) = g.execs.get(id) else {
                continue;
            };
            if e.description.status != ExecutionStatus::Running || !lease_free(l, now, &lease.owner)
            {
                continue;
            }
            let due = e.wake_at.is_some_and(|w| w <= now);
            let signalled = g.signals.get(id).is_some_and(|s| !s.is_empty());
            if due || signalled {
                found = Some(id.clone());
                break;
            }
        }
        let Some(id) = found else { return Ok(None) };
        let Some(entry) = g.execs.get_mut(&id) else {
            return Ok(None);
        };
        entry.1 = Some(lease.clone());
        Ok(Some(entry.0.clone()))
    }

    fn claim(
        &self,
        execution_id: &str,
        now: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<Option<StoredExecution>, StoreError> {
        let mut g = self.lock();
        let Some(entry) = g.execs.get_mut(execution_id) else {
            return Ok(None);
        };
        if entry.0.description.status != ExecutionStatus::Running
            || !lease_free(&entry.1, now, &lease.owner)
        {
            return Ok(None);
        }
        entry.1 = Some(lease.clone());
        Ok(Some(entry.0.clone()))
    }

    fn pending_signals(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<PendingSignal>, StoreError> {
        let g = self.lock();
        let holds = g
            .execs
            .get(execution_id)
            .and_then(|(_, l)| l.as_ref())
            .is_some_and(|l| l.owner == owner);
        if !holds {
            return Err(StoreError::LeaseLost(execution_id.to_string()));
        }
        Ok(g.signals.get(execution_id).cloned().unwrap_or_default())
    }

    fn save(
        &self,
        exec: &StoredExecution,
        step: &Step<'_>,
        owner: &str,
        release: bool,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let id = exec.description.execution_id.clone();
        match g.execs.get(&id) {
            None => return Err(StoreError::NotFound(id)),
            Some((_, lease)) if lease.as_ref().is_none_or(|l| l.owner != owner) => {
                return Err(StoreError::LeaseLost(id));
            }
            Some(_) => {}
        }
        if let Some(queue) = g.signals.get_mut(&id) {
            queue.retain(|s| !step.consumed.contains(&s.seq));
        }
        let pending = g.signals.get(&id).is_some_and(|s| !s.is_empty());
        let Some(entry) = g.execs.get_mut(&id) else {
            return Err(StoreError::NotFound(id));
        };
        let version = entry.0.version + 1;
        entry.0 = exec.clone();
        entry.0.version = version;
        let released = release && (!pending || exec.description.status != ExecutionStatus::Running);
        if released {
            entry.1 = None;
        }
        let history = g.events.entry(id).or_default();
        // Ids are consecutive: a replayed step rewrites what it wrote before it was cut short.
        if let Some(first) = step.events.first() {
            let keep = history.partition_point(|e| e.id < first.id);
            history.truncate(keep);
            history.extend_from_slice(step.events);
        }
        for t in step.closed_tokens {
            if let Some(r) = g.tokens.get_mut(t) {
                r.open = false;
            }
        }
        Ok(released)
    }

    fn release_leases(&self, owner: &str) -> Result<usize, StoreError> {
        let mut g = self.lock();
        let mut n = 0;
        for (_, lease) in g.execs.values_mut() {
            if lease.as_ref().is_some_and(|l| l.owner == owner) {
                *lease = None;
                n += 1;
            }
        }
        Ok(n)
    }

    fn push_signal(&self, execution_id: &str, signal: &QueuedSignal) -> Result<(), StoreError> {
        self.lock().queue(execution_id, signal);
        Ok(())
    }

    fn deliver(
        &self,
        token: &str,
        signal: &QueuedSignal,
        close: bool,
    ) -> Result<Delivery, StoreError> {
        let mut g = self.lock();
        let Some(rec) = g.tokens.get(token).cloned() else {
            return Ok(Delivery::UnknownToken);
        };
        let running = g
            .execs
            .get(&rec.execution_id)
            .is_some_and(|(e, _)| e.description.status == ExecutionStatus::Running);
        if !rec.open || !running {
            return Ok(Delivery::TaskEnded);
        }
        if close && let Some(r) = g.tokens.get_mut(token) {
            r.open = false;
        }
        g.queue(&rec.execution_id, signal);
        Ok(Delivery::Queued)
    }

    fn open_token(&self, token: &str, execution_id: &str) -> Result<(), StoreError> {
        self.lock().tokens.insert(
            token.to_string(),
            TokenRecord {
                execution_id: execution_id.to_string(),
                open: true,
            },
        );
        Ok(())
    }

    fn token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.lock().tokens.get(token).cloned())
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .lock()
            .execs
            .values()
            .filter(|(e, _)| e.description.status == ExecutionStatus::Running)
            .filter_map(|(e, _)| e.wake_at)
            .min())
    }
}
