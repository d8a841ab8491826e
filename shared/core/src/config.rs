//! shipgate's configuration: one service, its approvers and policies. Read once at
//! start-up (`shipgate.toml` locally, the environment in Lambda) and validated as a whole,
//! so a gate never meets a half-valid setting.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{ReleaseType, ServiceName};
use crate::semver::Version;

pub mod environments;
pub mod syntax;
pub mod validate;

pub use environments::EnvironmentConfig;

pub use validate::{Problem, Problems};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub service: ServiceConfig,
    pub approvals: ApprovalsConfig,
    pub approvers: Vec<Approver>,
    pub window: WindowConfig,
    pub deploy: DeployConfig,
    pub health: HealthConfig,
    pub monitor: MonitorConfig,
    pub notifications: NotificationsConfig,
    /// The HTTP entry points: where approval links point, which branch releases, secrets.
    #[serde(default)]
    pub web: WebConfig,
    /// The record kept on GitHub: the release ticket, the tag, the GitHub Release, the
    /// CHANGELOG entry, the merge back into `develop`, post-mortems. Absent: none of it.
    #[serde(default)]
    pub github: Option<GitHubConfig>,
    /// Environments a release passes through before production (`[environments.staging]`,
    /// procedure Step 2). The top-level sections are production's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, EnvironmentConfig>,
    /// The environment this configuration was laid over production for
    /// ([`Config::for_environment`]); `None` for production itself.
    #[serde(skip)]
    pub environment: Option<String>,
}

/// How the CHANGELOG entry of a release reaches the repository.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangelogMode {
    /// A commit on a branch `changelog/vX.Y.Z` with a pull request into the main branch.
    #[default]
    PullRequest,
    /// A commit on the main branch itself.
    Direct,
    /// No entry.
    Off,
}

/// What shipgate records on GitHub, on `service.repository` (see [`Config::github`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// The branch the main branch (`web.branch`) is merged back into after a release.
    #[serde(default = "default_develop_branch")]
    pub develop_branch: String,
    /// Opens a release ticket when a release starts, comments on it as the release moves,
    /// and closes it with the outcome.
    #[serde(default = "default_true")]
    pub ticket: bool,
    /// The ticket's labels.
    #[serde(default = "default_ticket_labels")]
    pub ticket_labels: Vec<String>,
    /// How the CHANGELOG entry lands.
    #[serde(default)]
    pub changelog: ChangelogMode,
    /// The changelog's path in the repository.
    #[serde(default = "default_changelog_path")]
    pub changelog_path: String,
    /// The labels of a post-mortem issue.
    #[serde(default = "default_postmortem_labels")]
    pub postmortem_labels: Vec<String>,
    /// The on-call engineers' GitHub logins: post-mortems are assigned to them and to the
    /// release's author.
    #[serde(default)]
    pub on_call: Vec<String>,
    /// What GitHub must show on the release commit before approval is asked. Absent:
    /// approval is asked at once.
    #[serde(default)]
    pub evidence: Option<EvidenceConfig>,
}

/// The evidence of "Code complete" and the Pre-Release checklist (procedure Steps 1 and 4)
/// that GitHub holds: checks that passed on the release commit and reviews of the pull
/// requests that brought it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Check runs (by name) or commit statuses (by context) that must have succeeded on
    /// the release commit.
    #[serde(default)]
    pub required_checks: Vec<String>,
    /// Approving reviews each pull request merged into the release commit must have, from
    /// distinct people (0: no review needed, and a commit pushed without a pull request
    /// passes).
    #[serde(default = "default_required_approvals")]
    pub required_approvals: u32,
    /// How often evidence still pending or failing is read again, in minutes (GitHub's
    /// `check_suite`, `check_run` and `status` webhooks read it at once).
    #[serde(default = "default_recheck_minutes")]
    pub recheck_minutes: u32,
}

fn default_required_approvals() -> u32 {
    1
}

fn default_recheck_minutes() -> u32 {
    10
}

fn default_develop_branch() -> String {
    "develop".into()
}

fn default_true() -> bool {
    true
}

fn default_ticket_labels() -> Vec<String> {
    vec!["release".into()]
}

fn default_changelog_path() -> String {
    "CHANGELOG.md".into()
}

fn default_postmortem_labels() -> Vec<String> {
    vec!["post-mortem".into()]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: ServiceName,
    pub cluster: String,
    pub task_family: String,
    /// The repository whose pushes to `main` start releases (`owner/name`).
    pub repository: String,
    /// Container image without tag; a release deploys `<image>:<version>`.
    pub image: String,
    /// The container in the task definition whose image changes.
    pub container: String,
    #[serde(default)]
    pub migration: Option<MigrationConfig>,
    /// The version in production before shipgate's first release: versions derived from
    /// conventional commits count from it until a release succeeds.
    #[serde(default = "default_initial_version")]
    pub initial_version: Version,
}

fn default_initial_version() -> Version {
    Version::new(0, 1, 0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationConfig {
    pub command: Vec<String>,
    pub reverse_command: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// How long approvers have before the release expires.
    pub expires_after_hours: u32,
    /// Hours between reminders to approvers who have not answered yet (0: no reminders).
    #[serde(default = "default_remind_every_hours")]
    pub remind_every_hours: u32,
    /// Hours after the request when each role still missing is asked of its backup
    /// approver (0: never).
    #[serde(default = "default_escalate_after_hours")]
    pub escalate_after_hours: u32,
    /// Role → the approver id asked only on escalation (they must hold the role). Others
    /// holding the role are asked first; if nobody else can, the backup is asked at once.
    #[serde(default)]
    pub backup: BTreeMap<String, String>,
    /// What an approver confirms, shown on the approval page (procedure §4, Pre-Release).
    #[serde(default = "default_checklist")]
    pub checklist: Vec<String>,
    /// Roles whose approval each release type needs; all listed roles must approve.
    pub required: BTreeMap<ReleaseType, Vec<String>>,
}

fn default_remind_every_hours() -> u32 {
    4
}

fn default_escalate_after_hours() -> u32 {
    12
}

fn default_checklist() -> Vec<String> {
    [
        "All tests passing",
        "Performance regression tests",
        "Security scan (Snyk)",
        "Database migration tested (staging)",
        "Rollback plan documented",
        "On-call engineer notified",
    ]
    .map(String::from)
    .to_vec()
}

/// A secret from the configuration or the environment; never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The environment variables secrets may come from (they win over the file).
pub const GITHUB_WEBHOOK_SECRET_ENV: &str = "SHIPGATE_GITHUB_WEBHOOK_SECRET";
pub const SLACK_SIGNING_SECRET_ENV: &str = "SHIPGATE_SLACK_SIGNING_SECRET";
pub const LINK_KEY_ENV: &str = "SHIPGATE_LINK_KEY";

/// The HTTP entry points (`shipgate serve` locally, Lambda function URLs on AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The address approval links start with; `shipgate serve` uses its own address
    /// when this is not set.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The branch whose pushes start releases.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Prefer the environment (`SHIPGATE_GITHUB_WEBHOOK_SECRET`) to this file.
    #[serde(default)]
    pub github_webhook_secret: Option<Secret>,
    /// Prefer the environment (`SHIPGATE_SLACK_SIGNING_SECRET`).
    #[serde(default)]
    pub slack_signing_secret: Option<Secret>,
    /// The key approval links are signed with. Prefer the environment
    /// (`SHIPGATE_LINK_KEY`); locally, a key kept in the data directory is the default.
    #[serde(default)]
    pub link_key: Option<Secret>,
}

fn default_branch() -> String {
    "main".into()
}

/// Where links point when nothing else is configured: `shipgate serve`'s default address.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            branch: default_branch(),
            github_webhook_secret: None,
            slack_signing_secret: None,
            link_key: None,
        }
    }
}

impl WebConfig {
    pub fn public_url(&self) -> &str {
        self.public_url
            .as_deref()
            .unwrap_or(DEFAULT_PUBLIC_URL)
            .trim_end_matches('/')
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    /// The short handle people approve as (`--as dana`).
    pub id: String,
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub slack_user: Option<String>,
    pub roles: Vec<String>,
    /// GitHub logins this person pushes and commits as.
    #[serde(default)]
    pub github: Vec<String>,
    /// Other addresses this person's commits carry (besides `email`).
    #[serde(default)]
    pub emails: Vec<String>,
    /// The AWS principals (IAM user or role ARNs, or an assumed-role session ARN) this
    /// person uses `shipgate --stack` as: the caller `sts:GetCallerIdentity` names is this
    /// approver. A caller no approver lists can read, not decide.
    #[serde(default)]
    pub aws_principals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Daily window, UTC, `HH:MM`.
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Minutes a deploy and its health checks are expected to take.
    pub expected_deploy_minutes: u32,
    /// Extra minutes that must remain before the window closes.
    pub margin_minutes: u32,
    /// Whether a hotfix with a stated reason may skip the window.
    pub hotfix_bypass: bool,
    #[serde(default)]
    pub freezes: Vec<Freeze>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// How often the flow asks whether the deployment is stable.
    pub stability_poll_seconds: u32,
    /// A deployment not stable after this long is rolled back.
    pub stability_timeout_minutes: u32,
    /// How long the per-service deploy lock lasts without a heartbeat.
    pub lock_lease_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    pub base_url: String,
    pub timeout_seconds: u32,
    pub checks: Vec<HealthCheck>,
}

/// One critical path: an HTTP request and the status it must answer with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub name: String,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    pub expect_status: u16,
}

fn default_method() -> String {
    "GET".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    pub duration_minutes: u32,
    pub interval_seconds: u32,
    pub alarms: Vec<String>,
    /// Highest tolerated share of 5xx responses (0.01 = 1 %).
    pub max_error_rate: f64,
    pub max_p99_latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    pub slack_channel: String,
    pub status_page: String,
    /// Addresses told of every outcome besides the approvers.
    #[serde(default)]
    pub email_to: Vec<String>,
    /// Who is paged when a person must act now (a rollback failed or was not verified):
    /// email addresses, sent as urgent messages.
    #[serde(default)]
    pub on_call: Vec<String>,
    /// PagerDuty (Events API v2): a change event when a production deploy starts and when
    /// it ends, and an alert that pages when a rollback fails. The routing key comes from
    /// SSM on AWS (the template's `PagerDutyRoutingKeyParameterName`).
    #[serde(default)]
    pub pagerduty: bool,
    /// The product's users, emailed the release when it ships if someone asked for it
    /// (procedure §6, External). Absent: never.
    #[serde(default)]
    pub users: Option<UsersEmailConfig>,
}

/// The users' announcement (procedure §6, External): an SES contact list with a topic for
/// releases, whose unsubscribes SES keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersEmailConfig {
    /// The SES contact list of the users (the template's `UserContactListName`).
    pub contact_list: String,
    /// The list's topic for release announcements.
    pub topic: String,
    /// The product's name as users know it: the subject, the greeting, the signature.
    pub product: String,
    /// Where users try the new features.
    pub product_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The parser's message (line, column, the field) is part of this one, and not a
    /// separate cause, so a chain of causes does not print it twice.
    #[error("the configuration is not valid TOML or has a wrong field: {0}")]
    Parse(toml::de::Error),
    #[error("the configuration is not valid: {0}")]
    Invalid(Problems),
}

impl From<toml::de::Error> for ConfigError {
    fn from(err: toml::de::Error) -> Self {
        ConfigError::Parse(err)
    }
}

/// `(account, role name)` of an assumed-role session ARN
/// (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
fn assumed_role_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let mut segments = resource.split('/');
    if service != "sts" || segments.next()? != "assumed-role" {
        return None;
    }
    Some((account.to_string(), segments.next()?.to_string()))
}

/// Whether `principal` is the IAM role `name` of `account` (whatever its path).
fn role_matches(principal: &str, account: &str, name: &str) -> bool {
    let mut parts = principal.splitn(6, ':');
    let (Some("arn"), Some(_), Some("iam"), Some(_), Some(acct), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    acct == account && resource.starts_with("role/") && resource.rsplit('/').next() == Some(name)
}

impl Config {
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot (see [`validate`]): every problem at once, each naming
    /// its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Secrets from the environment (through `lookup`, so this stays testable) replace
    /// those of the file; an empty variable counts as unset.
    pub fn with_secrets_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty()).map(Secret::new);
        if let Some(v) = get(GITHUB_WEBHOOK_SECRET_ENV) {
            self.web.github_webhook_secret = Some(v);
        }
        if let Some(v) = get(SLACK_SIGNING_SECRET_ENV) {
            self.web.slack_signing_secret = Some(v);
        }
        if let Some(v) = get(LINK_KEY_ENV) {
            self.web.link_key = Some(v);
        }
        self
    }

    pub fn approver(&self, id: &str) -> Option<&Approver> {
        self.approvers.iter().find(|a| a.id == id)
    }

    /// The name of approver `id`, or the id itself for someone no longer configured.
    pub fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.approver(id).map_or(id, |a| a.name.as_str())
    }

    pub fn approver_by_slack(&self, slack_user: &str) -> Option<&Approver> {
        self.approvers
            .iter()
            .find(|a| a.slack_user.as_deref() == Some(slack_user))
    }

    /// The approver an AWS caller is (`sts:GetCallerIdentity`'s ARN): one who lists that
    /// very ARN, or — for an assumed-role session — the session's ARN or its role's.
    pub fn approver_by_principal(&self, caller_arn: &str) -> Option<&Approver> {
        let role = assumed_role_arn(caller_arn);
        let listed = |p: &String| {
            p == caller_arn
                || role
                    .as_ref()
                    .is_some_and(|(account, name)| role_matches(p, account, name))
        };
        // A session's own ARN wins over its role's (a shared role, named people).
        self.approvers
            .iter()
            .find(|a| a.aws_principals.iter().any(|p| p == caller_arn))
            .or_else(|| {
                self.approvers
                    .iter()
                    .find(|a| a.aws_principals.iter().any(listed))
            })
    }

    /// Minutes from the start of a deploy until it is done being watched.
    pub fn release_minutes(&self) -> i64 {
        i64::from(self.window.expected_deploy_minutes) + i64::from(self.monitor.duration_minutes)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The procedure's own setup, as the repository's `shipgate.toml` describes it.
    pub(crate) const EXAMPLE: &str = include_str!("../../../shipgate.toml");

    pub(crate) fn example() -> Config {
        Config::from_toml_str(EXAMPLE).unwrap()
    }

    #[test]
    fn given_the_example_configuration_when_loaded_then_it_is_valid_and_read_as_written() {
        let config = example();
        assert_eq!(config.service.name.as_str(), "api");
        assert_eq!(config.service.cluster, "roleferry-prod");
        assert_eq!(config.service.task_family, "roleferry-api");
        assert_eq!(
            config.approvals.required[&ReleaseType::Major],
            vec!["CEO", "CTO"]
        );
    }

    #[test]
    fn given_an_unknown_field_when_loaded_then_the_error_names_it() {
        let text = EXAMPLE.replace("[window]", "[window]\nstrat = \"03:00\"");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("strat"), "{err}");
    }

    #[test]
    fn given_an_aws_caller_when_matched_then_it_is_the_approver_who_lists_its_principal() {
        let mut config = example();
        config.approvers[1].aws_principals =
            vec!["arn:aws:iam::123456789012:role/ops/Release".into()];
        config.approvers[2].aws_principals = vec![
            "arn:aws:iam::123456789012:user/lee".into(),
            "arn:aws:sts::123456789012:assumed-role/Release/lee@example.com".into(),
        ];
        config.validate().unwrap();
        let who = |arn: &str| config.approver_by_principal(arn).map(|a| a.id.clone());
        let taylor = Some(config.approvers[1].id.clone());
        let lee = Some(config.approvers[2].id.clone());
        assert_eq!(who("arn:aws:iam::123456789012:user/lee"), lee);
        // A session of the role, whatever its name, is the role's approver…
        assert_eq!(
            who("arn:aws:sts::123456789012:assumed-role/Release/someone"),
            taylor
        );
        // …unless the session itself is listed.
        assert_eq!(
            who("arn:aws:sts::123456789012:assumed-role/Release/lee@example.com"),
            lee
        );
        assert_eq!(who("arn:aws:iam::123456789012:user/mallory"), None);
        assert_eq!(
            who("arn:aws:sts::999999999999:assumed-role/Release/x"),
            None
        );
        assert_eq!(who("arn:aws:iam::123456789012:role/Release"), None);
    }

    #[test]
    fn given_a_malformed_or_shared_principal_when_validated_then_it_is_refused_naming_its_field() {
        let mut config = example();
        config.approvers[1].aws_principals = vec![
            "taylor".into(),
            "arn:aws:iam::123456789012:user/shared".into(),
        ];
        config.approvers[2].aws_principals = vec!["arn:aws:iam::123456789012:user/shared".into()];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("approvers[1].aws_principals[0]"), "{err}");
        assert!(err.contains("approvers[2].aws_principals[0]"), "{err}");
        for good in [
            "arn:aws:iam::123456789012:user/a",
            "arn:aws-us-gov:iam::123456789012:role/p/q/R",
            "arn:aws:sts::123456789012:assumed-role/R/s@x",
        ] {
            assert!(syntax::aws_principal(good).is_ok(), "{good}");
        }
        for bad in [
            "arn:aws:iam::12345:user/a",
            "arn:aws:s3:::bucket",
            "arn:aws:sts::123456789012:assumed-role/R",
            "arn:aws:iam::123456789012:group/g",
            "arn:aws:iam::123456789012:user/a b",
        ] {
            assert!(syntax::aws_principal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn given_a_required_role_nobody_holds_when_validated_then_it_is_refused_by_name() {
        let mut config = example();
        config
            .approvals
            .required
            .insert(ReleaseType::Hotfix, vec!["Janitor".into()]);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("Janitor"), "{err}");
    }

    #[test]
    fn given_the_example_configuration_when_loaded_then_the_newer_fields_have_defaults() {
        let config = example();
        assert_eq!(config.service.initial_version, Version::new(0, 1, 0));
        assert_eq!(config.web.branch, "main");
        assert_eq!(config.web.public_url(), DEFAULT_PUBLIC_URL);
        assert!(config.approvals.checklist.len() >= 3);
    }

    #[test]
    fn given_a_backup_without_the_role_it_backs_up_when_validated_then_it_is_refused() {
        let mut config = example();
        config.approvals.backup.insert("CEO".into(), "lee".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("lee does not hold CEO"), "{err}");
    }

    #[test]
    fn given_a_secret_in_the_environment_when_loaded_then_it_wins_and_never_prints() {
        let config = example()
            .with_secrets_from(|name| (name == LINK_KEY_ENV).then(|| "from-env".to_string()));
        assert_eq!(
            config.web.link_key.as_ref().map(Secret::expose),
            Some("from-env")
        );
        assert!(!format!("{config:?}").contains("from-env"));
    }

    #[test]
    fn given_a_window_ending_before_it_starts_when_validated_then_it_is_refused() {
        let mut config = example();
        std::mem::swap(&mut config.window.start, &mut config.window.end);
        assert!(config.validate().is_err());
    }
    #[test]
    fn given_the_commented_evidence_section_when_uncommented_then_it_is_read_as_written() {
        let text = EXAMPLE
            .replace("# [github.evidence]", "[github.evidence]")
            .replace("# required_checks =", "required_checks =")
            .replace("# required_approvals =", "required_approvals =")
            .replace("# recheck_minutes =", "recheck_minutes =");
        let config = Config::from_toml_str(&text).unwrap();
        config.validate().unwrap();
        let evidence = config.github.and_then(|g| g.evidence).unwrap();
        assert_eq!(
            evidence.required_checks,
            ["tests", "lint", "snyk", "perf-regression"]
        );
        assert_eq!(evidence.required_approvals, 1);
        assert_eq!(evidence.recheck_minutes, 10);
    }

    #[test]
    fn given_bad_evidence_settings_when_validated_then_every_problem_names_its_field() {
        let mut config = example();
        config.github.as_mut().unwrap().evidence = Some(EvidenceConfig {
            required_checks: vec!["tests".into(), "".into(), "tests".into()],
            required_approvals: 11,
            recheck_minutes: 0,
        });
        let problems = config.problems();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "github.evidence.required_checks[1]",
                "github.evidence.required_checks[2]",
                "github.evidence.required_approvals",
                "github.evidence.recheck_minutes",
            ],
            "{problems}"
        );
        let text = format!("{EXAMPLE}\n[github.evidence]\nrequired_check = [\"tests\"]\n");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("required_check"), "{err}");
    }
}
