//! docs/operations.md as a newcomer follows it locally: every `shipgate` command it shows
//! without `--stack` is run as written (`$RELEASE` standing for the release it is about),
//! and does what the page says. (`cli/tests/stack.rs` runs the `--stack` ones on the twin.)

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use common::repo;

/// The local `shipgate` commands of docs/operations.md, as written.
fn documented() -> Vec<String> {
    common::documented(|l| l.starts_with("shipgate ") && !l.starts_with("shipgate --stack"))
}

/// The repository's configuration, with a freeze around now (releases wait for the
/// window whatever the time of day) or without one.
fn config(dir: &Path, frozen: bool) -> PathBuf {
    let now = chrono::Utc::now();
    let mut text = std::fs::read_to_string(repo().join("shipgate.toml")).unwrap();
    if frozen {
        let freeze = format!(
            "[[window.freezes]]\nstart = \"{}\"\nend = \"{}\"\nreason = \"Test freeze\"\n\n",
            (now - chrono::Duration::days(1)).to_rfc3339(),
            (now + chrono::Duration::days(2)).to_rfc3339()
        );
        text = text.replacen(
            "[[window.freezes]]",
            &format!("{freeze}[[window.freezes]]"),
            1,
        );
    }
    let path = dir.join(if frozen { "frozen.toml" } else { "open.toml" });
    std::fs::write(&path, text).unwrap();
    path
}

struct Local {
    data: PathBuf,
    config: PathBuf,
}

struct Doc {
    commands: Vec<String>,
    ran: BTreeSet<String>,
}

impl Doc {
    /// Runs the documented command that starts with `prefix` in `local`.
    fn run(&mut self, local: &Local, prefix: &str, release: &str) -> Output {
        let line = self
            .commands
            .iter()
            .find(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("docs/operations.md shows no `{prefix}…`"))
            .clone();
        self.ran.insert(line.clone());
        let words = shlex::split(&line.replace("$RELEASE", release)).unwrap();
        shipgate(local, &words[1..])
    }
}

fn shipgate(local: &Local, args: &[impl AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(repo())
        .arg("--data-dir")
        .arg(&local.data)
        .arg("--config")
        .arg(&local.config)
        .args(args)
        .env_remove("SHIPGATE_LOG")
        .env_remove("SHIPGATE_STACK")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn state(local: &Local, id: &str) -> String {
    let release: Value =
        serde_json::from_str(&ok(&shipgate(local, &["release", "show", id, "--json"]))).unwrap();
    release["state"].as_str().unwrap().to_string()
}

#[test]
fn given_the_operations_page_when_each_local_command_runs_then_it_does_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = Doc {
        commands: documented(),
        ran: BTreeSet::new(),
    };
    let frozen = Local {
        data: dir.path().join("frozen"),
        config: config(dir.path(), true),
    };

    // Start, look, plan
    let started = ok(&doc.run(&frozen, "shipgate release start --version 1.3.0", ""));
    let minor = "api-1.3.0-9c0ffee";
    assert!(started.contains(minor), "{started}");
    let listed = ok(&doc.run(&frozen, "shipgate release list", minor));
    assert!(listed.contains("approval: Eng Lead"), "{listed}");
    let shown = ok(&doc.run(&frozen, "shipgate release show", minor));
    assert!(shown.contains("AwaitingApproval"), "{shown}");
    let plan = ok(&doc.run(&frozen, "shipgate plan", minor));
    assert!(plan.contains("approvals:"), "{plan}");
    let windows = ok(&doc.run(&frozen, "shipgate window next", minor));
    assert!(windows.contains("FROZEN: Test freeze"), "{windows}");
    let checked = ok(&doc.run(&frozen, "shipgate config check", minor));
    assert!(checked.contains("shipgate.toml: valid"), "{checked}");
    let link = ok(&doc.run(&frozen, "shipgate dashboard-link --as lee", minor));
    assert!(link.trim().starts_with("http://"), "{link}");
    assert!(link.contains("access="), "{link}");

    // Approve: it waits for the window (frozen)
    ok(&doc.run(&frozen, "shipgate release approve $RELEASE --as lee", minor));
    assert_eq!(state(&frozen, minor), "AwaitingWindow");
    ok(&doc.run(&frozen, "shipgate tick", minor));

    // Reject another, with its reason
    ok(&shipgate(
        &frozen,
        &[
            "release",
            "start",
            "--version",
            "1.4.0",
            "--commit",
            "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "--author",
            "alex",
        ],
    ));
    let other = "api-1.4.0-1111111";
    ok(&doc.run(&frozen, "shipgate release reject", other));
    assert_eq!(state(&frozen, other), "Rejected");

    // A hotfix asking to bypass, approved without the bypass: it waits for the window
    let hotfix = "api-1.2.1-5eed1e5";
    ok(&doc.run(&frozen, "shipgate release start --version 1.2.1", ""));
    ok(&doc.run(
        &frozen,
        "shipgate release approve $RELEASE --as taylor --without-bypass",
        hotfix,
    ));
    assert_eq!(state(&frozen, hotfix), "AwaitingWindow");

    // A hotfix approved with its bypass deploys now, and is rolled back by hand
    let open = Local {
        data: dir.path().join("open"),
        config: config(dir.path(), false),
    };
    ok(&doc.run(&open, "shipgate release start --version 1.2.1", ""));
    ok(&shipgate(
        &open,
        &["release", "approve", hotfix, "--as", "taylor"],
    ));
    let live = state(&open, hotfix);
    assert!(
        ["Deploying", "HealthChecking", "Monitoring"].contains(&live.as_str()),
        "{live}"
    );
    let rolled = ok(&doc.run(&open, "shipgate release rollback", hotfix));
    // Pointed back at once; RolledBack only once the restore is seen working
    assert!(rolled.contains("RollingBack"), "{rolled}");
    assert!(rolled.contains("shipgate tick"), "{rolled}");
    let release: Value = serde_json::from_str(&ok(&shipgate(
        &open,
        &["release", "show", hotfix, "--json"],
    )))
    .unwrap();
    let restored = release["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "restored");
    assert!(restored, "{release:#}");

    let documented: BTreeSet<String> = doc.commands.iter().cloned().collect();
    assert_eq!(doc.ran, documented, "a documented command was not run");
}
