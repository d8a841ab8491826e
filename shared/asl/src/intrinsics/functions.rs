//! The intrinsic functions themselves, one `f_*` per `States.*` name in the registry.

use super::*;

pub(super) fn f_format(
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
pub(super) fn java_string(v: &Value) -> String {
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

pub(super) fn normalize_zero(v: Value) -> Value {
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

pub(super) fn f_string_to_json(
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

pub(super) fn f_json_to_string(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    Ok(Value::String(args[0].value().to_string()))
}

pub(super) fn f_array(
    _name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    Ok(Value::Array(
        args.iter().map(|a| a.value().clone()).collect(),
    ))
}

pub(super) fn f_array_partition(
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

pub(super) fn f_array_contains(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 2)?;
    let arr = arg_array(name, args, 0)?;
    let needle = args[1].value();
    Ok(Value::Bool(arr.iter().any(|v| json_eq(v, needle))))
}

pub(super) fn f_array_range(
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
        // Past i64's range there is nothing left to produce (and `+` would overflow).
        match i.checked_add(step) {
            Some(n) => i = n,
            None => break,
        }
    }
    Ok(Value::Array(out))
}

pub(super) fn f_array_get_item(
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

pub(super) fn f_array_length(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 1, 1)?;
    Ok(Value::from(arg_array(name, args, 0)?.len()))
}

pub(super) fn f_array_unique(
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

pub(super) fn f_base64_encode(
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

pub(super) fn f_base64_decode(
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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn f_hash(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
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

pub(super) fn deep_merge(a: &mut Map<String, Value>, b: &Map<String, Value>) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(Value::Object(x)), Value::Object(y)) => deep_merge(x, y),
            _ => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

pub(super) fn f_json_merge(
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

pub(super) fn f_math_random(
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
    // In i128: `end - start` overflows i64 for a range as wide as i64 itself.
    let span = (i128::from(end) - i128::from(start)) as u128;
    let picked = i128::from(start) + (u128::from(r) % span) as i128;
    Ok(Value::from(i64::try_from(picked).unwrap_or(start)))
}

pub(super) fn int_arg_rounded(
    name: &str,
    args: &[ArgValue],
    idx: usize,
) -> Result<i64, StateError> {
    let v = args.get(idx).map(ArgValue::value);
    if let Some(i) = v.and_then(Value::as_i64) {
        return Ok(i);
    }
    match v.and_then(Value::as_f64) {
        Some(f) if f.is_finite() => Ok((f + 0.5).floor() as i64),
        _ => Err(type_err(name, idx, "a number")),
    }
}

pub(super) fn f_math_add(
    name: &str,
    args: &[ArgValue],
    _env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
    arity(name, args, 2, 2)?;
    let a = int_arg_rounded(name, args, 0)?;
    let b = int_arg_rounded(name, args, 1)?;
    Ok(Value::from(a.saturating_add(b)))
}

pub(super) fn f_string_split(
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

pub(super) fn f_uuid(
    name: &str,
    args: &[ArgValue],
    env: &mut IntrinsicEnv<'_>,
) -> Result<Value, StateError> {
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
