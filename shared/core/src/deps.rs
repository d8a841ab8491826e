//! What a gate works with: the configuration, the clock, and the ports — each wired to an
//! adapter, or left unwired. A Lambda function wires only its gate's ports
//! ([`crate::Gate::ports`]); an unwired port answers every call with a misconfiguration
//! error (and logs it), so reaching one is loud, never silent.

#![warn(missing_docs)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{Config, HealthCheck};
use crate::error::GateError;
use crate::gate::Port;
use crate::github::{GitHub, GitHubAnswer, GitHubCall, GitHubError};
use crate::model::{Release, ReleaseId, ServiceName};
use crate::ports::*;
use crate::semver::Version;

/// Everything a gate may use, as trait objects.
#[derive(Clone)]
pub struct Deps {
    /// The configuration (`shipgate.toml`).
    pub config: Arc<Config>,
    /// The clock every gate reads the time from ([`Deps::now`]).
    pub clock: Arc<dyn Clock>,
    /// This process's worker id and who is known to be gone ([`UnknownWorkers`] unless set).
    pub workers: Arc<dyn Workers>,
    /// The release records and the deploy locks.
    pub store: Arc<dyn ReleaseStore>,
    /// The ECS service and its task definitions.
    pub deployer: Arc<dyn Deployer>,
    /// The critical paths' probe.
    pub health: Arc<dyn HealthProbe>,
    /// Alarms and the service's request metrics.
    pub alarms: Arc<dyn Alarms>,
    /// Slack, email, the status page and pages.
    pub notifier: Arc<dyn Notifier>,
    /// Answers to the flow's waiting tasks.
    pub tokens: Arc<dyn TaskTokens>,
    /// Starts executions of the flow.
    pub executions: Arc<dyn Executions>,
    /// One-time wake-ups of gates.
    pub scheduler: Arc<dyn WindowScheduler>,
    /// GitHub's REST API.
    pub github: Arc<dyn GitHub>,
    wired: Vec<Port>,
    reached: Reached,
}

/// The unwired ports that were called, in order.
type Reached = Arc<Mutex<Vec<Port>>>;

impl Deps {
    /// The configuration and the clock, every port unwired.
    pub fn new(config: Arc<Config>, clock: Arc<dyn Clock>) -> Deps {
        let reached = Reached::default();
        let unwired = |port| {
            Arc::new(Unwired {
                port,
                reached: reached.clone(),
            })
        };
        Deps {
            config,
            clock,
            workers: Arc::new(UnknownWorkers::default()),
            store: unwired(Port::Store),
            deployer: unwired(Port::Deployer),
            health: unwired(Port::Health),
            alarms: unwired(Port::Alarms),
            notifier: unwired(Port::Notifier),
            tokens: unwired(Port::Tokens),
            executions: unwired(Port::Executions),
            scheduler: unwired(Port::Scheduler),
            github: unwired(Port::GitHub),
            wired: Vec::new(),
            reached,
        }
    }

    fn wire(mut self, port: Port) -> Self {
        if !self.wired.contains(&port) {
            self.wired.push(port);
            self.wired.sort();
        }
        self
    }

    /// Sets the worker registry ([`UnknownWorkers`] by default). Not a port: every gate has
    /// one, so it is never unwired.
    pub fn with_workers(mut self, workers: Arc<dyn Workers>) -> Self {
        self.workers = workers;
        self
    }

    /// Wires [`Port::Store`] to `store` (it joins [`Deps::wired`]).
    pub fn with_store(mut self, store: Arc<dyn ReleaseStore>) -> Self {
        self.store = store;
        self.wire(Port::Store)
    }

    /// Wires [`Port::Deployer`] to `deployer` (it joins [`Deps::wired`]).
    pub fn with_deployer(mut self, deployer: Arc<dyn Deployer>) -> Self {
        self.deployer = deployer;
        self.wire(Port::Deployer)
    }

    /// Wires [`Port::Health`] to `health` (it joins [`Deps::wired`]).
    pub fn with_health(mut self, health: Arc<dyn HealthProbe>) -> Self {
        self.health = health;
        self.wire(Port::Health)
    }

    /// Wires [`Port::Alarms`] to `alarms` (it joins [`Deps::wired`]).
    pub fn with_alarms(mut self, alarms: Arc<dyn Alarms>) -> Self {
        self.alarms = alarms;
        self.wire(Port::Alarms)
    }

    /// Wires [`Port::Notifier`] to `notifier` (it joins [`Deps::wired`]).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = notifier;
        self.wire(Port::Notifier)
    }

    /// Wires [`Port::Tokens`] to `tokens` (it joins [`Deps::wired`]).
    pub fn with_tokens(mut self, tokens: Arc<dyn TaskTokens>) -> Self {
        self.tokens = tokens;
        self.wire(Port::Tokens)
    }

    /// Wires [`Port::Executions`] to `executions` (it joins [`Deps::wired`]).
    pub fn with_executions(mut self, executions: Arc<dyn Executions>) -> Self {
        self.executions = executions;
        self.wire(Port::Executions)
    }

    /// Wires [`Port::Scheduler`] to `scheduler` (it joins [`Deps::wired`]).
    pub fn with_scheduler(mut self, scheduler: Arc<dyn WindowScheduler>) -> Self {
        self.scheduler = scheduler;
        self.wire(Port::Scheduler)
    }

    /// Wires [`Port::GitHub`] to `github` (it joins [`Deps::wired`]).
    pub fn with_github(mut self, github: Arc<dyn GitHub>) -> Self {
        self.github = github;
        self.wire(Port::GitHub)
    }

    /// The ports wired to an adapter, in [`Port`] order.
    pub fn wired(&self) -> &[Port] {
        &self.wired
    }

    /// The same dependencies with every port outside `ports` unwired.
    pub fn only(&self, ports: &[Port]) -> Deps {
        let mut deps = self.clone();
        let unwired = |port| {
            Arc::new(Unwired {
                port,
                reached: deps.reached.clone(),
            })
        };
        for port in Port::ALL.into_iter().filter(|p| !ports.contains(p)) {
            match port {
                Port::Store => deps.store = unwired(port),
                Port::Deployer => deps.deployer = unwired(port),
                Port::Health => deps.health = unwired(port),
                Port::Alarms => deps.alarms = unwired(port),
                Port::Notifier => deps.notifier = unwired(port),
                Port::Tokens => deps.tokens = unwired(port),
                Port::Executions => deps.executions = unwired(port),
                Port::Scheduler => deps.scheduler = unwired(port),
                Port::GitHub => deps.github = unwired(port),
            }
        }
        deps.wired.retain(|p| ports.contains(p));
        deps
    }

    /// The unwired ports that something called, in order (empty when wiring is right).
    pub fn unwired_reached(&self) -> Vec<Port> {
        self.reached.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The clock's current instant (UTC).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The same ports with `config` instead (an environment's, laid over production's).
    pub fn with_config(&self, config: Config) -> Deps {
        Deps {
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// What release `id` runs with: these ports, and its environment's configuration when
    /// it deploys to one before production ([`Config::for_release`]).
    pub fn for_release(&self, id: &ReleaseId) -> std::borrow::Cow<'_, Deps> {
        match self.config.for_release(id) {
            Some(config) => std::borrow::Cow::Owned(self.with_config(config)),
            None => std::borrow::Cow::Borrowed(self),
        }
    }

    /// These ports once for production and once per environment before it, each with
    /// its configuration (the lanes to dispatch, the releases to resume).
    pub fn every_environment(&self) -> Vec<Deps> {
        let mut all = vec![self.clone()];
        if self.config.environment.is_none() {
            all.extend(
                self.config
                    .environments
                    .keys()
                    .filter_map(|name| self.config.for_environment(name))
                    .map(|config| self.with_config(config)),
            );
        }
        all
    }

    /// The configured ECS service: `service.cluster` and `service.name`.
    pub fn target(&self) -> DeployTarget {
        DeployTarget {
            cluster: self.config.service.cluster.clone(),
            service: self.config.service.name.to_string(),
        }
    }

    /// The release `id` as stored; [`GateError::NotFound`] when there is none.
    pub async fn load(&self, id: &ReleaseId) -> Result<Release, GateError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| GateError::NotFound(id.to_string()))
    }

    /// Writes `release` conditionally on the version it was read at.
    pub async fn save(&self, release: &Release) -> Result<Release, GateError> {
        Ok(self.store.update(release).await?)
    }

    /// Records what already happened outside (a task that ran): `apply` on `release`,
    /// saved; if someone else wrote the release meanwhile, `apply` again on the fresh
    /// record, so a fact is never lost to a race (the write itself stays conditional).
    pub async fn record(
        &self,
        mut release: Release,
        apply: impl Fn(&mut Release),
    ) -> Result<Release, GateError> {
        for _ in 0..4 {
            apply(&mut release);
            match self.save(&release).await {
                Err(GateError::Conflict(..)) => release = self.load(&release.id).await?,
                other => return other,
            }
        }
        apply(&mut release);
        self.save(&release).await
    }
}

/// A port that was not wired: every call is a misconfiguration.
#[derive(Debug, thiserror::Error)]
#[error("the {0} port is not wired in this function: a misconfiguration (see Gate::ports)")]
pub struct NotWired(pub &'static str);

fn not_wired(port: &'static str) -> NotWired {
    tracing::error!(port, "an unwired port was called");
    NotWired(port)
}

/// The trigger log of a function that has none (the callback).
pub struct NotWiredTriggerLog;

#[async_trait]
impl TriggerLog for NotWiredTriggerLog {
    async fn seen(&self, _: &str, _: &str) -> Result<Option<TriggerRecord>, StoreError> {
        Err(StoreError::Backend(Box::new(not_wired("trigger log"))))
    }
    async fn record(&self, _: &TriggerRecord) -> Result<(), StoreError> {
        Err(StoreError::Backend(Box::new(not_wired("trigger log"))))
    }
    async fn record_tag(&self, _: &str, _: &Version) -> Result<(), StoreError> {
        Err(StoreError::Backend(Box::new(not_wired("trigger log"))))
    }
    async fn tag_for(&self, _: &str) -> Result<Option<Version>, StoreError> {
        Err(StoreError::Backend(Box::new(not_wired("trigger log"))))
    }
}

/// Where rollback requests go in a function that takes none (the trigger).
pub struct NotWiredRollbacks;

#[async_trait]
impl RollbackRequests for NotWiredRollbacks {
    async fn request(&self, _: &RollbackRequest) -> Result<Handed, WorkflowError> {
        Err(WorkflowError::Backend(Box::new(not_wired(
            "rollback requests",
        ))))
    }
}

struct Unwired {
    port: Port,
    reached: Reached,
}

impl Unwired {
    fn reach(&self) -> NotWired {
        if let Ok(mut reached) = self.reached.lock() {
            reached.push(self.port);
        }
        not_wired(self.port.name())
    }

    fn backend(&self) -> BoxError {
        Box::new(self.reach())
    }
}

#[async_trait]
impl ReleaseStore for Unwired {
    async fn create(&self, _: &Release) -> Result<(), StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn get(&self, _: &ReleaseId) -> Result<Option<Release>, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn update(&self, _: &Release) -> Result<Release, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn list(&self, _: &ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn window_queue(&self, _: &ServiceName) -> Result<Vec<Release>, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn last_released(&self, _: &ServiceName) -> Result<Option<Release>, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn highest_version(
        &self,
        _: &ServiceName,
    ) -> Result<Option<(Version, String)>, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn acquire_lock(
        &self,
        _: &ServiceName,
        _: &ReleaseId,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn release_lock(&self, _: &ServiceName, _: &ReleaseId) -> Result<bool, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
    async fn lock_holder(
        &self,
        _: &ServiceName,
        _: DateTime<Utc>,
    ) -> Result<Option<ReleaseId>, StoreError> {
        Err(StoreError::Backend(self.backend()))
    }
}

#[async_trait]
impl Deployer for Unwired {
    async fn current_task_definition(&self, _: &DeployTarget) -> Result<String, DeployError> {
        Err(DeployError::Unavailable(self.backend()))
    }
    async fn register_with_image(&self, _: &str, _: &str, _: &str) -> Result<String, DeployError> {
        Err(DeployError::Unavailable(self.backend()))
    }
    async fn update_service(&self, _: &DeployTarget, _: &str) -> Result<(), DeployError> {
        Err(DeployError::Unavailable(self.backend()))
    }
    async fn deployment_status(&self, _: &DeployTarget) -> Result<DeploymentStatus, DeployError> {
        Err(DeployError::Unavailable(self.backend()))
    }
    async fn start_task(
        &self,
        _: &DeployTarget,
        _: &str,
        _: &str,
        _: &[String],
        _: &str,
    ) -> Result<String, DeployError> {
        Err(DeployError::Unavailable(self.backend()))
    }
    async fn find_task(&self, _: &DeployTarget, _: &str) -> Result<Option<String>, DeployError> {
        Err(DeployError::Unavailable(self.backend()))
    }
    async fn wait_task(
        &self,
        _: &DeployTarget,
        _: &str,
        _: &str,
    ) -> Result<TaskOutcome, DeployError> {
        Err(DeployError::Unavailable(self.backend()))
    }
}

#[async_trait]
impl HealthProbe for Unwired {
    async fn probe(&self, _: &str, _: &HealthCheck) -> Result<ProbeResult, ProbeError> {
        Err(ProbeError::Invalid(self.reach().to_string()))
    }
}

#[async_trait]
impl Alarms for Unwired {
    async fn states(&self, _: &[String]) -> Result<Vec<AlarmState>, AlarmsError> {
        Err(AlarmsError::Unavailable(self.backend()))
    }
    async fn metrics(
        &self,
        _: &ServiceName,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<MetricsSample, AlarmsError> {
        Err(AlarmsError::Unavailable(self.backend()))
    }
}

#[async_trait]
impl Notifier for Unwired {
    async fn send(&self, message: &Notification) -> Result<(), NotifyError> {
        Err(NotifyError::Delivery {
            channel: message.channel(),
            source: self.backend(),
        })
    }
}

#[async_trait]
impl TaskTokens for Unwired {
    async fn succeed(&self, _: &str, _: Value) -> Result<(), WorkflowError> {
        Err(WorkflowError::Backend(self.backend()))
    }
    async fn fail(&self, _: &str, _: &str, _: &str) -> Result<(), WorkflowError> {
        Err(WorkflowError::Backend(self.backend()))
    }
    async fn heartbeat(&self, _: &str) -> Result<(), WorkflowError> {
        Err(WorkflowError::Backend(self.backend()))
    }
}

#[async_trait]
impl Executions for Unwired {
    async fn start(&self, _: &str, _: Value) -> Result<String, WorkflowError> {
        Err(WorkflowError::Backend(self.backend()))
    }
}

#[async_trait]
impl WindowScheduler for Unwired {
    async fn wake_at(&self, _: DateTime<Utc>) -> Result<(), WorkflowError> {
        Err(WorkflowError::Backend(self.backend()))
    }
    async fn schedule(&self, _: &WakeUp, _: DateTime<Utc>) -> Result<(), WorkflowError> {
        Err(WorkflowError::Backend(self.backend()))
    }
}

#[async_trait]
impl GitHub for Unwired {
    async fn call(&self, _: &GitHubCall) -> Result<GitHubAnswer, GitHubError> {
        Err(GitHubError::Unreachable(self.backend()))
    }
}
