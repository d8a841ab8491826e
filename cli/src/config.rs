//! `shipgate config check [FILE]` and `shipgate --stack NAME config push FILE`: a
//! configuration checked with every problem at once, and put in place on a deployed stack
//! (the configuration parameter, then every function starting fresh to read it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use shipgate_aws::operator::{STANDARD_PARAMETER_BYTES, push_config};
use shipgate_core::Config;

use crate::context::Context;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check a configuration file (default: --config): every problem at once, each naming
    /// its field.
    Check { file: Option<PathBuf> },
    /// With --stack: put FILE (checked first) in place as the stack's configuration, and
    /// have every function read it on its next invocation.
    Push { file: PathBuf },
}

pub(crate) async fn run(ctx: &Context, stack: Option<&str>, command: Command) -> Result<ExitCode> {
    match command {
        Command::Check { file } => {
            let path = file.unwrap_or_else(|| ctx.config.clone());
            let config = checked(&path)?;
            println!(
                "{}: valid — service {}, {} approver(s), window {}–{} UTC, {} freeze(s)",
                path.display(),
                config.service.name,
                config.approvers.len(),
                config.window.start.format("%H:%M"),
                config.window.end.format("%H:%M"),
                config.window.freezes.len()
            );
            for (name, env) in &config.environments {
                let when = match &env.window {
                    Some(w) => format!(
                        "in its own {}–{} UTC window",
                        w.start.format("%H:%M"),
                        w.end.format("%H:%M")
                    ),
                    None => "at once".to_string(),
                };
                println!(
                    "  before production: {name} — pushes to {} deploy {} in {} {when}, approved by {} after the smoke tests{}",
                    env.branch,
                    env.service,
                    env.cluster,
                    env.approval_roles.join(" + "),
                    if env.required_for_production {
                        "; production ships only what passed it"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Push { file } => {
            let Some(stack) = stack else {
                bail!(
                    "config push puts a configuration on a deployed stack: add --stack NAME (locally every command reads {} as it is)",
                    file.display()
                );
            };
            let config = checked(&file)?;
            if config.web.github_webhook_secret.is_some()
                || config.web.slack_signing_secret.is_some()
                || config.web.link_key.is_some()
            {
                bail!(
                    "{} holds secrets (web.github_webhook_secret, web.slack_signing_secret or web.link_key): on AWS they live in their own SecureString parameters, never in the configuration",
                    file.display()
                );
            }
            let text = compact(&std::fs::read_to_string(&file)?);
            if Config::from_toml_str(&text).ok().as_ref() != Some(&config) {
                bail!(
                    "{} reads differently without its comment lines (a multi-line string?): push a copy without them",
                    file.display()
                );
            }
            if text.len() > STANDARD_PARAMETER_BYTES {
                bail!(
                    "{} is {} bytes without comments: a standard SSM parameter holds {STANDARD_PARAMETER_BYTES}",
                    file.display(),
                    text.len()
                );
            }
            let sdk = shipgate_aws::sdk_config().await;
            let pushed = push_config(&sdk, stack, &text).await?;
            println!(
                "Configuration version {} of {} put in place by {}.",
                pushed.version, pushed.parameter, pushed.principal
            );
            println!(
                "{} function(s) start fresh and read it on their next invocation: {}",
                pushed.functions.len(),
                pushed.functions.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn checked(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Config::from_toml_str(&text).with_context(|| format!("in {}", path.display()))
}

/// The configuration without its comment and blank lines.
fn compact(text: &str) -> String {
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.is_empty() && !l.starts_with('#')
        })
        .map(|l| format!("{l}\n"))
        .collect()
}
