//! Wiring: the AWS SDK configuration (rustls with ring, timeouts, standard retries) and the
//! gates' dependencies built from a function's environment.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use chrono::{DateTime, Utc};
use shipgate_core::Config;
use shipgate_core::config::Secret;
use shipgate_core::gates::Deps;
use shipgate_core::ports::{Clock, RollbackRequests, TriggerLog, WindowScheduler, WorkflowError};
use tracing::info;

use crate::cloudwatch::{CloudWatchAlarms, MetricsSource};
use crate::dynamo::DynamoReleaseStore;
use crate::ecs::EcsDeployer;
use crate::env::{ConfigSource, Env};
use crate::events::EventBridgeRollbacks;
use crate::notify::{AwsNotifier, SesEmail, SlackApi, StatusPageApi, http_client};
use crate::probe::HttpsProbe;
use crate::scheduler::EventBridgeScheduler;
use crate::sent::SentMarks;
use crate::sfn::StepFunctions;
use crate::ssm::SsmSecrets;
use crate::triggers::DynamoTriggerLog;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The SDK configuration every client shares: rustls with ring (no second TLS stack),
/// a timeout on every call, and the standard retry mode (throttling is retried with backoff).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(sdk_http_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .load()
        .await
}

/// The SDK's HTTP client: hyper with rustls and ring.
pub fn sdk_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

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

/// Everything the gates need, from the function's environment.
pub async fn deps_from_env() -> Result<Deps, BoxError> {
    let env = Env::from_env()?;
    let sdk = sdk_config().await;
    deps_from(&env, &sdk).await
}

/// What the trigger and callback functions serve with: the gates' dependencies, the
/// trigger's memory, and where manual rollbacks go.
pub struct Web {
    pub deps: Deps,
    pub triggers: Arc<dyn TriggerLog>,
    pub rollbacks: Arc<dyn RollbackRequests>,
}

/// [`Web`] from the function's environment.
pub async fn web_from_env() -> Result<Web, BoxError> {
    let env = Env::from_env()?;
    let sdk = sdk_config().await;
    let deps = deps_from(&env, &sdk).await?;
    let triggers = Arc::new(DynamoTriggerLog::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &env.table,
    ));
    let rollbacks = Arc::new(EventBridgeRollbacks::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        &env.state_machine_arn,
    ));
    Ok(Web {
        deps,
        triggers,
        rollbacks,
    })
}

pub async fn deps_from(env: &Env, sdk: &SdkConfig) -> Result<Deps, BoxError> {
    let secrets = SsmSecrets::new(aws_sdk_ssm::Client::new(sdk));
    let text = match &env.config {
        ConfigSource::Inline(text) => text.clone(),
        ConfigSource::Parameter(name) => secrets.get(name).await?,
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
    if let Some(name) = &env.github_secret_parameter {
        config.web.github_webhook_secret = Some(Secret::new(secrets.get(name).await?));
    }
    if let Some(name) = &env.slack_signing_secret_parameter {
        config.web.slack_signing_secret = Some(Secret::new(secrets.get(name).await?));
    }
    if let Some(name) = &env.link_key_parameter {
        config.web.link_key = Some(Secret::new(secrets.get(name).await?));
    }
    let timeout = Duration::from_secs(u64::from(config.health.timeout_seconds.max(1)));
    let http = http_client(Duration::from_secs(10))?;
    let slack = match &env.slack_token_parameter {
        Some(name) => Some(SlackApi::new(
            http.clone(),
            &env.slack_api_url,
            secrets.get(name).await?,
        )),
        None => None,
    };
    let status_page = match &env.status_page {
        Some((url, token)) => Some(StatusPageApi::new(
            http.clone(),
            url,
            secrets.get(token).await?,
        )),
        None => None,
    };
    let email = env
        .email_from
        .as_ref()
        .map(|from| SesEmail::new(aws_sdk_sesv2::Client::new(sdk), from));
    let workflow = Arc::new(StepFunctions::new(
        aws_sdk_sfn::Client::new(sdk),
        &env.state_machine_arn,
    ));
    let scheduler: Arc<dyn WindowScheduler> = match &env.scheduler {
        Some(s) => {
            let scheduler = EventBridgeScheduler::new(
                aws_sdk_scheduler::Client::new(sdk),
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
    };
    let metrics = env
        .load_balancer
        .as_deref()
        .map(|lb| MetricsSource::load_balancer(lb, env.target_group.as_deref()));
    Ok(Deps {
        config: Arc::new(config),
        store: Arc::new(DynamoReleaseStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &env.table,
        )),
        deployer: Arc::new(EcsDeployer::new(aws_sdk_ecs::Client::new(sdk))),
        health: Arc::new(HttpsProbe::with_timeout(timeout)?),
        alarms: Arc::new(CloudWatchAlarms::new(
            aws_sdk_cloudwatch::Client::new(sdk),
            metrics,
        )),
        notifier: Arc::new(AwsNotifier {
            email,
            slack,
            status_page,
            sent: Some(SentMarks::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &env.table,
            )),
        }),
        tokens: workflow.clone(),
        executions: workflow,
        scheduler,
        clock: Arc::new(SystemClock),
        workers: Arc::new(shipgate_core::ports::UnknownWorkers::default()),
    })
}
