//! Lambda, as the twin runs it: each function is its real binary, started as a process
//! against a Lambda Runtime API the twin serves on 127.0.0.1 (one per process, like one
//! execution environment). A process handles one invocation at a time and is reused warm;
//! concurrent invocations start more processes. The function's `Timeout` is enforced: a
//! process still busy at its deadline is killed and the invocation fails as Lambda reports
//! a timeout (`Sandbox.Timedout`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shipgate_asl::FunctionError;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

use crate::TwinError;
use crate::clock::TwinClock;

/// How a function is run.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub arn: String,
    pub binary: PathBuf,
    pub timeout: Duration,
    pub memory: u64,
    /// The template's environment plus the twin's (endpoints, credentials, clock).
    pub environment: BTreeMap<String, String>,
    pub log: PathBuf,
}

/// What an execution environment answered.
#[derive(Debug)]
enum Outcome {
    Response(Value),
    Error(Value),
    InitError(Value),
    Exited(String),
}

struct Event {
    request_id: String,
    payload: Value,
    deadline_ms: i64,
}

/// The state one Runtime API server shares with its process.
struct Environment {
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    reply: Mutex<Option<oneshot::Sender<Outcome>>>,
    arn: String,
}

impl Environment {
    fn answer(&self, outcome: Outcome) {
        if let Some(reply) = self.reply.lock().ok().and_then(|mut r| r.take()) {
            let _ = reply.send(outcome);
        }
    }
}

/// One running process with its Runtime API.
struct Sandbox {
    events: mpsc::Sender<Event>,
    shared: Arc<Environment>,
    /// Dropping it kills the process and stops its Runtime API.
    _kill: oneshot::Sender<()>,
}

/// Every invocation, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invocation {
    pub function: String,
    pub error: Option<String>,
    pub cold: bool,
}

/// The twin's Lambda service.
pub struct LambdaService {
    functions: HashMap<String, FunctionSpec>,
    idle: Mutex<HashMap<String, Vec<Sandbox>>>,
    clock: TwinClock,
    invocations: Mutex<Vec<Invocation>>,
}

impl LambdaService {
    pub fn new(functions: Vec<FunctionSpec>, clock: TwinClock) -> Self {
        Self {
            functions: functions.into_iter().map(|f| (f.name.clone(), f)).collect(),
            idle: Mutex::default(),
            clock,
            invocations: Mutex::default(),
        }
    }

    /// The function called `name` or with ARN `name`.
    pub fn spec(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions
            .get(name)
            .or_else(|| self.functions.values().find(|f| f.arn == name))
    }

    pub fn invocations(&self) -> Vec<Invocation> {
        self.invocations
            .lock()
            .map(|i| i.clone())
            .unwrap_or_default()
    }

    /// Invokes `name` synchronously (`RequestResponse`).
    pub async fn invoke(&self, name: &str, payload: Value) -> Result<Value, FunctionError> {
        let Some(spec) = self.spec(name) else {
            return Err(FunctionError::new(
                "Lambda.ResourceNotFoundException",
                format!("Function not found: {name}"),
            ));
        };
        let idle = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.get_mut(&spec.name).and_then(Vec::pop));
        let cold = idle.is_none();
        let sandbox = match idle {
            Some(sandbox) => sandbox,
            None => start(spec)
                .await
                .map_err(|e| FunctionError::new("Lambda.ServiceException", e.to_string()))?,
        };
        let (reply, answered) = oneshot::channel();
        if let Ok(mut slot) = sandbox.shared.reply.lock() {
            *slot = Some(reply);
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let deadline =
            self.clock.now() + chrono::Duration::from_std(spec.timeout).unwrap_or_default();
        let event = Event {
            request_id: request_id.clone(),
            payload,
            deadline_ms: deadline.timestamp_millis(),
        };
        if sandbox.events.send(event).await.is_err() {
            return Err(FunctionError::new(
                "Lambda.ServiceException",
                format!("the execution environment of {name} went away"),
            ));
        }
        let outcome = tokio::time::timeout(spec.timeout, answered).await;
        let (result, reuse) = match outcome {
            Ok(Ok(Outcome::Response(value))) => (Ok(value), true),
            Ok(Ok(Outcome::Error(value))) => (Err(function_error(&value, "Unhandled")), true),
            Ok(Ok(Outcome::InitError(value))) => {
                (Err(function_error(&value, "Runtime.InitError")), false)
            }
            Ok(Ok(Outcome::Exited(detail))) => (
                Err(FunctionError::new(
                    "Runtime.ExitError",
                    format!(
                        "RequestId: {request_id} Error: Runtime exited without providing a reason {detail}"
                    ),
                )),
                false,
            ),
            Ok(Err(_)) => (
                Err(FunctionError::new(
                    "Runtime.ExitError",
                    "the runtime went away",
                )),
                false,
            ),
            Err(_) => (
                Err(FunctionError::new(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {request_id} Error: Task timed out after {}.00 seconds",
                        spec.timeout.as_secs()
                    ),
                )),
                false,
            ),
        };
        if reuse && let Ok(mut idle) = self.idle.lock() {
            idle.entry(spec.name.clone()).or_default().push(sandbox);
        }
        if let Ok(mut log) = self.invocations.lock() {
            log.push(Invocation {
                function: spec.name.clone(),
                error: result.as_ref().err().map(|e| e.error_type.clone()),
                cold,
            });
        }
        result
    }

    /// Stops every process.
    /// Retires the warm processes of function `name` (a configuration update): its next
    /// invocation starts a fresh one. Returns how many were retired.
    pub fn retire_warm(&self, name: &str) -> usize {
        self.idle
            .lock()
            .map(|mut idle| idle.remove(name).map_or(0, |warm| warm.len()))
            .unwrap_or(0)
    }

    pub fn shutdown(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

fn function_error(value: &Value, default: &str) -> FunctionError {
    FunctionError::new(
        value["errorType"].as_str().unwrap_or(default),
        value["errorMessage"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string()),
    )
}

/// Starts an execution environment: its Runtime API, then the process.
async fn start(spec: &FunctionSpec) -> Result<Sandbox, TwinError> {
    let (events_tx, events_rx) = mpsc::channel(1);
    let shared = Arc::new(Environment {
        events: tokio::sync::Mutex::new(events_rx),
        reply: Mutex::new(None),
        arn: spec.arn.clone(),
    });
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| TwinError::Setup(format!("cannot listen for a Runtime API: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| TwinError::Setup(e.to_string()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(|e| TwinError::io(&spec.log, e))?;
    let mut command = Command::new(&spec.binary);
    command
        .env_clear()
        .envs(&spec.environment)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "twin")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env("_HANDLER", "bootstrap")
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            log.try_clone().map_err(|e| TwinError::io(&spec.log, e))?,
        ))
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| {
        TwinError::Setup(format!(
            "cannot start {} for {}: {e} (build the functions: cargo build --workspace --bins)",
            spec.binary.display(),
            spec.name
        ))
    })?;
    let (kill, killed) = oneshot::channel::<()>();
    let (stop_server, server_stopped) = oneshot::channel::<()>();
    let watched = shared.clone();
    tokio::spawn(async move {
        tokio::select! {
            status = child.wait() => {
                let detail = status.map(|s| s.to_string()).unwrap_or_default();
                watched.answer(Outcome::Exited(detail));
            }
            _ = killed => {
                let _ = child.kill().await;
            }
        }
        let _ = stop_server.send(());
    });
    let app = runtime_api(shared.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = server_stopped.await;
            })
            .await;
    });
    Ok(Sandbox {
        events: events_tx,
        shared,
        _kill: kill,
    })
}

fn runtime_api(shared: Arc<Environment>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(shared)
}

async fn next(State(env): State<Arc<Environment>>) -> Response {
    let event = env.events.lock().await.recv().await;
    let Some(event) = event else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", event.request_id);
    put("lambda-runtime-deadline-ms", event.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", env.arn.clone());
    put(
        "lambda-runtime-trace-id",
        format!("Root=1-{:08x}-{}", event.deadline_ms / 1000, "0".repeat(24)),
    );
    (StatusCode::OK, headers, event.payload.to_string()).into_response()
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))
}

async fn response(
    State(env): State<Arc<Environment>>,
    Path(_id): Path<String>,
    body: String,
) -> StatusCode {
    env.answer(Outcome::Response(parse(&body)));
    StatusCode::ACCEPTED
}

async fn error(
    State(env): State<Arc<Environment>>,
    Path(_id): Path<String>,
    body: String,
) -> StatusCode {
    env.answer(Outcome::Error(parse(&body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(env): State<Arc<Environment>>, body: String) -> impl IntoResponse {
    env.answer(Outcome::InitError(parse(&body)));
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"})))
}
