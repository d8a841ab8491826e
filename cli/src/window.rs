//! `shipgate window next` and `shipgate plan`: the window policy, without running anything.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use chrono::Utc;
use shipgate_core::model::ReleaseType;
use shipgate_core::policy::window::WindowPolicy;
use shipgate_core::ports::ReleaseStore;
use shipgate_core::{Config, Version};
use shipgate_local::db::Db;
use shipgate_local::store::SqliteReleaseStore;

use crate::context::Context;

#[derive(clap::Subcommand)]
pub enum Command {
    /// The next windows, with the last start time that fits and any freeze.
    Next {
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
}

#[derive(clap::Args)]
pub struct PlanArgs {
    #[arg(long)]
    version: Version,
    /// Override the type derived from the version bump.
    #[arg(long = "type")]
    kind: Option<ReleaseType>,
}

pub(crate) async fn run(ctx: &Context, command: Command) -> Result<ExitCode> {
    let config = ctx.config()?;
    let Command::Next { count } = command;
    print_windows(&config, count);
    Ok(ExitCode::SUCCESS)
}

/// The next `count` windows of `config`, from now.
pub(crate) fn print_windows(config: &Config, count: usize) {
    let policy = WindowPolicy::new(config);
    for slot in policy.upcoming(Utc::now(), count) {
        let note = match &slot.frozen_by {
            Some(reason) => format!("FROZEN: {reason}"),
            None => format!(
                "deploys may start until {}",
                slot.last_start.format("%H:%M")
            ),
        };
        println!(
            "{}  {}–{} UTC  {}",
            slot.opens.format("%a %Y-%m-%d"),
            slot.opens.format("%H:%M"),
            slot.closes.format("%H:%M"),
            note
        );
    }
}

pub(crate) async fn plan(ctx: &Context, args: PlanArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = SqliteReleaseStore::new(
        Db::open(&ctx.data_dir.join("shipgate.db")).map_err(|e| anyhow!(e))?,
    );
    print_plan(&config, &store, &args).await?;
    Ok(ExitCode::SUCCESS)
}

/// What a release of `args.version` would be, after the last one `store` has released.
pub(crate) async fn print_plan(
    config: &Config,
    store: &dyn ReleaseStore,
    args: &PlanArgs,
) -> Result<()> {
    let last = store
        .last_released(&config.service.name)
        .await
        .map_err(|e| anyhow!(e))?;
    let last_version = last.as_ref().map(|r| r.semver);
    let derived = args
        .version
        .release_type_since(last_version.as_ref())
        .map_err(|e| anyhow!(e))?;
    let kind = args.kind.unwrap_or(derived);
    let roles = config
        .approvals
        .required
        .get(&kind)
        .cloned()
        .unwrap_or_default();
    println!("Release v{} of {}", args.version, config.service.name);
    match last_version {
        Some(v) => println!("  type:       {kind} (last released v{v})"),
        None => println!("  type:       {kind} (no earlier release recorded)"),
    }
    println!("  approvals:  {}", roles.join(" + "));
    for role in &roles {
        let who: Vec<_> = config
            .approvers
            .iter()
            .filter(|a| a.roles.contains(role))
            .map(|a| a.id.as_str())
            .collect();
        println!("    {role}: {}", who.join(", "));
    }
    let policy = WindowPolicy::new(config);
    match policy.next_start(Utc::now()) {
        Some(at) => println!(
            "  earliest deploy if approved now: {} UTC",
            at.format("%a %Y-%m-%d %H:%M")
        ),
        None => println!("  no window fits in the coming year: check the freezes"),
    }
    if kind == ReleaseType::Hotfix && config.window.hotfix_bypass {
        println!(
            "  as a hotfix it may bypass the window with --bypass-window \"reason\" (announced)"
        );
    }
    Ok(())
}
