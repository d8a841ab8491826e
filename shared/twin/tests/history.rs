//! What a push costs the trigger as the release history grows, on the twin: the trigger's
//! DynamoDB calls (as moto's IAM saw them) for the first push and for a push after many
//! releases must be the same — GitHub gives the webhook 10 seconds.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use shipgate_core::Config;
use shipgate_local::demo::StartSpec;
use shipgate_twin::scenario::Session;
use shipgate_twin::{Stack, StackOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The trigger's DynamoDB calls so far.
fn trigger_reads(stack: &Stack) -> u64 {
    stack
        .calls
        .all()
        .iter()
        .filter(|c| c.call.function == "shipgate-trigger" && c.call.action.starts_with("dynamodb:"))
        .map(|c| c.count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_long_history_when_a_push_arrives_then_it_costs_the_trigger_the_same() {
    let exe = std::env::current_exe().unwrap();
    let bin_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    assert!(
        bin_dir.join("trigger").exists(),
        "the function binaries are missing: cargo build --workspace --bins"
    );
    let dir = tempfile::tempdir().unwrap();
    let options = StackOptions {
        template: repo().join("infra/template.yaml"),
        parameters: repo().join("infra/twin/parameters.json"),
        launcher: repo().join("infra/twin/launcher.py"),
        python: "python3".into(),
        bin_dir,
        work_dir: dir.path().join("history"),
        stack_name: "shipgate".into(),
        task_seconds: 1.0,
    };
    let mut config =
        Config::from_toml_str(&std::fs::read_to_string(repo().join("shipgate.toml")).unwrap())
            .unwrap();
    config.service.initial_version = "1.2.0".parse().unwrap();
    let stack = Stack::up(&options, config, at("2026-03-10T09:00:00Z"))
        .await
        .unwrap();
    let mut session = Session::new(&stack).await;

    let mut costs = Vec::new();
    for minor in 3..=26 {
        let version: &'static str = Box::leak(format!("1.{minor}.0").into_boxed_str());
        let before = trigger_reads(&stack);
        session.push(&StartSpec::new(version)).await.unwrap();
        stack.sync_calls().await.unwrap();
        costs.push(trigger_reads(&stack) - before);
    }
    assert_eq!(
        session.release(23).await.unwrap().semver.to_string(),
        "1.26.0"
    );
    let (first, last) = (costs[0], costs[costs.len() - 1]);
    assert!(first > 0, "the trigger made no DynamoDB call: {costs:?}");
    assert!(
        last <= first + 1,
        "the 24th push cost the trigger {last} DynamoDB calls, the first {first}: {costs:?}"
    );
    stack.down().await;
}
