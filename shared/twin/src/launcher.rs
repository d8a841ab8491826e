//! Starts `infra/twin/launcher.py` (moto with IAM enforced, the template translated and
//! provisioned) and talks to its control API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::TwinError;
use crate::manifest::Manifest;

/// What the launcher needs to bring the stack up.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub python: String,
    pub script: PathBuf,
    pub template: PathBuf,
    pub parameters: PathBuf,
    pub seed: PathBuf,
    pub edge_url: String,
    pub clock_file: PathBuf,
    pub stack_name: String,
    /// Parameter values that override the parameter file (`Key=Value`).
    pub overrides: Vec<(String, String)>,
    /// Where the launcher's log goes.
    pub log: PathBuf,
}

/// The running launcher; stopped (moto with it) when dropped or [`Launcher::stop`]ped.
pub struct Launcher {
    child: Child,
    stdin: Option<ChildStdin>,
    pub manifest: Manifest,
    pub control: Control,
}

impl Launcher {
    pub async fn start(options: &LaunchOptions) -> Result<Self, TwinError> {
        let log =
            std::fs::File::create(&options.log).map_err(|e| TwinError::io(&options.log, e))?;
        let mut command = Command::new(&options.python);
        command
            .arg(&options.script)
            .arg("--template")
            .arg(&options.template)
            .arg("--parameters")
            .arg(&options.parameters)
            .arg("--seed")
            .arg(&options.seed)
            .arg("--edge-url")
            .arg(&options.edge_url)
            .arg("--clock-file")
            .arg(&options.clock_file)
            .arg("--stack-name")
            .arg(&options.stack_name);
        for (key, value) in &options.overrides {
            command.arg("--parameter").arg(format!("{key}={value}"));
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| TwinError::Launcher(format!(
            "cannot run {} {}: {e} (the twin needs Python 3 with moto[server], boto3 and aws-sam-translator)",
            options.python,
            options.script.display()
        )))?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            return Err(TwinError::Launcher(
                "the launcher has no standard output".into(),
            ));
        };
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(180), lines.next_line()).await;
        let line = match line {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.ok();
                return Err(TwinError::Launcher(format!(
                    "the launcher stopped ({}) before the stack was up; its log: {}\n{}",
                    status.map(|s| s.to_string()).unwrap_or_default(),
                    options.log.display(),
                    tail(&options.log)
                )));
            }
            Err(_) => {
                return Err(TwinError::Launcher(format!(
                    "the stack was not up after 180 s; the launcher's log: {}",
                    options.log.display()
                )));
            }
        };
        let manifest: Manifest = serde_json::from_str(&line).map_err(|e| {
            TwinError::Launcher(format!("unreadable manifest from the launcher: {e}"))
        })?;
        let control = Control::new(&manifest.control);
        Ok(Launcher {
            child,
            stdin,
            manifest,
            control,
        })
    }

    /// Closes the launcher's standard input (it stops moto and exits), then waits.
    pub async fn stop(mut self) {
        self.stdin.take();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The last lines of a log, for an error message.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// One call moto authorised or refused.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    pub access_key_id: String,
    pub action: String,
    pub allowed: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Calls {
    calls: Vec<Call>,
    next: usize,
}

/// What the launcher says of the ECS service.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceView {
    #[serde(default)]
    pub task_definition: Option<String>,
    #[serde(default)]
    pub serving: Option<String>,
    #[serde(default)]
    pub serving_image_tag: Option<String>,
    #[serde(default)]
    pub serving_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// A schedule in moto's EventBridge Scheduler.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleView {
    pub name: String,
    #[serde(default)]
    pub group: Option<String>,
    pub expression: String,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    pub target: ScheduleTarget,
    #[serde(default)]
    pub start_date: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleTarget {
    pub arn: String,
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub role_arn: Option<String>,
}

/// The launcher's control API.
#[derive(Clone)]
pub struct Control {
    http: reqwest::Client,
    base: String,
}

impl Control {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, TwinError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| TwinError::Control(format!("GET {path}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| TwinError::Control(format!("GET {path}: {e}")))?;
        if !status.is_success() {
            return Err(TwinError::Control(format!(
                "GET {path} answered {status}: {text}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| TwinError::Control(format!("GET {path}: {e}: {text}")))
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, TwinError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|e| TwinError::Control(format!("POST {path}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| TwinError::Control(format!("POST {path}: {e}")))?;
        if !status.is_success() {
            return Err(TwinError::Control(format!(
                "POST {path} answered {status}: {text}"
            )));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The calls moto decided on since `since`, and where the next read starts.
    pub async fn calls(&self, since: usize) -> Result<(Vec<Call>, usize), TwinError> {
        let calls: Calls = self.get(&format!("/calls?since={since}")).await?;
        Ok((calls.calls, calls.next))
    }

    /// Whether the holder of `access_key_id` may do `action` (moto's IAM evaluation).
    pub async fn authorize(&self, access_key_id: &str, action: &str) -> Result<bool, TwinError> {
        let answer = self
            .post(
                "/authorize",
                &json!({"access_key_id": access_key_id, "action": action, "resource": "*"}),
            )
            .await?;
        Ok(answer["allowed"] == json!(true))
    }

    pub async fn set_faults(&self, faults: &Value) -> Result<(), TwinError> {
        self.post("/faults", faults).await.map(|_| ())
    }

    pub async fn service(&self) -> Result<ServiceView, TwinError> {
        self.get("/ecs/service").await
    }

    pub async fn tasks(&self) -> Result<Vec<Value>, TwinError> {
        let v: Value = self.get("/ecs/tasks").await?;
        Ok(list(v, "tasks"))
    }

    pub async fn mail(&self) -> Result<Vec<Value>, TwinError> {
        let v: Value = self.get("/ses/messages").await?;
        Ok(list(v, "messages"))
    }

    pub async fn schedules(&self) -> Result<Vec<ScheduleView>, TwinError> {
        let v: Value = self.get("/scheduler/schedules").await?;
        serde_json::from_value(Value::Array(list(v, "schedules")))
            .map_err(|e| TwinError::Control(format!("GET /scheduler/schedules: {e}")))
    }

    /// Sets a CloudWatch alarm's state in moto; answers the `detail` of the state change event.
    pub async fn set_alarm(
        &self,
        name: &str,
        state: &str,
        reason: &str,
    ) -> Result<Value, TwinError> {
        self.post(
            "/alarm",
            &json!({"name": name, "state": state, "reason": reason}),
        )
        .await
    }
}

/// A JSON list, bare or under `key`.
fn list(v: Value, key: &str) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove(key) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
