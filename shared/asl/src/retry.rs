//! Retry policy: a pure function from a retrier and an attempt number to a delay.
//!
//! Delay of retry `attempt` (1-based) = `IntervalSeconds × BackoffRate^(attempt-1)`, capped
//! by `MaxDelaySeconds`; with `JitterStrategy: FULL` a uniform value in `[0, delay)` drawn
//! from the execution's seeded RNG, so runs are repeatable.

use crate::definition::Retrier;
use crate::intrinsics::Rng;

/// Default `IntervalSeconds`.
pub(crate) const DEFAULT_INTERVAL_SECONDS: f64 = 1.0;
/// Default `MaxAttempts`.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default `BackoffRate`.
pub(crate) const DEFAULT_BACKOFF_RATE: f64 = 2.0;

/// The delay in milliseconds before retry number `attempt` (1-based), or `None` when the
/// retrier is exhausted (`attempt > MaxAttempts`).
pub(crate) fn next_delay(retrier: &Retrier, attempt: u32, rng: &mut Rng) -> Option<u64> {
    let max = retrier.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if attempt == 0 || attempt > max {
        return None;
    }
    let interval = retrier.interval_seconds.unwrap_or(DEFAULT_INTERVAL_SECONDS);
    let rate = retrier.backoff_rate.unwrap_or(DEFAULT_BACKOFF_RATE);
    let exp = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
    let mut secs = interval * rate.powi(exp);
    if let Some(cap) = retrier.max_delay_seconds {
        secs = secs.min(cap);
    }
    if retrier.jitter_strategy.as_deref() == Some("FULL") {
        secs *= rng.next_f64();
    }
    if !secs.is_finite() || secs < 0.0 {
        secs = 0.0;
    }
    Some((secs * 1000.0).round().min(u64::MAX as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retrier(json: &str) -> Retrier {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn given_defaults_when_retrying_then_1_2_4_seconds_then_exhausted() {
        let r = retrier(r#"{"ErrorEquals":["States.ALL"]}"#);
        let mut rng = Rng(0);
        let d: Vec<_> = (1..=4).map(|a| next_delay(&r, a, &mut rng)).collect();
        assert_eq!(d, vec![Some(1000), Some(2000), Some(4000), None]);
    }

    #[test]
    fn given_max_attempts_zero_when_retrying_then_never() {
        let r = retrier(r#"{"ErrorEquals":["X"],"MaxAttempts":0}"#);
        assert_eq!(next_delay(&r, 1, &mut Rng(0)), None);
    }

    #[test]
    fn given_max_delay_when_retrying_then_capped() {
        let r = retrier(
            r#"{"ErrorEquals":["X"],"IntervalSeconds":3,"BackoffRate":10,"MaxAttempts":5,"MaxDelaySeconds":100}"#,
        );
        let mut rng = Rng(0);
        assert_eq!(next_delay(&r, 3, &mut rng), Some(100_000));
    }

    #[test]
    fn given_full_jitter_when_seeded_then_deterministic_and_bounded() {
        let r = retrier(r#"{"ErrorEquals":["X"],"IntervalSeconds":10,"JitterStrategy":"FULL"}"#);
        let a = next_delay(&r, 2, &mut Rng(42)).unwrap();
        let b = next_delay(&r, 2, &mut Rng(42)).unwrap();
        assert_eq!(a, b);
        assert!(a < 20_000);
    }
}
