//! `shipgate demo`: every scenario of the procedure, each on its own virtual clock.

use std::process::ExitCode;

use anyhow::{Result, bail};
use shipgate_local::demo::{self, ScenarioReport};

use crate::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Run only this scenario.
    #[arg(long)]
    scenario: Option<String>,
    /// One JSON object per scenario per line instead of timelines.
    #[arg(long)]
    json: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
}

pub(crate) async fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let config = ctx.config()?;
    let definition = ctx.definition()?;
    let all = demo::scenarios();
    if args.list {
        for s in &all {
            println!("{:<24} {}", s.name, s.summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let chosen = select(&all, args.scenario.as_deref())?;
    let mut failed = 0;
    for scenario in chosen {
        let dir = ctx.data_dir.join("demo").join(scenario.name);
        let report = demo::run(scenario, &config, &definition, &dir).await?;
        if !report.passed {
            failed += 1;
        }
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_timeline(&report);
        }
    }
    if !args.json {
        if failed == 0 {
            println!(
                "All scenarios ended as expected. Messages sent are in {}/demo/<scenario>/outbox/.",
                ctx.data_dir.display()
            );
        } else {
            println!("{failed} scenario(s) did NOT end as expected.");
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The scenario named `name`, or all of them; an unknown name lists the known ones.
pub(crate) fn select<'a>(
    all: &'a [demo::Scenario],
    name: Option<&str>,
) -> Result<Vec<&'a demo::Scenario>> {
    let Some(name) = name else {
        return Ok(all.iter().collect());
    };
    let found: Vec<_> = all.iter().filter(|s| s.name == name).collect();
    if found.is_empty() {
        let names: Vec<_> = all.iter().map(|s| s.name).collect();
        bail!(
            "no scenario `{name}`; the scenarios are: {}",
            names.join(", ")
        );
    }
    Ok(found)
}

fn short(task_definition: &Option<String>) -> String {
    task_definition
        .as_deref()
        .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| "-".into())
}

pub(crate) fn print_timeline(report: &ScenarioReport) {
    println!("━━ {} ━━ {}", report.scenario, report.summary);
    for release in &report.releases {
        println!(
            "   release {} (v{}, {})",
            release.release_id, release.version, release.release_type
        );
        for event in &release.timeline {
            let what = match (event.from, event.to) {
                (_, Some(to)) => format!("→ {to}"),
                _ => event.kind.to_string(),
            };
            println!(
                "     {}  {:<13} {:<19} {}",
                event.at.format("%a %Y-%m-%d %H:%M:%S"),
                event.actor,
                what,
                event.detail
            );
        }
    }
    for task in &report.tasks_run {
        println!("   task run: {task}");
    }
    for a in &report.announcements {
        let first = a.text.lines().next().unwrap_or_default();
        println!("   [{}] {}", a.channel, first);
    }
    let mark = if report.passed { "✔" } else { "✘" };
    println!(
        "   {mark} {} (expected {}) · serving {} · previous {}",
        report.final_state,
        report.expected_state,
        short(&report.serving_task_definition),
        short(&report.previous_task_definition)
    );
    for problem in &report.problems {
        println!("   ✘ {problem}");
    }
    println!();
}
