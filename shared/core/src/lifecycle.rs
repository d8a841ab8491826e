//! Which state a release may move to from which, and the one function that moves it.
//!
//! Once the new version may be serving traffic (Deploying, HealthChecking, Monitoring) the
//! only ways out are forwards or through `RollingBack`: a live release never jumps
//! straight to `Failed`, so nothing can leave a bad version running unannounced.

use chrono::{DateTime, Utc};

use crate::model::{AuditEvent, Release, ReleaseState};

use ReleaseState::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release {release} cannot move from {from} to {to}")]
pub struct IllegalTransition {
    pub release: String,
    pub from: ReleaseState,
    pub to: ReleaseState,
}

/// Every allowed move.
pub fn allowed(from: ReleaseState, to: ReleaseState) -> bool {
    matches!(
        (from, to),
        (Pending, AwaitingApproval | Failed | Superseded)
            | (
                AwaitingApproval,
                AwaitingWindow | Rejected | Expired | Failed | Superseded
            )
            | (AwaitingWindow, Deploying | Failed | Superseded)
            | (Deploying, HealthChecking | RollingBack)
            | (HealthChecking, Monitoring | RollingBack)
            | (Monitoring, Succeeded | RollingBack)
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
            },
            ReleaseType::Minor,
            "repo:1.0.0".into(),
            DateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn the_happy_path_is_allowed() {
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
    fn every_pair_outside_the_table_is_refused() {
        let table = [
            (Pending, AwaitingApproval),
            (Pending, Failed),
            (Pending, Superseded),
            (AwaitingApproval, Superseded),
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
    fn a_live_release_never_fails_without_rolling_back() {
        for live in [Deploying, HealthChecking, Monitoring] {
            assert!(!allowed(live, Failed));
            assert!(allowed(live, RollingBack));
        }
    }

    #[test]
    fn terminal_states_have_no_way_out_but_a_manual_rollback() {
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
    fn an_illegal_move_changes_nothing() {
        let mut r = release();
        let before = r.clone();
        let err = r
            .transition(Deploying, "test", "skip approval", DateTime::UNIX_EPOCH)
            .unwrap_err();
        assert_eq!(err.from, Pending);
        assert_eq!(r, before);
    }
}
