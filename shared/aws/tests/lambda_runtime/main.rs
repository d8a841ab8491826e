//! The function binaries as Lambda runs them: each is started against a small Lambda
//! Runtime API server on 127.0.0.1 (this test's), given one event, and its response — or
//! its error, with the exact `errorType` `statemachine.json` matches — is checked.

mod api;
#[path = "../moto/helpers.rs"]
mod moto;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shipgate_aws::dynamo::DynamoReleaseStore;
use tokio::net::TcpListener;

use crate::api::{Answer, RuntimeApi, router};
use crate::moto::Moto;

/// The function binaries sit next to this test's own binary's directory.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

fn config_toml() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shipgate.toml")).unwrap()
}

struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `name` with `event` and the environment `env`; returns what it answered, or
/// `None` with its standard error when it exited without answering.
async fn invoke(name: &str, event: Value, env: &[(&str, String)]) -> Result<Answer, String> {
    let answer: Arc<Mutex<Option<Answer>>> = Arc::default();
    let api = RuntimeApi {
        event: Arc::new(Mutex::new(Some(event))),
        answer: answer.clone(),
        first_poll: Arc::default(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(api))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .ok();
    });
    let mut command = Command::new(binary(name));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("shipgate-{name}"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut function = Function(command.spawn().unwrap());
    let started = Instant::now();
    let result = loop {
        if let Some(answer) = answer.lock().unwrap().clone() {
            break Ok(answer);
        }
        if let Ok(Some(_)) = function.0.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = function.0.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            break Err(stderr);
        }
        if started.elapsed() > Duration::from_secs(30) {
            break Err("no answer within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(function);
    let _ = stop.send(());
    let _ = server.await;
    result
}

/// The environment of a deployed function, pointed at moto.
async fn environment(moto: &Moto) -> Vec<(&'static str, String)> {
    let store =
        DynamoReleaseStore::new(aws_sdk_dynamodb::Client::new(&moto.sdk().await), "shipgate");
    store.create_table().await.unwrap();
    vec![
        ("SHIPGATE_CONFIG", config_toml()),
        ("SHIPGATE_TABLE", "shipgate".into()),
        (
            "SHIPGATE_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:shipgate-release".into(),
        ),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
}

fn error_type(answer: &Answer) -> Option<&str> {
    match answer {
        Answer::Error(body) => body["errorType"].as_str(),
        _ => None,
    }
}

#[tokio::test]
async fn given_every_gate_when_it_fails_then_it_answers_with_an_error_name_the_flow_matches() {
    let Some(moto) = Moto::start() else { return };
    let env = environment(&moto).await;
    let cases = [
        (
            "approve",
            json!({"action": "expire", "release_id": "api-1.3.0-0000000"}),
            "Release.NotFound",
        ),
        (
            "window",
            json!({"action": "enqueue", "release_id": "api-1.3.0-0000000", "task_token": "t"}),
            "Release.NotFound",
        ),
        (
            "deploy",
            json!({"action": "launch", "release_id": "api-1.3.0-0000000"}),
            "Gate.InvalidInput",
        ),
        (
            "deploy",
            json!({"action": "start", "release_id": "api-1.3.0-0000000"}),
            "Release.NotFound",
        ),
        (
            "health-check",
            json!({"release_id": "api-1.3.0-0000000"}),
            "Release.NotFound",
        ),
        (
            "monitor",
            json!({"release_id": "not a valid id"}),
            "Gate.InvalidInput",
        ),
        (
            "rollback",
            json!({"release_id": "api-1.3.0-0000000"}),
            "Release.NotFound",
        ),
        (
            "announce",
            json!({"release_id": "api-1.3.0-0000000", "error": null}),
            "Release.NotFound",
        ),
    ];
    for (name, event, expected) in cases {
        let answer = invoke(name, event.clone(), &env)
            .await
            .unwrap_or_else(|e| panic!("{name} died: {e}"));
        assert_eq!(
            error_type(&answer),
            Some(expected),
            "{name} with {event}: {answer:?}"
        );
        if let Answer::Error(body) = &answer {
            assert!(body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}

#[tokio::test]
async fn given_the_window_gate_when_a_scheduled_wake_up_arrives_then_it_answers() {
    let Some(moto) = Moto::start() else { return };
    let env = environment(&moto).await;
    let answer = invoke("window", json!({"action": "open"}), &env)
        .await
        .unwrap();
    assert_eq!(
        answer,
        Answer::Response(json!({"dispatched": null, "next_check": null}))
    );
}

#[tokio::test]
async fn given_an_eventbridge_alarm_event_when_the_rollback_function_runs_then_it_takes_it() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/alarm-state-change.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let Some(moto) = Moto::start() else { return };
    let env = environment(&moto).await;
    let event: Value = serde_json::from_str(&text).unwrap();
    // No release is live: nothing to roll back, and it says so.
    let answer = invoke("rollback", event.clone(), &env).await.unwrap();
    assert_eq!(
        answer,
        Answer::Response(json!({"rolled_back": null, "alarm": "roleferry-api-5xx-rate"}))
    );

    let mut ok = event;
    ok["detail"]["state"]["value"] = json!("OK");
    let answer = invoke("rollback", ok, &env).await.unwrap();
    let Answer::Response(body) = answer else {
        panic!("{answer:?}")
    };
    assert!(
        body["ignored"].as_str().unwrap().contains("not ALARM"),
        "{body}"
    );

    let garbled = json!({"detail-type": "CloudWatch Alarm State Change", "detail": {"nope": 1}});
    let answer = invoke("rollback", garbled, &env).await.unwrap();
    assert_eq!(error_type(&answer), Some("Gate.InvalidInput"));
}

#[tokio::test]
async fn given_a_function_missing_its_configuration_when_started_then_it_names_what_to_set() {
    let env = vec![
        ("SHIPGATE_CONFIG", config_toml()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let result = invoke("monitor", json!({}), &env).await;
    match result {
        Err(stderr) => assert!(stderr.contains("SHIPGATE_TABLE"), "{stderr}"),
        Ok(Answer::InitError(body)) => {
            assert!(body.to_string().contains("SHIPGATE_TABLE"), "{body}")
        }
        Ok(other) => panic!("expected a start-up failure, got {other:?}"),
    }
}

/// A function URL request (the fixture's shape) for `method` `path` with `headers` and `body`.
fn url_request(method: &str, path: &str, headers: Value, body: &str) -> Value {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/function-url-request.json"
    );
    let text = std::fs::read_to_string(fixture).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!("");
    event["queryStringParameters"] = Value::Null;
    event["cookies"] = json!([]);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["headers"] = headers;
    event["body"] = json!(body);
    event
}

fn status_of(answer: &Answer) -> Option<u64> {
    match answer {
        Answer::Response(body) => body["statusCode"].as_u64(),
        _ => None,
    }
}

async fn web_environment(moto: &Moto) -> Vec<(&'static str, String)> {
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk().await);
    for (name, value) in [
        ("/shipgate/github-webhook-secret", "dev-secret"),
        ("/shipgate/link-key", "0123456789abcdef0123456789abcdef"),
    ] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let mut env = environment(moto).await;
    env.push((
        "SHIPGATE_GITHUB_SECRET_PARAMETER",
        "/shipgate/github-webhook-secret".into(),
    ));
    env.push(("SHIPGATE_LINK_KEY_PARAMETER", "/shipgate/link-key".into()));
    env.push((
        "SHIPGATE_PUBLIC_URL",
        "https://callback.lambda-url.us-east-1.on.aws".into(),
    ));
    env
}

fn github_signature(secret: &str, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[tokio::test]
async fn given_a_github_webhook_when_the_trigger_function_runs_then_it_checks_the_signature() {
    let Some(moto) = Moto::start() else { return };
    let env = web_environment(&moto).await;
    let body = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let unsigned = url_request(
        "POST",
        "/webhooks/github",
        json!({"x-github-event": "ping", "content-type": "application/json"}),
        body,
    );
    let answer = invoke("trigger", unsigned, &env).await.unwrap();
    assert_eq!(status_of(&answer), Some(401), "{answer:?}");

    let headers = json!({
        "x-github-event": "ping",
        "x-github-delivery": "d-1",
        "content-type": "application/json",
        "x-hub-signature-256": github_signature("dev-secret", body),
    });
    let signed = url_request("POST", "/webhooks/github", headers, body);
    let answer = invoke("trigger", signed, &env).await.unwrap();
    assert_eq!(status_of(&answer), Some(200), "{answer:?}");
}

#[tokio::test]
async fn given_the_callback_function_when_the_dashboard_is_asked_then_it_needs_a_personal_link() {
    let Some(moto) = Moto::start() else { return };
    let env = web_environment(&moto).await;
    let damaged = url_request("GET", "/approvals/not-a-link", json!({}), "");
    let answer = invoke("callback", damaged, &env).await.unwrap();
    assert_eq!(status_of(&answer), Some(400), "{answer:?}");
    for path in ["/", "/api/releases"] {
        let dashboard = url_request("GET", path, json!({}), "");
        let answer = invoke("callback", dashboard, &env).await.unwrap();
        assert_eq!(
            status_of(&answer),
            Some(401),
            "the dashboard needs a personal link on the public URL: {answer:?}"
        );
    }
}
