//! The release record and the newtypes it is made of. Strings from the outside are parsed
//! into these types at the edge, so the domain never re-validates them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::semver::Version;

/// A release's id: `<service>-<version>-<short commit>`, stable for one push, so a second
/// trigger for the same commit finds the same release (and the same execution name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReleaseId(String);

/// An ECS service name as configured (`api`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("`{0}` is not a valid release id: use letters, digits, `-`, `_` and `.` (at most 80)")]
    ReleaseId(String),
    #[error("`{0}` is not a valid service name: use letters, digits, `-` and `_` (at most 255)")]
    ServiceName(String),
    #[error("`{0}` is not a commit: give its full 40-character SHA (git rev-parse HEAD)")]
    Commit(String),
}

fn is_token(s: &str, max: usize, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || extra.contains(&c))
}

/// A commit as Git names it in full: 40 hexadecimal digits, returned in lower case.
pub fn full_commit(commit: &str) -> Result<String, IdError> {
    let commit = commit.trim();
    if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(commit.to_ascii_lowercase())
    } else {
        Err(IdError::Commit(commit.chars().take(60).collect()))
    }
}

impl ReleaseId {
    /// The id of the release of `version` built from `commit`.
    pub fn for_commit(service: &ServiceName, version: &Version, commit: &str) -> Self {
        let short: String = commit
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(7)
            .collect();
        let short = if short.is_empty() {
            "nocommit".to_string()
        } else {
            short
        };
        Self(format!("{}-{}-{}", service.as_str(), version, short))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag (ECS `startedBy`: at most 36 of letters, digits, `-`, `/`, `_`) of the task
    /// this release starts for `purpose`, so a retry can find the task it started.
    pub fn task_tag(&self, purpose: &str) -> String {
        let hex = sha256_hex(&format!("{}/{purpose}", self.0));
        format!("shipgate-{}", &hex[..27])
    }
}

/// The SHA-256 of `text`, in lower-case hexadecimal.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `image` pinned to `digest`: `repo:tag@sha256:…` (the tag stays for people; the digest
/// is what is pulled). An image already pinned stays as it is.
pub fn pinned_image(image: &str, digest: Option<&str>) -> String {
    match digest {
        Some(digest) if !image.contains('@') => format!("{image}@{digest}"),
        _ => image.to_string(),
    }
}

impl ServiceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReleaseId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_token(s, 80, &['.']) {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError::ReleaseId(s.to_string()))
        }
    }
}

impl FromStr for ServiceName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_token(s, 255, &[]) {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError::ServiceName(s.to_string()))
        }
    }
}

macro_rules! string_newtype_conversions {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype_conversions!(ReleaseId);
string_newtype_conversions!(ServiceName);

pub use crate::semver::ReleaseType;

/// The lifecycle of DESIGN.md; [`crate::lifecycle`] says which moves are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReleaseState {
    Pending,
    AwaitingApproval,
    AwaitingWindow,
    Deploying,
    HealthChecking,
    Monitoring,
    Succeeded,
    Rejected,
    Expired,
    RollingBack,
    RolledBack,
    Failed,
    /// A newer version shipped first: this one will never deploy (it would downgrade).
    Superseded,
}

impl ReleaseState {
    pub const ALL: [ReleaseState; 13] = [
        ReleaseState::Pending,
        ReleaseState::AwaitingApproval,
        ReleaseState::AwaitingWindow,
        ReleaseState::Deploying,
        ReleaseState::HealthChecking,
        ReleaseState::Monitoring,
        ReleaseState::Succeeded,
        ReleaseState::Rejected,
        ReleaseState::Expired,
        ReleaseState::RollingBack,
        ReleaseState::RolledBack,
        ReleaseState::Failed,
        ReleaseState::Superseded,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ReleaseState::Succeeded
                | ReleaseState::Rejected
                | ReleaseState::Expired
                | ReleaseState::RolledBack
                | ReleaseState::Failed
                | ReleaseState::Superseded
        )
    }

    /// States in which the new version may be serving traffic.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ReleaseState::Deploying | ReleaseState::HealthChecking | ReleaseState::Monitoring
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Pending => "Pending",
            ReleaseState::AwaitingApproval => "AwaitingApproval",
            ReleaseState::AwaitingWindow => "AwaitingWindow",
            ReleaseState::Deploying => "Deploying",
            ReleaseState::HealthChecking => "HealthChecking",
            ReleaseState::Monitoring => "Monitoring",
            ReleaseState::Succeeded => "Succeeded",
            ReleaseState::Rejected => "Rejected",
            ReleaseState::Expired => "Expired",
            ReleaseState::RollingBack => "RollingBack",
            ReleaseState::RolledBack => "RolledBack",
            ReleaseState::Failed => "Failed",
            ReleaseState::Superseded => "Superseded",
        }
    }
}

impl fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReleaseState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReleaseState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("`{s}` is not a release state"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changelog {
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub fixes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    /// How a timeline says it: `approved`, `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approver: String,
    pub role: String,
    pub decision: Decision,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Approved, but not the window bypass the push asked for: the release waits for the
    /// window.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub without_bypass: bool,
}

/// What an audit event records. Stored as its kebab-case name; a name this version does
/// not know (written by a newer one) is kept as it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EventKind {
    /// The release was opened by a push.
    Opened,
    /// A move of the lifecycle.
    Transition,
    /// Approvers were asked.
    Asked,
    /// Approvers were reminded.
    Reminded,
    /// The backup approvers were asked.
    Escalated,
    /// One approver approved.
    Approved,
    /// Every required role approved.
    Quorum,
    /// Why the release waits (the window, the lane).
    Waiting,
    /// Something about the lane (another release took it).
    Lane,
    /// The window let the release through.
    Dispatched,
    /// The new task definition was registered.
    Registered,
    /// The migration task was started.
    MigrationStarted,
    /// A migration task ended.
    Migration,
    /// The service was pointed at the new task definition.
    Updated,
    /// A critical path failed.
    Unhealthy,
    /// The service was pointed back at the previous task definition.
    Restored,
    /// The reverse migration ran.
    MigrationReversed,
    /// A person asked for a rollback.
    RollbackRequested,
    /// A rollback request was refused.
    RollbackRefused,
    /// The outcome was announced.
    Announced,
    /// Something was recorded on GitHub (a tag, a release, the changelog, a post-mortem),
    /// or GitHub refused it.
    Recorded,
    /// The evidence GitHub shows on the release commit was read, and it changed.
    Evidence,
    /// A kind this version does not know.
    Other(String),
}

impl EventKind {
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Transition => "transition",
            EventKind::Asked => "asked",
            EventKind::Reminded => "reminded",
            EventKind::Escalated => "escalated",
            EventKind::Approved => "approved",
            EventKind::Quorum => "quorum",
            EventKind::Waiting => "waiting",
            EventKind::Lane => "lane",
            EventKind::Dispatched => "dispatched",
            EventKind::Registered => "registered",
            EventKind::MigrationStarted => "migration-started",
            EventKind::Migration => "migration",
            EventKind::Updated => "updated",
            EventKind::Unhealthy => "unhealthy",
            EventKind::Restored => "restored",
            EventKind::MigrationReversed => "migration-reversed",
            EventKind::RollbackRequested => "rollback-requested",
            EventKind::RollbackRefused => "rollback-refused",
            EventKind::Announced => "announced",
            EventKind::Recorded => "recorded",
            EventKind::Evidence => "evidence",
            EventKind::Other(name) => name,
        }
    }
}

impl From<String> for EventKind {
    fn from(name: String) -> Self {
        match name.as_str() {
            "opened" => EventKind::Opened,
            "transition" => EventKind::Transition,
            "asked" => EventKind::Asked,
            "reminded" => EventKind::Reminded,
            "escalated" => EventKind::Escalated,
            "approved" => EventKind::Approved,
            "quorum" => EventKind::Quorum,
            "waiting" => EventKind::Waiting,
            "lane" => EventKind::Lane,
            "dispatched" => EventKind::Dispatched,
            "registered" => EventKind::Registered,
            "migration-started" => EventKind::MigrationStarted,
            "migration" => EventKind::Migration,
            "updated" => EventKind::Updated,
            "unhealthy" => EventKind::Unhealthy,
            "restored" => EventKind::Restored,
            "migration-reversed" => EventKind::MigrationReversed,
            "rollback-requested" => EventKind::RollbackRequested,
            "rollback-refused" => EventKind::RollbackRefused,
            "announced" => EventKind::Announced,
            "recorded" => EventKind::Recorded,
            "evidence" => EventKind::Evidence,
            _ => EventKind::Other(name),
        }
    }
}

impl From<EventKind> for String {
    fn from(kind: EventKind) -> Self {
        kind.as_str().to_string()
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One line of a release's timeline: what changed, who or what did it, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ReleaseState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<ReleaseState>,
    pub detail: String,
}

/// What a migration did, so rollback knows whether to reverse it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRecord {
    pub task_arn: String,
    pub exit_code: i32,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub reversed: bool,
}

/// The release record. `version` is the optimistic-concurrency counter: every write
/// is conditional on it and increments it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub id: ReleaseId,
    pub service: ServiceName,
    #[serde(rename = "release_version")]
    pub semver: Version,
    pub commit: String,
    pub author: String,
    /// Everyone who wrote, committed or pushed the code (none recorded before this field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contributors: Vec<Contributor>,
    /// The Slack messages that asked approvers to decide, so that every decision, wherever
    /// it is taken, replaces them (buttons gone, who decided).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_asks: Vec<SlackAsk>,
    pub release_type: ReleaseType,
    pub changelog: Changelog,
    pub state: ReleaseState,
    pub version: u64,
    pub image: String,
    /// The exact task definition the service ran before this release changed anything.
    pub previous_task_definition: Option<String>,
    pub new_task_definition: Option<String>,
    pub migration: Option<MigrationRecord>,
    /// When the forward migration was started: recorded before `RunTask`, so a retried or
    /// concurrent deploy never starts it a second time.
    #[serde(default)]
    pub migration_started_at: Option<DateTime<Utc>>,
    /// The forward migration's task, recorded as soon as it started: a retried deploy waits
    /// for it instead of starting another.
    #[serde(default)]
    pub migration_task_arn: Option<String>,
    /// When the reverse migration was started: recorded before `RunTask`, so two rollbacks
    /// (the flow's and the alarm's) never run it twice.
    #[serde(default)]
    pub reversal_started_at: Option<DateTime<Utc>>,
    /// Who claimed the reverse migration (a [`crate::ports::Workers`] id): a claim whose
    /// claimer is known to be gone is taken over at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversal_claimed_by: Option<String>,
    /// The reverse migration's task, recorded as soon as it started: another rollback
    /// waits for the same task instead of starting another.
    #[serde(default)]
    pub reversal_task_arn: Option<String>,
    pub approvals: Vec<Approval>,
    /// A reason to skip the window (hotfix bypass), given when the release was started.
    pub bypass_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub queued_at: Option<DateTime<Utc>>,
    pub deploy_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why the release ended where it did (error name and cause for failures).
    pub outcome: Option<String>,
    /// Task tokens of the waits in progress. They stay in the backend, never in a view.
    pub approval_token: Option<String>,
    pub window_token: Option<String>,
    /// The terminal state last announced, so an outcome is announced exactly once.
    pub announced: Option<ReleaseState>,
    pub events: Vec<AuditEvent>,
    /// What was recorded on GitHub for the release (ticket, tag, changelog, post-mortem).
    #[serde(default, skip_serializing_if = "GitHubRecord::is_empty")]
    pub github: GitHubRecord,
    /// What GitHub last showed on the commit ([`crate::evidence`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::evidence::Evidence>,
    /// The flow's token while it waits for evidence; GitHub's webhooks wake it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_token: Option<String>,
    /// Who asked for the users' email (procedure §6, External) when the release ships: a
    /// trailer of its commit, or an approver on the approval page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_announcement: Option<String>,
    /// The environment before production this release deploys to (`staging`); `None`
    /// for production ([`crate::config::EnvironmentConfig`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The image's digest (`sha256:…`): what staging ran, and what production deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// For production: the staging release that proved this code ([`crate::staging`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_by: Option<ReleaseId>,
}

/// What shipgate recorded on GitHub for a release, so a step replayed after a crash or a
/// retry does not do it twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubRecord {
    /// The release ticket's issue number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<u64>,
    /// How many timeline entries the ticket's comments have told, or are being told: a
    /// part is claimed here before it is posted.
    #[serde(default)]
    pub told: usize,
    /// How many of them GitHub is known to have received; `None` (a record from before it
    /// was kept) counts as `told`. A part claimed but not known posted, whose claimer is
    /// gone, is looked for on the ticket by its marker and posted if missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted: Option<usize>,
    /// Who claimed the last part told, and when: while they may still be posting it,
    /// nobody else does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<DateTime<Utc>>,
    /// The steps done after the release ended: `changelog`, `tag`, `release`,
    /// `merge-back`, `post-mortem`, `closed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<String>,
    /// The post-mortem's issue number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<u64>,
    /// How `main` went back into `develop`: `merged` (develop has main), or the pull
    /// request opened on a conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_back: Option<String>,
    /// The pull request that carries the CHANGELOG entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_pull: Option<u64>,
}

impl GitHubRecord {
    /// Nothing recorded yet.
    pub fn is_empty(&self) -> bool {
        self == &GitHubRecord::default()
    }

    /// Whether `step` is done.
    pub fn did(&self, step: &str) -> bool {
        self.done.iter().any(|d| d == step)
    }
}

/// What a caller supplies to open a release.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRelease {
    pub service: ServiceName,
    pub version: Version,
    pub commit: String,
    pub author: String,
    pub changelog: Changelog,
    /// Overrides the type derived from the version bump.
    pub release_type: Option<ReleaseType>,
    pub bypass_reason: Option<String>,
    /// Everyone who wrote, committed or pushed the code, as Git and GitHub name them.
    pub contributors: Vec<Contributor>,
    /// Who asked for the users' email when the release ships (the head commit's
    /// `User-Announcement: yes` trailer), if anyone.
    pub user_announcement: Option<String>,
}

/// One Slack message that asked `approver` to decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackAsk {
    pub approver: String,
    pub channel: String,
    pub ts: String,
}

/// What a person did to a release's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contribution {
    Author,
    Committer,
    Pusher,
}

/// Someone who wrote, committed or pushed a release's code: nobody who appears here may
/// approve the release, by whatever name they are configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contributor {
    pub role: Contribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The GitHub login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

impl Contributor {
    /// How the person reads on a page: `name <email> (@login)`, with what is known.
    pub fn display(&self) -> String {
        let mut parts = Vec::new();
        if let Some(name) = &self.name {
            parts.push(name.clone());
        }
        if let Some(email) = &self.email {
            parts.push(format!("<{email}>"));
        }
        if let Some(login) = &self.login {
            parts.push(format!("(@{login})"));
        }
        if parts.is_empty() {
            parts.push("(unnamed)".into());
        }
        parts.join(" ")
    }
}

impl Release {
    /// Records how the forward migration ended, once: whoever learned it first (the deploy,
    /// or a rollback waiting for the same task) may already have reversed it.
    pub fn record_migration(&mut self, task_arn: &str, exit_code: i32, at: DateTime<Utc>) {
        if self.migration.is_none() {
            self.migration = Some(MigrationRecord {
                task_arn: task_arn.to_string(),
                exit_code,
                at,
                reversed: false,
            });
        }
    }

    /// The record of a release that has just been opened (state `Pending`).
    pub fn open(
        new: NewRelease,
        release_type: ReleaseType,
        image: String,
        now: DateTime<Utc>,
    ) -> Self {
        let id = ReleaseId::for_commit(&new.service, &new.version, &new.commit);
        Release {
            id,
            service: new.service,
            semver: new.version,
            commit: new.commit,
            author: new.author.clone(),
            contributors: new.contributors,
            slack_asks: Vec::new(),
            release_type,
            changelog: new.changelog,
            state: ReleaseState::Pending,
            version: 0,
            image,
            previous_task_definition: None,
            new_task_definition: None,
            migration: None,
            migration_started_at: None,
            migration_task_arn: None,
            reversal_started_at: None,
            reversal_claimed_by: None,
            reversal_task_arn: None,
            approvals: Vec::new(),
            bypass_reason: new.bypass_reason,
            created_at: now,
            updated_at: now,
            queued_at: None,
            deploy_started_at: None,
            finished_at: None,
            outcome: None,
            approval_token: None,
            window_token: None,
            announced: None,
            events: vec![AuditEvent {
                at: now,
                actor: new.author,
                kind: EventKind::Opened,
                from: None,
                to: Some(ReleaseState::Pending),
                detail: format!("release opened as {release_type}"),
            }],
            github: GitHubRecord::default(),
            evidence: None,
            evidence_token: None,
            user_announcement: new.user_announcement,
            environment: None,
            image_digest: None,
            staged_by: None,
        }
    }

    /// Adds a timeline entry that is not a state change.
    pub fn note(
        &mut self,
        at: DateTime<Utc>,
        actor: &str,
        kind: EventKind,
        detail: impl Into<String>,
    ) {
        self.events.push(AuditEvent {
            at,
            actor: actor.to_string(),
            kind,
            from: None,
            to: None,
            detail: detail.into(),
        });
        self.updated_at = at;
    }

    pub fn approvals_granted(&self) -> impl Iterator<Item = &Approval> {
        self.approvals
            .iter()
            .filter(|a| a.decision == Decision::Approved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_one_commit_when_its_release_id_is_made_twice_then_it_is_the_same() {
        let service: ServiceName = "api".parse().unwrap();
        let version: Version = "1.2.0".parse().unwrap();
        let a = ReleaseId::for_commit(&service, &version, "0123456789abcdef");
        assert_eq!(a.as_str(), "api-1.2.0-0123456");
        assert_eq!(
            a,
            ReleaseId::for_commit(&service, &version, "0123456789abcdef")
        );
        assert!(a.as_str().parse::<ReleaseId>().is_ok());
    }

    #[test]
    fn given_malformed_ids_when_parsed_then_they_are_refused() {
        assert!("".parse::<ReleaseId>().is_err());
        assert!("api 1".parse::<ReleaseId>().is_err());
        assert!("../etc".parse::<ServiceName>().is_err());
        assert!(serde_json::from_str::<ServiceName>("\"a/b\"").is_err());
    }

    #[test]
    fn given_release_state_names_when_parsed_then_each_is_its_state() {
        for state in ReleaseState::ALL {
            assert_eq!(state.as_str().parse::<ReleaseState>(), Ok(state));
        }
        assert!("Sideways".parse::<ReleaseState>().is_err());
    }
}
