//! Random histories keep the promises: pushes (in and out of version order), approvals,
//! rejections, alarms, manual rollbacks, restarts and clock jumps, in any order, never
//! deploy without the quorum or outside the window (unless an approved bypass), never run
//! two live deploys of the service, never deploy below what shipped, always roll back to
//! the exact recorded revision, and leave every execution ended once time has passed.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use shipgate_core::model::{Changelog, Contribution, Contributor, Decision, NewRelease};
use shipgate_core::policy::approval;
use shipgate_core::policy::window::WindowPolicy;
use shipgate_core::ports::ReleaseFilter;
use shipgate_core::releases;
use shipgate_core::{Release, ReleaseState, ReleaseType};
use shipgate_local::runtime::Runtime;

use crate::helpers::{at, runtime_in};

#[derive(Debug, Clone)]
enum Op {
    /// A push of version `major.minor.patch` (maybe below one already pushed).
    Push {
        version: (u8, u8, u8),
        author: usize,
        bypass: bool,
    },
    /// A decision on the `release`-th newest push.
    Decide {
        release: usize,
        approver: usize,
        approve: bool,
    },
    /// An alarm of the live release fires.
    Alarm,
    /// A manual rollback of the `release`-th newest push.
    ManualRollback { release: usize },
    /// The process dies and a new one opens the data directory.
    Restart,
    /// Time passes (minutes), with everything due run on the way.
    Wait { minutes: u32 },
}

const PEOPLE: [&str; 4] = ["lee", "taylor", "casey", "alex"];

fn op() -> impl Strategy<Value = Op> {
    let major = prop_oneof![9 => Just(1u8), 1 => Just(2u8)];
    prop_oneof![
        3 => ((major, 0u8..6, 0u8..3), 0..PEOPLE.len(), proptest::bool::weighted(0.2))
            .prop_map(|(version, author, bypass)| Op::Push { version, author, bypass }),
        6 => (0usize..3, 0..PEOPLE.len(), proptest::bool::weighted(0.9))
            .prop_map(|(release, approver, approve)| Op::Decide { release, approver, approve }),
        1 => Just(Op::Alarm),
        1 => (0usize..3).prop_map(|release| Op::ManualRollback { release }),
        1 => Just(Op::Restart),
        5 => prop_oneof![3 => 1u32..30, 2 => 30u32..240, 1 => 240u32..1500]
            .prop_map(|minutes| Op::Wait { minutes }),
    ]
}

struct World {
    dir: tempfile::TempDir,
    runtime: Option<Runtime>,
    now: DateTime<Utc>,
    pushed: Vec<shipgate_core::ReleaseId>,
    commits: u64,
}

impl World {
    fn rt(&self) -> &Runtime {
        self.runtime.as_ref().expect("a runtime is open")
    }

    async fn apply(&mut self, op: &Op) {
        match op {
            Op::Push {
                version: (a, b, c),
                author,
                bypass,
            } => {
                self.commits += 1;
                let version = format!("{a}.{b}.{c}").parse().unwrap();
                let author = PEOPLE[*author];
                let started = releases::start(
                    &self.rt().deps,
                    NewRelease {
                        service: self.rt().config.service.name.clone(),
                        version,
                        commit: format!("{:040x}", self.commits),
                        author: author.into(),
                        changelog: Changelog::default(),
                        release_type: None,
                        bypass_reason: bypass.then(|| "customers cannot sign in".into()),
                        contributors: vec![Contributor {
                            role: Contribution::Pusher,
                            name: None,
                            email: None,
                            login: Some(author.into()),
                        }],
                        user_announcement: None,
                    },
                )
                .await;
                // A version taken by another commit, or one that cannot be released
                // (a bypass asked for a non-hotfix), is refused: nothing to track.
                if let Ok(started) = started {
                    self.pushed.push(started.release.id);
                }
            }
            Op::Decide {
                release,
                approver,
                approve,
            } => {
                if let Some(id) = self.pushed.iter().rev().nth(*release).cloned() {
                    let (decision, reason) = if *approve {
                        (Decision::Approved, None)
                    } else {
                        (Decision::Rejected, Some("not ready".to_string()))
                    };
                    let _ =
                        releases::decide(&self.rt().deps, &id, PEOPLE[*approver], decision, reason)
                            .await;
                }
            }
            Op::Alarm => {
                let _ = self.rt().alarms.trip("roleferry-api-5xx-rate", "errors");
            }
            Op::ManualRollback { release } => {
                if let Some(id) = self.pushed.iter().rev().nth(*release).cloned() {
                    let _ =
                        releases::manual_rollback(&self.rt().deps, &id, "taylor", "by hand").await;
                }
            }
            Op::Restart => {
                if let Some(runtime) = self.runtime.take() {
                    runtime.shutdown().await;
                }
                self.runtime = Some(runtime_in(&self.dir, self.now).await);
            }
            Op::Wait { minutes } => {
                self.now += Duration::minutes(i64::from(*minutes));
            }
        }
        self.rt().run_until(self.now).await.unwrap();
    }

    async fn releases(&self) -> Vec<Release> {
        self.rt()
            .deps
            .store
            .list(&ReleaseFilter::default())
            .await
            .unwrap()
    }

    /// The promises, checked against the records and the simulated service.
    async fn check(&self, after: &Op) {
        let config = &self.rt().config;
        let all = self.releases().await;
        let live: Vec<&Release> = all
            .iter()
            .filter(|r| r.state.is_live() || r.state == ReleaseState::RollingBack)
            .collect();
        assert!(
            live.len() <= 1,
            "after {after:?}: two live releases {live:?}"
        );
        let policy = WindowPolicy::new(config);
        for r in all.iter().filter(|r| r.deploy_started_at.is_some()) {
            let started = r.deploy_started_at.unwrap();
            // The quorum was met with the approvals given before the deploy started.
            let mut then = r.clone();
            then.approvals.retain(|a| a.at <= started);
            assert!(
                approval::quorum(config, &then).is_met(),
                "after {after:?}: {} deployed without its quorum: {:?}",
                r.id,
                r.approvals
            );
            // In the window, or a hotfix whose bypass was approved with it.
            let bypassed = r.release_type == ReleaseType::Hotfix
                && r.bypass_reason.is_some()
                && config.window.hotfix_bypass;
            assert!(
                bypassed || policy.may_start_at(started).is_ok(),
                "after {after:?}: {} deployed outside the window at {started}",
                r.id
            );
            // Never below (or equal to) a version that had shipped before.
            for shipped in &all {
                let succeeded_before = shipped
                    .events
                    .iter()
                    .any(|e| e.to == Some(ReleaseState::Succeeded) && e.at <= started);
                assert!(
                    shipped.id == r.id || !succeeded_before || shipped.semver < r.semver,
                    "after {after:?}: {} (v{}) deployed at {started} below v{} that shipped",
                    r.id,
                    r.semver,
                    shipped.semver
                );
            }
        }
        // The last release to deploy, if it rolled back, left the exact revision it found.
        if let Some(last) = all
            .iter()
            .filter(|r| r.deploy_started_at.is_some())
            .max_by_key(|r| r.deploy_started_at)
            && last.state == ReleaseState::RolledBack
        {
            let serving = self
                .rt()
                .deps
                .deployer
                .current_task_definition(&self.rt().deps.target())
                .await
                .unwrap();
            assert_eq!(
                Some(serving.as_str()),
                last.previous_task_definition.as_deref(),
                "after {after:?}: {} rolled back to another revision",
                last.id
            );
        }
    }

    /// Once a long time has passed, nothing is left running.
    async fn settle(&mut self) {
        self.now += Duration::days(45);
        self.rt().run_until(self.now).await.unwrap();
        for r in self.releases().await {
            assert!(r.state.is_terminal(), "{} still {}", r.id, r.state);
        }
        for e in self.rt().engine.list_executions().unwrap() {
            assert_ne!(
                e.status,
                shipgate_asl::ExecutionStatus::Running,
                "{} still running",
                e.name
            );
        }
    }
}

fn run(ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-03-10T14:00:00Z");
        let runtime = runtime_in(&dir, now).await;
        let mut world = World {
            dir,
            runtime: Some(runtime),
            now,
            pushed: Vec::new(),
            commits: 0,
        };
        for op in &ops {
            world.apply(op).await;
            world.check(op).await;
        }
        world.settle().await;
        if std::env::var_os("SHIPGATE_INVARIANTS_SUMMARY").is_some() {
            let all = world.releases().await;
            let states: Vec<String> = all
                .iter()
                .map(|r| format!("{}:{}", r.semver, r.state))
                .collect();
            eprintln!("{} ops → {states:?}", ops.len());
        }
        if let Some(runtime) = world.runtime.take() {
            runtime.shutdown().await;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn given_random_histories_when_run_then_every_promise_holds(
        ops in proptest::collection::vec(op(), 5..40),
    ) {
        run(ops);
    }
}

/// The history that once deployed 0.3.0 over 0.4.0: both approved, the older one last.
#[test]
fn given_two_versions_when_the_older_is_approved_last_then_it_never_deploys_over_the_newer() {
    run(vec![
        Op::Push {
            version: (1, 4, 0),
            author: 3,
            bypass: false,
        },
        Op::Push {
            version: (1, 3, 0),
            author: 3,
            bypass: false,
        },
        // 1.4.0 (the newer push, second newest now) is approved first and ships...
        Op::Decide {
            release: 1,
            approver: 0,
            approve: true,
        },
        Op::Wait { minutes: 1000 },
        // ...then 1.3.0 is approved: it must not deploy over 1.4.0.
        Op::Decide {
            release: 0,
            approver: 0,
            approve: true,
        },
        Op::Wait { minutes: 1500 },
    ]);
}
