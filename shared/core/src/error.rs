//! `GateError`: every way a gate can fail, and the stable `errorType` name each one has
//! in Step Functions. `statemachine.json` matches these names in `Retry` and `Catch`; the
//! Lambda entry points and the local engine both report exactly them.

use crate::lifecycle::IllegalTransition;
use crate::model::{Release, ReleaseState};
use crate::policy::approval::ApprovalError;
use crate::ports::{
    AlarmsError, BoxError, DeployError, NotifyError, ProbeError, StoreError, WorkflowError,
};

/// Declares [`ErrorType`] with each kind's `errorType` name once; the list of names is
/// derived from it.
macro_rules! error_types {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The kinds of gate failure, each with the stable `errorType` name
        /// `statemachine.json` matches in `Retry` and `Catch`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorType {
            $($variant),*
        }

        impl ErrorType {
            pub const ALL: &'static [ErrorType] = &[$(ErrorType::$variant),*];
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorType::$variant => $name),*
                }
            }
        }
    };
}

error_types! {
    GateInvalidInput => "Gate.InvalidInput",
    GateUnavailable => "Gate.Unavailable",
    ReleaseNotFound => "Release.NotFound",
    ReleaseInvalidState => "Release.InvalidState",
    ReleaseConflict => "Release.Conflict",
    ApprovalRefused => "Approval.Refused",
    ApprovalRejected => "Approval.Rejected",
    DeployFailed => "Deploy.Failed",
    DeployMigrationFailed => "Deploy.MigrationFailed",
    DeployNotStable => "Deploy.NotStable",
    HealthCheckFailed => "HealthCheck.Failed",
    MonitorAlarmFired => "Monitor.AlarmFired",
    MonitorThresholdBreached => "Monitor.ThresholdBreached",
    MonitorRollbackRequested => "Monitor.RollbackRequested",
    RollbackFailed => "Rollback.Failed",
    WindowNone => "Window.None",
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("invalid gate input: {0}")]
    InvalidInput(String),
    #[error("release {0} does not exist")]
    NotFound(String),
    #[error("release {release} is {state}; {expected}")]
    InvalidState {
        release: String,
        state: String,
        expected: String,
    },
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("release {0} was changed by someone else at the same time; nothing was overwritten")]
    Conflict(String, #[source] StoreError),
    #[error(transparent)]
    ApprovalRefused(#[from] ApprovalError),
    #[error("release rejected by {by}: {reason}")]
    Rejected { by: String, reason: String },
    #[error("deploy failed: {0}")]
    DeployFailed(#[source] DeployError),
    #[error("migration `{command}` exited with code {exit_code}")]
    MigrationFailed { command: String, exit_code: i32 },
    #[error(
        "migration `{command}` was started at {started} by an earlier attempt whose outcome was never recorded: check the task and the database before running it again"
    )]
    MigrationOutcomeUnknown {
        command: String,
        started: chrono::DateTime<chrono::Utc>,
    },
    #[error("deployment not stable: {0}")]
    NotStable(String),
    #[error("health check failed: {0}")]
    HealthCheckFailed(String),
    #[error("alarm fired: {0}")]
    AlarmFired(String),
    #[error("threshold breached: {0}")]
    ThresholdBreached(String),
    #[error("rollback requested outside the pipeline: {0}")]
    RollbackRequested(String),
    #[error("rollback failed: {0}")]
    RollbackFailed(String),
    #[error("no deploy window in the configured horizon: {0}")]
    NoWindow(String),
    #[error("version {version} of {service} is already taken by commit {commit}")]
    VersionTaken {
        service: String,
        version: String,
        commit: String,
    },
    #[error("{what} is unavailable; try again")]
    Unavailable {
        what: String,
        #[source]
        source: BoxError,
    },
}

impl GateError {
    /// Every `errorType` the gates can produce, derived from [`ErrorType`].
    pub const ERROR_TYPES: &'static [&'static str] = ErrorType::NAMES;

    /// The kind of failure, as `statemachine.json` names it.
    pub fn kind(&self) -> ErrorType {
        match self {
            GateError::InvalidInput(_) | GateError::VersionTaken { .. } => {
                ErrorType::GateInvalidInput
            }
            GateError::Unavailable { .. } => ErrorType::GateUnavailable,
            GateError::NotFound(_) => ErrorType::ReleaseNotFound,
            GateError::InvalidState { .. } | GateError::IllegalTransition(_) => {
                ErrorType::ReleaseInvalidState
            }
            GateError::Conflict(..) => ErrorType::ReleaseConflict,
            GateError::ApprovalRefused(_) => ErrorType::ApprovalRefused,
            GateError::Rejected { .. } => ErrorType::ApprovalRejected,
            GateError::DeployFailed(_) => ErrorType::DeployFailed,
            GateError::MigrationFailed { .. } | GateError::MigrationOutcomeUnknown { .. } => {
                ErrorType::DeployMigrationFailed
            }
            GateError::NotStable(_) => ErrorType::DeployNotStable,
            GateError::HealthCheckFailed(_) => ErrorType::HealthCheckFailed,
            GateError::AlarmFired(_) => ErrorType::MonitorAlarmFired,
            GateError::ThresholdBreached(_) => ErrorType::MonitorThresholdBreached,
            GateError::RollbackRequested(_) => ErrorType::MonitorRollbackRequested,
            GateError::RollbackFailed(_) => ErrorType::RollbackFailed,
            GateError::NoWindow(_) => ErrorType::WindowNone,
        }
    }

    /// The `errorType` name Lambda reports and `statemachine.json` matches.
    pub fn error_type(&self) -> &'static str {
        self.kind().name()
    }

    /// The message with its chain of causes, for people and for the `Cause` field.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
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

impl From<StoreError> for GateError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { ref id, .. } => GateError::Conflict(id.clone(), err),
            StoreError::NotFound(id) => GateError::NotFound(id),
            StoreError::AlreadyExists(id) => {
                GateError::InvalidInput(format!("release {id} already exists"))
            }
            StoreError::VersionTaken {
                service,
                version,
                commit,
            } => GateError::VersionTaken {
                service,
                version,
                commit,
            },
            StoreError::Backend(source) => GateError::Unavailable {
                what: "the release store".into(),
                source,
            },
        }
    }
}

impl From<DeployError> for GateError {
    fn from(err: DeployError) -> Self {
        match err {
            DeployError::Unavailable(source) => GateError::Unavailable {
                what: "the deploy target".into(),
                source,
            },
            other => GateError::DeployFailed(other),
        }
    }
}

impl From<AlarmsError> for GateError {
    fn from(err: AlarmsError) -> Self {
        GateError::Unavailable {
            what: "alarms and metrics".into(),
            source: Box::new(err),
        }
    }
}

impl From<NotifyError> for GateError {
    fn from(err: NotifyError) -> Self {
        GateError::Unavailable {
            what: "notifications".into(),
            source: Box::new(err),
        }
    }
}

impl From<WorkflowError> for GateError {
    fn from(err: WorkflowError) -> Self {
        GateError::Unavailable {
            what: "the workflow service".into(),
            source: Box::new(err),
        }
    }
}

impl From<ProbeError> for GateError {
    fn from(err: ProbeError) -> Self {
        GateError::HealthCheckFailed(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_every_error_type_when_listed_then_it_appears_exactly_once() {
        let mut names = GateError::ERROR_TYPES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), GateError::ERROR_TYPES.len());
        for kind in ErrorType::ALL {
            assert!(GateError::ERROR_TYPES.contains(&kind.name()), "{kind:?}");
        }
    }

    #[test]
    fn given_a_store_conflict_when_made_a_gate_error_then_it_keeps_its_cause() {
        let err: GateError = StoreError::Conflict {
            id: "r1".into(),
            expected: 3,
        }
        .into();
        assert_eq!(err.error_type(), "Release.Conflict");
        assert!(
            err.describe().contains("expected version 3"),
            "{}",
            err.describe()
        );
    }
}
