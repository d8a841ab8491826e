//! Property tests: whatever text arrives as a definition, a path or an intrinsic function,
//! the parser, the validator and the engine answer with findings or errors, never a panic.
//!
//! Four generators: arbitrary JSON made of States Language vocabulary (keys such as
//! `StartAt`, `Type`, `Seconds`, values such as `$.x`, `States.ArrayRange(...)` and extreme
//! numbers); mutations of valid definitions (a node replaced, removed or set to an extreme
//! number), which keep most of the structure so that many still validate and run; JSONPath
//! strings; and intrinsic calls with edge-case arguments. Case counts stay modest so that
//! the whole file runs in a few seconds in a debug build (`PROPTEST_CASES` raises them);
//! failing cases are shrunk and reported by proptest.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Number, Value, json};
use shipgate_asl::JsonPath as Path;
use shipgate_asl::intrinsics::{self, IntrinsicEnv, Rng};
use shipgate_asl::*;

/// Keys a definition is made of, plus a few that are not.
const KEYS: &[&str] = &[
    "StartAt",
    "States",
    "Type",
    "Next",
    "End",
    "Comment",
    "Parameters",
    "Result",
    "ResultPath",
    "InputPath",
    "OutputPath",
    "ResultSelector",
    "Resource",
    "Retry",
    "Catch",
    "ErrorEquals",
    "MaxAttempts",
    "IntervalSeconds",
    "BackoffRate",
    "MaxDelaySeconds",
    "Seconds",
    "SecondsPath",
    "Timestamp",
    "TimestampPath",
    "TimeoutSeconds",
    "Choices",
    "Default",
    "Variable",
    "NumericEquals",
    "StringMatches",
    "Not",
    "And",
    "Branches",
    "ItemsPath",
    "ItemProcessor",
    "Iterator",
    "MaxConcurrency",
    "Error",
    "Cause",
    "ErrorPath",
    "v.$",
    "a",
    "S",
];

/// String values a definition is made of.
const STRINGS: &[&str] = &[
    "Pass",
    "Task",
    "Choice",
    "Wait",
    "Succeed",
    "Fail",
    "Parallel",
    "Map",
    "S",
    "T",
    "$",
    "$.x",
    "$.items[*]",
    "$$.Execution.Input",
    "$..a",
    "$.a[-1:]",
    "$[?(@.a > 1)]",
    "States.ALL",
    "States.Runtime",
    "States.ArrayRange(1, 3, 1)",
    "States.Format('{}', $.x)",
    "States.MathAdd($.x, 9223372036854775807)",
    "9999-12-31T23:59:59Z",
    "r",
    "",
];

fn extreme_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(99_999_999)),
        Just(json!(100_000_000)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1e18)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        extreme_number(),
        proptest::sample::select(STRINGS).prop_map(|s| json!(s)),
        "[ -~]{0,12}".prop_map(Value::String),
    ]
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

/// Valid definitions to mutate: every state type, Retry/Catch, templates, Choice rules.
const SEEDS: &[&str] = &[
    r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":"$.x","n":1},"ResultPath":"$.r","Next":"C"},
        "C":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericGreaterThan":1,"Next":"W"},
              {"Not":{"Variable":"$.s","StringMatches":"a*"},"Next":"F"}],"Default":"D"},
        "W":{"Type":"Wait","Seconds":5,"Next":"D"},
        "F":{"Type":"Fail","Error":"E","Cause":"c"},
        "D":{"Type":"Succeed"}}}"#,
    r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fail:r","TimeoutSeconds":10,
        "Retry":[{"ErrorEquals":["Boom"],"MaxAttempts":2,"IntervalSeconds":1,"BackoffRate":2}],
        "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"T2"}],"Next":"T2"},
        "T2":{"Type":"Task","Resource":"echo","Parameters":{"a.$":"States.Array($.x, 2)"},
        "ResultSelector":{"b.$":"$.a"},"OutputPath":"$.b","End":true}}}"#,
    r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,
        "ItemSelector":{"i.$":"$$.Map.Item.Value"},
        "ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"Next":"Par"},
        "Par":{"Type":"Parallel","Branches":[
            {"StartAt":"A","States":{"A":{"Type":"Wait","SecondsPath":"$.x","End":true}}},
            {"StartAt":"B","States":{"B":{"Type":"Pass","Result":{"k":[1,2]},"End":true}}}],
         "End":true}}}"#,
    r#"{"StartAt":"L","States":{"L":{"Type":"Task","Resource":"fail:loop",
        "Catch":[{"ErrorEquals":["States.ALL"],"Next":"L"}],"End":true}}}"#,
];

/// One mutation. `Retype` walks down to a leaf and swaps it for one of the same JSON type
/// (a number for an extreme number, a string for a vocabulary string, a boolean flipped),
/// which keeps most definitions valid so that the engine gets to run them; `Replace` and
/// `Remove` act on the node the route stops at and mostly produce refusals.
#[derive(Debug, Clone)]
enum Edit {
    Retype { number: Value, string: &'static str },
    Replace(Value),
    Remove,
}

/// Strings a leaf may be swapped for: mostly the seeds' own state names and paths, so that
/// a retargeted `Next` or `Variable` often stays valid, plus the general vocabulary.
const RETYPE_STRINGS: &[&str] = &[
    "P",
    "C",
    "W",
    "F",
    "D",
    "T",
    "T2",
    "M",
    "Par",
    "A",
    "B",
    "I",
    "L",
    "$.x",
    "$.s",
    "$.items",
    "$.big",
    "$.neg",
    "$$.Map.Item.Value",
    "States.Format('{}', $.neg)",
];

fn retype_string() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => proptest::sample::select(RETYPE_STRINGS),
        1 => proptest::sample::select(STRINGS),
    ]
}

fn retype_number() -> impl Strategy<Value = Value> {
    prop_oneof![3 => (0u64..10).prop_map(Value::from), 1 => extreme_number()]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (retype_number(), retype_string())
            .prop_map(|(number, string)| Edit::Retype { number, string }),
        1 => arbitrary_json().prop_map(Edit::Replace),
        1 => Just(Edit::Remove),
    ]
}

fn children(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    }
}

fn child_mut(v: &mut Value, i: usize) -> Option<&mut Value> {
    match v {
        Value::Array(a) => a.get_mut(i),
        Value::Object(o) => o.values_mut().nth(i),
        _ => None,
    }
}

fn remove_child(v: &mut Value, i: usize) {
    match v {
        Value::Array(a) if i < a.len() => {
            a.remove(i);
        }
        Value::Object(o) => {
            if let Some(k) = o.keys().nth(i).cloned() {
                o.remove(&k);
            }
        }
        _ => {}
    }
}

/// Swaps a leaf for one of its own type.
fn retype(v: &mut Value, number: &Value, string: &str) {
    match v {
        Value::Number(_) => *v = number.clone(),
        Value::String(_) => *v = json!(string),
        Value::Bool(b) => *b = !*b,
        _ => {}
    }
}

fn apply(v: &mut Value, route: &[usize], depth: usize, edit: &Edit) {
    let n = children(v);
    if n == 0 {
        match edit {
            Edit::Retype { number, string } => retype(v, number, string),
            Edit::Replace(x) => *v = x.clone(),
            Edit::Remove => {}
        }
        return;
    }
    let mut i = route.get(depth % route.len().max(1)).copied().unwrap_or(0) % n;
    if depth == 0 && matches!(edit, Edit::Retype { .. }) {
        // At the top, `StartAt` would take a third of the swaps: go into `States`.
        if let Value::Object(o) = v
            && let Some(k) = o.keys().position(|k| k == "States")
        {
            i = k;
        }
    }
    let stop_here = depth + 1 >= route.len() && !matches!(edit, Edit::Retype { .. });
    match (stop_here, edit) {
        (true, Edit::Remove) => remove_child(v, i),
        (true, Edit::Replace(x)) => {
            if let Some(c) = child_mut(v, i) {
                *c = x.clone();
            }
        }
        _ => {
            if let Some(c) = child_mut(v, i) {
                apply(c, route, depth + 1, edit);
            }
        }
    }
}

fn mutated_definition() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(SEEDS),
        proptest::collection::vec(
            (proptest::collection::vec(any::<usize>(), 2..9), edit()),
            1..3,
        ),
    )
        .prop_map(|(seed, edits)| {
            let mut v: Value = serde_json::from_str(seed).unwrap_or(Value::Null);
            for (route, e) in &edits {
                apply(&mut v, route, 0, e);
            }
            v.to_string()
        })
}

/// The number of cases: `default`, or `PROPTEST_CASES` for a longer local run (e.g.
/// `PROPTEST_CASES=20000 cargo test -p shipgate-asl --release --test fuzz`).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fails `fail…` resources, echoes the input of the others.
struct EchoOrFail;

#[async_trait::async_trait]
impl TaskInvoker for EchoOrFail {
    async fn invoke(&self, call: TaskCall) -> Result<Value, TaskFailure> {
        if call.resource.starts_with("fail") {
            return Err(TaskFailure::new("Boom", "fails"));
        }
        Ok(call.input)
    }
}

fn sample_input() -> Value {
    json!({"x": 3, "s": "abc", "items": [1, {"a": 2}, "z"], "big": i64::MAX, "neg": -7})
}

/// Validates `text`; when it is valid, also starts and runs it to its end. Any panic
/// fails the property; the outcome itself may be anything.
fn validate_and_run(text: &str) -> Result<(), TestCaseError> {
    let findings = validate(text);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let start = DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or_default();
    let outcome = runtime.block_on(run_to_completion(
        text,
        sample_input(),
        Arc::new(EchoOrFail),
        start,
    ));
    match outcome {
        // A refused definition is exactly what validate reported.
        Err(EngineError::InvalidDefinition(f)) => prop_assert_eq!(f, findings),
        Err(e) => prop_assert!(false, "engine error on a valid definition: {}", e),
        Ok(_) => prop_assert!(findings.is_empty(), "ran despite findings {:?}", findings),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn given_arbitrary_text_when_validated_then_the_validator_never_panics(text in "\\PC{0,64}") {
        // No 64 random characters make a valid definition: always refused, never a panic.
        prop_assert!(!validate(&text).is_empty());
    }

    #[test]
    fn given_arbitrary_json_when_validated_and_run_then_nothing_panics(v in arbitrary_json()) {
        validate_and_run(&v.to_string())?;
    }

    #[test]
    fn given_mutated_definitions_when_validated_and_run_then_nothing_panics(
        text in mutated_definition(),
    ) {
        validate_and_run(&text)?;
    }

    #[test]
    fn given_arbitrary_paths_when_parsed_and_applied_then_nothing_panics(
        text in prop_oneof!["\\PC{0,24}", "\\$\\$?[.\\[\\]*?()@a-z0-9:,'<>=!-]{0,20}"]
    ) {
        if let Ok(p) = Path::parse(&text) {
            let doc = sample_input();
            let _ = p.select(&doc);
            let _ = p.bracket_form();
            if p.is_reference() {
                let _ = p.write(doc, json!(1));
            }
        }
    }
}

/// Arguments for intrinsic calls: paths, literals with escapes, extreme numbers.
const ARGS: &[&str] = &[
    "$.x",
    "$.s",
    "$.items",
    "$.big",
    "$.neg",
    "$.nope",
    "$",
    "$$.Execution.Id",
    "'a'",
    "'{}'",
    "'\\''",
    "'\\{\\}'",
    "'{} {}'",
    "''",
    "'x,y'",
    "'eyJhIjoxfQ=='",
    "'{\"a\":1}'",
    "'SHA-256'",
    "0",
    "1",
    "-1",
    "2",
    "1.5",
    "-0",
    "1e308",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775800",
    "true",
    "null",
];

const FUNCTIONS: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
    "States.Nope",
];

fn intrinsic_call() -> impl Strategy<Value = String> {
    let call = |args: BoxedStrategy<String>| {
        (
            proptest::sample::select(FUNCTIONS),
            proptest::collection::vec(args, 0..4),
        )
            .prop_map(|(f, a)| format!("{f}({})", a.join(", ")))
    };
    let flat = call(
        proptest::sample::select(ARGS)
            .prop_map(str::to_string)
            .boxed(),
    );
    let arg = prop_oneof![
        4 => proptest::sample::select(ARGS).prop_map(str::to_string),
        1 => flat,
    ];
    call(arg.boxed())
}

fn evaluate(text: &str) {
    let input = sample_input();
    let context = json!({"Execution": {"Id": "x"}});
    let mut rng = Rng(7);
    let _ = intrinsics::evaluate(
        text,
        &mut IntrinsicEnv {
            input: &input,
            context: &context,
            rng: &mut rng,
        },
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn given_arbitrary_strings_when_parsed_as_intrinsics_then_the_parser_never_panics(
        text in prop_oneof!["\\PC{0,40}", "States\\.[A-Za-z]{0,12}\\([ -~]{0,30}\\)?"]
    ) {
        let _ = intrinsics::tokenize(&text);
        let _ = intrinsics::parse(&text);
        evaluate(&text);
    }

    #[test]
    fn given_intrinsic_calls_with_edge_arguments_when_evaluated_then_nothing_panics(
        text in intrinsic_call(),
    ) {
        evaluate(&text);
    }
}

#[test]
fn given_seed_definitions_then_they_are_valid() {
    // The mutations start from valid definitions, or they would mostly test refusals.
    for seed in SEEDS {
        assert_eq!(validate(seed), vec![], "{seed}");
    }
}
