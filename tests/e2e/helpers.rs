//! Harness: a runtime on a virtual clock in a temporary data directory.

use chrono::{DateTime, Utc};
use shipgate_core::model::{Changelog, Decision, NewRelease};
use shipgate_core::releases;
use shipgate_core::{Release, ReleaseId};
use shipgate_local::runtime::{LocalClock, Runtime, RuntimeOptions};
use shipgate_tests::{STATEMACHINE, config};
use tempfile::TempDir;

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) async fn runtime_in(dir: &TempDir, start: DateTime<Utc>) -> Runtime {
    Runtime::open(RuntimeOptions {
        data_dir: dir.path().to_path_buf(),
        config: config(),
        definition: STATEMACHINE.to_string(),
        clock: LocalClock::virtual_at(start),
        demo_service: true,
    })
    .await
    .unwrap()
}

pub(crate) async fn start(runtime: &Runtime, version: &str, author: &str) -> ReleaseId {
    let started = releases::start(
        &runtime.deps,
        NewRelease {
            service: runtime.config.service.name.clone(),
            version: version.parse().unwrap(),
            commit: format!("{:0<40}", version.replace('.', "")),
            author: author.into(),
            changelog: Changelog {
                features: vec!["A feature".into()],
                fixes: vec![],
            },
            release_type: None,
            bypass_reason: None,
            contributors: Vec::new(),
            user_announcement: None,
        },
    )
    .await
    .unwrap();
    runtime.run_due().await.unwrap();
    started.release.id
}

pub(crate) async fn approve(runtime: &Runtime, id: &ReleaseId, who: &str) {
    releases::decide(&runtime.deps, id, who, Decision::Approved, None)
        .await
        .unwrap();
    runtime.run_due().await.unwrap();
}

pub(crate) async fn load(runtime: &Runtime, id: &ReleaseId) -> Release {
    runtime.deps.load(id).await.unwrap()
}
