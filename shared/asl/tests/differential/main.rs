//! Differential test: random wait-free definitions (Pass/Choice/Parallel/Map trees with
//! paths, intrinsic functions, counted loops; see `generator.rs`) run on our engine and on
//! moto's Step Functions engine; status, output and error must agree, except where moto is
//! known to deviate from AWS (`DEVIATIONS`, also in `moto-deviations.md`; printed each run).
//!
//! `ASL_DIFF_SEED` (default fixed) and `ASL_DIFF_COUNT` (default 200) choose the cases;
//! case `i` is generated from seed `ASL_DIFF_SEED + i`, and a mismatch prints the line that
//! reproduces it alone. Without moto the test prints a notice and passes, unless `CI` is set.

mod generator;
mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use shipgate_asl::{EngineError, ExecutionStatus, NoTasks, run_to_completion};

use generator::{Limits, Rng};
use moto::{MotoServer, Outcome};

const DEFAULT_SEED: u64 = 0x5417_6a7e_0001;
const DEFAULT_COUNT: u64 = 200;
const IN_FLIGHT: usize = 4;
const MOTO_SERVERS: usize = 2;

/// A way moto's engine is known to differ from AWS Step Functions.
struct Deviation {
    id: &'static str,
    what: &'static str,
    /// Whether this deviation explains a disagreement on how an execution ended (ours,
    /// moto's); `None` for deviations in outputs, which [`equal_but_for_moto`] handles.
    explains: Option<fn(&Case, &Outcome, &Outcome) -> bool>,
}

fn failed_with(o: &Outcome, error: &str, cause_part: &str) -> bool {
    o.status == "FAILED"
        && o.error.as_deref() == Some(error)
        && o.cause.as_deref().is_some_and(|c| c.contains(cause_part))
}

const DEVIATIONS: &[Deviation] = &[
    Deviation {
        id: "no-choice-matched",
        what: "a Choice state with no matching rule and no Default fails with States.Runtime \
               (\"No branching option reached\"); AWS: States.NoChoiceMatched",
        explains: Some(|_, ours, moto| {
            ours.error.as_deref() == Some("States.NoChoiceMatched")
                && failed_with(moto, "States.Runtime", "No branching option reached")
        }),
    },
    Deviation {
        id: "missing-variable",
        what: "a Choice rule whose Variable (or …Path operand) selects nothing is just false; \
               AWS fails with States.Runtime (\"Invalid path …: The choice state's condition \
               path references an invalid value\")",
        explains: Some(|_, ours, _| {
            failed_with(
                ours,
                "States.Runtime",
                "condition path references an invalid value",
            )
        }),
    },
    Deviation {
        id: "map-over-non-array",
        what: "a Map whose ItemsPath selects a non-array fails with States.QueryEvaluationError \
               (a JSONata-mode error; cause names a Python class); AWS (JSONPath): States.Runtime",
        explains: Some(|_, ours, moto| {
            failed_with(ours, "States.Runtime", "must point to a JSON array")
                && failed_with(
                    moto,
                    "States.QueryEvaluationError",
                    "Map state input must be an array",
                )
        }),
    },
    Deviation {
        id: "python-type-error",
        what: "a comparison across types (NumericGreaterThan on a string, StringLessThan on a \
               number) or against a timestamp it cannot parse (fractional seconds, \
               2024-06-30T12:30:00.500Z) crashes with States.Runtime \"TypeError(…not supported \
               between instances…)\"; AWS: the comparison is false",
        explains: Some(|_, _, moto| {
            failed_with(moto, "States.Runtime", "not supported between instances")
        }),
    },
    Deviation {
        id: "branch-error-rethrow",
        what: "any States.* error inside a Parallel branch or Map iteration ends the execution \
               with States.Runtime \"Custom Error Names MUST NOT begin with the prefix \
               'States.'\" (moto re-raises it as a custom error), hiding the branch's own \
               error (often one of the other deviations); AWS fails with the branch's error",
        explains: Some(|_, _, moto| {
            failed_with(
                moto,
                "States.Runtime",
                "Custom Error Names MUST NOT begin with the prefix 'States.'",
            )
        }),
    },
    Deviation {
        id: "timestamp-format",
        what: "only YYYY-MM-DDTHH:MM:SSZ is a timestamp: an offset (+01:00) or fractional \
               seconds make IsTimestamp false and comparisons false or a TypeError; AWS takes \
               any RFC 3339 timestamp. Cases that use such timestamps (about 1 in 7) are \
               compared only where moto agrees",
        explains: Some(|case, _, _| case.exotic_timestamps),
    },
    Deviation {
        id: "filter-path",
        what: "a JSONPath filter ($.items[?(@.n > 2)].name) or negative slice ($.a[-1:]) that \
               matches nothing fails with States.Runtime (\"could not be found\"), and filters \
               on non-integer numbers miss matches (2.5 > 2 is false); AWS returns the matching \
               list, possibly []",
        explains: Some(|_, _, moto| {
            failed_with(moto, "States.Runtime", "could not be found")
                && moto
                    .cause
                    .as_deref()
                    .is_some_and(|c| c.contains("[?(") || c.contains("[-"))
        }),
    },
    Deviation {
        id: "intrinsic-error-name",
        what: "an intrinsic function that fails (States.ArrayGetItem past the end, \
               States.MathAdd on 2.5, …) fails with States.Runtime and a Python exception as \
               cause (\"IndexError(list index out of range)\"); AWS: States.IntrinsicFailure",
        explains: Some(|_, ours, moto| {
            ours.error.as_deref() == Some("States.IntrinsicFailure")
                && moto.error.as_deref() == Some("States.Runtime")
        }),
    },
    Deviation {
        id: "intrinsic-escapes",
        what: "an escaped character in an intrinsic's string literal \
               (States.Format('\\{\\} \\' {}', $.s)) crashes with KeyError('\\\\'); AWS \
               accepts \\' \\{ \\} \\\\",
        explains: Some(|_, _, moto| failed_with(moto, "States.Runtime", "KeyError('\\")),
    },
    Deviation {
        id: "array-range-negative-step",
        what: "States.ArrayRange(5, 1, -2) fails (\"Expected step argument to be non \
               negative\"); AWS only requires a non-zero step → [5, 3, 1]",
        explains: Some(|_, _, moto| {
            failed_with(moto, "States.Runtime", "step argument to be non negative")
        }),
    },
    Deviation {
        id: "non-ascii-encode",
        what: "States.Base64Encode (and States.Hash) of a string with non-ASCII characters \
               (\"héllo\") crashes with UnicodeEncodeError; AWS encodes the UTF-8 bytes",
        explains: Some(|_, _, moto| failed_with(moto, "States.Runtime", "UnicodeEncodeError")),
    },
    Deviation {
        id: "json-ascii-escape",
        what: "States.JsonToString escapes non-ASCII characters (\"h\\u00e9llo\"); AWS \
               writes them as they are (\"héllo\")",
        explains: None,
    },
    Deviation {
        id: "negative-int-literal",
        what: "a negative integer literal in a Parameters/Result template comes out as a \
               float (-3 → -3.0); AWS keeps -3",
        explains: None,
    },
    Deviation {
        id: "singleton-list",
        what: "a definite path into the context object (\"$$.Execution.Input.s\") or through \
               an array index to a field (\"$.items[0].name\") yields a one-element list; AWS \
               yields the value",
        explains: None,
    },
    Deviation {
        id: "array-null-dropped",
        what: "States.Array drops null arguments (States.Array(1, null) → [1]); AWS → [1, null]",
        explains: None,
    },
];

/// `s` with every non-ASCII character as a JSON `\uXXXX` escape (Python's `ensure_ascii`).
fn ascii_escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{:04x}", u));
            }
        }
    }
    out
}

/// Whether `ours` equals `moto` once moto's output deviations are undone; records which
/// were needed.
fn equal_but_for_moto(
    ours: &Value,
    moto: &Value,
    key: &str,
    used: &mut BTreeSet<&'static str>,
) -> bool {
    if ours == moto {
        return true;
    }
    match (ours, moto) {
        (Value::Number(a), Value::Number(b))
            if a.is_i64() && b.is_f64() && a.as_f64() == b.as_f64() =>
        {
            used.insert("negative-int-literal");
            true
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| equal_but_for_moto(v, w, k, used)))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .all(|(v, w)| equal_but_for_moto(v, w, key, used)),
        (Value::Array(a), Value::Array(b)) if a.iter().any(Value::is_null) => {
            let kept: Vec<&Value> = a.iter().filter(|v| !v.is_null()).collect();
            let ok = kept.len() == b.len()
                && kept
                    .iter()
                    .zip(b)
                    .all(|(v, w)| equal_but_for_moto(v, w, key, used));
            if ok {
                used.insert("array-null-dropped");
            }
            ok
        }
        (Value::String(a), Value::String(b)) if !a.is_ascii() && ascii_escaped(a) == *b => {
            used.insert("json-ascii-escape");
            true
        }
        _ if key.starts_with("flt") => {
            used.insert("filter-path");
            true
        }
        (a, Value::Array(b))
            if (key.starts_with("ctx") || key.starts_with("ix")) && b.len() == 1 && &b[0] == a =>
        {
            used.insert("singleton-list");
            true
        }
        _ => false,
    }
}

/// Deviations that the generator cannot produce (no Task states, no waits) but that the
/// list in `moto-deviations.md` records for whoever widens it.
const NOT_EXERCISED: &[(&str, &str)] = &[
    (
        "bool-is-number",
        "a boolean counts as a number (NumericEquals 1 holds for true, Python's bool is an \
         int); AWS: a type mismatch is false. The generator keeps booleans out of numeric \
         comparisons, as the outcome shows only as a different Choice branch",
    ),
    (
        "heartbeat-timeout",
        "a task whose HeartbeatSeconds elapse fails with States.Timeout; AWS: \
         States.HeartbeatTimeout (no Task states are generated)",
    ),
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(default)
}

fn status_name(s: ExecutionStatus) -> &'static str {
    match s {
        ExecutionStatus::Running => "RUNNING",
        ExecutionStatus::Succeeded => "SUCCEEDED",
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
    }
}

async fn run_ours(definition: &str, input: &Value) -> Outcome {
    let start = chrono::DateTime::UNIX_EPOCH;
    match run_to_completion(definition, input.clone(), Arc::new(NoTasks), start).await {
        Ok(d) => Outcome {
            status: status_name(d.status).to_string(),
            output: d.output,
            error: d.error,
            cause: d.cause,
            seconds: None,
        },
        Err(EngineError::InvalidDefinition(f)) => Outcome {
            status: "INVALID_DEFINITION".into(),
            output: None,
            error: None,
            cause: Some(format!("{f:?}")),
            seconds: None,
        },
        Err(e) => Outcome {
            status: "ENGINE_ERROR".into(),
            output: None,
            error: None,
            cause: Some(e.to_string()),
            seconds: None,
        },
    }
}

/// An error and the start of its cause, without the state name and event id.
fn failure_kind(o: &Outcome) -> String {
    let cause = o.cause.as_deref().unwrap_or("");
    let cause = match cause.find("). ") {
        Some(i) if cause.starts_with("An error occurred") => &cause[i + 3..],
        _ => cause,
    };
    let cause: String = cause.chars().take(70).collect();
    format!("{} {cause}", o.error.as_deref().unwrap_or("-"))
}

fn short(o: &Outcome) -> String {
    let cause: String = o.cause.as_deref().unwrap_or("").chars().take(160).collect();
    match o.status.as_str() {
        "SUCCEEDED" => "SUCCEEDED".to_string(),
        s => format!("{s} {} {cause:?}", o.error.as_deref().unwrap_or("-")),
    }
}

/// The first place two JSON values differ, as a JSON pointer with both sides.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &format!("{at}/{k}")) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{at}/{k}: ours {v}, moto absent")),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{at}/{k}: ours absent, moto {}", y[k]))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{at}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{at}: ours {a}, moto {b}")),
    }
}

fn summary(ours: &Outcome, moto: &Outcome) -> String {
    if ours.status == "SUCCEEDED" && moto.status == "SUCCEEDED" {
        let (a, b) = (
            ours.output.clone().unwrap_or_default(),
            moto.output.clone().unwrap_or_default(),
        );
        return format!(
            "outputs differ at {}",
            first_difference(&a, &b, "").unwrap_or_default()
        );
    }
    format!("ours {} | moto {}", short(ours), short(moto))
}

fn agree(ours: &Outcome, moto: &Outcome) -> bool {
    if ours.status != moto.status {
        return false;
    }
    match ours.status.as_str() {
        "SUCCEEDED" => ours.output == moto.output,
        // moto leaves out an empty error name (a Fail state's ErrorPath to "").
        "FAILED" => ours.error.as_deref().unwrap_or("") == moto.error.as_deref().unwrap_or(""),
        _ => true,
    }
}

/// Every Choice operator name, for the coverage check.
const OPERATORS: &[&str] = &[
    "And",
    "Or",
    "Not",
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
    "StringEqualsPath",
    "StringLessThanPath",
    "StringGreaterThanPath",
    "StringLessThanEqualsPath",
    "StringGreaterThanEqualsPath",
    "NumericEqualsPath",
    "NumericLessThanPath",
    "NumericGreaterThanPath",
    "NumericLessThanEqualsPath",
    "NumericGreaterThanEqualsPath",
    "BooleanEqualsPath",
    "TimestampEqualsPath",
    "TimestampLessThanPath",
    "TimestampGreaterThanPath",
    "TimestampLessThanEqualsPath",
    "TimestampGreaterThanEqualsPath",
];

fn count_keys(v: &Value, into: &mut BTreeMap<String, usize>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                *into.entry(k.clone()).or_default() += 1;
                count_keys(x, into);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| count_keys(x, into)),
        _ => {}
    }
}

struct Case {
    seed: u64,
    definition: Value,
    input: Value,
    exotic_timestamps: bool,
}

fn case(seed: u64) -> Case {
    let g = generator::case(&mut Rng::new(seed), Limits { depth: 2, steps: 5 });
    Case {
        seed,
        definition: g.definition,
        input: g.input,
        exotic_timestamps: g.exotic_timestamps,
    }
}

fn print_deviations() {
    println!("moto deviations from AWS accepted by this test (see shared/asl/moto-deviations.md):");
    for d in DEVIATIONS {
        println!("  {:<20} {}", d.id, d.what);
    }
    for (id, what) in NOT_EXERCISED {
        println!("  {id:<20} {what} [not generated]");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // `exit` skips destructors: the servers are dropped inside `run`, before it.
    let code = runtime.block_on(run());
    drop(runtime);
    std::process::exit(code);
}

/// Runs the comparison; the exit code.
async fn run() -> i32 {
    let seed = env_u64("ASL_DIFF_SEED", DEFAULT_SEED);
    let count = env_u64("ASL_DIFF_COUNT", DEFAULT_COUNT);
    // moto runs one state every ~10 ms, under one GIL: two servers use both cores.
    let mut servers = Vec::new();
    for _ in 0..MOTO_SERVERS {
        match moto::start_or_skip("differential").await {
            Ok(Some(s)) => servers.push(Arc::new(s)),
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    }
    println!(
        "differential: {count} generated definitions, seed {seed:#x}, against moto {}",
        moto::moto_version()
    );
    print_deviations();
    let began = Instant::now();
    let cases: Vec<Case> = (0..count).map(|i| case(seed.wrapping_add(i))).collect();

    let mut keys = BTreeMap::new();
    for c in &cases {
        count_keys(&c.definition, &mut keys);
    }
    let missing: Vec<&str> = OPERATORS
        .iter()
        .copied()
        .filter(|op| !keys.contains_key(*op))
        .collect();

    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut our_failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut explained: BTreeMap<&str, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut explained_cases = 0usize;
    for chunk in cases.chunks(IN_FLIGHT) {
        let mut set = tokio::task::JoinSet::new();
        for (k, c) in chunk.iter().enumerate() {
            let server: Arc<MotoServer> = servers[k % servers.len()].clone();
            let slot = k / servers.len();
            let def = c.definition.to_string();
            let input = c.input.clone();
            let name = format!("diff-{:x}", c.seed);
            set.spawn(async move { (k, server.run(slot, &name, &def, &input).await) });
        }
        let mut theirs: Vec<Option<Result<Outcome, String>>> = vec![None; chunk.len()];
        while let Some(joined) = set.join_next().await {
            let (k, r) = joined.expect("moto task panicked");
            theirs[k] = Some(r);
        }
        for (c, moto_result) in chunk.iter().zip(theirs) {
            let ours = run_ours(&c.definition.to_string(), &c.input).await;
            let moto = match moto_result.expect("every task reports") {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("moto failed on case seed {:#x}: {e}", c.seed);
                    return 1;
                }
            };
            *statuses.entry(ours.status.clone()).or_default() += 1;
            if ours.status == "FAILED" {
                *our_failures.entry(failure_kind(&ours)).or_default() += 1;
            }
            if agree(&ours, &moto) {
                continue;
            }
            let mut used = BTreeSet::new();
            let outputs_explained = ours.status == "SUCCEEDED"
                && moto.status == "SUCCEEDED"
                && equal_but_for_moto(
                    ours.output.as_ref().unwrap_or(&Value::Null),
                    moto.output.as_ref().unwrap_or(&Value::Null),
                    "",
                    &mut used,
                );
            if !outputs_explained
                && let Some(d) = DEVIATIONS
                    .iter()
                    .find(|d| d.explains.is_some_and(|f| f(c, &ours, &moto)))
            {
                used.insert(d.id);
            }
            if used.is_empty() {
                mismatches.push((c, ours, moto));
            } else {
                explained_cases += 1;
                for id in used {
                    *explained.entry(id).or_default() += 1;
                }
            }
        }
    }
    println!(
        "differential: {count} cases in {:.1} s: {} agree, {explained_cases} differ only by \
         known moto deviations {explained:?}, {} disagree; our statuses {statuses:?}",
        began.elapsed().as_secs_f64(),
        count as usize - explained_cases - mismatches.len(),
        mismatches.len(),
    );
    let mut kinds: Vec<_> = our_failures.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    println!("our failures, most frequent kinds:");
    for (k, n) in kinds.into_iter().take(8) {
        println!("  {n:>4}  {k}");
    }
    let mut failed = false;
    if !missing.is_empty() {
        println!("FAIL the generator never used these Choice operators: {missing:?}");
        failed = true;
    }
    if !mismatches.is_empty() {
        failed = true;
        let report = std::env::temp_dir().join("shipgate-asl-differential.txt");
        let mut full = String::new();
        println!(
            "FAIL {} cases disagree (full definitions and outputs in {}):",
            mismatches.len(),
            report.display()
        );
        for (c, ours, moto) in &mismatches {
            println!("--- case seed {:#x}: {}", c.seed, summary(ours, moto));
            full.push_str(&format!(
                "--- case seed {seed:#x}\nreproduce: ASL_DIFF_SEED={seed:#x} ASL_DIFF_COUNT=1 \
                 cargo test -p shipgate-asl --test differential\ndefinition: {}\ninput: {}\n\
                 ours: {ours:?}\nmoto: {moto:?}\n",
                c.definition,
                c.input,
                seed = c.seed
            ));
        }
        if let Some((c, _, _)) = mismatches.first() {
            println!("first failing definition: {}", c.definition);
            println!("its input: {}", c.input);
        }
        let _ = std::fs::write(&report, full);
    }
    i32::from(failed)
}
