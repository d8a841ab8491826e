//! Wiring: the AWS SDK configuration (rustls with ring, timeouts, standard retries), and
//! each function's ports built from its environment. A function builds only the ports its
//! gate uses ([`shipgate_core::Gate::ports`]): one method per port here, one method per
//! function calling them, so a function's binary links only the SDK clients it calls.
//! The configuration and every secret a function's environment names are read in one
//! `GetParameters` call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use shipgate_core::config::{ConfigError, Secret};
use shipgate_core::github::GitHub;
use shipgate_core::ports::{
    Alarms, Clock, Deployer, HealthProbe, Notifier, ReleaseStore, RollbackRequests, TriggerLog,
    WindowScheduler, WorkflowError,
};
use shipgate_core::{Config, Deps, Gate};
use tracing::info;

use crate::cloudwatch::{CloudWatchAlarms, MetricsSource};
use crate::dynamo::DynamoReleaseStore;
use crate::ecs::EcsDeployer;
use crate::env::{ConfigSource, Env, EnvError};
use crate::events::EventBridgeRollbacks;
use crate::github::GitHubApi;
use crate::http::HttpsClient;
use crate::notify::{AwsNotifier, PagerDutyEvents, SesEmail, SlackApi, StatusPageApi, http_client};
use crate::probe::HttpsProbe;
use crate::scheduler::EventBridgeScheduler;
use crate::sdk::function_sdk_config;
use crate::sent::SentMarks;
use crate::sfn::StepFunctions;
use crate::ssm::{SecretError, SsmSecrets};
use crate::triggers::DynamoTriggerLog;

pub use shipgate_core::ports::BoxError;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Without a scheduler group, only the daily window schedule wakes the window gate.
pub struct DailyScheduleOnly;

#[async_trait]
impl WindowScheduler for DailyScheduleOnly {
    async fn wake_at(&self, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        info!(%at, "no one-time schedules configured; the daily window schedule will wake the window gate");
        Ok(())
    }
}

/// Why a function could not be wired at start-up.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error("the configuration or a secret could not be read from SSM")]
    Parameters(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the {what} client could not be built")]
    Client {
        what: &'static str,
        #[source]
        source: BoxError,
    },
}

/// What the trigger and callback functions serve with: the gates' dependencies, the
/// trigger's memory, and where manual rollbacks go.
pub struct Web {
    pub deps: Deps,
    pub triggers: Arc<dyn TriggerLog>,
    pub rollbacks: Arc<dyn RollbackRequests>,
}

/// A function's environment, SDK configuration, configuration and secrets; its ports are
/// built from these on demand.
pub struct Wiring {
    env: Env,
    sdk: SdkConfig,
    config: Arc<Config>,
    slack_token: Option<String>,
    status_page_token: Option<String>,
    github_token: Option<String>,
    pagerduty_routing_key: Option<String>,
    /// The HTTPS client of Slack, the status page, PagerDuty and GitHub: one per process,
    /// so the trusted roots are read once whichever of them a function calls.
    http: std::sync::OnceLock<HttpsClient>,
}

impl Wiring {
    /// From the function's environment: the configuration and secrets in one SSM call.
    pub async fn from_env() -> Result<Self, WiringError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let env = Env::from_map(&vars)?;
        let sdk = function_sdk_config(&vars)?;
        Self::new(env, sdk).await
    }

    pub async fn new(env: Env, sdk: SdkConfig) -> Result<Self, WiringError> {
        let mut names: Vec<&str> = Vec::new();
        if let ConfigSource::Parameter(name) = &env.config {
            names.push(name);
        }
        names.extend(
            [
                &env.github_secret_parameter,
                &env.slack_signing_secret_parameter,
                &env.link_key_parameter,
                &env.slack_token_parameter,
                &env.github_token_parameter,
                &env.pagerduty_routing_key_parameter,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
        if let Some((_, token)) = &env.status_page {
            names.push(token);
        }
        let mut values = if names.is_empty() {
            Default::default()
        } else {
            SsmSecrets::new(aws_sdk_ssm::Client::new(&sdk))
                .get_all(&names)
                .await?
        };
        let mut take = |name: &Option<String>| name.as_ref().and_then(|n| values.remove(n));
        let text = match &env.config {
            ConfigSource::Inline(text) => text.clone(),
            ConfigSource::Parameter(name) => take(&Some(name.clone())).unwrap_or_default(),
        };
        let mut config = Config::from_toml_str(&text)?;
        if let Some(url) = &env.health_base_url {
            config.health.base_url = url.clone();
        }
        if let Some(channel) = &env.slack_channel {
            config.notifications.slack_channel = channel.clone();
        }
        if let Some(url) = &env.public_url {
            config.web.public_url = Some(url.clone());
        }
        // The web secrets, from SSM SecureString parameters (never from the configuration text).
        config.web.github_webhook_secret = take(&env.github_secret_parameter).map(Secret::new);
        config.web.slack_signing_secret =
            take(&env.slack_signing_secret_parameter).map(Secret::new);
        if let Some(key) = take(&env.link_key_parameter) {
            config.web.link_key = Some(Secret::new(key));
        }
        let slack_token = take(&env.slack_token_parameter);
        let status_page_token = take(&env.status_page.as_ref().map(|(_, t)| t.clone()));
        let github_token = take(&env.github_token_parameter);
        let pagerduty_routing_key = take(&env.pagerduty_routing_key_parameter);
        Ok(Wiring {
            env,
            sdk,
            config: Arc::new(config),
            slack_token,
            status_page_token,
            github_token,
            pagerduty_routing_key,
            http: std::sync::OnceLock::new(),
        })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The configuration and the clock; every port unwired.
    fn base(&self) -> Deps {
        Deps::new(self.config.clone(), Arc::new(SystemClock))
    }

    // ---------------------------------------------------------------- one method per port

    pub fn store(&self) -> Arc<dyn ReleaseStore> {
        Arc::new(DynamoReleaseStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.env.table,
        ))
    }

    pub fn deployer(&self) -> Arc<dyn Deployer> {
        let deployer = EcsDeployer::new(aws_sdk_ecs::Client::new(&self.sdk));
        // With the image's repository named (and ecr:DescribeImages granted on it),
        // releases deploy by digest.
        Arc::new(match &self.env.image_repository {
            Some(_) => deployer.with_registry(crate::ecr::EcrImages::new(
                aws_sdk_ecr::Client::new(&self.sdk),
            )),
            None => deployer,
        })
    }

    pub fn health(&self) -> Result<Arc<dyn HealthProbe>, WiringError> {
        let timeout = Duration::from_secs(u64::from(self.config.health.timeout_seconds.max(1)));
        let probe = HttpsProbe::with_timeout(timeout).map_err(|e| WiringError::Client {
            what: "health probe",
            source: Box::new(e),
        })?;
        Ok(Arc::new(probe))
    }

    pub fn alarms(&self) -> Arc<dyn Alarms> {
        let metrics = self
            .env
            .load_balancer
            .as_deref()
            .map(|lb| MetricsSource::load_balancer(lb, self.env.target_group.as_deref()));
        Arc::new(CloudWatchAlarms::new(
            aws_sdk_cloudwatch::Client::new(&self.sdk),
            metrics,
        ))
    }

    pub fn notifier(&self) -> Result<Arc<dyn Notifier>, WiringError> {
        let http = self.http()?;
        let slack = self
            .slack_token
            .as_ref()
            .map(|token| SlackApi::new(http.clone(), &self.env.slack_api_url, token.clone()));
        let status_page = match (&self.env.status_page, &self.status_page_token) {
            (Some((url, _)), Some(token)) => {
                Some(StatusPageApi::new(http.clone(), url, token.clone()))
            }
            _ => None,
        };
        let email = self
            .env
            .email_from
            .as_ref()
            .map(|from| SesEmail::new(aws_sdk_sesv2::Client::new(&self.sdk), from));
        let pagerduty = self.pagerduty_routing_key.as_ref().map(|key| {
            PagerDutyEvents::new(http.clone(), &self.env.pagerduty_events_url, key.clone())
        });
        Ok(Arc::new(AwsNotifier {
            email,
            slack,
            status_page,
            pagerduty,
            sent: Some(SentMarks::new(
                aws_sdk_dynamodb::Client::new(&self.sdk),
                &self.env.table,
            )),
        }))
    }

    /// The process's HTTPS client for the APIs outside AWS (built once, shared by clones).
    fn http(&self) -> Result<HttpsClient, WiringError> {
        if let Some(http) = self.http.get() {
            return Ok(http.clone());
        }
        let http = http_client(Duration::from_secs(10)).map_err(|source| WiringError::Client {
            what: "HTTPS",
            source,
        })?;
        Ok(self.http.get_or_init(|| http).clone())
    }

    /// GitHub's REST API on `service.repository`, with the token from SSM (without one,
    /// every call is answered 401 and nothing is sent).
    pub fn github(&self) -> Result<Arc<dyn GitHub>, WiringError> {
        let http = self.http()?;
        Ok(Arc::new(GitHubApi::new(
            http,
            &self.env.github_api_url,
            &self.config.service.repository,
            self.github_token.clone(),
        )))
    }

    /// Task tokens and executions: one Step Functions client.
    pub fn workflow(&self) -> Arc<StepFunctions> {
        Arc::new(StepFunctions::new(
            aws_sdk_sfn::Client::new(&self.sdk),
            &self.env.state_machine_arn,
        ))
    }

    pub fn scheduler(&self) -> Arc<dyn WindowScheduler> {
        match &self.env.scheduler {
            Some(s) => {
                let scheduler = EventBridgeScheduler::new(
                    aws_sdk_scheduler::Client::new(&self.sdk),
                    &s.group,
                    &s.window_function_arn,
                    &s.role_arn,
                );
                Arc::new(match &s.approve_function_arn {
                    Some(arn) => scheduler.with_approve_function(arn),
                    None => scheduler,
                })
            }
            None => Arc::new(DailyScheduleOnly),
        }
    }

    pub fn trigger_log(&self) -> Arc<dyn TriggerLog> {
        Arc::new(DynamoTriggerLog::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.env.table,
        ))
    }

    pub fn rollback_requests(&self) -> Arc<dyn RollbackRequests> {
        Arc::new(EventBridgeRollbacks::new(
            aws_sdk_eventbridge::Client::new(&self.sdk),
            &self.env.state_machine_arn,
        ))
    }

    // ---------------------------------------------------------- one method per function

    pub fn approve(&self) -> Result<Deps, WiringError> {
        Ok(self
            .base()
            .with_store(self.store())
            .with_notifier(self.notifier()?)
            .with_scheduler(self.scheduler())
            .with_github(self.github()?))
    }

    pub fn window(&self) -> Result<Deps, WiringError> {
        let workflow = self.workflow();
        Ok(self
            .base()
            .with_store(self.store())
            .with_notifier(self.notifier()?)
            .with_scheduler(self.scheduler())
            .with_tokens(workflow.clone())
            .with_executions(workflow))
    }

    pub fn deploy(&self) -> Result<Deps, WiringError> {
        Ok(self
            .base()
            .with_store(self.store())
            .with_deployer(self.deployer())
            .with_notifier(self.notifier()?)
            .with_github(self.github()?))
    }

    pub fn health_check(&self) -> Result<Deps, WiringError> {
        Ok(self
            .base()
            .with_store(self.store())
            .with_health(self.health()?))
    }

    pub fn monitor(&self) -> Result<Deps, WiringError> {
        Ok(self
            .base()
            .with_store(self.store())
            .with_alarms(self.alarms()))
    }

    pub fn rollback(&self) -> Result<Deps, WiringError> {
        Ok(self
            .base()
            .with_store(self.store())
            .with_deployer(self.deployer())
            .with_health(self.health()?)
            .with_executions(self.workflow())
            .with_github(self.github()?))
    }

    pub fn announce(&self) -> Result<Deps, WiringError> {
        Ok(self
            .base()
            .with_store(self.store())
            .with_deployer(self.deployer())
            .with_notifier(self.notifier()?)
            .with_tokens(self.workflow())
            .with_github(self.github()?))
    }

    /// The GitHub webhook: opens releases and starts their executions.
    pub fn trigger(&self) -> Web {
        let workflow = self.workflow();
        Web {
            deps: self
                .base()
                .with_store(self.store())
                .with_tokens(workflow.clone())
                .with_executions(workflow),
            triggers: self.trigger_log(),
            rollbacks: Arc::new(shipgate_core::deps::NotWiredRollbacks),
        }
    }

    /// Links, Slack buttons and the dashboard: decisions resume the approval wait; a
    /// rollback is handed to the rollback function as an event.
    pub fn callback(&self) -> Result<Web, WiringError> {
        Ok(Web {
            deps: self
                .base()
                .with_store(self.store())
                .with_notifier(self.notifier()?)
                .with_tokens(self.workflow()),
            triggers: Arc::new(shipgate_core::deps::NotWiredTriggerLog),
            rollbacks: self.rollback_requests(),
        })
    }

    /// A person at a terminal (`shipgate --stack`): every port, with their credentials.
    pub fn every_port(&self) -> Result<Deps, WiringError> {
        let workflow = self.workflow();
        Ok(self
            .base()
            .with_store(self.store())
            .with_deployer(self.deployer())
            .with_health(self.health()?)
            .with_alarms(self.alarms())
            .with_notifier(self.notifier()?)
            .with_tokens(workflow.clone())
            .with_executions(workflow)
            .with_scheduler(self.scheduler())
            .with_github(self.github()?))
    }

    /// The wiring of `gate`'s function, by name (for tests; a function calls its own).
    pub fn gate(&self, gate: Gate) -> Result<Deps, WiringError> {
        match gate {
            Gate::Approve => self.approve(),
            Gate::Window => self.window(),
            Gate::Deploy => self.deploy(),
            Gate::HealthCheck => self.health_check(),
            Gate::Monitor => self.monitor(),
            Gate::Rollback => self.rollback(),
            Gate::Announce => self.announce(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_config::{BehaviorVersion, Region};
    use shipgate_core::Port;

    use super::*;

    async fn wiring() -> Wiring {
        let vars: HashMap<String, String> = [
            ("SHIPGATE_CONFIG", include_str!("../../../shipgate.toml")),
            ("SHIPGATE_TABLE", "shipgate"),
            (
                "SHIPGATE_STATE_MACHINE_ARN",
                "arn:aws:states:us-east-1:123456789012:stateMachine:shipgate-release",
            ),
            ("SHIPGATE_EMAIL_FROM", "shipgate@example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = Env::from_map(&vars).unwrap();
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        // Inline configuration and no secret parameters: nothing is read from SSM.
        Wiring::new(env, sdk).await.unwrap()
    }

    fn sorted(ports: &[Port]) -> Vec<Port> {
        let mut ports = ports.to_vec();
        ports.sort();
        ports
    }

    #[tokio::test]
    async fn given_each_gate_function_when_wired_then_it_has_exactly_the_ports_its_gate_declares() {
        let wiring = wiring().await;
        for gate in Gate::ALL {
            let deps = wiring.gate(gate).unwrap();
            assert_eq!(deps.wired(), sorted(gate.ports()), "{}", gate.name());
        }
    }

    #[tokio::test]
    async fn given_the_web_functions_when_wired_then_they_have_only_what_their_routes_use() {
        let wiring = wiring().await;
        let trigger = wiring.trigger();
        // Pushes start executions; check reports wake the evidence waits.
        assert_eq!(
            trigger.deps.wired(),
            [Port::Store, Port::Tokens, Port::Executions]
        );
        let callback = wiring.callback().unwrap();
        assert_eq!(
            callback.deps.wired(),
            [Port::Store, Port::Notifier, Port::Tokens]
        );
        // What is not wired answers with a misconfiguration, never silently.
        let err = trigger
            .deps
            .deployer
            .current_task_definition(&trigger.deps.target())
            .await
            .unwrap_err();
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            cause.is_some_and(|c| c.contains("deployer port is not wired")),
            "{err:?}"
        );
        assert_eq!(trigger.deps.unwired_reached(), [Port::Deployer]);
    }
}
