//! Scenarios of the procedure's steps before and around production: the evidence GitHub
//! must show before anyone is asked to approve, and the users told of what shipped.

use shipgate_core::config::{EvidenceConfig, UsersEmailConfig};
use shipgate_core::ports::{Contact, ContactList};

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

/// The product's users on the scenarios' contact list: two receive the releases topic (one
/// by its default, one by choice), one opted out of it, one unsubscribed from everything.
pub fn users() -> ContactList {
    let contact = |email: &str, name: &str, unsubscribe_all, subscribed| Contact {
        email: email.into(),
        name: Some(name.into()),
        unsubscribe_all,
        subscribed,
    };
    ContactList {
        topic_default_opt_in: true,
        contacts: vec![
            contact("sam@users.example", "Sam", false, None),
            contact("ana@users.example", "Ana", false, Some(true)),
            contact("jo@users.example", "Jo", false, Some(false)),
            contact("kim@users.example", "Kim", true, None),
        ],
    }
}

fn email_users(config: &mut Config) {
    config.notifications.users = Some(UsersEmailConfig {
        contact_list: "roleferry-users".into(),
        topic: "releases".into(),
        product: "RoleFerry".into(),
        product_url: "https://roleferry.com".into(),
    });
}

pub(super) fn scenarios(at: impl Fn(&str) -> DateTime<Utc>) -> Vec<Scenario> {
    use Action::*;
    let t = |time: &str| at(&format!("2026-03-10T{time}Z"));
    let next_day = |time: &str| at(&format!("2026-03-11T{time}Z"));
    vec![
        Scenario {
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
        },
        Scenario {
            name: "users-announcement",
            summary: "a commit asks to tell the users (User-Announcement: yes): once the release has shipped, each subscribed user gets the procedure's email through SES's list management; those who unsubscribed get nothing",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        announce_to_users: true,
                        ..StartSpec::new("1.3.0")
                    }),
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
                (
                    t("23:00:00"),
                    ExpectNoUserEmail {
                        to: "sam@users.example",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectUserEmail {
                        to: "sam@users.example",
                        says: "New RoleFerry Features: AI Copilot (beta) + Match scoring improvements",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectUserEmail {
                        to: "sam@users.example",
                        says: "Hi Sam,",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectUserEmail {
                        to: "ana@users.example",
                        says: "✨ AI Copilot (beta)",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectUserEmail {
                        to: "ana@users.example",
                        says: "Unsubscribe: {{amazonSESUnsubscribeUrl}}",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectNoUserEmail {
                        to: "jo@users.example",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectNoUserEmail {
                        to: "kim@users.example",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: email_users,
        },
    ]
}
