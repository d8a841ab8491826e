//! EventBridge: a manual rollback asked for through a link, Slack or the CLI travels as an
//! event (`source` [`ROLLBACK_EVENT_SOURCE`], `detail-type` [`ROLLBACK_EVENT_DETAIL_TYPE`],
//! the stack's state machine as its resource) to the rollback function, by a rule of the
//! template — the path an alarm's state change takes. EventBridge retries a delivery that
//! fails; the rollback itself is exactly once (a conditional write moves the release to
//! `RollingBack`).

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;
use shipgate_core::ports::{
    Handed, ROLLBACK_EVENT_DETAIL_TYPE, ROLLBACK_EVENT_SOURCE, RollbackRequest, RollbackRequests,
    WorkflowError,
};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("EventBridge refused the rollback request: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("the rollback request is not a rollback request event: {0}")]
    NotARequest(String),
}

/// Puts rollback requests on the default event bus.
pub struct EventBridgeRollbacks {
    client: Client,
    /// The stack's state machine: the event's resource, which the stack's rule matches (one
    /// account's default bus may carry several stacks' requests).
    state_machine_arn: String,
}

impl EventBridgeRollbacks {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }
}

#[async_trait]
impl RollbackRequests for EventBridgeRollbacks {
    async fn request(&self, request: &RollbackRequest) -> Result<Handed, WorkflowError> {
        let detail =
            serde_json::to_string(request).map_err(|e| WorkflowError::Backend(Box::new(e)))?;
        let out = self
            .client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .source(ROLLBACK_EVENT_SOURCE)
                    .detail_type(ROLLBACK_EVENT_DETAIL_TYPE)
                    .resources(&self.state_machine_arn)
                    .detail(detail)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| WorkflowError::Backend(Box::new(e)))?;
        // PutEvents answers 200 even when an entry failed: the entry says.
        if out.failed_entry_count() > 0 {
            let entry = out.entries().first();
            return Err(WorkflowError::Backend(Box::new(EventsError::Refused {
                code: entry
                    .and_then(|e| e.error_code())
                    .unwrap_or("unknown")
                    .to_string(),
                message: entry
                    .and_then(|e| e.error_message())
                    .unwrap_or("")
                    .to_string(),
            })));
        }
        Ok(Handed::Queued)
    }
}

/// The request an EventBridge event carries, if `payload` is a rollback request event.
pub fn rollback_request_of(payload: &Value) -> Option<Result<RollbackRequest, EventsError>> {
    let is_request = payload.get("source").and_then(Value::as_str) == Some(ROLLBACK_EVENT_SOURCE)
        && payload.get("detail-type").and_then(Value::as_str) == Some(ROLLBACK_EVENT_DETAIL_TYPE);
    if !is_request {
        return None;
    }
    let detail = payload.get("detail").cloned().unwrap_or(Value::Null);
    Some(serde_json::from_value(detail).map_err(|e| EventsError::NotARequest(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_events_of_several_kinds_when_read_then_a_rollback_request_is_told_apart_and_read() {
        let request = RollbackRequest {
            release_id: "api-1.3.0-abc1234".parse().unwrap(),
            actor: "lee".into(),
            reason: "signups broken".into(),
            via: "their rollback link".into(),
        };
        let event = json!({
            "version": "0", "id": "x", "source": "shipgate",
            "detail-type": "Manual Rollback Requested",
            "detail": serde_json::to_value(&request).unwrap(),
        });
        assert_eq!(rollback_request_of(&event).unwrap().unwrap(), request);
        let alarm =
            json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change"});
        assert!(rollback_request_of(&alarm).is_none());
        let garbled = json!({"source": "shipgate", "detail-type": "Manual Rollback Requested", "detail": {"release_id": 3}});
        assert!(matches!(
            rollback_request_of(&garbled),
            Some(Err(EventsError::NotARequest(_)))
        ));
    }
}
