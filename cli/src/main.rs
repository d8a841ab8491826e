//! `shipgate`: the release pipeline on one machine, and tools around it.

mod asl;
mod config;
mod context;
mod cost;
mod dashboard;
mod demo;
mod on_stack;
mod release;
mod serve;
mod twin;
mod twin_up;
mod webhook;
mod window;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "shipgate",
    version,
    about = "Release orchestrator: approve → window → deploy → health-check → monitor → announce, with automatic rollback"
)]
struct Cli {
    /// Where local state lives (releases, executions, simulated ECS, outbox).
    #[arg(
        long,
        global = true,
        default_value = ".shipgate",
        env = "SHIPGATE_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// The configuration file.
    #[arg(
        long,
        global = true,
        default_value = "shipgate.toml",
        env = "SHIPGATE_CONFIG"
    )]
    config: PathBuf,
    /// The pipeline definition (defaults to the statemachine.json built into this binary).
    #[arg(long, global = true, env = "SHIPGATE_STATEMACHINE")]
    statemachine: Option<PathBuf>,
    /// Act on a deployed stack (its CloudFormation name) with your AWS credentials, instead
    /// of the local data directory: release list|show|approve|reject|rollback, window next,
    /// plan, dashboard-link.
    #[arg(long, global = true, env = "SHIPGATE_STACK")]
    stack: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the procedure's scenarios on a virtual clock and show each release's timeline.
    Demo(demo::Args),
    /// Start, inspect and decide on releases in the data directory.
    #[command(subcommand)]
    Release(release::Command),
    /// Fire what is due on the wall clock (timers, window openings) and run the pipelines.
    Tick,
    /// The release window.
    #[command(subcommand)]
    Window(window::Command),
    /// Dry run: what a release of this version would be, who must approve, when it could deploy.
    Plan(window::PlanArgs),
    /// Amazon States Language tools.
    #[command(subcommand)]
    Asl(asl::Command),
    /// Serve the dashboard, approval links, the GitHub webhook and Slack buttons on the wall clock.
    Serve(serve::Args),
    /// What one release costs on AWS: a demo scenario's transitions, invocations and writes, priced.
    Cost(cost::Args),
    /// Rehearse the production stack offline: the demo's scenarios on infra/template.yaml as deployed.
    Twin(twin::Args),
    /// Check a configuration file, or (with --stack) put one in place on the deployed stack.
    #[command(subcommand)]
    Config(config::Command),
    /// A signed, expiring link to the dashboard for one approver.
    DashboardLink(dashboard::Args),
    /// Send a signed GitHub webhook (a push from a file) to a running `shipgate serve`.
    #[command(subcommand)]
    Webhook(webhook::Command),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHIPGATE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let ctx = context::Context {
        data_dir: cli.data_dir,
        config: cli.config,
        statemachine: cli.statemachine,
    };
    let result = match cli.stack {
        Some(stack) => on_stack::run(&ctx, &stack, cli.command).await,
        None => match cli.command {
            Command::Demo(args) => demo::run(&ctx, args).await,
            Command::Release(cmd) => release::run(&ctx, cmd).await,
            Command::Tick => release::tick(&ctx).await,
            Command::Window(cmd) => window::run(&ctx, cmd).await,
            Command::Plan(args) => window::plan(&ctx, args).await,
            Command::Asl(cmd) => asl::run(&ctx, cmd).await,
            Command::Serve(args) => serve::run(&ctx, args).await,
            Command::Webhook(cmd) => webhook::run(cmd).await,
            Command::Cost(args) => cost::run(&ctx, args).await,
            Command::Twin(args) => twin::run(&ctx, args).await,
            Command::DashboardLink(args) => dashboard::run(&ctx, args).await,
            Command::Config(cmd) => config::run(&ctx, None, cmd).await,
        },
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
