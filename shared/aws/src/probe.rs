//! Health checks over HTTPS from Lambda: the configured critical paths of the service.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::Method;
use shipgate_core::config::HealthCheck;
use shipgate_core::ports::{HealthProbe, ProbeError, ProbeResult};

use crate::http::{HttpError, HttpsClient};

pub struct HttpsProbe {
    http: HttpsClient,
}

impl HttpsProbe {
    /// `http` should have a timeout (see [`crate::notify::http_client`]) and follow no redirects
    /// a health check should not need.
    pub fn new(http: HttpsClient) -> Self {
        Self { http }
    }

    pub fn with_timeout(timeout: Duration) -> Result<Self, ProbeError> {
        HttpsClient::new(timeout)
            .map(Self::new)
            .map_err(|e| ProbeError::Invalid(format!("cannot build the HTTP client: {e}")))
    }
}

#[async_trait]
impl HealthProbe for HttpsProbe {
    async fn probe(&self, base_url: &str, check: &HealthCheck) -> Result<ProbeResult, ProbeError> {
        let url = format!("{}{}", base_url.trim_end_matches('/'), check.path);
        let method = Method::from_bytes(check.method.as_bytes()).map_err(|_| {
            ProbeError::Invalid(format!("`{}` is not an HTTP method", check.method))
        })?;
        let started = Instant::now();
        let response = self
            .http
            .send(method, &url, None, None)
            .await
            .map_err(|e| match e {
                HttpError::Request { message, .. } => ProbeError::Invalid(message),
                other => ProbeError::Unreachable {
                    url: url.clone(),
                    message: other.to_string(),
                },
            })?;
        Ok(ProbeResult {
            status: response.status.as_u16(),
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}
