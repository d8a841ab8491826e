//! The gates as Lambda handlers: the payload `statemachine.json` sends, and errors whose
//! `errorType` is exactly the name the definition matches.

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use shipgate_core::GateError;
use shipgate_core::gates::{self, Deps, Gate, releases, rollback};

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

/// Runs `gate` on the payload.
pub async fn gate(deps: &Deps, gate: Gate, payload: Value) -> Result<Value, GateFailure> {
    gates::invoke(deps, gate, payload)
        .await
        .map_err(GateFailure)
}

/// The rollback function: from the flow (a `Catch`), an EventBridge "CloudWatch Alarm
/// State Change" event, or a person's "Manual Rollback Requested" event. For an alarm, the
/// release live on the service is rolled back; for a request, the release it names —
/// exactly once, however often the event is delivered.
pub async fn rollback(deps: &Deps, payload: Value) -> Result<Value, GateFailure> {
    if let Some(request) = crate::events::rollback_request_of(&payload) {
        let request = request.map_err(|e| GateFailure(GateError::InvalidInput(e.to_string())))?;
        let handed = releases::perform_rollback_request(deps, &request)
            .await
            .map_err(GateFailure)?;
        return Ok(json!({ "release_id": request.release_id, "handed": handed }));
    }
    if payload.get("detail-type").and_then(Value::as_str) != Some("CloudWatch Alarm State Change") {
        return gate(deps, Gate::Rollback, payload).await;
    }
    let event: EventBridgeEvent<CloudWatchAlarmData<Value, Value>> =
        serde_json::from_value(payload).map_err(|e| {
            GateFailure(GateError::InvalidInput(format!(
                "not a CloudWatch alarm state change event: {e}"
            )))
        })?;
    let alarm = event.detail.alarm_name.clone();
    let Some(state) = &event.detail.state else {
        return Err(GateFailure(GateError::InvalidInput(format!(
            "alarm event for {alarm} has no state"
        ))));
    };
    if state.value != CloudWatchAlarmStateValue::Alarm {
        return Ok(
            json!({ "rolled_back": null, "ignored": format!("{alarm} changed to {:?}, not ALARM", state.value) }),
        );
    }
    let reason = state.reason.clone();
    let rolled = rollback::on_alarm(deps, &alarm, &reason)
        .await
        .map_err(GateFailure)?;
    Ok(json!({ "rolled_back": rolled.map(|r| r.id), "alarm": alarm }))
}
