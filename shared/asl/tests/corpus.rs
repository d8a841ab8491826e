//! Replays the tricky definitions in `tests/corpus/`: limits, overflow-prone numbers, odd
//! names, malformed text. Every file is named after what it exercises, and its prefix says
//! what must happen (anything else fails the test, as does a panic anywhere):
//! - `ok_*.json` validates without findings, and an execution of it ends (never stays
//!   running) with the outcome its `Comment` states: `expect: STATUS [ERROR]`;
//! - `bad_*.json` is refused: `validate` reports findings and `start_execution` returns
//!   `InvalidDefinition`.
//!
//! Executions get the same input (fields the definitions select: items, an empty list, the
//! largest i64, a negative number, a string, a far-future timestamp) and a task invoker
//! that fails resources starting with `fail` and echoes the input of any other.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shipgate_asl::*;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    files
}

fn input() -> Value {
    json!({
        "items": [1, 2, 3],
        "empty": [],
        "huge": i64::MAX,
        "neg": -1,
        "text": "x",
        "at": "9999-12-31T23:59:59Z",
    })
}

/// Fails `fail…` resources, echoes the input of the others.
struct EchoOrFail;

#[async_trait::async_trait]
impl TaskInvoker for EchoOrFail {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        if call.resource.starts_with("fail") {
            return Err(TaskFailure::new("Boom", "this resource always fails"));
        }
        Ok(call.input)
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default()
}

/// The `expect: STATUS [ERROR]` of an `ok_` definition.
fn expected(definition: &str) -> Result<(String, Option<String>), String> {
    let v: Value = serde_json::from_str(definition).map_err(|e| e.to_string())?;
    let comment = v["Comment"].as_str().unwrap_or_default();
    let rest = comment
        .strip_prefix("expect: ")
        .ok_or("an ok_ definition needs a Comment 'expect: STATUS [ERROR]'")?;
    let mut words = rest.split_whitespace();
    let status = words.next().ok_or("no status after 'expect:'")?.to_string();
    Ok((status, words.next().map(str::to_string)))
}

fn status_name(s: ExecutionStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn check_ok(text: &str) -> Result<(), String> {
    let findings = validate(text);
    if !findings.is_empty() {
        return Err(format!("expected no findings, got {findings:?}"));
    }
    let (status, error) = expected(text)?;
    let d = run_to_completion(text, input(), Arc::new(EchoOrFail), t0())
        .await
        .map_err(|e| format!("engine error: {e}"))?;
    if d.status == ExecutionStatus::Running {
        return Err("the execution never ended".into());
    }
    if status_name(d.status) != status {
        return Err(format!("expected {status}, got {d:?}"));
    }
    if let Some(want) = error
        && d.error.as_deref() != Some(want.as_str())
    {
        return Err(format!("expected error {want}, got {d:?}"));
    }
    Ok(())
}

async fn check_bad(text: &str) -> Result<(), String> {
    if validate(text).is_empty() {
        return Err("expected findings, got none".into());
    }
    let engine = Engine::new(
        Arc::new(MemoryExecutionStore::new()),
        Arc::new(EchoOrFail),
        Arc::new(VirtualClock::new(t0())),
    );
    match engine.start_execution(text, "bad", input()).await {
        Err(EngineError::InvalidDefinition(_)) => Ok(()),
        other => Err(format!("expected InvalidDefinition, got {other:?}")),
    }
}

#[tokio::test]
async fn given_corpus_of_tricky_definitions_when_replayed_then_each_behaves_as_named() {
    let files = corpus();
    assert!(files.len() >= 40, "corpus missing: {} files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let outcome = if name.starts_with("ok_") {
            check_ok(&text).await
        } else if name.starts_with("bad_") {
            check_bad(&text).await
        } else {
            Err("corpus files are named ok_… or bad_…".into())
        };
        if let Err(e) = outcome {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
