//! Serde model of a States Language definition (JSONPath query language).
//!
//! Parsing is lenient about extra fields (the [`crate::validate`] module reports unknown
//! fields with JSON pointers from the raw JSON); it only fails on wrong types. Fields shared
//! by several state types live in [`Common`], flattened into each state. Path fields use
//! [`PathField`], which keeps the three meanings apart: absent (default `$`), `null` (discard
//! / empty object) and a path.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A path-valued field that may be absent, `null`, or a path string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum PathField {
    /// Not present: the default (`$`) applies.
    #[default]
    Absent,
    /// Present and `null`.
    Null,
    /// A path string.
    Path(String),
}

impl<'de> Deserialize<'de> for PathField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<String>::deserialize(d)? {
            None => PathField::Null,
            Some(p) => PathField::Path(p),
        })
    }
}

impl Serialize for PathField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PathField::Absent | PathField::Null => s.serialize_none(),
            PathField::Path(p) => s.serialize_str(p),
        }
    }
}

/// Deserializes a field so that an explicit `null` becomes `Some(Value::Null)`.
fn present_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A state machine or a Parallel branch / Map processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StateMachine {
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
    /// First state.
    pub start_at: String,
    /// States by name.
    pub states: BTreeMap<String, State>,
    /// Execution timeout (top level only).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// `"1.0"`.
    #[serde(default)]
    pub version: Option<String>,
}

/// One state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Type")]
#[allow(missing_docs, clippy::large_enum_variant)]
pub(crate) enum State {
    Pass(PassState),
    Task(TaskState),
    Choice(ChoiceState),
    Wait(WaitState),
    Succeed(SucceedState),
    Fail(FailState),
    Parallel(ParallelState),
    Map(MapState),
}

/// Fields shared by several state types.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Common {
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
    /// Next state.
    #[serde(default)]
    pub next: Option<String>,
    /// Terminal state marker.
    #[serde(default)]
    pub end: Option<bool>,
    /// InputPath.
    #[serde(default)]
    pub input_path: PathField,
    /// OutputPath.
    #[serde(default)]
    pub output_path: PathField,
    /// ResultPath.
    #[serde(default)]
    pub result_path: PathField,
    /// Parameters (payload template).
    #[serde(default)]
    pub parameters: Option<Value>,
    /// ResultSelector (payload template).
    #[serde(default)]
    pub result_selector: Option<Value>,
    /// Retriers.
    #[serde(default)]
    pub retry: Vec<Retrier>,
    /// Catchers.
    #[serde(default)]
    pub catch: Vec<Catcher>,
}

/// A Pass state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PassState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
    /// Fixed result (an explicit `null` is `Some(Null)`).
    #[serde(default, deserialize_with = "present_value")]
    pub result: Option<Value>,
}

/// A Task state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TaskState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
    /// Resource ARN (or placeholder).
    pub resource: String,
    /// Task timeout.
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// Task timeout from input.
    #[serde(default)]
    pub timeout_seconds_path: Option<String>,
    /// Heartbeat timeout.
    #[serde(default)]
    pub heartbeat_seconds: Option<f64>,
    /// Heartbeat timeout from input.
    #[serde(default)]
    pub heartbeat_seconds_path: Option<String>,
    /// Credentials (ignored).
    #[serde(default)]
    pub credentials: Option<Value>,
}

/// A Choice state; rules are parsed by [`crate::choice`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChoiceState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
    /// Choice rules (raw JSON).
    #[serde(default)]
    pub choices: Vec<Value>,
    /// Default next state.
    #[serde(default)]
    pub default: Option<String>,
}

/// A Wait state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WaitState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
    /// Seconds to wait.
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Absolute time.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Seconds from input.
    #[serde(default)]
    pub seconds_path: Option<String>,
    /// Time from input.
    #[serde(default)]
    pub timestamp_path: Option<String>,
}

/// A Succeed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SucceedState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// A Fail state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FailState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
    /// Error name.
    #[serde(default)]
    pub error: Option<String>,
    /// Cause.
    #[serde(default)]
    pub cause: Option<String>,
    /// Error from input (path or intrinsic).
    #[serde(default)]
    pub error_path: Option<String>,
    /// Cause from input (path or intrinsic).
    #[serde(default)]
    pub cause_path: Option<String>,
}

/// A Parallel state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ParallelState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
    /// Branches.
    pub branches: Vec<StateMachine>,
}

/// A Map state (inline; distributed mode without ItemReader behaves the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MapState {
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
    /// Where the items are.
    #[serde(default)]
    pub items_path: Option<String>,
    /// Per-item input template.
    #[serde(default)]
    pub item_selector: Option<Value>,
    /// Legacy processor.
    #[serde(default)]
    pub iterator: Option<StateMachine>,
    /// Processor.
    #[serde(default)]
    pub item_processor: Option<ProcessorDefinition>,
    /// Concurrency limit (0 = unlimited).
    #[serde(default)]
    pub max_concurrency: Option<u64>,
    /// Concurrency limit from input.
    #[serde(default)]
    pub max_concurrency_path: Option<String>,
    /// Label (distributed).
    #[serde(default)]
    pub label: Option<String>,
    /// Tolerated failure percentage (distributed).
    #[serde(default)]
    pub tolerated_failure_percentage: Option<f64>,
    /// Tolerated failure count (distributed).
    #[serde(default)]
    pub tolerated_failure_count: Option<u64>,
    /// Item reader (not supported).
    #[serde(default)]
    pub item_reader: Option<Value>,
    /// Item batcher (not supported).
    #[serde(default)]
    pub item_batcher: Option<Value>,
    /// Result writer (not supported).
    #[serde(default)]
    pub result_writer: Option<Value>,
}

impl MapState {
    /// The processor, from `ItemProcessor` or legacy `Iterator`.
    pub(crate) fn processor(&self) -> Option<&StateMachine> {
        self.item_processor
            .as_ref()
            .map(|p| &p.machine)
            .or(self.iterator.as_ref())
    }
}

/// `ItemProcessor`: a state machine plus its processor configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProcessorDefinition {
    /// Mode (`INLINE`/`DISTRIBUTED`) and execution type.
    #[serde(default)]
    pub processor_config: Option<Value>,
    /// The states.
    #[serde(flatten)]
    pub machine: StateMachine,
}

/// A Retry entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Retrier {
    /// Errors this retrier handles.
    pub error_equals: Vec<String>,
    /// First delay (default 1).
    #[serde(default)]
    pub interval_seconds: Option<f64>,
    /// Attempts (default 3; 0 = never).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Multiplier (default 2.0).
    #[serde(default)]
    pub backoff_rate: Option<f64>,
    /// Delay cap.
    #[serde(default)]
    pub max_delay_seconds: Option<f64>,
    /// `FULL` or `NONE`.
    #[serde(default)]
    pub jitter_strategy: Option<String>,
}

/// A Catch entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Catcher {
    /// Errors this catcher handles.
    pub error_equals: Vec<String>,
    /// Where to go.
    pub next: String,
    /// Where the error output goes (default `$`).
    #[serde(default)]
    pub result_path: PathField,
}

impl State {
    /// The shared fields.
    pub(crate) fn common(&self) -> &Common {
        match self {
            State::Pass(s) => &s.common,
            State::Task(s) => &s.common,
            State::Choice(s) => &s.common,
            State::Wait(s) => &s.common,
            State::Succeed(s) => &s.common,
            State::Fail(s) => &s.common,
            State::Parallel(s) => &s.common,
            State::Map(s) => &s.common,
        }
    }
}

/// Parses a definition.
pub(crate) fn parse(definition_json: &str) -> Result<StateMachine, serde_json::Error> {
    serde_json::from_str(definition_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_result_path_null_when_parsed_then_null_not_absent() {
        let sm = parse(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":null,"Result":null,"End":true},
                "B":{"Type":"Pass","End":true}}}"#,
        )
        .unwrap();
        let State::Pass(a) = &sm.states["A"] else {
            panic!()
        };
        assert_eq!(a.common.result_path, PathField::Null);
        assert_eq!(a.result, Some(Value::Null));
        let State::Pass(b) = &sm.states["B"] else {
            panic!()
        };
        assert_eq!(b.common.result_path, PathField::Absent);
        assert_eq!(b.result, None);
    }

    #[test]
    fn given_map_with_item_processor_when_parsed_then_processor_found() {
        let sm = parse(
            r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},
                "StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#,
        )
        .unwrap();
        let State::Map(m) = &sm.states["M"] else {
            panic!()
        };
        assert_eq!(m.processor().unwrap().start_at, "P");
    }
}
