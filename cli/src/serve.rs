//! `shipgate serve`: the HTTP entry points over the local runtime on the wall clock — the
//! dashboard, approval links, the GitHub webhook, Slack buttons, and (local only) tripping
//! simulated alarms. Executions advance after every change and every few seconds, so
//! approvals expire, windows open and deploys proceed while it runs.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use shipgate_core::config::{GITHUB_WEBHOOK_SECRET_ENV, LINK_KEY_ENV, SLACK_SIGNING_SECRET_ENV};
use shipgate_local::runtime::{LocalClock, Runtime, RuntimeOptions};
use shipgate_web::{Hooks, WebState};

use crate::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// How often to fire what is due (timers, window openings, reminders), in seconds.
    #[arg(long, default_value_t = 2)]
    tick_seconds: u64,
}

/// Runs what is due on a runtime, one run at a time: the engine must not advance one
/// execution from two places at once.
#[derive(Clone)]
pub struct Advancer {
    runtime: Arc<Runtime>,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Advancer {
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self {
            runtime,
            gate: Arc::default(),
        }
    }

    pub async fn run(&self) {
        let _one_at_a_time = self.gate.lock().await;
        if let Err(err) = self.runtime.run_due().await {
            tracing::warn!(error = %err, "advancing the executions failed");
        }
    }
}

/// The handlers' state over a local runtime: changes advance the executions in the
/// background, and simulated alarms can be tripped.
pub fn web_state(advancer: Advancer) -> WebState {
    let runtime = advancer.runtime.clone();
    let alarms = runtime.alarms.clone();
    WebState {
        deps: runtime.deps.clone(),
        triggers: runtime.triggers.clone(),
        hooks: Hooks {
            after_change: Arc::new(move || {
                let advancer = advancer.clone();
                tokio::spawn(async move { advancer.run().await });
            }),
            trip_alarm: Some(Arc::new(move |name: String, reason: String| {
                let alarms = alarms.clone();
                Box::pin(async move { alarms.trip(&name, &reason).map_err(|e| e.to_string()) })
            })),
        },
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    let mut config = ctx.config()?;
    if config.web.public_url.is_none() {
        config.web.public_url = Some(format!("http://{addr}"));
    }
    for (missing, name, what) in [
        (
            config.web.github_webhook_secret.is_none(),
            GITHUB_WEBHOOK_SECRET_ENV,
            "GitHub webhooks are refused",
        ),
        (
            config.web.slack_signing_secret.is_none(),
            SLACK_SIGNING_SECRET_ENV,
            "Slack buttons are refused",
        ),
    ] {
        if missing {
            eprintln!("note: {name} is not set: {what}");
        }
    }
    if config.web.link_key.is_none() {
        eprintln!(
            "note: {LINK_KEY_ENV} is not set: approval links are signed with the key in {}",
            ctx.data_dir.join("link.key").display()
        );
    }
    let runtime = Arc::new(
        Runtime::open(RuntimeOptions {
            data_dir: ctx.data_dir.clone(),
            config,
            definition: ctx.definition()?,
            clock: LocalClock::Wall,
            demo_service: true,
        })
        .await?,
    );
    let advancer = Advancer::new(runtime.clone());
    let state = web_state(advancer.clone());
    let ticker = {
        let every = Duration::from_secs(args.tick_seconds.max(1));
        tokio::spawn(async move {
            loop {
                advancer.run().await;
                tokio::time::sleep(every).await;
            }
        })
    };
    println!(
        "shipgate serving on http://{addr}  (dashboard /, webhook POST /webhooks/github, data in {})",
        ctx.data_dir.display()
    );
    let served = axum::serve(listener, shipgate_web::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    ticker.abort();
    let _ = ticker.await;
    if let Ok(runtime) = Arc::try_unwrap(runtime) {
        runtime.shutdown().await;
    }
    served.context("the server failed")?;
    Ok(ExitCode::SUCCESS)
}
