//! The `shipgate` binary as people use it: separate processes over one data directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

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
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The repository's configuration with a freeze around now, so a release approved during
/// the test waits for the window whatever the time of day.
fn frozen_config(dir: &Path) -> PathBuf {
    let now = chrono::Utc::now();
    let text = std::fs::read_to_string(repo().join("shipgate.toml")).unwrap();
    let freeze = format!(
        "[[window.freezes]]\nstart = \"{}\"\nend = \"{}\"\nreason = \"Test freeze\"\n\n",
        (now - chrono::Duration::days(1)).to_rfc3339(),
        (now + chrono::Duration::days(2)).to_rfc3339()
    );
    let text = text.replacen(
        "[[window.freezes]]",
        &format!("{freeze}[[window.freezes]]"),
        1,
    );
    let path = dir.join("shipgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn given_demo_json_when_a_scenario_runs_then_it_reports_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipgate(
        dir.path(),
        &repo().join("shipgate.toml"),
        &["demo", "--json", "--scenario", "minor-happy"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<_> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1);
    let report: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(report["scenario"], "minor-happy");
    assert_eq!(report["expected_state"], "Succeeded");
    assert_eq!(report["final_state"], "Succeeded");
    assert_eq!(report["deploy_started_at"], "2026-03-11T03:00:00Z");
    assert!(
        report["previous_task_definition"]
            .as_str()
            .unwrap()
            .ends_with("roleferry-api:41")
    );
    assert!(
        report["serving_task_definition"]
            .as_str()
            .unwrap()
            .ends_with("roleferry-api:42")
    );
    assert_eq!(report["approvals"][0]["approver"], "lee");
    assert_eq!(report["approvals"][0]["role"], "Eng Lead");
    assert_eq!(report["approvals"][0]["decision"], "approved");
    let announcements = report["announcements"].as_array().unwrap();
    assert!(
        announcements
            .iter()
            .all(|a| a["channel"].is_string() && a["text"].is_string())
    );
    assert!(dir.path().join("demo/minor-happy/outbox").is_dir());
}

#[test]
fn given_an_unknown_scenario_when_the_demo_runs_then_it_names_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipgate(
        dir.path(),
        &repo().join("shipgate.toml"),
        &["demo", "--scenario", "nope"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("minor-happy"), "{}", stderr(&out));
}

#[test]
fn given_a_release_when_driven_by_separate_commands_then_it_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let config = frozen_config(dir.path());
    let data = dir.path().join("data");

    let out = shipgate(
        &data,
        &config,
        &[
            "release",
            "start",
            "--version",
            "1.3.0",
            "--commit",
            "0123456789abcdef0123456789abcdef01234567",
            "--author",
            "alex",
            "--feature",
            "AI Copilot (beta)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("api-1.3.0-0123456"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("AwaitingApproval"),
        "{}",
        stdout(&out)
    );

    // The author cannot approve; a non-approver cannot either.
    let out = shipgate(
        &data,
        &config,
        &["release", "approve", "api-1.3.0-0123456", "--as", "mallory"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a configured approver"),
        "{}",
        stderr(&out)
    );

    let out = shipgate(
        &data,
        &config,
        &["release", "approve", "api-1.3.0-0123456", "--as", "lee"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("AwaitingWindow"), "{}", stdout(&out));

    // Approving twice is harmless.
    let out = shipgate(
        &data,
        &config,
        &["release", "approve", "api-1.3.0-0123456", "--as", "lee"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = shipgate(
        &data,
        &config,
        &["release", "show", "api-1.3.0-0123456", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let release: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(release["state"], "AwaitingWindow");
    assert!(release.get("approval_token").is_none() && release.get("window_token").is_none());
    let waiting = release["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["detail"].as_str().unwrap().contains("Test freeze"));
    assert!(waiting, "the timeline says why it waits: {release:#}");

    let out = shipgate(&data, &config, &["release", "list"]);
    assert!(
        stdout(&out).contains("the deploy window"),
        "{}",
        stdout(&out)
    );

    let out = shipgate(&data, &config, &["tick"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Outbox: the approval request went to the Eng Leads by email.
    let outbox: Vec<Value> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap()
        })
        .collect();
    assert!(outbox.iter().any(|m| {
        m["channel"] == "email"
            && m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Approval needed")
    }));
}

#[test]
fn given_bad_input_when_a_command_runs_then_it_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("shipgate.toml");
    let out = shipgate(
        dir.path(),
        &config,
        &[
            "release",
            "start",
            "--version",
            "1.x",
            "--commit",
            "a",
            "--author",
            "b",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a version"), "{}", stderr(&out));

    let out = shipgate(
        dir.path(),
        &config,
        &["release", "reject", "api-1.3.0-0123456", "--as", "lee"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--reason"), "{}", stderr(&out));

    let out = shipgate(dir.path(), &config, &["release", "show", "no-such-release"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    let out = shipgate(
        dir.path(),
        &dir.path().join("missing.toml"),
        &["window", "next"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the configuration"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn given_window_next_and_plan_when_run_then_they_preview_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("shipgate.toml");
    let out = shipgate(dir.path(), &config, &["window", "next", "--count", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 3);
    assert!(stdout(&out).contains("03:00–05:00 UTC"), "{}", stdout(&out));

    let out = shipgate(dir.path(), &config, &["plan", "--version", "2.0.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("major"), "{}", stdout(&out));
    assert!(stdout(&out).contains("CEO + CTO"), "{}", stdout(&out));
}

#[test]
fn given_asl_definitions_when_run_or_validated_then_outcomes_and_findings_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("shipgate.toml");
    let def = dir.path().join("def.json");
    std::fs::write(
        &def,
        r#"{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":3600,"Next":"Add"},
            "Add":{"Type":"Pass","Parameters":{"sum.$":"States.MathAdd($.a, 2)"},"End":true}}}"#,
    )
    .unwrap();
    let out = shipgate(
        dir.path(),
        &config,
        &[
            "asl",
            "run",
            "--definition",
            def.to_str().unwrap(),
            "--input",
            r#"{"a":40}"#,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"status": "SUCCEEDED", "output": {"sum": 42}})
    );

    let failing = dir.path().join("fail.json");
    std::fs::write(&failing, r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Custom.Error","Cause":"because"}}}"#).unwrap();
    let out = shipgate(
        dir.path(),
        &config,
        &[
            "asl",
            "run",
            "--definition",
            failing.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "an execution that ran exits 0: {}",
        stderr(&out)
    );
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"status": "FAILED", "error": "Custom.Error", "cause": "because"})
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}"#,
    )
    .unwrap();
    let out = shipgate(
        dir.path(),
        &config,
        &["asl", "validate", broken.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("/States/A/Next"), "{}", stdout(&out));

    let out = shipgate(
        dir.path(),
        &config,
        &[
            "asl",
            "validate",
            repo().join("statemachine.json").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn given_a_minor_release_when_cost_runs_then_it_prints_a_price_below_a_cent() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("shipgate.toml");
    let out = shipgate(dir.path(), &config, &["cost"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("minor-happy") && text.contains("Total: $"),
        "{text}"
    );
    assert!(
        text.contains("Step Functions") && text.contains("us-east-1"),
        "{text}"
    );

    let out = shipgate(dir.path(), &config, &["cost", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let total = report["total_usd"].as_f64().unwrap();
    assert!(
        total > 0.0 && total <= 0.01,
        "one minor release costs ${total}"
    );
    let usage = &report["usage"];
    // The hour of monitoring is about sixty monitor calls, each a few transitions.
    assert!(
        usage["invocations"]["monitor"].as_u64().unwrap() >= 55,
        "{usage}"
    );
    assert!(
        usage["state_transitions"].as_u64().unwrap() > 150,
        "{usage}"
    );
    assert!(
        usage["dynamodb_write_units"].as_u64().unwrap() > 0,
        "{usage}"
    );
    assert_eq!(report["final_state"], "Succeeded");
}
