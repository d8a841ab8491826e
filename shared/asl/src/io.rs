//! Pure input/output processing, in the order the spec applies it:
//! InputPath → Parameters → (task) → ResultSelector → ResultPath → OutputPath.
//!
//! Each step is a plain function over JSON values, so the executor composes them and unit
//! tests exercise them without an engine. Payload templates (Parameters, ResultSelector,
//! ItemSelector) resolve keys ending in `.$` as a path on the input, a `$$.` path on the
//! context object, or an intrinsic function.

use serde_json::{Map, Value};

use crate::definition::PathField;
use crate::errors::{DATA_LIMIT_EXCEEDED, RESULT_PATH_MATCH_FAILURE, RUNTIME, StateError};
use crate::intrinsics::{self, IntrinsicEnv, Rng};
use crate::path::Path;

fn parse_path(p: &str) -> Result<Path, StateError> {
    Path::parse(p).map_err(|e| StateError::new(RUNTIME, e.to_string()))
}

/// Selects with a path, AWS's `States.Runtime` error when a definite path matches nothing.
pub(crate) fn select(path: &str, doc: &Value) -> Result<Value, StateError> {
    let p = parse_path(path)?;
    p.select(doc).ok_or_else(|| {
        StateError::new(
            RUNTIME,
            format!(
                "Invalid path '{}' : No results for path: {}",
                p.raw(),
                p.bracket_form()
            ),
        )
    })
}

/// InputPath: absent → the input, `null` → `{}`, a path → its value.
pub(crate) fn input_path(
    input: &Value,
    field: &PathField,
    context: &Value,
) -> Result<Value, StateError> {
    match field {
        PathField::Absent => Ok(input.clone()),
        PathField::Null => Ok(Value::Object(Map::new())),
        PathField::Path(p) => {
            let parsed = parse_path(p)?;
            let doc = if parsed.is_context() { context } else { input };
            select(p, doc)
        }
    }
}

/// OutputPath: same rules as InputPath.
pub(crate) fn output_path(
    output: &Value,
    field: &PathField,
    context: &Value,
) -> Result<Value, StateError> {
    input_path(output, field, context)
}

/// ResultPath: absent or `$` → the result, `null` → the input unchanged, a reference path →
/// the input with the result written there.
pub(crate) fn result_path(
    input: &Value,
    result: Value,
    field: &PathField,
) -> Result<Value, StateError> {
    match field {
        PathField::Absent => Ok(result),
        PathField::Null => Ok(input.clone()),
        PathField::Path(p) => {
            let parsed = parse_path(p)?;
            parsed.write(input.clone(), result).map_err(|_| {
                StateError::new(
                    RESULT_PATH_MATCH_FAILURE,
                    format!(
                        "Unable to apply ReferencePath {} to input {}",
                        parsed.raw(),
                        serde_json::to_string(&input.to_string()).unwrap_or_default()
                    ),
                )
            })
        }
    }
}

/// Expands a payload template (Parameters, ResultSelector, ItemSelector).
pub(crate) fn apply_template(
    template: &Value,
    input: &Value,
    context: &Value,
    rng: &mut Rng,
) -> Result<Value, StateError> {
    match template {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let Some(name) = k.strip_suffix(".$") {
                    let resolved = resolve_dynamic(k, v, input, context, rng)?;
                    out.insert(name.to_string(), resolved);
                } else {
                    out.insert(k.clone(), apply_template(v, input, context, rng)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .map(|v| apply_template(v, input, context, rng))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn resolve_dynamic(
    key: &str,
    v: &Value,
    input: &Value,
    context: &Value,
    rng: &mut Rng,
) -> Result<Value, StateError> {
    let Some(expr) = v.as_str() else {
        return Err(StateError::new(
            RUNTIME,
            format!("The value of the field '{key}' must be a path or an intrinsic function."),
        ));
    };
    if intrinsics::is_intrinsic(expr) {
        return intrinsics::evaluate(
            expr,
            &mut IntrinsicEnv {
                input,
                context,
                rng,
            },
        );
    }
    let p = parse_path(expr)?;
    let doc = if p.is_context() { context } else { input };
    p.select(doc).ok_or_else(|| {
        StateError::new(
            RUNTIME,
            format!(
                "The JSONPath '{expr}' specified for the field '{key}' could not be found in the input '{}'",
                doc
            ),
        )
    })
}

/// Fails with `States.DataLimitExceeded` when `v` serialises to more than 256 KiB of UTF-8
/// JSON; `what` names the state or the task resource, as in AWS's cause. Measuring stops at
/// the limit, so a huge value costs no more than a legal one.
pub(crate) fn check_size(v: &Value, what: &str) -> Result<(), StateError> {
    if crate::limits::exceeds_payload_limit(v) {
        return Err(StateError::new(
            DATA_LIMIT_EXCEEDED,
            format!(
                "The state/task '{what}' returned a result with a size exceeding the maximum number of bytes service limit."
            ),
        ));
    }
    Ok(())
}

/// Fails with `States.DataLimitExceeded` when a state's effective input (after
/// Parameters) serialises to more than 256 KiB, as AWS does before scheduling a task.
pub(crate) fn check_input_size(v: &Value, state: &str) -> Result<(), StateError> {
    if crate::limits::exceeds_payload_limit(v) {
        return Err(StateError::new(
            DATA_LIMIT_EXCEEDED,
            format!(
                "The input of state '{state}' after Parameters processing has a size exceeding the maximum number of bytes service limit."
            ),
        ));
    }
    Ok(())
}

/// InputPath then Parameters: the effective input of a state.
pub(crate) fn effective_input(
    raw_input: &Value,
    input_field: &PathField,
    parameters: Option<&Value>,
    context: &Value,
    rng: &mut Rng,
) -> Result<Value, StateError> {
    let selected = input_path(raw_input, input_field, context)?;
    match parameters {
        Some(t) => apply_template(t, &selected, context, rng),
        None => Ok(selected),
    }
}

/// ResultSelector, ResultPath, OutputPath: the state output from the raw state input and
/// the task/branch result.
pub(crate) fn state_output(
    raw_input: &Value,
    result: Value,
    result_selector: Option<&Value>,
    result_field: &PathField,
    output_field: &PathField,
    context: &Value,
    rng: &mut Rng,
) -> Result<Value, StateError> {
    let selected = match result_selector {
        Some(t) => apply_template(t, &result, context, rng)?,
        None => result,
    };
    let combined = result_path(raw_input, selected, result_field)?;
    output_path(&combined, output_field, context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_PAYLOAD_BYTES as DATA_LIMIT_BYTES;
    use serde_json::json;

    #[test]
    fn given_full_pipeline_when_processed_then_spec_order() {
        let mut rng = Rng(1);
        let ctx = json!({"Execution": {"Name": "n1"}});
        let raw = json!({"deploy": {"env": "prod"}, "keep": 1});
        let eff = effective_input(
            &raw,
            &PathField::Path("$.deploy".into()),
            Some(&json!({"target.$": "$.env", "exec.$": "$$.Execution.Name", "fixed": [1]})),
            &ctx,
            &mut rng,
        )
        .unwrap();
        assert_eq!(eff, json!({"target": "prod", "exec": "n1", "fixed": [1]}));
        let out = state_output(
            &raw,
            json!({"Payload": {"ok": true}, "StatusCode": 200}),
            Some(&json!({"ok.$": "$.Payload.ok"})),
            &PathField::Path("$.result".into()),
            &PathField::Path("$.result".into()),
            &ctx,
            &mut rng,
        )
        .unwrap();
        assert_eq!(out, json!({"ok": true}));
    }

    #[test]
    fn given_result_path_null_when_applied_then_input_kept() {
        assert_eq!(
            result_path(&json!({"a": 1}), json!(2), &PathField::Null).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            result_path(&json!({"a": 1}), json!(2), &PathField::Path("$".into())).unwrap(),
            json!(2)
        );
    }

    #[test]
    fn given_result_path_into_scalar_when_applied_then_match_failure() {
        let e = result_path(&json!("x"), json!(2), &PathField::Path("$.a".into())).unwrap_err();
        assert_eq!(e.error, RESULT_PATH_MATCH_FAILURE);
    }

    #[test]
    fn given_missing_input_path_when_applied_then_runtime_error() {
        let e = input_path(&json!({}), &PathField::Path("$.x".into()), &json!({})).unwrap_err();
        assert_eq!(e.error, RUNTIME);
        assert_eq!(e.cause, "Invalid path '$.x' : No results for path: $['x']");
        assert_eq!(
            input_path(&json!({"a": 1}), &PathField::Null, &json!({})).unwrap(),
            json!({})
        );
    }

    #[test]
    fn given_missing_parameter_path_when_applied_then_runtime_error() {
        let e = apply_template(
            &json!({"a.$": "$.nope"}),
            &json!({}),
            &json!({}),
            &mut Rng(0),
        )
        .unwrap_err();
        assert_eq!(e.error, RUNTIME);
    }

    #[test]
    fn given_large_payload_when_checked_then_data_limit() {
        let big = json!("x".repeat(DATA_LIMIT_BYTES + 1));
        assert_eq!(
            check_size(&big, "S").unwrap_err().error,
            DATA_LIMIT_EXCEEDED
        );
        // Exactly at the limit is allowed (the quotes count: 2 + (limit - 2) bytes).
        assert!(check_size(&json!("x".repeat(DATA_LIMIT_BYTES - 2)), "S").is_ok());
    }
}
