//! Operations people start: opening a release, deciding on it, rolling it back by hand.
//! (The GitHub trigger, the CLI and the approval links all end up here.)

use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::info;

use crate::deps::Deps;
use crate::error::GateError;
use crate::error::wrong_state;
use crate::model::EventKind;
use crate::model::{Decision, NewRelease, Release, ReleaseId, ReleaseState};
use crate::policy::approval::{self, Quorum};
use crate::ports::{Handed, RollbackRequest, RollbackRequests, StoreError, WorkflowError};
use crate::{messages, order, restore};

/// Settings the flow reads from its input (`$.settings`), taken from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSettings {
    pub approval_timeout_seconds: u64,
    pub stability_poll_seconds: u64,
    pub monitor_interval_seconds: u64,
    /// How long the flow waits before reading evidence still pending or failing again.
    pub evidence_recheck_seconds: u64,
    /// `production`, or the environment before it the release deploys to (`staging`):
    /// the flow deploys those first and asks for approval after their smoke tests.
    #[serde(default = "production")]
    pub environment: String,
}

fn production() -> String {
    "production".into()
}

/// The input of a release's execution: the same for every start of the same release, so a
/// repeated start is recognised as the same execution.
fn flow_input(config: &crate::config::Config, id: &ReleaseId) -> serde_json::Value {
    let settings = FlowSettings {
        approval_timeout_seconds: u64::from(config.approvals.expires_after_hours) * 3600,
        stability_poll_seconds: u64::from(config.deploy.stability_poll_seconds),
        monitor_interval_seconds: u64::from(config.monitor.interval_seconds),
        evidence_recheck_seconds: config
            .github
            .as_ref()
            .and_then(|g| g.evidence.as_ref())
            .map_or(600, |e| u64::from(e.recheck_minutes) * 60),
        environment: config.environment.clone().unwrap_or_else(production),
    };
    json!({ "release_id": id, "settings": settings })
}

/// The execution that verifies and announces the restore of a release rolled back after it
/// had finished (no pipeline runs for it any more): `statemachine.json` enters its
/// `WaitForRestore` loop on `restore_only`.
pub(crate) async fn start_restore_watch(deps: &Deps, id: &ReleaseId) -> Result<(), GateError> {
    let mut input = flow_input(&deps.config, id);
    input["restore_only"] = json!(true);
    deps.executions
        .start(&format!("{id}-restore"), input)
        .await?;
    Ok(())
}

/// Whether the release was rolled back after it had succeeded (no pipeline runs for it).
fn rolled_back_after_success(release: &Release) -> bool {
    release
        .events
        .iter()
        .rev()
        .find(|e| e.to == Some(ReleaseState::RollingBack))
        .is_some_and(|e| e.from == Some(ReleaseState::Succeeded))
}

#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub release: Release,
    /// False when this push had already started a release (a redelivered trigger).
    pub created: bool,
    pub execution_id: String,
}

/// Opens a release and starts its pipeline. Idempotent per commit: a second call for the
/// same service, version and commit returns the existing release and execution.
pub async fn start(deps: &Deps, mut new: NewRelease) -> Result<Started, GateError> {
    let config = &deps.config;
    new.commit = crate::model::full_commit(&new.commit)
        .map_err(|e| GateError::InvalidInput(e.to_string()))?;
    if new.service != config.service.name {
        return Err(GateError::InvalidInput(format!(
            "service `{}` is not configured (this shipgate releases `{}`)",
            new.service, config.service.name
        )));
    }
    let id = ReleaseId::for_commit(&new.service, &new.version, &new.commit);
    let (release, created) = match deps.store.get(&id).await? {
        // Two commits that share their first seven characters never pass for one.
        Some(existing) if existing.commit != new.commit => {
            return Err(GateError::VersionTaken {
                service: new.service.to_string(),
                version: new.version.to_string(),
                commit: existing.commit,
            });
        }
        Some(existing) => (existing, false),
        None => {
            let last = deps.store.last_released(&new.service).await?;
            let derived = new
                .version
                .release_type_since(last.as_ref().map(|r| &r.semver))
                .map_err(|e| GateError::InvalidInput(e.to_string()))?;
            // A stated type must be the bump's: a hotfix numbered like a feature would be
            // approved by the wrong people.
            let kind = match new.release_type {
                Some(stated) if stated != derived => {
                    let bump = match &last {
                        Some(last) => format!("{} → {}", last.semver, new.version),
                        None => format!("{} (the first release)", new.version),
                    };
                    return Err(GateError::InvalidInput(format!(
                        "the type {stated} contradicts the version: {bump} is a {derived} release"
                    )));
                }
                _ => derived,
            };
            let image = format!("{}:{}", config.service.image, new.version);
            let mut release = Release::open(new, kind, image, deps.now());
            release.environment = config.environment.clone();
            match deps.store.create(&release).await {
                Ok(()) => (release, true),
                Err(StoreError::AlreadyExists(_)) => {
                    let existing = deps.load(&id).await?;
                    if existing.commit != release.commit {
                        return Err(GateError::VersionTaken {
                            service: existing.service.to_string(),
                            version: existing.semver.to_string(),
                            commit: existing.commit,
                        });
                    }
                    (existing, false)
                }
                Err(other) => return Err(other.into()),
            }
        }
    };
    shipgate_crash::point("start.created");
    let execution_id = deps
        .executions
        .start(release.id.as_str(), flow_input(config, &release.id))
        .await?;
    info!(release_id = %release.id, created, "release started");
    Ok(Started {
        release,
        created,
        execution_id,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub release: Release,
    pub quorum: QuorumView,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuorumView {
    pub met: bool,
    pub covered: Vec<(String, String)>,
    pub missing: Vec<String>,
}

impl From<Quorum> for QuorumView {
    fn from(q: Quorum) -> Self {
        QuorumView {
            met: q.is_met(),
            covered: q.covered,
            missing: q.missing,
        }
    }
}

/// How often a decision re-reads the release when a concurrent write beat it. Each try
/// re-checks everything against the fresh record, so nothing is retried blindly.
const DECISION_TRIES: usize = 3;

/// Records an approver's decision. Approving twice is harmless; when the quorum is met the
/// approval wait is resumed; a rejection (with its reason) ends the release.
pub async fn decide(
    deps: &Deps,
    id: &ReleaseId,
    approver: &str,
    decision: Decision,
    reason: Option<String>,
) -> Result<Decided, GateError> {
    decide_with(deps, id, approver, decision, reason, false).await
}

/// Like [`decide`]; with `without_bypass`, an approval of a hotfix that asks to bypass the
/// window approves the release but not the bypass: it waits for the window.
pub async fn decide_with(
    deps: &Deps,
    id: &ReleaseId,
    approver: &str,
    decision: Decision,
    reason: Option<String>,
    without_bypass: bool,
) -> Result<Decided, GateError> {
    decide_via(deps, id, approver, decision, reason, without_bypass, None).await
}

/// [`decide_with`], naming in the timeline where the decision came from and who took it
/// there (`via`: "the CLI as arn:aws:iam::…:user/dana").
pub async fn decide_via(
    deps: &Deps,
    id: &ReleaseId,
    approver: &str,
    decision: Decision,
    reason: Option<String>,
    without_bypass: bool,
    via: Option<&str>,
) -> Result<Decided, GateError> {
    if without_bypass && decision != Decision::Approved {
        return Err(GateError::InvalidInput(
            "only an approval can leave the window bypass out".into(),
        ));
    }
    let mut last_conflict = None;
    for _ in 0..DECISION_TRIES {
        let asked = Asked {
            approver,
            decision,
            reason: reason.clone(),
            without_bypass,
            via,
        };
        match try_decide(deps, id, asked).await {
            Err(GateError::Conflict(id, source)) => {
                last_conflict = Some(GateError::Conflict(id, source))
            }
            Ok(decided) => {
                refresh_slack_asks(deps, &decided, approver).await;
                return Ok(decided);
            }
            other => return other,
        }
    }
    Err(last_conflict.unwrap_or_else(|| GateError::NotFound(id.to_string())))
}

/// One decision as asked for.
struct Asked<'a> {
    approver: &'a str,
    decision: Decision,
    reason: Option<String>,
    without_bypass: bool,
    via: Option<&'a str>,
}

async fn try_decide(deps: &Deps, id: &ReleaseId, asked: Asked<'_>) -> Result<Decided, GateError> {
    let Asked {
        approver,
        decision,
        reason,
        without_bypass,
        via,
    } = asked;
    let from = via.map(|v| format!(" — from {v}")).unwrap_or_default();
    let mut release = deps.load(id).await?;
    let already = release
        .approvals
        .iter()
        .find(|a| a.approver == approver)
        .cloned();
    if let Some(previous) = already {
        if previous.decision != decision {
            return Err(GateError::InvalidInput(format!(
                "{approver} already {} this release; a decision cannot be changed",
                if previous.decision == Decision::Approved {
                    "approved"
                } else {
                    "rejected"
                }
            )));
        }
        // The same decision again: show where things stand, and make sure the wait was resumed.
        resume_if_quorum(deps, &release).await?;
        let quorum = approval::quorum(&deps.config, &release).into();
        return Ok(Decided { release, quorum });
    }
    if release.state != ReleaseState::AwaitingApproval {
        return Err(wrong_state(
            &release,
            "decisions are taken only while it awaits approval",
        ));
    }
    let now = deps.now();
    let mut record = approval::decide(&deps.config, &release, approver, decision, reason, now)?;
    let asks_bypass = release.bypass_reason.is_some();
    record.without_bypass = without_bypass && asks_bypass;
    release.approvals.push(record.clone());
    match decision {
        Decision::Approved => {
            let what = match (asks_bypass, record.without_bypass) {
                (true, true) => " (not the window bypass: it waits for the window)",
                (true, false) => " (and the window bypass it asks for)",
                _ => "",
            };
            release.note(
                now,
                approver,
                EventKind::Approved,
                format!("approved as {}{what}{from}", record.role),
            );
        }
        Decision::Rejected => {
            let why = record.reason.clone().unwrap_or_default();
            release.outcome = Some(format!("rejected by {approver}: {why}"));
            release.transition(
                ReleaseState::Rejected,
                approver,
                format!("rejected: {why}{from}"),
                now,
            )?;
        }
    }
    let quorum = approval::quorum(&deps.config, &release);
    if decision == Decision::Approved && quorum.is_met() {
        release.note(
            now,
            "shipgate",
            EventKind::Quorum,
            "every required role has approved",
        );
    }
    let token = release.approval_token.clone();
    let release = deps.save(&release).await?;
    shipgate_crash::point("decide.recorded");
    info!(release_id = %release.id, approver, ?decision, quorum_met = quorum.is_met(), "decision recorded");
    match (decision, token) {
        (Decision::Rejected, Some(token)) => {
            let cause = release.outcome.clone().unwrap_or_default();
            ignore_ended(deps.tokens.fail(&token, "Approval.Rejected", &cause).await)?;
        }
        (Decision::Approved, _) => resume_if_quorum(deps, &release).await?,
        (Decision::Rejected, None) => {}
    }
    Ok(Decided {
        release,
        quorum: quorum.into(),
    })
}

/// Replaces every Slack message that asked for a decision on the release with where it
/// stands now — who decided, no buttons — whichever way the decision came (link, Slack,
/// CLI). A message that cannot be replaced is logged: the decision stands.
async fn refresh_slack_asks(deps: &Deps, decided: &Decided, approver: &str) {
    let Some(person) = deps.config.approver(approver) else {
        return;
    };
    let release = &decided.release;
    let Some(decision) = release
        .approvals
        .iter()
        .find(|a| a.approver == approver)
        .map(|a| a.decision)
    else {
        return;
    };
    for ask in &release.slack_asks {
        let update = messages::slack_decided(
            release,
            person,
            decision,
            &decided.quorum.missing,
            messages::SlackMessageRef {
                channel: ask.channel.clone(),
                ts: ask.ts.clone(),
                response_url: None,
            },
        );
        // Once per ask and decision: repeating a decision (a command run again after it
        // was cut short) replaces nothing twice.
        let key = format!(
            "{}/slack-decided/{}/{}",
            release.id,
            ask.ts,
            release.approvals.len()
        );
        if let Err(err) = deps.notifier.send_once(&key, &update).await {
            tracing::warn!(release_id = %release.id, ts = %ask.ts, error = %err, "could not replace the Slack ask");
        }
    }
}

async fn resume_if_quorum(deps: &Deps, release: &Release) -> Result<(), GateError> {
    if release.state != ReleaseState::AwaitingApproval
        || !approval::quorum(&deps.config, release).is_met()
    {
        return Ok(());
    }
    if let Some(token) = &release.approval_token {
        let approvers: Vec<_> = release
            .approvals_granted()
            .map(|a| a.approver.clone())
            .collect();
        ignore_ended(
            deps.tokens
                .succeed(token, json!({ "approved_by": approvers }))
                .await,
        )?;
    }
    Ok(())
}

/// A token whose task already ended has nothing left to resume: not an error for a
/// decision that is being repeated.
fn ignore_ended(result: Result<(), WorkflowError>) -> Result<(), GateError> {
    match result {
        Ok(()) | Err(WorkflowError::TaskTimedOut) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// Finishes what a process killed mid-operation left undone, from the records alone: a
/// release created without its execution gets it; a quorum recorded without resuming the
/// approval wait resumes it; a rejection recorded without ending the wait ends it. Each
/// step is idempotent, so running this at any time changes nothing that is in order.
/// Returns how many releases it moved on.
pub async fn resume_interrupted(deps: &Deps) -> Result<usize, GateError> {
    let filter = crate::ports::ReleaseFilter {
        service: Some(deps.config.service.name.clone()),
        states: vec![
            ReleaseState::Pending,
            ReleaseState::AwaitingApproval,
            ReleaseState::Rejected,
            ReleaseState::Superseded,
        ],
    };
    let mut moved = 0;
    for release in deps.store.list(&filter).await? {
        match release.state {
            ReleaseState::Pending => {
                deps.executions
                    .start(release.id.as_str(), flow_input(&deps.config, &release.id))
                    .await?;
            }
            ReleaseState::AwaitingApproval if approval::quorum(&deps.config, &release).is_met() => {
                resume_if_quorum(deps, &release).await?;
                moved += 1;
            }
            ReleaseState::Superseded if release.announced.is_none() => {
                order::end_wait(deps, &release).await?;
                moved += 1;
            }
            ReleaseState::Rejected if release.announced.is_none() => {
                if let Some(token) = &release.approval_token {
                    let cause = release.outcome.clone().unwrap_or_default();
                    ignore_ended(deps.tokens.fail(token, "Approval.Rejected", &cause).await)?;
                    moved += 1;
                }
            }
            _ => {}
        }
    }
    Ok(moved)
}

/// A person rolls a release back: one that is live, or the latest that succeeded and still
/// serves. A live release's pipeline notices, verifies the restore and announces; for a
/// finished one an execution of its own does (`start_restore_watch`).
pub async fn manual_rollback(
    deps: &Deps,
    id: &ReleaseId,
    actor: &str,
    reason: &str,
) -> Result<Release, GateError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(GateError::InvalidInput(
            "a manual rollback needs a reason".into(),
        ));
    }
    // A staging release is rolled back on staging's service.
    let laid = deps.for_release(id);
    let deps = laid.as_ref();
    let release = deps.load(id).await?;
    // Rolled back after it had finished: no pipeline runs for it any more.
    let after_success = rolled_back_after_success(&release);
    // Asked again once done (a command re-run after it was cut short): nothing more to do.
    if release.state == ReleaseState::RolledBack
        || (release.state == ReleaseState::Failed && after_success)
    {
        return Ok(release);
    }
    // A rollback killed midway (or still running) is taken up where it stands.
    let resumed = release.state == ReleaseState::RollingBack;
    let finished = release.state == ReleaseState::Succeeded || (resumed && after_success);
    if release.state == ReleaseState::Succeeded {
        let serving = deps
            .deployer
            .current_task_definition(&deps.target())
            .await?;
        if release.new_task_definition.as_deref() != Some(serving.as_str()) {
            return Err(wrong_state(
                &release,
                &format!(
                    "the service now runs {serving}, not this release; roll back the release that runs it"
                ),
            ));
        }
    } else if !release.state.is_live() && !resumed {
        return Err(wrong_state(
            &release,
            "only a live or the latest succeeded release can be rolled back",
        ));
    }
    let release = restore::roll_back(
        deps,
        release,
        actor,
        &format!("manual rollback by {actor}: {reason}"),
    )
    .await?;
    if finished {
        // No pipeline is running for it any more: one of its own verifies and announces.
        start_restore_watch(deps, &release.id).await?;
    }
    Ok(release)
}

/// Whether `release` can be rolled back by hand now: `Ok(true)` when it can, `Ok(false)`
/// when a rollback is already under way or done (asking again changes nothing), and why
/// not otherwise.
pub fn rollback_possible(release: &Release) -> Result<bool, GateError> {
    match release.state {
        ReleaseState::RollingBack | ReleaseState::RolledBack => Ok(false),
        s if s.is_live() || s == ReleaseState::Succeeded => Ok(true),
        _ => Err(wrong_state(
            release,
            "only a live or the latest succeeded release can be rolled back",
        )),
    }
}

/// What became of a manual rollback request.
#[derive(Debug, Clone)]
pub struct RollbackAsked {
    /// The release as it is after the request (with the request in its timeline).
    pub release: Release,
    /// `None` when a rollback was already under way or done: nothing was asked again.
    pub handed: Option<Handed>,
}

/// A person asks for a manual rollback (link, Slack, CLI): what can be checked here is
/// (a reason, an approver, a release that can be rolled back), the request is written to
/// the release's timeline with who asked and from where, and it is handed to the rollback
/// path (`rollbacks`). Asking again while a rollback runs or after it asks nothing more.
pub async fn request_rollback(
    deps: &Deps,
    rollbacks: &dyn RollbackRequests,
    request: RollbackRequest,
) -> Result<RollbackAsked, GateError> {
    let reason = request.reason.trim().to_string();
    if reason.is_empty() {
        return Err(GateError::InvalidInput(
            "a manual rollback needs a reason".into(),
        ));
    }
    if deps.config.approver(&request.actor).is_none() {
        return Err(GateError::InvalidInput(format!(
            "only approvers can roll a release back, and `{}` is not one",
            request.actor
        )));
    }
    let release = deps.load(&request.release_id).await?;
    if !rollback_possible(&release)? {
        return Ok(RollbackAsked {
            release,
            handed: None,
        });
    }
    let detail = format!("asked from {}: {reason}", request.via);
    let release = deps
        .record(release, |r| {
            r.note(
                deps.now(),
                &request.actor,
                EventKind::RollbackRequested,
                detail.clone(),
            )
        })
        .await?;
    let request = RollbackRequest { reason, ..request };
    let handed = rollbacks
        .request(&request)
        .await
        .map_err(|e| GateError::Unavailable {
            what: "the rollback path".into(),
            source: Box::new(e),
        })?;
    let release = deps.load(&release.id).await?;
    Ok(RollbackAsked {
        release,
        handed: Some(handed),
    })
}

/// Performs a rollback request where the rollback runs (the rollback function on AWS, this
/// process locally). A refusal is written to the release's timeline, so whoever asked sees
/// why on the release's page; only a failure worth retrying is an error.
pub async fn perform_rollback_request(
    deps: &Deps,
    request: &RollbackRequest,
) -> Result<Handed, GateError> {
    let actor = request.actor.as_str();
    match manual_rollback(deps, &request.release_id, actor, &request.reason).await {
        Ok(_) => Ok(Handed::Done),
        Err(
            err @ (GateError::InvalidState { .. }
            | GateError::InvalidInput(_)
            | GateError::IllegalTransition(_)),
        ) => {
            let why = err.describe();
            info!(release_id = %request.release_id, %why, "manual rollback refused");
            let release = deps.load(&request.release_id).await?;
            deps.record(release, |r| {
                r.note(
                    deps.now(),
                    "rollback",
                    EventKind::RollbackRefused,
                    why.clone(),
                )
            })
            .await?;
            Ok(Handed::Refused(why))
        }
        Err(other) => Err(other),
    }
}

/// The rollback path in this process: locally, and wherever no rollback function is
/// reachable (the request is performed before the answer).
pub struct RollBackHere {
    pub deps: Deps,
}

#[async_trait::async_trait]
impl RollbackRequests for RollBackHere {
    async fn request(&self, request: &RollbackRequest) -> Result<Handed, WorkflowError> {
        perform_rollback_request(&self.deps, request)
            .await
            .map_err(|e| WorkflowError::Backend(e.describe().into()))
    }
}
