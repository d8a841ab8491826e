//! `shipgate --stack NAME …`: the same commands on a deployed stack, with the caller's own
//! AWS credentials. Who the caller is comes from `sts:GetCallerIdentity`, mapped to an
//! approver by `approvers[].aws_principals`; a caller no approver lists may read, not decide.
//! Decisions take the path of a link (quorum, no self-approval, expiry) and name the
//! caller's principal in the release's timeline; a rollback goes to the rollback function
//! as a link's does, and the command follows it to its end.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use shipgate_aws::operator::{Access, Operator};
use shipgate_core::config::Approver;
use shipgate_core::links::{self, Grant};
use shipgate_core::model::Decision;
use shipgate_core::ports::{Handed, ReleaseFilter, RollbackRequest};
use shipgate_core::releases;
use shipgate_core::{ReleaseId, ReleaseState};

use crate::context::Context;
use crate::release::{self, print_event, print_list, print_show, print_summary};
use crate::{Command, config, dashboard, webhook, window};

/// How long `release rollback` follows a rollback before handing back the prompt.
const FOLLOW_FOR: Duration = Duration::from_secs(20 * 60);
const POLL_EVERY: Duration = Duration::from_secs(2);

pub(crate) async fn run(ctx: &Context, stack: &str, command: Command) -> Result<ExitCode> {
    match command {
        Command::Config(cmd) => config::run(ctx, Some(stack), cmd).await,
        Command::Release(cmd) => run_release(stack, cmd).await,
        Command::Window(window::Command::Next { count }) => {
            let op = Operator::connect(stack, Access::Read).await?;
            window::print_windows(&op.deps.config, count);
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => {
            let op = Operator::connect(stack, Access::Read).await?;
            window::print_plan(&op.deps.config, op.deps.store.as_ref(), &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DashboardLink(args) => {
            let op = Operator::connect(stack, Access::Decide).await?;
            let me = yourself(&op, args.person.as_deref())?;
            let until = Utc::now() + chrono::Duration::days(i64::from(args.days()?));
            let link = links::link(&op.deps.config, Grant::View, &me.id, until)
                .ok_or_else(|| anyhow!("the stack has no link key (LinkKeyParameterName)"))?;
            dashboard::print_link(&me.id, &link, until);
            Ok(ExitCode::SUCCESS)
        }
        // Not about the data directory: the same with or without a stack.
        Command::Webhook(cmd) => webhook::run(cmd).await,
        Command::Tick => bail!(
            "on a deployed stack EventBridge Scheduler and Step Functions run what is due: there is nothing to tick"
        ),
        _ => bail!("this command runs on the local data directory only: leave out --stack"),
    }
}

async fn run_release(stack: &str, command: release::Command) -> Result<ExitCode> {
    match command {
        release::Command::Start { .. } => bail!(
            "on a deployed stack a push to main starts a release (the GitHub webhook); `release start` is local only"
        ),
        release::Command::List { state, json } => {
            let op = Operator::connect(stack, Access::Read).await?;
            // The stack's service and its environments', by their index: readers are
            // granted no scan.
            let mut list = Vec::new();
            for service in op.deps.config.services() {
                let filter = ReleaseFilter {
                    service: Some(service),
                    states: state.into_iter().collect(),
                };
                list.extend(op.deps.store.list(&filter).await.map_err(|e| anyhow!(e))?);
            }
            list.sort_by_key(|r| std::cmp::Reverse(r.created_at));
            print_list(&op.deps.config, &list, json)?;
            Ok(ExitCode::SUCCESS)
        }
        release::Command::Show { id, json } => {
            let op = Operator::connect(stack, Access::Read).await?;
            let release = op.deps.load(&id).await.map_err(|e| anyhow!(e.describe()))?;
            print_show(&op.deps.config, &release, json)?;
            Ok(ExitCode::SUCCESS)
        }
        release::Command::Approve {
            id,
            approver,
            without_bypass,
        } => {
            decide(
                stack,
                &id,
                approver.as_deref(),
                Decision::Approved,
                None,
                without_bypass,
            )
            .await
        }
        release::Command::Reject {
            id,
            approver,
            reason,
        } => {
            decide(
                stack,
                &id,
                approver.as_deref(),
                Decision::Rejected,
                Some(reason),
                false,
            )
            .await
        }
        release::Command::Rollback {
            id,
            reason,
            actor,
            no_wait,
        } => roll_back(stack, &id, actor.as_deref(), reason, no_wait).await,
    }
}

/// The approver the caller is; `asked_as`, when given, must be that approver.
fn yourself<'a>(op: &'a Operator, asked_as: Option<&str>) -> Result<&'a Approver> {
    let Some(me) = op.approver() else {
        bail!(
            "you ({}) are not an approver of stack {}: you may read releases, not decide or roll back. \
             An approver of yours is listed with this principal in approvers[].aws_principals of the stack's configuration.",
            op.principal,
            op.stack
        );
    };
    if let Some(asked) = asked_as
        && asked != me.id
    {
        bail!(
            "you ({}) are {} in the stack's configuration, not {asked}: on a deployed stack everyone acts as themselves",
            op.principal,
            me.id
        );
    }
    Ok(me)
}

fn via(op: &Operator) -> String {
    format!("the CLI as {}", op.principal)
}

async fn decide(
    stack: &str,
    id: &ReleaseId,
    asked_as: Option<&str>,
    decision: Decision,
    reason: Option<String>,
    without_bypass: bool,
) -> Result<ExitCode> {
    let op = Operator::connect(stack, Access::Decide).await?;
    let me = yourself(&op, asked_as)?;
    let decided = releases::decide_via(
        &op.deps,
        id,
        &me.id,
        decision,
        reason,
        without_bypass,
        Some(&via(&op)),
    )
    .await
    .map_err(|e| anyhow!(e.describe()))?;
    if decision == Decision::Approved && !decided.quorum.met {
        println!(
            "Approval recorded. Still needed: {}.",
            decided.quorum.missing.join(" + ")
        );
    }
    print_summary(&op.deps.config, &decided.release);
    Ok(ExitCode::SUCCESS)
}

async fn roll_back(
    stack: &str,
    id: &ReleaseId,
    asked_as: Option<&str>,
    reason: String,
    no_wait: bool,
) -> Result<ExitCode> {
    let op = Operator::connect(stack, Access::Decide).await?;
    let me = yourself(&op, asked_as)?;
    let asked = releases::request_rollback(
        &op.deps,
        op.rollbacks.as_ref(),
        RollbackRequest {
            release_id: id.clone(),
            actor: me.id.clone(),
            reason,
            via: via(&op),
        },
    )
    .await
    .map_err(|e| anyhow!(e.describe()))?;
    let seen = asked.release.events.len();
    match asked.handed {
        None => {
            println!("A rollback of {id} is already under way or done; nothing more was asked.");
            print_summary(&op.deps.config, &asked.release);
            Ok(ExitCode::SUCCESS)
        }
        Some(Handed::Refused(why)) => bail!("the rollback was refused: {why}"),
        Some(Handed::Done) => {
            print_summary(&op.deps.config, &asked.release);
            Ok(ExitCode::SUCCESS)
        }
        Some(Handed::Queued) if no_wait => {
            println!(
                "Rollback of {id} requested; the rollback function takes it from here. \
                 Follow it with `shipgate --stack {stack} release show {id}`."
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Handed::Queued) => {
            println!(
                "Rollback of {id} requested; following it (Ctrl-C stops following, not the rollback)."
            );
            follow(&op, id, seen).await
        }
    }
}

/// Prints the release's timeline as it grows, until the rollback has ended.
async fn follow(op: &Operator, id: &ReleaseId, mut seen: usize) -> Result<ExitCode> {
    let started = Instant::now();
    loop {
        let release = op.deps.load(id).await.map_err(|e| anyhow!(e.describe()))?;
        for event in release.events.iter().skip(seen) {
            print_event(event);
            if event.kind == shipgate_core::model::EventKind::RollbackRefused {
                bail!("the rollback was refused: {}", event.detail);
            }
        }
        seen = release.events.len();
        if matches!(
            release.state,
            ReleaseState::RolledBack | ReleaseState::Failed
        ) {
            print_summary(&op.deps.config, &release);
            return Ok(if release.state == ReleaseState::RolledBack {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        if started.elapsed() > FOLLOW_FOR {
            println!(
                "Still {} after {} minutes; follow it with `shipgate --stack {} release show {id}`.",
                release.state,
                FOLLOW_FOR.as_secs() / 60,
                op.stack
            );
            return Ok(ExitCode::from(1));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
