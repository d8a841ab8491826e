//! The scenarios' data: the release procedure's situations and the outcome each must reach.

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn keep(_: &mut Config) {}

/// Every scenario, in the order the demo shows them.
pub fn scenarios() -> Vec<Scenario> {
    use Action::*;
    let day = "2026-03-10";
    let t = |time: &str| at(&format!("{day}T{time}Z"));
    let next_day = |time: &str| at(&format!("2026-03-11T{time}Z"));
    let minor = StartSpec::new("1.3.0");
    vec![
        Scenario {
            name: "minor-happy",
            summary: "a minor release approved at 14:00 deploys at 03:00, passes its checks and an hour of monitoring",
            start: t("09:00:00"),
            steps: vec![
                (t("09:00:00"), Start(minor.clone())),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
                (
                    t("14:00:01"),
                    ExpectState {
                        release: 0,
                        state: ReleaseState::AwaitingWindow,
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "major-quorum",
            summary: "a major release needs the CEO and the CTO: the CTO alone is not enough",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        features: &["Breaking: new public API"],
                        ..StartSpec::new("2.0.0")
                    }),
                ),
                (
                    t("10:00:00"),
                    Approve {
                        release: 0,
                        who: "taylor",
                    },
                ),
                (
                    t("10:00:01"),
                    ExpectState {
                        release: 0,
                        state: ReleaseState::AwaitingApproval,
                    },
                ),
                (
                    t("11:00:00"),
                    Approve {
                        release: 0,
                        who: "casey",
                    },
                ),
                (
                    t("11:00:01"),
                    ExpectState {
                        release: 0,
                        state: ReleaseState::AwaitingWindow,
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "self-approval-refused",
            summary: "the Eng Lead wrote the release and cannot approve it; the CTO (also an Eng Lead) does",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        author: "lee",
                        ..minor.clone()
                    }),
                ),
                (
                    t("10:00:00"),
                    ExpectRefused {
                        release: 0,
                        who: "lee",
                    },
                ),
                (
                    t("10:00:01"),
                    ExpectState {
                        release: 0,
                        state: ReleaseState::AwaitingApproval,
                    },
                ),
                (
                    t("11:00:00"),
                    Approve {
                        release: 0,
                        who: "taylor",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "rejected",
            summary: "the Eng Lead rejects the release with a reason; nothing is deployed",
            start: t("09:00:00"),
            steps: vec![
                (t("09:00:00"), Start(minor.clone())),
                (
                    t("10:30:00"),
                    Reject {
                        release: 0,
                        who: "lee",
                        reason: "the migration is not tested on staging",
                    },
                ),
            ],
            expected_state: ReleaseState::Rejected,
            configure: keep,
        },
        Scenario {
            name: "expired",
            summary: "nobody approves within 24 hours: the release expires and says who was missing",
            start: t("09:00:00"),
            steps: vec![(t("09:00:00"), Start(minor.clone()))],
            expected_state: ReleaseState::Expired,
            configure: keep,
        },
        Scenario {
            name: "alarm-rollback",
            summary: "the 5xx alarm fires 20 minutes into monitoring: automatic rollback to the recorded task definition",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        faults: Faults {
                            alarm_after_minutes: Some(("roleferry-api-5xx-rate".into(), 20)),
                            ..Faults::default()
                        },
                        ..minor.clone()
                    }),
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
            ],
            expected_state: ReleaseState::RolledBack,
            configure: keep,
        },
        Scenario {
            name: "health-rollback",
            summary: "the apply path answers 500 after deploy: health checks fail, automatic rollback",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        faults: Faults {
                            failing_path: Some("/apply".into()),
                            ..Faults::default()
                        },
                        ..minor.clone()
                    }),
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
            ],
            expected_state: ReleaseState::RolledBack,
            configure: keep,
        },
        Scenario {
            name: "migration-rollback",
            summary: "the migration ran, then the deployment never became stable: rollback and the reverse migration",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        faults: Faults {
                            fail_stability: true,
                            ..Faults::default()
                        },
                        ..minor.clone()
                    }),
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
            ],
            expected_state: ReleaseState::RolledBack,
            configure: keep,
        },
        Scenario {
            name: "hotfix-bypass",
            summary: "a hotfix approved by the CTO at 14:00 bypasses the window with a stated reason, and says so",
            start: t("13:00:00"),
            steps: vec![
                (
                    t("13:00:00"),
                    Start(StartSpec {
                        features: &[],
                        fixes: &["Login fails for SSO users (#301)"],
                        bypass_reason: Some("SSO logins failing for all customers"),
                        ..StartSpec::new("1.2.1")
                    }),
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "taylor",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "hotfix-bypass-from-push",
            summary: "a hotfix pushed with a Hotfix-Bypass trailer: the CTO is shown the reason, approves at 14:00 and it deploys at once; a second one approved to wait deploys in the window",
            start: t("13:00:00"),
            steps: vec![
                (
                    t("13:00:00"),
                    Start(StartSpec {
                        features: &[],
                        fixes: &["Login fails for SSO users (#301)"],
                        bypass_reason: Some("SSO logins failing for all customers"),
                        ..StartSpec::new("1.2.1")
                    }),
                ),
                (
                    t("13:05:00"),
                    ExpectAsked {
                        release: 0,
                        who: "taylor",
                        says: "skip the deploy window: SSO logins failing for all customers",
                    },
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "taylor",
                    },
                ),
                (
                    t("14:10:00"),
                    ExpectState {
                        release: 0,
                        state: ReleaseState::Monitoring,
                    },
                ),
                (
                    t("16:00:00"),
                    Start(StartSpec {
                        features: &[],
                        fixes: &["Typo on the pricing page (#305)"],
                        bypass_reason: Some("marketing wants it out today"),
                        ..StartSpec::new("1.2.2")
                    }),
                ),
                (
                    t("16:30:00"),
                    ApproveWithoutBypass {
                        release: 1,
                        who: "taylor",
                    },
                ),
                (
                    t("17:00:00"),
                    ExpectState {
                        release: 1,
                        state: ReleaseState::AwaitingWindow,
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "decision-by-email-updates-slack",
            summary: "the Eng Lead approves by the email link: the Slack message that asked them loses its buttons and says who approved",
            start: t("13:00:00"),
            steps: vec![
                (t("13:00:00"), Start(minor.clone())),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
                (
                    t("14:05:00"),
                    ExpectSlackReplaced {
                        release: 0,
                        who: "lee",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "manual-rollback-by-link",
            summary: "1.3.0 ships at 03:00; at 09:00 the Eng Lead who approved it rolls it back from the link in their copy of the announcement, with a reason: the service is restored and the migration reversed, no alarm touched",
            start: t("13:00:00"),
            steps: vec![
                (t("13:00:00"), Start(minor.clone())),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
                (
                    at("2026-03-11T08:59:00Z"),
                    ExpectState {
                        release: 0,
                        state: ReleaseState::Succeeded,
                    },
                ),
                (
                    at("2026-03-11T09:00:00Z"),
                    RollBackByLink {
                        release: 0,
                        who: "lee",
                        reason: "Signups fail for Safari users since 1.3.0",
                    },
                ),
                (at("2026-03-11T09:30:00Z"), ExpectNoAlarm),
            ],
            expected_state: ReleaseState::RolledBack,
            configure: keep,
        },
        Scenario {
            name: "rollback-waits-for-restore",
            summary: "the 5xx alarm rolls 1.3.0 back, but 1.2.0's image was pruned meanwhile and its tasks never start: the restore is not seen working, so the release ends Failed, the announcement says act now with the exact command, and on-call is paged",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        faults: Faults {
                            alarm_after_minutes: Some(("roleferry-api-5xx-rate".into(), 20)),
                            ..Faults::default()
                        },
                        ..minor.clone()
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
                    at("2026-03-11T03:10:00Z"),
                    Fault {
                        version: "1.2.0",
                        faults: Faults {
                            fail_stability: true,
                            ..Faults::default()
                        },
                    },
                ),
                // Pointed back at 03:23, not yet seen working: not RolledBack.
                (
                    at("2026-03-11T03:24:00Z"),
                    ExpectState {
                        release: 0,
                        state: ReleaseState::RollingBack,
                    },
                ),
                // The on-call engineer is paged through PagerDuty too.
                (
                    next_day("08:00:00"),
                    ExpectPagerDuty {
                        path: "/v2/enqueue",
                        says: "rollback failed, the service may not be running the previous version",
                    },
                ),
            ],
            expected_state: ReleaseState::Failed,
            configure: keep,
        },
        Scenario {
            name: "older-release-superseded",
            summary: "1.3.0 waits for approval while 1.4.0 is pushed, approved and shipped: 1.3.0 ends Superseded and says so, it never deploys over 1.4.0",
            start: t("13:00:00"),
            steps: vec![
                (t("13:00:00"), Start(minor.clone())),
                (
                    t("13:30:00"),
                    Start(StartSpec {
                        features: &["Saved searches"],
                        fixes: &[],
                        ..StartSpec::new("1.4.0")
                    }),
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 1,
                        who: "lee",
                    },
                ),
                (
                    t("15:00:00"),
                    ExpectEnd {
                        release: 0,
                        state: ReleaseState::Superseded,
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "window-fit",
            summary: "approved at 04:50, inside the window but too late to finish before 05:00: deploys the next day",
            start: t("04:00:00"),
            steps: vec![
                (t("04:00:00"), Start(minor.clone())),
                (
                    t("04:50:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "freeze",
            summary: "the next two windows fall in a freeze: they are skipped and the release deploys after it",
            start: t("09:00:00"),
            steps: vec![
                (t("09:00:00"), Start(minor.clone())),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: |config| {
                config.window.freezes = vec![Freeze {
                    start: at("2026-03-11T00:00:00Z"),
                    end: at("2026-03-13T00:00:00Z"),
                    reason: "Launch week".into(),
                }];
            },
        },
        Scenario {
            name: "one-at-a-time",
            summary: "two releases of one service approved together: the second deploys only after the first has ended",
            start: t("09:00:00"),
            steps: vec![
                (t("09:00:00"), Start(minor.clone())),
                (
                    t("09:30:00"),
                    Start(StartSpec {
                        features: &["2-step sequences"],
                        fixes: &[],
                        ..StartSpec::new("1.4.0")
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
                    t("14:00:00"),
                    Approve {
                        release: 1,
                        who: "lee",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "post-release-github",
            summary: "a release ticket opens when approval is asked; after the release, GitHub has the changelog, the tag, the release notes, main merged into develop, and the ticket closed",
            start: t("09:00:00"),
            steps: vec![
                (t("09:00:00"), Start(minor.clone())),
                (
                    t("09:00:01"),
                    ExpectGitHub {
                        method: "POST",
                        path: "/issues",
                        says: "Release v1.3.0 of api (minor)",
                    },
                ),
                (
                    t("09:00:01"),
                    ExpectAsked {
                        release: 0,
                        who: "lee",
                        says: "On call during the deploy: oncall@example.com.",
                    },
                ),
                (
                    t("14:00:00"),
                    Approve {
                        release: 0,
                        who: "lee",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "PUT",
                        path: "/contents/CHANGELOG.md",
                        says: "changelog/v1.3.0",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "POST",
                        path: "/pulls",
                        says: "Changelog for v1.3.0",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "POST",
                        path: "/git/refs",
                        says: "refs/tags/v1.3.0",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "POST",
                        path: "/releases",
                        says: "Release v1.3.0 deployed to production",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "POST",
                        path: "/merges",
                        says: "\"base\":\"develop\"",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "PATCH",
                        path: "/issues/1",
                        says: "\"state_reason\":\"completed\"",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectPagerDuty {
                        path: "/v2/change/enqueue",
                        says: "Deploying v1.3.0 of api to roleferry-prod",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectPagerDuty {
                        path: "/v2/change/enqueue",
                        says: "v1.3.0 of api released",
                    },
                ),
            ],
            expected_state: ReleaseState::Succeeded,
            configure: keep,
        },
        Scenario {
            name: "rollback-opens-postmortem",
            summary: "the 5xx alarm fires during monitoring: the rollback opens a post-mortem on GitHub with what fired and the revisions, and closes the ticket",
            start: t("09:00:00"),
            steps: vec![
                (
                    t("09:00:00"),
                    Start(StartSpec {
                        faults: Faults {
                            alarm_after_minutes: Some(("roleferry-api-5xx-rate".into(), 20)),
                            ..Faults::default()
                        },
                        ..minor.clone()
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
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "POST",
                        path: "/issues",
                        says: "Post-mortem: v1.3.0 of api rolled back",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "POST",
                        path: "/issues",
                        says: "roleferry-api-5xx-rate",
                    },
                ),
                (
                    next_day("06:00:00"),
                    ExpectGitHub {
                        method: "PATCH",
                        path: "/issues/1",
                        says: "\"state_reason\":\"not_planned\"",
                    },
                ),
            ],
            expected_state: ReleaseState::RolledBack,
            configure: keep,
        },
    ]
    .into_iter()
    .chain(super::procedure::scenarios(at))
    .chain(super::staging::scenarios(at))
    .collect()
}
