//! `HttpHealthProbe`: the health-check port over real HTTP (reqwest). Each check is one
//! request — the check's method on `base_url` + path — answered with its status and how
//! long it took. A request that gets no answer (refused, reset, timed out) is
//! `Unreachable`; a check that cannot even be sent (bad method or URL) is `Invalid`.
//! Plain `http` only: locally the target is the demo service on 127.0.0.1.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Client, Method, Url};
use shipgate_core::config::HealthCheck;
use shipgate_core::ports::{HealthProbe, ProbeError, ProbeResult};

/// Probes over HTTP with a per-request timeout.
#[derive(Debug, Clone)]
pub struct HttpHealthProbe {
    client: Result<Client, String>,
    timeout: Duration,
}

impl HttpHealthProbe {
    /// A probe whose requests give up after `timeout` (connecting included).
    pub fn new(timeout: Duration) -> Self {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| chain(&e));
        Self { client, timeout }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// An error with its causes, `a: b: c`, since reqwest's own message is only the top.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// `base_url` without its trailing slash, joined with `path`.
fn url_of(base_url: &str, path: &str) -> Result<Url, ProbeError> {
    let base = base_url.trim_end_matches('/');
    let joined = if path.starts_with('/') || path.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    };
    Url::parse(&joined).map_err(|e| ProbeError::Invalid(format!("`{joined}` is not a URL: {e}")))
}

#[async_trait]
impl HealthProbe for HttpHealthProbe {
    async fn probe(&self, base_url: &str, check: &HealthCheck) -> Result<ProbeResult, ProbeError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| ProbeError::Invalid(format!("the HTTP client could not be built: {e}")))?;
        let method = Method::from_bytes(check.method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                ProbeError::Invalid(format!("`{}` is not an HTTP method", check.method))
            })?;
        let url = url_of(base_url, &check.path)?;
        let started = Instant::now();
        let unreachable = |err: reqwest::Error| {
            if err.is_builder() {
                ProbeError::Invalid(format!("{url}: {}", chain(&err)))
            } else {
                ProbeError::Unreachable {
                    url: url.to_string(),
                    message: chain(&err),
                }
            }
        };
        let response = client
            .request(method, url.clone())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        // The answer counts once it has arrived whole.
        response.bytes().await.map_err(unreachable)?;
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(ProbeResult { status, millis })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::db::Db;
    use crate::db::tests::TestClock;
    use crate::demo_service::DemoService;
    use crate::ecs::{Faults, SimulatedEcs};

    fn check(method: &str, path: &str) -> HealthCheck {
        HealthCheck {
            name: path.into(),
            method: method.into(),
            path: path.into(),
            expect_status: 200,
        }
    }

    async fn demo() -> (DemoService, Arc<SimulatedEcs>) {
        let clock = TestClock::at("2026-03-02T03:00:00Z");
        let ecs = Arc::new(SimulatedEcs::new(Db::open_in_memory().unwrap(), clock));
        ecs.seed_service("prod", "api", "roleferry-api", "api", "repo/api:1.2.0", 41)
            .unwrap();
        let service = DemoService::start(ecs.clone(), "prod", "api")
            .await
            .unwrap();
        (service, ecs)
    }

    #[tokio::test]
    async fn given_the_demo_service_when_probed_then_status_and_time_are_reported() {
        let (service, ecs) = demo().await;
        let probe = HttpHealthProbe::new(Duration::from_secs(5));
        let base = format!("{}/", service.base_url());
        let health = probe.probe(&base, &check("GET", "/health")).await.unwrap();
        assert_eq!(health.status, 200);
        assert!(health.millis < 5_000);
        assert_eq!(
            probe
                .probe(&base, &check("post", "/apply"))
                .await
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            probe
                .probe(&base, &check("GET", "jobs"))
                .await
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            probe
                .probe(&base, &check("GET", "/missing"))
                .await
                .unwrap()
                .status,
            404
        );
        ecs.set_faults(
            "1.2.0",
            Faults {
                failing_path: Some("/jobs".into()),
                ..Faults::default()
            },
        )
        .unwrap();
        assert_eq!(
            probe
                .probe(&base, &check("GET", "/jobs"))
                .await
                .unwrap()
                .status,
            500
        );
        service.stop().await;
    }

    #[tokio::test]
    async fn given_nothing_listening_when_probed_then_unreachable_names_the_url() {
        let (service, _ecs) = demo().await;
        let base = service.base_url();
        service.stop().await;
        let probe = HttpHealthProbe::new(Duration::from_secs(2));
        let err = probe
            .probe(&base, &check("GET", "/health"))
            .await
            .unwrap_err();
        match err {
            ProbeError::Unreachable { url, message } => {
                assert_eq!(url, format!("{base}/health"));
                assert!(!message.is_empty());
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn given_a_server_that_never_answers_when_probed_then_it_times_out_as_unreachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let probe = HttpHealthProbe::new(Duration::from_millis(200));
        let started = Instant::now();
        let err = probe
            .probe(&format!("http://{addr}"), &check("GET", "/health"))
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::Unreachable { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        hold.abort();
    }

    #[tokio::test]
    async fn given_a_bad_method_or_url_when_probed_then_invalid() {
        let probe = HttpHealthProbe::new(Duration::from_secs(1));
        let err = probe
            .probe("http://127.0.0.1:9", &check("GE T", "/health"))
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::Invalid(_)), "{err:?}");
        let err = probe
            .probe("not a url", &check("GET", "/health"))
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::Invalid(_)), "{err:?}");
    }
}
