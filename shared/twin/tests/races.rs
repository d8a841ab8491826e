//! Races between concurrent Lambda invocations, on the twin: real function processes, each
//! calling moto with its own role. Needs Python 3 with moto[server], boto3 and
//! aws-sam-translator, Debian's faketime, and the function binaries
//! (`cargo build --workspace --bins`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use shipgate_core::{Config, ReleaseState};
use shipgate_local::demo::StartSpec;
use shipgate_twin::scenario::Session;
use shipgate_twin::{Stack, StackOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn options(name: &str, dir: &Path) -> StackOptions {
    // The function binaries sit next to this test's own directory (target/debug).
    let exe = std::env::current_exe().unwrap();
    let bin_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    assert!(
        bin_dir.join("rollback").exists(),
        "the function binaries are missing: cargo build --workspace --bins"
    );
    StackOptions {
        template: repo().join("infra/template.yaml"),
        parameters: repo().join("infra/twin/parameters.json"),
        launcher: repo().join("infra/twin/launcher.py"),
        python: "python3".into(),
        bin_dir,
        work_dir: dir.join(name),
        stack_name: "shipgate".into(),
    }
}

fn config() -> Config {
    let mut config =
        Config::from_toml_str(&std::fs::read_to_string(repo().join("shipgate.toml")).unwrap())
            .unwrap();
    config.service.initial_version = "1.2.0".parse().unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_rollbacks_at_once_run_the_reverse_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::up(
        &options("rollbacks", dir.path()),
        config(),
        at("2026-03-10T09:00:00Z"),
    )
    .await
    .unwrap();
    // Given a release being monitored, whose migration ran
    let mut session = Session::new(&stack).await;
    session.push(&StartSpec::new("1.3.0")).await.unwrap();
    session
        .run_until(at("2026-03-10T14:00:00Z"), false)
        .await
        .unwrap();
    session.decide(0, "lee", "approve", None).await.unwrap();
    session
        .run_until(at("2026-03-11T03:10:00Z"), false)
        .await
        .unwrap();
    let release = session.release(0).await.unwrap();
    assert_eq!(release.state, ReleaseState::Monitoring);
    assert_eq!(release.migration.as_ref().map(|m| m.exit_code), Some(0));

    // When one rollback (the alarm's) is waiting on the reverse migration and another
    // (the flow's) starts meanwhile
    let lambda = stack.lambda.clone();
    let id = release.id.to_string();
    let first = tokio::spawn({
        let lambda = lambda.clone();
        let id = id.clone();
        async move {
            lambda
                .invoke("shipgate-rollback", json!({"release_id": id}))
                .await
        }
    });
    let downgrades = || async {
        stack
            .control
            .tasks()
            .await
            .unwrap()
            .iter()
            .filter(|t| t["command"] == json!(["alembic", "downgrade", "-1"]))
            .count()
    };
    for _ in 0..200 {
        if downgrades().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        downgrades().await,
        1,
        "the first rollback started the downgrade"
    );
    let second = lambda
        .invoke("shipgate-rollback", json!({"release_id": id}))
        .await;
    let first = first.await.unwrap();

    // Then the downgrade ran once: the second waits (and is retried by the flow)
    assert!(first.is_ok(), "{first:?}");
    let second = second.unwrap_err();
    assert_eq!(
        second.error_type, "Gate.Unavailable",
        "{}",
        second.error_message
    );
    assert_eq!(downgrades().await, 1);
    assert_eq!(
        session.release(0).await.unwrap().state,
        ReleaseState::RolledBack
    );
    // and a retry once the first has finished finds nothing more to do
    let again = lambda
        .invoke("shipgate-rollback", json!({"release_id": id}))
        .await
        .unwrap();
    assert_eq!(again["state"], "RolledBack");
    assert_eq!(downgrades().await, 1);
    stack.down().await;
}
