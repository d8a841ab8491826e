//! Execution history: AWS Step Functions event types, each event with an id, the id of the
//! previous event of the same branch (`previous_event_id`, 0 for none), the clock time and
//! event-specific details (field names as in AWS's `…EventDetails`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The AWS history event types this engine emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum HistoryEventType {
    ExecutionStarted,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionTimedOut,
    ExecutionAborted,
    PassStateEntered,
    PassStateExited,
    TaskStateEntered,
    TaskScheduled,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    TaskFailed,
    TaskTimedOut,
    TaskStateExited,
    ChoiceStateEntered,
    ChoiceStateExited,
    WaitStateEntered,
    WaitStateExited,
    ParallelStateEntered,
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    ParallelStateExited,
    MapStateEntered,
    MapStateStarted,
    MapIterationStarted,
    MapIterationSucceeded,
    MapIterationFailed,
    MapStateSucceeded,
    MapStateFailed,
    MapStateExited,
    FailStateEntered,
    SucceedStateEntered,
    SucceedStateExited,
}

impl std::fmt::Display for HistoryEventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// One history event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// 1-based, in emission order.
    pub id: u64,
    /// The previous event of the same branch of execution; 0 for the first event.
    pub previous_event_id: u64,
    /// Clock time of the event.
    pub timestamp: DateTime<Utc>,
    /// AWS event type.
    #[serde(rename = "type")]
    pub event_type: HistoryEventType,
    /// Event details, e.g. `{"name": "Deploy", "input": …}` for a state-entered event.
    pub details: Value,
}
