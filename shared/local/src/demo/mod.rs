//! The demo scenarios: the release procedure's situations, each run through the real
//! `statemachine.json` and gates on a virtual clock, with the outcome it must reach.
//! `shipgate demo` prints them; the end-to-end tests assert them.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use shipgate_core::config::Freeze;
use shipgate_core::links::{Grant, LinkSigner};
use shipgate_core::model::{Changelog, Decision, NewRelease, ReleaseType};
use shipgate_core::policy::window::bypass_trailer;
use shipgate_core::ports::{Handed, Notification, RollbackRequest};
use shipgate_core::releases;
use shipgate_core::{Config, Release, ReleaseId, ReleaseState, Version};

use crate::ecs::Faults;
use crate::github::LocalGitHub;

mod checks;
mod procedure;
mod report;
mod scenarios;
mod staging;
use crate::outbox::Outbox;
use crate::runtime::{LocalClock, PortOverrides, Runtime, RuntimeError, RuntimeOptions};
pub use checks::{
    CallView, call_problem, channel_problem, deployed_as_staged_problem, ending_problems,
    recorded_calls, rollback_link_in, seed_evidence, user_email_problem,
};
pub use procedure::users;
pub use report::{AnnouncementView, ApprovalView, ReleaseReport, ScenarioReport};
pub use scenarios::scenarios;
pub use staging::stage as with_staging;

/// One thing that happens at a moment of a scenario.
#[derive(Debug, Clone)]
pub enum Action {
    /// A push to `main` opens release number `n` (in the order of `Start`s).
    Start(StartSpec),
    Approve {
        release: usize,
        who: &'static str,
    },
    Reject {
        release: usize,
        who: &'static str,
        reason: &'static str,
    },
    /// The decision must be refused (self-approval, wrong role …).
    ExpectRefused {
        release: usize,
        who: &'static str,
    },
    /// The release must be in this state at this moment.
    ExpectState {
        release: usize,
        state: ReleaseState,
    },
    /// Approves a hotfix that asks to bypass the window for the next window only.
    ApproveWithoutBypass {
        release: usize,
        who: &'static str,
    },
    /// The Slack message that asked `who` to decide must have been replaced (buttons gone,
    /// who decided): decisions taken anywhere keep Slack true.
    ExpectSlackReplaced {
        release: usize,
        who: &'static str,
    },
    /// Release `release` must end in `state` (instead of the scenario's expected state).
    ExpectEnd {
        release: usize,
        state: ReleaseState,
    },
    /// The approval request `who` received for the release must say `says`.
    ExpectAsked {
        release: usize,
        who: &'static str,
        says: &'static str,
    },
    /// `who` rolls the release back through the rollback link of their copy of the success
    /// announcement: the confirmation page, then the form with `reason`.
    RollBackByLink {
        release: usize,
        who: &'static str,
        reason: &'static str,
    },
    /// No watched alarm is in ALARM: what happened was nobody's alarm.
    ExpectNoAlarm,
    /// From now on, version `version` (an image tag) has these faults: a version that
    /// served well may fail to come back.
    Fault {
        version: &'static str,
        faults: Faults,
    },
    /// GitHub must have answered a call `method` on a path ending with `path` with a 2xx,
    /// whose JSON body holds `says`.
    ExpectGitHub {
        method: &'static str,
        path: &'static str,
        says: &'static str,
    },
    /// PagerDuty must have received an event at `path` whose JSON body holds `says`.
    ExpectPagerDuty {
        path: &'static str,
        says: &'static str,
    },
    /// The required check `check` runs again on the commit of release `release` and ends
    /// with `conclusion`; GitHub sends its `check_run` webhook.
    CheckRerun {
        release: usize,
        check: &'static str,
        conclusion: &'static str,
    },
    /// A message in the releases channel must say `says`.
    ExpectChannel {
        says: &'static str,
    },
    /// The user `to` (an address of the users' contact list) must have been emailed the
    /// release, saying `says` (in its subject or body).
    ExpectUserEmail {
        to: &'static str,
        says: &'static str,
    },
    /// The user `to` must not have been emailed (they unsubscribed).
    ExpectNoUserEmail {
        to: &'static str,
    },
    /// Production release `release` must have been proved by staging release `staged` and
    /// registered with the very image digest staging ran.
    ExpectDeployedAsStaged {
        release: usize,
        staged: usize,
    },
}

#[derive(Debug, Clone)]
pub struct StartSpec {
    pub version: &'static str,
    pub author: &'static str,
    pub features: &'static [&'static str],
    pub fixes: &'static [&'static str],
    pub kind: Option<ReleaseType>,
    pub bypass_reason: Option<&'static str>,
    pub faults: Faults,
    /// Required checks that do not pass on the commit when it is pushed, with their
    /// conclusion (`None`: still running); the others passed.
    pub checks: &'static [(&'static str, Option<&'static str>)],
    /// Who approved the pull request that brought the commit (GitHub logins).
    pub reviewers: &'static [&'static str],
    /// The head commit carries a `User-Announcement: yes` trailer.
    pub announce_to_users: bool,
    /// A push to this environment's branch (`develop` for `staging`) instead of `main`.
    pub environment: Option<&'static str>,
    /// The push to `main` is the merge of `release/v<this>`: its commit's second parent is
    /// the commit of that version's push to `develop`.
    pub merge_of: Option<&'static str>,
}

impl StartSpec {
    pub fn new(version: &'static str) -> Self {
        StartSpec {
            version,
            author: "alex",
            features: &["AI Copilot (beta)", "Match scoring improvements"],
            fixes: &["Enrichment timeout issue (#234)"],
            kind: None,
            bypass_reason: None,
            faults: Faults::default(),
            checks: &[],
            reviewers: &["robin-reviewer"],
            announce_to_users: false,
            environment: None,
            merge_of: None,
        }
    }

    /// The head commit the push carries: the version's own, or the merge of a release
    /// branch whose head is `merge_of`'s.
    pub fn commit(&self) -> String {
        match self.merge_of {
            Some(merged) => commit_for(&format!("merge of release/v{merged}")),
            None => commit_for(self.version),
        }
    }
}

pub struct Scenario {
    pub name: &'static str,
    pub summary: &'static str,
    pub start: DateTime<Utc>,
    pub steps: Vec<(DateTime<Utc>, Action)>,
    /// The final state of the last release started.
    pub expected_state: ReleaseState,
    pub configure: fn(&mut Config),
}

impl Scenario {
    /// How release `n` must end: as an `ExpectEnd` says, or in the expected state.
    pub fn expected_end(&self, n: usize) -> ReleaseState {
        self.steps
            .iter()
            .find_map(|(_, action)| match action {
                Action::ExpectEnd { release, state } if *release == n => Some(*state),
                _ => None,
            })
            .unwrap_or(self.expected_state)
    }
}

/// Each release (in the order started) that ended otherwise than the scenario expects.
pub fn state_problems(scenario: &Scenario, reports: &[ReleaseReport]) -> Vec<String> {
    reports
        .iter()
        .enumerate()
        .filter(|(n, r)| r.final_state != scenario.expected_end(*n))
        .map(|(n, r)| {
            format!(
                "release {} ended {} instead of {}",
                r.release_id,
                r.final_state,
                scenario.expected_end(n)
            )
        })
        .collect()
}

/// A stable, distinct 40-hex-digit commit id for a version (FNV-1a), as a push would carry.
/// The commit messages of the push that opens `spec`'s release after `base`: conventional
/// commits for its features and fixes (`feat!` for a new major), the last one carrying a
/// `Hotfix-Bypass:` trailer when the release asks to bypass the window.
pub fn push_messages(spec: &StartSpec, version: Version, base: Version) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    if version.major > base.major {
        let (first, rest) = spec
            .features
            .split_first()
            .map_or(("A new major version", &[][..]), |(f, r)| (*f, r));
        messages.push(format!("feat!: {first}"));
        messages.extend(rest.iter().map(|f| format!("feat: {f}")));
    } else if version.minor > base.minor {
        messages.extend(spec.features.iter().map(|f| format!("feat: {f}")));
    }
    messages.extend(spec.fixes.iter().map(|f| format!("fix: {f}")));
    if messages.is_empty() {
        messages.push(format!("feat: release {version}"));
    }
    // The merge of a release branch names its version, as GitHub writes it.
    if let Some(merged) = spec.merge_of {
        messages.push(format!("Merge branch 'release/v{merged}'"));
    }
    let mut trailers = Vec::new();
    if let Some(reason) = spec.bypass_reason {
        trailers.push(format!("Hotfix-Bypass: {reason}"));
    }
    if spec.announce_to_users {
        trailers.push("User-Announcement: yes".to_string());
    }
    if let (false, Some(last)) = (trailers.is_empty(), messages.last_mut()) {
        last.push_str(&format!("\n\n{}", trailers.join("\n")));
    }
    messages
}

pub fn commit_for(version: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::new();
    for round in 0..3u8 {
        for b in version.bytes().chain([round]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(40);
    out
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("scenario step failed: {0}")]
    Step(String),
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// How long after its start a scenario may run before it is called stuck.
const SCENARIO_HORIZON_DAYS: i64 = 60;

/// Runs one scenario in `data_dir` (emptied first) and reports what happened.
pub async fn run(
    scenario: &Scenario,
    config: &Config,
    definition: &str,
    data_dir: &Path,
) -> Result<ScenarioReport, DemoError> {
    let (report, runtime) = run_with(
        scenario,
        config,
        definition,
        data_dir,
        PortOverrides::default(),
    )
    .await?;
    runtime.shutdown().await;
    Ok(report)
}

/// Like [`run`], with some ports replaced (e.g. a store that counts what reaches it), and
/// the runtime handed back as the scenario left it — its engine history, wake-ups and
/// outbox — for the caller to inspect and then [`Runtime::shutdown`].
pub async fn run_with(
    scenario: &Scenario,
    config: &Config,
    definition: &str,
    data_dir: &Path,
    overrides: PortOverrides,
) -> Result<(ScenarioReport, Runtime), DemoError> {
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir).map_err(|source| DemoError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
    }
    let mut config = config.clone();
    (scenario.configure)(&mut config);
    let runtime = Runtime::open_with(
        RuntimeOptions {
            data_dir: data_dir.to_path_buf(),
            config,
            definition: definition.to_string(),
            clock: LocalClock::virtual_at(scenario.start),
            demo_service: true,
        },
        overrides,
    )
    .await?;
    if runtime.config.notifications.users.is_some() {
        let file = runtime.data_dir.join("contacts.json");
        let contacts = serde_json::to_vec_pretty(&procedure::users())
            .map_err(|e| DemoError::Step(format!("the users' contact list: {e}")))?;
        std::fs::write(&file, contacts).map_err(|source| DemoError::Io {
            path: file.display().to_string(),
            source,
        })?;
    }
    match drive(scenario, &runtime).await {
        Ok(report) => Ok((report, runtime)),
        Err(err) => {
            runtime.shutdown().await;
            Err(err)
        }
    }
}

async fn drive(scenario: &Scenario, runtime: &Runtime) -> Result<ScenarioReport, DemoError> {
    let deps = &runtime.deps;
    let mut ids: Vec<ReleaseId> = Vec::new();
    let mut problems = Vec::new();
    let step_err = |e: &dyn std::fmt::Display| DemoError::Step(e.to_string());
    for (when, action) in &scenario.steps {
        runtime.run_until(*when).await?;
        let id_of = |n: usize| {
            ids.get(n)
                .cloned()
                .ok_or_else(|| DemoError::Step(format!("no release #{n}")))
        };
        match action {
            Action::Start(spec) => {
                let version = spec.version.parse().map_err(|e| step_err(&e))?;
                let tag = spec.version.to_string();
                runtime
                    .ecs
                    .set_faults(&tag, spec.faults.clone())
                    .map_err(|e| step_err(&e))?;
                let world_file = runtime.data_dir.join("github.json");
                let mut world = LocalGitHub::world(&world_file).map_err(|e| step_err(&e))?;
                let commit = spec.commit();
                seed_evidence(&mut world, &runtime.config, spec, &commit);
                LocalGitHub::save_world(&world_file, &world).map_err(|e| step_err(&e))?;
                // A push to an environment's branch releases there.
                let deps = &match spec.environment {
                    Some(env) => deps.with_config(
                        runtime
                            .config
                            .for_environment(env)
                            .ok_or_else(|| step_err(&format!("no environment `{env}`")))?,
                    ),
                    None => deps.clone(),
                };
                let started = releases::start(
                    deps,
                    NewRelease {
                        service: deps.config.service.name.clone(),
                        version,
                        commit,
                        author: spec.author.into(),
                        changelog: Changelog {
                            features: spec.features.iter().map(|s| s.to_string()).collect(),
                            fixes: spec.fixes.iter().map(|s| s.to_string()).collect(),
                        },
                        release_type: spec.kind,
                        // As the GitHub trigger reads it: the head commit's trailer.
                        bypass_reason: push_messages(
                            spec,
                            version,
                            runtime.config.service.initial_version,
                        )
                        .last()
                        .and_then(|m| bypass_trailer(m)),
                        contributors: Vec::new(),
                        user_announcement: spec
                            .announce_to_users
                            .then(|| shipgate_core::users::ASKED_BY_TRAILER.to_string()),
                    },
                )
                .await
                .map_err(|e| step_err(&e.describe()))?;
                ids.push(started.release.id);
            }
            Action::Approve { release, who } => {
                if let Err(e) =
                    releases::decide(deps, &id_of(*release)?, who, Decision::Approved, None).await
                {
                    problems.push(format!("{who} could not approve: {}", e.describe()));
                }
            }
            Action::Reject {
                release,
                who,
                reason,
            } => {
                if let Err(e) = releases::decide(
                    deps,
                    &id_of(*release)?,
                    who,
                    Decision::Rejected,
                    Some(reason.to_string()),
                )
                .await
                {
                    problems.push(format!("{who} could not reject: {}", e.describe()));
                }
            }
            Action::ExpectRefused { release, who } => {
                match releases::decide(deps, &id_of(*release)?, who, Decision::Approved, None).await
                {
                    Ok(_) => {
                        problems.push(format!("{who}'s approval was accepted but must be refused"))
                    }
                    Err(e) => tracing::info!(who, "refused as expected: {}", e.describe()),
                }
            }
            Action::ApproveWithoutBypass { release, who } => {
                if let Err(e) = releases::decide_with(
                    deps,
                    &id_of(*release)?,
                    who,
                    Decision::Approved,
                    None,
                    true,
                )
                .await
                {
                    problems.push(format!("{who} could not approve: {}", e.describe()));
                }
            }
            // Checked once the scenario has run.
            Action::ExpectEnd { .. } => {}
            Action::ExpectSlackReplaced { release, who } => {
                let current = deps
                    .load(&id_of(*release)?)
                    .await
                    .map_err(|e| step_err(&e))?;
                let asks: Vec<_> = current
                    .slack_asks
                    .iter()
                    .filter(|a| a.approver == *who)
                    .collect();
                let updates: Vec<Notification> = Outbox::read_all(&runtime.outbox_dir())
                    .map_err(|e| step_err(&e))?
                    .into_iter()
                    .map(|m| m.message)
                    .collect();
                let replaced = |channel: &str, ts: &str| {
                    updates.iter().any(|n| {
                        matches!(n, Notification::SlackUpdate { to, ts: t, blocks, .. }
                            if to == channel && t == ts && !blocks.to_string().contains("\"actions\""))
                    })
                };
                if asks.is_empty() {
                    problems.push(format!("no Slack ask to {who} was recorded"));
                }
                for ask in asks {
                    if !replaced(&ask.channel, &ask.ts) {
                        problems.push(format!(
                            "the Slack ask to {who} ({}) still has its buttons",
                            ask.ts
                        ));
                    }
                }
            }
            Action::ExpectAsked { release, who, says } => {
                let id = id_of(*release)?;
                let address = runtime
                    .config
                    .approver(who)
                    .map(|a| a.email.clone())
                    .unwrap_or_default();
                let asked = Outbox::read_all(&runtime.outbox_dir())
                    .map_err(|e| step_err(&e))?
                    .into_iter()
                    .filter(|m| m.release_id == id.as_str() && m.to.contains(&address))
                    .any(|m| m.text.contains(says));
                if !asked {
                    problems.push(format!(
                        "the approval request to {who} does not say \"{says}\""
                    ));
                }
            }
            Action::RollBackByLink {
                release,
                who,
                reason,
            } => {
                let id = id_of(*release)?;
                match rollback_by_link(runtime, &id, who, reason).await {
                    Ok(()) => {}
                    Err(problem) => problems.push(problem),
                }
            }
            Action::Fault { version, faults } => {
                runtime
                    .ecs
                    .set_faults(version, faults.clone())
                    .map_err(|e| step_err(&e))?;
            }
            Action::ExpectNoAlarm => {
                let states = deps
                    .alarms
                    .states(&runtime.config.monitor.alarms)
                    .await
                    .map_err(|e| step_err(&e))?;
                for alarm in states.iter().filter(|a| a.in_alarm) {
                    problems.push(format!("alarm {} is in ALARM", alarm.name));
                }
            }
            Action::ExpectGitHub { method, path, says } => {
                runtime.run_due().await?;
                let calls =
                    recorded_calls(&runtime.outbox_dir(), "github").map_err(|e| step_err(&e))?;
                problems.extend(call_problem("GitHub", &calls, method, path, says));
            }
            Action::ExpectPagerDuty { path, says } => {
                runtime.run_due().await?;
                let calls =
                    recorded_calls(&runtime.outbox_dir(), "pagerduty").map_err(|e| step_err(&e))?;
                problems.extend(call_problem("PagerDuty", &calls, "POST", path, says));
            }
            Action::CheckRerun {
                release,
                check,
                conclusion,
            } => {
                let commit = deps
                    .load(&id_of(*release)?)
                    .await
                    .map_err(|e| step_err(&e))?
                    .commit;
                let world_file = runtime.data_dir.join("github.json");
                let mut world = LocalGitHub::world(&world_file).map_err(|e| step_err(&e))?;
                world.reports.run(&commit, check, Some(conclusion));
                LocalGitHub::save_world(&world_file, &world).map_err(|e| step_err(&e))?;
                // What the trigger does with GitHub's `check_run` webhook.
                shipgate_core::evidence::wake(deps, &commit)
                    .await
                    .map_err(|e| step_err(&e))?;
            }
            Action::ExpectChannel { says } => {
                runtime.run_due().await?;
                let channel = &runtime.config.notifications.slack_channel;
                let outbox = Outbox::read_all(&runtime.outbox_dir()).map_err(|e| step_err(&e))?;
                let texts = outbox.iter().filter_map(|m| match &m.message {
                    Notification::Slack { to, text, .. } if to == channel => Some(text.as_str()),
                    _ => None,
                });
                problems.extend(channel_problem(texts, says));
            }
            Action::ExpectUserEmail { to, says } => {
                runtime.run_due().await?;
                problems.extend(local_user_email_problem(runtime, to, Some(says))?);
            }
            Action::ExpectNoUserEmail { to } => {
                runtime.run_due().await?;
                problems.extend(local_user_email_problem(runtime, to, None)?);
            }
            Action::ExpectDeployedAsStaged { release, staged } => {
                runtime.run_due().await?;
                let production = deps.load(&id_of(*release)?).await;
                let staged = deps.load(&id_of(*staged)?).await;
                let (production, staged) = (
                    production.map_err(|e| step_err(&e))?,
                    staged.map_err(|e| step_err(&e))?,
                );
                problems.extend(deployed_as_staged_problem(&production, &staged));
            }
            Action::ExpectState { release, state } => {
                runtime.run_due().await?;
                let current = deps
                    .load(&id_of(*release)?)
                    .await
                    .map_err(|e| step_err(&e))?;
                if current.state != *state {
                    problems.push(format!(
                        "at {when} release #{release} was {} instead of {state}",
                        current.state
                    ));
                }
            }
        }
        runtime.run_due().await?;
    }
    runtime
        .run_until(scenario.start + Duration::days(SCENARIO_HORIZON_DAYS))
        .await?;

    let mut releases = Vec::new();
    for id in &ids {
        releases.push(deps.load(id).await.map_err(|e| step_err(&e))?);
    }
    report(scenario, runtime, releases, problems).await
}

/// [`user_email_problem`] on the users' emails in the outbox.
fn local_user_email_problem(
    runtime: &Runtime,
    to: &str,
    says: Option<&str>,
) -> Result<Option<String>, DemoError> {
    let outbox =
        Outbox::read_all(&runtime.outbox_dir()).map_err(|e| DemoError::Step(e.to_string()))?;
    let sent = outbox.iter().filter_map(|m| match &m.message {
        Notification::UserEmail {
            to, subject, text, ..
        } => Some((to.as_str(), format!("{subject}\n{text}"))),
        _ => None,
    });
    Ok(user_email_problem(sent, to, says))
}

/// What the approver does locally with the rollback link of their email: the link must be
/// theirs, for this release, and unexpired (as the page checks it); the form's request
/// then goes the way the page sends it.
async fn rollback_by_link(
    runtime: &Runtime,
    id: &ReleaseId,
    who: &str,
    reason: &str,
) -> Result<(), String> {
    let config = &runtime.config;
    let address = config
        .approver(who)
        .map(|a| a.email.clone())
        .unwrap_or_default();
    let outbox = Outbox::read_all(&runtime.outbox_dir()).map_err(|e| e.to_string())?;
    let link = outbox
        .iter()
        .rev()
        .filter(|m| m.release_id == id.as_str() && m.to.contains(&address))
        .find_map(|m| rollback_link_in(&m.text))
        .ok_or_else(|| format!("no rollback link was mailed to {who}"))?;
    let token = link.rsplit('/').next().unwrap_or_default();
    let signer = LinkSigner::from_config(config).ok_or("no link key")?;
    let claims = signer
        .verify_claims(token, runtime.deps.now())
        .map_err(|e| format!("{who}'s rollback link: {e}"))?;
    if claims.grant != Grant::RollBack(id.clone()) || claims.person != who {
        return Err(format!("{who}'s rollback link is not for them and {id}"));
    }
    let here = releases::RollBackHere {
        deps: runtime.deps.clone(),
    };
    let asked = releases::request_rollback(
        &runtime.deps,
        &here,
        RollbackRequest {
            release_id: id.clone(),
            actor: claims.person,
            reason: reason.to_string(),
            via: "their rollback link".into(),
        },
    )
    .await
    .map_err(|e| format!("{who} could not roll back: {}", e.describe()))?;
    match asked.handed {
        Some(Handed::Refused(why)) => Err(format!("{who}'s rollback was refused: {why}")),
        None => Err(format!("{who} found {id} already {}", asked.release.state)),
        Some(_) => Ok(()),
    }
}

async fn report(
    scenario: &Scenario,
    runtime: &Runtime,
    releases: Vec<Release>,
    mut problems: Vec<String>,
) -> Result<ScenarioReport, DemoError> {
    let config = &runtime.config;
    let outbox =
        Outbox::read_all(&runtime.outbox_dir()).map_err(|e| DemoError::Step(e.to_string()))?;
    let announcements: Vec<AnnouncementView> = outbox
        .iter()
        .filter(|m| match &m.message {
            Notification::Slack { to, .. } => *to == config.notifications.slack_channel,
            Notification::StatusPage { .. } | Notification::Page { .. } => true,
            Notification::Email { .. }
            | Notification::SlackUpdate { .. }
            | Notification::SlackModal { .. }
            | Notification::SlackEphemeral { .. }
            | Notification::PagerDuty { .. }
            | Notification::UserEmail { .. } => false,
        })
        .map(|m| AnnouncementView {
            channel: m.message.channel().to_string(),
            text: m.message.text().to_string(),
        })
        .collect();
    let serving = runtime
        .ecs
        .serving(&config.service.cluster, config.service.name.as_str())
        .map_err(|e| DemoError::Step(e.to_string()))?
        .map(|s| s.task_definition);
    // The one-off tasks of production's service and of each environment's, as they ran.
    let mut tasks = runtime
        .ecs
        .tasks_run(&config.service.cluster, config.service.name.as_str())
        .map_err(|e| DemoError::Step(e.to_string()))?;
    for env in config.environments.values() {
        tasks.extend(
            runtime
                .ecs
                .tasks_run(&env.cluster, env.service.as_str())
                .map_err(|e| DemoError::Step(e.to_string()))?,
        );
    }
    tasks.sort_by_key(|t| t.at);
    let tasks_run = tasks
        .into_iter()
        .map(|t| format!("{} → exit {}", t.command.join(" "), t.exit_code))
        .collect();
    let reports: Vec<ReleaseReport> = releases.iter().map(ReleaseReport::from).collect();
    let executions = runtime
        .engine
        .list_executions()
        .map_err(|e| DemoError::Step(e.to_string()))?;
    problems.extend(ending_problems(&releases, &executions));
    let Some(last) = reports.last().cloned() else {
        return Err(DemoError::Step(format!(
            "scenario {} started no release",
            scenario.name
        )));
    };
    problems.extend(state_problems(scenario, &reports));
    let github = recorded_calls(&runtime.outbox_dir(), "github")
        .map_err(|e| DemoError::Step(e.to_string()))?;
    let pagerduty = recorded_calls(&runtime.outbox_dir(), "pagerduty")
        .map_err(|e| DemoError::Step(e.to_string()))?;
    Ok(ScenarioReport {
        scenario: scenario.name.to_string(),
        summary: scenario.summary.to_string(),
        expected_state: scenario.expected_state,
        final_state: last.final_state,
        passed: problems.is_empty(),
        problems,
        deploy_started_at: last.deploy_started_at,
        previous_task_definition: last.previous_task_definition.clone(),
        serving_task_definition: serving,
        approvals: last.approvals.clone(),
        announcements,
        releases: reports,
        tasks_run,
        github,
        pagerduty,
    })
}
