//! Executions outlive the process that started them: a second runtime over the same data
//! directory (another `shipgate` command, another day) takes a release the rest of the way.

use shipgate_core::ReleaseState;

use crate::helpers::{approve, at, load, runtime_in, start};

#[tokio::test]
async fn given_a_release_started_in_one_process_when_another_resumes_it_then_it_finishes() {
    let dir = tempfile::tempdir().unwrap();

    // Given a release started and left waiting for approval
    let first = runtime_in(&dir, at("2026-03-10T09:00:00Z")).await;
    let id = start(&first, "1.3.0", "alex").await;
    assert_eq!(
        load(&first, &id).await.state,
        ReleaseState::AwaitingApproval
    );
    first.shutdown().await;

    // When a new process approves it in the afternoon
    let second = runtime_in(&dir, at("2026-03-10T14:00:00Z")).await;
    approve(&second, &id, "lee").await;
    assert_eq!(load(&second, &id).await.state, ReleaseState::AwaitingWindow);
    second.shutdown().await;

    // Then a third process running the next night deploys and finishes it
    let third = runtime_in(&dir, at("2026-03-11T02:59:00Z")).await;
    third.run_until(at("2026-03-11T06:00:00Z")).await.unwrap();
    let release = load(&third, &id).await;
    assert_eq!(
        release.state,
        ReleaseState::Succeeded,
        "{:#?}",
        release.events
    );
    assert_eq!(release.deploy_started_at, Some(at("2026-03-11T03:00:00Z")));
    third.shutdown().await;
}

#[tokio::test]
async fn given_a_started_release_when_its_commit_triggers_again_then_nothing_new_starts() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime_in(&dir, at("2026-03-10T09:00:00Z")).await;
    let a = start(&runtime, "1.3.0", "alex").await;
    let b = start(&runtime, "1.3.0", "alex").await;
    assert_eq!(a, b);
    let executions = runtime.engine.list_executions().unwrap();
    assert_eq!(executions.len(), 1);
    let release = load(&runtime, &a).await;
    // Asked once: the approval request went out a single time.
    assert_eq!(
        release.events.iter().filter(|e| e.kind == "asked").count(),
        1
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn given_a_last_release_when_an_older_version_starts_then_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime_in(&dir, at("2026-03-10T09:00:00Z")).await;
    let id = start(&runtime, "1.3.0", "alex").await;
    approve(&runtime, &id, "lee").await;
    runtime.run_until(at("2026-03-11T06:00:00Z")).await.unwrap();
    assert_eq!(load(&runtime, &id).await.state, ReleaseState::Succeeded);

    let err = shipgate_core::releases::start(
        &runtime.deps,
        shipgate_core::model::NewRelease {
            service: runtime.config.service.name.clone(),
            version: "1.2.9".parse().unwrap(),
            commit: "beef".repeat(10),
            author: "alex".into(),
            changelog: Default::default(),
            release_type: None,
            bypass_reason: None,
            contributors: Vec::new(),
            user_announcement: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Gate.InvalidInput");
    assert!(err.to_string().contains("not newer"), "{err}");
    runtime.shutdown().await;
}
