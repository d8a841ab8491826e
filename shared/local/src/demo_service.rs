//! `DemoService`: a tiny HTTP application standing for the deployed service, so the
//! health-check gate makes real HTTP requests locally.
//!
//! It listens on `127.0.0.1` on a port the system picks, and answers as whatever version
//! the simulated ECS service is serving at the moment of the request: `GET /health`,
//! `GET /jobs` and `POST /apply` answer 200 with a small JSON body naming the version, or
//! 500 when that version's faults name the path in `failing_path`. Unknown paths are 404.
//! It stops gracefully on [`DemoService::stop`], or when dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::ecs::SimulatedEcs;

#[derive(Debug, thiserror::Error)]
pub enum DemoServiceError {
    #[error("could not listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
}

#[derive(Clone)]
struct AppState {
    ecs: Arc<SimulatedEcs>,
    cluster: Arc<str>,
    service: Arc<str>,
}

/// The running demo application (see the module documentation).
#[derive(Debug)]
pub struct DemoService {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl DemoService {
    /// Starts serving `service` of `cluster` on `127.0.0.1:<free port>`.
    pub async fn start(
        ecs: Arc<SimulatedEcs>,
        cluster: impl Into<String>,
        service: impl Into<String>,
    ) -> Result<DemoService, DemoServiceError> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(DemoServiceError::Bind)?;
        let addr = listener.local_addr().map_err(DemoServiceError::Bind)?;
        let state = AppState {
            ecs,
            cluster: Arc::from(cluster.into()),
            service: Arc::from(service.into()),
        };
        let app = Router::new()
            .route("/health", get(health))
            .route("/jobs", get(jobs))
            .route("/apply", post(apply))
            .fallback(not_found)
            .with_state(state);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped sender stops the service too.
                    let _ = stopped.await;
                })
                .await
        });
        Ok(DemoService {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for that.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => warn!(error = %err, "the demo service stopped with an error"),
                Err(err) => warn!(error = %err, "the demo service task failed"),
            }
        }
    }
}

impl Drop for DemoService {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn health(State(state): State<AppState>) -> Response {
    answer(&state, "/health", json!({ "status": "ok" }))
}

async fn jobs(State(state): State<AppState>) -> Response {
    answer(
        &state,
        "/jobs",
        json!({ "jobs": [
            { "id": "job-1", "title": "Backend engineer", "company": "Acme" },
            { "id": "job-2", "title": "Site reliability engineer", "company": "Globex" }
        ] }),
    )
}

async fn apply(State(state): State<AppState>) -> Response {
    answer(
        &state,
        "/apply",
        json!({ "applied": true, "application_id": "app-1" }),
    )
}

async fn not_found(uri: Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("no route for {}", uri.path()) })),
    )
        .into_response()
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_start_matches('/').trim_end_matches('/')
        == b.trim_start_matches('/').trim_end_matches('/')
}

/// Answers `path` as the version now serving: `body` plus who answered, or a 500 when the
/// version is made to fail there.
fn answer(state: &AppState, path: &str, body: Value) -> Response {
    let unavailable = |message: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": message })),
        )
            .into_response()
    };
    let serving = match state.ecs.serving(&state.cluster, &state.service) {
        Ok(Some(serving)) => serving,
        Ok(None) => return unavailable(format!("service {} is not running", state.service)),
        Err(err) => return unavailable(err.to_string()),
    };
    let faults = match state.ecs.faults(&serving.version_tag) {
        Ok(faults) => faults,
        Err(err) => return unavailable(err.to_string()),
    };
    if faults
        .failing_path
        .as_deref()
        .is_some_and(|failing| same_path(failing, path))
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({
                "error": "internal server error",
                "service": &*state.service,
                "version": serving.version_tag,
            })),
        )
            .into_response();
    }
    let mut body = body;
    if let Some(object) = body.as_object_mut() {
        object.insert("service".into(), Value::String(state.service.to_string()));
        object.insert("version".into(), Value::String(serving.version_tag));
        object.insert(
            "task_definition".into(),
            Value::String(serving.task_definition),
        );
    }
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use shipgate_core::ports::{DeployTarget, Deployer};

    use super::*;
    use crate::db::Db;
    use crate::db::tests::TestClock;
    use crate::ecs::Faults;

    async fn started() -> (DemoService, Arc<SimulatedEcs>, Arc<TestClock>) {
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let ecs = Arc::new(SimulatedEcs::new(
            Db::open_in_memory().unwrap(),
            clock.clone(),
        ));
        ecs.seed_service("prod", "api", "roleferry-api", "api", "repo/api:1.2.0", 41)
            .unwrap();
        let service = DemoService::start(ecs.clone(), "prod", "api")
            .await
            .unwrap();
        (service, ecs, clock)
    }

    #[tokio::test]
    async fn given_a_started_service_when_its_paths_are_requested_then_200_with_the_serving_version()
     {
        let (service, _ecs, _clock) = started().await;
        let base = service.base_url();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        assert!(service.addr().ip().is_loopback());
        let client = reqwest::Client::new();
        for (method, path) in [("GET", "/health"), ("GET", "/jobs"), ("POST", "/apply")] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = client
                .request(method, format!("{base}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["version"], "1.2.0", "{path}: {body}");
        }
        service.stop().await;
    }

    #[tokio::test]
    async fn given_unknown_paths_or_methods_when_requested_then_404_and_405() {
        let (service, _ecs, _clock) = started().await;
        let base = service.base_url();
        let client = reqwest::Client::new();
        let missing = client.get(format!("{base}/nope")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        let wrong_method = client.get(format!("{base}/apply")).send().await.unwrap();
        assert_eq!(wrong_method.status(), 405);
        service.stop().await;
    }

    #[tokio::test]
    async fn given_a_failing_path_on_the_new_version_when_it_serves_then_that_path_answers_500() {
        let (service, ecs, clock) = started().await;
        let base = service.base_url();
        ecs.set_faults(
            "1.3.0",
            Faults {
                failing_path: Some("/apply".into()),
                ..Faults::default()
            },
        )
        .unwrap();
        let target = DeployTarget {
            cluster: "prod".into(),
            service: "api".into(),
        };
        let current = ecs.current_task_definition(&target).await.unwrap();
        let new = ecs
            .register_with_image(&current, "api", "repo/api:1.3.0")
            .await
            .unwrap();
        ecs.update_service(&target, &new).await.unwrap();
        let client = reqwest::Client::new();
        // Rolling out: 1.2.0 still answers.
        assert_eq!(
            client
                .post(format!("{base}/apply"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        clock.advance(chrono::Duration::minutes(3));
        let failed = client.post(format!("{base}/apply")).send().await.unwrap();
        assert_eq!(failed.status(), 500);
        let body: Value = failed.json().await.unwrap();
        assert_eq!(body["version"], "1.3.0");
        let health = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        service.stop().await;
    }

    #[tokio::test]
    async fn given_a_stopped_service_when_requested_then_the_connection_is_refused() {
        let (service, _ecs, _clock) = started().await;
        let base = service.base_url();
        service.stop().await;
        assert!(reqwest::get(format!("{base}/health")).await.is_err());
    }

    #[tokio::test]
    async fn given_a_dropped_service_when_requested_then_it_has_stopped() {
        let (service, _ecs, _clock) = started().await;
        let base = service.base_url();
        drop(service);
        let mut refused = false;
        for _ in 0..50 {
            if reqwest::get(format!("{base}/health")).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(refused);
    }

    #[tokio::test]
    async fn given_an_unknown_service_when_requested_then_503() {
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let ecs = Arc::new(SimulatedEcs::new(Db::open_in_memory().unwrap(), clock));
        let service = DemoService::start(ecs, "prod", "ghost").await.unwrap();
        let response = reqwest::get(format!("{}/health", service.base_url()))
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        service.stop().await;
    }
}
