//! `shipgate twin`: the demo's scenarios on the production stack of `infra/template.yaml`,
//! run offline as deployed (moto with IAM enforced, the real function binaries, the engine
//! behind the Step Functions API) — rehearse the stack before `make deploy`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use shipgate_local::demo;
use shipgate_twin::{StackOptions, TwinReport};

use crate::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Run only this scenario.
    #[arg(long)]
    scenario: Option<String>,
    /// One JSON object per scenario per line: the `demo --json` fields, `aws_calls` and `denied`.
    #[arg(long)]
    json: bool,
    /// The SAM template to deploy.
    #[arg(long, default_value = "infra/template.yaml")]
    template: PathBuf,
    /// The template's parameter values for the twin.
    #[arg(long, default_value = "infra/twin/parameters.json")]
    parameters: PathBuf,
    /// The launcher (moto, the template translated and provisioned).
    #[arg(
        long,
        default_value = "infra/twin/launcher.py",
        env = "SHIPGATE_TWIN_LAUNCHER"
    )]
    launcher: PathBuf,
    /// The Python that runs the launcher.
    #[arg(long, default_value = "python3", env = "SHIPGATE_TWIN_PYTHON")]
    python: String,
    /// Where the function binaries are (default: beside this executable).
    #[arg(long, env = "SHIPGATE_TWIN_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Bring the stack up and keep it up for people to act on (until Ctrl-C), instead of
    /// playing the scenarios.
    #[arg(long, conflicts_with_all = ["scenario", "json"])]
    up: bool,
    /// With --up: where the clock starts (RFC 3339, e.g. 2026-03-11T02:55:00Z; default now).
    #[arg(long, requires = "up")]
    start: Option<chrono::DateTime<chrono::Utc>>,
    /// With --up: virtual seconds per real second.
    #[arg(long, default_value_t = 1.0, requires = "up")]
    speed: f64,
    /// With --up: stop after this many real seconds.
    #[arg(long = "for", requires = "up")]
    for_seconds: Option<u64>,
    /// With --up: the approver the twin's approver user is.
    #[arg(long, default_value = "lee", requires = "up")]
    approver: String,
}

pub(crate) async fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let config = ctx.config()?;
    for (what, path) in [
        ("template", &args.template),
        ("parameter file", &args.parameters),
        ("launcher", &args.launcher),
    ] {
        if !path.exists() {
            bail!(
                "the twin's {what} {} does not exist (run shipgate twin from the repository's root, or pass its path)",
                path.display()
            );
        }
    }
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .context("where is this executable?")?
            .parent()
            .map(PathBuf::from)
            .context("this executable has no directory")?,
    };
    if args.up {
        let options = StackOptions {
            template: args.template.clone(),
            parameters: args.parameters.clone(),
            launcher: args.launcher.clone(),
            python: args.python.clone(),
            bin_dir,
            work_dir: ctx.data_dir.join("twin").join("up"),
            stack_name: "shipgate".into(),
            task_seconds: 1.0,
        };
        let up = crate::twin_up::Up {
            start: args.start,
            speed: args.speed,
            for_seconds: args.for_seconds,
            approver: args.approver,
        };
        return crate::twin_up::run(config, options, up).await;
    }
    let all = demo::scenarios();
    let chosen = crate::demo::select(&all, args.scenario.as_deref())?;
    let mut failed = 0;
    for scenario in chosen {
        let options = StackOptions {
            template: args.template.clone(),
            parameters: args.parameters.clone(),
            launcher: args.launcher.clone(),
            python: args.python.clone(),
            bin_dir: bin_dir.clone(),
            work_dir: ctx.data_dir.join("twin").join(scenario.name),
            stack_name: "shipgate".into(),
            task_seconds: 1.0,
        };
        let report = shipgate_twin::run(scenario, &config, &options)
            .await
            .with_context(|| {
                format!(
                    "scenario {} on the twin (logs in {})",
                    scenario.name,
                    options.work_dir.display()
                )
            })?;
        if !report.report.passed {
            failed += 1;
        }
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print(&report);
        }
    }
    if !args.json {
        if failed == 0 {
            println!("All scenarios ended as expected on the twin, with no call denied.");
        } else {
            println!("{failed} scenario(s) did NOT end as expected on the twin.");
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(report: &TwinReport) {
    crate::demo::print_timeline(&report.report);
    let functions: Vec<String> = report
        .invocations
        .iter()
        .map(|(f, n)| format!("{f} ×{n}"))
        .collect();
    println!("   functions invoked: {}", functions.join(", "));
    let calls: u64 = report.aws_calls.iter().map(|c| c.count).sum();
    println!("   AWS calls: {calls} ({} kinds)", report.aws_calls.len());
    for d in &report.denied {
        println!(
            "   ✘ DENIED: {} may not {} ({} times)",
            d.call.function, d.call.action, d.count
        );
    }
    println!();
}
