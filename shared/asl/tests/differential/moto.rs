//! A moto server on 127.0.0.1 as a second States Language engine (moto's Step Functions
//! "parser" backend, a port of LocalStack's interpreter), driven over the AWS JSON 1.0
//! protocol with no credentials. Shared by the differential test and the `engine` bench.
//!
//! [`MotoServer::start`] picks a free port, runs `python3 -m moto.server -H 127.0.0.1 -p
//! PORT` (`MOTO_PYTHON` overrides the interpreter), waits until it answers and turns real
//! execution on; dropping the guard kills the process (also when a test panics).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Regions used as independent slots (see [`MotoServer::run`]).
pub(crate) const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"];

/// How an execution (or its creation) ended, in Step Functions terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`, `RUNNING`, or `INVALID_DEFINITION`
    /// when the engine refused the definition.
    pub status: String,
    /// The output when the execution succeeded.
    pub output: Option<Value>,
    /// The error name when it failed.
    pub error: Option<String>,
    /// The cause when it failed (or why the definition was refused).
    pub cause: Option<String>,
    /// Seconds from start to stop as moto records them (millisecond resolution).
    pub seconds: Option<f64>,
}

/// A running moto server; killed on drop.
pub(crate) struct MotoServer {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether moto's server can be imported; `Err` carries the reason.
pub(crate) fn moto_available() -> Result<(), String> {
    let out = Command::new(python())
        .args([
            "-c",
            "import moto, moto.server, flask, flask_cors; print(moto.__version__)",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{} -c 'import moto.server'` failed (install with `pip install 'moto[server]'`): {}",
            python(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn python() -> String {
    std::env::var("MOTO_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// moto's version, for reports.
pub(crate) fn moto_version() -> String {
    Command::new(python())
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Starts moto, or explains why it cannot: `Ok(None)` means "not installed, skip" (only
/// when the `CI` variable is unset; under CI a missing moto is an error).
pub(crate) async fn start_or_skip(what: &str) -> Result<Option<MotoServer>, String> {
    if let Err(why) = moto_available() {
        if std::env::var_os("CI").is_some() {
            return Err(format!("{what}: moto is required under CI: {why}"));
        }
        println!("{what}: moto is not installed, skipping ({why})");
        return Ok(None);
    }
    MotoServer::start().await.map(Some)
}

impl MotoServer {
    /// Starts the server and enables execution of state machines.
    pub(crate) async fn start() -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new(python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("moto exited at start-up ({status})"));
            }
            let ok = server
                .http
                .get(format!("{}/moto-api/", server.base))
                .send()
                .await
                .is_ok();
            if ok {
                break;
            }
            if Instant::now() > deadline {
                return Err("moto did not answer within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.configure().await?;
        Ok(server)
    }

    async fn configure(&mut self) -> Result<(), String> {
        let r = self
            .http
            .post(format!("{}/moto-api/config", self.base))
            .json(&json!({"stepfunctions": {"execute_state_machine": true},
                          "lambda": {"use_docker": false}}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("moto config: HTTP {}", r.status()));
        }
        Ok(())
    }

    /// One Step Functions call in `region`; `Err((type, message))` for an error response.
    async fn call(
        &self,
        region: &str,
        action: &str,
        body: Value,
    ) -> Result<Value, (String, String)> {
        let r = self
            .http
            .post(format!("{}/", self.base))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", format!("AWSStepFunctions.{action}"))
            // moto routes by the credential scope's service name; nothing is checked.
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/states/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| ("transport".to_string(), e.to_string()))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| ("transport".to_string(), e.to_string()))?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v);
        }
        let kind = v
            .get("__type")
            .and_then(Value::as_str)
            .unwrap_or("HTTP error")
            .to_string();
        let msg = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| {
                format!(
                    "HTTP {status}: {}",
                    text.chars().take(300).collect::<String>()
                )
            });
        Err((kind, msg))
    }

    /// Creates a state machine named `name`, runs one execution on `input` to its end, and
    /// deletes the state machine again. Calls with different `slot`s may run concurrently.
    ///
    /// The deletion is needed, not tidiness: moto deep-copies the state machine, and with it
    /// its region's whole backend, on every StartExecution, and fails (`cannot pickle
    /// '_thread.RLock'`) when another execution object is reachable from that backend. So
    /// each slot uses its own region and holds one state machine at a time.
    pub(crate) async fn run(
        &self,
        slot: usize,
        name: &str,
        definition: &str,
        input: &Value,
    ) -> Result<Outcome, String> {
        let region = REGIONS[slot % REGIONS.len()];
        let created = self
            .call(
                region,
                "CreateStateMachine",
                json!({"name": name, "definition": definition,
                       "roleArn": "arn:aws:iam::123456789012:role/shipgate-differential"}),
            )
            .await;
        let arn = match created {
            Ok(v) => v["stateMachineArn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            Err((kind, msg))
                if kind.contains("InvalidDefinition") || msg.contains("ASLParserException") =>
            {
                return Ok(Outcome {
                    status: "INVALID_DEFINITION".into(),
                    output: None,
                    error: Some(kind),
                    cause: Some(msg),
                    seconds: None,
                });
            }
            Err((kind, msg)) => return Err(format!("CreateStateMachine: {kind}: {msg}")),
        };
        let result = self.execute(region, &arn, input).await;
        let _ = self
            .call(
                region,
                "DeleteStateMachine",
                json!({"stateMachineArn": arn}),
            )
            .await;
        result
    }

    async fn execute(&self, region: &str, arn: &str, input: &Value) -> Result<Outcome, String> {
        let started = self
            .call(
                region,
                "StartExecution",
                json!({"stateMachineArn": arn, "name": "run", "input": input.to_string()}),
            )
            .await
            .map_err(|(k, m)| format!("StartExecution: {k}: {m}"))?;
        let exec_arn = started["executionArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut pause = Duration::from_millis(1);
        let mut succeeded_at = None;
        loop {
            let d = self
                .call(
                    region,
                    "DescribeExecution",
                    json!({"executionArn": exec_arn}),
                )
                .await
                .map_err(|(k, m)| format!("DescribeExecution: {k}: {m}"))?;
            let status = d["status"].as_str().unwrap_or_default().to_string();
            // moto marks an execution SUCCEEDED a moment before it stores the output, and
            // leaves out an output of `null` altogether: give it 200 ms.
            let settled = status != "SUCCEEDED"
                || d.get("output").is_some()
                || succeeded_at.is_some_and(|t: Instant| t.elapsed() > Duration::from_millis(200));
            if status == "SUCCEEDED" && succeeded_at.is_none() {
                succeeded_at = Some(Instant::now());
            }
            if status != "RUNNING" && settled {
                let output = (status == "SUCCEEDED").then(|| {
                    d["output"].as_str().map_or(Value::Null, |s| {
                        serde_json::from_str(s).unwrap_or(Value::String(s.to_string()))
                    })
                });
                return Ok(Outcome {
                    status,
                    output,
                    error: d["error"].as_str().map(String::from),
                    cause: d["cause"].as_str().map(String::from),
                    seconds: d["stopDate"]
                        .as_f64()
                        .zip(d["startDate"].as_f64())
                        .map(|(stop, start)| stop - start),
                });
            }
            if Instant::now() > deadline {
                return Err(format!("execution {exec_arn} still running after 120 s"));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}
