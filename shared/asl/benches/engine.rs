//! States per second of our engine, and of moto's on the same definitions in the same run.
//!
//! `cargo bench -p shipgate-asl --bench engine` runs (a) a Pass/Choice loop that counts to
//! 6,000 with `States.MathAdd` (two states per turn, 24,000 history events: under the
//! 25,000 an execution may have) and (b) a Map over 4,000 items (one
//! Pass per item) through `run_to_completion` (virtual clock, in-memory store, no tasks),
//! then the same definitions on moto with fewer turns/items (moto runs a state every ~10
//! ms). It prints a table and rewrites the "## States Language engine" section of
//! `BENCHMARKS.md` at the workspace root (`ASL_BENCH_NO_WRITE=1` leaves it alone). Without
//! moto it reports our figures only (under `CI` a missing moto is an error).

#[allow(dead_code)]
#[path = "../tests/differential/moto.rs"]
mod moto;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use shipgate_asl::{ExecutionStatus, NoTasks, run_to_completion};

const LOOP: &str = r#"{"Comment": "count to $.n: two states per turn",
  "StartAt": "Init",
  "States": {
    "Init": {"Type": "Pass", "Parameters": {"i": 0, "n.$": "$.n"}, "Next": "Test"},
    "Test": {"Type": "Choice",
             "Choices": [{"Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Step"}],
             "Default": "Done"},
    "Step": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n"},
             "Next": "Test"},
    "Done": {"Type": "Succeed"}}}"#;

const MAP: &str = r#"{"Comment": "one Pass per item",
  "StartAt": "Each",
  "States": {
    "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
             "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double",
               "States": {"Double": {"Type": "Pass",
                 "Parameters": {"v.$": "States.MathAdd($.v, $.v)"}, "End": true}}},
             "ResultPath": "$.out", "End": true}}}"#;

/// A workload: definition, input for `n`, states executed for `n`, and a check of the output.
struct Workload {
    name: &'static str,
    definition: &'static str,
    input: fn(usize) -> Value,
    states: fn(usize) -> usize,
    check: fn(usize, &Value) -> bool,
    ours_n: usize,
    moto_n: usize,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "Pass/Choice loop",
        definition: LOOP,
        input: |n| json!({ "n": n }),
        // Init, then Test+Step per turn, then the last Test and Done.
        states: |n| 2 * n + 3,
        check: |n, out| out["i"] == json!(n),
        ours_n: 6_000,
        moto_n: 200,
    },
    Workload {
        name: "Map over items",
        definition: MAP,
        input: |n| json!({ "items": (0..n).map(|v| json!({ "v": v })).collect::<Vec<_>>() }),
        // The Map state and one Pass per item.
        states: |n| n + 1,
        check: |n, out| {
            out["out"].as_array().map(Vec::len) == Some(n)
                && out["out"][n - 1]["v"] == json!(2 * (n - 1))
        },
        // About four history events per item: 4,000 items stay under the 25,000 cap.
        ours_n: 4_000,
        moto_n: 200,
    },
];

struct Row {
    name: &'static str,
    ours_n: usize,
    ours_states: usize,
    ours_seconds: f64,
    moto: Option<(usize, usize, f64)>,
}

impl Row {
    fn ours_rate(&self) -> f64 {
        self.ours_states as f64 / self.ours_seconds
    }
    fn moto_rate(&self) -> Option<f64> {
        self.moto.map(|(_, states, s)| states as f64 / s)
    }
}

async fn ours(w: &Workload) -> (usize, f64) {
    let start = chrono::DateTime::UNIX_EPOCH;
    let input = (w.input)(w.ours_n);
    let mut best = f64::INFINITY;
    // One warm-up run, then the best of three.
    for round in 0..4 {
        let t = Instant::now();
        let d = run_to_completion(w.definition, input.clone(), Arc::new(NoTasks), start)
            .await
            .expect("engine runs");
        let s = t.elapsed().as_secs_f64();
        assert_eq!(
            d.status,
            ExecutionStatus::Succeeded,
            "{}: {:?} {:?}",
            w.name,
            d.error,
            d.cause
        );
        assert!(
            (w.check)(w.ours_n, d.output.as_ref().unwrap_or(&Value::Null)),
            "{}: wrong output",
            w.name
        );
        if round > 0 {
            best = best.min(s);
        }
    }
    ((w.states)(w.ours_n), best)
}

async fn on_moto(server: &moto::MotoServer, w: &Workload, k: usize) -> (usize, usize, f64) {
    let input = (w.input)(w.moto_n);
    let o = server
        .run(0, &format!("bench-{k}"), w.definition, &input)
        .await
        .expect("moto runs the workload");
    assert_eq!(o.status, "SUCCEEDED", "{} on moto: {o:?}", w.name);
    assert!(
        (w.check)(w.moto_n, o.output.as_ref().unwrap_or(&Value::Null)),
        "{} on moto: wrong output",
        w.name
    );
    let seconds = o
        .seconds
        .filter(|s| *s > 0.0)
        .expect("moto reports start and stop");
    (w.moto_n, (w.states)(w.moto_n), seconds)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{cpus} CPUs (nproc), {model}")
}

fn table(rows: &[Row], moto_version: &str) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "| workload | ours: size | ours: states/s | moto {moto_version}: size | moto: states/s | ours ÷ moto |\n"
    ));
    t.push_str("|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let (moto_size, moto_rate, ratio) = match (r.moto, r.moto_rate()) {
            (Some((n, _, _)), Some(rate)) => (
                n.to_string(),
                format!("{rate:.0}"),
                format!("{:.0}×", r.ours_rate() / rate),
            ),
            _ => ("–".into(), "–".into(), "–".into()),
        };
        t.push_str(&format!(
            "| {} | {} ({} states, {:.1} ms) | {:.0} | {moto_size} | {moto_rate} | {ratio} |\n",
            r.name,
            r.ours_n,
            r.ours_states,
            r.ours_seconds * 1000.0,
            r.ours_rate(),
        ));
    }
    t
}

fn write_section(section: &str) -> std::io::Result<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let heading = "## States Language engine";
    let new = match old.find(heading) {
        Some(start) => {
            let rest = &old[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map_or(old.len(), |i| start + heading.len() + i + 1);
            format!("{}{section}{}", &old[..start], &old[end..])
        }
        None => format!(
            "{}\n{section}",
            old.trim_end_matches('\n').to_string() + "\n"
        ),
    };
    std::fs::write(&path, new)?;
    Ok(path)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`. Without it (`cargo test --all-targets`) this is a smoke
    // test: our engine only, on the same workloads, nothing written.
    if !std::env::args().any(|a| a == "--bench") {
        for w in WORKLOADS {
            let (states, seconds) = ours(w).await;
            println!("smoke: {} ran {states} states in {:.3} s", w.name, seconds);
        }
        return;
    }
    let server = match moto::start_or_skip("engine bench").await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let moto_version = if server.is_some() {
        moto::moto_version()
    } else {
        String::new()
    };
    let mut rows = Vec::new();
    for (k, w) in WORKLOADS.iter().enumerate() {
        let (ours_states, ours_seconds) = ours(w).await;
        let moto = match &server {
            Some(s) => Some(on_moto(s, w, k).await),
            None => None,
        };
        rows.push(Row {
            name: w.name,
            ours_n: w.ours_n,
            ours_states,
            ours_seconds,
            moto,
        });
    }
    drop(server);

    let t = table(&rows, &moto_version);
    println!("{t}");
    let worst = rows
        .iter()
        .filter_map(|r| r.moto_rate().map(|m| r.ours_rate() / m))
        .fold(f64::INFINITY, f64::min);
    if worst.is_finite() {
        println!(
            "slowest ratio ours ÷ moto: {worst:.0}× (goal ≥ 20×: {})",
            if worst >= 20.0 { "met" } else { "NOT met" }
        );
    }
    if std::env::var_os("ASL_BENCH_NO_WRITE").is_some() {
        return;
    }
    let section = format!(
        "## States Language engine\n\n\
         States per second of `shipgate-asl` (`run_to_completion`: virtual clock, in-memory \
         store, no tasks) and of moto's Step Functions engine (server mode, \
         `execute_state_machine`) on the same wait-free definitions, in the same run. moto \
         gets fewer turns/items because it runs a state every few milliseconds; its time is \
         its own start-to-stop (`DescribeExecution`), without HTTP. Ours is the best of \
         three runs after a warm-up, parsing and validation included. The definitions are \
         in `shared/asl/benches/engine.rs`.\n\n\
         - command: `cargo bench -p shipgate-asl --bench engine`\n\
         - machine: {}\n\
         - date: {}\n\n\
         {t}\n\
         Goal: ours ≥ 20× moto on each workload{}.\n",
        machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if worst.is_finite() {
            format!(" — slowest ratio measured: {worst:.0}×")
        } else {
            " — moto not installed in this run, no ratio".to_string()
        },
    );
    match write_section(&section) {
        Ok(p) => println!(
            "wrote the section to {}",
            p.canonicalize().unwrap_or(p.clone()).display()
        ),
        Err(e) => eprintln!("could not write BENCHMARKS.md: {e}"),
    }
}
