//! A small HTTPS client for the non-AWS HTTP APIs (Slack, the status page, health checks):
//! hyper with rustls and ring — the same TLS stack as the AWS SDK — the system's root
//! certificates, and a timeout on every request.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot build the request to {url}: {message}")]
    Request { url: String, message: String },
    #[error("{url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url} could not be reached")]
    Transport {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the TLS set-up failed")]
    Tls(#[source] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    /// Seconds from a `Retry-After` header, if any.
    pub retry_after: Option<u64>,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

type Hyper = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Built on the first request, not at a cold start: reading the system's root certificates
/// takes milliseconds a function that sends nothing should not pay. Clones share one client.
#[derive(Clone)]
pub struct HttpsClient {
    client: Arc<OnceLock<Result<Hyper, String>>>,
    timeout: Duration,
}

impl HttpsClient {
    pub fn new(timeout: Duration) -> Result<Self, HttpError> {
        Ok(Self {
            client: Arc::default(),
            timeout,
        })
    }

    fn client(&self) -> Result<&Hyper, HttpError> {
        self.client
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(provider)
                    .map_err(|e| e.to_string())?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(connector))
            })
            .as_ref()
            .map_err(|message| HttpError::Tls(std::io::Error::other(message.clone())))
    }

    /// Sends a request with an optional bearer token and JSON body; reads the whole answer.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        json: Option<&Value>,
    ) -> Result<HttpResponse, HttpError> {
        self.send_with(method, url, bearer, &[], json).await
    }

    /// Like [`HttpsClient::send`], with extra request headers.
    pub async fn send_with(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        json: Option<&Value>,
    ) -> Result<HttpResponse, HttpError> {
        let request_err = |message: String| HttpError::Request {
            url: url.to_string(),
            message,
        };
        let mut builder = Request::builder().method(method).uri(url);
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match json {
            Some(value) => {
                builder = builder.header("content-type", "application/json; charset=utf-8");
                Full::new(Bytes::from(value.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body).map_err(|e| request_err(e.to_string()))?;
        let exchange = async {
            let response =
                self.client()?
                    .request(request)
                    .await
                    .map_err(|e| HttpError::Transport {
                        url: url.to_string(),
                        source: Box::new(e),
                    })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| HttpError::Transport {
                    url: url.to_string(),
                    source: Box::new(e),
                })?
                .to_bytes();
            Ok(HttpResponse {
                status,
                retry_after,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout {
                url: url.to_string(),
                seconds: self.timeout.as_secs(),
            })?
    }
}
