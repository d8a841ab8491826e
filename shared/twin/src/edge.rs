//! Function URLs: one HTTP server on 127.0.0.1 for every function the template gives a
//! URL, at `http://127.0.0.1:PORT/<function name>/`. A request is translated into the
//! function URL event (payload format 2.0) of the path after the prefix, the function is
//! invoked, and its answer translated back — as Lambda's function URL front end does.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::clock::TwinClock;
use crate::lambda::LambdaService;

pub struct Edge {
    pub lambda: Arc<LambdaService>,
    /// Function names that have a URL.
    pub functions: Vec<String>,
    pub clock: TwinClock,
    pub account: String,
    pub region: String,
}

pub fn router(edge: Arc<Edge>) -> Router {
    Router::new().fallback(handle).with_state(edge)
}

/// The function URL event for a request.
#[allow(clippy::too_many_arguments)]
pub fn event(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    url_id: &str,
    region: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let mut header_map = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).to_string();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| json!(c.trim())));
            continue;
        }
        match header_map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                header_map.insert(name.as_str().to_string(), json!(value));
            }
        }
    }
    let mut params = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_string(), json!(v));
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    let domain = format!("{url_id}.lambda-url.{region}.on.aws");
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": domain,
            "domainPrefix": url_id,
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    if !body.is_empty() {
        event["body"] = json!(body);
    }
    event
}

/// The HTTP response for what the function answered.
pub fn response(answer: &Value) -> Response {
    // A function may answer a bare value: Lambda then sends it as a JSON 200.
    if answer.get("statusCode").is_none() {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            answer.to_string(),
        )
            .into_response();
    }
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"] == json!(true) {
        STANDARD.decode(body).unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    };
    if let Some(map) = answer["headers"].as_object() {
        for (name, value) in map {
            add(name, value.as_str().unwrap_or_default());
        }
    }
    if let Some(map) = answer["multiValueHeaders"].as_object() {
        for (name, values) in map {
            for value in values.as_array().into_iter().flatten() {
                add(name, value.as_str().unwrap_or_default());
            }
        }
    }
    for cookie in answer["cookies"].as_array().into_iter().flatten() {
        add("set-cookie", cookie.as_str().unwrap_or_default());
    }
    out
}

async fn handle(
    State(edge): State<Arc<Edge>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let Some((function, rest)) = path
        .trim_start_matches('/')
        .split_once('/')
        .map(|(f, r)| (f.to_string(), format!("/{r}")))
        .or_else(|| Some((path.trim_start_matches('/').to_string(), "/".to_string())))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !edge.functions.contains(&function) {
        return (StatusCode::NOT_FOUND, "no function URL here").into_response();
    }
    let event = event(
        &method,
        &rest,
        uri.query().unwrap_or(""),
        &headers,
        &body,
        &function,
        &edge.region,
        edge.clock.now(),
    );
    match edge.lambda.invoke(&function, event).await {
        Ok(answer) => response(&answer),
        // A function URL answers 502 when the function fails.
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            [("x-amzn-errortype", e.error_type.clone())],
            json!({"Message": e.error_message}).to_string(),
        )
            .into_response(),
    }
}
