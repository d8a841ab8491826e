//! AWS Step Functions quotas for Standard workflows, and the arithmetic that respects them.
//!
//! These are hard limits of the service, not tuning knobs, so they are constants:
//! - an execution's history holds at most [`MAX_HISTORY_EVENTS`] events; event number
//!   25,000 must be `ExecutionSucceeded`, otherwise it is an `ExecutionFailed` with
//!   `States.Runtime` ([`history_limit_cause`]). This is what ends a Catch that loops to its
//!   own state, or a retrier with a huge `MaxAttempts`, instead of letting them run forever;
//! - inputs and outputs of a task, state or execution are at most [`MAX_PAYLOAD_BYTES`] of
//!   UTF-8 JSON (`States.DataLimitExceeded`, or a refused `StartExecution`);
//! - a Wait state's `Seconds` is an integer up to [`MAX_WAIT_SECONDS`], and an execution
//!   lasts at most [`MAX_EXECUTION_DURATION_SECONDS`] (one year), after which it times out.
//!
//! Every clock computation from definition or input values goes through [`after_seconds`]
//! or [`after_millis`], which saturate at [`far_future`] instead of overflowing `chrono`
//! (whose `+` panics out of range): `Seconds: 1e18` or a huge `SecondsPath` must not crash
//! the engine.

use std::io;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// Events in one execution's history, the terminal event included.
pub const MAX_HISTORY_EVENTS: u64 = 25_000;

/// Bytes of a payload (compact JSON, UTF-8): 256 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 262_144;

/// The largest `Seconds` a Wait state accepts (about 3.17 years; the execution itself times
/// out after a year).
pub(crate) const MAX_WAIT_SECONDS: u64 = 99_999_999;

/// How long a Standard execution may run: one year (365 days).
pub(crate) const MAX_EXECUTION_DURATION_SECONDS: i64 = 365 * 24 * 60 * 60;

/// The `ExecutionFailed` cause AWS gives when the history is full.
pub fn history_limit_cause() -> String {
    format!("The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS}).")
}

/// The latest instant the engine computes: 9999-12-31T23:59:59.999Z. Anything later means
/// "never" for a timer, and stays representable in every format the stores use.
pub(crate) fn far_future() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(253_402_300_799_999).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t` plus `ms` milliseconds, saturating at [`far_future`]; negative, NaN or infinite
/// amounts count as zero.
pub(crate) fn after_millis(t: DateTime<Utc>, ms: f64) -> DateTime<Utc> {
    if !ms.is_finite() || ms <= 0.0 {
        return t;
    }
    let end = far_future();
    if t >= end {
        return end;
    }
    let room = (end - t).num_milliseconds();
    // `room` is well below 2^53, so the comparison in f64 is exact enough.
    if ms >= room as f64 {
        return end;
    }
    t.checked_add_signed(Duration::milliseconds(ms as i64))
        .unwrap_or(end)
        .min(end)
}

/// `t` plus `seconds`, saturating like [`after_millis`].
pub(crate) fn after_seconds(t: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    after_millis(t, seconds * 1000.0)
}

/// The instant a Standard execution started at `start` times out at the latest.
pub(crate) fn execution_end(start: DateTime<Utc>) -> DateTime<Utc> {
    after_seconds(start, MAX_EXECUTION_DURATION_SECONDS as f64)
}

/// The size of `v` as compact JSON, counting at most up to `MAX_PAYLOAD_BYTES + 1`: the
/// serialisation stops as soon as the limit is passed, so measuring a huge value costs no
/// more than the limit.
pub(crate) fn payload_size(v: &Value) -> usize {
    let mut counter = Counter { bytes: 0 };
    // An error here is the counter refusing more bytes: the value is over the limit.
    let _ = serde_json::to_writer(&mut counter, v);
    counter.bytes.min(MAX_PAYLOAD_BYTES + 1)
}

/// Whether `v` is over the payload quota.
pub(crate) fn exceeds_payload_limit(v: &Value) -> bool {
    payload_size(v) > MAX_PAYLOAD_BYTES
}

/// Counts written bytes and fails once past the payload limit.
struct Counter {
    bytes: usize,
}

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes = self.bytes.saturating_add(buf.len());
        if self.bytes > MAX_PAYLOAD_BYTES {
            return Err(io::Error::other("over the payload limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn given_payload_at_and_over_limit_when_measured_then_utf8_bytes_counted() {
        // A JSON string of n ASCII chars serialises to n + 2 bytes (the quotes).
        let at = json!("x".repeat(MAX_PAYLOAD_BYTES - 2));
        assert_eq!(payload_size(&at), MAX_PAYLOAD_BYTES);
        assert!(!exceeds_payload_limit(&at));
        assert!(exceeds_payload_limit(&json!(
            "x".repeat(MAX_PAYLOAD_BYTES - 1)
        )));
        // "é" is two bytes in UTF-8: half as many characters reach the limit.
        let wide = json!("é".repeat(MAX_PAYLOAD_BYTES / 2));
        assert!(exceeds_payload_limit(&wide));
        assert_eq!(payload_size(&json!({"a": [1, 2]})), 11); // {"a":[1,2]}
    }

    #[test]
    fn given_huge_or_bad_amounts_when_added_then_saturate_without_panic() {
        assert_eq!(after_seconds(t0(), 1e18), far_future());
        assert_eq!(after_seconds(t0(), f64::INFINITY), t0());
        assert_eq!(after_seconds(t0(), f64::NAN), t0());
        assert_eq!(after_seconds(t0(), -5.0), t0());
        assert_eq!(after_millis(far_future(), 1.0), far_future());
        assert_eq!(after_millis(DateTime::<Utc>::MAX_UTC, 1.0), far_future());
        assert_eq!(
            after_seconds(t0(), 1.5),
            t0() + Duration::milliseconds(1500)
        );
        assert_eq!(
            execution_end(t0()) - t0(),
            Duration::days(365),
            "one year of 365 days"
        );
    }

    #[test]
    fn given_history_limit_then_cause_names_it() {
        assert_eq!(
            history_limit_cause(),
            "The execution reached the maximum number of history events (25000)."
        );
    }
}
