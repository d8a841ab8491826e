//! The boundary between the engine and whatever executes `Task` resources.
//!
//! The engine only ever calls [`TaskInvoker::invoke`] with the effective parameters; it knows
//! nothing about what a resource does. [`crate::LambdaRegistry`] is one implementation;
//! [`NoTasks`] fails every task.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One task invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCall {
    /// The state's `Resource` (an ARN, or a placeholder such as `${DeployFunctionArn}`).
    pub resource: String,
    /// The effective parameters (input after InputPath and Parameters).
    pub input: Value,
    /// The task token, for `.waitForTaskToken` resources.
    pub task_token: Option<String>,
    /// The execution this task belongs to.
    pub execution_id: String,
    /// The name of the Task state.
    pub state_name: String,
}

/// A task that failed: `error` is matched by Retry/Catch `ErrorEquals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    /// Error name, e.g. `States.TaskFailed` or a custom name.
    pub error: String,
    /// Human-readable cause.
    pub cause: String,
}

impl TaskFailure {
    /// Builds a failure.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// Executes task resources.
#[async_trait::async_trait]
pub trait TaskInvoker: Send + Sync {
    /// Runs the task; for `.waitForTaskToken` resources the returned value is ignored and the
    /// task ends when its token is delivered.
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure>;
}

/// An invoker that fails every task: for definitions without task resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTasks;

#[async_trait::async_trait]
impl TaskInvoker for NoTasks {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        Err(TaskFailure::new(
            "States.TaskFailed",
            format!(
                "No task invoker is configured: resource '{}' of state '{}' cannot run.",
                call.resource, call.state_name
            ),
        ))
    }
}
