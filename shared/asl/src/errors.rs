//! Error names and `ErrorEquals` matching.
//!
//! Rules (AWS docs): a name matches itself; `States.ALL` matches every error except
//! `States.Runtime` and `States.DataLimitExceeded` (the docs call the latter a terminal error
//! that `States.ALL` cannot catch: only a retrier or catcher naming it handles it);
//! `States.TaskFailed` matches every error (custom names included) except `States.Timeout`,
//! as the AWS docs say, and also except `States.HeartbeatTimeout` (a kind of timeout),
//! `States.Runtime` (never handled) and `States.DataLimitExceeded` (no wildcard catches it).
//! `States.ALL` must be alone and last in its list (checked by [`crate::validate`]).

/// `States.ALL`.
pub(crate) const ALL: &str = "States.ALL";
/// Execution or state errors that cannot be handled.
pub(crate) const RUNTIME: &str = "States.Runtime";
/// A task failed.
pub(crate) const TASK_FAILED: &str = "States.TaskFailed";
/// A ResultPath could not be applied.
pub(crate) const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
/// No Choice rule matched and no Default.
pub(crate) const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// An intrinsic function failed.
pub(crate) const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
/// A payload was over 256 KiB.
pub(crate) const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
/// Task or execution timeout.
pub(crate) const TIMEOUT: &str = "States.Timeout";
/// Heartbeat timeout.
pub(crate) const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";

/// An error raised inside a state, to be matched by Retry/Catch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct StateError {
    /// Error name; `None` for a Fail state without Error.
    pub error: String,
    /// Cause text.
    pub cause: String,
}

impl StateError {
    /// Builds an error.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// Whether `pattern` (an `ErrorEquals` entry) matches `error`.
pub(crate) fn matches(pattern: &str, error: &str) -> bool {
    if pattern == error {
        return true;
    }
    match pattern {
        ALL => !matches!(error, RUNTIME | DATA_LIMIT_EXCEEDED),
        TASK_FAILED => !matches!(
            error,
            TIMEOUT | HEARTBEAT_TIMEOUT | RUNTIME | DATA_LIMIT_EXCEEDED
        ),
        _ => false,
    }
}

/// Whether any entry of `error_equals` matches `error`.
pub(crate) fn matches_any(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|p| matches(p, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_states_all_when_matching_then_everything_but_runtime() {
        assert!(matches(ALL, "Custom"));
        assert!(matches(ALL, TIMEOUT));
        assert!(matches(ALL, TASK_FAILED));
        assert!(!matches(ALL, RUNTIME));
        assert!(!matches(ALL, DATA_LIMIT_EXCEEDED));
    }

    #[test]
    fn given_data_limit_exceeded_when_matching_then_only_by_name() {
        assert!(matches(DATA_LIMIT_EXCEEDED, DATA_LIMIT_EXCEEDED));
        assert!(!matches(TASK_FAILED, DATA_LIMIT_EXCEEDED));
        assert!(!matches_any(&[ALL.into()], DATA_LIMIT_EXCEEDED));
    }

    #[test]
    fn given_task_failed_when_matching_then_not_timeouts() {
        assert!(matches(TASK_FAILED, "Lambda.ServiceException"));
        assert!(matches(TASK_FAILED, TASK_FAILED));
        assert!(!matches(TASK_FAILED, TIMEOUT));
        assert!(!matches(TASK_FAILED, HEARTBEAT_TIMEOUT));
        assert!(!matches(TASK_FAILED, RUNTIME));
        assert!(matches(TASK_FAILED, RESULT_PATH_MATCH_FAILURE));
    }

    #[test]
    fn given_exact_name_when_matching_then_only_itself() {
        assert!(matches("A", "A"));
        assert!(!matches("A", "B"));
        assert!(matches_any(&["B".into(), "A".into()], "A"));
    }
}
