//! shipgate's HTTP entry points, as handlers over [`shipgate_core::Deps`]: the GitHub
//! trigger, approval links, Slack buttons, the dashboard and its JSON. `shipgate serve`
//! serves them locally; the Lambda function URLs serve the same router through
//! `lambda_http`. Nothing here knows which runtime it is in: what differs comes in through
//! [`Hooks`].
//!
//! Routes:
//! - `POST /webhooks/github` — signed pushes to the release branch start releases;
//! - `GET|HEAD /approvals/{link}` — a confirmation page that changes nothing;
//!   `POST /approvals/{link}` — the decision;
//! - `GET|HEAD /rollbacks/{link}` — an approver's manual rollback: a confirmation page
//!   asking for a reason; `POST /rollbacks/{link}` — the rollback, handed to the rollback
//!   path ([`WebState::rollbacks`]);
//! - `POST /slack/interactions` — the Approve button in Slack, and the Roll back button of a
//!   release announcement (answered with the clicker's own rollback link);
//! - `GET /`, `GET /releases/{id}`, `GET /api/releases`, `GET /api/releases/{id}` — behind
//!   [`access::guard`]: on the deployed stack only with a personal dashboard link;
//! - `POST /local/alarms/{name}` — only when the runtime can trip simulated alarms, and
//!   only for a caller on this machine that carries the local token ([`local`]).
//!
//! [`server::serve`] serves the router with a deadline for request heads and a cap on
//! connections; the Lambda function URLs need neither.

pub mod access;
pub mod approvals;
pub mod dashboard;
pub mod evidence;
pub mod github;
pub mod html;
pub mod local;
pub mod rollbacks;
pub mod server;
pub mod signature;
pub mod slack;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use shipgate_core::Deps;
use shipgate_core::ports::{RollbackRequests, TriggerLog};

use crate::access::DashboardAccess;

/// A boxed future, for hooks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Trips a simulated alarm `(name, reason)` for the live release; answers that release's id.
pub type TripAlarm =
    Arc<dyn Fn(String, String) -> BoxFuture<Result<String, TripRefused>> + Send + Sync>;

/// Why a simulated alarm was not tripped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TripRefused {
    /// No release is deploying or monitored: the trip would have nothing to roll back, and
    /// must not linger until some later release.
    #[error("{0}")]
    NothingLive(String),
    #[error("{0}")]
    Unavailable(String),
}

/// What only the local runtime offers (the `/local/...` routes), and what guards them.
#[derive(Clone)]
pub struct LocalHooks {
    /// Trips a simulated alarm.
    pub trip_alarm: TripAlarm,
    /// The token every `/local/...` request must carry (the dashboard embeds it).
    pub token: local::LocalToken,
}

/// What the runtime does around the handlers.
#[derive(Clone)]
pub struct Hooks {
    /// Called after a handler changed something, without waiting: locally it advances the
    /// executions (runs what is due); on AWS Step Functions does that and it does nothing.
    pub after_change: Arc<dyn Fn() + Send + Sync>,
    /// Locally only: enables `/local/...` (`POST /local/alarms/{name}`).
    pub local: Option<LocalHooks>,
    /// Whether the dashboard needs a personal link (the deployed stack) or is open (local).
    pub dashboard: DashboardAccess,
}

impl Hooks {
    /// Hooks that do nothing, and a dashboard shown only through personal links: the
    /// production setting.
    pub fn none() -> Self {
        Self {
            after_change: Arc::new(|| {}),
            local: None,
            dashboard: DashboardAccess::Signed,
        }
    }
}

/// Everything the handlers use. Secrets and the link key are in `deps.config.web`.
#[derive(Clone)]
pub struct WebState {
    pub deps: Deps,
    pub triggers: Arc<dyn TriggerLog>,
    /// Where manual rollbacks go (on AWS the rollback function's rule; locally, at once).
    pub rollbacks: Arc<dyn RollbackRequests>,
    pub hooks: Hooks,
}

pub type Shared = Arc<WebState>;

/// The GitHub webhook alone: the trigger function's URL.
pub fn trigger_router(state: WebState) -> Router {
    Router::new()
        .route("/webhooks/github", post(github::webhook))
        .with_state(Arc::new(state))
}

/// The dashboard's routes, behind [`access::guard`].
fn dashboard_routes(shared: &Shared) -> Router<Shared> {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/releases/{id}", get(dashboard::release))
        .route("/api/releases", get(dashboard::api_list))
        .route("/api/releases/{id}", get(dashboard::api_release))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            access::guard,
        ))
}

/// Personal links (approval, rollback), Slack buttons and the dashboard: the callback
/// function's URL.
pub fn callback_router(state: WebState) -> Router {
    let shared: Shared = Arc::new(state);
    Router::new()
        .route(
            "/approvals/{link}",
            get(approvals::show).post(approvals::decide),
        )
        .route(
            "/rollbacks/{link}",
            get(rollbacks::show).post(rollbacks::roll_back),
        )
        .route("/slack/interactions", post(slack::interactions))
        .merge(dashboard_routes(&shared))
        .with_state(shared)
}

/// Every route, over `state`.
pub fn router(state: WebState) -> Router {
    let local = state.hooks.local.is_some();
    let shared: Shared = Arc::new(state);
    let mut router = Router::new()
        .route("/webhooks/github", post(github::webhook))
        .route(
            "/approvals/{link}",
            get(approvals::show).post(approvals::decide),
        )
        .route(
            "/rollbacks/{link}",
            get(rollbacks::show).post(rollbacks::roll_back),
        )
        .route("/slack/interactions", post(slack::interactions))
        .merge(dashboard_routes(&shared));
    if local {
        // Every `/local/...` route sits behind the guard: loopback caller, local token.
        let local_routes = Router::new()
            .route("/local/alarms/{name}", post(local::trip_alarm))
            .route_layer(middleware::from_fn_with_state(shared.clone(), local::guard));
        router = router.merge(local_routes);
    }
    router.with_state(shared)
}
