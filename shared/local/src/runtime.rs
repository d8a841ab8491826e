//! The local runtime: the same `statemachine.json` and the same gates as on AWS, wired to
//! the embedded adapters in one data directory — `shipgate.db` (releases, simulated ECS,
//! alarms, window wake-ups), `executions.db` (the engine's durable executions) and
//! `outbox/` (every message sent). Any number of processes may open the same directory one
//! after another (or at once): executions resume wherever a token or a timer is handled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde_json::json;
use shipgate_asl::{
    Engine, ExecutionStore, LambdaRegistry, SqliteExecutionStore, VirtualClock, WallClock,
};
use shipgate_core::gates;
use shipgate_core::ports::WakeUp;
use shipgate_core::{Config, GateError};
use shipgate_core::{Deps, Gate};

use crate::alarms::SimulatedAlarms;
use crate::db::Db;
use crate::demo_service::DemoService;
use crate::ecs::SimulatedEcs;
use crate::liveness::Liveness;
use crate::outbox::Outbox;
use crate::probe::HttpHealthProbe;
use crate::scheduler::LocalScheduler;
use crate::store::SqliteReleaseStore;
use crate::triggers::SqliteTriggerLog;
use crate::workflow::{EngineWorkflow, GateFunction};

/// The revision the simulated service runs before any release, as `roleferry-api:41`.
pub const SEED_REVISION: u32 = 41;
/// The version the simulated service runs before any release.
pub const SEED_VERSION: &str = "1.2.0";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot open the data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the local engine failed")]
    Engine(#[from] shipgate_asl::EngineError),
    #[error("the window gate failed: {0}")]
    Gate(#[from] GateError),
    #[error("the simulated ECS service could not be set up")]
    Simulation(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the demo service could not start")]
    DemoService(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The clock of a runtime: the wall clock, or a virtual one the caller moves.
#[derive(Clone)]
pub enum LocalClock {
    Wall,
    Virtual(VirtualClock),
}

impl LocalClock {
    pub fn virtual_at(start: DateTime<Utc>) -> Self {
        LocalClock::Virtual(VirtualClock::new(start))
    }

    /// Moves a virtual clock forward to `t` (never backwards); the wall clock ignores it.
    pub fn advance_to(&self, t: DateTime<Utc>) {
        if let LocalClock::Virtual(clock) = self
            && t > shipgate_asl::Clock::now(clock)
        {
            clock.set(t);
        }
    }
}

impl shipgate_asl::Clock for LocalClock {
    fn now(&self) -> DateTime<Utc> {
        match self {
            LocalClock::Wall => shipgate_asl::Clock::now(&WallClock),
            LocalClock::Virtual(clock) => shipgate_asl::Clock::now(clock),
        }
    }
}

impl shipgate_core::ports::Clock for LocalClock {
    fn now(&self) -> DateTime<Utc> {
        shipgate_asl::Clock::now(self)
    }
}

/// Ports to use instead of the embedded ones.
#[derive(Default)]
pub struct PortOverrides {
    pub store: Option<Arc<dyn shipgate_core::ports::ReleaseStore>>,
    pub alarms: Option<Arc<dyn shipgate_core::ports::Alarms>>,
    pub notifier: Option<Arc<dyn shipgate_core::ports::Notifier>>,
    pub github: Option<Arc<dyn shipgate_core::github::GitHub>>,
}

pub struct RuntimeOptions {
    pub data_dir: PathBuf,
    pub config: Config,
    pub definition: String,
    pub clock: LocalClock,
    /// Serve the simulated application over HTTP on 127.0.0.1, so health checks are real
    /// requests; its address replaces `health.base_url`.
    pub demo_service: bool,
}

pub struct Runtime {
    pub config: Arc<Config>,
    pub deps: Deps,
    pub engine: Arc<Engine>,
    pub ecs: Arc<SimulatedEcs>,
    pub alarms: Arc<SimulatedAlarms>,
    pub scheduler: Arc<LocalScheduler>,
    /// What the GitHub trigger remembers (deliveries, tags).
    pub triggers: Arc<SqliteTriggerLog>,
    pub clock: LocalClock,
    pub data_dir: PathBuf,
    /// The simulated services answering over HTTP: production's, then each environment's.
    demos: Vec<DemoService>,
    /// Gate invocations made by wake-ups (not by the engine), by function name.
    wake_ups: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Held while this runtime lives: its engine's leases are this process's.
    _liveness: Liveness,
}

impl Runtime {
    pub async fn open(options: RuntimeOptions) -> Result<Self, RuntimeError> {
        Self::open_with(options, PortOverrides::default()).await
    }

    /// Like [`Runtime::open`], with some ports taken from elsewhere — e.g. the AWS adapters
    /// against a local AWS-compatible server, while the flow still runs on the local engine.
    pub async fn open_with(
        options: RuntimeOptions,
        overrides: PortOverrides,
    ) -> Result<Self, RuntimeError> {
        let RuntimeOptions {
            data_dir,
            mut config,
            definition,
            clock,
            demo_service,
        } = options;
        let data_err = |source: Box<dyn std::error::Error + Send + Sync>| RuntimeError::DataDir {
            path: data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&data_dir).map_err(|e| data_err(Box::new(e)))?;
        if config.web.link_key.is_none() {
            let key = local_link_key(&data_dir).map_err(|e| data_err(Box::new(e)))?;
            config.web.link_key = Some(shipgate_core::config::Secret::new(key));
        }
        let db = Db::open(&data_dir.join("shipgate.db")).map_err(|e| data_err(Box::new(e)))?;
        let executions: Arc<dyn ExecutionStore> = Arc::new(
            SqliteExecutionStore::open(&data_dir.join("executions.db"))
                .map_err(|e| data_err(Box::new(e)))?,
        );
        // What a process killed mid-step held is resumed now, not when its lease expires.
        let liveness = Liveness::claim(&data_dir).map_err(|e| data_err(Box::new(e)))?;
        for owner in Liveness::dead_owners(&data_dir).map_err(|e| data_err(Box::new(e)))? {
            let held = executions
                .release_leases(&owner)
                .map_err(|e| data_err(Box::new(e)))?;
            if held > 0 {
                tracing::info!(owner, held, "resuming executions of an engine that died");
            }
            Liveness::forget(&data_dir, &owner).map_err(|e| data_err(Box::new(e)))?;
        }
        let core_clock: Arc<dyn shipgate_core::ports::Clock> = Arc::new(clock.clone());

        let service = &config.service;
        let mut ecs = SimulatedEcs::new(db.clone(), core_clock.clone());
        if let Some(migration) = &service.migration {
            ecs = ecs.with_reverse_command(migration.reverse_command.clone());
        }
        let ecs = Arc::new(ecs);
        ecs.seed_service(
            &service.cluster,
            service.name.as_str(),
            &service.task_family,
            &service.container,
            &format!("{}:{SEED_VERSION}", service.image),
            SEED_REVISION,
        )
        .map_err(|e| RuntimeError::Simulation(Box::new(e)))?;
        // The environments before production run their own simulated service.
        for env in config.environments.values() {
            ecs.seed_service(
                &env.cluster,
                env.service.as_str(),
                env.task_family.as_deref().unwrap_or(&service.task_family),
                &service.container,
                &format!("{}:{SEED_VERSION}", service.image),
                SEED_REVISION,
            )
            .map_err(|e| RuntimeError::Simulation(Box::new(e)))?;
        }
        let alarms = Arc::new(SimulatedAlarms::new(
            db.clone(),
            ecs.clone(),
            core_clock.clone(),
            &service.cluster,
            service.name.as_str(),
        ));
        let mut demos = Vec::new();
        if demo_service {
            let demo = DemoService::start(ecs.clone(), &service.cluster, service.name.as_str())
                .await
                .map_err(|e| RuntimeError::DemoService(Box::new(e)))?;
            config.health.base_url = demo.base_url();
            demos.push(demo);
            for env in config.environments.values_mut() {
                let demo = DemoService::start(ecs.clone(), &env.cluster, env.service.as_str())
                    .await
                    .map_err(|e| RuntimeError::DemoService(Box::new(e)))?;
                env.health_base_url = demo.base_url();
                demos.push(demo);
            }
        }
        let config = Arc::new(config);
        let scheduler = Arc::new(LocalScheduler::new(db.clone()));
        let triggers =
            Arc::new(SqliteTriggerLog::new(db.clone()).map_err(|e| data_err(Box::new(e)))?);
        let definition: Arc<str> = Arc::from(definition);
        let workflow = Arc::new(EngineWorkflow::new(definition));
        let deps = Deps::new(config.clone(), core_clock)
            .with_workers(Arc::new(crate::liveness::LocalWorkers::new(
                &data_dir, &liveness,
            )))
            .with_store(
                overrides
                    .store
                    .unwrap_or_else(|| Arc::new(SqliteReleaseStore::new(db.clone()))),
            )
            .with_deployer(ecs.clone())
            .with_health(Arc::new(HttpHealthProbe::new(StdDuration::from_secs(
                u64::from(config.health.timeout_seconds.max(1)),
            ))))
            .with_alarms(overrides.alarms.unwrap_or_else(|| alarms.clone()))
            .with_notifier(
                overrides
                    .notifier
                    .unwrap_or_else(|| Arc::new(Outbox::new(data_dir.join("outbox")))),
            )
            .with_tokens(workflow.clone())
            .with_executions(workflow.clone())
            .with_scheduler(scheduler.clone())
            .with_github(overrides.github.unwrap_or_else(|| {
                Arc::new(crate::github::LocalGitHub::new(
                    &config.service.repository,
                    data_dir.join("github.json"),
                    Outbox::new(data_dir.join("outbox")),
                ))
            }));
        let mut registry = LambdaRegistry::new();
        for gate in Gate::ALL {
            registry.register(
                gate.placeholder(),
                // Each gate gets only its declared ports, as its Lambda function does.
                Arc::new(GateFunction {
                    deps: deps.only(gate.ports()),
                    gate,
                }),
            );
        }
        let engine = Arc::new(
            Engine::new(executions, Arc::new(registry), Arc::new(clock.clone()))
                .with_state_machine_name("shipgate-release")
                .with_owner(liveness.owner()),
        );
        workflow.connect(&engine);
        // Whatever a process killed mid-operation left undone is handed on by the next
        // process that opens the directory (and by every window opening).
        for deps in deps.every_environment() {
            shipgate_core::releases::resume_interrupted(&deps).await?;
        }
        Ok(Runtime {
            config,
            deps,
            engine,
            ecs,
            alarms,
            scheduler,
            triggers,
            clock,
            data_dir,
            demos,
            wake_ups: Default::default(),
            _liveness: liveness,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        shipgate_asl::Clock::now(&self.clock)
    }

    /// How often a wake-up invoked each gate (window openings, approval reminders): on
    /// AWS these are EventBridge Scheduler invocations of the gate's function.
    pub fn wake_ups(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.wake_ups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn count_wake_up(&self, gate: Gate) {
        *self
            .wake_ups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(gate.name())
            .or_default() += 1;
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    /// Fires what is due now — wake-ups (the window, approval reminders), then every
    /// runnable execution — until nothing more is. Returns how much ran.
    pub async fn run_due(&self) -> Result<usize, RuntimeError> {
        let mut total = 0;
        loop {
            let mut ran = 0;
            let sim =
                |e: shipgate_core::ports::WorkflowError| RuntimeError::Simulation(Box::new(e));
            let due = self.scheduler.due(self.now()).map_err(sim)?;
            let mut window_opened = false;
            for (at, wake) in &due {
                match wake {
                    // Several window wake-ups due at once need one look at the queue.
                    WakeUp::Window if window_opened => {}
                    WakeUp::Window => {
                        window_opened = true;
                        self.count_wake_up(Gate::Window);
                        gates::invoke(&self.deps, Gate::Window, json!({ "action": "open" }))
                            .await?;
                    }
                    // A reminder that fails is logged, never allowed to stop the pipeline.
                    other => {
                        self.count_wake_up(other.gate());
                        if let Err(err) =
                            gates::invoke(&self.deps, other.gate(), other.payload()).await
                        {
                            tracing::warn!(wake = ?other, error = %err, "a wake-up failed");
                        }
                    }
                }
                // Delivered; a kill before this line delivers it again.
                shipgate_crash::point("scheduler.delivered");
                self.scheduler.done(*at, wake).map_err(sim)?;
            }
            ran += due.len();
            ran += self.engine.run_due().await?;
            if ran == 0 {
                return Ok(total);
            }
            total += ran;
        }
    }

    /// The next moment something is due: a timer of an execution or a window wake-up.
    pub fn next_event(&self) -> Result<Option<DateTime<Utc>>, RuntimeError> {
        let engine = self.engine.next_wake()?;
        let window = self
            .scheduler
            .next()
            .map_err(|e| RuntimeError::Simulation(Box::new(e)))?;
        Ok(match (engine, window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// On a virtual clock: runs everything due up to and including `until`, moving the clock
    /// from event to event, and leaves the clock at `until`.
    pub async fn run_until(&self, until: DateTime<Utc>) -> Result<(), RuntimeError> {
        self.run_due().await?;
        while let Some(next) = self.next_event()? {
            if next > until {
                break;
            }
            self.clock.advance_to(next);
            self.run_due().await?;
        }
        self.clock.advance_to(until);
        self.run_due().await?;
        Ok(())
    }

    /// Stops the demo service, if one runs.
    pub async fn shutdown(mut self) {
        for demo in std::mem::take(&mut self.demos) {
            demo.stop().await;
        }
    }
}

/// The key approval links are signed with when none is configured: kept in
/// `<data-dir>/link.key` (created on first use, readable by its owner only), so every
/// process using the directory — the CLI, `shipgate serve` — signs and checks alike.
fn local_link_key(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("link.key");
    match std::fs::read_to_string(&path) {
        Ok(key) if !key.trim().is_empty() => return Ok(key.trim().to_string()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let tmp = data_dir.join(format!(".link.key.{}.tmp", std::process::id()));
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(key.as_bytes())?;
        file.sync_all()?;
    }
    // Two processes creating it at once: the first rename wins, and both read the winner.
    if std::fs::hard_link(&tmp, &path).is_err() && !path.exists() {
        std::fs::rename(&tmp, &path)?;
    }
    let _ = std::fs::remove_file(&tmp);
    Ok(std::fs::read_to_string(&path)?.trim().to_string())
}

/// The data directory's default location.
pub fn default_data_dir() -> &'static Path {
    Path::new(".shipgate")
}
