//! `shipgate asl run` and `shipgate asl validate`: the engine on its own.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use chrono::Utc;
use serde_json::{Value, json};
use shipgate_asl::{ExecutionStatus, NoTasks, run_to_completion, validate};

use crate::context::Context;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run a definition (no task resources) on the virtual clock and print its result.
    Run {
        #[arg(long)]
        definition: PathBuf,
        /// The input: JSON text, or @FILE.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Print the result as one JSON line (the default is pretty JSON).
        #[arg(long)]
        json: bool,
    },
    /// Check definitions as ValidateStateMachineDefinition would.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(crate) async fn run(_ctx: &Context, command: Command) -> Result<ExitCode> {
    match command {
        Command::Run {
            definition,
            input,
            json,
        } => {
            let text = std::fs::read_to_string(&definition)
                .with_context(|| format!("cannot read {}", definition.display()))?;
            let findings = validate(&text);
            if !findings.is_empty() {
                for f in &findings {
                    eprintln!("{}: {}: {}", definition.display(), f.pointer, f.message);
                }
                return Ok(ExitCode::from(1));
            }
            let raw = match input.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read input {path}"))?,
                None => input,
            };
            let input: Value = serde_json::from_str(&raw).context("the input is not JSON")?;
            let result = run_to_completion(&text, input, Arc::new(NoTasks), Utc::now()).await?;
            let out = match result.status {
                ExecutionStatus::Succeeded => {
                    json!({ "status": "SUCCEEDED", "output": result.output })
                }
                status => json!({
                    "status": status_name(status),
                    "error": result.error,
                    "cause": result.cause,
                }),
            };
            if json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { files } => {
            let mut bad = 0;
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let findings = validate(&text);
                if findings.is_empty() {
                    println!("{}: valid", file.display());
                } else {
                    bad += 1;
                    for f in &findings {
                        println!("{}: {}: {}", file.display(), f.pointer, f.message);
                    }
                }
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// The status as Step Functions spells it.
fn status_name(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Running => "RUNNING",
        ExecutionStatus::Succeeded => "SUCCEEDED",
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
    }
}
