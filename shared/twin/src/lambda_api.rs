//! Lambda's control plane on the twin, as far as shipgate's CLI uses it:
//! `UpdateFunctionConfiguration` (restJson, `PUT /2015-03-31/functions/{name}/configuration`),
//! which on AWS makes the function start fresh execution environments. Here the function's
//! warm processes are retired, so the next invocation cold-starts and reads the
//! configuration again. Authorised against the caller's policies, as on AWS.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde_json::{Value, json};

use crate::calls::CallLog;
use crate::lambda::LambdaService;
use crate::launcher::Control;
use crate::manifest::Manifest;
use crate::signed;

pub struct LambdaApi {
    pub lambda: Arc<LambdaService>,
    pub manifest: Arc<Manifest>,
    pub control: Control,
    pub calls: Arc<CallLog>,
}

pub fn router(api: Arc<LambdaApi>) -> Router {
    Router::new()
        .route(
            "/2015-03-31/functions/{name}/configuration",
            put(update_configuration),
        )
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "the twin's Lambda API serves UpdateFunctionConfiguration only",
            )
        })
        .with_state(api)
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"Type": "User", "message": message.into()});
    (
        status,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", kind),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn update_configuration(
    State(api): State<Arc<LambdaApi>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action = "lambda:UpdateFunctionConfiguration";
    if let Err(refused) =
        signed::authorize(&headers, &api.manifest, &api.control, &api.calls, action).await
    {
        let status = refused.status(StatusCode::FORBIDDEN);
        return error(status, refused.kind(), refused.message());
    }
    let Some(spec) = api.lambda.spec(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {name}"),
        );
    };
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "the body is not JSON",
        );
    };
    let (function, arn) = (spec.name.clone(), spec.arn.clone());
    let retired = api.lambda.retire_warm(&function);
    tracing::info!(
        function,
        retired,
        "configuration updated: warm processes retired"
    );
    let answer = json!({
        "FunctionName": function,
        "FunctionArn": arn,
        "Description": input.get("Description").cloned().unwrap_or(Value::Null),
        "State": "Active",
        "LastUpdateStatus": "Successful",
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        answer.to_string(),
    )
        .into_response()
}
