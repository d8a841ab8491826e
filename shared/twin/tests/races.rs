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
    options_with(name, dir, repo().join("infra/template.yaml"), 1.0)
}

fn options_with(name: &str, dir: &Path, template: PathBuf, task_seconds: f64) -> StackOptions {
    // The function binaries sit next to this test's own directory (target/debug).
    let exe = std::env::current_exe().unwrap();
    let bin_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    assert!(
        bin_dir.join("rollback").exists(),
        "the function binaries are missing: cargo build --workspace --bins"
    );
    StackOptions {
        template,
        parameters: repo().join("infra/twin/parameters.json"),
        launcher: repo().join("infra/twin/launcher.py"),
        python: "python3".into(),
        bin_dir,
        work_dir: dir.join(name),
        stack_name: "shipgate".into(),
        task_seconds,
    }
}

fn config() -> Config {
    let mut config =
        Config::from_toml_str(&std::fs::read_to_string(repo().join("shipgate.toml")).unwrap())
            .unwrap();
    config.service.initial_version = "1.2.0".parse().unwrap();
    config
}

/// Release #0 (1.3.0, with a migration), pushed at 09:00 and approved by the Eng Lead at
/// 14:00: it deploys at 03:00 the next day.
async fn approved_release(stack: &Stack) -> Session<'_> {
    let mut session = Session::new(stack).await;
    session.push(&StartSpec::new("1.3.0")).await.unwrap();
    session
        .run_until(at("2026-03-10T14:00:00Z"), false)
        .await
        .unwrap();
    session.decide(0, "lee", "approve", None).await.unwrap();
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_migrated_release_when_two_rollbacks_race_then_reversed_once_and_both_finish() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::up(
        &options("rollbacks", dir.path()),
        config(),
        at("2026-03-10T09:00:00Z"),
    )
    .await
    .unwrap();
    // Given a release being monitored, whose migration ran
    let mut session = approved_release(&stack).await;
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
    // (retried as the flow retries Release.Conflict and Gate.Unavailable)
    let mut second = Err(shipgate_asl::FunctionError::new("none", "not run"));
    for _ in 0..6 {
        second = lambda
            .invoke("shipgate-rollback", json!({"release_id": id}))
            .await;
        match &second {
            Err(e) if e.error_type == "Release.Conflict" || e.error_type == "Gate.Unavailable" => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => break,
        }
    }
    let first = first.await.unwrap();

    // Then both end with the release rolled back, and the downgrade ran once: the second
    // waited for the first's task instead of starting another
    assert!(first.is_ok(), "{first:?}");
    assert_eq!(second.unwrap()["state"], "RollingBack");
    assert_eq!(downgrades().await, 1);
    let release = session.release(0).await.unwrap();
    assert_eq!(release.state, ReleaseState::RollingBack);
    assert!(release.migration.is_some_and(|m| m.reversed));
    // and a retry once the first has finished finds nothing more to do
    let again = lambda
        .invoke("shipgate-rollback", json!({"release_id": id}))
        .await
        .unwrap();
    assert_eq!(again["state"], "RollingBack");
    assert_eq!(downgrades().await, 1);
    // and the restore, once its rollout has completed, is seen working
    session
        .run_until(at("2026-03-11T03:30:00Z"), false)
        .await
        .unwrap();
    let verified = lambda
        .invoke(
            "shipgate-rollback",
            json!({"release_id": id, "step": "verify"}),
        )
        .await
        .unwrap();
    assert_eq!(verified["state"], "RolledBack");
    assert_eq!(downgrades().await, 1);
    stack.down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_deploy_timed_out_mid_migration_when_rolled_back_then_the_migration_is_too() {
    // A stack whose deploy function gives up (its Timeout) before the migration ends.
    let dir = tempfile::tempdir().unwrap();
    let template = std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap();
    let deploy_timeout = "      # A migration is a one-off task waited on for up to 10 minutes.\n      Timeout: 900\n";
    assert!(template.contains(deploy_timeout));
    let short = template
        .replacen(deploy_timeout, "      Timeout: 3\n", 1)
        .replace(
            "../statemachine.json",
            &repo().join("statemachine.json").display().to_string(),
        );
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, short).unwrap();
    let stack = Stack::up(
        &options_with("deploy-timeout", dir.path(), path, 8.0),
        config(),
        at("2026-03-10T09:00:00Z"),
    )
    .await
    .unwrap();
    let mut session = approved_release(&stack).await;
    session
        .run_until(at("2026-03-11T04:00:00Z"), true)
        .await
        .unwrap();

    // The deploy timed out waiting; the rollback learned the migration had run and
    // reversed it: each task exactly once.
    let commands: Vec<String> = stack
        .control
        .tasks()
        .await
        .unwrap()
        .iter()
        .map(|t| t["command"].to_string())
        .collect();
    assert_eq!(
        commands,
        vec![
            json!(["alembic", "upgrade", "head"]).to_string(),
            json!(["alembic", "downgrade", "-1"]).to_string()
        ]
    );
    let timed_out =
        stack.lambda.invocations().iter().any(|i| {
            i.function == "shipgate-deploy" && i.error.as_deref() == Some("Sandbox.Timedout")
        });
    assert!(timed_out, "the deploy function must have timed out");
    let release = session.release(0).await.unwrap();
    assert_eq!(
        release.state,
        ReleaseState::RolledBack,
        "{:?}",
        release.outcome
    );
    assert!(
        release
            .migration
            .is_some_and(|m| m.exit_code == 0 && m.reversed)
    );
    stack.down().await;
}
