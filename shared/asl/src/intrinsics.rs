//! Intrinsic functions (`States.Format(...)` etc.).
//!
//! A real tokenizer ([`tokenize`]) turns the expression into tokens, a recursive-descent
//! parser builds a [`Call`] tree (arguments: literals, paths, nested calls), and evaluation
//! looks each name up in a name → function registry ([`lookup`]). String literals keep their
//! raw text so `States.Format` can tell an escaped `\{` from a placeholder `{}`. Randomness
//! (`States.UUID`, `States.MathRandom` without seed) comes from a seeded [`Rng`] so runs are
//! repeatable. Failures are `States.IntrinsicFailure` with AWS-like causes.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::errors::{INTRINSIC_FAILURE, RUNTIME, StateError};
use crate::path::Path;

/// A small deterministic PRNG (splitmix64), serialisable as its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A token of an intrinsic expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// `States.Name`.
    Ident(String),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `,`.
    Comma,
    /// `'...'`, raw text between the quotes (escapes not yet applied).
    Str(String),
    /// A number literal.
    Num(Number),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A `$`/`$$` path.
    Path(String),
}

/// An argument of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A string literal (raw text).
    Str(String),
    /// A JSON literal (number, boolean, null).
    Literal(Value),
    /// A path.
    Path(Path),
    /// A nested call.
    Call(Call),
}

/// A parsed call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Function name, e.g. `States.Format`.
    pub name: String,
    /// Arguments.
    pub args: Vec<Arg>,
}

fn fail(cause: impl Into<String>) -> StateError {
    StateError::new(INTRINSIC_FAILURE, cause)
}

/// Splits an expression into tokens.
pub fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\r' | '\n' => i += 1,
            '(' => {
                out.push(Token::LParen);
                i += 1;
            }
            ')' => {
                out.push(Token::RParen);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err("unterminated string literal".into());
                    };
                    if d == '\\' {
                        s.push(d);
                        if let Some(&e) = chars.get(i + 1) {
                            s.push(e);
                        }
                        i += 2;
                    } else if d == '\'' {
                        i += 1;
                        break;
                    } else {
                        s.push(d);
                        i += 1;
                    }
                }
                out.push(Token::Str(s));
            }
            '$' => {
                let start = i;
                let mut depth = 0i32;
                let mut quote: Option<char> = None;
                while i < chars.len() {
                    let d = chars[i];
                    if let Some(q) = quote {
                        if d == q {
                            quote = None;
                        }
                    } else if d == '\'' || d == '"' {
                        if depth == 0 {
                            break;
                        }
                        quote = Some(d);
                    } else if d == '[' || d == '(' {
                        depth += 1;
                    } else if d == ']' || (d == ')' && depth > 0) {
                        depth -= 1;
                    } else if depth == 0 && (d == ',' || d == ')' || d.is_whitespace()) {
                        break;
                    }
                    i += 1;
                }
                out.push(Token::Path(chars[start..i].iter().collect()));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n: Number = serde_json::from_str(&text)
                    .map_err(|_| format!("invalid number literal '{text}'"))?;
                out.push(Token::Num(n));
            }
            c if c.is_alphabetic() => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '.' || chars[i] == '_')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "true" => Token::Bool(true),
                    "false" => Token::Bool(false),
                    "null" => Token::Null,
                    _ => Token::Ident(word),
                });
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

/// Parses an expression into a call tree.
pub fn parse(src: &str) -> Result<Call, String> {
    let tokens = tokenize(src)?;
    let mut pos = 0;
    let call = parse_call(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err("unexpected text after the closing parenthesis".into());
    }
    Ok(call)
}

fn parse_call(tokens: &[Token], pos: &mut usize) -> Result<Call, String> {
    let Some(Token::Ident(name)) = tokens.get(*pos) else {
        return Err("expected a function name".into());
    };
    *pos += 1;
    if tokens.get(*pos) != Some(&Token::LParen) {
        return Err(format!("expected '(' after {name}"));
    }
    *pos += 1;
    let mut args = Vec::new();
    if tokens.get(*pos) == Some(&Token::RParen) {
        *pos += 1;
        return Ok(Call {
            name: name.clone(),
            args,
        });
    }
    loop {
        let arg = match tokens.get(*pos) {
            Some(Token::Ident(_)) => Arg::Call(parse_call(tokens, pos)?),
            Some(Token::Str(s)) => {
                *pos += 1;
                Arg::Str(s.clone())
            }
            Some(Token::Num(n)) => {
                *pos += 1;
                Arg::Literal(Value::Number(n.clone()))
            }
            Some(Token::Bool(b)) => {
                *pos += 1;
                Arg::Literal(Value::Bool(*b))
            }
            Some(Token::Null) => {
                *pos += 1;
                Arg::Literal(Value::Null)
            }
            Some(Token::Path(p)) => {
                *pos += 1;
                Arg::Path(Path::parse(p).map_err(|e| e.to_string())?)
            }
            _ => return Err(format!("expected an argument of {name}")),
        };
        args.push(arg);
        match tokens.get(*pos) {
            Some(Token::Comma) => *pos += 1,
            Some(Token::RParen) => {
                *pos += 1;
                return Ok(Call {
                    name: name.clone(),
                    args,
                });
            }
            _ => return Err(format!("expected ',' or ')' in {name}")),
        }
    }
}

/// Applies the escapes of a string literal (`\'`, `\{`, `\}`, `\\`, and others verbatim).
pub fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Evaluation environment: the input (`$`), the context object (`$$`), randomness.
pub struct IntrinsicEnv<'a> {
    /// The document `$` refers to.
    pub input: &'a Value,
    /// The context object.
    pub context: &'a Value,
    /// Randomness.
    pub rng: &'a mut Rng,
}

/// Whether `s` looks like an intrinsic call (`States.X(`).
pub fn is_intrinsic(s: &str) -> bool {
    s.trim_start().starts_with("States.")
}

/// Parses and evaluates `src`.
pub fn evaluate(src: &str, env: &mut IntrinsicEnv<'_>) -> Result<Value, StateError> {
    let call = parse(src).map_err(|e| fail(format!("Invalid intrinsic function '{src}': {e}")))?;
    eval_call(&call, env).map_err(|e| StateError {
        error: e.error,
        cause: format!("The function '{src}' had the following error: {}", e.cause),
    })
}

enum ArgValue {
    Raw(String, Value),
    Val(Value),
}

impl ArgValue {
    fn value(&self) -> &Value {
        match self {
            ArgValue::Raw(_, v) | ArgValue::Val(v) => v,
        }
    }
}

/// Evaluates a parsed call.
pub fn eval_call(call: &Call, env: &mut IntrinsicEnv<'_>) -> Result<Value, StateError> {
    let Some(f) = lookup(&call.name) else {
        return Err(fail(format!(
            "Function '{}' is not a supported intrinsic function.",
            call.name
        )));
    };
    let mut args = Vec::with_capacity(call.args.len());
    for a in &call.args {
        args.push(match a {
            Arg::Str(raw) => ArgValue::Raw(raw.clone(), Value::String(unescape(raw))),
            Arg::Literal(v) => ArgValue::Val(v.clone()),
            Arg::Path(p) => {
                let doc = if p.is_context() { env.context } else { env.input };
                let v = p.select(doc).ok_or_else(|| {
                    StateError::new(
                        RUNTIME,
                        format!(
                            "The JsonPath argument for the field '{}' could not be found in the input '{}'",
                            p.raw(),
                            doc
                        ),
                    )
                })?;
                ArgValue::Val(v)
            }
            Arg::Call(c) => ArgValue::Val(eval_call(c, env)?),
        });
    }
    f(&call.name, &args, env)
}

type IntrinsicFn = fn(&str, &[ArgValue], &mut IntrinsicEnv<'_>) -> Result<Value, StateError>;

const REGISTRY: &[(&str, IntrinsicFn)] = &[
    ("States.Format", f_format),
    ("States.StringToJson", f_string_to_json),
    ("States.JsonToString", f_json_to_string),
    ("States.Array", f_array),
    ("States.ArrayPartition", f_array_partition),
    ("States.ArrayContains", f_array_contains),
    ("States.ArrayRange", f_array_range),
    ("States.ArrayGetItem", f_array_get_item),
    ("States.ArrayLength", f_array_length),
    ("States.ArrayUnique", f_array_unique),
    ("States.Base64Encode", f_base64_encode),
    ("States.Base64Decode", f_base64_decode),
    ("States.Hash", f_hash),
    ("States.JsonMerge", f_json_merge),
    ("States.MathRandom", f_math_random),
    ("States.MathAdd", f_math_add),
    ("States.StringSplit", f_string_split),
    ("States.UUID", f_uuid),
];

/// The function registered under `name`.
fn lookup(name: &str) -> Option<IntrinsicFn> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Whether `name` is a known intrinsic function.
pub fn is_known(name: &str) -> bool {
    lookup(name).is_some()
}

/// All function names referenced in `call`, nested ones included.
pub fn names(call: &Call) -> Vec<String> {
    let mut out = vec![call.name.clone()];
    for a in &call.args {
        if let Arg::Call(c) = a {
            out.extend(names(c));
        }
    }
    out
}

fn arity(name: &str, args: &[ArgValue], min: usize, max: usize) -> Result<(), StateError> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(fail(format!(
            "The function {name} takes {expected} argument(s) but got {}.",
            args.len()
        )));
    }
    Ok(())
}

fn type_err(name: &str, idx: usize, what: &str) -> StateError {
    fail(format!(
        "The argument {} of {name} must be {what}.",
        idx + 1
    ))
}

fn arg_str<'a>(name: &str, args: &'a [ArgValue], idx: usize) -> Result<&'a str, StateError> {
    args.get(idx)
        .and_then(|a| a.value().as_str())
        .ok_or_else(|| type_err(name, idx, "a string"))
}

fn arg_array<'a>(
    name: &str,
    args: &'a [ArgValue],
    idx: usize,
) -> Result<&'a Vec<Value>, StateError> {
    args.get(idx)
        .and_then(|a| a.value().as_array())
        .ok_or_else(|| type_err(name, idx, "an array"))
}

fn arg_int(name: &str, args: &[ArgValue], idx: usize) -> Result<i64, StateError> {
    let v = args
        .get(idx)
        .map(ArgValue::value)
        .ok_or_else(|| type_err(name, idx, "an integer"))?;
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(f as i64),
        _ => Err(type_err(name, idx, "an integer")),
    }
}

fn f_format(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    if args.is_empty() {
        return Err(fail(format!(
            "The function {name} takes at least 1 argument."
        )));
    }
    let ArgValue::Raw(template, _) = &args[0] else {
        return Err(type_err(name, 0, "a string literal"));
    };
    let mut out = String::new();
    let mut next = 1;
    let chars: Vec<char> = template.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
            }
            i += 2;
            continue;
        }
        if c == '{' && chars.get(i + 1) == Some(&'}') {
            let Some(a) = args.get(next) else {
                return Err(fail(format!(
                    "Number of arguments in {name} do not match the number of placeholders in the format string."
                )));
            };
            out.push_str(&java_string(a.value()));
            next += 1;
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    if next != args.len() {
        return Err(fail(format!(
            "Number of arguments in {name} do not match the number of placeholders in the format string."
        )));
    }
    Ok(Value::String(out))
}

/// Renders a value the way AWS's (Java) `States.Format` does: strings raw, objects as
/// `{k=v, …}`, arrays as `[a, b]`.
fn java_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(java_string).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}={}", java_string(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn normalize_zero(v: Value) -> Value {
    match v {
        Value::Number(n)
            if n.as_f64() == Some(0.0) && n.is_f64() && n.to_string().starts_with('-') =>
        {
            Value::from(0)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(normalize_zero).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, normalize_zero(v))).collect())
        }
        other => other,
    }
}

fn f_string_to_json(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    let s = arg_str(name, args, 0)?;
    if s.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(s).map(normalize_zero).map_err(|_| {
        fail(format!(
            "The argument of {name} is not a valid JSON string: '{s}'."
        ))
    })
}

fn f_json_to_string(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    Ok(Value::String(args[0].value().to_string()))
}

fn f_array(
    _name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    Ok(Value::Array(
        args.iter().map(|a| a.value().clone()).collect(),
    ))
}

fn f_array_partition(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 2)?;
    let arr = arg_array(name, args, 0)?;
    let size = arg_int(name, args, 1)?;
    if size <= 0 {
        return Err(fail(format!(
            "Chunk size must be greater than 0 in {name}."
        )));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::Array(
        arr.chunks(size).map(|c| Value::Array(c.to_vec())).collect(),
    ))
}

fn f_array_contains(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 2)?;
    let arr = arg_array(name, args, 0)?;
    let needle = args[1].value();
    Ok(Value::Bool(arr.iter().any(|v| json_eq(v, needle))))
}

fn f_array_range(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 3, 3)?;
    let start = arg_int(name, args, 0)?;
    let end = arg_int(name, args, 1)?;
    let step = arg_int(name, args, 2)?;
    if step == 0 {
        return Err(fail(format!("The step of {name} must not be 0.")));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        out.push(Value::from(i));
        if out.len() > 1000 {
            return Err(fail(format!(
                "The array returned by {name} cannot contain more than 1000 items."
            )));
        }
        i += step;
    }
    Ok(Value::Array(out))
}

fn f_array_get_item(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 2)?;
    let arr = arg_array(name, args, 0)?;
    let idx = arg_int(name, args, 1)?;
    usize::try_from(idx)
        .ok()
        .and_then(|i| arr.get(i))
        .cloned()
        .ok_or_else(|| {
            fail(format!(
                "The index {idx} is out of bounds of the array in {name}."
            ))
        })
}

fn f_array_length(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    Ok(Value::from(arg_array(name, args, 0)?.len()))
}

fn f_array_unique(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    let mut out: Vec<Value> = Vec::new();
    for v in arg_array(name, args, 0)? {
        if !out.iter().any(|o| json_eq(o, v)) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

fn f_base64_encode(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    let s = arg_str(name, args, 0)?;
    if s.chars().count() > 10_000 {
        return Err(fail(format!(
            "The input of {name} cannot be longer than 10000 characters."
        )));
    }
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
    ))
}

fn f_base64_decode(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    let s = arg_str(name, args, 0)?;
    if s.chars().count() > 10_000 {
        return Err(fail(format!(
            "The input of {name} cannot be longer than 10000 characters."
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| fail(format!("The input of {name} is not valid base64: '{s}'.")))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| fail(format!("The decoded input of {name} is not valid UTF-8.")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn f_hash(name: &str, args: &[ArgValue], _env: &mut IntrinsicEnv<'_>) -> Result<Value, StateError> {
    use sha2::Digest as _;
    arity(name, args, 2, 2)?;
    let data = match args[0].value() {
        Value::String(s) => s.clone(),
        Value::Null => return Err(type_err(name, 0, "a string")),
        v => v.to_string(),
    };
    if data.chars().count() > 10_000 {
        return Err(fail(format!(
            "The input of {name} cannot be longer than 10000 characters."
        )));
    }
    let algo = arg_str(name, args, 1)?;
    let d = data.as_bytes();
    let h = match algo {
        "MD5" => hex(&md5::Md5::digest(d)),
        "SHA-1" => hex(&sha1::Sha1::digest(d)),
        "SHA-256" => hex(&sha2::Sha256::digest(d)),
        "SHA-384" => hex(&sha2::Sha384::digest(d)),
        "SHA-512" => hex(&sha2::Sha512::digest(d)),
        other => {
            return Err(fail(format!(
                "{other} is not supported by {name}; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512."
            )));
        }
    };
    Ok(Value::String(h))
}

fn deep_merge(a: &mut Map<String, Value>, b: &Map<String, Value>) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(Value::Object(x)), Value::Object(y)) => deep_merge(x, y),
            _ => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

fn f_json_merge(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 3, 3)?;
    let a = args[0]
        .value()
        .as_object()
        .ok_or_else(|| type_err(name, 0, "a JSON object"))?;
    let b = args[1]
        .value()
        .as_object()
        .ok_or_else(|| type_err(name, 1, "a JSON object"))?;
    let deep = args[2]
        .value()
        .as_bool()
        .ok_or_else(|| type_err(name, 2, "a boolean"))?;
    let mut out = a.clone();
    if deep {
        deep_merge(&mut out, b);
    } else {
        for (k, v) in b {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn f_math_random(
    name: &str,
    args: &[ArgValue],
    env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 3)?;
    let start = arg_int(name, args, 0)?;
    let end = arg_int(name, args, 1)?;
    if end <= start {
        return Err(fail(format!(
            "The end of {name} must be greater than its start."
        )));
    }
    let r = if args.len() == 3 {
        let seed = arg_int(name, args, 2)?;
        Rng(seed as u64).next_u64()
    } else {
        env.rng.next_u64()
    };
    let span = (end - start) as u64;
    Ok(Value::from(start + (r % span) as i64))
}

fn int_arg_rounded(name: &str, args: &[ArgValue], idx: usize) -> Result<i64, StateError> {
    let v = args.get(idx).map(ArgValue::value);
    if let Some(i) = v.and_then(Value::as_i64) {
        return Ok(i);
    }
    match v.and_then(Value::as_f64) {
        Some(f) if f.is_finite() => Ok((f + 0.5).floor() as i64),
        _ => Err(type_err(name, idx, "a number")),
    }
}

fn f_math_add(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 2)?;
    let a = int_arg_rounded(name, args, 0)?;
    let b = int_arg_rounded(name, args, 1)?;
    Ok(Value::from(a.saturating_add(b)))
}

fn f_string_split(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 2)?;
    let s = arg_str(name, args, 0)?;
    let delims: Vec<char> = arg_str(name, args, 1)?.chars().collect();
    Ok(Value::Array(
        s.split(|c| delims.contains(&c))
            .filter(|p| !p.is_empty())
            .map(|p| Value::String(p.to_string()))
            .collect(),
    ))
}

fn f_uuid(name: &str, args: &[ArgValue], env: &mut IntrinsicEnv<'_>) -> Result<Value, StateError> {
    arity(name, args, 0, 0)?;
    let hi = env.rng.next_u64();
    let lo = env.rng.next_u64();
    let bytes = ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes();
    Ok(Value::String(
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
    ))
}

/// JSON equality treating `1` and `1.0` as equal.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
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
}
