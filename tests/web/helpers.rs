//! Harness: the web handlers over a local runtime on a virtual clock, served on
//! 127.0.0.1 (an ephemeral port) and stopped by the test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use shipgate_core::config::Secret;
use shipgate_core::releases::RollBackHere;
use shipgate_core::{Release, ReleaseId};
use shipgate_local::alarms::TripError;
use shipgate_local::local_token;
use shipgate_local::outbox::{Outbox, OutboxMessage};
use shipgate_local::runtime::{LocalClock, Runtime, RuntimeOptions};
use shipgate_tests::{STATEMACHINE, config};
use shipgate_web::access::DashboardAccess;
use shipgate_web::local::LocalToken;
use shipgate_web::server::ServeOptions;
use shipgate_web::{Hooks, LocalHooks, TripRefused, WebState};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub(crate) const GITHUB_SECRET: &str = "github-secret-for-tests";
pub(crate) const SLACK_SECRET: &str = "slack-secret-for-tests";
pub(crate) const LINK_KEY: &str = "link-key-for-tests";

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The project's own fixtures (`tests/fixtures`): payloads shaped as GitHub and Slack send them.
pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub(crate) struct Server {
    pub _dir: TempDir,
    pub runtime: Arc<Runtime>,
    pub base: String,
    pub router: axum::Router,
    /// The data directory's local token, which `/local/...` requests must carry.
    pub local_token: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The handlers' state over `runtime`. `after_change` does nothing: the tests move the
/// runtime themselves (`run_due`, `run_until`), so every step is deterministic.
pub(crate) fn state(runtime: &Arc<Runtime>, token: &str) -> WebState {
    let alarms = runtime.alarms.clone();
    let token = LocalToken::new(token).expect("the data directory's token is long enough");
    WebState {
        deps: runtime.deps.clone(),
        triggers: runtime.triggers.clone(),
        rollbacks: Arc::new(RollBackHere {
            deps: runtime.deps.clone(),
        }),
        hooks: Hooks {
            dashboard: DashboardAccess::Open,
            after_change: Arc::new(|| {}),
            local: Some(LocalHooks {
                trip_alarm: Arc::new(move |name: String, reason: String| {
                    let alarms = alarms.clone();
                    Box::pin(async move {
                        match alarms.trip(&name, &reason) {
                            Ok(trip) => Ok(trip.release_id.to_string()),
                            Err(err @ TripError::NoLiveRelease { .. }) => {
                                Err(TripRefused::NothingLive(err.to_string()))
                            }
                            Err(err) => Err(TripRefused::Unavailable(err.to_string())),
                        }
                    })
                }),
                token,
            }),
        },
    }
}

/// Which routes a test server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routes {
    /// Every route, the dashboard open (`shipgate serve`).
    Local,
    /// The callback function's routes, the dashboard behind personal links (the deployed stack).
    Callback,
}

impl Server {
    pub(crate) async fn start(now: &str) -> Server {
        Self::start_with(now, Routes::Local).await
    }

    pub(crate) async fn start_with(now: &str, routes: Routes) -> Server {
        Self::start_configured(now, routes, |_| {}).await
    }

    /// Like [`Server::start_with`], with the configuration changed by `configure` first.
    pub(crate) async fn start_configured(
        now: &str,
        routes: Routes,
        configure: impl FnOnce(&mut shipgate_core::Config),
    ) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let dir = tempfile::tempdir().unwrap();
        let mut config = config();
        config.web.public_url = Some(base.clone());
        config.web.github_webhook_secret = Some(Secret::new(GITHUB_SECRET));
        config.web.slack_signing_secret = Some(Secret::new(SLACK_SECRET));
        config.web.link_key = Some(Secret::new(LINK_KEY));
        configure(&mut config);
        let runtime = Arc::new(
            Runtime::open(RuntimeOptions {
                data_dir: dir.path().to_path_buf(),
                config,
                definition: STATEMACHINE.to_string(),
                clock: LocalClock::virtual_at(at(now)),
                demo_service: true,
            })
            .await
            .unwrap(),
        );
        let local_token = local_token::load_or_create(dir.path()).unwrap();
        let router = match routes {
            Routes::Local => shipgate_web::router(state(&runtime, &local_token)),
            Routes::Callback => {
                let mut state = state(&runtime, &local_token);
                state.hooks.local = None;
                state.hooks.dashboard = DashboardAccess::Signed;
                shipgate_web::callback_router(state)
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router.clone();
        let task = tokio::spawn(async move {
            let _ = shipgate_web::server::serve(listener, app, ServeOptions::default(), async {
                let _ = stopped.await;
            })
            .await;
        });
        Server {
            _dir: dir,
            runtime,
            base,
            router,
            local_token,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn release(&self, id: &ReleaseId) -> Release {
        self.runtime.deps.load(id).await.unwrap()
    }

    pub(crate) fn outbox(&self) -> Vec<OutboxMessage> {
        Outbox::read_all(&self.runtime.outbox_dir()).unwrap()
    }

    /// The approval link the outbox holds for the email address `to`.
    pub(crate) fn link_for(&self, to: &str) -> String {
        self.outbox()
            .into_iter()
            .rev()
            .find(|m| m.channel == "email" && m.to.iter().any(|t| t == to) && !m.links.is_empty())
            .map(|m| m.links[0].clone())
            .unwrap_or_else(|| panic!("no link for {to} in the outbox"))
    }

    /// Opens release 1.3.0 (as a push would), approved by the Eng Lead, and runs it to
    /// its end (deployed at 03:00 the next day, monitored for an hour).
    pub(crate) async fn shipped_release(&self) -> ReleaseId {
        let started = shipgate_core::releases::start(
            &self.runtime.deps,
            shipgate_core::model::NewRelease {
                service: self.runtime.config.service.name.clone(),
                version: "1.3.0".parse().unwrap(),
                commit: "a1c3e5f7091b2d4f6a8c0e1f3b5d7f9a1c3e5f70".into(),
                author: "alex".into(),
                changelog: shipgate_core::model::Changelog {
                    features: vec!["Saved searches".into()],
                    fixes: vec![],
                },
                release_type: None,
                bypass_reason: None,
                contributors: vec![],
                user_announcement: None,
            },
        )
        .await
        .unwrap();
        let id = started.release.id;
        self.runtime.run_due().await.unwrap();
        shipgate_core::releases::decide(
            &self.runtime.deps,
            &id,
            "lee",
            shipgate_core::model::Decision::Approved,
            None,
        )
        .await
        .unwrap();
        // The window closes at 05:00: the release has deployed and been watched by then.
        let tomorrow = (self.runtime.now() + chrono::Duration::days(1)).date_naive();
        let closed = tomorrow.and_hms_opt(5, 0, 0).unwrap().and_utc();
        self.runtime.run_until(closed).await.unwrap();
        assert_eq!(
            self.release(&id).await.state,
            shipgate_core::ReleaseState::Succeeded
        );
        id
    }

    /// Stops the server and the runtime's demo service.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        drop(self.router);
        if let Ok(runtime) = Arc::try_unwrap(self.runtime) {
            runtime.shutdown().await;
        }
    }
}

pub(crate) fn sign_github(body: &[u8]) -> String {
    shipgate_web::signature::github_signature(GITHUB_SECRET.as_bytes(), body)
}

/// Posts a signed push (or another event) to the running server.
pub(crate) async fn post_github(
    server: &Server,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(server.url("/webhooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sign_github(body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}
