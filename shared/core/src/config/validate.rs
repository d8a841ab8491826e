//! Everything serde cannot check about a configuration: ranges, shapes, and rules that
//! span fields. All problems are gathered in one pass and each names the field as it is
//! written in `shipgate.toml` (`approvals.expires_after_hours`, `approvers[2].email`), so
//! one edit fixes them all.
//!
//! The numeric bounds are not taste: every duration the gates add to a timestamp
//! (`now + Duration::hours(expires_after_hours)`, the monitoring end, the lock lease, the
//! window's occupancy) stays far from chrono's limits, so no arithmetic on a configured
//! value can overflow or panic, and no value leaves a release waiting for ever (an
//! approval period of 0 hours, a window no deploy fits in).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeInclusive;

use chrono::Datelike;

use super::syntax::{self, UrlUse};
use super::{Config, EvidenceConfig, MonitorConfig, Secret, UsersEmailConfig};
use crate::model::ReleaseType;

/// How long approvers have: at most 30 days.
pub const EXPIRES_AFTER_HOURS: RangeInclusive<u32> = 1..=720;
/// Reminders and escalation (0: never), within the longest approval period.
pub const REMIND_OR_ESCALATE_HOURS: RangeInclusive<u32> = 0..=720;
/// Minutes of a deploy, a margin, a monitoring period: at most a day.
pub const WINDOW_MINUTES: RangeInclusive<u32> = 1..=1440;
pub const MARGIN_MINUTES: RangeInclusive<u32> = 0..=1440;
pub const MONITOR_MINUTES: RangeInclusive<u32> = 1..=1440;
/// Seconds between two polls or two monitoring looks: at most an hour.
pub const POLL_SECONDS: RangeInclusive<u32> = 1..=3600;
/// Stability timeout and deploy-lock lease: at most a day.
pub const DEPLOY_MINUTES: RangeInclusive<u32> = 1..=1440;
/// One health-check request: at most 5 minutes.
pub const HEALTH_TIMEOUT_SECONDS: RangeInclusive<u32> = 1..=300;
pub const EXPECT_STATUS: RangeInclusive<u16> = 100..=599;
/// The p99 latency threshold, in milliseconds: above 0, at most 10 minutes.
pub const MAX_P99_LATENCY_MS: f64 = 600_000.0;
/// Freezes lie within these years (chrono's arithmetic is safe far beyond them).
pub const FREEZE_YEARS: RangeInclusive<i32> = 1970..=9999;
/// Longest service name: the release id `<service>-<version>-<commit>` must stay within
/// its 80 characters for ordinary versions.
pub const SERVICE_NAME_MAX: usize = 40;

/// One thing wrong with a configuration: the field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field as written in `shipgate.toml`, e.g. `approvers[2].email`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in a configuration (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether some problem is about `field` (exactly as named).
    pub fn names(&self, field: &str) -> bool {
        self.0.iter().any(|p| p.field == field)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems:", all.len())?;
                for p in all {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// Gathers problems as the checks find them.
#[derive(Default)]
pub(super) struct Found(Vec<Problem>);

impl Found {
    pub(super) fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A check answering with the reason a value is refused.
    pub(super) fn check(
        &mut self,
        field: impl Into<String>,
        value: &str,
        outcome: Result<(), String>,
    ) {
        if let Err(why) = outcome {
            let shown: String = value.chars().take(80).collect();
            self.fail(field, format!("`{}` {why}", shown.escape_debug()));
        }
    }

    pub(super) fn range<T>(&mut self, field: &str, value: T, range: RangeInclusive<T>, unit: &str)
    where
        T: PartialOrd + fmt::Display + Copy,
    {
        if !range.contains(&value) {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            self.fail(
                field,
                format!(
                    "must be from {} to {}{unit}; it is {value}",
                    range.start(),
                    range.end()
                ),
            );
        }
    }

    pub(super) fn label(&mut self, field: impl Into<String>, value: &str, max: usize) {
        self.check(field, value, syntax::label(value, max));
    }

    fn secret(&mut self, field: &str, secret: Option<&Secret>) {
        if secret.is_some_and(|s| s.expose().trim().is_empty()) {
            self.fail(
                field,
                "is empty: anyone could sign with an empty key; remove the line or set a secret",
            );
        }
    }
}

impl Config {
    /// Checks what serde cannot: ranges, shapes and cross-field rules. Reports every
    /// problem at once, each naming its field.
    pub fn problems(&self) -> Problems {
        let mut found = Found::default();
        self.check_service(&mut found);
        self.check_approvals(&mut found);
        self.check_approvers(&mut found);
        self.check_window(&mut found);
        self.check_deploy(&mut found);
        self.check_health(&mut found);
        check_monitor(&self.monitor, &mut found);
        self.check_notifications(&mut found);
        self.check_web(&mut found);
        self.check_github(&mut found);
        self.check_environments(&mut found);
        Problems(found.0)
    }

    fn check_service(&self, found: &mut Found) {
        let service = &self.service;
        let name = service.name.as_str();
        if name.len() > SERVICE_NAME_MAX {
            found.fail(
                "service.name",
                format!("must have at most {SERVICE_NAME_MAX} characters (it is part of every release id)"),
            );
        }
        for (field, value) in [
            ("service.cluster", &service.cluster),
            ("service.task_family", &service.task_family),
            ("service.container", &service.container),
        ] {
            found.check(field, value, syntax::token(value, 255, "-_"));
        }
        let repository = service
            .repository
            .split_once('/')
            .is_some_and(|(owner, repo)| {
                syntax::github_login(owner).is_ok()
                    && syntax::token(repo, 100, "-_.").is_ok()
                    && repo != "."
                    && repo != ".."
            });
        if !repository {
            found.fail(
                "service.repository",
                format!(
                    "`{}` is not a GitHub repository as `owner/name`",
                    service.repository.escape_debug()
                ),
            );
        }
        let image = &service.image;
        let last = image.rsplit('/').next().unwrap_or_default();
        if image.is_empty()
            || image.len() > 255
            || image.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            found.fail(
                "service.image",
                "must be an image repository without spaces, at most 255 characters",
            );
        } else if last.contains([':', '@']) {
            found.fail(
                "service.image",
                format!("`{image}` carries a tag or digest; give the image without one (each release deploys `<image>:<version>`)"),
            );
        }
        if let Some(migration) = &service.migration {
            for (field, command) in [
                ("service.migration.command", &migration.command),
                (
                    "service.migration.reverse_command",
                    &migration.reverse_command,
                ),
            ] {
                match command.first() {
                    Some(program) if !program.trim().is_empty() => {}
                    _ => found.fail(field, "must name a program to run"),
                }
                if command.iter().any(|arg| arg.contains('\0')) {
                    found.fail(field, "has an argument with a NUL character");
                }
            }
        }
    }

    fn check_approvals(&self, found: &mut Found) {
        let approvals = &self.approvals;
        found.range(
            "approvals.expires_after_hours",
            approvals.expires_after_hours,
            EXPIRES_AFTER_HOURS,
            "hours",
        );
        found.range(
            "approvals.remind_every_hours",
            approvals.remind_every_hours,
            REMIND_OR_ESCALATE_HOURS,
            "hours (0: never)",
        );
        found.range(
            "approvals.escalate_after_hours",
            approvals.escalate_after_hours,
            REMIND_OR_ESCALATE_HOURS,
            "hours (0: never)",
        );
        if approvals.checklist.len() > 50 {
            found.fail("approvals.checklist", "lists more than 50 items");
        }
        for (i, item) in approvals.checklist.iter().enumerate() {
            found.label(format!("approvals.checklist[{i}]"), item, 300);
        }
        for kind in [ReleaseType::Hotfix, ReleaseType::Minor, ReleaseType::Major] {
            let field = format!("approvals.required.{kind}");
            let roles = approvals.required.get(&kind).map(Vec::as_slice);
            let Some(roles) = roles.filter(|r| !r.is_empty()) else {
                found.fail(
                    field,
                    format!("lists no roles: {kind} releases could never be approved"),
                );
                continue;
            };
            let mut seen = BTreeSet::new();
            let mut all_held = true;
            for role in roles {
                if !seen.insert(role.as_str()) {
                    found.fail(
                        &field,
                        format!("lists `{role}` twice: every listed role needs a different person, so one role cannot be asked twice"),
                    );
                    continue;
                }
                if !self.approvers.iter().any(|a| a.roles.contains(role)) {
                    all_held = false;
                    found.fail(
                        &field,
                        format!("{kind} releases need role `{role}`, but no approver holds it"),
                    );
                }
            }
            if all_held && seen.len() == roles.len() && !self.distinct_people_cover(roles) {
                found.fail(
                    &field,
                    format!("{kind} releases need {} different people, one per role, and the approvers cannot cover them (one person counts for one role)", roles.join(" + ")),
                );
            }
        }
        for (role, id) in &approvals.backup {
            let field = format!("approvals.backup.{role}");
            match self.approver(id) {
                None => found.fail(
                    field,
                    format!("names `{id}` for {role}, but no approver has that id"),
                ),
                Some(a) if !a.roles.contains(role) => found.fail(
                    field,
                    format!("names `{id}` for {role}, but {id} does not hold {role}"),
                ),
                Some(_) => {}
            }
        }
    }

    /// Whether distinct approvers can hold every role of `roles` at once (a bipartite
    /// matching, as the approval policy counts them).
    fn distinct_people_cover(&self, roles: &[String]) -> bool {
        let people = &self.approvers;
        crate::matching::match_roles(roles, people.len(), |p, role| {
            people[p].roles.iter().any(|r| r == role)
        })
        .iter()
        .all(Option::is_some)
    }

    fn check_approvers(&self, found: &mut Found) {
        if self.approvers.is_empty() {
            found.fail("approvers", "lists nobody: no release could be approved");
        }
        let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
        let mut slack: BTreeMap<&str, usize> = BTreeMap::new();
        let mut logins: BTreeMap<String, usize> = BTreeMap::new();
        let mut principals: BTreeMap<&str, usize> = BTreeMap::new();
        let mut addresses: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for (i, approver) in self.approvers.iter().enumerate() {
            let at = |field: &str| format!("approvers[{i}].{field}");
            found.check(
                at("id"),
                &approver.id,
                syntax::token(&approver.id, 64, "-_."),
            );
            if let Some(first) = ids.insert(approver.id.as_str(), i) {
                found.fail(
                    at("id"),
                    format!("`{}` is also approvers[{first}].id", approver.id),
                );
            }
            found.label(at("name"), &approver.name, 200);
            if approver.roles.is_empty() {
                found.fail(
                    at("roles"),
                    "lists no role: this person could approve nothing",
                );
            }
            for (j, role) in approver.roles.iter().enumerate() {
                found.label(at(&format!("roles[{j}]")), role, 64);
            }
            if let Some(user) = &approver.slack_user {
                found.check(at("slack_user"), user, syntax::slack_user(user));
                if let Some(first) = slack.insert(user.as_str(), i)
                    && first != i
                {
                    found.fail(
                        at("slack_user"),
                        format!("`{user}` is also approvers[{first}].slack_user: a click in Slack must map to one person"),
                    );
                }
            }
            for (j, login) in approver.github.iter().enumerate() {
                let field = at(&format!("github[{j}]"));
                found.check(&field, login, syntax::github_login(login));
                if let Some(first) = logins.insert(login.to_ascii_lowercase(), i)
                    && first != i
                {
                    found.fail(
                        field,
                        format!("`{login}` is also a login of approvers[{first}]: a GitHub login belongs to one person"),
                    );
                }
            }
            for (j, principal) in approver.aws_principals.iter().enumerate() {
                let field = at(&format!("aws_principals[{j}]"));
                found.check(&field, principal, syntax::aws_principal(principal));
                if let Some(first) = principals.insert(principal.as_str(), i)
                    && first != i
                {
                    found.fail(
                        field,
                        format!("`{principal}` is also a principal of approvers[{first}]: a caller must map to one person"),
                    );
                }
            }
            let all = std::iter::once((at("email"), &approver.email)).chain(
                approver
                    .emails
                    .iter()
                    .enumerate()
                    .map(|(j, e)| (at(&format!("emails[{j}]")), e)),
            );
            for (field, address) in all {
                found.check(&field, address, syntax::email(address));
                let key = address.to_ascii_lowercase();
                match addresses.get(&key) {
                    Some((first, other)) if *first != i => found.fail(
                        field,
                        format!("`{address}` is also {other}: an address belongs to one approver"),
                    ),
                    Some(_) => {}
                    None => {
                        addresses.insert(key, (i, field));
                    }
                }
            }
        }
    }

    fn check_window(&self, found: &mut Found) {
        let window = &self.window;
        found.range(
            "window.expected_deploy_minutes",
            window.expected_deploy_minutes,
            WINDOW_MINUTES,
            "minutes",
        );
        found.range(
            "window.margin_minutes",
            window.margin_minutes,
            MARGIN_MINUTES,
            "minutes",
        );
        if window.start >= window.end {
            found.fail(
                "window.end",
                "must be after window.start (the window is within one UTC day)",
            );
        } else {
            let length = (window.end - window.start).num_minutes();
            let occupies = self.release_minutes() + i64::from(window.margin_minutes);
            if occupies > length {
                found.fail(
                    "window",
                    format!(
                        "is {length} minutes long, but a release occupies {occupies} (window.expected_deploy_minutes + monitor.duration_minutes + window.margin_minutes): no deploy could ever start"
                    ),
                );
            }
        }
        for (i, freeze) in window.freezes.iter().enumerate() {
            let at = |field: &str| format!("window.freezes[{i}].{field}");
            for (field, when) in [("start", freeze.start), ("end", freeze.end)] {
                if !FREEZE_YEARS.contains(&when.year()) {
                    found.fail(
                        at(field),
                        format!(
                            "must lie between the years {} and {}",
                            FREEZE_YEARS.start(),
                            FREEZE_YEARS.end()
                        ),
                    );
                }
            }
            if freeze.start >= freeze.end {
                found.fail(
                    at("end"),
                    format!("freeze `{}` ends before it starts", freeze.reason),
                );
            }
            found.label(at("reason"), &freeze.reason, 200);
        }
    }

    fn check_deploy(&self, found: &mut Found) {
        let deploy = &self.deploy;
        found.range(
            "deploy.stability_poll_seconds",
            deploy.stability_poll_seconds,
            POLL_SECONDS,
            "seconds",
        );
        found.range(
            "deploy.stability_timeout_minutes",
            deploy.stability_timeout_minutes,
            DEPLOY_MINUTES,
            "minutes",
        );
        found.range(
            "deploy.lock_lease_minutes",
            deploy.lock_lease_minutes,
            DEPLOY_MINUTES,
            "minutes",
        );
        let timeout_seconds = u64::from(deploy.stability_timeout_minutes) * 60;
        if deploy.stability_timeout_minutes > 0
            && u64::from(deploy.stability_poll_seconds) > timeout_seconds
        {
            found.fail(
                "deploy.stability_poll_seconds",
                "is longer than deploy.stability_timeout_minutes: the deployment would time out before it is ever looked at",
            );
        }
        // The lease is renewed when the deploy starts and at every monitoring look: it must
        // outlast the longest gap between two renewals, or another release could take the
        // service mid-deploy.
        if deploy.lock_lease_minutes <= deploy.stability_timeout_minutes {
            found.fail(
                "deploy.lock_lease_minutes",
                "must be longer than deploy.stability_timeout_minutes (the lock is held while the deployment stabilises)",
            );
        }
        if u64::from(deploy.lock_lease_minutes) * 60 <= u64::from(self.monitor.interval_seconds) {
            found.fail(
                "deploy.lock_lease_minutes",
                "must be longer than monitor.interval_seconds (the lock is renewed at every monitoring look)",
            );
        }
    }

    fn check_health(&self, found: &mut Found) {
        let health = &self.health;
        found.check(
            "health.base_url",
            &health.base_url,
            syntax::http_url(&health.base_url, UrlUse::Base),
        );
        found.range(
            "health.timeout_seconds",
            health.timeout_seconds,
            HEALTH_TIMEOUT_SECONDS,
            "seconds",
        );
        if health.checks.is_empty() {
            found.fail("health.checks", "must list at least one critical path");
        }
        if health.checks.len() > 50 {
            found.fail("health.checks", "lists more than 50 checks");
        }
        let mut names = BTreeMap::new();
        for (i, check) in health.checks.iter().enumerate() {
            let at = |field: &str| format!("health.checks[{i}].{field}");
            found.label(at("name"), &check.name, 100);
            if let Some(first) = names.insert(check.name.as_str(), i) {
                found.fail(
                    at("name"),
                    format!("`{}` is also health.checks[{first}].name", check.name),
                );
            }
            found.check(
                at("method"),
                &check.method,
                syntax::http_method(&check.method),
            );
            found.check(at("path"), &check.path, syntax::request_path(&check.path));
            found.range(&at("expect_status"), check.expect_status, EXPECT_STATUS, "");
        }
    }

    fn check_notifications(&self, found: &mut Found) {
        let notifications = &self.notifications;
        if let Some(users) = &notifications.users {
            check_users_email(users, found);
        }
        let channel = &notifications.slack_channel;
        let named = channel
            .strip_prefix('#')
            .is_some_and(|name| syntax::token(name, 80, "-_.").is_ok());
        let id = matches!(channel.chars().next(), Some('C' | 'G'))
            && syntax::token(channel, 21, "").is_ok()
            && channel
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !(named || id) {
            found.fail(
                "notifications.slack_channel",
                format!(
                    "`{}` is not a Slack channel (`#name` or a channel id like C0123ABCD)",
                    channel.escape_debug()
                ),
            );
        }
        found.check(
            "notifications.status_page",
            &notifications.status_page,
            syntax::http_url(&notifications.status_page, UrlUse::Page),
        );
        let mut seen = BTreeMap::new();
        for (i, address) in notifications.email_to.iter().enumerate() {
            let field = format!("notifications.email_to[{i}]");
            found.check(&field, address, syntax::email(address));
            if let Some(first) = seen.insert(address.to_ascii_lowercase(), i) {
                found.fail(
                    field,
                    format!("`{address}` is also notifications.email_to[{first}]"),
                );
            }
        }
    }

    fn check_github(&self, found: &mut Found) {
        let Some(github) = &self.github else { return };
        found.check(
            "github.develop_branch",
            &github.develop_branch,
            syntax::branch(&github.develop_branch),
        );
        if github.develop_branch == self.web.branch {
            found.fail(
                "github.develop_branch",
                format!(
                    "is web.branch (`{}`): it cannot be merged into itself",
                    self.web.branch
                ),
            );
        }
        let path = &github.changelog_path;
        if path.is_empty()
            || path.starts_with('/')
            || path
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
            || path.chars().any(|c| c.is_control())
        {
            found.fail(
                "github.changelog_path",
                format!(
                    "`{}` is not a file path in the repository (like `CHANGELOG.md`)",
                    path.escape_debug()
                ),
            );
        }
        for (field, labels) in [
            ("github.ticket_labels", &github.ticket_labels),
            ("github.postmortem_labels", &github.postmortem_labels),
        ] {
            for (i, label) in labels.iter().enumerate() {
                if label.trim().is_empty() || label.chars().count() > 50 || label.contains(',') {
                    found.fail(
                        format!("{field}[{i}]"),
                        format!(
                            "`{}` is not a label: 1 to 50 characters, no comma",
                            label.escape_debug()
                        ),
                    );
                }
            }
        }
        for (i, login) in github.on_call.iter().enumerate() {
            let valid = !login.is_empty()
                && login.len() <= 39
                && !login.starts_with('-')
                && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                found.fail(
                    format!("github.on_call[{i}]"),
                    format!("`{}` is not a GitHub login", login.escape_debug()),
                );
            }
        }
        if let Some(evidence) = &github.evidence {
            check_evidence(evidence, found);
        }
    }

    fn check_web(&self, found: &mut Found) {
        let web = &self.web;
        if let Some(url) = &web.public_url {
            found.check("web.public_url", url, syntax::http_url(url, UrlUse::Base));
        }
        found.check("web.branch", &web.branch, syntax::branch(&web.branch));
        found.secret(
            "web.github_webhook_secret",
            web.github_webhook_secret.as_ref(),
        );
        found.secret(
            "web.slack_signing_secret",
            web.slack_signing_secret.as_ref(),
        );
        found.secret("web.link_key", web.link_key.as_ref());
    }
}

fn check_users_email(users: &UsersEmailConfig, found: &mut Found) {
    // SES names contact lists and topics with letters, digits, `-` and `_`.
    for (field, name) in [
        ("notifications.users.contact_list", &users.contact_list),
        ("notifications.users.topic", &users.topic),
    ] {
        found.check(field, name, syntax::token(name, 64, "-_"));
    }
    found.label("notifications.users.product", &users.product, 60);
    found.check(
        "notifications.users.product_url",
        &users.product_url,
        syntax::http_url(&users.product_url, UrlUse::Page),
    );
}

fn check_evidence(evidence: &EvidenceConfig, found: &mut Found) {
    if evidence.required_checks.len() > 50 {
        found.fail(
            "github.evidence.required_checks",
            "lists more than 50 checks",
        );
    }
    for (i, name) in evidence.required_checks.iter().enumerate() {
        let field = format!("github.evidence.required_checks[{i}]");
        found.label(field.clone(), name, 100);
        if evidence.required_checks[..i].contains(name) {
            found.fail(field, format!("`{}` is listed twice", name.escape_debug()));
        }
    }
    found.range(
        "github.evidence.required_approvals",
        evidence.required_approvals,
        0..=10,
        "approvals",
    );
    found.range(
        "github.evidence.recheck_minutes",
        evidence.recheck_minutes,
        1..=1440,
        "minutes",
    );
}

fn check_monitor(monitor: &MonitorConfig, found: &mut Found) {
    found.range(
        "monitor.duration_minutes",
        monitor.duration_minutes,
        MONITOR_MINUTES,
        "minutes",
    );
    found.range(
        "monitor.interval_seconds",
        monitor.interval_seconds,
        POLL_SECONDS,
        "seconds",
    );
    if u64::from(monitor.interval_seconds) > u64::from(monitor.duration_minutes) * 60 {
        found.fail(
            "monitor.interval_seconds",
            "is longer than monitor.duration_minutes: the release would never be looked at while monitored",
        );
    }
    let mut names = BTreeMap::new();
    for (i, alarm) in monitor.alarms.iter().enumerate() {
        let field = format!("monitor.alarms[{i}]");
        found.check(&field, alarm, syntax::token(alarm, 255, "-_.:/#+="));
        if let Some(first) = names.insert(alarm.as_str(), i) {
            found.fail(field, format!("`{alarm}` is also monitor.alarms[{first}]"));
        }
    }
    let rate = monitor.max_error_rate;
    if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
        found.fail(
            "monitor.max_error_rate",
            format!("is a share from 0 to 1 (0.02 = 2 %); it is {rate}"),
        );
    }
    let p99 = monitor.max_p99_latency_ms;
    if !(p99.is_finite() && p99 > 0.0 && p99 <= MAX_P99_LATENCY_MS) {
        found.fail(
            "monitor.max_p99_latency_ms",
            format!("must be above 0 and at most {MAX_P99_LATENCY_MS} ms; it is {p99}"),
        );
    }
}

#[cfg(test)]
mod tests;
