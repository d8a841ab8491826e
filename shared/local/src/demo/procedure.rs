//! Scenarios of the procedure's steps before and around production: the evidence GitHub
//! must show before anyone is asked to approve.

use shipgate_core::config::EvidenceConfig;

use super::*;

/// The Pre-Release checks of the procedure (§4), as CI reports them on GitHub.
const REQUIRED_CHECKS: [&str; 4] = ["tests", "lint", "snyk", "perf-regression"];

fn require_evidence(config: &mut Config) {
    if let Some(github) = config.github.as_mut() {
        github.evidence = Some(EvidenceConfig {
            required_checks: REQUIRED_CHECKS.map(String::from).to_vec(),
            required_approvals: 1,
            recheck_minutes: 10,
        });
    }
}

pub(super) fn scenarios(at: impl Fn(&str) -> DateTime<Utc>) -> Vec<Scenario> {
    use Action::*;
    let t = |time: &str| at(&format!("2026-03-10T{time}Z"));
    vec![Scenario {
        name: "failing-checks-hold-approval",
        summary: "the security scan failed on the release commit: nobody is asked to approve and the channel is told which check, with its link; once the scan passes on a re-run, approval is asked and the release ships",
        start: t("09:00:00"),
        steps: vec![
            (
                t("09:00:00"),
                Start(StartSpec {
                    checks: &[("snyk", Some("failure")), ("perf-regression", None)],
                    ..StartSpec::new("1.3.0")
                }),
            ),
            (
                t("09:00:01"),
                ExpectState {
                    release: 0,
                    state: ReleaseState::Pending,
                },
            ),
            (
                t("09:00:01"),
                ExpectChannel {
                    says: "Release v1.3.0 of api is held",
                },
            ),
            (
                t("09:00:01"),
                ExpectChannel {
                    says: "*snyk*: check run failure <https://github.com/",
                },
            ),
            (
                t("10:35:00"),
                CheckRerun {
                    release: 0,
                    check: "perf-regression",
                    conclusion: "success",
                },
            ),
            (
                t("10:35:01"),
                ExpectState {
                    release: 0,
                    state: ReleaseState::Pending,
                },
            ),
            (
                t("11:05:00"),
                CheckRerun {
                    release: 0,
                    check: "snyk",
                    conclusion: "success",
                },
            ),
            (
                t("11:05:01"),
                ExpectState {
                    release: 0,
                    state: ReleaseState::AwaitingApproval,
                },
            ),
            (
                t("11:05:01"),
                ExpectAsked {
                    release: 0,
                    who: "lee",
                    says: "All evidence passed: tests, lint, snyk, perf-regression, review of #900",
                },
            ),
            (
                t("14:00:00"),
                Approve {
                    release: 0,
                    who: "lee",
                },
            ),
        ],
        expected_state: ReleaseState::Succeeded,
        configure: require_evidence,
    }]
}
