//! One twin stack: the launcher (moto and the template's resources), the function
//! processes, the engine behind the Step Functions API, function URLs, schedules, alarm
//! rules and the outside world — on one virtual clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shipgate_asl::{
    Engine, ExecutionDescription, FunctionError, LambdaFunction, LambdaRegistry,
    MemoryExecutionStore,
};
use shipgate_core::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::TwinError;
use crate::calls::CallLog;
use crate::clock::{TwinClock, faketime_env, faketime_library};
use crate::edge::{self, Edge};
use crate::events_api::{self, EventsApi};
use crate::lambda::{FunctionSpec, LambdaService};
use crate::lambda_api::{self, LambdaApi};
use crate::launcher::{Control, LaunchOptions, Launcher};
use crate::manifest::Manifest;
use crate::outside::{self, Outside};
use crate::rules::Rules;
use crate::schedule::Expression;
use crate::sfn_api::{self, SfnApi};

/// Where things are and how to start them.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub template: PathBuf,
    pub parameters: PathBuf,
    pub launcher: PathBuf,
    pub python: String,
    /// Where the function binaries are (`target/debug`).
    pub bin_dir: PathBuf,
    /// A directory of its own for this stack (logs, clock, seed).
    pub work_dir: PathBuf,
    pub stack_name: String,
    /// How long one-off tasks (migrations) run, in real seconds: long enough that whoever
    /// waits on one overlaps other work, as on ECS.
    pub task_seconds: f64,
}

/// The secrets the stack's SSM parameters hold (made up for each run).
#[derive(Debug, Clone)]
pub struct Secrets {
    pub github_webhook_secret: String,
    pub slack_signing_secret: String,
    pub slack_bot_token: String,
    pub link_key: String,
    pub status_page_token: String,
    pub github_token: String,
    pub pagerduty_routing_key: String,
}

impl Secrets {
    fn generate() -> Self {
        let r = || uuid::Uuid::new_v4().simple().to_string();
        Secrets {
            github_webhook_secret: r(),
            slack_signing_secret: r(),
            slack_bot_token: format!("xoxb-{}", r()),
            link_key: r(),
            status_page_token: r(),
            github_token: format!("ghp_{}", r()),
            pagerduty_routing_key: r(),
        }
    }
}

struct Server(Option<oneshot::Sender<()>>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(listener: TcpListener, app: axum::Router) -> Server {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Server(Some(stop))
}

async fn listen() -> Result<(TcpListener, String), TwinError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| TwinError::Setup(format!("cannot listen on 127.0.0.1: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| TwinError::Setup(e.to_string()))?;
    Ok((listener, format!("http://{addr}")))
}

/// A schedule the twin has seen, and when it fired last.
struct Tracked {
    expression: Expression,
    /// When the twin first saw it: `rate()` counts from here.
    seen: DateTime<Utc>,
    last: DateTime<Utc>,
}

pub struct Stack {
    pub config: Config,
    pub clock: TwinClock,
    pub engine: Arc<Engine>,
    pub lambda: Arc<LambdaService>,
    pub manifest: Arc<Manifest>,
    pub control: Control,
    pub calls: Arc<CallLog>,
    pub outside: Arc<Outside>,
    pub secrets: Secrets,
    pub edge_url: String,
    /// EventBridge's API (`PutEvents`), as `AWS_ENDPOINT_URL_EVENTBRIDGE` points to it.
    pub events_url: String,
    /// The Step Functions API, as `AWS_ENDPOINT_URL_SFN` points to it.
    pub sfn_url: String,
    /// Slack's Web API double, as `SHIPGATE_SLACK_API_URL` points to it.
    pub slack_api_url: String,
    /// Lambda's control plane (`UpdateFunctionConfiguration`), as `AWS_ENDPOINT_URL_LAMBDA`
    /// points to it for people at a terminal.
    pub lambda_url: String,
    faketime: PathBuf,
    launcher: Option<Launcher>,
    moto_cursor: Mutex<usize>,
    schedules: Mutex<HashMap<String, Tracked>>,
    /// Problems seen along the way (schedules the twin cannot run, failed deliveries).
    pub problems: Arc<Mutex<Vec<String>>>,
    /// EventBridge's rules, and the asynchronous invocations still running.
    rules: Arc<Rules>,
    _servers: Vec<Server>,
}

/// The state machine calling a function: authorised against its role, then invoked.
struct StateMachineInvoke {
    lambda: Arc<LambdaService>,
    name: String,
    control: Control,
    calls: Arc<CallLog>,
    caller: String,
    key: Option<String>,
    allowed: Mutex<Option<bool>>,
}

#[async_trait::async_trait]
impl LambdaFunction for StateMachineInvoke {
    async fn call(&self, payload: Value) -> Result<Value, FunctionError> {
        let cached = self.allowed.lock().ok().and_then(|a| *a);
        let allowed = match (cached, &self.key) {
            (Some(a), _) => a,
            (None, Some(key)) => {
                let a = self
                    .control
                    .authorize(key, "lambda:InvokeFunction")
                    .await
                    .map_err(|e| FunctionError::new("Lambda.ServiceException", e.to_string()))?;
                if let Ok(mut slot) = self.allowed.lock() {
                    *slot = Some(a);
                }
                a
            }
            (None, None) => true,
        };
        self.calls
            .record(&self.caller, "lambda:InvokeFunction", allowed);
        if !allowed {
            return Err(FunctionError::new(
                "Lambda.AWSLambdaException",
                format!(
                    "User: {} is not authorized to perform: lambda:InvokeFunction on resource: {} (Service: Lambda, Status Code: 403)",
                    self.caller, self.name
                ),
            ));
        }
        self.lambda.invoke(&self.name, payload).await
    }
}

impl Stack {
    /// Brings the stack up at virtual time `start`, with `config` as its configuration
    /// parameter (its health checks pointed at the twin's demo application).
    pub async fn up(
        options: &StackOptions,
        mut config: Config,
        start: DateTime<Utc>,
    ) -> Result<Self, TwinError> {
        std::fs::create_dir_all(&options.work_dir)
            .map_err(|e| TwinError::io(&options.work_dir, e))?;
        let faketime = faketime_library()?;
        let clock = TwinClock::new(start, options.work_dir.join("clock"))?;
        let secrets = Secrets::generate();
        let (sfn_listener, sfn_url) = listen().await?;
        let (edge_listener, edge_url) = listen().await?;
        let (outside_listener, outside_url) = listen().await?;
        let (events_listener, events_url) = listen().await?;
        let (lambda_listener, lambda_url) = listen().await?;

        config.health.base_url = format!("{outside_url}/app");
        // Each environment before production is its own application.
        for (name, env) in config.environments.iter_mut() {
            env.health_base_url = format!("{outside_url}/env/{name}/app");
        }
        config.web.github_webhook_secret = None;
        config.web.slack_signing_secret = None;
        config.web.link_key = None;
        config.web.public_url = None;
        let config_toml = toml::to_string(&config)
            .map_err(|e| TwinError::Setup(format!("cannot write the configuration: {e}")))?;
        let service = &config.service;
        let seed = json!({
            "config_toml": config_toml,
            "secrets": {
                "github_webhook_secret": secrets.github_webhook_secret,
                "slack_signing_secret": secrets.slack_signing_secret,
                "slack_bot_token": secrets.slack_bot_token,
                "link_key": secrets.link_key,
                "status_page_token": secrets.status_page_token,
                "github_token": secrets.github_token,
                "pagerduty_routing_key": secrets.pagerduty_routing_key,
            },
            "ecs": {
                "cluster": service.cluster,
                "service": service.name.as_str(),
                "family": service.task_family,
                "container": service.container,
                "image": format!("{}:{}", service.image, shipgate_local::runtime::SEED_VERSION),
                "revision": shipgate_local::runtime::SEED_REVISION,
                "rollout_seconds": shipgate_local::ecs::DEFAULT_ROLLOUT_SECONDS,
                "desired_count": 2,
                "task_seconds": options.task_seconds,
                "stages": config.environments.values().map(|env| json!({
                    "cluster": env.cluster,
                    "service": env.service.as_str(),
                    "family": env.task_family.as_deref().unwrap_or(&service.task_family),
                })).collect::<Vec<_>>(),
            },
            "migration": service.migration.as_ref().map(|m| json!({
                "command": m.command,
                "reverse_command": m.reverse_command,
            })),
            "alarms": config.monitor.alarms,
        });
        let seed_path = options.work_dir.join("seed.json");
        std::fs::write(&seed_path, seed.to_string()).map_err(|e| TwinError::io(&seed_path, e))?;
        let launcher = Launcher::start(&LaunchOptions {
            python: options.python.clone(),
            script: options.launcher.clone(),
            template: options.template.clone(),
            parameters: options.parameters.clone(),
            seed: seed_path,
            edge_url: edge_url.clone(),
            clock_file: clock.file().to_path_buf(),
            stack_name: options.stack_name.clone(),
            overrides: parameters_of(&config)
                .into_iter()
                .chain([
                    ("StatusPageUrl".into(), format!("{outside_url}/status")),
                    ("GitHubApiUrl".into(), format!("{outside_url}/github")),
                    (
                        "PagerDutyEventsUrl".into(),
                        format!("{outside_url}/pagerduty"),
                    ),
                ])
                .collect(),
            log: options.work_dir.join("launcher.log"),
        })
        .await?;
        let manifest = Arc::new(launcher.manifest.clone());
        let control = launcher.control.clone();
        // The launcher's own set-up calls (its check that IAM is enforced) are not the stack's.
        let (_, set_up) = control.calls(0).await?;
        let calls = Arc::new(CallLog::default());

        let mut specs = Vec::new();
        for function in manifest.functions.values() {
            let mut environment: BTreeMap<String, String> = function.environment.clone();
            let twin: Vec<(String, String)> = vec![
                ("AWS_REGION".into(), manifest.region.clone()),
                ("AWS_DEFAULT_REGION".into(), manifest.region.clone()),
                (
                    "AWS_ACCESS_KEY_ID".into(),
                    function.credentials.access_key_id.clone(),
                ),
                (
                    "AWS_SECRET_ACCESS_KEY".into(),
                    function.credentials.secret_access_key.clone(),
                ),
                ("AWS_ENDPOINT_URL".into(), manifest.endpoint.clone()),
                ("AWS_ENDPOINT_URL_SFN".into(), sfn_url.clone()),
                ("AWS_ENDPOINT_URL_EVENTBRIDGE".into(), events_url.clone()),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
                ("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()),
                (
                    "SHIPGATE_SLACK_API_URL".into(),
                    format!("{outside_url}/slack/api"),
                ),
            ];
            environment.extend(twin);
            environment.extend(faketime_env(&faketime, clock.file()));
            specs.push(FunctionSpec {
                name: function.name.clone(),
                arn: function.arn.clone(),
                binary: options.bin_dir.join(&function.binary),
                timeout: std::time::Duration::from_secs(function.timeout.max(1)),
                memory: function.memory,
                environment,
                log: options.work_dir.join(format!("{}.log", function.name)),
            });
        }
        let lambda = Arc::new(LambdaService::new(specs, clock.clone()));

        let mut registry = LambdaRegistry::new();
        let machine_key = manifest
            .state_machine
            .credentials
            .as_ref()
            .map(|c| c.access_key_id.clone());
        for function in manifest.functions.values() {
            registry.register(
                &function.name,
                Arc::new(StateMachineInvoke {
                    lambda: lambda.clone(),
                    name: function.name.clone(),
                    control: control.clone(),
                    calls: calls.clone(),
                    caller: manifest.state_machine.name.clone(),
                    key: machine_key.clone(),
                    allowed: Mutex::new(None),
                }),
            );
        }
        let engine = Arc::new(
            Engine::new(
                Arc::new(MemoryExecutionStore::new()),
                Arc::new(registry),
                clock.engine_clock(),
            )
            .with_state_machine_name(&manifest.state_machine.name),
        );
        let outside = Arc::new(Outside::new(
            &secrets.slack_bot_token,
            &secrets.status_page_token,
            &secrets.github_token,
            &secrets.pagerduty_routing_key,
            &config.service.repository,
            control.clone(),
        ));
        let problems: Arc<Mutex<Vec<String>>> = Arc::default();
        let rules = Arc::new(Rules::new(
            manifest.clone(),
            calls.clone(),
            lambda.clone(),
            problems.clone(),
        ));
        let url_functions: Vec<String> = manifest
            .functions
            .values()
            .filter(|f| f.url.is_some())
            .map(|f| f.name.clone())
            .collect();
        let servers = vec![
            serve(
                sfn_listener,
                sfn_api::router(Arc::new(SfnApi {
                    engine: engine.clone(),
                    definition: manifest.state_machine.definition.clone(),
                    manifest: manifest.clone(),
                    control: control.clone(),
                    calls: calls.clone(),
                })),
            )
            .await,
            serve(
                edge_listener,
                edge::router(Arc::new(Edge {
                    lambda: lambda.clone(),
                    functions: url_functions,
                    clock: clock.clone(),
                    account: manifest.account.clone(),
                    region: manifest.region.clone(),
                })),
            )
            .await,
            serve(outside_listener, outside::router(outside.clone())).await,
            serve(
                lambda_listener,
                lambda_api::router(Arc::new(LambdaApi {
                    lambda: lambda.clone(),
                    manifest: manifest.clone(),
                    control: control.clone(),
                    calls: calls.clone(),
                })),
            )
            .await,
            serve(
                events_listener,
                events_api::router(Arc::new(EventsApi {
                    rules: rules.clone(),
                    manifest: manifest.clone(),
                    control: control.clone(),
                    calls: calls.clone(),
                    clock: clock.clone(),
                })),
            )
            .await,
        ];
        Ok(Stack {
            config,
            clock,
            engine,
            lambda,
            manifest,
            control,
            calls,
            outside,
            secrets,
            edge_url,
            events_url,
            sfn_url,
            slack_api_url: format!("{outside_url}/slack/api"),
            lambda_url,
            faketime,
            launcher: Some(launcher),
            moto_cursor: Mutex::new(set_up),
            schedules: Mutex::default(),
            problems,
            rules,
            _servers: servers,
        })
    }

    /// The environment a process run by the operator `user` (an IAM user of the twin's,
    /// `twin-reader` or `twin-approver`) needs to reach this stack as deployed: the user's
    /// credentials, the stack's endpoints and its clock.
    pub fn operator_env(&self, user: &str) -> Option<Vec<(String, String)>> {
        let operator = self.manifest.operators.get(user)?;
        let mut env = vec![
            ("AWS_REGION".into(), self.manifest.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.manifest.region.clone()),
            (
                "AWS_ACCESS_KEY_ID".into(),
                operator.credentials.access_key_id.clone(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                operator.credentials.secret_access_key.clone(),
            ),
            ("AWS_ENDPOINT_URL".into(), self.manifest.endpoint.clone()),
            ("AWS_ENDPOINT_URL_SFN".into(), self.sfn_url.clone()),
            (
                "AWS_ENDPOINT_URL_EVENTBRIDGE".into(),
                self.events_url.clone(),
            ),
            ("AWS_ENDPOINT_URL_LAMBDA".into(), self.lambda_url.clone()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("SHIPGATE_SLACK_API_URL".into(), self.slack_api_url.clone()),
        ];
        env.extend(faketime_env(&self.faketime, self.clock.file()));
        Some(env)
    }

    /// The function URL of the function with logical id `logical_id`.
    pub fn url_of(&self, logical_id: &str) -> Option<String> {
        self.manifest.functions.get(logical_id)?.url.clone()
    }

    fn problem(&self, text: String) {
        tracing::warn!("{text}");
        if let Ok(mut p) = self.problems.lock() {
            p.push(text);
        }
    }

    /// Runs everything due now until nothing more is: executions, schedules.
    pub async fn settle(&self) -> Result<(), TwinError> {
        for _ in 0..1000 {
            let resumed = self.engine.run_due().await?;
            let fired = self.fire_schedules().await?;
            if resumed == 0 && fired == 0 && !self.join_inflight().await {
                return self.sync_calls().await;
            }
        }
        Err(TwinError::Stuck(format!(
            "the stack does not settle at {}",
            self.clock.now()
        )))
    }

    /// Reads moto's IAM decisions into the call log.
    pub async fn sync_calls(&self) -> Result<(), TwinError> {
        let since = self.moto_cursor.lock().map(|c| *c).unwrap_or_default();
        let (calls, next) = self.control.calls(since).await?;
        for call in calls {
            if call.access_key_id == self.manifest.admin.access_key_id {
                continue;
            }
            let who = self
                .manifest
                .caller(&call.access_key_id)
                .unwrap_or_else(|| format!("unknown key {}", call.access_key_id));
            self.calls.record(&who, &call.action, call.allowed);
        }
        if let Ok(mut cursor) = self.moto_cursor.lock() {
            *cursor = next;
        }
        Ok(())
    }

    /// Fires every schedule due now; returns how many fired.
    async fn fire_schedules(&self) -> Result<usize, TwinError> {
        let now = self.clock.now();
        let schedules = self.control.schedules().await?;
        let mut due = Vec::new();
        {
            let Ok(mut tracked) = self.schedules.lock() else {
                return Ok(0);
            };
            let mut present = HashSet::new();
            for s in &schedules {
                let key = format!("{}/{}", s.group.clone().unwrap_or_default(), s.name);
                present.insert(key.clone());
                if s.state.as_deref().is_some_and(|st| st != "ENABLED") {
                    continue;
                }
                let entry = match tracked.get_mut(&key) {
                    Some(entry) => entry,
                    None => match Expression::parse(&s.expression, s.timezone.as_deref()) {
                        Ok(expression) => {
                            // A schedule is first seen just after it was created: anything
                            // due from "now" on fires.
                            let seen = now - chrono::Duration::seconds(1);
                            tracked.entry(key.clone()).or_insert(Tracked {
                                expression,
                                seen,
                                last: seen,
                            })
                        }
                        Err(e) => {
                            self.problem(e.to_string());
                            continue;
                        }
                    },
                };
                if let Some(at) = entry.expression.next_after(entry.last, entry.seen)
                    && at <= now
                {
                    entry.last = now;
                    due.push(s.clone());
                }
            }
            tracked.retain(|k, _| present.contains(k));
        }
        for s in &due {
            self.scheduler_invokes(
                &s.target.arn,
                s.target.role_arn.as_deref(),
                s.target.input.as_deref(),
                &s.name,
            )
            .await?;
        }
        Ok(due.len())
    }

    /// EventBridge Scheduler assuming the schedule's role to invoke its target.
    async fn scheduler_invokes(
        &self,
        target: &str,
        role_arn: Option<&str>,
        input: Option<&str>,
        schedule: &str,
    ) -> Result<(), TwinError> {
        let role = role_arn.and_then(|arn| self.manifest.role_by_arn(arn));
        let (who, allowed) = match role.and_then(|(id, r)| r.credentials.as_ref().map(|c| (id, c)))
        {
            Some((id, credentials)) => (
                id.clone(),
                self.control
                    .authorize(&credentials.access_key_id, "lambda:InvokeFunction")
                    .await?,
            ),
            None => (
                format!("scheduler ({})", role_arn.unwrap_or("no role")),
                false,
            ),
        };
        self.calls.record(&who, "lambda:InvokeFunction", allowed);
        if !allowed {
            self.problem(format!(
                "schedule {schedule} could not invoke {target}: its role {} may not call lambda:InvokeFunction",
                role_arn.unwrap_or("(none)")
            ));
            return Ok(());
        }
        let payload: Value = input
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_else(|| json!({}));
        self.invoke_async(target, payload, &format!("schedule {schedule}"))
            .await;
        Ok(())
    }

    async fn invoke_async(&self, target: &str, payload: Value, by: &str) {
        self.rules.invoke_async(target, payload, by).await;
    }

    async fn join_inflight(&self) -> bool {
        self.rules.join_inflight().await
    }

    /// The next moment something is due: an execution's timer or a schedule.
    pub async fn next_event(&self) -> Result<Option<DateTime<Utc>>, TwinError> {
        let mut next = self.engine.next_wake()?;
        let now = self.clock.now();
        if let Ok(tracked) = self.schedules.lock() {
            for t in tracked.values() {
                if let Some(at) = t.expression.next_after(t.last.max(now), t.seen) {
                    next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
                }
            }
        }
        Ok(next)
    }

    /// Sets a CloudWatch alarm's state in moto and delivers the state change to every
    /// EventBridge rule of the template that matches it.
    pub async fn set_alarm(
        &self,
        name: &str,
        state: &str,
        reason: &str,
    ) -> Result<usize, TwinError> {
        let detail = self.control.set_alarm(name, state, reason).await?;
        let detail = detail.get("alarm").cloned().unwrap_or(detail);
        let event = json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": self.manifest.account,
            "time": self.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": self.manifest.region,
            "resources": [detail.get("alarmArn").cloned().unwrap_or(Value::Null)],
            "detail": detail,
        });
        self.deliver(&event).await
    }

    /// EventBridge: `event` to the targets of every enabled rule it matches.
    pub async fn deliver(&self, event: &Value) -> Result<usize, TwinError> {
        Ok(self.rules.deliver(event).await)
    }

    pub fn executions(&self) -> Result<Vec<ExecutionDescription>, TwinError> {
        Ok(self.engine.list_executions()?)
    }

    /// Stops the processes, the servers and moto.
    pub async fn down(mut self) {
        self.lambda.shutdown();
        if let Some(launcher) = self.launcher.take() {
            launcher.stop().await;
        }
    }

    pub fn work_dir_of(options: &StackOptions) -> &Path {
        &options.work_dir
    }
}

/// The template's parameters that follow from the configuration: the staging service its
/// functions may deploy, and the image repository whose digests they read.
fn parameters_of(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(env) = config.environments.values().next() {
        out.push(("StagingClusterName".into(), env.cluster.clone()));
        out.push(("StagingServiceName".into(), env.service.to_string()));
        out.push((
            "StagingTaskFamily".into(),
            env.task_family
                .clone()
                .unwrap_or_else(|| config.service.task_family.clone()),
        ));
    }
    if let Some(image) =
        shipgate_aws::ecr::EcrImage::parse(&format!("{}:{}", config.service.image, "latest"))
    {
        out.push(("ImageRepositoryName".into(), image.repository));
    }
    out
}
