//! Deterministic crash points.
//!
//! The places where a process can die between two durable writes (after an effect, before
//! the record of it) call [`point`] with a name. Normally that does nothing. A test sets
//! `SHIPGATE_CRASH_AT` to make the process abort there — with no unwinding, no destructors
//! and no flushing, as `kill -9` would — and so proves that every such place recovers:
//!
//! - `SHIPGATE_CRASH_AT=7`: abort at the 7th point this process reaches;
//! - `SHIPGATE_CRASH_AT=engine.saved`: abort at the first `engine.saved`;
//! - `SHIPGATE_CRASH_AT=engine.saved@3`: abort at the third `engine.saved`.
//!
//! `SHIPGATE_CRASH_LOG=FILE` appends the name of every point reached to `FILE`, one per
//! line, so a test can count the points a command passes and then crash at each in turn.
//! Before aborting, the process prints `crash point NAME (#N)` to standard error.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming where to crash.
pub const CRASH_AT_ENV: &str = "SHIPGATE_CRASH_AT";
/// The environment variable naming the file that logs every point reached.
pub const CRASH_LOG_ENV: &str = "SHIPGATE_CRASH_LOG";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// The Nth point reached, whatever its name.
    Nth(u64),
    /// The Nth time the named point is reached.
    Named(String, u64),
}

#[derive(Debug, Default)]
struct Plan {
    target: Option<Target>,
    log: Option<std::path::PathBuf>,
}

static PLAN: OnceLock<Plan> = OnceLock::new();
static REACHED: AtomicU64 = AtomicU64::new(0);
static NAMED: std::sync::Mutex<Vec<(String, u64)>> = std::sync::Mutex::new(Vec::new());

fn parse(spec: &str) -> Option<Target> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    if let Ok(n) = spec.parse::<u64>() {
        return (n > 0).then_some(Target::Nth(n));
    }
    match spec.rsplit_once('@') {
        Some((name, n)) => match n.parse::<u64>() {
            Ok(n) if n > 0 && !name.is_empty() => Some(Target::Named(name.to_string(), n)),
            _ => None,
        },
        None => Some(Target::Named(spec.to_string(), 1)),
    }
}

fn plan() -> &'static Plan {
    PLAN.get_or_init(|| Plan {
        target: std::env::var(CRASH_AT_ENV).ok().as_deref().and_then(parse),
        log: std::env::var_os(CRASH_LOG_ENV).map(Into::into),
    })
}

/// A place where the process may die; see the crate documentation.
pub fn point(name: &str) {
    let plan = plan();
    if plan.target.is_none() && plan.log.is_none() {
        return;
    }
    let nth = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
    let named = {
        let mut seen = NAMED.lock().unwrap_or_else(|p| p.into_inner());
        match seen.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                seen.push((name.to_string(), 1));
                1
            }
        }
    };
    if let Some(path) = &plan.log
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{name}");
    }
    let hit = match &plan.target {
        Some(Target::Nth(n)) => *n == nth,
        Some(Target::Named(target, n)) => target == name && *n == named,
        None => false,
    };
    if hit {
        let _ = writeln!(std::io::stderr(), "crash point {name} (#{nth})");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_documented() {
        assert_eq!(parse("7"), Some(Target::Nth(7)));
        assert_eq!(
            parse("engine.saved"),
            Some(Target::Named("engine.saved".into(), 1))
        );
        assert_eq!(
            parse("engine.saved@3"),
            Some(Target::Named("engine.saved".into(), 3))
        );
        assert_eq!(parse("0"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("@3"), None);
        assert_eq!(parse("x@0"), None);
        assert_eq!(parse("x@y"), None);
    }

    #[test]
    fn without_a_plan_a_point_does_nothing() {
        // The test process has no SHIPGATE_CRASH_AT: reaching points must not abort.
        point("anything");
        point("anything");
    }
}
