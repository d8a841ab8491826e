//! Runs every recorded AWS conformance case in `shared/asl-conformance/` through
//! `run_to_completion` and compares status, output, error and cause.
//!
//! Cases listed in `conformance-pending.txt` are expected to fail (the list may only shrink:
//! a listed case that passes fails the test, as does an unlisted case that fails).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use shipgate_asl::{ExecutionStatus, NoTasks, run_to_completion};

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(cases(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn strip(v: &mut Value, path: &str) {
    let parts: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
    let mut cur = v;
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            if let Some(o) = cur.as_object_mut() {
                o.remove(*p);
            }
            return;
        }
        match cur.get_mut(*p) {
            Some(n) => cur = n,
            None => return,
        }
    }
}

async fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let def = case["definition"].to_string();
    let input = case.get("input").cloned().unwrap_or(Value::Null);
    let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .map_err(|e| e.to_string())?
        .with_timezone(&chrono::Utc);
    let d = run_to_completion(&def, input, Arc::new(NoTasks), start)
        .await
        .map_err(|e| format!("engine error: {e}"))?;
    let exp = &case["expected"];
    let want_status = exp["status"].as_str().unwrap_or("");
    let got_status = match d.status {
        ExecutionStatus::Running => "RUNNING",
        ExecutionStatus::Succeeded => "SUCCEEDED",
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
    };
    if want_status != got_status {
        return Err(format!(
            "status {got_status} != {want_status} (error {:?}, cause {:?})",
            d.error, d.cause
        ));
    }
    let ignore: Vec<String> = exp
        .get("ignore_paths")
        .or(case.get("ignore_paths"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if want_status == "SUCCEEDED" {
        let mut want = exp.get("output").cloned().unwrap_or(Value::Null);
        let mut got = d.output.clone().unwrap_or(Value::Null);
        for p in &ignore {
            strip(&mut want, p);
            strip(&mut got, p);
        }
        if want != got {
            return Err(format!("output {got} != {want}"));
        }
    } else {
        let want_err = exp.get("error").and_then(Value::as_str);
        if want_err != d.error.as_deref() {
            return Err(format!("error {:?} != {:?}", d.error, want_err));
        }
        if let Some(c) = exp.get("cause").and_then(Value::as_str)
            && Some(c) != d.cause.as_deref()
        {
            return Err(format!("cause {:?} != {c:?}", d.cause));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/asl-conformance"
    ));
    if !root.is_dir() {
        println!(
            "notice: conformance: the extra corpus {} is absent (a clone without ../shared); skipping it",
            root.display()
        );
        return;
    }
    let pending_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance-pending.txt"
    ))
    .unwrap_or_default();
    let pending: BTreeMap<String, String> = pending_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((p, r)) => (p.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    let (mut pass, mut fail) = (0, 0);
    let mut problems = Vec::new();
    for path in cases(&root) {
        let rel = path
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let res = run_case(&path).await;
        let listed = pending.contains_key(&rel);
        match (&res, listed) {
            (Ok(()), false) => pass += 1,
            (Ok(()), true) => {
                pass += 1;
                problems.push(format!(
                    "{rel}: passes now; remove it from conformance-pending.txt"
                ));
            }
            (Err(_), true) => fail += 1,
            (Err(e), false) => {
                fail += 1;
                problems.push(format!("{rel}: {e}"));
            }
        }
    }
    println!("conformance: {pass} passed, {fail} failed");
    if !pending.is_empty() {
        println!("pending ({}):", pending.len());
        for (p, r) in &pending {
            println!("  {p}  {r}");
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            println!("FAIL {p}");
        }
        std::process::exit(1);
    }
}
