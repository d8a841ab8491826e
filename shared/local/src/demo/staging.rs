//! Staging before production (procedure Step 2): a push to `develop` deploys to staging at
//! once, its smoke tests run there, QA approves with the test cases; production then ships
//! the very image staging ran, and code that never passed staging is held.

use shipgate_core::config::{Approver, EnvironmentConfig};

use super::*;

/// `staging` from `develop`, approved by QA (Quinn), as `shipgate.toml` documents it.
pub fn stage(config: &mut Config) {
    config.approvers.push(Approver {
        id: "quinn".into(),
        name: "Quinn Quade (QA)".into(),
        email: "qa@example.com".into(),
        slack_user: Some("U0QA00001".into()),
        roles: vec!["QA".into()],
        github: vec![],
        emails: vec![],
        aws_principals: vec![],
    });
    config.environments.insert(
        "staging".into(),
        EnvironmentConfig {
            branch: "develop".into(),
            cluster: "roleferry-staging".into(),
            service: "api-staging".parse().expect("a valid service name"),
            task_family: Some("roleferry-api-staging".into()),
            health_base_url: "https://staging.api.roleferry.com".into(),
            alarms: vec![],
            approval_roles: vec!["QA".into()],
            test_cases: [
                "Sign-up and log-in",
                "Apply to a job",
                "Reply to a recruiter",
            ]
            .map(String::from)
            .to_vec(),
            window: None,
            monitor_minutes: 0,
            required_for_production: true,
        },
    );
}

pub(super) fn scenarios(at: impl Fn(&str) -> DateTime<Utc>) -> Vec<Scenario> {
    use Action::*;
    let t = |time: &str| at(&format!("2026-03-10T{time}Z"));
    let next_day = |time: &str| at(&format!("2026-03-11T{time}Z"));
    vec![Scenario {
        name: "staging-then-production",
        summary: "a push to develop deploys to staging at once (no approval, no window), its smoke tests pass and QA approves with the test cases; the release/v1.3.0 merge to main shows staging's proof to its approvers and deploys the very image staging ran, by digest; a fix pushed straight to main, never staged, is held (and superseded once v1.3.0 ships)",
        start: t("09:00:00"),
        steps: vec![
            (
                t("09:00:00"),
                Start(StartSpec {
                    environment: Some("staging"),
                    ..StartSpec::new("1.3.0")
                }),
            ),
            (
                t("09:30:00"),
                ExpectState {
                    release: 0,
                    state: ReleaseState::AwaitingApproval,
                },
            ),
            (
                t("09:30:00"),
                ExpectAsked {
                    release: 0,
                    who: "quinn",
                    says: "its smoke tests passed. Test it, then approve",
                },
            ),
            (
                t("09:30:00"),
                ExpectAsked {
                    release: 0,
                    who: "quinn",
                    says: "Apply to a job",
                },
            ),
            (
                t("09:30:00"),
                ExpectRefused {
                    release: 0,
                    who: "taylor",
                },
            ),
            (
                t("10:00:00"),
                Approve {
                    release: 0,
                    who: "quinn",
                },
            ),
            (
                t("10:00:05"),
                ExpectState {
                    release: 0,
                    state: ReleaseState::Succeeded,
                },
            ),
            (
                t("10:00:05"),
                ExpectChannel {
                    says: "✅ Release v1.3.0 passed staging: smoke tests passed, approved by Quinn Quade (QA)",
                },
            ),
            (
                t("11:00:00"),
                Start(StartSpec {
                    features: &[],
                    fixes: &["Cover letter upload (#301)"],
                    ..StartSpec::new("1.2.1")
                }),
            ),
            (
                t("11:00:05"),
                ExpectChannel {
                    says: "*staging*: this code was never deployed to staging",
                },
            ),
            (
                t("11:00:05"),
                ExpectState {
                    release: 1,
                    state: ReleaseState::Pending,
                },
            ),
            (
                t("12:00:00"),
                Start(StartSpec {
                    merge_of: Some("1.3.0"),
                    ..StartSpec::new("1.3.0")
                }),
            ),
            (
                t("12:00:05"),
                ExpectAsked {
                    release: 2,
                    who: "lee",
                    says: "v1.3.0 passed staging (the merged branch's head",
                },
            ),
            (
                t("12:00:05"),
                ExpectAsked {
                    release: 2,
                    who: "lee",
                    says: "image sha256:",
                },
            ),
            (
                t("14:00:00"),
                Approve {
                    release: 2,
                    who: "lee",
                },
            ),
            (
                next_day("06:00:00"),
                ExpectChannel {
                    says: "🚀 Release v1.3.0 deployed to production",
                },
            ),
            (
                next_day("06:00:00"),
                ExpectDeployedAsStaged {
                    release: 2,
                    staged: 0,
                },
            ),
            (
                next_day("06:00:00"),
                ExpectEnd {
                    release: 1,
                    state: ReleaseState::Superseded,
                },
            ),
        ],
        expected_state: ReleaseState::Succeeded,
        configure: stage,
    }]
}
