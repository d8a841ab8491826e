//! A hostile or mistaken `shipgate.toml` stops every command with a message naming the
//! field — never a panic, never a half-started release.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipgate(data_dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SHIPGATE_LOG")
        .output()
        .expect("the shipgate binary runs")
}

/// The repository's configuration with `from` replaced by `to`, written under `dir`.
fn hostile_config(dir: &Path, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("shipgate.toml")).expect("shipgate.toml");
    assert!(text.contains(from), "`{from}` is not in shipgate.toml");
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("a temporary configuration");
    path
}

const COMMANDS: &[&[&str]] = &[
    &["plan", "--version", "1.3.0"],
    &[
        "release",
        "start",
        "--version",
        "1.3.0",
        "--commit",
        "0123456789abcdef0123456789abcdef01234567",
        "--author",
        "dana@example.com",
    ],
    &["window", "next"],
    &["config", "check"],
    &["tick"],
    &["serve", "--addr", "127.0.0.1:0"],
];

#[test]
fn given_hostile_config_values_when_any_command_runs_then_it_stops_naming_the_field() {
    for (field, from, to) in [
        (
            "approvals.expires_after_hours",
            "expires_after_hours = 24",
            "expires_after_hours = 4294967295",
        ),
        (
            "approvals.expires_after_hours",
            "expires_after_hours = 24",
            "expires_after_hours = 0",
        ),
        (
            "monitor.max_error_rate",
            "max_error_rate = 0.02",
            "max_error_rate = nan",
        ),
        (
            "health.base_url",
            "base_url = \"https://api.roleferry.com\"",
            "base_url = \"javascript:alert(1)\"",
        ),
        (
            "approvals.required.major",
            "major = [\"CEO\", \"CTO\"]",
            "major = [\"CEO\", \"CEO\"]",
        ),
    ] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = hostile_config(dir.path(), from, to);
        let data = dir.path().join("data");
        for args in COMMANDS {
            let out = shipgate(&data, &config, args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} with `{to}`: {err}");
            assert!(err.contains(field), "{args:?} with `{to}`: {err}");
            assert!(!err.contains("panicked"), "{args:?} with `{to}`: {err}");
        }
        // Nothing was started: no release was recorded.
        assert!(
            !data.join("shipgate.db").exists(),
            "a release store was created for a refused configuration"
        );
    }
}

#[test]
fn given_a_value_out_of_its_type_when_parsed_then_the_error_names_the_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = hostile_config(
        dir.path(),
        "expires_after_hours = 24",
        "expires_after_hours = 99999999999",
    );
    let out = shipgate(
        &dir.path().join("data"),
        &config,
        &["plan", "--version", "1.3.0"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("expires_after_hours"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn given_staging_configured_when_checked_then_the_summary_says_how_releases_reach_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = std::fs::read_to_string(repo().join("shipgate.toml")).expect("shipgate.toml");
    let staging = "\n[[approvers]]\nid = \"quinn\"\nname = \"Quinn\"\nemail = \"qa@example.com\"\nroles = [\"QA\"]\n\n[environments.staging]\ncluster = \"roleferry-staging\"\nservice = \"api-staging\"\nhealth_base_url = \"https://staging.api.roleferry.com\"\n";
    let path = dir.path().join("staged.toml");
    std::fs::write(&path, format!("{text}{staging}")).expect("a temporary configuration");
    let out = shipgate(&dir.path().join("data"), &path, &["config", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "before production: staging — pushes to develop deploy api-staging in roleferry-staging at once, approved by QA after the smoke tests; production ships only what passed it"
        ),
        "{stdout}"
    );
    // A role nobody holds is refused, naming the field.
    let broken = format!(
        "{text}{}",
        staging.replace("roles = [\"QA\"]", "roles = [\"Ops\"]")
    );
    std::fs::write(&path, broken).expect("a temporary configuration");
    let out = shipgate(&dir.path().join("data"), &path, &["config", "check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("environments.staging.approval_roles[0]"),
        "{stderr}"
    );
}
