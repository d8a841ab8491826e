//! A generic in-process stand-in for AWS Lambda and the Step Functions Lambda integration.
//!
//! [`LambdaRegistry`] maps function names (exact strings, e.g. the literal placeholder
//! `${DeployFunctionArn}`) to [`LambdaFunction`]s and implements [`TaskInvoker`] for:
//! - `arn:aws:states:::lambda:invoke` — the function receives `Parameters.Payload`; the
//!   result has AWS's integration shape (`ExecutedVersion`, `Payload`, `StatusCode`, SDK
//!   metadata);
//! - `arn:aws:states:::lambda:invoke.waitForTaskToken` — same call, the result is ignored
//!   (the engine waits for the token);
//! - a plain function name or Lambda ARN as `Resource` (legacy style) — the result is the
//!   function's return value itself.
//!
//! Function errors become task failures shaped like AWS Lambda's: `error` is the
//! `errorType`, `cause` is `{"errorMessage":"…","errorType":"…"}`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::task::{TaskCall, TaskFailure, TaskInvoker};

/// The resource of the request/response Lambda integration.
pub(crate) const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
/// The resource of the callback Lambda integration.
pub(crate) const LAMBDA_INVOKE_WAIT: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

/// An error raised by a function, like Lambda's `{"errorType", "errorMessage"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {error_message}")]
pub struct FunctionError {
    /// Lambda's `errorType`, becomes the task's error name.
    pub error_type: String,
    /// Lambda's `errorMessage`.
    pub error_message: String,
}

impl FunctionError {
    /// Builds a function error.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }
}

/// A function callable through the registry.
#[async_trait::async_trait]
pub trait LambdaFunction: Send + Sync {
    /// Runs the function on `payload`.
    async fn call(&self, payload: Value) -> Result<Value, FunctionError>;
}

/// Function name → function; a [`TaskInvoker`] for Lambda resources.
#[derive(Default, Clone)]
pub struct LambdaRegistry {
    functions: HashMap<String, Arc<dyn LambdaFunction>>,
}

impl std::fmt::Debug for LambdaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.functions.keys().collect();
        names.sort();
        f.debug_struct("LambdaRegistry")
            .field("functions", &names)
            .finish()
    }
}

impl LambdaRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f` under `function_name` (matched exactly, or by the name part of a
    /// Lambda ARN).
    pub fn register(&mut self, function_name: &str, f: Arc<dyn LambdaFunction>) {
        self.functions.insert(function_name.to_string(), f);
    }

    fn lookup(&self, name: &str) -> Option<&Arc<dyn LambdaFunction>> {
        if let Some(f) = self.functions.get(name) {
            return Some(f);
        }
        // arn:aws:lambda:region:account:function:NAME[:qualifier]
        let parts: Vec<&str> = name.split(':').collect();
        if parts.len() >= 7 && parts[2] == "lambda" && parts[5] == "function" {
            return self.functions.get(parts[6]);
        }
        None
    }

    async fn call_function(&self, name: &str, payload: Value) -> Result<Value, TaskFailure> {
        let Some(f) = self.lookup(name) else {
            return Err(TaskFailure::new(
                "Lambda.ResourceNotFoundException",
                format!("Function not found: {name} (Service: Lambda, Status Code: 404)"),
            ));
        };
        f.call(payload).await.map_err(|e| {
            let cause = json!({"errorMessage": e.error_message, "errorType": e.error_type});
            TaskFailure::new(e.error_type, cause.to_string())
        })
    }
}

fn integration_response(payload: Value) -> Value {
    let request_id = uuid::Uuid::new_v4().to_string();
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "HttpHeaders": {
                "Content-Type": "application/json",
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-RequestId": request_id,
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    })
}

#[async_trait::async_trait]
impl TaskInvoker for LambdaRegistry {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        let resource = call.resource.as_str();
        if resource == LAMBDA_INVOKE || resource == LAMBDA_INVOKE_WAIT {
            let Some(name) = call.input.get("FunctionName").and_then(Value::as_str) else {
                return Err(TaskFailure::new(
                    "States.Runtime",
                    format!(
                        "The Parameters of state '{}' have no string field 'FunctionName', required by resource '{resource}'.",
                        call.state_name
                    ),
                ));
            };
            let payload = call.input.get("Payload").cloned().unwrap_or(json!({}));
            let result = self.call_function(name, payload).await?;
            if resource == LAMBDA_INVOKE_WAIT {
                return Ok(Value::Null);
            }
            return Ok(integration_response(result));
        }
        if self.lookup(resource).is_some() || resource.starts_with("arn:aws:lambda:") {
            return self.call_function(resource, call.input).await;
        }
        Err(TaskFailure::new(
            "States.Runtime",
            format!(
                "The resource '{resource}' of state '{}' is not supported by the Lambda registry.",
                call.state_name
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    #[async_trait::async_trait]
    impl LambdaFunction for Echo {
        async fn call(&self, payload: Value) -> Result<Value, FunctionError> {
            Ok(json!({"echo": payload}))
        }
    }
    struct Boom;
    #[async_trait::async_trait]
    impl LambdaFunction for Boom {
        async fn call(&self, _payload: Value) -> Result<Value, FunctionError> {
            Err(FunctionError::new("DeployError", "it broke"))
        }
    }

    fn registry() -> LambdaRegistry {
        let mut r = LambdaRegistry::new();
        r.register("${DeployFunctionArn}", Arc::new(Echo));
        r.register("boom", Arc::new(Boom));
        r
    }

    fn call(resource: &str, input: Value) -> TaskCall {
        TaskCall {
            resource: resource.into(),
            input,
            task_token: None,
            execution_id: "e".into(),
            state_name: "S".into(),
        }
    }

    #[tokio::test]
    async fn given_invoke_integration_when_called_then_payload_wrapped_like_aws() {
        let out = registry()
            .invoke(call(
                LAMBDA_INVOKE,
                json!({"FunctionName": "${DeployFunctionArn}", "Payload": {"a": 1}}),
            ))
            .await
            .unwrap();
        assert_eq!(out["Payload"], json!({"echo": {"a": 1}}));
        assert_eq!(out["StatusCode"], json!(200));
        assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
    }

    #[tokio::test]
    async fn given_wait_for_token_when_called_then_result_ignored() {
        let out = registry()
            .invoke(call(
                LAMBDA_INVOKE_WAIT,
                json!({"FunctionName": "${DeployFunctionArn}", "Payload": {}}),
            ))
            .await
            .unwrap();
        assert_eq!(out, Value::Null);
    }

    #[tokio::test]
    async fn given_function_error_when_called_then_lambda_shaped_failure() {
        let err = registry()
            .invoke(call(LAMBDA_INVOKE, json!({"FunctionName": "boom"})))
            .await
            .unwrap_err();
        assert_eq!(err.error, "DeployError");
        let cause: Value = serde_json::from_str(&err.cause).unwrap();
        assert_eq!(
            cause,
            json!({"errorMessage": "it broke", "errorType": "DeployError"})
        );
    }

    #[tokio::test]
    async fn given_unknown_function_when_called_then_resource_not_found() {
        let err = registry()
            .invoke(call(LAMBDA_INVOKE, json!({"FunctionName": "nope"})))
            .await
            .unwrap_err();
        assert_eq!(err.error, "Lambda.ResourceNotFoundException");
    }

    #[tokio::test]
    async fn given_legacy_resource_when_called_then_result_is_payload_itself() {
        let out = registry()
            .invoke(call("arn:aws:lambda:us-east-1:1:function:boom", json!({})))
            .await
            .unwrap_err();
        assert_eq!(out.error, "DeployError");
        let r = registry();
        let out = r
            .invoke(call("${DeployFunctionArn}", json!(1)))
            .await
            .unwrap();
        assert_eq!(out, json!({"echo": 1}));
    }

    #[tokio::test]
    async fn given_unknown_resource_when_called_then_runtime_failure() {
        let err = registry()
            .invoke(call("arn:aws:states:::sqs:sendMessage", json!({})))
            .await
            .unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("sqs:sendMessage"));
    }
}
