//! A release survives the process dying anywhere: `shipgate` run as people run it (separate
//! commands over one data directory, on a wall clock held still by libfaketime) and killed —
//! deterministically at every crash point, and at random with SIGKILL — ends exactly as a
//! run without kills does, with no message sent twice.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const RELEASE: &str = "api-1.3.0-0123456";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// One command of the release, at a wall-clock time.
struct Step {
    at: &'static str,
    args: &'static [&'static str],
}

const START: Step = Step {
    at: "2026-03-10 14:00:00",
    args: &[
        "release",
        "start",
        "--version",
        "1.3.0",
        "--commit",
        COMMIT,
        "--author",
        "alex",
        "--feature",
        "Faster search",
    ],
};

const APPROVE: Step = Step {
    at: "2026-03-10 14:05:00",
    args: &["release", "approve", RELEASE, "--as", "lee"],
};

fn ticks(times: &[&'static str]) -> Vec<Step> {
    times
        .iter()
        .map(|at| Step {
            at,
            args: &["tick"],
        })
        .collect()
}

/// From push to the end of the monitoring hour: the start and the approval in the
/// afternoon, then `tick` as cron would run it through the next night's window.
fn released() -> Vec<Step> {
    let mut steps = vec![START, APPROVE];
    steps.extend(ticks(&[
        "2026-03-11 03:00:00",
        "2026-03-11 03:01:00",
        "2026-03-11 03:02:00",
        "2026-03-11 03:03:00",
        "2026-03-11 03:05:00",
        "2026-03-11 03:10:00",
        "2026-03-11 03:20:00",
        "2026-03-11 03:30:00",
        "2026-03-11 03:45:00",
        "2026-03-11 04:00:00",
        "2026-03-11 04:03:00",
        "2026-03-11 04:06:00",
        "2026-03-11 04:10:00",
    ]));
    steps
}

/// Rolled back by hand during the monitoring hour: the reverse migration, the restore and
/// the announcement of the rollback.
fn rolled_back() -> Vec<Step> {
    let mut steps = vec![START, APPROVE];
    steps.extend(ticks(&[
        "2026-03-11 03:00:00",
        "2026-03-11 03:01:00",
        "2026-03-11 03:03:00",
        "2026-03-11 03:05:00",
    ]));
    steps.push(Step {
        at: "2026-03-11 03:10:00",
        args: &[
            "release",
            "rollback",
            RELEASE,
            "--reason",
            "signups fell",
            "--as",
            "taylor",
        ],
    });
    steps.extend(ticks(&[
        "2026-03-11 03:11:00",
        "2026-03-11 03:12:00",
        "2026-03-11 03:15:00",
    ]));
    steps
}

/// Rejected: the approval wait ends and the rejection is announced.
fn rejected() -> Vec<Step> {
    vec![
        START,
        Step {
            at: "2026-03-10 14:05:00",
            args: &[
                "release",
                "reject",
                RELEASE,
                "--as",
                "lee",
                "--reason",
                "not tested",
            ],
        },
        Step {
            at: "2026-03-10 14:06:00",
            args: &["tick"],
        },
    ]
}

const FAKETIME_LIBRARIES: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

fn faketime() -> PathBuf {
    FAKETIME_LIBRARIES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect(
            "libfaketime is missing: `make test` installs Debian's faketime as root \
             (apt-get install faketime)",
        )
}

struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = dir.path().join("shipgate.toml");
        // With its `[github]` section: the ticket, the changelog, the tag, the release and
        // the merge back are compared as GitHub holds them (`github_world`).
        std::fs::copy(repo.join("shipgate.toml"), &config).unwrap();
        World { dir, config }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, data: &Path, step: &Step) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipgate"));
        cmd.arg("--data-dir")
            .arg(data)
            .arg("--config")
            .arg(&self.config)
            .args(step.args)
            .env_remove("SHIPGATE_LOG")
            .env_remove("SHIPGATE_CRASH_AT")
            .env_remove("SHIPGATE_CRASH_LOG")
            .env("LD_PRELOAD", faketime())
            // A clock that stands still at the step's time: every run of a step sees the
            // same instant, so timelines compare exactly.
            .env("FAKETIME", step.at)
            .env("TZ", "UTC")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        cmd
    }

    /// Runs `step` to the end; it must succeed.
    fn run(&self, data: &Path, step: &Step) -> Output {
        let out = self.command(data, step).output().unwrap();
        assert!(
            out.status.success(),
            "{:?} at {} failed: {}",
            step.args,
            step.at,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// How many crash points `step` passes when it runs undisturbed (it does run).
    fn count_points(&self, data: &Path, step: &Step) -> usize {
        let log = self.dir.path().join("points.log");
        let _ = std::fs::remove_file(&log);
        let out = self
            .command(data, step)
            .env("SHIPGATE_CRASH_LOG", &log)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Runs `step` set to die at its `n`th crash point; returns the point's name.
    fn crash(&self, data: &Path, step: &Step, n: usize) -> String {
        let out = self
            .command(data, step)
            .env("SHIPGATE_CRASH_AT", n.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("crash point"),
            "{:?} at {} was to die at point {n}: {stderr}",
            step.args,
            step.at
        );
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("crash point "))
            .unwrap_or_default()
            .to_string()
    }

    /// What people can see: the release as `release show --json` prints it and every
    /// message in the outbox, with what legitimately differs between runs taken out
    /// (random task ids, link signatures, write counters, send times).
    fn observe(&self, data: &Path, at: &'static str) -> Value {
        let show = Step {
            at,
            args: &["release", "show", RELEASE, "--json"],
        };
        let out = self.command(data, &show).output().unwrap();
        let mut release = if out.status.success() {
            serde_json::from_slice(&out.stdout).unwrap()
        } else {
            Value::Null
        };
        if let Some(map) = release.as_object_mut() {
            map.remove("version");
            // Which process claimed the reverse migration, or the ticket's last part,
            // differs from run to run.
            map.remove("reversal_claimed_by");
            if let Some(github) = map.get_mut("github").and_then(Value::as_object_mut) {
                github.remove("claimed_by");
            }
        }
        let mut outbox = Vec::new();
        let dir = data.join("outbox");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    // The calls to GitHub differ between runs (a call repeated after a kill
                    // first looks for what it made); what GitHub holds is compared instead.
                    .filter(|n| {
                        n.ends_with(".json") && !n.starts_with('.') && !n.ends_with("-github.json")
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            let mut message: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
            if let Some(map) = message.as_object_mut() {
                map.remove("sent_at");
            }
            outbox.push(message);
        }
        normalise(serde_json::json!({
            "release": release,
            "outbox": outbox,
            "github": github_world(data),
        }))
    }
}

/// What the repository double holds that people see: issues with their comments, the
/// tags and releases by name, pull requests, files, merges. Object ids are left out: a
/// tag object created again after a kill takes an id, and the ids after it move.
fn github_world(data: &Path) -> Value {
    let Ok(text) = std::fs::read_to_string(data.join("github.json")) else {
        return Value::Null;
    };
    let world: Value = serde_json::from_str(&text).unwrap();
    let names = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    serde_json::json!({
        "issues": world["issues"],
        "tags": names(&world["tags"]),
        "releases": world["releases"],
        "pulls": world["pulls"],
        "files": world["files"],
        "merged": world["merged"],
    })
}

/// Task ids and link signatures differ between runs that did the same thing.
fn normalise(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(normalise_text(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalise(v))).collect())
        }
        other => other,
    }
}

fn normalise_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(":task/") {
        let (head, tail) = rest.split_at(i + ":task/".len());
        out.push_str(head);
        // `<cluster>/<id>`: keep the cluster, drop the id.
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '/' || c == '_'))
            .unwrap_or(tail.len());
        let task = &tail[..end];
        out.push_str(task.rsplit_once('/').map_or(task, |(cluster, _)| cluster));
        out.push_str("/<task>");
        rest = &tail[end..];
    }
    out.push_str(rest);
    // Signed links: the signature depends on the data directory's own key.
    ["/approvals/", "/rollbacks/", "access="]
        .iter()
        .fold(out, |text, marker| unsigned(&text, marker))
}

/// `text` with every token after `marker` replaced by `<link>`.
fn unsigned(text: &str, marker: &str) -> String {
    let mut linked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        let (head, tail) = rest.split_at(i + marker.len());
        linked.push_str(head);
        linked.push_str("<link>");
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    linked.push_str(rest);
    linked
}

/// Equal, or a failure that shows only the lines that differ.
fn assert_same(seen: &Value, expected: &Value, what: &str) {
    if seen == expected {
        return;
    }
    let seen = serde_json::to_string_pretty(seen).unwrap();
    let expected = serde_json::to_string_pretty(expected).unwrap();
    let seen: Vec<&str> = seen.lines().collect();
    let expected: Vec<&str> = expected.lines().collect();
    let mut diff = Vec::new();
    for i in 0..seen.len().max(expected.len()) {
        let (a, b) = (seen.get(i), expected.get(i));
        if a != b {
            diff.push(format!("line {i}:\n  got:      {a:?}\n  expected: {b:?}"));
        }
        if diff.len() >= 8 {
            break;
        }
    }
    panic!("{what}\n{}", diff.join("\n"));
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `steps`, and for each step and each crash point the step passes: the world before
/// the step, the step killed at that point, the step run again — which must leave exactly
/// what the undisturbed step left. Returns the crash points hit and the final view.
fn every_crash_point(steps: &[Step], end: &'static str) -> (Vec<String>, Value) {
    let world = World::new();
    let clean = world.data();
    let before = world.dir.path().join("before");
    let trial = world.dir.path().join("trial");
    let mut names: Vec<String> = Vec::new();
    for step in steps {
        copy_dir(&clean, &before);
        let points = world.count_points(&clean, step);
        let expected = world.observe(&clean, step.at);
        for n in 1..=points {
            copy_dir(&before, &trial);
            let name = world.crash(&trial, step, n);
            // The operator runs the same command again.
            world.run(&trial, step);
            let seen = world.observe(&trial, step.at);
            assert_same(
                &seen,
                &expected,
                &format!(
                    "{:?} at {} killed at crash point {n} ({name}) did not recover exactly",
                    step.args, step.at
                ),
            );
            names.push(name);
        }
    }
    (names, world.observe(&clean, end))
}

fn assert_crashed_at(names: &[String], points: &[&str]) {
    for point in points {
        assert!(
            names.iter().any(|n| n.starts_with(point)),
            "never crashed at {point}: {names:?}"
        );
    }
}

#[test]
fn given_a_release_killed_at_any_crash_point_when_resumed_then_it_ends_as_if_never_killed() {
    let (names, end) = every_crash_point(&released(), "2026-03-11 04:20:00");
    assert_eq!(end["release"]["state"], "Succeeded", "{end:#}");
    assert_crashed_at(
        &names,
        &[
            "start.created",
            "decide.recorded",
            "engine.task-returned",
            "engine.before-save",
            "engine.saved",
            "approve.requested",
            "approve.asked-one",
            "outbox.named",
            "scheduler.delivered",
            "deploy.started",
            "deploy.migration-claimed",
            "deploy.migration-started",
            "announce.sent-one",
            // Between GitHub's answer and its record: the ticket's comments, and the
            // changelog, tag, release and merge back after the release.
            "ticket.commented",
            "github.step-made",
        ],
    );
    // What GitHub holds was compared too.
    assert!(
        end["github"]["releases"] == serde_json::json!(["v1.3.0"]),
        "{end:#}"
    );
    assert!(names.len() > 50, "only {} crash points", names.len());
}

#[test]
fn given_a_rollback_killed_at_any_crash_point_when_resumed_then_it_ends_as_if_never_killed() {
    let (names, end) = every_crash_point(&rolled_back(), "2026-03-11 03:20:00");
    assert_eq!(end["release"]["state"], "RolledBack", "{end:#}");
    assert_crashed_at(
        &names,
        &[
            "rollback.reversal-claimed",
            "rollback.reversal-started",
            "ticket.commented",
            "github.step-made",
        ],
    );
}

#[test]
fn given_a_rejection_killed_at_any_crash_point_when_resumed_then_it_ends_as_if_never_killed() {
    let (names, end) = every_crash_point(&rejected(), "2026-03-10 14:10:00");
    assert_eq!(end["release"]["state"], "Rejected", "{end:#}");
    assert_eq!(end["release"]["announced"], "Rejected", "{end:#}");
    assert_crashed_at(&names, &["decide.recorded"]);
}

/// xorshift: the kill delays of a run, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs `steps` killing each command with SIGKILL after a random moment (reproducible
/// from `seed`) until a run gets to finish; the end must be what an undisturbed run leaves.
fn random_kills(steps: &[Step], end: &'static str, seeds: &[u64]) {
    let world = World::new();
    let baseline = world.dir.path().join("baseline");
    for step in steps {
        world.run(&baseline, step);
    }
    let expected = world.observe(&baseline, end);
    for &seed in seeds {
        let mut rng = Rng(seed);
        let data = world.dir.path().join(format!("killed-{seed:x}"));
        let mut kills = 0;
        for step in steps {
            loop {
                let errors = world.dir.path().join("stderr.txt");
                let mut child = world
                    .command(&data, step)
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&errors).unwrap())
                    .spawn()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(rng.below(60)));
                let finished = match child.try_wait().unwrap() {
                    Some(status) => Some(status),
                    // Sometimes let it finish.
                    None if rng.below(4) == 0 => Some(child.wait().unwrap()),
                    None => None,
                };
                if let Some(status) = finished {
                    assert!(
                        status.success(),
                        "{:?} at {} after {kills} kills: {}",
                        step.args,
                        step.at,
                        std::fs::read_to_string(&errors).unwrap_or_default()
                    );
                    break;
                }
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
        let seen = world.observe(&data, end);
        assert_same(
            &seen,
            &expected,
            &format!("seed {seed:#x}: {kills} kills changed the outcome"),
        );
    }
}

#[test]
fn given_a_release_killed_at_random_with_sigkill_when_resumed_then_it_ends_as_if_never_killed() {
    random_kills(
        &released(),
        "2026-03-11 04:20:00",
        &[0x5eed, 0xdead_beef, 0x0bad_cafe],
    );
}

#[test]
fn given_a_rollback_killed_at_random_with_sigkill_when_resumed_then_it_ends_as_if_never_killed() {
    random_kills(&rolled_back(), "2026-03-11 03:20:00", &[0x5eed, 0xfeed]);
}
