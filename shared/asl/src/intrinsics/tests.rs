use super::*;
use serde_json::json;

fn eval(src: &str, input: Value) -> Result<Value, StateError> {
    let ctx = json!({"Execution": {"Id": "exec-1"}});
    let mut rng = Rng(7);
    evaluate(
        src,
        &mut IntrinsicEnv {
            input: &input,
            context: &ctx,
            rng: &mut rng,
        },
    )
}

#[test]
fn given_expression_when_tokenized_then_all_token_kinds() {
    let t = tokenize("States.Format('a\\'b {}', $.x[0], 1.5, true, null)").unwrap();
    assert_eq!(t[0], Token::Ident("States.Format".into()));
    assert_eq!(t[2], Token::Str("a\\'b {}".into()));
    assert_eq!(t[4], Token::Path("$.x[0]".into()));
    assert!(matches!(t[6], Token::Num(_)));
    assert_eq!(t[8], Token::Bool(true));
    assert_eq!(t[10], Token::Null);
}

#[test]
fn given_format_when_evaluated_then_placeholders_and_escapes() {
    assert_eq!(
        eval(
            "States.Format('Hi {} \\{\\} {}', $.n, $$.Execution.Id)",
            json!({"n": "Bo"})
        )
        .unwrap(),
        json!("Hi Bo {} exec-1")
    );
    let err = eval("States.Format('{} {}', 1)", json!({})).unwrap_err();
    assert_eq!(err.error, INTRINSIC_FAILURE);
}

#[test]
fn given_array_functions_when_evaluated_then_aws_results() {
    assert_eq!(
        eval("States.Array(1, 'a', $.x)", json!({"x": [1]})).unwrap(),
        json!([1, "a", [1]])
    );
    assert_eq!(
        eval("States.ArrayPartition($.a, 2)", json!({"a": [1, 2, 3]})).unwrap(),
        json!([[1, 2], [3]])
    );
    assert_eq!(
        eval("States.ArrayContains($.a, 2)", json!({"a": [1, 2]})).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
        json!([1, 3, 5, 7, 9])
    );
    assert_eq!(
        eval("States.ArrayGetItem($.a, 1)", json!({"a": [1, 2]})).unwrap(),
        json!(2)
    );
    assert_eq!(
        eval("States.ArrayLength($.a)", json!({"a": [1, 2]})).unwrap(),
        json!(2)
    );
    assert_eq!(
        eval("States.ArrayUnique($.a)", json!({"a": [1, 2, 1]})).unwrap(),
        json!([1, 2])
    );
}

#[test]
fn given_string_functions_when_evaluated_then_aws_results() {
    assert_eq!(
        eval("States.Base64Encode('Data to encode')", json!({})).unwrap(),
        json!("RGF0YSB0byBlbmNvZGU=")
    );
    assert_eq!(
        eval("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
        json!("Data to encode")
    );
    assert_eq!(
        eval("States.Hash('input data', 'SHA-256')", json!({})).unwrap(),
        json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")
    );
    assert_eq!(
        eval("States.StringSplit('a,b,,c', ',')", json!({})).unwrap(),
        json!(["a", "b", "c"])
    );
    assert_eq!(
        eval("States.StringToJson('{\"a\": 1}')", json!({})).unwrap(),
        json!({"a": 1})
    );
    assert_eq!(
        eval("States.JsonToString($.o)", json!({"o": {"a": 1}})).unwrap(),
        json!("{\"a\":1}")
    );
    assert_eq!(
        eval(
            "States.JsonMerge($.a, $.b, false)",
            json!({"a": {"x": 1}, "b": {"y": 2}})
        )
        .unwrap(),
        json!({"x": 1, "y": 2})
    );
    assert_eq!(eval("States.MathAdd(1, -3)", json!({})).unwrap(), json!(-2));
}

#[test]
fn given_seeded_rng_when_random_functions_then_repeatable() {
    let a = eval("States.UUID()", json!({})).unwrap();
    assert_eq!(a, eval("States.UUID()", json!({})).unwrap());
    assert_eq!(a.as_str().unwrap().len(), 36);
    let r = eval("States.MathRandom(1, 10)", json!({}))
        .unwrap()
        .as_i64()
        .unwrap();
    assert!((1..10).contains(&r));
}

#[test]
fn given_unknown_function_when_evaluated_then_intrinsic_failure() {
    assert_eq!(
        eval("States.Nope(1)", json!({})).unwrap_err().error,
        INTRINSIC_FAILURE
    );
    assert!(parse("States.Format('x'").is_err());
}

#[test]
fn given_malformed_expressions_when_parsed_then_messages_name_the_fault() {
    let msg = |src: &str| parse(src).unwrap_err().to_string();
    assert_eq!(msg("States.Format('x"), "unterminated string literal");
    assert_eq!(
        msg("States.MathAdd(1-2, 3)"),
        "invalid number literal '1-2'"
    );
    assert_eq!(msg("States.Array(#)"), "unexpected character '#'");
    assert_eq!(
        msg("States.Array() x"),
        "unexpected text after the closing parenthesis"
    );
    assert_eq!(msg("(1)"), "expected a function name");
    assert_eq!(msg("States.Array 1"), "expected '(' after States.Array");
    assert_eq!(
        msg("States.Array(,)"),
        "expected an argument of States.Array"
    );
    assert_eq!(
        msg("States.Array(1 2)"),
        "expected ',' or ')' in States.Array"
    );
    assert_eq!(
        msg("States.Array($.a[x])"),
        "invalid path '$.a[x]': bad bracket 'x'"
    );
    assert!(matches!(
        parse("States.Array($.)"),
        Err(ParseError::Path(_))
    ));
}
