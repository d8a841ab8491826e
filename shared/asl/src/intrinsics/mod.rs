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
use crate::path::{Path, PathError};

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

/// Why an intrinsic expression could not be tokenized or parsed ([`tokenize`], [`parse`]).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A `'` string literal is not closed before the end of the expression.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// Text starting like a number is not a JSON number; holds the text.
    #[error("invalid number literal '{0}'")]
    InvalidNumber(String),
    /// A character that starts no token.
    #[error("unexpected character '{0}'")]
    UnexpectedChar(char),
    /// Tokens remain after the outermost call is closed.
    #[error("unexpected text after the closing parenthesis")]
    TrailingText,
    /// A call does not start with a function name.
    #[error("expected a function name")]
    ExpectedName,
    /// A function name is not followed by `(`; holds the name.
    #[error("expected '(' after {0}")]
    ExpectedOpenParen(String),
    /// An argument position holds no literal, path or call; holds the function name.
    #[error("expected an argument of {0}")]
    ExpectedArgument(String),
    /// An argument is followed by neither `,` nor `)`; holds the function name.
    #[error("expected ',' or ')' in {0}")]
    ExpectedCommaOrClose(String),
    /// A path argument is malformed.
    #[error(transparent)]
    Path(#[from] PathError),
}

fn fail(cause: impl Into<String>) -> StateError {
    StateError::new(INTRINSIC_FAILURE, cause)
}

/// Splits an expression into tokens.
pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
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
                        return Err(ParseError::UnterminatedString);
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
                    .map_err(|_| ParseError::InvalidNumber(text.clone()))?;
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
            other => return Err(ParseError::UnexpectedChar(other)),
        }
    }
    Ok(out)
}

/// Parses an expression into a call tree.
pub fn parse(src: &str) -> Result<Call, ParseError> {
    let tokens = tokenize(src)?;
    let mut pos = 0;
    let call = parse_call(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(ParseError::TrailingText);
    }
    Ok(call)
}

fn parse_call(tokens: &[Token], pos: &mut usize) -> Result<Call, ParseError> {
    let Some(Token::Ident(name)) = tokens.get(*pos) else {
        return Err(ParseError::ExpectedName);
    };
    *pos += 1;
    if tokens.get(*pos) != Some(&Token::LParen) {
        return Err(ParseError::ExpectedOpenParen(name.clone()));
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
                Arg::Path(Path::parse(p)?)
            }
            _ => return Err(ParseError::ExpectedArgument(name.clone())),
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
            _ => return Err(ParseError::ExpectedCommaOrClose(name.clone())),
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

mod functions;
pub use functions::*;

#[cfg(test)]
mod tests;
