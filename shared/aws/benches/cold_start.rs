//! Benchmark (not a test): cold start of each function binary — from process start to its
//! first `GET /runtime/invocation/next` — median of 20, next to a bare `lambda_runtime` echo
//! binary built with the same profile and the same gate written as a Python handler with
//! boto3 (import and client creation), all measured the same way in one run.
//!
//! Goals: the slowest function within 2.5× the echo binary, and at least 25× faster than
//! Python + boto3.
//!
//! `make bench-cold-start` builds the release binaries first; run alone it expects them in
//! the target directory's `release/`.

#[path = "../tests/lambda_runtime/api.rs"]
#[allow(dead_code)]
mod api;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;

use api::{RuntimeApi, router};

const FUNCTIONS: [&str; 9] = [
    "approve",
    "window",
    "deploy",
    "health-check",
    "monitor",
    "rollback",
    "announce",
    "trigger",
    "callback",
];
const ROUNDS: usize = 20;
/// Under `cargo test --all-targets` (no `--bench` flag) each measurement runs twice, as a smoke test.
const SMOKE_ROUNDS: usize = 2;

const PYTHON_HANDLER: &str = r#"
import os, urllib.request
import boto3
dynamodb = boto3.client("dynamodb")
ecs = boto3.client("ecs")
sfn = boto3.client("stepfunctions")
urllib.request.urlopen("http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/next", timeout=30)
"#;

/// Where the binaries are: `SHIPGATE_BENCH_BINARIES`, else the profile directory this
/// benchmark was built into.
fn release_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHIPGATE_BENCH_BINARIES") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf()
}

/// Milliseconds from spawning `command` to its first poll of the Runtime API.
async fn cold_start(mut command: Command) -> anyhow_like::Result<f64> {
    let api = RuntimeApi {
        event: Arc::new(Mutex::new(Some(json!({"action": "open"})))),
        answer: Arc::default(),
        first_poll: Arc::default(),
    };
    let first_poll = api.first_poll.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(api))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .ok();
    });
    command
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn()?;
    let elapsed = loop {
        if let Some(at) = *first_poll.lock().map_err(|_| "poisoned")? {
            break at.duration_since(started);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            return Err("no poll within 30 s".into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = stop.send(());
    let _ = server.await;
    Ok(elapsed.as_secs_f64() * 1e3)
}

mod anyhow_like {
    pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn env(command: &mut Command) {
    let config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shipgate.toml"))
            .unwrap_or_default();
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("SHIPGATE_CONFIG", config)
        .env("SHIPGATE_TABLE", "shipgate")
        .env(
            "SHIPGATE_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:shipgate-release",
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_LAMBDA_FUNCTION_NAME", "shipgate")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
}

fn main() -> anyhow_like::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        SMOKE_ROUNDS
    };
    runtime.block_on(async {
        let mut python = Vec::new();
        for _ in 0..rounds {
            let mut command = Command::new("python3");
            command.args(["-c", PYTHON_HANDLER]);
            env(&mut command);
            python.push(cold_start(command).await?);
        }
        let python = median(python);
        let echo_binary = release_dir().join("lambda_echo");
        if !echo_binary.exists() {
            return Err(format!(
                "{} is missing: run `make bench-cold-start`",
                echo_binary.display()
            )
            .into());
        }
        let mut echo = Vec::new();
        for _ in 0..rounds {
            let mut command = Command::new(&echo_binary);
            env(&mut command);
            echo.push(cold_start(command).await?);
        }
        let echo = median(echo);
        let mut slowest = (String::new(), 0.0_f64);
        println!(
            "{:<14} {:>10} {:>10} {:>12}",
            "function", "median ms", "÷ echo", "python ÷"
        );
        for name in FUNCTIONS {
            let binary = release_dir().join(name);
            if !binary.exists() {
                return Err(format!(
                    "{} is missing: run `make bench-cold-start`",
                    binary.display()
                )
                .into());
            }
            let mut times = Vec::new();
            for _ in 0..rounds {
                let mut command = Command::new(&binary);
                env(&mut command);
                times.push(cold_start(command).await?);
            }
            let m = median(times);
            if m > slowest.1 {
                slowest = (name.to_string(), m);
            }
            println!(
                "{name:<14} {m:>10.2} {:>9.2}× {:>11.0}×",
                m / echo,
                python / m
            );
        }
        println!("{:<14} {echo:>10.2}", "lambda echo");
        println!("{:<14} {python:>10.2}", "python+boto3");
        let (name, m) = slowest;
        let vs_echo = m / echo;
        let vs_python = python / m;
        println!(
            "slowest: {name} {m:.2} ms — {vs_echo:.2}× the echo binary (goal ≤ 2.5×: {}), python ÷ slowest {vs_python:.0}× (goal ≥ 25×: {})",
            if vs_echo <= 2.5 { "met" } else { "not met" },
            if vs_python >= 25.0 { "met" } else { "not met" },
        );
        Ok(())
    })
}
