//! The Step Functions API (awsJson 1.0, `X-Amz-Target: AWSStepFunctions.*`) served by
//! shipgate's engine: what the functions call through `AWS_ENDPOINT_URL_SFN`. Each call is
//! authorised against the caller's role (moto's IAM evaluation, through the launcher) and
//! answers with AWS's error names (`TaskDoesNotExist`, `TaskTimedOut`, `InvalidToken`,
//! `ExecutionAlreadyExists`, `ExecutionDoesNotExist`, `AccessDeniedException`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shipgate_asl::{Engine, EngineError, ExecutionDescription, ExecutionStatus};

use crate::calls::CallLog;
use crate::launcher::Control;
use crate::manifest::Manifest;
use crate::signed;

/// What the Step Functions endpoint needs.
pub struct SfnApi {
    pub engine: Arc<Engine>,
    pub definition: String,
    pub manifest: Arc<Manifest>,
    pub control: Control,
    pub calls: Arc<CallLog>,
}

pub fn router(api: Arc<SfnApi>) -> Router {
    Router::new().fallback(handle).with_state(api)
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"__type": kind, "message": message.into()});
    (
        status,
        [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amzn-errortype", kind),
        ],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

/// The access key id of a SigV4 `Authorization` header.
fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

async fn handle(State(api): State<Arc<SfnApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(target) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AWSStepFunctions."))
        .map(str::to_string)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "no X-Amz-Target",
        );
    };
    let action = format!("states:{target}");
    if let Err(refused) =
        signed::authorize(&headers, &api.manifest, &api.control, &api.calls, &action).await
    {
        let status = refused.status(StatusCode::BAD_REQUEST);
        return error(status, refused.kind(), refused.message());
    }
    let input: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                e.to_string(),
            );
        }
    };
    let text = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    match target.as_str() {
        "SendTaskSuccess" => {
            let (Some(token), Some(output)) = (text("taskToken"), text("output")) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "taskToken and output are required",
                );
            };
            let Ok(output) = serde_json::from_str::<Value>(&output) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidOutput",
                    "output is not JSON",
                );
            };
            token_answer(api.engine.send_task_success(&token, output))
        }
        "SendTaskFailure" => {
            let Some(token) = text("taskToken") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "taskToken is required",
                );
            };
            token_answer(api.engine.send_task_failure(
                &token,
                &text("error").unwrap_or_default(),
                &text("cause").unwrap_or_default(),
            ))
        }
        "SendTaskHeartbeat" => {
            let Some(token) = text("taskToken") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "taskToken is required",
                );
            };
            token_answer(api.engine.send_task_heartbeat(&token))
        }
        "StartExecution" => start(&api, &input).await,
        "DescribeExecution" => {
            let Some(arn) = text("executionArn") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "executionArn is required",
                );
            };
            match find(&api, &arn) {
                Some(d) => ok(describe(&api, &d)),
                None => error(
                    StatusCode::BAD_REQUEST,
                    "ExecutionDoesNotExist",
                    format!("Execution Does Not Exist: '{arn}'"),
                ),
            }
        }
        "StopExecution" => {
            let Some(arn) = text("executionArn") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "executionArn is required",
                );
            };
            let Some(d) = find(&api, &arn) else {
                return error(StatusCode::BAD_REQUEST, "ExecutionDoesNotExist", arn);
            };
            match api.engine.stop_execution(
                &d.execution_id,
                &text("error").unwrap_or_default(),
                &text("cause").unwrap_or_default(),
            ) {
                Ok(()) => ok(json!({"stopDate": epoch(Utc::now())})),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    e.to_string(),
                ),
            }
        }
        other => error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("the twin does not serve {other}"),
        ),
    }
}

fn token_answer(result: Result<(), EngineError>) -> Response {
    match result {
        Ok(()) => ok(json!({})),
        Err(EngineError::TaskDoesNotExist(_)) => error(
            StatusCode::BAD_REQUEST,
            "TaskDoesNotExist",
            "Task does not exist anymore",
        ),
        Err(EngineError::TaskTimedOut(_)) => {
            error(StatusCode::BAD_REQUEST, "TaskTimedOut", "Task Timed Out")
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            e.to_string(),
        ),
    }
}

/// The AWS ARN of an execution named `name`.
fn execution_arn(api: &SfnApi, name: &str) -> String {
    format!(
        "{}:{name}",
        api.manifest
            .state_machine
            .arn
            .replacen(":stateMachine:", ":execution:", 1)
    )
}

fn find(api: &SfnApi, arn: &str) -> Option<ExecutionDescription> {
    let name = arn.rsplit(':').next()?;
    let prefix = execution_arn(api, "");
    if !arn.starts_with(&prefix) {
        return None;
    }
    api.engine
        .list_executions()
        .ok()?
        .into_iter()
        .find(|d| d.name == name)
}

fn describe(api: &SfnApi, d: &ExecutionDescription) -> Value {
    let status = match d.status {
        ExecutionStatus::Running => "RUNNING",
        ExecutionStatus::Succeeded => "SUCCEEDED",
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
    };
    let mut out = json!({
        "executionArn": execution_arn(api, &d.name),
        "stateMachineArn": api.manifest.state_machine.arn,
        "name": d.name,
        "status": status,
        "startDate": epoch(d.start_date),
        "input": d.input.to_string(),
    });
    if let Some(stop) = d.stop_date {
        out["stopDate"] = json!(epoch(stop));
    }
    if let Some(output) = &d.output {
        out["output"] = json!(output.to_string());
    }
    if let Some(e) = &d.error {
        out["error"] = json!(e);
    }
    if let Some(c) = &d.cause {
        out["cause"] = json!(c);
    }
    out
}

async fn start(api: &SfnApi, input: &Value) -> Response {
    let arn = input
        .get("stateMachineArn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if arn != api.manifest.state_machine.arn {
        return error(
            StatusCode::BAD_REQUEST,
            "StateMachineDoesNotExist",
            format!("State Machine Does Not Exist: '{arn}'"),
        );
    }
    let name = input
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let text = input.get("input").and_then(Value::as_str).unwrap_or("{}");
    let Ok(execution_input) = serde_json::from_str::<Value>(text) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidExecutionInput",
            "input is not JSON",
        );
    };
    if text.len() > 256 * 1024 {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidExecutionInput",
            "input is larger than 262144 bytes",
        );
    }
    match api
        .engine
        .start_execution(&api.definition, &name, execution_input.clone())
        .await
    {
        Ok(started) => {
            if !started.created {
                // AWS: the same name and input of a running execution answers it again.
                let same = api
                    .engine
                    .describe(&started.execution_id)
                    .ok()
                    .flatten()
                    .filter(|d| d.status == ExecutionStatus::Running && d.input == execution_input);
                if same.is_none() {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "ExecutionAlreadyExists",
                        format!("Execution Already Exists: '{}'", execution_arn(api, &name)),
                    );
                }
            }
            let start = api
                .engine
                .describe(&started.execution_id)
                .ok()
                .flatten()
                .map(|d| d.start_date)
                .unwrap_or_else(Utc::now);
            ok(json!({"executionArn": execution_arn(api, &name), "startDate": epoch(start)}))
        }
        Err(e) => error(StatusCode::BAD_REQUEST, "InvalidDefinition", e.to_string()),
    }
}
