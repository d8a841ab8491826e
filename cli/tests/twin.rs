//! `shipgate twin`: the production stack run offline as deployed must end every scenario as
//! the local runtime does, with no call denied — and name the call a template without its
//! permission refuses. Needs what `.ci/run` installs: Python 3 with moto[server],
//! aws-sam-translator and boto3, Debian's faketime, and the function binaries
//! (`cargo build --workspace --bins`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipgate(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(repo())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("SHIPGATE_LOG")
        .output()
        .unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn approvals(report: &Value) -> Vec<(String, String)> {
    report["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["approver"].as_str().unwrap().to_string(),
                a["decision"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn given_every_scenario_when_run_on_the_twin_then_it_ends_as_locally_with_no_call_denied() {
    let dir = tempfile::tempdir().unwrap();
    let demo = shipgate(dir.path(), &["demo", "--json"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let twin = shipgate(dir.path(), &["twin", "--json"]);
    let twin_reports = lines(&twin);
    assert!(
        twin.status.success(),
        "the twin failed:\n{}\n{}",
        String::from_utf8_lossy(&twin.stdout),
        String::from_utf8_lossy(&twin.stderr)
    );
    let demo_reports = lines(&demo);
    assert_eq!(demo_reports.len(), 22);
    assert_eq!(twin_reports.len(), demo_reports.len());
    let mut callers = BTreeSet::new();
    for (local, twin) in demo_reports.iter().zip(&twin_reports) {
        let name = local["scenario"].as_str().unwrap();
        assert_eq!(twin["scenario"], local["scenario"]);
        assert_eq!(twin["passed"], true, "{name}: {}", twin["problems"]);
        for field in [
            "final_state",
            "expected_state",
            "deploy_started_at",
            "previous_task_definition",
            "serving_task_definition",
            "tasks_run",
        ] {
            assert_eq!(twin[field], local[field], "{name}: {field} differs");
        }
        assert_eq!(
            approvals(twin),
            approvals(local),
            "{name}: approvals differ"
        );
        let channels = |r: &Value| -> Vec<String> {
            r["announcements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["channel"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            channels(twin),
            channels(local),
            "{name}: announcements differ"
        );
        // GitHub and PagerDuty heard the same, in the same order, whatever ran the stack.
        let calls = |r: &Value, service: &str| -> Vec<String> {
            r[service]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| format!("{} {} → {}", c["method"], c["path"], c["status"]))
                .collect()
        };
        for service in ["github", "pagerduty"] {
            assert_eq!(
                calls(twin, service),
                calls(local, service),
                "{name}: {service} calls differ"
            );
        }
        assert_eq!(twin["denied"], Value::Array(vec![]), "{name}");
        for call in twin["aws_calls"].as_array().unwrap() {
            assert_eq!(call["allowed"], true, "{name}: {call}");
            callers.insert(call["function"].as_str().unwrap().to_string());
        }
    }
    for function in [
        "approve",
        "window",
        "deploy",
        "health-check",
        "monitor",
        "rollback",
        "announce",
        "trigger",
        "callback",
    ] {
        assert!(
            callers.contains(&format!("shipgate-{function}")),
            "shipgate-{function} made no AWS call: {callers:?}"
        );
    }
}

#[test]
fn given_a_template_missing_a_permission_when_the_twin_runs_then_it_fails_naming_the_denied_call() {
    // The window function may no longer resume the queued release's task token.
    let template = std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap();
    let statement = "            - Sid: ResumeQueuedRelease\n              Effect: Allow\n              Action:\n                - states:SendTaskSuccess\n";
    assert!(template.contains(statement));
    let broken = template
        .replace(statement, "            - Sid: ResumeQueuedRelease\n              Effect: Allow\n              Action:\n                - states:DescribeExecution\n")
        .replace("../statemachine.json", &repo().join("statemachine.json").display().to_string());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = shipgate(
        dir.path(),
        &[
            "twin",
            "--json",
            "--scenario",
            "minor-happy",
            "--template",
            path.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "a denied call must fail the twin");
    let report = &lines(&out)[0];
    let denied = report["denied"].as_array().unwrap();
    assert!(
        denied.iter().any(|d| d["function"] == "shipgate-window"
            && d["action"] == "states:SendTaskSuccess"
            && d["allowed"] == false),
        "{denied:?}"
    );
    assert!(
        report["problems"].as_array().unwrap().iter().any(|p| p
            .as_str()
            .unwrap()
            .contains("shipgate-window was denied states:SendTaskSuccess")),
        "{}",
        report["problems"]
    );
}
