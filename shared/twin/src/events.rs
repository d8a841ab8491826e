//! EventBridge event patterns: which rules an event matches.
//! Supported: literal values in arrays, nested objects, and the content filters `prefix`,
//! `suffix`, `anything-but`, `exists`, `equals-ignore-case`; a pattern using another
//! filter matches nothing (and says so in the log).

use serde_json::Value;

/// Whether `event` matches `pattern`.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(key, expected)| {
        let actual = event.get(key);
        match expected {
            Value::Object(_) => actual.is_some_and(|a| matches(expected, a)),
            Value::Array(options) => options.iter().any(|o| matches_value(o, actual)),
            _ => false,
        }
    })
}

fn matches_value(option: &Value, actual: Option<&Value>) -> bool {
    if let Value::Object(filter) = option {
        return filter.iter().all(|(name, arg)| content(name, arg, actual));
    }
    match actual {
        Some(Value::Array(items)) => items.iter().any(|i| i == option),
        Some(value) => value == option,
        None => false,
    }
}

fn content(name: &str, arg: &Value, actual: Option<&Value>) -> bool {
    let text = actual.and_then(Value::as_str);
    match name {
        "exists" => arg.as_bool() == Some(actual.is_some()),
        "prefix" => text
            .zip(arg.as_str())
            .is_some_and(|(t, p)| t.starts_with(p)),
        "suffix" => text.zip(arg.as_str()).is_some_and(|(t, s)| t.ends_with(s)),
        "equals-ignore-case" => text
            .zip(arg.as_str())
            .is_some_and(|(t, s)| t.eq_ignore_ascii_case(s)),
        "anything-but" => match (arg, actual) {
            (_, None) => false,
            (Value::Array(values), Some(a)) => !values.contains(a),
            (Value::Object(_), Some(a)) => !arg
                .as_object()
                .is_some_and(|f| f.iter().all(|(n, v)| content(n, v, Some(a)))),
            (v, Some(a)) => v != a,
        },
        other => {
            tracing::warn!(
                filter = other,
                "event pattern filter not supported by the twin"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_an_alarm_state_change_when_matched_then_only_the_rule_of_its_alarm_matches() {
        let pattern = json!({
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "detail": {"alarmName": ["a", "b"], "state": {"value": ["ALARM"]}}
        });
        let event = |name: &str, state: &str| {
            json!({
                "source": "aws.cloudwatch",
                "detail-type": "CloudWatch Alarm State Change",
                "detail": {"alarmName": name, "state": {"value": state}}
            })
        };
        assert!(matches(&pattern, &event("a", "ALARM")));
        assert!(!matches(&pattern, &event("c", "ALARM")));
        assert!(!matches(&pattern, &event("b", "OK")));
    }

    #[test]
    fn given_content_filters_when_matched_then_prefix_anything_but_exists_and_numeric_apply() {
        let event = json!({"detail": {"name": "roleferry-api-5xx", "n": 3}});
        assert!(matches(
            &json!({"detail": {"name": [{"prefix": "roleferry-"}]}}),
            &event
        ));
        assert!(!matches(
            &json!({"detail": {"name": [{"anything-but": "roleferry-api-5xx"}]}}),
            &event
        ));
        assert!(matches(
            &json!({"detail": {"other": [{"exists": false}]}}),
            &event
        ));
        assert!(!matches(
            &json!({"detail": {"n": [{"numeric": [">", 1]}]}}),
            &event
        ));
    }
}
