//! The twin: the production stack of `infra/template.yaml`, run offline as deployed.
//!
//! `infra/twin/launcher.py` translates the template (aws-sam-translator), starts moto with
//! IAM enforced and provisions the stack's resources in it, each function getting
//! credentials that carry exactly its role's policies. This crate runs the rest: the real
//! function binaries behind a Lambda Runtime API ([`lambda`]), shipgate's engine running
//! the state machine's definition behind the Step Functions API ([`sfn_api`]), function
//! URLs ([`edge`]), the schedules ([`stack`]), EventBridge's rules and `PutEvents`
//! ([`rules`], [`events_api`]), Slack, the status page
//! and the service's critical paths ([`outside`]) — all on one virtual clock that the
//! function processes share through libfaketime ([`clock`]). [`scenario`] plays the demo's
//! scenarios on it.

pub mod calls;
pub mod clock;
pub mod edge;
pub mod events;
pub mod events_api;
pub mod lambda;
pub mod lambda_api;
pub mod launcher;
pub mod manifest;
pub mod outside;
pub mod rules;
pub mod scenario;
pub mod schedule;
pub mod sfn_api;
pub mod signed;
pub mod stack;

use std::path::Path;

pub use scenario::{TwinReport, run};
pub use stack::{Stack, StackOptions};

#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    #[error("twin setup: {0}")]
    Setup(String),
    #[error("the twin's launcher: {0}")]
    Launcher(String),
    #[error("the launcher's control API: {0}")]
    Control(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario step: {0}")]
    Step(String),
    #[error("stuck: {0}")]
    Stuck(String),
    #[error(transparent)]
    Engine(#[from] shipgate_asl::EngineError),
}

impl TwinError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TwinError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
