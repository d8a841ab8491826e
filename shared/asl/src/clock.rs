//! Time source for the engine.
//!
//! The engine never reads the system time nor sleeps: every timestamp (history events,
//! `$$.State.EnteredTime`, Wait and retry deadlines) comes from a [`Clock`]. Production uses
//! [`WallClock`]; tests and `asl run` use [`VirtualClock`], which only moves when told, so an
//! hour-long Wait loop runs in milliseconds.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Where the engine gets "now" from.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The real system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when [`VirtualClock::set`] or [`VirtualClock::advance`] is called.
/// Cloning shares the same underlying time.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl VirtualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock to `t` (may go backwards; the engine does not rely on monotonicity).
    pub fn set(&self, t: DateTime<Utc>) {
        let mut guard = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *guard = t;
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut guard = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *guard += d;
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_virtual_clock_when_advanced_then_clones_see_new_time() {
        let start = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = VirtualClock::new(start);
        let other = clock.clone();
        clock.advance(Duration::seconds(90));
        assert_eq!(other.now(), start + Duration::seconds(90));
        other.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn given_wall_clock_when_read_then_close_to_system_time() {
        let d = WallClock.now() - Utc::now();
        assert!(d.num_seconds().abs() < 5);
    }
}
