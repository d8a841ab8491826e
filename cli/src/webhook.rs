//! `shipgate webhook send`: posts a GitHub webhook, signed as GitHub signs it, to a
//! running `shipgate serve` — to try the trigger without GitHub.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow};
use shipgate_core::config::GITHUB_WEBHOOK_SECRET_ENV;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Send a payload file as a signed webhook delivery.
    Send {
        /// The server (`http://127.0.0.1:8080`) or the full webhook URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The JSON payload, e.g. tests/fixtures/github/push-main.json.
        #[arg(long)]
        payload: PathBuf,
        /// The event name (`X-GitHub-Event`).
        #[arg(long, default_value = "push")]
        event: String,
        /// The delivery id (`X-GitHub-Delivery`); a fresh one by default. Send one twice to
        /// see a redelivery refused.
        #[arg(long)]
        delivery: Option<String>,
        /// The environment variable that holds the webhook secret.
        #[arg(long, default_value = GITHUB_WEBHOOK_SECRET_ENV)]
        secret_env: String,
    },
}

pub(crate) async fn run(command: Command) -> Result<ExitCode> {
    let Command::Send {
        url,
        payload,
        event,
        delivery,
        secret_env,
    } = command;
    let secret = std::env::var(&secret_env)
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            anyhow!("{secret_env} is not set: export the webhook secret the server uses")
        })?;
    let body =
        std::fs::read(&payload).with_context(|| format!("cannot read {}", payload.display()))?;
    let url = if url.contains("/webhooks/") {
        url
    } else {
        format!("{}/webhooks/github", url.trim_end_matches('/'))
    };
    let delivery = delivery.unwrap_or_else(|| {
        format!(
            "cli-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        )
    });
    let signature = shipgate_web::signature::github_signature(secret.as_bytes(), &body);
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-github-event", &event)
        .header("x-github-delivery", &delivery)
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}: is `shipgate serve` running?"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    println!("{text}");
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
