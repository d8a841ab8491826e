//! Which state a release may move to from which, and the one function that moves it.
//!
//! Once the new version may be serving traffic (Deploying, HealthChecking, Monitoring) the
//! only ways out are forwards or through `RollingBack`: a live release never jumps
//! straight to `Failed`, so nothing can leave a bad version running unannounced.
//!
//! A release to an environment before production (staging) deploys first: it moves from
//! `Pending` to `AwaitingWindow`, and from `Monitoring` to `AwaitingApproval`, then to
//! `Succeeded` once its approvers (QA) approved. The gates allow those moves to such a
//! release only ([`crate::config::Config::stage`]).

#![warn(missing_docs)]

use chrono::{DateTime, Utc};

use crate::model::{AuditEvent, Release, ReleaseState};

use ReleaseState::*;

/// A move [`allowed`] refuses: [`Release::transition`] returns it and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release {release} cannot move from {from} to {to}")]
pub struct IllegalTransition {
    /// The release's id.
    pub release: String,
    /// The state the release is in.
    pub from: ReleaseState,
    /// The state asked for.
    pub to: ReleaseState,
}

/// Every allowed move.
pub fn allowed(from: ReleaseState, to: ReleaseState) -> bool {
    matches!(
        (from, to),
        (
            Pending,
            AwaitingApproval | AwaitingWindow | Expired | Failed | Superseded
        ) | (
            AwaitingApproval,
            AwaitingWindow | Rejected | Expired | Failed | Superseded | Succeeded
        ) | (AwaitingWindow, Deploying | Failed | Superseded)
            | (Deploying, HealthChecking | RollingBack)
            | (HealthChecking, Monitoring | RollingBack)
            | (Monitoring, Succeeded | RollingBack | AwaitingApproval)
            | (Succeeded, RollingBack)
            | (RollingBack, RolledBack | Failed)
    )
}

impl Release {
    /// Moves the release to `to` and records who did it and why. The store write that
    /// follows is conditional on the version read, so a racing writer loses loudly.
    pub fn transition(
        &mut self,
        to: ReleaseState,
        actor: &str,
        detail: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Result<(), IllegalTransition> {
        if !allowed(self.state, to) {
            return Err(IllegalTransition {
                release: self.id.to_string(),
                from: self.state,
                to,
            });
        }
        self.events.push(AuditEvent {
            at,
            actor: actor.to_string(),
            kind: crate::model::EventKind::Transition,
            from: Some(self.state),
            to: Some(to),
            detail: detail.into(),
        });
        self.state = to;
        self.updated_at = at;
        if to.is_terminal() {
            self.finished_at = Some(at);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Changelog, NewRelease, ReleaseType};

    fn release() -> Release {
        Release::open(
            NewRelease {
                service: "api".parse().unwrap(),
                version: "1.0.0".parse().unwrap(),
                commit: "abc1234".into(),
                author: "dev".into(),
                changelog: Changelog::default(),
                release_type: None,
                bypass_reason: None,
                contributors: Vec::new(),
                user_announcement: None,
            },
            ReleaseType::Minor,
            "repo:1.0.0".into(),
            DateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn given_a_pending_release_when_it_takes_the_happy_path_then_every_move_is_allowed() {
        let mut r = release();
        for to in [
            AwaitingApproval,
            AwaitingWindow,
            Deploying,
            HealthChecking,
            Monitoring,
            Succeeded,
        ] {
            r.transition(to, "test", "step", DateTime::UNIX_EPOCH)
                .unwrap();
        }
        assert_eq!(r.state, Succeeded);
        assert!(r.finished_at.is_some());
        assert_eq!(r.events.len(), 7);
    }

    #[test]
    fn given_a_staging_release_when_it_deploys_before_approval_then_every_move_is_allowed() {
        let mut r = release();
        for to in [
            AwaitingWindow,
            Deploying,
            HealthChecking,
            Monitoring,
            AwaitingApproval,
            Succeeded,
        ] {
            r.transition(to, "test", "step", DateTime::UNIX_EPOCH)
                .unwrap();
        }
        assert_eq!(r.state, Succeeded);
    }

    #[test]
    fn given_every_pair_of_states_when_checked_then_only_pairs_in_the_table_are_allowed() {
        let table = [
            (Pending, AwaitingApproval),
            (Pending, Failed),
            (Pending, Superseded),
            (Pending, Expired),
            (Pending, AwaitingWindow),
            (AwaitingApproval, Superseded),
            (AwaitingApproval, Succeeded),
            (AwaitingWindow, Superseded),
            (AwaitingApproval, AwaitingWindow),
            (AwaitingApproval, Rejected),
            (AwaitingApproval, Expired),
            (AwaitingApproval, Failed),
            (AwaitingWindow, Deploying),
            (AwaitingWindow, Failed),
            (Deploying, HealthChecking),
            (Deploying, RollingBack),
            (HealthChecking, Monitoring),
            (HealthChecking, RollingBack),
            (Monitoring, Succeeded),
            (Monitoring, RollingBack),
            (Monitoring, AwaitingApproval),
            (Succeeded, RollingBack),
            (RollingBack, RolledBack),
            (RollingBack, Failed),
        ];
        for from in ReleaseState::ALL {
            for to in ReleaseState::ALL {
                assert_eq!(
                    allowed(from, to),
                    table.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn given_a_live_release_when_it_fails_then_it_rolls_back_never_straight_to_failed() {
        for live in [Deploying, HealthChecking, Monitoring] {
            assert!(!allowed(live, Failed));
            assert!(allowed(live, RollingBack));
        }
    }

    #[test]
    fn given_a_terminal_state_when_leaving_then_only_a_succeeded_release_may_roll_back() {
        for from in ReleaseState::ALL.into_iter().filter(|s| s.is_terminal()) {
            let exits: Vec<_> = ReleaseState::ALL
                .into_iter()
                .filter(|to| allowed(from, *to))
                .collect();
            if from == Succeeded {
                assert_eq!(exits, vec![RollingBack]);
            } else {
                assert!(exits.is_empty(), "{from} has exits {exits:?}");
            }
        }
    }

    #[test]
    fn given_an_illegal_move_when_attempted_then_it_is_refused_and_changes_nothing() {
        let mut r = release();
        let before = r.clone();
        let err = r
            .transition(Deploying, "test", "skip approval", DateTime::UNIX_EPOCH)
            .unwrap_err();
        assert_eq!(err.from, Pending);
        assert_eq!(r, before);
    }
}
