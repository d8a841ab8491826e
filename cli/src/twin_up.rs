//! `shipgate twin --up`: the stack kept up, its clock moving (at `--speed` times real time),
//! for people to act on as they would on AWS — pushes through the trigger's function URL,
//! `shipgate --stack shipgate …` with an approver's or a reader's credentials, links in a
//! browser — until Ctrl-C (or `--for` seconds).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use shipgate_core::Config;
use shipgate_core::config::GITHUB_WEBHOOK_SECRET_ENV;
use shipgate_twin::{Stack, StackOptions};

/// How often the clock moves and what is due runs.
const TICK: Duration = Duration::from_millis(250);

pub(crate) struct Up {
    pub start: Option<DateTime<Utc>>,
    pub speed: f64,
    pub for_seconds: Option<u64>,
    /// The approver the twin's approver user is (their `aws_principals`).
    pub approver: String,
}

pub(crate) async fn run(mut config: Config, options: StackOptions, up: Up) -> Result<ExitCode> {
    if !(up.speed > 0.0 && up.speed <= 3600.0) {
        bail!("--speed must be above 0 and at most 3600");
    }
    let Some(person) = config.approvers.iter_mut().find(|a| a.id == up.approver) else {
        bail!(
            "--approver {}: no such approver in the configuration",
            up.approver
        );
    };
    let approver_arn = format!("arn:aws:iam::123456789012:user/{APPROVER}");
    person.aws_principals = vec![approver_arn];
    let start = up.start.unwrap_or_else(Utc::now);
    let stack = Stack::up(&options, config, start)
        .await
        .context("bringing the twin up")?;
    let dir = options.work_dir.clone();
    let approver_env = write_env(&stack, APPROVER, &dir)?;
    let reader_env = write_env(&stack, READER, &dir)?;
    let trigger = stack.url_of("TriggerFunction").unwrap_or_default();
    let callback = stack.url_of("CallbackFunction").unwrap_or_default();
    println!(
        "The twin of stack `{}` is up (logs in {}); its clock starts at {} UTC and runs at {}× real time.",
        stack.manifest.stack_name,
        dir.display(),
        start.format("%Y-%m-%d %H:%M:%S"),
        up.speed
    );
    println!();
    println!(
        "In another terminal, as {} (an approver) — or as a reader with {}:",
        up.approver,
        reader_env.display()
    );
    println!("  source {}", approver_env.display());
    println!(
        "  shipgate webhook send --url {trigger}webhooks/github --payload tests/fixtures/github/push-main.json"
    );
    println!(
        "  shipgate --stack {} release list",
        stack.manifest.stack_name
    );
    println!(
        "  shipgate --stack {} release approve RELEASE",
        stack.manifest.stack_name
    );
    println!(
        "  shipgate --stack {} dashboard-link",
        stack.manifest.stack_name
    );
    println!("Approval and dashboard links start at {callback}.");
    println!("Ctrl-C stops it.");
    let outcome = keep_up(&stack, start, &up).await;
    stack.down().await;
    outcome?;
    println!("The twin is down.");
    Ok(ExitCode::SUCCESS)
}

const APPROVER: &str = "twin-approver";
const READER: &str = "twin-reader";

/// Moves the clock with real time (times `speed`) and runs what is due, until Ctrl-C.
async fn keep_up(stack: &Stack, start: DateTime<Utc>, up: &Up) -> Result<()> {
    let began = Instant::now();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = tokio::time::sleep(TICK) => {}
        }
        let elapsed = began.elapsed();
        if up.for_seconds.is_some_and(|s| elapsed.as_secs() >= s) {
            return Ok(());
        }
        let virtual_elapsed =
            chrono::Duration::milliseconds((elapsed.as_secs_f64() * up.speed * 1000.0) as i64);
        stack.clock.set(start + virtual_elapsed)?;
        stack.settle().await?;
    }
}

/// `<dir>/<user>.env`: what a shell needs to act on the twin as `user`.
fn write_env(stack: &Stack, user: &str, dir: &Path) -> Result<PathBuf> {
    let mut vars = stack
        .operator_env(user)
        .with_context(|| format!("the twin has no {user} (its template lacks the CLI policies)"))?;
    vars.push(("SHIPGATE_STACK".into(), stack.manifest.stack_name.clone()));
    vars.push((
        GITHUB_WEBHOOK_SECRET_ENV.into(),
        stack.secrets.github_webhook_secret.clone(),
    ));
    let text: String = vars
        .iter()
        .map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', r"'\''")))
        .collect();
    let path = dir.join(format!("{}.env", user.trim_start_matches("twin-")));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
