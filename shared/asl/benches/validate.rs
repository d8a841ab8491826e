//! Time of `validate` on large definitions: it must grow about linearly with the number of
//! states (a definition near AWS's 1 MB quota holds several thousand states).
//!
//! `cargo bench -p shipgate-asl --bench validate` validates a chain of 1,000, 10,000 and
//! 20,000 states (Pass states with templates, a Choice, a Task with Retry and Catch every
//! tenth state) and prints the best of three timings per size, the time per state, and
//! whether the goal holds: 10,000 states in well under a second (< 0.5 s). Without
//! `--bench` (as `cargo test --all-targets` runs it) it is a smoke run on 1,000 states.

use std::fmt::Write as _;
use std::time::Instant;

use shipgate_asl::validate;

/// The 10,000-state goal, in seconds.
const GOAL_10K_SECONDS: f64 = 0.5;

/// A chain of `n` states: every tenth a Task with Retry and Catch (to the next state), every
/// tenth plus five a Choice whose rule and Default both lead on, the others Pass states with
/// a Parameters template; the last state ends the chain.
fn chain(n: usize) -> String {
    let name = |i: usize| format!("S{i:06}");
    let mut s = String::with_capacity(n * 200);
    let _ = write!(s, r#"{{"StartAt":"{}","States":{{"#, name(0));
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let next = if i + 1 == n {
            r#""End":true"#.to_string()
        } else {
            format!(r#""Next":"{}""#, name(i + 1))
        };
        let body = match i % 10 {
            0 if i + 1 < n => format!(
                r#"{{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{{"FunctionName":"f","Payload.$":"$"}},"Retry":[{{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":2}}],"Catch":[{{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"{}"}}],{next}}}"#,
                name(i + 1)
            ),
            5 if i + 1 < n => format!(
                r#"{{"Type":"Choice","Choices":[{{"Variable":"$.n","NumericGreaterThan":{i},"Next":"{0}"}}],"Default":"{0}"}}"#,
                name(i + 1)
            ),
            _ => format!(
                r#"{{"Type":"Pass","Parameters":{{"i":{i},"n.$":"$.n","f.$":"States.Format('{{}}', $.n)"}},{next}}}"#
            ),
        };
        let _ = write!(s, r#""{}":{body}"#, name(i));
    }
    s.push_str("}}");
    s
}

/// Best of `rounds` timings of `validate(def)`, in seconds; panics on findings (the
/// definitions are valid, so a finding is a bug).
fn time(def: &str, rounds: usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = Instant::now();
        let findings = validate(def);
        best = best.min(t.elapsed().as_secs_f64());
        assert!(
            findings.is_empty(),
            "unexpected findings: {:?}",
            &findings[..1]
        );
    }
    best
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full {
        &[1_000, 10_000, 20_000]
    } else {
        &[1_000]
    };
    println!("| states | definition | validate (best of 3) | per state |");
    println!("|---:|---:|---:|---:|");
    let mut ten_k = None;
    for &n in sizes {
        let def = chain(n);
        let secs = time(&def, 3);
        if n == 10_000 {
            ten_k = Some(secs);
        }
        println!(
            "| {n} | {:.1} KiB | {:.3} s | {:.1} µs |",
            def.len() as f64 / 1024.0,
            secs,
            secs * 1e6 / n as f64
        );
    }
    if let Some(secs) = ten_k {
        let verdict = if secs < GOAL_10K_SECONDS {
            "met"
        } else {
            "NOT met"
        };
        println!("goal: 10,000 states in < {GOAL_10K_SECONDS} s: {verdict} ({secs:.3} s)");
    }
}
