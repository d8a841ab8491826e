//! The off-peak window (procedure §4: 03:00–05:00 UTC), freezes, and the fit rule: a
//! deploy may start only if the deploy, its checks and the monitoring hour end before the
//! window closes with the configured margin to spare, and touch no freeze.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::config::{Config, Freeze, WindowConfig};
use crate::model::{Release, ReleaseType};

/// How far ahead `next_start` looks before giving up.
const HORIZON_DAYS: i64 = 400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowSlot {
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    /// The last moment a deploy may start in this window (fit rule).
    pub last_start: DateTime<Utc>,
    /// Set when a freeze blocks the whole slot.
    pub frozen_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotNow {
    #[error("outside the window ({opens}–{closes} UTC)")]
    OutsideWindow { opens: String, closes: String },
    #[error(
        "too late in the window: a deploy must start by {last_start} to finish before it closes"
    )]
    DoesNotFit { last_start: DateTime<Utc> },
    #[error("frozen: {reason} (until {until})")]
    Frozen {
        reason: String,
        until: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BypassRefused {
    #[error("only hotfixes may bypass the window; this is a {0} release")]
    NotHotfix(ReleaseType),
    #[error("window bypass is turned off in the configuration")]
    Disabled,
    #[error("a window bypass needs a reason")]
    NoReason,
    #[error("{0} approved the release to wait for the window, not the bypass")]
    Declined(String),
}

pub struct WindowPolicy<'a> {
    window: &'a WindowConfig,
    /// How long a deploy occupies from its start: deploy + checks + monitoring + margin.
    occupies: Duration,
}

impl<'a> WindowPolicy<'a> {
    pub fn new(config: &'a Config) -> Self {
        Self {
            window: &config.window,
            occupies: Duration::minutes(
                config.release_minutes() + i64::from(config.window.margin_minutes),
            ),
        }
    }

    fn slot_on(&self, day: NaiveDate) -> WindowSlot {
        let opens = day.and_time(self.window.start).and_utc();
        let closes = day.and_time(self.window.end).and_utc();
        let last_start = closes - self.occupies;
        let frozen_by = self
            .window
            .freezes
            .iter()
            .find(|f| f.start <= opens && f.end >= closes)
            .map(|f| f.reason.clone());
        WindowSlot {
            opens,
            closes,
            last_start,
            frozen_by,
        }
    }

    fn freeze_overlapping(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<&Freeze> {
        self.window
            .freezes
            .iter()
            .find(|f| f.start < to && f.end > from)
    }

    /// Whether a deploy may start at `at`, and if not, why.
    pub fn may_start_at(&self, at: DateTime<Utc>) -> Result<(), NotNow> {
        let slot = self.slot_on(at.date_naive());
        if at < slot.opens || at >= slot.closes {
            return Err(NotNow::OutsideWindow {
                opens: self.window.start.format("%H:%M").to_string(),
                closes: self.window.end.format("%H:%M").to_string(),
            });
        }
        if at > slot.last_start {
            return Err(NotNow::DoesNotFit {
                last_start: slot.last_start,
            });
        }
        if let Some(freeze) = self.freeze_overlapping(at, at + self.occupies) {
            return Err(NotNow::Frozen {
                reason: freeze.reason.clone(),
                until: freeze.end,
            });
        }
        Ok(())
    }

    /// The earliest moment at or after `from` when a deploy may start.
    pub fn next_start(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first_day = from.date_naive();
        for offset in 0..HORIZON_DAYS {
            let slot = self.slot_on(first_day + Duration::days(offset));
            let mut candidate = from.max(slot.opens);
            while candidate <= slot.last_start {
                match self.freeze_overlapping(candidate, candidate + self.occupies) {
                    None => return Some(candidate),
                    Some(freeze) => candidate = freeze.end,
                }
            }
        }
        None
    }

    /// The reasons of the freezes in force at some point between `from` and `until`.
    pub fn freezes_between(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
        self.window
            .freezes
            .iter()
            .filter(|f| f.start < until && f.end > from)
            .map(|f| f.reason.clone())
            .collect()
    }

    /// The next `count` daily windows from `from` (the current one included if still open).
    pub fn upcoming(&self, from: DateTime<Utc>, count: usize) -> Vec<WindowSlot> {
        (0..)
            .map(|offset| self.slot_on(from.date_naive() + Duration::days(offset)))
            .filter(|slot| slot.closes > from)
            .take(count)
            .collect()
    }
}

/// The reason of a `Hotfix-Bypass: <reason>` trailer in a commit message: the push asks
/// for the window to be bypassed (allowed for hotfixes only, approved with the release,
/// and announced).
pub fn bypass_trailer(message: &str) -> Option<String> {
    message.lines().rev().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim().eq_ignore_ascii_case("hotfix-bypass") && !value.trim().is_empty())
            .then(|| value.trim().to_string())
    })
}

/// Whether `release` may skip the window, by configuration and by its stated reason.
pub fn bypass(config: &Config, release: &Release) -> Result<String, BypassRefused> {
    if release.release_type != ReleaseType::Hotfix {
        return Err(BypassRefused::NotHotfix(release.release_type));
    }
    if !config.window.hotfix_bypass {
        return Err(BypassRefused::Disabled);
    }
    // Approving a hotfix that asks for the bypass approves the bypass, unless the approver
    // chose to approve it for the window only.
    if let Some(declined) = release.approvals_granted().find(|a| a.without_bypass) {
        return Err(BypassRefused::Declined(declined.approver.clone()));
    }
    release
        .bypass_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .ok_or(BypassRefused::NoReason)
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_a_hotfix_bypass_trailer_when_read_then_it_asks_for_the_bypass_with_its_reason() {
        assert_eq!(
            super::bypass_trailer(
                "fix: SSO login\n\nHotfix-Bypass: SSO logins failing for all customers\n"
            ),
            Some("SSO logins failing for all customers".into())
        );
        assert_eq!(
            super::bypass_trailer("fix: SSO login\n\nHotfix-Bypass:   \n"),
            None
        );
        assert_eq!(super::bypass_trailer("fix: bypass the cache"), None);
    }

    use super::*;
    use crate::config::tests::example;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn config() -> Config {
        let mut c = example();
        c.window.freezes.clear();
        c
    }

    #[test]
    fn given_a_start_at_or_just_before_three_when_checked_then_the_window_opens_at_three() {
        let c = config();
        let p = WindowPolicy::new(&c);
        assert!(matches!(
            p.may_start_at(t("2026-03-10T02:59:59Z")),
            Err(NotNow::OutsideWindow { .. })
        ));
        assert_eq!(p.may_start_at(t("2026-03-10T03:00:00Z")), Ok(()));
    }

    #[test]
    fn given_a_start_too_late_to_fit_when_checked_then_the_fit_rule_stops_it() {
        // 15 min deploy + 60 min monitoring + 10 min margin: the last start is 03:35.
        let c = config();
        let p = WindowPolicy::new(&c);
        assert_eq!(p.may_start_at(t("2026-03-10T03:35:00Z")), Ok(()));
        assert!(matches!(
            p.may_start_at(t("2026-03-10T03:35:01Z")),
            Err(NotNow::DoesNotFit { .. })
        ));
        assert!(matches!(
            p.may_start_at(t("2026-03-10T04:50:00Z")),
            Err(NotNow::DoesNotFit { .. })
        ));
    }

    #[test]
    fn given_five_o_clock_when_a_start_is_checked_then_the_window_is_closed() {
        let c = config();
        let p = WindowPolicy::new(&c);
        assert!(matches!(
            p.may_start_at(t("2026-03-10T05:00:00Z")),
            Err(NotNow::OutsideWindow { .. })
        ));
    }

    #[test]
    fn given_a_time_after_the_last_start_when_the_next_start_is_asked_then_it_is_the_next_day() {
        let c = config();
        let p = WindowPolicy::new(&c);
        assert_eq!(
            p.next_start(t("2026-03-10T14:00:00Z")),
            Some(t("2026-03-11T03:00:00Z"))
        );
        assert_eq!(
            p.next_start(t("2026-03-10T04:50:00Z")),
            Some(t("2026-03-11T03:00:00Z"))
        );
        assert_eq!(
            p.next_start(t("2026-12-31T23:59:59Z")),
            Some(t("2027-01-01T03:00:00Z"))
        );
        assert_eq!(
            p.next_start(t("2026-03-10T03:20:00Z")),
            Some(t("2026-03-10T03:20:00Z"))
        );
        assert_eq!(
            p.next_start(t("2026-03-10T02:59:59Z")),
            Some(t("2026-03-10T03:00:00Z"))
        );
    }

    #[test]
    fn given_a_window_inside_a_freeze_when_starts_are_planned_then_it_is_skipped() {
        let mut c = config();
        c.window.freezes.push(Freeze {
            start: t("2026-03-10T00:00:00Z"),
            end: t("2026-03-12T00:00:00Z"),
            reason: "Launch week".into(),
        });
        let p = WindowPolicy::new(&c);
        assert!(matches!(
            p.may_start_at(t("2026-03-11T03:00:00Z")),
            Err(NotNow::Frozen { .. })
        ));
        assert_eq!(
            p.next_start(t("2026-03-10T01:00:00Z")),
            Some(t("2026-03-12T03:00:00Z"))
        );
        let slots = p.upcoming(t("2026-03-10T01:00:00Z"), 3);
        assert_eq!(slots[0].frozen_by.as_deref(), Some("Launch week"));
        assert_eq!(slots[2].frozen_by, None);
    }

    #[test]
    fn given_a_freeze_ending_mid_window_when_the_next_start_is_asked_then_it_is_when_it_ends() {
        let mut c = config();
        c.window.freezes.push(Freeze {
            start: t("2026-03-10T00:00:00Z"),
            end: t("2026-03-10T03:20:00Z"),
            reason: "Maintenance".into(),
        });
        let p = WindowPolicy::new(&c);
        assert_eq!(
            p.next_start(t("2026-03-10T01:00:00Z")),
            Some(t("2026-03-10T03:20:00Z"))
        );
    }

    #[test]
    fn given_a_time_in_an_open_window_when_upcoming_ones_are_listed_then_they_come_in_order() {
        let c = config();
        let p = WindowPolicy::new(&c);
        let slots = p.upcoming(t("2026-03-10T04:00:00Z"), 2);
        assert_eq!(slots[0].opens, t("2026-03-10T03:00:00Z"));
        assert_eq!(slots[0].last_start, t("2026-03-10T03:35:00Z"));
        assert_eq!(slots[1].opens, t("2026-03-11T03:00:00Z"));
    }
}
