//! `shipgate serve`: the HTTP entry points over the local runtime on the wall clock — the
//! dashboard, approval links, the GitHub webhook, Slack buttons, and (local only) tripping
//! simulated alarms. Executions advance after every change and every few seconds, so
//! approvals expire, windows open and deploys proceed while it runs.
//!
//! Connections that do not send their request head in time are closed and connections
//! are capped ([`shipgate_web::server`]); tripping alarms needs the data directory's local
//! token ([`shipgate_local::local_token`]), which the dashboard embeds for this machine.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use shipgate_core::config::{GITHUB_WEBHOOK_SECRET_ENV, LINK_KEY_ENV, SLACK_SIGNING_SECRET_ENV};
use shipgate_core::releases::RollBackHere;
use shipgate_local::alarms::{SimulatedAlarms, TripError};
use shipgate_local::local_token;
use shipgate_local::runtime::{LocalClock, Runtime, RuntimeOptions};
use shipgate_web::access::DashboardAccess;
use shipgate_web::local::LocalToken;
use shipgate_web::server::ServeOptions;
use shipgate_web::{Hooks, LocalHooks, TripRefused, WebState};

use crate::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// How often to fire what is due (timers, window openings, reminders), in seconds.
    #[arg(long, default_value_t = 2)]
    tick_seconds: u64,
    /// Seconds a connection may take to send a request's headers; slower (or idle
    /// keep-alive) connections are closed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    header_timeout_seconds: u64,
    /// Connections served at once; one more is closed as soon as it is accepted.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_connections: u64,
}

/// Runs what is due on a runtime, one run at a time: the engine must not advance one
/// execution from two places at once.
#[derive(Clone)]
pub(crate) struct Advancer {
    runtime: Arc<Runtime>,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Advancer {
    pub(crate) fn new(runtime: Arc<Runtime>) -> Self {
        Self {
            runtime,
            gate: Arc::default(),
        }
    }

    pub(crate) async fn run(&self) {
        let _one_at_a_time = self.gate.lock().await;
        if let Err(err) = self.runtime.run_due().await {
            tracing::warn!(error = %err, "advancing the executions failed");
        }
    }
}

/// Trips a simulated alarm for the live release, as the web handlers ask.
pub(crate) fn trip(
    alarms: &SimulatedAlarms,
    name: &str,
    reason: &str,
) -> Result<String, TripRefused> {
    match alarms.trip(name, reason) {
        Ok(trip) => Ok(trip.release_id.to_string()),
        Err(err @ TripError::NoLiveRelease { .. }) => {
            Err(TripRefused::NothingLive(err.to_string()))
        }
        Err(err @ TripError::Alarms(_)) => Err(TripRefused::Unavailable(err.to_string())),
    }
}

/// The handlers' state over a local runtime: changes advance the executions in the
/// background, and simulated alarms can be tripped by callers holding `token`.
pub(crate) fn web_state(advancer: Advancer, token: LocalToken) -> WebState {
    let runtime = advancer.runtime.clone();
    let alarms = runtime.alarms.clone();
    WebState {
        deps: runtime.deps.clone(),
        triggers: runtime.triggers.clone(),
        rollbacks: Arc::new(RollBackHere {
            deps: runtime.deps.clone(),
        }),
        hooks: Hooks {
            dashboard: DashboardAccess::Open,
            after_change: Arc::new(move || {
                let advancer = advancer.clone();
                tokio::spawn(async move { advancer.run().await });
            }),
            local: Some(LocalHooks {
                trip_alarm: Arc::new(move |name: String, reason: String| {
                    let alarms = alarms.clone();
                    Box::pin(async move { trip(&alarms, &name, &reason) })
                }),
                token,
            }),
        },
    }
}

pub(crate) async fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let mut config = ctx.config()?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
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
    let token = local_token::load_or_create(&ctx.data_dir)?;
    let token = LocalToken::new(token)?;
    let advancer = Advancer::new(runtime.clone());
    let state = web_state(advancer.clone(), token);
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(args.header_timeout_seconds),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        ..ServeOptions::default()
    };
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
    let served =
        shipgate_web::server::serve(listener, shipgate_web::router(state), options, async {
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
