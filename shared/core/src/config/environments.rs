//! Environments before production (procedure Step 2: "Deploy to staging; smoke tests; QA
//! approval"). Each `[environments.<name>]` describes a service of its own — cluster, ECS
//! service, health base URL, alarms, who approves and what they test — and the branch whose
//! pushes deploy there. The top-level sections stay production's.
//!
//! A release to an environment deploys at once (or in its own window, if it has one), runs
//! the health checks there as smoke tests, and only then asks its approvers (`QA`), with
//! the test cases as their checklist. Production, in turn, ships only what passed there
//! ([`crate::staging`]).
//!
//! The gates do not know environments: a release to one runs with
//! [`Config::for_environment`], production's configuration with the environment's service
//! laid over it, so its lane, lock, versions and records never mix with production's.

use serde::{Deserialize, Serialize};

use super::syntax::{self, UrlUse};
use super::validate::Found;
use super::{Config, WindowConfig};
use crate::model::{ReleaseId, ReleaseType, ServiceName};

/// One environment a release passes through before production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// The branch whose pushes deploy here.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// The ECS cluster.
    pub cluster: String,
    /// The ECS service; also the name its releases are kept under (`api-staging`), which
    /// must differ from production's `service.name`.
    pub service: ServiceName,
    /// The task definition family (default: production's `service.task_family`).
    #[serde(default)]
    pub task_family: Option<String>,
    /// Where the smoke tests (the `[health]` checks) are sent.
    pub health_base_url: String,
    /// Alarms watched during `monitor_minutes`.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// The roles that approve once the smoke tests passed (every listed role must).
    #[serde(default = "default_roles")]
    pub approval_roles: Vec<String>,
    /// What the approvers test before approving: their checklist.
    #[serde(default = "default_test_cases")]
    pub test_cases: Vec<String>,
    /// A window of its own; absent, a release deploys here as soon as its push arrives.
    #[serde(default)]
    pub window: Option<WindowConfig>,
    /// Minutes the alarms are watched after the smoke tests (0: not watched).
    #[serde(default)]
    pub monitor_minutes: u32,
    /// Whether a production release must have passed here first.
    #[serde(default = "default_true")]
    pub required_for_production: bool,
}

fn default_branch() -> String {
    "develop".into()
}

fn default_roles() -> Vec<String> {
    vec!["QA".into()]
}

fn default_true() -> bool {
    true
}

fn default_test_cases() -> Vec<String> {
    [
        "Smoke tests passed on staging",
        "Critical paths tested by hand (sign-up, apply, reply)",
        "Database migration checked on staging data",
    ]
    .map(String::from)
    .to_vec()
}

impl Config {
    /// Production's configuration with environment `name` laid over it: its service,
    /// cluster, health base URL, alarms, approvers and window; no GitHub record, no
    /// PagerDuty, no users' email, no status page. `None` for an unknown name.
    pub fn for_environment(&self, name: &str) -> Option<Config> {
        let env = self.environments.get(name)?;
        let mut config = self.clone();
        config.environment = Some(name.to_string());
        config.service.name = env.service.clone();
        config.service.cluster = env.cluster.clone();
        if let Some(family) = &env.task_family {
            config.service.task_family = family.clone();
        }
        config.health.base_url = env.health_base_url.clone();
        config.monitor.alarms = env.alarms.clone();
        config.monitor.duration_minutes = env.monitor_minutes;
        config.approvals.required = [ReleaseType::Hotfix, ReleaseType::Minor, ReleaseType::Major]
            .into_iter()
            .map(|t| (t, env.approval_roles.clone()))
            .collect();
        config.approvals.backup.clear();
        config.approvals.checklist = env.test_cases.clone();
        if let Some(window) = &env.window {
            config.window = window.clone();
        }
        config.web.branch = env.branch.clone();
        config.github = None;
        config.notifications.pagerduty = false;
        config.notifications.users = None;
        Some(config)
    }

    /// The environment a release id belongs to: its id starts with the environment's
    /// service name (ids are `<service>-<version>-<commit>`).
    pub fn environment_of(&self, id: &ReleaseId) -> Option<&str> {
        self.environments
            .iter()
            .filter(|(_, env)| {
                id.as_str()
                    .strip_prefix(env.service.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(_, env)| env.service.as_str().len())
            .map(|(name, _)| name.as_str())
    }

    /// The configuration release `id` runs with: its environment's, or this one.
    pub fn for_release(&self, id: &ReleaseId) -> Option<Config> {
        if self.environment.is_some() {
            return None;
        }
        self.for_environment(self.environment_of(id)?)
    }

    /// What the approvers of release `id` confirm: its environment's test cases, or
    /// production's checklist.
    pub fn checklist_for(&self, id: &ReleaseId) -> &[String] {
        match self.environment_of(id) {
            Some(env) if self.environment.is_none() => &self.environments[env].test_cases,
            _ => &self.approvals.checklist,
        }
    }

    /// This configuration's environment, when it is one laid over production.
    pub fn stage(&self) -> Option<&EnvironmentConfig> {
        self.environments.get(self.environment.as_deref()?)
    }

    /// Whether the deploy window applies (an environment without a window of its own
    /// deploys at once).
    pub fn window_applies(&self) -> bool {
        self.stage().is_none_or(|env| env.window.is_some())
    }

    /// The environment whose branch is `branch`, if any.
    pub fn environment_for_branch(&self, branch: &str) -> Option<&str> {
        self.environments
            .iter()
            .find(|(_, env)| env.branch == branch)
            .map(|(name, _)| name.as_str())
    }

    /// The services whose releases this configuration keeps: production's, then each
    /// environment's before it.
    pub fn services(&self) -> Vec<ServiceName> {
        std::iter::once(self.service.name.clone())
            .chain(
                self.environments
                    .values()
                    .filter(|_| self.environment.is_none())
                    .map(|env| env.service.clone()),
            )
            .collect()
    }

    /// The environments production releases must pass first, by name (none for an
    /// environment's own releases).
    pub fn required_before_production(&self) -> impl Iterator<Item = &str> {
        self.environments
            .iter()
            .filter(|(_, env)| env.required_for_production && self.environment.is_none())
            .map(|(name, _)| name.as_str())
    }

    pub(super) fn check_environments(&self, found: &mut Found) {
        for (name, env) in &self.environments {
            let at = |field: &str| format!("environments.{name}.{field}");
            found.check(
                format!("environments.{name}"),
                name,
                syntax::token(name, 40, "-_"),
            );
            if name == "production" {
                found.fail(
                    format!("environments.{name}"),
                    "production is the top-level configuration; name the environments before it",
                );
            }
            found.check(at("branch"), &env.branch, syntax::branch(&env.branch));
            if env.branch == self.web.branch {
                found.fail(
                    at("branch"),
                    format!(
                        "is web.branch (`{}`): pushes to it release to production",
                        env.branch
                    ),
                );
            }
            if let Some((other, _)) = self
                .environments
                .iter()
                .find(|(other, e)| *other < name && e.branch == env.branch)
            {
                found.fail(at("branch"), format!("is also environments.{other}.branch"));
            }
            found.check(
                at("cluster"),
                &env.cluster,
                syntax::token(&env.cluster, 255, "-_"),
            );
            let service = env.service.as_str();
            if service == self.service.name.as_str()
                || self
                    .service
                    .name
                    .as_str()
                    .starts_with(&format!("{service}-"))
            {
                found.fail(
                    at("service"),
                    format!("`{service}` would mix its releases with production's `{}`: give the environment its own service name", self.service.name),
                );
            }
            if let Some((other, _)) = self
                .environments
                .iter()
                .find(|(other, e)| *other < name && e.service == env.service)
            {
                found.fail(
                    at("service"),
                    format!("is also environments.{other}.service"),
                );
            }
            if let Some(family) = &env.task_family {
                found.check(at("task_family"), family, syntax::token(family, 255, "-_"));
            }
            found.check(
                at("health_base_url"),
                &env.health_base_url,
                syntax::http_url(&env.health_base_url, UrlUse::Base),
            );
            for (i, alarm) in env.alarms.iter().enumerate() {
                found.label(at(&format!("alarms[{i}]")), alarm, 255);
            }
            if env.approval_roles.is_empty() {
                found.fail(at("approval_roles"), "must name at least one role");
            }
            for (i, role) in env.approval_roles.iter().enumerate() {
                if !self.approvers.iter().any(|a| a.roles.contains(role)) {
                    found.fail(
                        at(&format!("approval_roles[{i}]")),
                        format!("no approver holds the role `{role}`"),
                    );
                }
            }
            for (i, case) in env.test_cases.iter().enumerate() {
                found.label(at(&format!("test_cases[{i}]")), case, 200);
            }
            if let Some(window) = &env.window
                && window.start >= window.end
            {
                found.fail(at("window"), "must end after it starts, the same day (UTC)");
            }
            found.range(
                &at("monitor_minutes"),
                env.monitor_minutes,
                0..=720,
                "minutes",
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
