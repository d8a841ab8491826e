//! Hostile configurations: each is refused with a message naming the field, none panics;
//! and arbitrary edits of the example either load or are refused — never a panic, and
//! nothing that loads can overflow the date arithmetic the gates do with it.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use crate::config::tests::{EXAMPLE, example};
use crate::config::{Config, ConfigError};
use crate::model::ReleaseType;
use crate::policy::window::WindowPolicy;

/// The example with `from` replaced by `to` (which must be there).
fn edited(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "`{from}` is not in shipgate.toml");
    EXAMPLE.replacen(from, to, 1)
}

/// The problems of a text that parses; fails the test if it loads or does not parse.
fn problems_of(text: &str) -> crate::config::Problems {
    match Config::from_toml_str(text) {
        Err(ConfigError::Invalid(problems)) => problems,
        Err(ConfigError::Parse(err)) => panic!("did not parse: {err}"),
        Ok(_) => panic!("was accepted"),
    }
}

fn assert_names(text: &str, field: &str) {
    let problems = problems_of(text);
    assert!(
        problems.names(field),
        "expected a problem with {field}, got: {problems}"
    );
    let shown = ConfigError::Invalid(problems).to_string();
    assert!(shown.contains(field), "{shown}");
}

/// (field, text in shipgate.toml, its hostile replacement)
const HOSTILE: &[(&str, &str, &str)] = &[
    // Durations that overflow date arithmetic, or leave a release waiting for ever.
    (
        "approvals.expires_after_hours",
        "expires_after_hours = 24",
        "expires_after_hours = 4294967295",
    ),
    (
        "approvals.expires_after_hours",
        "expires_after_hours = 24",
        "expires_after_hours = 0",
    ),
    (
        "approvals.expires_after_hours",
        "expires_after_hours = 24",
        "expires_after_hours = 721",
    ),
    (
        "approvals.remind_every_hours",
        "remind_every_hours = 4",
        "remind_every_hours = 4294967295",
    ),
    (
        "approvals.escalate_after_hours",
        "escalate_after_hours = 12",
        "escalate_after_hours = 100000",
    ),
    (
        "window.expected_deploy_minutes",
        "expected_deploy_minutes = 15",
        "expected_deploy_minutes = 0",
    ),
    (
        "window.expected_deploy_minutes",
        "expected_deploy_minutes = 15",
        "expected_deploy_minutes = 4294967295",
    ),
    (
        "window.margin_minutes",
        "margin_minutes = 10",
        "margin_minutes = 4294967295",
    ),
    (
        "window",
        "expected_deploy_minutes = 15",
        "expected_deploy_minutes = 100",
    ),
    ("window.end", "start = \"03:00:00\"", "start = \"06:00:00\""),
    (
        "deploy.stability_poll_seconds",
        "stability_poll_seconds = 30",
        "stability_poll_seconds = 0",
    ),
    (
        "deploy.stability_poll_seconds",
        "stability_poll_seconds = 30",
        "stability_poll_seconds = 4294967295",
    ),
    (
        "deploy.stability_timeout_minutes",
        "stability_timeout_minutes = 20",
        "stability_timeout_minutes = 0",
    ),
    (
        "deploy.stability_timeout_minutes",
        "stability_timeout_minutes = 20",
        "stability_timeout_minutes = 4294967295",
    ),
    (
        "deploy.lock_lease_minutes",
        "lock_lease_minutes = 180",
        "lock_lease_minutes = 4294967295",
    ),
    (
        "deploy.lock_lease_minutes",
        "lock_lease_minutes = 180",
        "lock_lease_minutes = 0",
    ),
    (
        "deploy.lock_lease_minutes",
        "lock_lease_minutes = 180",
        "lock_lease_minutes = 15",
    ),
    (
        "health.timeout_seconds",
        "timeout_seconds = 5",
        "timeout_seconds = 0",
    ),
    (
        "health.timeout_seconds",
        "timeout_seconds = 5",
        "timeout_seconds = 4294967295",
    ),
    (
        "monitor.duration_minutes",
        "duration_minutes = 60",
        "duration_minutes = 0",
    ),
    (
        "monitor.duration_minutes",
        "duration_minutes = 60",
        "duration_minutes = 4294967295",
    ),
    (
        "monitor.interval_seconds",
        "interval_seconds = 60",
        "interval_seconds = 0",
    ),
    (
        "monitor.interval_seconds",
        "interval_seconds = 60",
        "interval_seconds = 4294967295",
    ),
    // Floats: NaN, infinities, out of range.
    (
        "monitor.max_error_rate",
        "max_error_rate = 0.02",
        "max_error_rate = nan",
    ),
    (
        "monitor.max_error_rate",
        "max_error_rate = 0.02",
        "max_error_rate = -0.01",
    ),
    (
        "monitor.max_error_rate",
        "max_error_rate = 0.02",
        "max_error_rate = 1.5",
    ),
    (
        "monitor.max_error_rate",
        "max_error_rate = 0.02",
        "max_error_rate = inf",
    ),
    (
        "monitor.max_p99_latency_ms",
        "max_p99_latency_ms = 1500.0",
        "max_p99_latency_ms = nan",
    ),
    (
        "monitor.max_p99_latency_ms",
        "max_p99_latency_ms = 1500.0",
        "max_p99_latency_ms = -1.0",
    ),
    (
        "monitor.max_p99_latency_ms",
        "max_p99_latency_ms = 1500.0",
        "max_p99_latency_ms = 0.0",
    ),
    (
        "monitor.max_p99_latency_ms",
        "max_p99_latency_ms = 1500.0",
        "max_p99_latency_ms = inf",
    ),
    (
        "monitor.max_p99_latency_ms",
        "max_p99_latency_ms = 1500.0",
        "max_p99_latency_ms = 1e300",
    ),
    // Roles and approvers.
    (
        "approvals.required.major",
        "major = [\"CEO\", \"CTO\"]",
        "major = [\"CEO\", \"CEO\"]",
    ),
    (
        "approvals.required.major",
        "major = [\"CEO\", \"CTO\"]",
        "major = []",
    ),
    (
        "approvals.required.hotfix",
        "hotfix = [\"CTO\"]",
        "hotfix = [\"Janitor\"]",
    ),
    (
        "approvals.backup.Eng Lead",
        "\"Eng Lead\" = \"taylor\"",
        "\"Eng Lead\" = \"casey\"",
    ),
    (
        "approvals.backup.Eng Lead",
        "\"Eng Lead\" = \"taylor\"",
        "\"Eng Lead\" = \"nobody\"",
    ),
    ("approvals.checklist[0]", "\"All tests passing\",", "\"\","),
    ("approvers[2].id", "id = \"lee\"", "id = \"casey\""),
    ("approvers[2].id", "id = \"lee\"", "id = \"lee larsen\""),
    (
        "approvers[0].email",
        "email = \"ceo@example.com\"",
        "email = \"not-an-email\"",
    ),
    (
        "approvers[0].email",
        "email = \"ceo@example.com\"",
        "email = \"javascript:alert(1)//@x\"",
    ),
    (
        "approvers[1].email",
        "email = \"cto@example.com\"",
        "email = \"CEO@Example.com\"",
    ),
    (
        "approvers[0].emails[0]",
        "email = \"ceo@example.com\"",
        "email = \"ceo@example.com\"\nemails = [\"ceo@@example.com\"]",
    ),
    // The later of two equal addresses is named, the message names the first.
    (
        "approvers[2].email",
        "email = \"cto@example.com\"",
        "email = \"cto@example.com\"\nemails = [\"Eng-Lead@example.com\"]",
    ),
    (
        "approvers[0].slack_user",
        "slack_user = \"U0CEO0001\"",
        "slack_user = \"@casey\"",
    ),
    (
        "approvers[1].slack_user",
        "slack_user = \"U0CTO0001\"",
        "slack_user = \"U0CEO0001\"",
    ),
    (
        "approvers[0].github[0]",
        "email = \"ceo@example.com\"",
        "email = \"ceo@example.com\"\ngithub = [\"-casey-\"]",
    ),
    (
        "approvers[0].github[1]",
        "email = \"ceo@example.com\"",
        "email = \"ceo@example.com\"\ngithub = [\"casey\", \"a--b\"]",
    ),
    ("approvers[0].roles", "roles = [\"CEO\"]", "roles = []"),
    (
        "approvers[0].name",
        "name = \"Casey Chen (CEO)\"",
        "name = \"\"",
    ),
    // Windows and freezes.
    (
        "window.freezes[0].end",
        "end = \"2027-01-02T00:00:00Z\"",
        "end = \"2026-01-02T00:00:00Z\"",
    ),
    (
        "window.freezes[0].reason",
        "reason = \"Year-end freeze\"",
        "reason = \" \"",
    ),
    (
        "window.freezes[0].start",
        "start = \"2026-12-23T00:00:00Z\"",
        "start = \"0001-01-01T00:00:00Z\"",
    ),
    // URLs, paths, methods, statuses.
    (
        "health.base_url",
        "base_url = \"https://api.roleferry.com\"",
        "base_url = \"javascript:alert(1)\"",
    ),
    (
        "health.base_url",
        "base_url = \"https://api.roleferry.com\"",
        "base_url = \"file:///etc/passwd\"",
    ),
    (
        "health.checks[0].path",
        "path = \"/health\"",
        "path = \"health\"",
    ),
    (
        "health.checks[0].path",
        "path = \"/health\"",
        "path = \"//evil.example.com/\"",
    ),
    (
        "health.checks[2].method",
        "method = \"POST\"",
        "method = \"FETCH\"",
    ),
    (
        "health.checks[0].expect_status",
        "expect_status = 200",
        "expect_status = 99",
    ),
    (
        "health.checks[0].expect_status",
        "expect_status = 200",
        "expect_status = 600",
    ),
    (
        "health.checks[0].expect_status",
        "expect_status = 200",
        "expect_status = 65535",
    ),
    (
        "health.checks[1].name",
        "name = \"Jobs list\"",
        "name = \"API health\"",
    ),
    (
        "notifications.status_page",
        "status_page = \"https://status.roleferry.com\"",
        "status_page = \"javascript:alert(1)\"",
    ),
    (
        "notifications.email_to[0]",
        "email_to = [\"engineering@example.com\"]",
        "email_to = [\"engineering\"]",
    ),
    (
        "notifications.email_to[1]",
        "email_to = [\"engineering@example.com\"]",
        "email_to = [\"engineering@example.com\", \"Engineering@example.com\"]",
    ),
    (
        "notifications.slack_channel",
        "slack_channel = \"#releases\"",
        "slack_channel = \"releases channel\"",
    ),
    (
        "web.public_url",
        "# public_url = \"https://shipgate.example.com\"",
        "public_url = \"javascript:alert(document.cookie)\"",
    ),
    (
        "web.public_url",
        "# public_url = \"https://shipgate.example.com\"",
        "public_url = \"https://shipgate.example.com/?next=\"",
    ),
    ("web.branch", "branch = \"main\"", "branch = \"a..b\""),
    (
        "web.github_webhook_secret",
        "branch = \"main\"",
        "branch = \"main\"\ngithub_webhook_secret = \"\"",
    ),
    (
        "web.link_key",
        "branch = \"main\"",
        "branch = \"main\"\nlink_key = \" \"",
    ),
    // The service.
    (
        "service.name",
        "name = \"api\"",
        "name = \"a-service-name-far-too-long-for-a-release-id\"",
    ),
    (
        "service.cluster",
        "cluster = \"roleferry-prod\"",
        "cluster = \"roleferry prod\"",
    ),
    (
        "service.repository",
        "repository = \"roleferry/roleferry-api\"",
        "repository = \"roleferry-api\"",
    ),
    (
        "service.image",
        "amazonaws.com/roleferry-api\"",
        "amazonaws.com/roleferry-api:latest\"",
    ),
    (
        "service.migration.reverse_command",
        "reverse_command = [\"alembic\", \"downgrade\", \"-1\"]",
        "reverse_command = []",
    ),
    // The record on GitHub: branches, paths, labels and logins GitHub would refuse.
    (
        "github.develop_branch",
        "develop_branch = \"develop\"",
        "develop_branch = \"main\"",
    ),
    (
        "github.develop_branch",
        "develop_branch = \"develop\"",
        "develop_branch = \"de..velop\"",
    ),
    (
        "github.changelog_path",
        "changelog_path = \"CHANGELOG.md\"",
        "changelog_path = \"../CHANGELOG.md\"",
    ),
    (
        "github.changelog_path",
        "changelog_path = \"CHANGELOG.md\"",
        "changelog_path = \"/CHANGELOG.md\"",
    ),
    (
        "github.ticket_labels[0]",
        "ticket_labels = [\"release\"]",
        "ticket_labels = [\" \"]",
    ),
    (
        "github.postmortem_labels[0]",
        "postmortem_labels = [\"post-mortem\"]",
        "postmortem_labels = [\"a,b\"]",
    ),
    (
        "github.on_call[0]",
        "on_call = [\"roleferry-oncall\"]",
        "on_call = [\"-oncall\"]",
    ),
    (
        "github.on_call[0]",
        "on_call = [\"roleferry-oncall\"]",
        "on_call = [\"on call\"]",
    ),
];

#[test]
fn given_the_example_configuration_when_checked_then_it_has_no_problems() {
    let problems = example().problems();
    assert!(problems.is_empty(), "{problems}");
}

#[test]
fn given_each_hostile_value_when_loaded_then_it_is_refused_with_its_field_named() {
    for (field, from, to) in HOSTILE {
        let text = edited(from, to);
        let problems = problems_of(&text);
        assert!(
            problems.names(field),
            "`{to}`: expected a problem with {field}, got: {problems}"
        );
    }
}

#[test]
fn given_several_bad_values_when_loaded_then_every_problem_is_reported_at_once() {
    let mut text = EXAMPLE.to_string();
    for (from, to) in [
        ("expires_after_hours = 24", "expires_after_hours = 0"),
        ("email = \"ceo@example.com\"", "email = \"nope\""),
        ("max_error_rate = 0.02", "max_error_rate = nan"),
        ("path = \"/health\"", "path = \"health\""),
    ] {
        text = text.replacen(from, to, 1);
    }
    let problems = problems_of(&text);
    for field in [
        "approvals.expires_after_hours",
        "approvers[0].email",
        "monitor.max_error_rate",
        "health.checks[0].path",
    ] {
        assert!(problems.names(field), "{field} missing from: {problems}");
    }
    assert_eq!(problems.len(), 4, "{problems}");
    let shown = problems.to_string();
    assert!(shown.starts_with("4 problems:"), "{shown}");
}

#[test]
fn given_values_serde_cannot_hold_when_loaded_then_refused_at_parse_naming_the_key() {
    for (from, to) in [
        ("expires_after_hours = 24", "expires_after_hours = -1"),
        (
            "expires_after_hours = 24",
            "expires_after_hours = 4294967296",
        ),
        ("expect_status = 200", "expect_status = 70000"),
        ("interval_seconds = 60", "interval_seconds = 1e400"),
    ] {
        match Config::from_toml_str(&edited(from, to)) {
            Err(err @ ConfigError::Parse(_)) => {
                let key = from.split(' ').next().unwrap_or_default();
                assert!(err.to_string().contains(key), "{err}");
            }
            other => panic!("`{to}`: {other:?}"),
        }
    }
}

#[test]
fn given_two_roles_only_one_person_holds_when_checked_then_a_two_person_quorum_is_refused() {
    let mut config = example();
    // Casey is CEO and CTO, Taylor no longer CTO: a major release needs two people and
    // only Casey could give either role.
    config.approvers[0].roles = vec!["CEO".into(), "CTO".into()];
    config.approvers[1].roles = vec!["Eng Lead".into()];
    let problems = config.problems();
    assert!(problems.names("approvals.required.major"), "{problems}");
    assert!(!problems.names("approvals.required.hotfix"), "{problems}");
}

#[test]
fn given_a_broken_rule_between_fields_or_in_a_list_when_checked_then_its_field_is_named() {
    type Edit = fn(&mut Config);
    let cases: [(&str, Edit); 12] = [
        ("approvers", |c| c.approvers.clear()),
        ("health.checks", |c| c.health.checks.clear()),
        ("monitor.alarms[1]", |c| {
            c.monitor.alarms[1] = "p99 latency\n".into()
        }),
        ("monitor.alarms[1]", |c| {
            c.monitor.alarms[1] = c.monitor.alarms[0].clone();
        }),
        // A poll longer than the timeout: the deployment is never looked at.
        ("deploy.stability_poll_seconds", |c| {
            c.deploy.stability_poll_seconds = 1800;
        }),
        // A monitoring look rarer than the monitoring period.
        ("monitor.interval_seconds", |c| {
            c.monitor.duration_minutes = 30;
            c.monitor.interval_seconds = 3600;
        }),
        // A lease that lapses between two monitoring looks.
        ("deploy.lock_lease_minutes", |c| {
            c.deploy.stability_timeout_minutes = 5;
            c.deploy.lock_lease_minutes = 6;
            c.monitor.interval_seconds = 600;
        }),
        ("service.migration.command", |c| {
            if let Some(m) = c.service.migration.as_mut() {
                m.command.clear();
            }
        }),
        ("service.task_family", |c| {
            c.service.task_family = "roleferry api".into()
        }),
        ("approvals.checklist", |c| {
            c.approvals.checklist = vec!["Tested".into(); 51];
        }),
        ("window.freezes[0].end", |c| {
            c.window.freezes[0].end = DateTime::parse_from_rfc3339("+10000-01-01T00:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        }),
        ("approvals.required.minor", |c| {
            c.approvals.required.remove(&ReleaseType::Minor);
        }),
    ];
    for (field, edit) in cases {
        let mut config = example();
        edit(&mut config);
        let problems = config.problems();
        assert!(problems.names(field), "{field}: {problems}");
    }
}

#[test]
fn given_a_slack_channel_name_or_id_when_checked_then_both_are_accepted() {
    for channel in ["#releases", "#release-notes_2", "C0RELEASES", "G01ABCDEF"] {
        let mut config = example();
        config.notifications.slack_channel = channel.into();
        assert!(config.problems().is_empty(), "{channel}");
    }
}

#[test]
fn given_an_out_of_range_value_when_loaded_then_the_error_names_its_field_and_range() {
    let text = edited(
        "expires_after_hours = 24",
        "expires_after_hours = 4294967295",
    );
    assert_names(&text, "approvals.expires_after_hours");
    let shown = problems_of(&text).to_string();
    assert!(shown.contains("from 1 to 720 hours"), "{shown}");
}

#[test]
fn given_a_required_role_nobody_holds_when_validated_then_the_error_still_names_it() {
    let mut config = example();
    config
        .approvals
        .required
        .insert(ReleaseType::Hotfix, vec!["Janitor".into()]);
    let err = config.validate().map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("Janitor"), "{err}");
}

/// Every sum of a configured duration and a timestamp the gates and policies compute, from
/// a moment far in the future: none may overflow for a configuration that loads.
fn exercise(config: &Config) {
    let far = DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    for now in [DateTime::<Utc>::UNIX_EPOCH, far] {
        let approvals = &config.approvals;
        for hours in [
            approvals.expires_after_hours,
            approvals.remind_every_hours,
            approvals.escalate_after_hours,
        ] {
            assert!(
                now.checked_add_signed(Duration::hours(i64::from(hours)))
                    .is_some()
            );
        }
        for minutes in [
            config.deploy.lock_lease_minutes,
            config.deploy.stability_timeout_minutes,
            config.monitor.duration_minutes,
        ] {
            assert!(
                now.checked_add_signed(Duration::minutes(i64::from(minutes)))
                    .is_some()
            );
        }
        for seconds in [
            config.deploy.stability_poll_seconds,
            config.monitor.interval_seconds,
        ] {
            assert!(
                now.checked_add_signed(Duration::seconds(i64::from(seconds)))
                    .is_some()
            );
        }
        let policy = WindowPolicy::new(config);
        let _ = policy.may_start_at(now);
        let _ = policy.next_start(now);
        let _ = policy.upcoming(now, 3);
        let _ = policy.freezes_between(now, now);
    }
    let _ = u64::from(config.approvals.expires_after_hours) * 3600;
}

/// A value that might appear after `=` in a TOML file, hostile ones favoured.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        (0u32..2000).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| {
            if f.is_nan() {
                "nan".to_string()
            } else if f.is_infinite() {
                if f > 0.0 { "inf".into() } else { "-inf".into() }
            } else {
                format!("{f:?}")
            }
        }),
        prop::sample::select(vec![
            "nan",
            "-nan",
            "inf",
            "-inf",
            "-0.0",
            "1e308",
            "0",
            "-1",
            "true",
            "[]",
            "{}",
            "\"\"",
            "[\"\"]",
            "[\"CEO\", \"CEO\"]",
            "\"javascript:alert(1)\"",
            "\"http://\"",
            "\"1900-01-01T00:00:00Z\"",
            "\"9999-12-31T23:59:59Z\"",
            "\"+262143-12-31T23:59:59Z\"",
            "\"23:59:59\"",
            "\"00:00:00\"",
            "\"24:00:00\"",
            "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,24}".prop_map(|s| toml::Value::String(s).to_string()),
        any::<String>().prop_map(|s| toml::Value::String(s).to_string()),
    ]
}

/// One edit of the text: a value replaced, a line dropped or doubled, junk inserted.
#[derive(Debug, Clone)]
enum Edit {
    Value(prop::sample::Index, String),
    Drop(prop::sample::Index),
    Double(prop::sample::Index),
    Insert(prop::sample::Index, String),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<prop::sample::Index>(), value()).prop_map(|(i, v)| Edit::Value(i, v)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Drop),
        1 => any::<prop::sample::Index>().prop_map(Edit::Double),
        1 => (any::<prop::sample::Index>(), "[ -~\n]{0,40}").prop_map(|(i, s)| Edit::Insert(i, s)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return String::new();
    }
    match edit {
        Edit::Value(i, value) => {
            let assignments: Vec<usize> = (0..lines.len())
                .filter(|&n| lines[n].contains(" = ") && !lines[n].starts_with('#'))
                .collect();
            if !assignments.is_empty() {
                let n = assignments[i.index(assignments.len())];
                if let Some((key, _)) = lines[n].split_once(" = ") {
                    lines[n] = format!("{key} = {value}");
                }
            }
        }
        Edit::Drop(i) => {
            let n = i.index(lines.len());
            lines.remove(n);
        }
        Edit::Double(i) => {
            let n = i.index(lines.len());
            let line = lines[n].clone();
            lines.insert(n, line);
        }
        Edit::Insert(i, junk) => {
            let n = i.index(lines.len());
            lines.insert(n, junk.clone());
        }
        Edit::Truncate(i) => {
            let n = i.index(lines.len());
            lines.truncate(n);
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn given_random_edits_of_the_example_when_loaded_then_they_load_or_are_refused_never_panic(
        edits in prop::collection::vec(edit(), 1..4)
    ) {
        let text = edits.iter().fold(EXAMPLE.to_string(), |text, e| apply(&text, e));
        match Config::from_toml_str(&text) {
            Ok(config) => exercise(&config),
            Err(ConfigError::Invalid(problems)) => prop_assert!(!problems.is_empty()),
            Err(ConfigError::Parse(_)) => {}
        }
    }
}

#[test]
fn given_no_github_section_when_loaded_then_nothing_is_recorded_on_github() {
    let start = EXAMPLE.find("[github]").unwrap();
    let config = Config::from_toml_str(&EXAMPLE[..start]).unwrap();
    assert_eq!(config.github, None);
    let github = example().github.unwrap();
    assert_eq!(github.develop_branch, "develop");
    assert_eq!(github.changelog, crate::config::ChangelogMode::PullRequest);
}
