//! Step Functions: starting a release's execution (named after the release, so a
//! duplicate trigger finds the existing one) and answering its task tokens.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::Value;
use shipgate_core::ports::{Executions, TaskTokens, WorkflowError};

pub struct StepFunctions {
    client: Client,
    state_machine_arn: String,
}

fn backend<E: std::error::Error + Send + Sync + 'static>(err: E) -> WorkflowError {
    WorkflowError::Backend(Box::new(err))
}

/// Maps a token error: unknown or garbled tokens, and tasks that already ended.
fn token_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    err: E,
) -> WorkflowError {
    match err.code() {
        Some("TaskDoesNotExist" | "InvalidToken") => WorkflowError::TaskDoesNotExist,
        Some("TaskTimedOut") => WorkflowError::TaskTimedOut,
        _ => backend(err),
    }
}

/// What `DescribeExecution` says of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionView {
    pub arn: String,
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl StepFunctions {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// The ARN of the execution named `name` of this state machine.
    pub fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }

    pub async fn describe(&self, execution_arn: &str) -> Result<ExecutionView, WorkflowError> {
        let out = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        Ok(ExecutionView {
            arn: out.execution_arn().to_string(),
            status: match out.status() {
                ExecutionStatus::Running => "RUNNING".into(),
                other => other.as_str().to_string(),
            },
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
        })
    }
}

#[async_trait]
impl Executions for StepFunctions {
    async fn start(&self, name: &str, input: Value) -> Result<String, WorkflowError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.execution_arn().to_string()),
            Err(err) => {
                let err = err.into_service_error();
                if err.is_execution_already_exists() {
                    // A redelivered trigger: the release's pipeline is already running.
                    Ok(self.execution_arn(name))
                } else {
                    Err(backend(err))
                }
            }
        }
    }
}

#[async_trait]
impl TaskTokens for StepFunctions {
    async fn succeed(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await
            .map_err(|e| token_error(e.into_service_error()))?;
        Ok(())
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.client
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map_err(|e| token_error(e.into_service_error()))?;
        Ok(())
    }

    async fn heartbeat(&self, token: &str) -> Result<(), WorkflowError> {
        self.client
            .send_task_heartbeat()
            .task_token(token)
            .send()
            .await
            .map_err(|e| token_error(e.into_service_error()))?;
        Ok(())
    }
}
