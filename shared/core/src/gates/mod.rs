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
pub mod monitor;
pub mod rollback;
pub mod window;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::deps::Deps;
use crate::error::GateError;
use crate::gate::Gate;

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
mod tests;
