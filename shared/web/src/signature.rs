//! Request signatures: GitHub's `X-Hub-Signature-256` and Slack's `X-Slack-Signature`
//! (v0), both HMAC-SHA256, compared in constant time. Slack's also carries a timestamp,
//! refused when it is more than five minutes away from now (a replayed request).

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a Slack request's timestamp may be from now.
pub const SLACK_MAX_AGE_SECONDS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is not signed ({0} is missing)")]
    Missing(&'static str),
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error(
        "the request timestamp is {0} s away from now (more than 5 minutes): refused as a replay"
    )]
    Stale(i64),
}

fn mac(secret: &[u8]) -> HmacSha256 {
    match <HmacSha256 as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// Whether `given` equals `expected`, in time that does not depend on where they differ
/// (both are reduced to MACs under a fixed key, compared in constant time).
pub fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    const KEY: &[u8] = b"shipgate secret comparison";
    let mut reference = mac(KEY);
    reference.update(expected);
    let reference = reference.finalize().into_bytes();
    let mut candidate = mac(KEY);
    candidate.update(given);
    candidate.verify_slice(&reference).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `sha256=<hex>` of `body` under `secret`, as GitHub sends it.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Checks GitHub's `X-Hub-Signature-256` header against `body`.
pub fn verify_github(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing("X-Hub-Signature-256"))?;
    let tag = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(unhex)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

/// `v0=<hex>` of `v0:{timestamp}:{body}` under `secret`, as Slack sends it.
pub fn slack_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex(&mac.finalize().into_bytes()))
}

/// Checks Slack's `X-Slack-Signature` and `X-Slack-Request-Timestamp` headers at `now`.
pub fn verify_slack(
    secret: &[u8],
    timestamp: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    let age = now.timestamp().saturating_sub(seconds);
    if age.unsigned_abs() > SLACK_MAX_AGE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale(age));
    }
    let tag = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(unhex)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = mac(secret);
    mac.update(format!("v0:{}:", timestamp.trim()).as_bytes());
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// GitHub's published example ("Validating webhook deliveries").
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_BODY: &str = "Hello, World!";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    /// Slack's published example ("Verifying requests from Slack"), signed in 2018.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TIMESTAMP: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn given_githubs_published_vector_then_the_signature_matches_and_alterations_do_not() {
        {
            let secret = GITHUB_SECRET.as_bytes();
            let body = GITHUB_BODY.as_bytes();
            let expected = GITHUB_SIGNATURE;
            assert_eq!(github_signature(secret, body), expected);
            assert_eq!(verify_github(secret, body, Some(expected)), Ok(()));
            assert_eq!(
                verify_github(secret, b"Hello, World?", Some(expected)),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                verify_github(b"wrong secret", body, Some(expected)),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                verify_github(secret, body, None),
                Err(SignatureError::Missing("X-Hub-Signature-256"))
            );
            assert_eq!(
                verify_github(secret, body, Some("sha1=abc")),
                Err(SignatureError::Malformed)
            );
        }
    }

    #[test]
    fn given_slacks_published_vector_at_its_own_time_then_it_matches_and_is_stale_later() {
        {
            let secret = SLACK_SECRET.as_bytes();
            let ts = SLACK_TIMESTAMP;
            let body = SLACK_BODY.as_bytes();
            let expected = SLACK_SIGNATURE;
            let then: i64 = ts.parse().unwrap();
            assert_eq!(slack_signature(secret, ts, body), expected);
            assert_eq!(
                verify_slack(secret, Some(ts), body, Some(expected), at(then + 299)),
                Ok(())
            );
            assert_eq!(
                verify_slack(secret, Some(ts), body, Some(expected), at(then + 301)),
                Err(SignatureError::Stale(301))
            );
            let mut tampered = body.to_vec();
            tampered[0] ^= 1;
            assert_eq!(
                verify_slack(secret, Some(ts), &tampered, Some(expected), at(then)),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                verify_slack(b"wrong", Some(ts), body, Some(expected), at(then)),
                Err(SignatureError::Mismatch)
            );
            // The timestamp is signed too: moving it breaks the signature.
            let moved = (then + 1).to_string();
            assert_eq!(
                verify_slack(secret, Some(&moved), body, Some(expected), at(then)),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn given_a_real_push_payload_then_its_signature_round_trips_and_a_flipped_byte_fails() {
        let body = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/github/push-main.json"),
        )
        .unwrap();
        let sig = github_signature(b"s3cret", &body);
        assert_eq!(verify_github(b"s3cret", &body, Some(&sig)), Ok(()));
        let mut tampered = body.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 0x20;
        assert_eq!(
            verify_github(b"s3cret", &tampered, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }
}
