//! The workflow ports over the embedded States Language engine: starting a release's
//! execution and answering its task tokens, as Step Functions does in production. The
//! gates run inside the engine, and the engine needs the gates: this adapter holds the
//! engine weakly and is given it once both exist.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use serde_json::Value;
use shipgate_asl::{Engine, EngineError, FunctionError, LambdaFunction};
use shipgate_core::gates;
use shipgate_core::ports::{Executions, TaskTokens, WorkflowError};
use shipgate_core::{Deps, Gate};

/// `TaskTokens` and `Executions` for one state machine definition on the local engine.
pub struct EngineWorkflow {
    engine: OnceLock<Weak<Engine>>,
    definition: Arc<str>,
}

impl EngineWorkflow {
    pub fn new(definition: Arc<str>) -> Self {
        Self {
            engine: OnceLock::new(),
            definition,
        }
    }

    /// Connects the engine; called once, right after the engine is built.
    pub fn connect(&self, engine: &Arc<Engine>) {
        let _ = self.engine.set(Arc::downgrade(engine));
    }

    fn engine(&self) -> Result<Arc<Engine>, WorkflowError> {
        self.engine
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| WorkflowError::Backend("the local engine is not running".into()))
    }
}

fn workflow_error(err: EngineError) -> WorkflowError {
    match err {
        EngineError::TaskDoesNotExist(_) => WorkflowError::TaskDoesNotExist,
        EngineError::TaskTimedOut(_) => WorkflowError::TaskTimedOut,
        other => WorkflowError::Backend(Box::new(other)),
    }
}

#[async_trait]
impl TaskTokens for EngineWorkflow {
    async fn succeed(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.engine()?
            .send_task_success(token, output)
            .map_err(workflow_error)
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.engine()?
            .send_task_failure(token, error, cause)
            .map_err(workflow_error)
    }

    async fn heartbeat(&self, token: &str) -> Result<(), WorkflowError> {
        self.engine()?
            .send_task_heartbeat(token)
            .map_err(workflow_error)
    }
}

#[async_trait]
impl Executions for EngineWorkflow {
    async fn start(&self, name: &str, input: Value) -> Result<String, WorkflowError> {
        let started = self
            .engine()?
            .start_execution(&self.definition, name, input)
            .await
            .map_err(workflow_error)?;
        Ok(started.execution_id)
    }
}

/// A gate as the engine's Lambda function: same payload, same `errorType` names.
pub struct GateFunction {
    pub deps: Deps,
    pub gate: Gate,
}

#[async_trait]
impl LambdaFunction for GateFunction {
    async fn call(&self, payload: Value) -> Result<Value, FunctionError> {
        gates::invoke(&self.deps, self.gate, payload)
            .await
            .map_err(|e| FunctionError::new(e.error_type(), e.describe()))
    }
}
