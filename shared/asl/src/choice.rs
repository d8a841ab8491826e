//! Choice rules: parsed from JSON into a [`Rule`] tree, evaluated against the state input.
//!
//! Comparison operators come in literal and `…Path` forms; a type mismatch makes a
//! comparison false (AWS); a missing `Variable` is a `States.Runtime` error except under
//! `IsPresent`.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::errors::{RUNTIME, StateError};
use crate::path::{Path, PathError};

/// Comparison kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub(crate) enum Op {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

impl Op {
    /// Whether AWS accepts a `…Path` operand for this operator.
    pub(crate) fn has_path_form(self) -> bool {
        use Op::*;
        !matches!(
            self,
            StringMatches | IsNull | IsPresent | IsNumeric | IsString | IsBoolean | IsTimestamp
        )
    }
}

const OPS: &[(&str, Op)] = &[
    ("StringEquals", Op::StringEquals),
    ("StringLessThan", Op::StringLessThan),
    ("StringGreaterThan", Op::StringGreaterThan),
    ("StringLessThanEquals", Op::StringLessThanEquals),
    ("StringGreaterThanEquals", Op::StringGreaterThanEquals),
    ("StringMatches", Op::StringMatches),
    ("NumericEquals", Op::NumericEquals),
    ("NumericLessThan", Op::NumericLessThan),
    ("NumericGreaterThan", Op::NumericGreaterThan),
    ("NumericLessThanEquals", Op::NumericLessThanEquals),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals),
    ("BooleanEquals", Op::BooleanEquals),
    ("TimestampEquals", Op::TimestampEquals),
    ("TimestampLessThan", Op::TimestampLessThan),
    ("TimestampGreaterThan", Op::TimestampGreaterThan),
    ("TimestampLessThanEquals", Op::TimestampLessThanEquals),
    ("TimestampGreaterThanEquals", Op::TimestampGreaterThanEquals),
    ("IsNull", Op::IsNull),
    ("IsPresent", Op::IsPresent),
    ("IsNumeric", Op::IsNumeric),
    ("IsString", Op::IsString),
    ("IsBoolean", Op::IsBoolean),
    ("IsTimestamp", Op::IsTimestamp),
];

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A literal.
    Literal(Value),
    /// A `…Path` operand.
    Path(Path),
}

/// A boolean rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    /// All must hold.
    And(Vec<Rule>),
    /// One must hold.
    Or(Vec<Rule>),
    /// Negation.
    Not(Box<Rule>),
    /// `Variable` op operand.
    Compare {
        /// The variable path.
        variable: Path,
        /// The operator.
        op: Op,
        /// The operand.
        operand: Operand,
    },
}

/// A top-level rule with its `Next`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChoiceRule {
    /// The condition.
    pub rule: Rule,
    /// Where to go when it holds.
    pub next: String,
}

/// Why a choice rule could not be parsed; shown as a validation finding, or as the cause of
/// a `States.Runtime` error if the executor meets it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChoiceError {
    /// A top-level rule has no string `Next`.
    #[error("a choice rule needs a string 'Next'")]
    MissingNext,
    /// A rule is not a JSON object.
    #[error("a choice rule must be an object")]
    NotAnObject,
    /// `And` is not an array of rules.
    #[error("'And' must be an array")]
    AndNotArray,
    /// `Or` is not an array of rules.
    #[error("'Or' must be an array")]
    OrNotArray,
    /// A comparison has no string `Variable`.
    #[error("a comparison needs a string 'Variable'")]
    MissingVariable,
    /// `Variable` or a `…Path` operand is a malformed path.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A key that is no comparison operator (e.g. `StringMatchesPath`); holds the key.
    #[error("unknown comparison operator '{0}'")]
    UnknownOperator(String),
    /// A `…Path` operand is not a string; holds the key.
    #[error("'{0}' must be a path string")]
    OperandNotPath(String),
    /// A literal operand of the wrong JSON type for its operator; holds the key.
    #[error("'{0}': wrong operand type")]
    WrongOperandType(String),
    /// A comparison has a `Variable` but no operator.
    #[error("a comparison needs an operator")]
    MissingOperator,
}

/// Parses a top-level choice rule (must have `Next`).
pub(crate) fn parse_choice(v: &Value) -> Result<ChoiceRule, ChoiceError> {
    let next = v
        .get("Next")
        .and_then(Value::as_str)
        .ok_or(ChoiceError::MissingNext)?;
    Ok(ChoiceRule {
        rule: parse_rule(v)?,
        next: next.to_string(),
    })
}

/// Parses a (possibly nested) rule.
pub(crate) fn parse_rule(v: &Value) -> Result<Rule, ChoiceError> {
    let m = v.as_object().ok_or(ChoiceError::NotAnObject)?;
    if let Some(a) = m.get("And") {
        let items = a.as_array().ok_or(ChoiceError::AndNotArray)?;
        return items
            .iter()
            .map(parse_rule)
            .collect::<Result<_, _>>()
            .map(Rule::And);
    }
    if let Some(a) = m.get("Or") {
        let items = a.as_array().ok_or(ChoiceError::OrNotArray)?;
        return items
            .iter()
            .map(parse_rule)
            .collect::<Result<_, _>>()
            .map(Rule::Or);
    }
    if let Some(n) = m.get("Not") {
        return Ok(Rule::Not(Box::new(parse_rule(n)?)));
    }
    let var = m
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or(ChoiceError::MissingVariable)?;
    let variable = Path::parse(var)?;
    for (k, val) in m {
        if matches!(k.as_str(), "Variable" | "Next" | "Comment") {
            continue;
        }
        // Only the comparisons have `…Path` forms: AWS has no `StringMatchesPath` nor
        // `IsNullPath` and the like.
        let (name, is_path) = match k.strip_suffix("Path") {
            Some(base) if OPS.iter().any(|(n, op)| *n == base && op.has_path_form()) => {
                (base, true)
            }
            _ => (k.as_str(), false),
        };
        let Some((_, op)) = OPS.iter().find(|(n, _)| *n == name) else {
            return Err(ChoiceError::UnknownOperator(k.clone()));
        };
        let operand = if is_path {
            let p = val
                .as_str()
                .ok_or_else(|| ChoiceError::OperandNotPath(k.clone()))?;
            Operand::Path(Path::parse(p)?)
        } else {
            if !literal_fits(*op, val) {
                return Err(ChoiceError::WrongOperandType(k.clone()));
            }
            Operand::Literal(val.clone())
        };
        return Ok(Rule::Compare {
            variable,
            op: *op,
            operand,
        });
    }
    Err(ChoiceError::MissingOperator)
}

/// Whether `v` is a literal of the JSON type `op` compares with.
fn literal_fits(op: Op, v: &Value) -> bool {
    use Op::*;
    match op {
        StringEquals
        | StringLessThan
        | StringGreaterThan
        | StringLessThanEquals
        | StringGreaterThanEquals
        | StringMatches => v.is_string(),
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => v.is_number(),
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => v.as_str().is_some_and(|s| timestamp(s).is_some()),
        BooleanEquals | IsNull | IsPresent | IsNumeric | IsString | IsBoolean | IsTimestamp => {
            v.is_boolean()
        }
    }
}

/// Parses a States Language timestamp: RFC 3339 with the further restrictions that an
/// uppercase `T` separates date and time and an uppercase `Z` stands for a zero offset
/// (chrono alone also takes `t`, a space and `z`, which AWS does not).
pub(crate) fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.as_bytes().get(10) != Some(&b'T') || s.ends_with('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
pub(crate) fn string_matches(s: &str, pattern: &str) -> bool {
    enum P {
        Star,
        Ch(char),
    }
    let mut pat = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => pat.push(P::Ch(it.next().unwrap_or('\\'))),
            '*' => pat.push(P::Star),
            c => pat.push(P::Ch(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // classic wildcard DP
    let mut dp = vec![false; s.len() + 1];
    dp[0] = true;
    for p in &pat {
        match p {
            P::Star => {
                for i in 1..=s.len() {
                    dp[i] = dp[i] || dp[i - 1];
                }
            }
            P::Ch(c) => {
                for i in (1..=s.len()).rev() {
                    dp[i] = dp[i - 1] && s[i - 1] == *c;
                }
                dp[0] = false;
            }
        }
    }
    dp[s.len()]
}

/// Evaluates a rule on `input`.
pub(crate) fn evaluate(rule: &Rule, input: &Value, context: &Value) -> Result<bool, StateError> {
    match rule {
        Rule::And(rs) => {
            for r in rs {
                if !evaluate(r, input, context)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Rule::Or(rs) => {
            for r in rs {
                if evaluate(r, input, context)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Rule::Not(r) => Ok(!evaluate(r, input, context)?),
        Rule::Compare {
            variable,
            op,
            operand,
        } => {
            let doc = if variable.is_context() {
                context
            } else {
                input
            };
            let value = variable.select(doc);
            if *op == Op::IsPresent {
                let present = value.is_some();
                return Ok(Some(&Value::Bool(present)) == literal(operand));
            }
            let Some(value) = value else {
                return Err(StateError::new(
                    RUNTIME,
                    format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        variable.raw()
                    ),
                ));
            };
            let rhs = match operand {
                Operand::Literal(v) => v.clone(),
                Operand::Path(p) => {
                    let d = if p.is_context() { context } else { input };
                    p.select(d).ok_or_else(|| {
                        StateError::new(
                            RUNTIME,
                            format!(
                                "Invalid path '{}': The choice state's condition path references an invalid value.",
                                p.raw()
                            ),
                        )
                    })?
                }
            };
            Ok(compare(*op, &value, &rhs))
        }
    }
}

fn literal(o: &Operand) -> Option<&Value> {
    match o {
        Operand::Literal(v) => Some(v),
        Operand::Path(_) => None,
    }
}

fn compare(op: Op, a: &Value, b: &Value) -> bool {
    use Op::*;
    use std::cmp::Ordering;
    let ord = |o: Option<Ordering>, want: &[Ordering]| o.is_some_and(|o| want.contains(&o));
    let str_cmp = || match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => Some(x.cmp(y)),
        _ => None,
    };
    let num_cmp = || match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x.partial_cmp(&y),
        _ => None,
    };
    let ts_cmp = || match (
        a.as_str().and_then(timestamp),
        b.as_str().and_then(timestamp),
    ) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => None,
    };
    let flag = b.as_bool().unwrap_or(true);
    match op {
        StringEquals => ord(str_cmp(), &[Ordering::Equal]),
        StringLessThan => ord(str_cmp(), &[Ordering::Less]),
        StringGreaterThan => ord(str_cmp(), &[Ordering::Greater]),
        StringLessThanEquals => ord(str_cmp(), &[Ordering::Less, Ordering::Equal]),
        StringGreaterThanEquals => ord(str_cmp(), &[Ordering::Greater, Ordering::Equal]),
        StringMatches => match (a.as_str(), b.as_str()) {
            (Some(x), Some(p)) => string_matches(x, p),
            _ => false,
        },
        NumericEquals => ord(num_cmp(), &[Ordering::Equal]),
        NumericLessThan => ord(num_cmp(), &[Ordering::Less]),
        NumericGreaterThan => ord(num_cmp(), &[Ordering::Greater]),
        NumericLessThanEquals => ord(num_cmp(), &[Ordering::Less, Ordering::Equal]),
        NumericGreaterThanEquals => ord(num_cmp(), &[Ordering::Greater, Ordering::Equal]),
        BooleanEquals => a.is_boolean() && a == b,
        TimestampEquals => ord(ts_cmp(), &[Ordering::Equal]),
        TimestampLessThan => ord(ts_cmp(), &[Ordering::Less]),
        TimestampGreaterThan => ord(ts_cmp(), &[Ordering::Greater]),
        TimestampLessThanEquals => ord(ts_cmp(), &[Ordering::Less, Ordering::Equal]),
        TimestampGreaterThanEquals => ord(ts_cmp(), &[Ordering::Greater, Ordering::Equal]),
        IsNull => a.is_null() == flag,
        IsPresent => flag,
        IsNumeric => a.is_number() == flag,
        IsString => a.is_string() == flag,
        IsBoolean => a.is_boolean() == flag,
        IsTimestamp => a.as_str().and_then(timestamp).is_some() == flag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(rule: Value, input: Value) -> bool {
        evaluate(&parse_rule(&rule).unwrap(), &input, &json!({})).unwrap()
    }

    #[test]
    fn given_comparisons_when_evaluated_then_aws_semantics() {
        let i = json!({"s": "beta", "n": 5, "b": true, "t": "2024-01-01T00:00:00Z", "m": 5.0, "z": null});
        assert!(holds(
            json!({"Variable": "$.s", "StringEquals": "beta"}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "StringGreaterThan": "alpha"}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "NumericLessThanEquals": 5}),
            i.clone()
        ));
        assert!(!holds(
            json!({"Variable": "$.s", "NumericEquals": 5}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.b", "BooleanEquals": true}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "TimestampLessThan": "2024-01-02T00:00:00Z"}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "IsTimestamp": true}),
            i.clone()
        ));
        assert!(holds(json!({"Variable": "$.z", "IsNull": true}), i.clone()));
        assert!(holds(
            json!({"Variable": "$.q", "IsPresent": false}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "IsNumeric": true}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "IsString": true}),
            i.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.b", "IsBoolean": true}),
            i.clone()
        ));
        assert!(holds(
            json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Not": {"Variable": "$.s", "StringEquals": "x"}}]}),
            i.clone()
        ));
        assert!(holds(
            json!({"Or": [{"Variable": "$.n", "NumericGreaterThan": 10}, {"Variable": "$.s", "StringMatches": "b*a"}]}),
            i
        ));
    }

    #[test]
    fn given_timestamp_forms_when_parsed_then_only_uppercase_t_and_z() {
        assert!(timestamp("2024-01-01T00:00:00Z").is_some());
        assert!(timestamp("2024-01-01T01:00:00+01:00").is_some());
        assert!(timestamp("2024-06-30T12:30:00.500Z").is_some());
        assert!(timestamp("2024-01-01 00:00:00Z").is_none());
        assert!(timestamp("2024-01-01t00:00:00Z").is_none());
        assert!(timestamp("2024-01-01T00:00:00z").is_none());
        assert!(timestamp("2024-01-01").is_none());
    }

    #[test]
    fn given_string_matches_when_escaped_then_literal() {
        assert!(string_matches("log-2024.txt", "log-*.txt"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("", "*"));
        assert!(!string_matches("abc", "ab"));
    }

    #[test]
    fn given_missing_variable_when_evaluated_then_runtime_error() {
        let r = parse_rule(&json!({"Variable": "$.x", "StringEquals": "a"})).unwrap();
        assert_eq!(
            evaluate(&r, &json!({}), &json!({})).unwrap_err().error,
            RUNTIME
        );
    }

    #[test]
    fn given_bad_rules_when_parsed_then_errors() {
        assert!(parse_rule(&json!({"Variable": "$.x", "Bogus": 1})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.x", "NumericEquals": "1"})).is_err());
        assert!(parse_choice(&json!({"Variable": "$.x", "IsNull": true})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.x", "StringMatchesPath": "$.p"})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.x", "IsNullPath": "$.p"})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.x", "StringEqualsPath": "$.p"})).is_ok());
    }

    #[test]
    fn given_bad_rules_when_parsed_then_messages_name_the_fault() {
        let msg = |v: Value| parse_choice(&v).unwrap_err().to_string();
        assert_eq!(
            msg(json!({"Variable": "$.x"})),
            "a choice rule needs a string 'Next'"
        );
        assert_eq!(msg(json!([])), "a choice rule needs a string 'Next'");
        assert_eq!(
            msg(json!({"Next": "N", "And": {}})),
            "'And' must be an array"
        );
        assert_eq!(msg(json!({"Next": "N", "Or": 1})), "'Or' must be an array");
        assert_eq!(
            msg(json!({"Next": "N", "Not": 1})),
            "a choice rule must be an object"
        );
        assert_eq!(
            msg(json!({"Next": "N", "StringEquals": "a"})),
            "a comparison needs a string 'Variable'"
        );
        assert_eq!(
            msg(json!({"Next": "N", "Variable": "x", "StringEquals": "a"})),
            "invalid path 'x': a path must start with '$'"
        );
        assert_eq!(
            msg(json!({"Next": "N", "Variable": "$.x", "IsNullPath": "$.p"})),
            "unknown comparison operator 'IsNullPath'"
        );
        assert_eq!(
            msg(json!({"Next": "N", "Variable": "$.x", "StringEqualsPath": 1})),
            "'StringEqualsPath' must be a path string"
        );
        assert_eq!(
            msg(json!({"Next": "N", "Variable": "$.x", "NumericEquals": "1"})),
            "'NumericEquals': wrong operand type"
        );
        assert_eq!(
            msg(json!({"Next": "N", "Variable": "$.x"})),
            "a comparison needs an operator"
        );
    }
}
