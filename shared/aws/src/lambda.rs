//! The Lambda entry points: a gate's typed handler served with errors whose `errorType` is
//! exactly the name `statemachine.json` matches, and the rollback function's three kinds of
//! event.

use std::future::Future;

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::tracing::subscriber::filter::LevelFilter;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shipgate_core::gates::rollback as rollback_gate;
use shipgate_core::{Deps, GateError, releases, restore};

pub use lambda_runtime::Error;

/// A gate's error as Lambda reports it.
#[derive(Debug)]
pub struct GateFailure(pub GateError);

impl From<GateFailure> for Diagnostic {
    fn from(failure: GateFailure) -> Self {
        Diagnostic {
            error_type: failure.0.error_type().to_string(),
            error_message: failure.0.describe(),
        }
    }
}

/// Logs as Lambda's logging controls ask: JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the
/// template's `LoggingConfig`), at the level of `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
/// INFO. A level, not a filter of directives: parsing those links a regular-expression
/// engine into every function for nothing a function logs.
pub fn init_tracing() {
    use lambda_runtime::tracing::subscriber::fmt;

    let var = |name| std::env::var(name).ok();
    let level = log_level(var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG")));
    let logs = fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    // A subscriber set already (a test) stays.
    let _ = if var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
}

/// The level a function logs at: a level name in any case, else INFO.
fn log_level(setting: Option<String>) -> LevelFilter {
    setting
        .and_then(|level| level.trim().parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Serves `handler` on every invocation. A payload that is not an `I` is `Gate.InvalidInput`
/// (named, not a runtime unmarshal error), like every other refusal of the gate.
pub async fn serve<I, O, F, Fut>(handler: F) -> Result<(), Error>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, GateError>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let input = serde_json::from_value(event.payload)
            .map_err(|e| GateFailure(GateError::InvalidInput(e.to_string())))?;
        handler(input).await.map_err(GateFailure)
    }))
    .await
}

/// The rollback function: from the flow (a `Catch`, or the `VerifyRestore` loop), an
/// EventBridge "CloudWatch Alarm State Change" event, or a person's "Manual Rollback
/// Requested" event. For an alarm, the release live on the service is rolled back; for a
/// request, the release it names — exactly once, however often the event is delivered.
pub async fn rollback(deps: &Deps, payload: Value) -> Result<Value, GateError> {
    if let Some(request) = crate::events::rollback_request_of(&payload) {
        let request = request.map_err(|e| GateError::InvalidInput(e.to_string()))?;
        let handed = releases::perform_rollback_request(deps, &request).await?;
        return Ok(json!({ "release_id": request.release_id, "handed": handed }));
    }
    if payload.get("detail-type").and_then(Value::as_str) != Some("CloudWatch Alarm State Change") {
        let input: rollback_gate::Input =
            serde_json::from_value(payload).map_err(|e| GateError::InvalidInput(e.to_string()))?;
        let output = rollback_gate::handle(deps, input).await?;
        return serde_json::to_value(output)
            .map_err(|e| GateError::InvalidInput(format!("unserialisable output: {e}")));
    }
    let event: EventBridgeEvent<CloudWatchAlarmData<Value, Value>> =
        serde_json::from_value(payload).map_err(|e| {
            GateError::InvalidInput(format!("not a CloudWatch alarm state change event: {e}"))
        })?;
    let alarm = event.detail.alarm_name.clone();
    let Some(state) = &event.detail.state else {
        return Err(GateError::InvalidInput(format!(
            "alarm event for {alarm} has no state"
        )));
    };
    if state.value != CloudWatchAlarmStateValue::Alarm {
        return Ok(
            json!({ "rolled_back": null, "ignored": format!("{alarm} changed to {:?}, not ALARM", state.value) }),
        );
    }
    let reason = state.reason.clone();
    let rolled = restore::on_alarm(deps, &alarm, &reason).await?;
    Ok(json!({ "rolled_back": rolled.map(|r| r.id), "alarm": alarm }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_lambda_log_settings_when_read_then_a_level_or_info() {
        assert_eq!(log_level(Some("DEBUG".into())), LevelFilter::DEBUG);
        assert_eq!(log_level(Some(" warn ".into())), LevelFilter::WARN);
        assert_eq!(log_level(Some("shipgate=debug".into())), LevelFilter::INFO);
        assert_eq!(log_level(None), LevelFilter::INFO);
    }
}
