//! `shipgate release …` and `shipgate tick`: releases in the data directory, on the wall
//! clock. Executions are durable, so each command picks up where the last one left off.

use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow};
use shipgate_core::model::{AuditEvent, Changelog, Decision, NewRelease, ReleaseType};
use shipgate_core::policy::approval;
use shipgate_core::ports::ReleaseFilter;
use shipgate_core::releases;
use shipgate_core::{Config, Release, ReleaseId, ReleaseState, Version};
use shipgate_local::runtime::Runtime;

use crate::context::Context;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Open a release (as a push to main would) and start its pipeline.
    Start {
        #[arg(long)]
        version: Version,
        #[arg(long)]
        commit: String,
        #[arg(long)]
        author: String,
        /// Override the type derived from the version bump.
        #[arg(long = "type")]
        kind: Option<ReleaseType>,
        #[arg(long = "feature")]
        features: Vec<String>,
        #[arg(long = "fix")]
        fixes: Vec<String>,
        /// Hotfix only: skip the window, for this reason (announced).
        #[arg(long)]
        bypass_window: Option<String>,
        /// Release to this environment before production (`staging`), as a push to its
        /// branch does: deployed at once, approved after its smoke tests.
        #[arg(long)]
        environment: Option<String>,
    },
    /// List releases, newest first.
    List {
        #[arg(long)]
        state: Option<ReleaseState>,
        #[arg(long)]
        json: bool,
    },
    /// One release and its timeline.
    Show {
        id: ReleaseId,
        #[arg(long)]
        json: bool,
    },
    /// Approve a release as a configured approver (with --stack: as yourself).
    Approve {
        id: ReleaseId,
        /// The approver's id (locally required; with --stack, yours by your AWS principal).
        #[arg(long = "as")]
        approver: Option<String>,
        /// A hotfix that asks to bypass the window: approve it for the next window instead.
        #[arg(long)]
        without_bypass: bool,
    },
    /// Reject a release, with a reason.
    Reject {
        id: ReleaseId,
        /// The approver's id (locally required; with --stack, yours by your AWS principal).
        #[arg(long = "as")]
        approver: Option<String>,
        #[arg(long)]
        reason: String,
    },
    /// Roll a live or the latest succeeded release back to the task definition it replaced.
    Rollback {
        id: ReleaseId,
        #[arg(long)]
        reason: String,
        /// Who rolls back (locally: any name, "operator" by default; with --stack: you, an approver).
        #[arg(long = "as")]
        actor: Option<String>,
        /// With --stack: return once the request is handed over instead of following it.
        #[arg(long)]
        no_wait: bool,
    },
}

pub(crate) async fn run(ctx: &Context, command: Command) -> Result<ExitCode> {
    let runtime = ctx.wall_runtime().await?;
    let result = execute(&runtime, command).await;
    runtime.shutdown().await;
    result
}

async fn execute(runtime: &Runtime, command: Command) -> Result<ExitCode> {
    let deps = &runtime.deps;
    match command {
        Command::Start {
            version,
            commit,
            author,
            kind,
            features,
            fixes,
            bypass_window,
            environment,
        } => {
            if commit.trim().is_empty() || author.trim().is_empty() {
                return Err(anyhow!("--commit and --author must not be empty"));
            }
            let laid;
            let deps = match environment.as_deref() {
                Some(name) => {
                    let config = runtime.config.for_environment(name).ok_or_else(|| {
                        let known: Vec<&str> = runtime
                            .config
                            .environments
                            .keys()
                            .map(String::as_str)
                            .collect();
                        anyhow!(
                            "no environment `{name}` in the configuration (configured: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )
                    })?;
                    laid = deps.with_config(config);
                    &laid
                }
                None => deps,
            };
            let started = releases::start(
                deps,
                NewRelease {
                    service: deps.config.service.name.clone(),
                    version,
                    commit,
                    author,
                    changelog: Changelog { features, fixes },
                    release_type: kind,
                    bypass_reason: bypass_window,
                    contributors: Vec::new(),
                    user_announcement: None,
                },
            )
            .await
            .map_err(|e| anyhow!(e.describe()))?;
            runtime.run_due().await?;
            let release = deps
                .load(&started.release.id)
                .await
                .map_err(|e| anyhow!(e.describe()))?;
            if !started.created {
                println!(
                    "This commit already started release {} (nothing new was started).",
                    release.id
                );
            }
            print_summary(&runtime.config, &release);
            Ok(ExitCode::SUCCESS)
        }
        Command::List { state, json } => {
            let filter = ReleaseFilter {
                service: None,
                states: state.into_iter().collect(),
            };
            let list = deps.store.list(&filter).await.map_err(|e| anyhow!(e))?;
            print_list(&runtime.config, &list, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id, json } => {
            let release = deps.load(&id).await.map_err(|e| anyhow!(e.describe()))?;
            print_show(&runtime.config, &release, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve {
            id,
            approver,
            without_bypass,
        } => {
            decide(
                runtime,
                &id,
                &required_as(approver)?,
                Decision::Approved,
                None,
                without_bypass,
            )
            .await
        }
        Command::Reject {
            id,
            approver,
            reason,
        } => {
            decide(
                runtime,
                &id,
                &required_as(approver)?,
                Decision::Rejected,
                Some(reason),
                false,
            )
            .await
        }
        Command::Rollback {
            id, reason, actor, ..
        } => {
            let actor = actor.unwrap_or_else(|| "operator".into());
            let release = releases::manual_rollback(deps, &id, &actor, &reason)
                .await
                .map_err(|e| anyhow!(e.describe()))?;
            runtime.run_due().await?;
            let release = deps
                .load(&release.id)
                .await
                .map_err(|e| anyhow!(e.describe()))?;
            print_summary(&runtime.config, &release);
            if release.state == ReleaseState::RollingBack {
                let next = runtime
                    .next_event()?
                    .map(|t| format!(" (next check due {} UTC)", t.format("%Y-%m-%d %H:%M:%S")));
                println!(
                    "The service is pointed back; the release is RolledBack once the restored version is seen stable and healthy. `shipgate tick` runs the checks{}.",
                    next.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn decide(
    runtime: &Runtime,
    id: &ReleaseId,
    who: &str,
    decision: Decision,
    reason: Option<String>,
    without_bypass: bool,
) -> Result<ExitCode> {
    let decided = releases::decide_with(&runtime.deps, id, who, decision, reason, without_bypass)
        .await
        .map_err(|e| anyhow!(e.describe()))?;
    runtime.run_due().await?;
    let release = runtime
        .deps
        .load(id)
        .await
        .map_err(|e| anyhow!(e.describe()))?;
    if decision == Decision::Approved && !decided.quorum.met {
        println!(
            "Approval recorded. Still needed: {}.",
            decided.quorum.missing.join(" + ")
        );
    }
    print_summary(&runtime.config, &release);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn tick(ctx: &Context) -> Result<ExitCode> {
    let runtime = ctx.wall_runtime().await?;
    let ran = runtime.run_due().await.context("running what is due");
    let next = runtime.next_event();
    runtime.shutdown().await;
    let ran = ran?;
    println!("Ran {ran} step(s).");
    if let Some(next) = next? {
        println!(
            "Next due: {} UTC. Run `shipgate tick` again then (e.g. from cron).",
            next.format("%Y-%m-%d %H:%M:%S")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn required_as(approver: Option<String>) -> Result<String> {
    approver.ok_or_else(|| {
        anyhow!("say who decides: --as APPROVER (an approver's id in the configuration)")
    })
}

/// Releases as a table (or JSON), newest first.
pub(crate) fn print_list(config: &Config, list: &[Release], json: bool) -> Result<()> {
    if json {
        let views: Vec<_> = list.iter().map(view).collect();
        println!("{}", serde_json::to_string_pretty(&views)?);
    } else if list.is_empty() {
        println!("No releases yet.");
    } else {
        println!(
            "{:<28} {:<8} {:<7} {:<17} WAITING ON",
            "RELEASE", "VERSION", "TYPE", "STATE"
        );
        for r in list {
            println!(
                "{:<28} {:<8} {:<7} {:<17} {}",
                r.id.to_string(),
                r.semver.to_string(),
                r.release_type.to_string(),
                r.state.to_string(),
                waiting_on(config, r)
            );
        }
    }
    Ok(())
}

/// One release and its timeline (or JSON).
pub(crate) fn print_show(config: &Config, release: &Release, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&view(release))?);
        return Ok(());
    }
    print_summary(config, release);
    for e in &release.events {
        print_event(e);
    }
    Ok(())
}

/// One line of a timeline.
pub(crate) fn print_event(e: &AuditEvent) {
    let what =
        e.to.map(|s| format!("→ {s}"))
            .unwrap_or_else(|| e.kind.to_string());
    println!(
        "  {}  {:<13} {:<19} {}",
        e.at.format("%Y-%m-%d %H:%M:%S"),
        e.actor,
        what,
        e.detail
    );
}

/// A release as shown to people and APIs: without its task tokens.
fn view(release: &Release) -> serde_json::Value {
    let mut value = serde_json::to_value(release).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("approval_token");
        map.remove("window_token");
        map.remove("evidence_token");
    }
    value
}

fn waiting_on(config: &Config, release: &Release) -> String {
    match release.state {
        ReleaseState::AwaitingApproval => {
            let q = approval::quorum(config, release);
            if q.missing.is_empty() {
                "the pipeline to take the approval (every required role has approved)".into()
            } else {
                format!("approval: {}", q.missing.join(" + "))
            }
        }
        ReleaseState::Pending => shipgate_core::evidence::waiting(release)
            .unwrap_or_else(|| "the pipeline to ask for approval".into()),
        ReleaseState::AwaitingWindow => "the deploy window".into(),
        ReleaseState::Deploying => "the deployment to become stable".into(),
        ReleaseState::HealthChecking => "health checks".into(),
        ReleaseState::Monitoring => "the monitoring hour".into(),
        ReleaseState::RollingBack => "the restored version to be seen stable and healthy".into(),
        _ => release.outcome.clone().unwrap_or_default(),
    }
}

pub(crate) fn print_summary(config: &Config, release: &Release) {
    println!(
        "{}  v{} ({})  {}  — {}",
        release.id,
        release.semver,
        release.release_type,
        release.state,
        waiting_on(config, release)
    );
    if let Some(prev) = &release.previous_task_definition {
        println!("  previous task definition: {prev}");
    }
    if let Some(new) = &release.new_task_definition {
        println!("  new task definition:      {new}");
    }
}
