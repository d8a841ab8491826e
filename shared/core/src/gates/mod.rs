//! The gates: what each step of the pipeline does to a release. Each gate is one Lambda
//! function in production and one in-process function locally; both call [`invoke`] (or
//! the gate's own `handle`) with the payload `statemachine.json` gives it.
//!
//! The flow between gates is not here: it is `statemachine.json`. A gate checks the
//! release is where it expects, does its work, and records the outcome with a conditional
//! write; run twice, it does no harm.

pub mod announce;
pub mod approve;
pub mod deploy;
pub mod health;
pub mod messages;
pub mod monitor;
pub mod order;
pub mod releases;
pub mod rollback;
pub mod window;

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Config;
use crate::error::GateError;
use crate::model::{Release, ReleaseId, ReleaseState};
use crate::ports::{
    Alarms, Clock, DeployTarget, Deployer, Executions, HealthProbe, Notifier, ReleaseStore,
    TaskTokens, WindowScheduler, Workers,
};

/// Everything a gate may use, as trait objects.
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub store: Arc<dyn ReleaseStore>,
    pub deployer: Arc<dyn Deployer>,
    pub health: Arc<dyn HealthProbe>,
    pub alarms: Arc<dyn Alarms>,
    pub notifier: Arc<dyn Notifier>,
    pub tokens: Arc<dyn TaskTokens>,
    pub executions: Arc<dyn Executions>,
    pub scheduler: Arc<dyn WindowScheduler>,
    pub clock: Arc<dyn Clock>,
    pub workers: Arc<dyn Workers>,
}

impl Deps {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn target(&self) -> DeployTarget {
        DeployTarget {
            cluster: self.config.service.cluster.clone(),
            service: self.config.service.name.to_string(),
        }
    }

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

/// The gates as Lambda functions, by the name of their function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    Approve,
    Window,
    Deploy,
    HealthCheck,
    Monitor,
    Rollback,
    Announce,
}

impl Gate {
    pub const ALL: [Gate; 7] = [
        Gate::Approve,
        Gate::Window,
        Gate::Deploy,
        Gate::HealthCheck,
        Gate::Monitor,
        Gate::Rollback,
        Gate::Announce,
    ];

    /// The function's name, as in `functions/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Gate::Approve => "approve",
            Gate::Window => "window",
            Gate::Deploy => "deploy",
            Gate::HealthCheck => "health-check",
            Gate::Monitor => "monitor",
            Gate::Rollback => "rollback",
            Gate::Announce => "announce",
        }
    }

    /// The `${...}` placeholder `statemachine.json` uses for the function's ARN.
    pub fn placeholder(self) -> &'static str {
        match self {
            Gate::Approve => "${ApproveFunctionArn}",
            Gate::Window => "${WindowFunctionArn}",
            Gate::Deploy => "${DeployFunctionArn}",
            Gate::HealthCheck => "${HealthCheckFunctionArn}",
            Gate::Monitor => "${MonitorFunctionArn}",
            Gate::Rollback => "${RollbackFunctionArn}",
            Gate::Announce => "${AnnounceFunctionArn}",
        }
    }
}

impl FromStr for Gate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gate::ALL
            .into_iter()
            .find(|g| g.name() == s || g.placeholder() == s)
            .ok_or_else(|| format!("`{s}` is not a gate"))
    }
}

/// Runs a gate on a JSON payload, as its Lambda function would.
pub async fn invoke(deps: &Deps, gate: Gate, payload: Value) -> Result<Value, GateError> {
    match gate {
        Gate::Approve => json(approve::handle(deps, parse(payload)?).await),
        Gate::Window => json(window::handle(deps, parse(payload)?).await),
        Gate::Deploy => json(deploy::handle(deps, parse(payload)?).await),
        Gate::HealthCheck => json(health::handle(deps, parse(payload)?).await),
        Gate::Monitor => json(monitor::handle(deps, parse(payload)?).await),
        Gate::Rollback => json(rollback::handle(deps, parse(payload)?).await),
        Gate::Announce => json(announce::handle(deps, parse(payload)?).await),
    }
}

pub(crate) fn parse<T: DeserializeOwned>(payload: Value) -> Result<T, GateError> {
    serde_json::from_value(payload).map_err(|e| GateError::InvalidInput(e.to_string()))
}

fn json<T: Serialize>(result: Result<T, GateError>) -> Result<Value, GateError> {
    let value = result?;
    serde_json::to_value(value)
        .map_err(|e| GateError::InvalidInput(format!("unserialisable output: {e}")))
}

/// The error a gate reports when it finds the release somewhere it does not act.
pub(crate) fn wrong_state(release: &Release, expected: &str) -> GateError {
    GateError::InvalidState {
        release: release.id.to_string(),
        state: release.state.to_string(),
        expected: expected.to_string(),
    }
}

/// The error gates after deploy raise when someone rolled the release back meanwhile
/// (a manual rollback, or the alarm event), so the flow goes to rollback and announce.
pub(crate) fn rolled_back_elsewhere(release: &Release) -> Option<GateError> {
    matches!(
        release.state,
        ReleaseState::RollingBack | ReleaseState::RolledBack
    )
    .then(|| {
        GateError::RollbackRequested(format!(
            "release {} is {} ({})",
            release.id,
            release.state,
            release.outcome.clone().unwrap_or_default()
        ))
    })
}

/// `Catch` hands the caught error on as `{"Error": .., "Cause": ..}`; either may be null.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: Option<String>,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl CaughtError {
    /// The cause in plain words: Lambda wraps a function's error as a JSON document.
    pub fn summary(&self) -> String {
        let error = self
            .error
            .clone()
            .unwrap_or_else(|| "an unnamed error".into());
        let cause = self.cause.clone().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&cause)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or(cause);
        if message.is_empty() {
            error
        } else {
            format!("{error}: {message}")
        }
    }
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
