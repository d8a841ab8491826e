//! `statemachine.json` and the code agree: every gate error the flow matches exists, every
//! task reaches a gate, and every gate after the deploy starts is caught into rollback.

use std::collections::BTreeSet;

use serde_json::Value;
use shipgate_core::{Gate, GateError};
use shipgate_tests::STATEMACHINE;

fn definition() -> Value {
    serde_json::from_str(STATEMACHINE).unwrap()
}

fn states(def: &Value) -> Vec<(String, Value)> {
    def["States"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn given_the_definition_when_validated_then_it_is_valid() {
    let findings = shipgate_asl::validate(STATEMACHINE);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn given_the_definition_when_its_matched_error_names_are_read_then_the_code_can_raise_each() {
    let known: BTreeSet<&str> = GateError::ERROR_TYPES.iter().copied().collect();
    let mut matched = BTreeSet::new();
    for (name, state) in states(&definition()) {
        for list in ["Retry", "Catch"] {
            for rule in state[list].as_array().into_iter().flatten() {
                for error in rule["ErrorEquals"].as_array().unwrap() {
                    let error = error.as_str().unwrap();
                    if error.starts_with("States.") || error.starts_with("Lambda.") {
                        continue;
                    }
                    assert!(
                        known.contains(error),
                        "{name} matches {error}, which no gate raises"
                    );
                    matched.insert(error.to_string());
                }
            }
        }
    }
    // And the reverse: the names the flow treats specially are all matched somewhere.
    for special in [
        "Approval.Rejected",
        "Gate.Unavailable",
        "HealthCheck.Failed",
        "Release.Conflict",
    ] {
        assert!(matched.contains(special), "{special} is never matched");
    }
}

#[test]
fn given_the_definition_when_its_tasks_are_read_then_each_calls_a_gate_and_catches_everything() {
    let placeholders: BTreeSet<&str> = Gate::ALL.iter().map(|g| g.placeholder()).collect();
    let mut used = BTreeSet::new();
    for (name, state) in states(&definition()) {
        if state["Type"] != "Task" {
            continue;
        }
        let function = state["Parameters"]["FunctionName"].as_str().unwrap();
        assert!(placeholders.contains(function), "{name} calls {function}");
        used.insert(function.to_string());
        let catches_all = state["Catch"].as_array().unwrap().iter().any(|c| {
            c["ErrorEquals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "States.ALL")
        });
        assert!(
            catches_all,
            "{name} has no States.ALL catch: a failure would lose track of the release"
        );
    }
    assert_eq!(used.len(), placeholders.len(), "every gate is used");
}

#[test]
fn given_the_gates_after_deploy_starts_when_they_fail_then_each_is_caught_into_rollback() {
    let def = definition();
    for name in ["Deploy", "CheckStable", "HealthCheck", "Monitor"] {
        let state = &def["States"][name];
        let catch = state["Catch"].as_array().unwrap();
        assert!(
            catch.iter().all(|c| c["Next"] == "Rollback"),
            "{name} must catch into Rollback"
        );
    }
    assert_eq!(def["States"]["Rollback"]["Next"], "RestoreStarted");
    assert_eq!(def["States"]["Rollback"]["Catch"][0]["Next"], "Announce");
}

#[test]
fn given_a_restore_when_it_runs_then_it_is_verified_before_the_release_is_announced() {
    let def = definition();
    let states = &def["States"];
    // Pointed back but not ended: wait, then verify, until the rollback gate says it ended.
    let started = &states["RestoreStarted"];
    assert_eq!(started["Choices"][0]["Variable"], "$.rollback.ended");
    assert_eq!(started["Choices"][0]["BooleanEquals"], false);
    assert_eq!(started["Choices"][0]["Next"], "WaitForRestore");
    assert_eq!(started["Default"], "Announce");
    assert_eq!(states["WaitForRestore"]["Next"], "VerifyRestore");
    let verify = &states["VerifyRestore"];
    assert_eq!(verify["Parameters"]["Payload"]["step"], "verify");
    assert_eq!(verify["Next"], "RestoreStarted");
    assert_eq!(verify["Catch"][0]["Next"], "Announce");
    // A release rolled back after it had finished enters the loop directly.
    assert_eq!(
        states["HasSettings"]["Choices"][0]["Variable"],
        "$.restore_only"
    );
    assert_eq!(states["RestoreOnly"]["Next"], "WaitForRestore");
}

#[test]
fn given_the_approval_state_when_it_waits_for_a_token_then_a_timeout_expires_the_release() {
    let def = definition();
    let approval = &def["States"]["RequestApproval"];
    assert_eq!(
        approval["Resource"],
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    );
    assert_eq!(
        approval["Parameters"]["Payload"]["task_token.$"],
        "$$.Task.Token"
    );
    assert!(approval["TimeoutSecondsPath"].is_string());
    assert_eq!(approval["Catch"][0]["ErrorEquals"][0], "States.Timeout");
    assert_eq!(approval["Catch"][0]["Next"], "ExpireApproval");
}
