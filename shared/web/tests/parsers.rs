//! What arrives from outside — a GitHub push, a Slack interaction, their signature
//! headers — may be anything. Arbitrary bytes and strings, and the real payloads with
//! parts replaced by arbitrary JSON, never make a parser panic, and what is not a payload
//! is refused with an error.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::Value;
use shipgate_core::commits::{conventional, derive};
use shipgate_core::policy::window::bypass_trailer;
use shipgate_web::github::Push;
use shipgate_web::signature::{github_signature, slack_signature, verify_github, verify_slack};
use shipgate_web::slack::parse_interaction;

const PUSH: &str = include_str!("../../../tests/fixtures/github/push-main.json");
const SLACK: &str = include_str!("../../../tests/fixtures/slack-block-actions.json");

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path (object keys and array indexes) in `value`.
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(PathStep::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// `document` with the part at one of its paths (chosen by `which`) replaced by `with`.
fn replaced(document: &str, which: prop::sample::Index, with: Value) -> Value {
    let mut value: Value = serde_json::from_str(document).unwrap_or(Value::Null);
    let mut all = Vec::new();
    paths(&value, &mut Vec::new(), &mut all);
    let path = &all[which.index(all.len())];
    let mut at = &mut value;
    for step in path {
        at = match step {
            PathStep::Key(key) => &mut at[key.as_str()],
            PathStep::Index(i) => &mut at[*i],
        };
    }
    *at = with;
    value
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

#[test]
fn given_real_github_and_slack_payloads_when_parsed_then_they_parse() {
    let push: Push = serde_json::from_str(PUSH).unwrap();
    assert_eq!(push.repository.full_name, "roleferry/roleferry-api");
    let body = serde_urlencoded::to_string([("payload", SLACK)]).unwrap();
    let interaction = parse_interaction(body.as_bytes()).unwrap();
    assert_eq!(interaction.kind, "block_actions");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn given_arbitrary_bytes_when_parsed_then_they_are_not_a_push(
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        prop_assert!(serde_json::from_slice::<Push>(&body).is_err());
    }

    #[test]
    fn given_arbitrary_json_when_parsed_then_it_is_not_a_push(value in json()) {
        // A push needs `ref` and `repository.full_name`; arbitrary keys never give both.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        prop_assert!(serde_json::from_slice::<Push>(&bytes).is_err());
    }

    #[test]
    fn given_a_push_with_any_part_replaced_when_read_then_parsed_or_refused_without_panic(
        which in any::<prop::sample::Index>(),
        with in json(),
    ) {
        let body = serde_json::to_vec(&replaced(PUSH, which, with)).unwrap_or_default();
        if let Ok(push) = serde_json::from_slice::<Push>(&body) {
            let messages: Vec<&str> = push.commits.iter().map(|c| c.message.as_str()).collect();
            let _ = derive(messages.iter().copied());
            for message in messages {
                let _ = bypass_trailer(message);
            }
        }
    }

    #[test]
    fn given_any_commit_message_when_read_then_nothing_panics(message in any::<String>()) {
        let read = conventional(&message);
        if let Some(c) = &read {
            prop_assert!(!c.kind.is_empty() && !c.description.is_empty());
            prop_assert!(message.contains(':'));
        }
        let _ = derive([message.as_str()]);
        if let Some(reason) = bypass_trailer(&message) {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn given_arbitrary_bytes_when_parsed_then_they_are_not_an_interaction(
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        prop_assert!(parse_interaction(&body).is_err());
    }

    #[test]
    fn given_an_arbitrary_payload_field_when_parsed_then_it_is_refused(payload in any::<String>()) {
        let body = serde_urlencoded::to_string([("payload", payload)]).unwrap_or_default();
        prop_assert!(parse_interaction(body.as_bytes()).is_err());
    }

    #[test]
    fn given_an_interaction_with_any_part_replaced_when_read_then_parsed_or_refused_without_panic(
        which in any::<prop::sample::Index>(),
        with in json(),
    ) {
        let payload = serde_json::to_string(&replaced(SLACK, which, with)).unwrap_or_default();
        let body = serde_urlencoded::to_string([("payload", payload)]).unwrap_or_default();
        let _ = parse_interaction(body.as_bytes());
    }

    #[test]
    fn given_arbitrary_signature_headers_when_verified_then_they_are_refused(
        body in prop::collection::vec(any::<u8>(), 0..256),
        header in any::<String>(),
        timestamp in any::<String>(),
        seconds in any::<i64>(),
        now in -10_000_000_000i64..10_000_000_000,
    ) {
        prop_assert!(verify_github(b"secret", &body, Some(&header)).is_err());
        prop_assert!(verify_github(b"secret", &body, None).is_err());
        let signature = slack_signature(b"secret", &timestamp, &body);
        prop_assert!(verify_slack(b"secret", Some(&timestamp), &body, Some(&header), at(now)).is_err());
        // Any timestamp, however far from now, is refused without overflowing.
        let far = seconds.to_string();
        let signed = slack_signature(b"secret", &far, &body);
        let outcome = verify_slack(b"secret", Some(&far), &body, Some(&signed), at(now));
        prop_assert_eq!(outcome.is_ok(), now.abs_diff(seconds) <= 300);
        let _ = verify_slack(b"secret", Some(&timestamp), &body, Some(&signature), at(now));
        // A body signed for GitHub passes only with its own signature.
        let good = github_signature(b"secret", &body);
        prop_assert!(verify_github(b"secret", &body, Some(&good)).is_ok());
        prop_assert!(verify_github(b"other", &body, Some(&good)).is_err());
    }
}
