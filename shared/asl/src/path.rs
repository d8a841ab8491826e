//! JSONPath, parsed once into segments.
//!
//! Paths start with `$` (the state input, or whatever document they apply to) or `$$` (the
//! context object). Supported segments: `.name`, `['name']`, `[n]`, `[*]` / `.*`, `..name`,
//! `[start:end:step]`, unions `[a,b]` and filters `[?(...)]`. A path with only field and
//! index segments is *definite* and yields one value (or nothing); any other path is
//! *indefinite* and yields an array of the matches, like AWS (Jayway) does.
//!
//! Decision: field/index/wildcard/slice/union/descendant are evaluated here because their
//! AWS semantics are simple and we need the parsed form anyway for reference paths
//! (ResultPath, which may only contain field and index segments and must *write* into the
//! document). Filter expressions are delegated to `serde_json_path` (RFC 9535 accepts the
//! `?(@.x > 1)` form AWS uses), applied to the current node.

use serde_json::{Map, Value};

/// One path segment.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `.name` or `['name']`.
    Field(String),
    /// `[n]` (negative counts from the end).
    Index(i64),
    /// `.*` or `[*]`.
    Wildcard,
    /// `..name` or `..*` (`None`).
    Descendant(Option<String>),
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `[a,b,'c']`.
    Union(Vec<Segment>),
    /// `[?(...)]`, kept as the bracket content (`?(...)`), evaluated by serde_json_path.
    Filter(Filter),
}

/// A compiled filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    text: String,
    query: serde_json_path::JsonPath,
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    raw: String,
    context: bool,
    segments: Vec<Segment>,
}

/// A malformed path.
#[derive(Debug, thiserror::Error)]
#[error("invalid path '{path}': {reason}")]
pub struct PathError {
    /// The path text.
    pub path: String,
    /// What is wrong.
    pub reason: PathSyntaxError,
}

/// What is wrong with a malformed path (the `reason` of a [`PathError`]).
#[derive(Debug, thiserror::Error)]
pub enum PathSyntaxError {
    /// The path does not start with `$` or `$$`.
    #[error("a path must start with '$'")]
    MissingRoot,
    /// `..` is followed by neither a name nor `*`.
    #[error("'..' must be followed by a name")]
    DescendantWithoutName,
    /// `.` is followed by neither a name nor `*`.
    #[error("'.' must be followed by a name")]
    DotWithoutName,
    /// A `[` has no matching `]`.
    #[error("unclosed '['")]
    UnclosedBracket,
    /// Something other than `.` or `[` where a segment should start.
    #[error("expected '.' or '['")]
    ExpectedSegment,
    /// A `[?(...)]` filter that `serde_json_path` cannot parse.
    #[error("bad filter: {0}")]
    BadFilter(#[source] serde_json_path::ParseError),
    /// A `[start:end:step]` slice with more than three parts or a part that is not an
    /// integer; holds the bracket content.
    #[error("bad slice '{0}'")]
    BadSlice(String),
    /// Bracket content that is neither a quoted name, an integer, a slice, `*`, a union
    /// nor a filter; holds the bracket content.
    #[error("bad bracket '{0}'")]
    BadBracket(String),
}

/// Why [`Path::write`] could not write a value into a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathWriteError {
    /// A field segment met a value that is not an object.
    #[error("not an object")]
    NotAnObject,
    /// An index segment met a value that is not an array.
    #[error("not an array")]
    NotAnArray,
    /// An index segment points past either end of the array.
    #[error("index out of bounds")]
    IndexOutOfBounds,
    /// The path has a segment other than a field or an index.
    #[error("not a reference path")]
    NotReference,
}

impl Path {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let err = |reason: PathSyntaxError| PathError {
            path: text.to_string(),
            reason,
        };
        let t = text.trim();
        let (context, rest) = if let Some(r) = t.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = t.strip_prefix('$') {
            (false, r)
        } else {
            return Err(err(PathSyntaxError::MissingRoot));
        };
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        let mut segments = Vec::new();
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    if chars.get(i + 1) == Some(&'.') {
                        i += 2;
                        if chars.get(i) == Some(&'*') {
                            i += 1;
                            segments.push(Segment::Descendant(None));
                        } else {
                            let start = i;
                            while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                                i += 1;
                            }
                            if start == i {
                                return Err(err(PathSyntaxError::DescendantWithoutName));
                            }
                            segments
                                .push(Segment::Descendant(Some(chars[start..i].iter().collect())));
                        }
                    } else {
                        i += 1;
                        if chars.get(i) == Some(&'*') {
                            i += 1;
                            segments.push(Segment::Wildcard);
                            continue;
                        }
                        let start = i;
                        while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                            i += 1;
                        }
                        if start == i {
                            return Err(err(PathSyntaxError::DotWithoutName));
                        }
                        segments.push(Segment::Field(chars[start..i].iter().collect()));
                    }
                }
                '[' => {
                    // find the matching ']' honouring quotes and nested brackets
                    let start = i + 1;
                    let mut depth = 0;
                    let mut quote: Option<char> = None;
                    let mut j = start;
                    let mut end = None;
                    while j < chars.len() {
                        let c = chars[j];
                        if let Some(q) = quote {
                            if c == '\\' {
                                j += 1;
                            } else if c == q {
                                quote = None;
                            }
                        } else if c == '\'' || c == '"' {
                            quote = Some(c);
                        } else if c == '[' || c == '(' {
                            depth += 1;
                        } else if c == ')' {
                            depth -= 1;
                        } else if c == ']' {
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                            depth -= 1;
                        }
                        j += 1;
                    }
                    let Some(end) = end else {
                        return Err(err(PathSyntaxError::UnclosedBracket));
                    };
                    let inner: String = chars[start..end].iter().collect();
                    segments.push(parse_bracket(inner.trim()).map_err(err)?);
                    i = end + 1;
                }
                c if c.is_whitespace() => i += 1,
                _ => return Err(err(PathSyntaxError::ExpectedSegment)),
            }
        }
        Ok(Path {
            raw: text.to_string(),
            context,
            segments,
        })
    }

    /// The source text.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether the path starts with `$$` (context object).
    pub fn is_context(&self) -> bool {
        self.context
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the path yields a single value (field and index segments only).
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    }

    /// Whether the path can be used as a reference path (ResultPath).
    pub fn is_reference(&self) -> bool {
        !self.context && self.is_definite()
    }

    /// AWS's normalised rendering, e.g. `$['a'][0]`.
    pub fn bracket_form(&self) -> String {
        let mut s = String::from(if self.context { "$$" } else { "$" });
        for seg in &self.segments {
            match seg {
                Segment::Field(f) => s.push_str(&format!("['{f}']")),
                Segment::Index(n) => s.push_str(&format!("[{n}]")),
                Segment::Wildcard => s.push_str("[*]"),
                Segment::Descendant(Some(n)) => s.push_str(&format!("..['{n}']")),
                Segment::Descendant(None) => s.push_str("..[*]"),
                Segment::Slice(a, b, c) => {
                    let f = |v: &Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
                    s.push_str(&format!("[{}:{}:{}]", f(a), f(b), f(c)));
                }
                Segment::Union(_) | Segment::Filter(_) => s.push_str("[...]"),
            }
        }
        s
    }

    /// Evaluates the path on `doc`: `Some(value)` for a definite path that matched, `None`
    /// for one that did not; indefinite paths always give `Some(array)`.
    pub fn select(&self, doc: &Value) -> Option<Value> {
        if self.is_definite() {
            let mut cur = doc;
            for seg in &self.segments {
                cur = match seg {
                    Segment::Field(f) => cur.as_object()?.get(f)?,
                    Segment::Index(n) => {
                        let a = cur.as_array()?;
                        a.get(norm_index(*n, a.len())?)?
                    }
                    _ => return None,
                };
            }
            return Some(cur.clone());
        }
        let mut nodes: Vec<&Value> = vec![doc];
        for seg in &self.segments {
            let mut next = Vec::new();
            for n in nodes {
                apply(seg, n, &mut next);
            }
            nodes = next;
        }
        Some(Value::Array(nodes.into_iter().cloned().collect()))
    }

    /// Writes `value` at this reference path inside `doc`, creating missing objects, as
    /// ResultPath does. `$` replaces the document.
    pub fn write(&self, doc: Value, value: Value) -> Result<Value, PathWriteError> {
        if self.segments.is_empty() {
            return Ok(value);
        }
        let mut doc = doc;
        write_into(&mut doc, &self.segments, value)?;
        Ok(doc)
    }
}

fn norm_index(n: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let k = if n < 0 { len_i + n } else { n };
    if k < 0 || k >= len_i {
        None
    } else {
        usize::try_from(k).ok()
    }
}

fn write_into(node: &mut Value, segs: &[Segment], value: Value) -> Result<(), PathWriteError> {
    let Some((first, rest)) = segs.split_first() else {
        *node = value;
        return Ok(());
    };
    match first {
        Segment::Field(f) => {
            let Value::Object(map) = node else {
                return Err(PathWriteError::NotAnObject);
            };
            if rest.is_empty() {
                map.insert(f.clone(), value);
                return Ok(());
            }
            let child = map
                .entry(f.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            write_into(child, rest, value)
        }
        Segment::Index(n) => {
            let Value::Array(a) = node else {
                return Err(PathWriteError::NotAnArray);
            };
            let len = a.len();
            let Some(slot) = norm_index(*n, len).and_then(|k| a.get_mut(k)) else {
                return Err(PathWriteError::IndexOutOfBounds);
            };
            write_into(slot, rest, value)
        }
        _ => Err(PathWriteError::NotReference),
    }
}

fn apply<'a>(seg: &Segment, node: &'a Value, out: &mut Vec<&'a Value>) {
    match seg {
        Segment::Field(f) => {
            if let Some(v) = node.as_object().and_then(|m| m.get(f)) {
                out.push(v);
            }
        }
        Segment::Index(n) => {
            if let Some(a) = node.as_array()
                && let Some(v) = norm_index(*n, a.len()).and_then(|k| a.get(k))
            {
                out.push(v);
            }
        }
        Segment::Wildcard => match node {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(m) => out.extend(m.values()),
            _ => {}
        },
        Segment::Descendant(name) => descend(name.as_deref(), node, out),
        Segment::Slice(a, b, c) => {
            if let Some(arr) = node.as_array() {
                let len = i64::try_from(arr.len()).unwrap_or(i64::MAX);
                let step = c.unwrap_or(1);
                if step == 0 {
                    return;
                }
                let clamp = |v: i64| {
                    if v < 0 { (len + v).max(0) } else { v.min(len) }
                };
                if step > 0 {
                    let mut i = a.map(clamp).unwrap_or(0);
                    let end = b.map(clamp).unwrap_or(len);
                    while i < end {
                        if let Some(v) = usize::try_from(i).ok().and_then(|k| arr.get(k)) {
                            out.push(v);
                        }
                        // A step near i64::MAX would overflow: nothing lies beyond anyway.
                        let Some(n) = i.checked_add(step) else { break };
                        i = n;
                    }
                } else {
                    let mut i = a.map(|v| clamp(v).min(len - 1)).unwrap_or(len - 1);
                    let end = b.map(clamp).unwrap_or(-1);
                    while i > end && i >= 0 {
                        if let Some(v) = usize::try_from(i).ok().and_then(|k| arr.get(k)) {
                            out.push(v);
                        }
                        i += step;
                    }
                }
            }
        }
        Segment::Union(parts) => {
            for p in parts {
                apply(p, node, out);
            }
        }
        Segment::Filter(f) => {
            out.extend(f.query.query(node).all());
        }
    }
}

fn descend<'a>(name: Option<&str>, node: &'a Value, out: &mut Vec<&'a Value>) {
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                if name.is_none_or(|n| n == k) {
                    out.push(v);
                }
            }
            for v in m.values() {
                descend(name, v, out);
            }
        }
        Value::Array(a) => {
            if name.is_none() {
                out.extend(a.iter());
            }
            for v in a {
                descend(name, v, out);
            }
        }
        _ => {}
    }
}

fn parse_bracket(inner: &str) -> Result<Segment, PathSyntaxError> {
    if inner == "*" {
        return Ok(Segment::Wildcard);
    }
    if inner.starts_with('?') {
        let jp = serde_json_path::JsonPath::parse(&format!("$[{inner}]"))
            .map_err(PathSyntaxError::BadFilter)?;
        return Ok(Segment::Filter(Filter {
            text: inner.to_string(),
            query: jp,
        }));
    }
    let parts = split_top(inner, ',');
    if parts.len() > 1 {
        return parts
            .iter()
            .map(|p| parse_single(p.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(Segment::Union);
    }
    parse_single(inner)
}

fn parse_single(s: &str) -> Result<Segment, PathSyntaxError> {
    if (s.starts_with('\'') && s.ends_with('\'') || s.starts_with('"') && s.ends_with('"'))
        && s.len() >= 2
    {
        let body = &s[1..s.len() - 1];
        return Ok(Segment::Field(
            body.replace("\\'", "'").replace("\\\"", "\""),
        ));
    }
    if s.contains(':') {
        let bits: Vec<&str> = s.split(':').collect();
        if bits.len() > 3 {
            return Err(PathSyntaxError::BadSlice(s.to_string()));
        }
        let num = |b: Option<&&str>| -> Result<Option<i64>, PathSyntaxError> {
            match b.map(|x| x.trim()) {
                None | Some("") => Ok(None),
                Some(x) => x
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| PathSyntaxError::BadSlice(s.to_string())),
            }
        };
        return Ok(Segment::Slice(
            num(bits.first())?,
            num(bits.get(1))?,
            num(bits.get(2))?,
        ));
    }
    s.parse::<i64>()
        .map(Segment::Index)
        .map_err(|_| PathSyntaxError::BadBracket(s.to_string()))
}

fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c == sep => out.push(std::mem::take(&mut cur)),
            None => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, doc: &Value) -> Option<Value> {
        Path::parse(p).unwrap().select(doc)
    }

    #[test]
    fn given_definite_path_when_selected_then_single_value() {
        let doc = json!({"a": {"b": [10, 20, {"c": "x"}]}, "d e": 1});
        assert_eq!(sel("$", &doc), Some(doc.clone()));
        assert_eq!(sel("$.a.b[1]", &doc), Some(json!(20)));
        assert_eq!(sel("$.a.b[2].c", &doc), Some(json!("x")));
        assert_eq!(sel("$['d e']", &doc), Some(json!(1)));
        assert_eq!(sel("$.a.b[-1].c", &doc), Some(json!("x")));
        assert_eq!(sel("$.missing", &doc), None);
        assert!(Path::parse("$.a.b[0]").unwrap().is_reference());
    }

    #[test]
    fn given_indefinite_path_when_selected_then_array() {
        let doc = json!({"items": [{"n": 1, "v": "a"}, {"n": 2, "v": "b"}, {"n": 3, "v": "c"}]});
        assert_eq!(sel("$.items[*].n", &doc), Some(json!([1, 2, 3])));
        assert_eq!(sel("$..v", &doc), Some(json!(["a", "b", "c"])));
        assert_eq!(sel("$.items[0:2].n", &doc), Some(json!([1, 2])));
        assert_eq!(sel("$.items[0,2].v", &doc), Some(json!(["a", "c"])));
        assert_eq!(sel("$.items[?(@.n > 1)].v", &doc), Some(json!(["b", "c"])));
        assert_eq!(sel("$.nothing[*]", &doc), Some(json!([])));
    }

    #[test]
    fn given_reference_path_when_written_then_objects_created() {
        let p = Path::parse("$.a.b").unwrap();
        assert_eq!(
            p.write(json!({"x": 1}), json!(2)).unwrap(),
            json!({"x": 1, "a": {"b": 2}})
        );
        assert!(p.write(json!("str"), json!(2)).is_err());
        assert_eq!(
            Path::parse("$").unwrap().write(json!(1), json!(2)).unwrap(),
            json!(2)
        );
    }

    #[test]
    fn given_malformed_paths_when_parsed_then_errors() {
        assert!(Path::parse("a.b").is_err());
        assert!(Path::parse("$.").is_err());
        assert!(Path::parse("$[1").is_err());
        assert!(Path::parse("$$.Execution.Id").unwrap().is_context());
        assert_eq!(Path::parse("$.a[0]").unwrap().bracket_form(), "$['a'][0]");
    }

    #[test]
    fn given_malformed_paths_when_parsed_then_messages_name_the_fault() {
        let msg = |p: &str| Path::parse(p).unwrap_err().to_string();
        assert_eq!(msg("a.b"), "invalid path 'a.b': a path must start with '$'");
        assert_eq!(
            msg("$.."),
            "invalid path '$..': '..' must be followed by a name"
        );
        assert_eq!(
            msg("$."),
            "invalid path '$.': '.' must be followed by a name"
        );
        assert_eq!(msg("$[1"), "invalid path '$[1': unclosed '['");
        assert_eq!(msg("$x"), "invalid path '$x': expected '.' or '['");
        assert_eq!(
            msg("$[1:2:3:4]"),
            "invalid path '$[1:2:3:4]': bad slice '1:2:3:4'"
        );
        assert_eq!(msg("$[a:b]"), "invalid path '$[a:b]': bad slice 'a:b'");
        assert_eq!(msg("$[x]"), "invalid path '$[x]': bad bracket 'x'");
        let err = Path::parse("$[?(@.a ==)]").unwrap_err();
        assert!(matches!(err.reason, PathSyntaxError::BadFilter(_)));
        assert!(
            err.to_string()
                .starts_with("invalid path '$[?(@.a ==)]': bad filter: ")
        );
    }

    #[test]
    fn given_unwritable_documents_when_written_then_typed_errors() {
        let write = |p: &str, doc: Value| Path::parse(p).unwrap().write(doc, json!(1));
        assert_eq!(write("$.a", json!([])), Err(PathWriteError::NotAnObject));
        assert_eq!(write("$[0]", json!({})), Err(PathWriteError::NotAnArray));
        assert_eq!(
            write("$[3]", json!([1])),
            Err(PathWriteError::IndexOutOfBounds)
        );
        assert_eq!(write("$[*]", json!([1])), Err(PathWriteError::NotReference));
        assert_eq!(PathWriteError::NotAnObject.to_string(), "not an object");
        assert_eq!(PathWriteError::NotAnArray.to_string(), "not an array");
        assert_eq!(
            PathWriteError::IndexOutOfBounds.to_string(),
            "index out of bounds"
        );
        assert_eq!(
            PathWriteError::NotReference.to_string(),
            "not a reference path"
        );
    }
}
