//! The AWS SDK configuration every client shares: rustls with ring (no second TLS stack), a
//! timeout on every call, and the standard retry mode (throttling is retried with backoff).
//!
//! Two ways to build it. The operator's CLI loads the SDK's default chain
//! ([`sdk_config`]: profiles, SSO, the instance role). A function builds it from its Lambda
//! environment ([`function_sdk_config`]): the region, the execution role's credentials and
//! the `AWS_ENDPOINT_URL[_<SERVICE>]` overrides are all in its variables, so reading profile
//! files and building the default credential chain (with its STS and IMDS clients) would
//! only slow every cold start and grow every function's binary.
//!
//! Every SDK client of a process shares one HTTP client ([`sdk_http_client`]), which reads
//! the system's trusted roots once, on the first request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::env::EnvError;

/// The SDK configuration from the default chain (the operator's CLI).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(sdk_http_client())
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await
}

/// The SDK configuration of a function, from its Lambda environment: `AWS_REGION` (else
/// `AWS_DEFAULT_REGION`), the execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
/// and `AWS_SESSION_TOKEN`, and the endpoint overrides. Lambda sets all of them; a missing
/// one is named in the error, so a misconfigured function fails on its first cold start
/// with what to set.
pub fn function_sdk_config(vars: &HashMap<String, String>) -> Result<SdkConfig, EnvError> {
    let get = |name: &str| vars.get(name).filter(|v| !v.trim().is_empty()).cloned();
    let need = |name: &'static str| get(name).ok_or(EnvError::Missing(name));
    let region = match get("AWS_REGION") {
        Some(region) => region,
        None => need("AWS_DEFAULT_REGION").map_err(|_| EnvError::Missing("AWS_REGION"))?,
    };
    let credentials = Credentials::new(
        need("AWS_ACCESS_KEY_ID")?,
        need("AWS_SECRET_ACCESS_KEY")?,
        get("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .http_client(sdk_http_client())
        .sleep_impl(TokioSleep::new())
        .timeout_config(timeouts())
        .retry_config(retries())
        .service_config(EndpointUrls::from(vars))
        .build())
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(4)
}

/// `AWS_ENDPOINT_URL_<SERVICE>` (the service id in capitals, spaces as `_`), else
/// `AWS_ENDPOINT_URL`, as the SDK's own loader resolves them (the twin points each service
/// at its double this way).
#[derive(Debug)]
struct EndpointUrls(HashMap<String, String>);

impl From<&HashMap<String, String>> for EndpointUrls {
    fn from(vars: &HashMap<String, String>) -> Self {
        EndpointUrls(
            vars.iter()
                .filter(|(name, value)| {
                    name.starts_with("AWS_ENDPOINT_URL") && !value.trim().is_empty()
                })
                .map(|(name, value)| (name.clone(), value.trim().to_string()))
                .collect(),
        )
    }
}

impl LoadServiceConfig for EndpointUrls {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.0
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.0.get(key.env()))
            .cloned()
    }
}

/// The SDK's HTTP client: hyper with rustls and ring, one for every client of the process.
///
/// The SDK's own client loads the trusted roots and builds a TLS configuration for each
/// SDK client as it is built, so a function paid that once per client before it could
/// take its first event. This one builds the underlying client on the first request (which
/// needs the roots anyway), and its connector once for all the SDK clients that share it.
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(OnFirstRequest::default())
}

#[derive(Debug, Default)]
struct OnFirstRequest(OnceLock<SharedHttpClient>);

impl OnFirstRequest {
    fn client(&self) -> &SharedHttpClient {
        self.0.get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
    }
}

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

#[cfg(test)]
mod tests {
    use aws_types::service_config::ServiceConfigKey;

    use super::*;
    use crate::env::tests::vars;

    fn endpoint(urls: &EndpointUrls, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        urls.load_config(key)
    }

    #[test]
    fn given_a_service_and_a_global_endpoint_when_resolved_then_the_service_endpoint_wins() {
        let urls = EndpointUrls::from(&vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:7000"),
            (
                "AWS_ENDPOINT_URL_CLOUDWATCH_EVENTS",
                "http://127.0.0.1:7001",
            ),
            ("AWS_ENDPOINT_URL_ECS", " "),
        ]));
        assert_eq!(
            endpoint(&urls, "SFN").as_deref(),
            Some("http://127.0.0.1:7000")
        );
        assert_eq!(
            endpoint(&urls, "CloudWatch Events").as_deref(),
            Some("http://127.0.0.1:7001")
        );
        // Blank is unset: the global endpoint.
        assert_eq!(
            endpoint(&urls, "ECS").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            endpoint(&urls, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(endpoint(&EndpointUrls::from(&vars(&[])), "DynamoDB"), None);
    }

    #[test]
    fn given_a_function_environment_when_configured_then_region_and_credentials_come_from_it() {
        let config = function_sdk_config(&vars(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "example-secret"),
            ("AWS_SESSION_TOKEN", "example-token"),
        ]))
        .unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert!(config.identity_cache().is_some());
        assert!(config.sleep_impl().is_some());
        assert_eq!(
            config.timeout_config().and_then(|t| t.operation_timeout()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(4));
    }

    #[test]
    fn given_a_missing_region_or_credential_when_configured_then_the_error_names_it() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "example-secret"),
        ];
        assert_eq!(
            function_sdk_config(&vars(&keys)).unwrap_err(),
            EnvError::Missing("AWS_REGION")
        );
        let mut env = vars(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(
            function_sdk_config(&env).unwrap_err(),
            EnvError::Missing("AWS_ACCESS_KEY_ID")
        );
        env.extend(vars(&keys[..1]));
        assert_eq!(
            function_sdk_config(&env).unwrap_err(),
            EnvError::Missing("AWS_SECRET_ACCESS_KEY")
        );
        env.extend(vars(&keys));
        let config = function_sdk_config(&env).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
    }
}
