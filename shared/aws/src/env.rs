//! A function's configuration, from its environment, read and checked once at start-up.
//! A missing variable is named in the error, so a misconfigured stack fails on its first
//! cold start with a message that says what to set.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// The shipgate configuration as TOML text, or the SSM parameter holding it.
    pub config: ConfigSource,
    pub table: String,
    pub state_machine_arn: String,
    pub scheduler: Option<SchedulerEnv>,
    pub email_from: Option<String>,
    pub slack_token_parameter: Option<String>,
    pub slack_api_url: String,
    pub status_page: Option<(String, String)>,
    pub load_balancer: Option<String>,
    pub target_group: Option<String>,
    pub health_base_url: Option<String>,
    /// Overrides `notifications.slack_channel` (the template's `SlackChannel`).
    pub slack_channel: Option<String>,
    /// SSM parameters of the web secrets (trigger and callback functions).
    pub github_secret_parameter: Option<String>,
    pub slack_signing_secret_parameter: Option<String>,
    pub link_key_parameter: Option<String>,
    /// The callback function's URL, which approval links start with.
    pub public_url: Option<String>,
    /// GitHub's REST API (`https://api.github.com` unless set).
    pub github_api_url: String,
    /// The SSM parameter holding the GitHub token; none: GitHub is not called.
    pub github_token_parameter: Option<String>,
    /// PagerDuty's Events API (`https://events.pagerduty.com` unless set).
    pub pagerduty_events_url: String,
    /// The SSM parameter holding the PagerDuty routing key; none: no PagerDuty events.
    pub pagerduty_routing_key_parameter: Option<String>,
    /// The ECR repository of the service's image; set, releases deploy by image digest.
    pub image_repository: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    Inline(String),
    Parameter(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerEnv {
    pub group: String,
    pub role_arn: String,
    pub window_function_arn: String,
    /// For approval reminders.
    pub approve_function_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} must be set")]
    Missing(&'static str),
    #[error("set {0}")]
    OneOf(&'static str),
}

impl Env {
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, EnvError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let need = |name: &'static str| get(name).ok_or(EnvError::Missing(name));
        let config = match (get("SHIPGATE_CONFIG"), get("SHIPGATE_CONFIG_PARAMETER")) {
            (Some(text), _) => ConfigSource::Inline(text),
            (None, Some(name)) => ConfigSource::Parameter(name),
            (None, None) => {
                return Err(EnvError::OneOf(
                    "SHIPGATE_CONFIG (TOML text) or SHIPGATE_CONFIG_PARAMETER (an SSM parameter name)",
                ));
            }
        };
        let scheduler = match get("SHIPGATE_SCHEDULER_GROUP") {
            Some(group) => Some(SchedulerEnv {
                group,
                role_arn: need("SHIPGATE_SCHEDULER_ROLE_ARN")?,
                window_function_arn: need("SHIPGATE_WINDOW_FUNCTION_ARN")?,
                approve_function_arn: get("SHIPGATE_APPROVE_FUNCTION_ARN"),
            }),
            None => None,
        };
        let status_page = match get("SHIPGATE_STATUS_PAGE_URL") {
            Some(url) => Some((url, need("SHIPGATE_STATUS_PAGE_TOKEN_PARAMETER")?)),
            None => None,
        };
        Ok(Env {
            config,
            table: need("SHIPGATE_TABLE")?,
            state_machine_arn: need("SHIPGATE_STATE_MACHINE_ARN")?,
            scheduler,
            email_from: get("SHIPGATE_EMAIL_FROM"),
            slack_token_parameter: get("SHIPGATE_SLACK_TOKEN_PARAMETER"),
            slack_api_url: get("SHIPGATE_SLACK_API_URL")
                .unwrap_or_else(|| "https://slack.com/api".into()),
            status_page,
            load_balancer: get("SHIPGATE_LOAD_BALANCER"),
            target_group: get("SHIPGATE_TARGET_GROUP"),
            health_base_url: get("SHIPGATE_HEALTH_BASE_URL"),
            slack_channel: get("SHIPGATE_SLACK_CHANNEL"),
            github_secret_parameter: get("SHIPGATE_GITHUB_SECRET_PARAMETER"),
            slack_signing_secret_parameter: get("SHIPGATE_SLACK_SIGNING_SECRET_PARAMETER"),
            link_key_parameter: get("SHIPGATE_LINK_KEY_PARAMETER"),
            public_url: get("SHIPGATE_PUBLIC_URL"),
            github_api_url: get("SHIPGATE_GITHUB_API_URL")
                .unwrap_or_else(|| "https://api.github.com".into()),
            github_token_parameter: get("SHIPGATE_GITHUB_TOKEN_PARAMETER"),
            pagerduty_events_url: get("SHIPGATE_PAGERDUTY_EVENTS_URL")
                .unwrap_or_else(|| "https://events.pagerduty.com".into()),
            pagerduty_routing_key_parameter: get("SHIPGATE_PAGERDUTY_ROUTING_KEY_PARAMETER"),
            image_repository: get("SHIPGATE_IMAGE_REPOSITORY"),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A function's environment from `(name, value)` pairs.
    pub(crate) fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn given_a_required_variable_missing_when_read_then_the_error_names_it() {
        let err = Env::from_map(&vars(&[("SHIPGATE_CONFIG", "x")])).unwrap_err();
        assert_eq!(err, EnvError::Missing("SHIPGATE_TABLE"));
        let err = Env::from_map(&vars(&[("SHIPGATE_TABLE", "t")])).unwrap_err();
        assert!(err.to_string().contains("SHIPGATE_CONFIG_PARAMETER"));
    }

    #[test]
    fn given_an_optional_part_without_its_companion_when_read_then_the_companion_is_named() {
        let base = [
            ("SHIPGATE_CONFIG_PARAMETER", "/shipgate/config"),
            ("SHIPGATE_TABLE", "t"),
            ("SHIPGATE_STATE_MACHINE_ARN", "arn"),
        ];
        let mut with_scheduler = base.to_vec();
        with_scheduler.push(("SHIPGATE_SCHEDULER_GROUP", "shipgate"));
        assert_eq!(
            Env::from_map(&vars(&with_scheduler)).unwrap_err(),
            EnvError::Missing("SHIPGATE_SCHEDULER_ROLE_ARN")
        );
        let env = Env::from_map(&vars(&base)).unwrap();
        assert_eq!(
            env.config,
            ConfigSource::Parameter("/shipgate/config".into())
        );
        assert_eq!(env.slack_api_url, "https://slack.com/api");
        assert!(env.scheduler.is_none() && env.status_page.is_none());
        assert_eq!(env.slack_channel, None);
        let mut with_channel = base.to_vec();
        with_channel.push(("SHIPGATE_SLACK_CHANNEL", "#deploys"));
        assert_eq!(
            Env::from_map(&vars(&with_channel)).unwrap().slack_channel,
            Some("#deploys".into())
        );
        // Images deploy by digest only where the template named their repository.
        assert_eq!(env.image_repository, None);
        let mut with_repository = base.to_vec();
        with_repository.push(("SHIPGATE_IMAGE_REPOSITORY", "roleferry-api"));
        assert_eq!(
            Env::from_map(&vars(&with_repository))
                .unwrap()
                .image_repository,
            Some("roleferry-api".into())
        );
    }
}
