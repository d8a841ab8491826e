//! What a scenario did, as `shipgate demo --json` and `shipgate twin --json` print it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shipgate_core::model::{AuditEvent, Decision, ReleaseType};
use shipgate_core::{Release, ReleaseState};

use super::CallView;

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalView {
    pub approver: String,
    pub role: String,
    pub decision: Decision,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnnouncementView {
    pub channel: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    pub release_id: String,
    pub version: String,
    pub release_type: ReleaseType,
    pub commit: String,
    /// The environment before production it deployed to (`staging`); none for production.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The image's digest, when it was deployed by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    pub final_state: ReleaseState,
    pub deploy_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub previous_task_definition: Option<String>,
    pub new_task_definition: Option<String>,
    pub approvals: Vec<ApprovalView>,
    pub outcome: Option<String>,
    #[serde(skip)]
    pub timeline: Vec<AuditEvent>,
}

/// What a scenario did; `shipgate demo --json` prints one per line.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub summary: String,
    pub expected_state: ReleaseState,
    pub final_state: ReleaseState,
    pub passed: bool,
    /// Failed expectations along the way, in words.
    pub problems: Vec<String>,
    pub deploy_started_at: Option<DateTime<Utc>>,
    pub previous_task_definition: Option<String>,
    /// What the service runs at the end.
    pub serving_task_definition: Option<String>,
    pub approvals: Vec<ApprovalView>,
    pub announcements: Vec<AnnouncementView>,
    pub releases: Vec<ReleaseReport>,
    /// Migrations and reverse migrations run, as `command → exit code`.
    pub tasks_run: Vec<String>,
    /// The calls GitHub received (the release ticket, tag, release, changelog, merge back,
    /// post-mortem), in order.
    pub github: Vec<CallView>,
    /// The events PagerDuty received (change events, alerts), in order.
    pub pagerduty: Vec<CallView>,
}

impl From<&Release> for ReleaseReport {
    fn from(r: &Release) -> Self {
        ReleaseReport {
            release_id: r.id.to_string(),
            version: r.semver.to_string(),
            release_type: r.release_type,
            commit: r.commit.clone(),
            environment: r.environment.clone(),
            image_digest: r.image_digest.clone(),
            final_state: r.state,
            deploy_started_at: r.deploy_started_at,
            finished_at: r.finished_at,
            previous_task_definition: r.previous_task_definition.clone(),
            new_task_definition: r.new_task_definition.clone(),
            approvals: r
                .approvals
                .iter()
                .map(|a| ApprovalView {
                    approver: a.approver.clone(),
                    role: a.role.clone(),
                    decision: a.decision,
                })
                .collect(),
            outcome: r.outcome.clone(),
            timeline: r.events.clone(),
        }
    }
}
