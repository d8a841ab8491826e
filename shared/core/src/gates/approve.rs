//! The approve gate. `request` runs as a `.waitForTaskToken` task: it keeps the token with
//! the release (it never leaves the backend) and asks every approver who can still complete
//! the quorum — an email with a link of their own and a Slack message with buttons.
//! Decisions arrive through [`crate::releases::decide`]. `remind` runs when the
//! scheduler wakes it: it reminds those who have not answered and, once, escalates each
//! role still missing to its backup approver. `expire` runs when the wait times out (or
//! when a release waited for its evidence as long). Before any of it, `evidence` reads what
//! GitHub shows on the release commit and `hold` keeps the token of the wait for it
//! ([`crate::evidence`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::{Approver, Config};
use crate::deps::Deps;
use crate::error::{GateError, wrong_state};
use crate::evidence::{self, Verdict};
use crate::links::{LinkClaims, LinkSigner};
use crate::messages::{self, Ask};
use crate::model::EventKind;
use crate::model::{Release, ReleaseId, ReleaseState, SlackAsk};
use crate::policy::approval;
use crate::ports::WakeUp;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    Request {
        release_id: ReleaseId,
        task_token: String,
    },
    Expire {
        release_id: ReleaseId,
    },
    Remind {
        release_id: ReleaseId,
    },
    /// `GatherEvidence`: reads what GitHub shows on the release commit.
    Evidence {
        release_id: ReleaseId,
    },
    /// `WaitForEvidence`: keeps the token GitHub's webhooks wake.
    Hold {
        release_id: ReleaseId,
        task_token: String,
    },
    /// `AcceptStaging`: the approvers of an environment before production (QA) approved
    /// what its smoke tests passed: the release has passed that environment.
    Accept {
        release_id: ReleaseId,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub state: ReleaseState,
    pub asked: Vec<String>,
    /// What `GatherEvidence` decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

#[tracing::instrument(skip(deps), fields(release_id))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    let (Input::Request { release_id, .. }
    | Input::Expire { release_id }
    | Input::Remind { release_id }
    | Input::Evidence { release_id }
    | Input::Hold { release_id, .. }
    | Input::Accept { release_id }) = &input;
    // A release to an environment before production runs with its configuration.
    let laid = deps.for_release(release_id);
    let deps = laid.as_ref();
    match input {
        Input::Request {
            release_id,
            task_token,
        } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            request(deps, &release_id, task_token).await
        }
        Input::Expire { release_id } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            expire(deps, &release_id).await
        }
        Input::Remind { release_id } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            remind(deps, &release_id).await
        }
        Input::Evidence { release_id } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            let (verdict, state) = evidence::gather(deps, &release_id).await?;
            Ok(Output {
                state,
                asked: vec![],
                verdict: Some(verdict),
            })
        }
        Input::Accept { release_id } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            accept(deps, &release_id).await
        }
        Input::Hold {
            release_id,
            task_token,
        } => {
            tracing::Span::current().record("release_id", release_id.as_str());
            Ok(Output {
                state: evidence::hold(deps, &release_id, task_token).await?,
                asked: vec![],
                verdict: None,
            })
        }
    }
}

/// `AcceptStaging`: a release to an environment before production, deployed and smoke
/// tested, whose approvers all approved, has passed that environment. Run again, it
/// changes nothing.
async fn accept(deps: &Deps, id: &ReleaseId) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    let Some(env) = deps.config.environment.clone() else {
        return Err(wrong_state(
            &release,
            "only a release to an environment before production is accepted after deploying",
        ));
    };
    if release.state == ReleaseState::AwaitingApproval {
        let quorum = approval::quorum(&deps.config, &release);
        if !quorum.is_met() {
            return Err(wrong_state(
                &release,
                &format!("{} must still approve it", quorum.missing.join(" + ")),
            ));
        }
        let by: Vec<String> = quorum
            .covered
            .iter()
            .map(|(_, who)| deps.config.name_of(who).to_string())
            .collect();
        let detail = format!("smoke tests passed, approved by {}", by.join(", "));
        release.outcome = Some(detail.clone());
        release.approval_token = None;
        release.transition(
            ReleaseState::Succeeded,
            "approve",
            format!("passed {env}: {detail}"),
            deps.now(),
        )?;
        release = deps.save(&release).await?;
        info!(release_id = %release.id, %env, "passed the environment");
    } else if release.state != ReleaseState::Succeeded {
        return Err(wrong_state(
            &release,
            "a release passes its environment once its approvers approved it after the smoke tests",
        ));
    }
    Ok(Output {
        state: release.state,
        asked: vec![],
        verdict: None,
    })
}

/// When approval was first requested for `release`.
pub fn requested_at(release: &Release) -> Option<DateTime<Utc>> {
    release
        .events
        .iter()
        .find(|e| e.to == Some(ReleaseState::AwaitingApproval))
        .map(|e| e.at)
}

/// When the approval period of `release` ends (and with it every link).
pub fn deadline(config: &Config, release: &Release) -> Option<DateTime<Utc>> {
    requested_at(release)
        .map(|at| at + Duration::hours(i64::from(config.approvals.expires_after_hours)))
}

fn undecided(release: &Release, approver: &Approver) -> bool {
    !release.approvals.iter().any(|a| a.approver == approver.id)
}

fn push_unique<'a>(out: &mut Vec<&'a Approver>, approver: &'a Approver) {
    if !out.iter().any(|a| a.id == approver.id) {
        out.push(approver);
    }
}

/// Who is asked first for the roles in `missing`: everyone holding one of them except the
/// author and the role's backup — or the backup, when nobody else can.
pub fn first_asked<'a>(
    config: &'a Config,
    release: &Release,
    missing: &[String],
) -> Vec<&'a Approver> {
    let mut out = Vec::new();
    for role in missing {
        let backup = config.approvals.backup.get(role);
        let holders: Vec<&Approver> = config
            .approvers
            .iter()
            .filter(|a| a.roles.contains(role) && !approval::is_author(a, release))
            .collect();
        let primaries: Vec<&Approver> = holders
            .iter()
            .copied()
            .filter(|a| Some(&a.id) != backup)
            .collect();
        for approver in if primaries.is_empty() {
            holders
        } else {
            primaries
        } {
            push_unique(&mut out, approver);
        }
    }
    out
}

/// The backups of the roles in `missing` (escalation), without the author.
pub fn backups<'a>(config: &'a Config, release: &Release, missing: &[String]) -> Vec<&'a Approver> {
    let mut out = Vec::new();
    for role in missing {
        if let Some(a) = config
            .approvals
            .backup
            .get(role)
            .and_then(|id| config.approver(id))
            .filter(|a| !approval::is_author(a, release))
        {
            push_unique(&mut out, a);
        }
    }
    out
}

fn escalated(release: &Release) -> bool {
    release
        .events
        .iter()
        .any(|e| e.kind == EventKind::Escalated)
}

/// The approval link of `approver` for `release`, if a link key is configured.
pub fn link_for(config: &Config, release: &Release, approver: &Approver) -> Option<String> {
    let signer = LinkSigner::from_config(config)?;
    let expires_at = deadline(config, release)?;
    Some(signer.url(
        config.web.public_url(),
        &LinkClaims {
            release_id: release.id.clone(),
            approver: approver.id.clone(),
            expires_at,
        },
    ))
}

/// Asks `people`, each message once under `key/<approver>/<n>`: a request replayed after a
/// crash completes what the first attempt began and repeats nothing.
async fn ask(
    deps: &Deps,
    release: &Release,
    people: &[&Approver],
    missing: &[String],
    kind: Ask,
    key: &str,
) -> Result<Vec<SlackAsk>, GateError> {
    let mut posted = Vec::new();
    if LinkSigner::from_config(&deps.config).is_none() && !people.is_empty() {
        warn!("no link key is configured: approval messages carry no links");
    }
    for approver in people {
        let link = link_for(&deps.config, release, approver);
        let messages = messages::approval_request(
            &deps.config,
            release,
            approver,
            missing,
            link.as_deref(),
            kind,
        );
        for (n, message) in messages.iter().enumerate() {
            let key = format!("{}/{key}/{}/{n}", release.id, approver.id);
            if let Some(at) = deps.notifier.send_once(&key, message).await? {
                posted.push(SlackAsk {
                    approver: approver.id.clone(),
                    channel: at.channel,
                    ts: at.ts,
                });
            }
            shipgate_crash::point("approve.asked-one");
        }
    }
    Ok(posted)
}

/// Keeps where the Slack asks went, so decisions can replace them.
async fn remember(
    deps: &Deps,
    release: Release,
    posted: Vec<SlackAsk>,
) -> Result<Release, GateError> {
    if posted.iter().all(|p| release.slack_asks.contains(p)) {
        return Ok(release);
    }
    deps.record(release, |r| {
        add_asks(r, &posted);
    })
    .await
}

/// Adds the asks `release` does not hold yet; whether it added any.
fn add_asks(release: &mut Release, posted: &[SlackAsk]) -> bool {
    let before = release.slack_asks.len();
    for p in posted {
        if !release.slack_asks.contains(p) {
            release.slack_asks.push(p.clone());
        }
    }
    release.slack_asks.len() > before
}

async fn request(deps: &Deps, id: &ReleaseId, token: String) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    let now = deps.now();
    match release.state {
        ReleaseState::Pending => {
            release.transition(
                ReleaseState::AwaitingApproval,
                "approve",
                "approval requested",
                now,
            )?;
        }
        // A retried request keeps the newest token.
        ReleaseState::AwaitingApproval => {}
        _ => {
            return Err(wrong_state(
                &release,
                "approval is requested only for a new release",
            ));
        }
    }
    release.approval_token = Some(token);
    let quorum = approval::quorum(&deps.config, &release);
    let asked: Vec<&Approver> = first_asked(&deps.config, &release, &quorum.missing)
        .into_iter()
        .filter(|a| undecided(&release, a))
        .collect();
    let names: Vec<String> = asked.iter().map(|a| a.id.clone()).collect();
    // A retried request (or one replayed after a crash) asks the same people under the
    // same keys, so nobody hears twice, and the timeline says "asked" once.
    if !release.events.iter().any(|e| e.kind == EventKind::Asked) {
        release.note(
            now,
            "approve",
            EventKind::Asked,
            format!(
                "asked {} to approve ({} needed)",
                names.join(", "),
                quorum.missing.join(" + ")
            ),
        );
    }
    let release = deps.save(&release).await?;
    shipgate_crash::point("approve.requested");
    let posted = ask(deps, &release, &asked, &quorum.missing, Ask::First, "asked").await?;
    let release = remember(deps, release, posted).await?;
    // The release ticket: opened now, commented as the release moves (best effort).
    let release = crate::ticket::keep(deps, release).await;
    schedule_next(deps, &release, now).await;
    info!(asked = ?names, "approval requested");
    Ok(Output {
        state: release.state,
        asked: names,
        verdict: None,
    })
}

/// The next moment the approvers of `release` should hear from shipgate again, if it
/// comes before the approval period ends.
pub fn next_reminder(config: &Config, release: &Release) -> Option<DateTime<Utc>> {
    let requested = requested_at(release)?;
    let deadline = deadline(config, release)?;
    let mut next: Option<DateTime<Utc>> = None;
    let mut consider = |t: DateTime<Utc>| next = Some(next.map_or(t, |n| n.min(t)));
    let approvals = &config.approvals;
    if approvals.remind_every_hours > 0 {
        let last = release
            .events
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::Asked || e.kind == EventKind::Reminded)
            .map_or(requested, |e| e.at);
        consider(last + Duration::hours(i64::from(approvals.remind_every_hours)));
    }
    if approvals.escalate_after_hours > 0 && !escalated(release) {
        consider(requested + Duration::hours(i64::from(approvals.escalate_after_hours)));
    }
    next.filter(|t| *t < deadline)
}

/// Reminders are a courtesy: a scheduler that cannot take them never fails the gate.
async fn schedule_next(deps: &Deps, release: &Release, now: DateTime<Utc>) {
    if let Some(at) = next_reminder(&deps.config, release) {
        let wake = WakeUp::ApprovalReminder {
            release_id: release.id.clone(),
        };
        if let Err(err) = deps.scheduler.schedule(&wake, at.max(now)).await {
            warn!(error = %err, "could not schedule the approval reminder");
        }
    }
}

async fn remind(deps: &Deps, id: &ReleaseId) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    let now = deps.now();
    if release.state != ReleaseState::AwaitingApproval {
        return Ok(Output {
            state: release.state,
            asked: vec![],
            verdict: None,
        });
    }
    let Some(requested) = requested_at(&release) else {
        return Ok(Output {
            state: release.state,
            asked: vec![],
            verdict: None,
        });
    };
    let config = deps.config.clone();
    let quorum = approval::quorum(&config, &release);
    let mut asked = Vec::new();
    let mut changed = false;
    let round = release
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Reminded)
        .count();
    let escalate_at = requested + Duration::hours(i64::from(config.approvals.escalate_after_hours));
    let mut escalation = Vec::new();
    if config.approvals.escalate_after_hours > 0 && now >= escalate_at && !escalated(&release) {
        let first: Vec<&Approver> = first_asked(&config, &release, &quorum.missing);
        escalation = backups(&config, &release, &quorum.missing)
            .into_iter()
            .filter(|a| undecided(&release, a) && !first.iter().any(|f| f.id == a.id))
            .collect();
        let names: Vec<String> = escalation.iter().map(|a| a.id.clone()).collect();
        let detail = if names.is_empty() {
            format!(
                "no backup approver to escalate to ({} still needed)",
                quorum.missing.join(" + ")
            )
        } else {
            format!(
                "escalated to {} ({} still needed)",
                names.join(", "),
                quorum.missing.join(" + ")
            )
        };
        release.note(now, "approve", EventKind::Escalated, detail);
        changed = true;
        asked.extend(names);
    }
    let last = release
        .events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Asked || e.kind == EventKind::Reminded)
        .map_or(requested, |e| e.at);
    let mut reminded = Vec::new();
    if config.approvals.remind_every_hours > 0
        && now >= last + Duration::hours(i64::from(config.approvals.remind_every_hours))
    {
        let mut people = first_asked(&config, &release, &quorum.missing);
        if escalated(&release) {
            for a in backups(&config, &release, &quorum.missing) {
                push_unique(&mut people, a);
            }
        }
        reminded = people
            .into_iter()
            .filter(|a| undecided(&release, a) && !escalation.iter().any(|e| e.id == a.id))
            .collect();
        let names: Vec<String> = reminded.iter().map(|a| a.id.clone()).collect();
        if !names.is_empty() {
            release.note(
                now,
                "approve",
                EventKind::Reminded,
                format!(
                    "reminded {} ({} still needed)",
                    names.join(", "),
                    quorum.missing.join(" + ")
                ),
            );
            changed = true;
            asked.extend(names);
        }
    }
    // Sent before the record of them: a wake-up delivered again after a crash finds nothing
    // recorded, decides the same and resends under the same keys, which sends nothing twice.
    let mut posted = ask(
        deps,
        &release,
        &escalation,
        &quorum.missing,
        Ask::Escalation,
        "escalated",
    )
    .await?;
    let key = format!("reminded-{round}");
    posted.extend(
        ask(
            deps,
            &release,
            &reminded,
            &quorum.missing,
            Ask::Reminder,
            &key,
        )
        .await?,
    );
    changed |= add_asks(&mut release, &posted);
    if changed {
        release = deps.save(&release).await?;
    }
    schedule_next(deps, &release, now).await;
    Ok(Output {
        state: release.state,
        asked,
        verdict: None,
    })
}

async fn expire(deps: &Deps, id: &ReleaseId) -> Result<Output, GateError> {
    let mut release = deps.load(id).await?;
    if release.state == ReleaseState::Expired {
        return Ok(Output {
            state: release.state,
            asked: vec![],
            verdict: None,
        });
    }
    let hours = deps.config.approvals.expires_after_hours;
    let why = match release.state {
        ReleaseState::AwaitingApproval => {
            let quorum = approval::quorum(&deps.config, &release);
            format!(
                "no quorum within {hours} h (still missing: {})",
                quorum.missing.join(" + ")
            )
        }
        // Held or waiting for its evidence all that time.
        ReleaseState::Pending => format!(
            "its evidence was not complete within {hours} h ({})",
            release
                .evidence
                .as_ref()
                .map_or_else(|| "never read".to_string(), |e| e.summary())
        ),
        _ => {
            return Err(wrong_state(
                &release,
                "only a release awaiting approval or its evidence can expire",
            ));
        }
    };
    release.outcome = Some(why.clone());
    release.approval_token = None;
    release.evidence_token = None;
    release.transition(ReleaseState::Expired, "approve", why, deps.now())?;
    let release = deps.save(&release).await?;
    Ok(Output {
        state: release.state,
        asked: vec![],
        verdict: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::gate::Gate;
    use crate::model::{ReleaseState, ReleaseType};
    use crate::ports::{Notification, WakeUp};
    use crate::testkit::invoke;
    use crate::testkit::{Kit, at};

    fn emails(kit: &Kit) -> Vec<(Vec<String>, String, Vec<String>)> {
        kit.rec
            .sent
            .lock()
            .unwrap()
            .iter()
            .filter_map(|n| match n {
                Notification::Email {
                    to, subject, links, ..
                } => Some((to.clone(), subject.clone(), links.clone())),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn given_a_minor_release_then_the_primary_is_asked_with_a_link_reminded_then_the_backup_escalated()
     {
        let kit = Kit::new("2026-03-10T14:00:00Z");
        let r = kit
            .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
            .await;
        // Given: Eng Lead is held by lee and taylor; taylor is the role's backup.
        let out = invoke(
            &kit.deps,
            Gate::Approve,
            json!({"action": "request", "release_id": r.id, "task_token": "tok"}),
        )
        .await
        .unwrap();
        assert_eq!(out["asked"], json!(["lee"]));
        let sent = emails(&kit);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, vec!["eng-lead@example.com"]);
        assert!(sent[0].2[0].starts_with("http://127.0.0.1:8080/approvals/"));
        assert!(!sent[0].2[0].contains("tok"));
        let wake = WakeUp::ApprovalReminder {
            release_id: r.id.clone(),
        };
        assert_eq!(
            kit.rec.scheduled.lock().unwrap().last(),
            Some(&(wake.clone(), at("2026-03-10T18:00:00Z")))
        );

        // When the reminder is due, lee hears again (and only lee).
        kit.set_now("2026-03-10T18:00:00Z");
        let out = invoke(&kit.deps, Gate::Approve, wake.payload())
            .await
            .unwrap();
        assert_eq!(out["asked"], json!(["lee"]));
        assert!(emails(&kit)[1].1.starts_with("Reminder: approval needed"));
        // An early or repeated wake-up sends nothing.
        let out = invoke(&kit.deps, Gate::Approve, wake.payload())
            .await
            .unwrap();
        assert_eq!(out["asked"], json!([]));

        // At 12 hours the backup is asked, once.
        kit.set_now("2026-03-11T02:00:00Z");
        invoke(&kit.deps, Gate::Approve, wake.payload())
            .await
            .unwrap();
        let sent = emails(&kit);
        let escalated: Vec<_> = sent
            .iter()
            .filter(|e| e.1.starts_with("Escalated"))
            .collect();
        assert_eq!(escalated.len(), 1);
        assert_eq!(escalated[0].0, vec!["cto@example.com"]);
        let release = kit.get(&r.id).await;
        assert!(release.events.iter().any(|e| e.kind == "escalated"));
        // Nothing is scheduled past the approval deadline (14:00 the next day).
        assert!(
            kit.rec
                .scheduled
                .lock()
                .unwrap()
                .iter()
                .all(|(_, t)| *t < at("2026-03-11T14:00:00Z"))
        );
    }

    #[tokio::test]
    async fn given_a_decided_release_then_a_reminder_does_nothing() {
        let kit = Kit::new("2026-03-10T14:00:00Z");
        let r = kit
            .release_in("1.3.0", ReleaseType::Minor, ReleaseState::AwaitingWindow)
            .await;
        kit.set_now("2026-03-10T18:00:00Z");
        let out = invoke(
            &kit.deps,
            Gate::Approve,
            json!({"action": "remind", "release_id": r.id}),
        )
        .await
        .unwrap();
        assert_eq!(out["asked"], json!([]));
        assert!(kit.rec.sent.lock().unwrap().is_empty());
    }
}
