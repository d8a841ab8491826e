//! Static validation of a definition, on the raw JSON so every finding can name its
//! location as a JSON pointer (e.g. `/States/Deploy/Next`).
//!
//! Checks: JSON shape, unknown fields per state type, `StartAt`, missing or dangling
//! `Next`/`Default`/Catch `Next`, unreachable states, states from which no terminal state
//! can be reached, Wait with more than one time field or a `Seconds` that is not an integer
//! from 0 to 99999999, malformed paths, unknown intrinsic
//! functions, Choice rules, and `.waitForTaskToken` tasks that never pass `$$.Task.Token`.
//! `${Placeholder}` strings are legal wherever a string is.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::choice;
use crate::intrinsics;
use crate::limits::MAX_WAIT_SECONDS;
use crate::path::Path;

mod graph;
use graph::Graph;

/// One problem in a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// JSON pointer to the offending location.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// Validates a definition; an empty list means it is valid.
pub fn validate(definition_json: &str) -> Vec<Finding> {
    let mut v = Validator { findings: vec![] };
    let root: Value = match serde_json::from_str(definition_json) {
        Ok(r) => r,
        Err(e) => {
            v.add("", format!("not valid JSON: {e}"));
            return v.findings;
        }
    };
    v.machine(&root, "", true);
    if v.findings.is_empty()
        && let Err(e) = crate::definition::parse(definition_json)
    {
        v.add(
            "",
            format!("definition does not match the States Language model: {e}"),
        );
    }
    v.findings
}

struct Validator {
    findings: Vec<Finding>,
}

fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

const COMMON_IO: &[&str] = &["Type", "Comment", "InputPath", "OutputPath"];

fn allowed(ty: &str) -> Option<Vec<&'static str>> {
    let mut f: Vec<&'static str> = COMMON_IO.to_vec();
    let extra: &[&str] = match ty {
        "Pass" => &["Next", "End", "ResultPath", "Parameters", "Result"],
        "Task" => &[
            "Next",
            "End",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["Choices", "Default"],
        "Wait" => &[
            "Next",
            "End",
            "Seconds",
            "Timestamp",
            "SecondsPath",
            "TimestampPath",
        ],
        "Succeed" => &[],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Branches",
        ],
        "Map" => &[
            "Next",
            "End",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "ItemsPath",
            "ItemSelector",
            "Iterator",
            "ItemProcessor",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "Label",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
        ],
        _ => return None,
    };
    f.extend_from_slice(extra);
    if ty == "Fail" {
        f.retain(|x| *x != "InputPath" && *x != "OutputPath");
    }
    Some(f)
}

impl Validator {
    fn add(&mut self, pointer: &str, message: impl Into<String>) {
        self.findings.push(Finding {
            pointer: if pointer.is_empty() {
                String::new()
            } else {
                pointer.to_string()
            },
            message: message.into(),
        });
    }

    fn machine(&mut self, m: &Value, ptr: &str, top: bool) {
        let Some(obj) = m.as_object() else {
            self.add(ptr, "a state machine must be an object");
            return;
        };
        let mut known = vec!["Comment", "StartAt", "States"];
        if top {
            known.extend(["TimeoutSeconds", "Version", "QueryLanguage"]);
        } else {
            known.push("ProcessorConfig");
        }
        for k in obj.keys() {
            if !known.contains(&k.as_str()) {
                self.add(&format!("{ptr}/{}", esc(k)), format!("unknown field '{k}'"));
            }
        }
        if let Some(q) = obj.get("QueryLanguage")
            && q.as_str() != Some("JSONPath")
        {
            self.add(
                &format!("{ptr}/QueryLanguage"),
                "only the JSONPath query language is supported",
            );
        }
        let Some(states) = obj.get("States").and_then(Value::as_object) else {
            self.add(&format!("{ptr}/States"), "'States' must be an object");
            return;
        };
        if states.is_empty() {
            self.add(&format!("{ptr}/States"), "'States' must not be empty");
        }
        let start = obj.get("StartAt").and_then(Value::as_str);
        match start {
            None => self.add(&format!("{ptr}/StartAt"), "'StartAt' is required"),
            Some(s) if !states.contains_key(s) => self.add(
                &format!("{ptr}/StartAt"),
                format!("'StartAt' names '{s}', which is not a state"),
            ),
            _ => {}
        }
        let mut graph = Graph::new(states.keys().map(String::as_str));
        for (i, (name, st)) in states.iter().enumerate() {
            let sp = format!("{ptr}/States/{}", esc(name));
            let (succ, term) = self.state(name, st, &sp, states);
            graph.set(i, &succ, term);
        }
        let reachable = start
            .and_then(|s| graph.index(s))
            .map(|s| graph.reachable_from(s));
        if let Some(seen) = reachable {
            for (name, seen) in states.keys().zip(seen) {
                if !seen {
                    self.add(
                        &format!("{ptr}/States/{}", esc(name)),
                        format!("state '{name}' is not reachable from StartAt"),
                    );
                }
            }
        }
        for (name, ends) in states.keys().zip(graph.can_reach_terminal()) {
            if !ends {
                self.add(
                    &format!("{ptr}/States/{}", esc(name)),
                    format!("state '{name}' has no path to a terminal state"),
                );
            }
        }
    }

    fn target(
        &mut self,
        ptr: &str,
        v: Option<&Value>,
        states: &Map<String, Value>,
    ) -> Option<String> {
        let v = v?;
        match v.as_str() {
            Some(s) if states.contains_key(s) => Some(s.to_string()),
            Some(s) => {
                self.add(ptr, format!("'{s}' is not a state in this scope"));
                None
            }
            None => {
                self.add(ptr, "must be a state name");
                None
            }
        }
    }

    fn path_field(&mut self, obj: &Map<String, Value>, key: &str, ptr: &str, reference: bool) {
        let Some(v) = obj.get(key) else { return };
        if v.is_null() && matches!(key, "InputPath" | "OutputPath" | "ResultPath") {
            return;
        }
        let p = format!("{ptr}/{key}");
        match v.as_str() {
            None => self.add(&p, format!("'{key}' must be a path string")),
            Some(s) => match Path::parse(s) {
                Err(e) => self.add(&p, e.to_string()),
                Ok(path) if reference && !path.is_reference() => {
                    self.add(&p, format!("'{s}' is not a reference path"))
                }
                Ok(_) => {}
            },
        }
    }

    fn template(&mut self, v: &Value, ptr: &str) {
        match v {
            Value::Object(m) => {
                for (k, val) in m {
                    let p = format!("{ptr}/{}", esc(k));
                    if k.ends_with(".$") {
                        match val.as_str() {
                            None => self.add(
                                &p,
                                format!("'{k}' must be a path or intrinsic function string"),
                            ),
                            Some(s) => self.dynamic(s, &p),
                        }
                    } else {
                        self.template(val, &p);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.template(x, &format!("{ptr}/{i}"));
                }
            }
            _ => {}
        }
    }

    fn dynamic(&mut self, s: &str, p: &str) {
        if intrinsics::is_intrinsic(s) {
            match intrinsics::parse(s) {
                Err(e) => self.add(p, format!("invalid intrinsic function: {e}")),
                Ok(call) => {
                    for n in intrinsics::names(&call) {
                        if !intrinsics::is_known(&n) {
                            self.add(p, format!("unknown intrinsic function '{n}'"));
                        }
                    }
                }
            }
        } else if let Err(e) = Path::parse(s) {
            self.add(p, e.to_string());
        }
    }

    fn state(
        &mut self,
        name: &str,
        st: &Value,
        sp: &str,
        states: &Map<String, Value>,
    ) -> (Vec<String>, bool) {
        let mut succ = Vec::new();
        let Some(obj) = st.as_object() else {
            self.add(sp, "a state must be an object");
            return (succ, true);
        };
        let ty = obj.get("Type").and_then(Value::as_str).unwrap_or("");
        let Some(fields) = allowed(ty) else {
            self.add(
                &format!("{sp}/Type"),
                format!("state '{name}' has an unknown or missing Type '{ty}'"),
            );
            return (succ, true);
        };
        for k in obj.keys() {
            if !fields.contains(&k.as_str()) {
                self.add(
                    &format!("{sp}/{}", esc(k)),
                    format!("unknown field '{k}' for a {ty} state"),
                );
            }
        }
        for key in [
            "InputPath",
            "OutputPath",
            "ItemsPath",
            "TimeoutSecondsPath",
            "HeartbeatSecondsPath",
            "SecondsPath",
            "TimestampPath",
            "MaxConcurrencyPath",
        ] {
            self.path_field(obj, key, sp, false);
        }
        self.path_field(obj, "ResultPath", sp, true);
        for key in ["Parameters", "ResultSelector", "ItemSelector"] {
            if let Some(t) = obj.get(key) {
                self.template(t, &format!("{sp}/{key}"));
            }
        }
        let mut terminal = false;
        match ty {
            "Choice" => {
                match obj.get("Choices").and_then(Value::as_array) {
                    Some(cs) if !cs.is_empty() => {
                        for (i, c) in cs.iter().enumerate() {
                            let cp = format!("{sp}/Choices/{i}");
                            match choice::parse_choice(c) {
                                Err(e) => self.add(&cp, e.to_string()),
                                Ok(_) => {
                                    if let Some(t) =
                                        self.target(&format!("{cp}/Next"), c.get("Next"), states)
                                    {
                                        succ.push(t);
                                    }
                                }
                            }
                        }
                    }
                    _ => self.add(
                        &format!("{sp}/Choices"),
                        "a Choice state needs a non-empty 'Choices' array",
                    ),
                }
                if let Some(t) = self.target(&format!("{sp}/Default"), obj.get("Default"), states) {
                    succ.push(t);
                }
            }
            "Succeed" | "Fail" => terminal = true,
            _ => {
                let end = obj.get("End").and_then(Value::as_bool) == Some(true);
                match (obj.get("Next"), end) {
                    (Some(_), true) => self.add(
                        &format!("{sp}/End"),
                        "a state cannot have both 'Next' and 'End'",
                    ),
                    (None, false) => self.add(
                        &format!("{sp}/Next"),
                        format!("state '{name}' needs 'Next' or 'End: true'"),
                    ),
                    (None, true) => terminal = true,
                    (Some(_), false) => {}
                }
                if let Some(t) = self.target(&format!("{sp}/Next"), obj.get("Next"), states) {
                    succ.push(t);
                }
            }
        }
        if ty == "Wait" {
            let n = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
                .iter()
                .filter(|k| obj.contains_key(**k))
                .count();
            if n != 1 {
                self.add(sp, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath");
            }
            // AWS: an integer from 0 to 99999999 (larger values would also overflow clock
            // arithmetic; the execution itself ends after a year anyway).
            if let Some(secs) = obj.get("Seconds")
                && secs.as_u64().is_none_or(|s| s > MAX_WAIT_SECONDS)
            {
                self.add(
                    &format!("{sp}/Seconds"),
                    format!("'Seconds' must be an integer from 0 to {MAX_WAIT_SECONDS}"),
                );
            }
            if let Some(ts) = obj.get("Timestamp").and_then(Value::as_str)
                && choice::timestamp(ts).is_none()
            {
                self.add(
                    &format!("{sp}/Timestamp"),
                    format!("'{ts}' is not an RFC 3339 timestamp"),
                );
            }
        }
        if ty == "Task" {
            match obj.get("Resource").and_then(Value::as_str) {
                None => self.add(
                    &format!("{sp}/Resource"),
                    "a Task state needs a string 'Resource'",
                ),
                Some(r) if r.ends_with(".waitForTaskToken") => {
                    let has = obj.get("Parameters").is_some_and(mentions_task_token);
                    if !has {
                        self.add(
                            &format!("{sp}/Parameters"),
                            "a .waitForTaskToken task must pass $$.Task.Token in its Parameters",
                        );
                    }
                }
                Some(_) => {}
            }
        }
        if ty == "Fail" {
            for key in ["ErrorPath", "CausePath"] {
                if let Some(s) = obj.get(key).and_then(Value::as_str) {
                    self.dynamic(s, &format!("{sp}/{key}"));
                }
            }
        }
        if ty == "Parallel" {
            match obj.get("Branches").and_then(Value::as_array) {
                Some(bs) if !bs.is_empty() => {
                    for (i, b) in bs.iter().enumerate() {
                        self.machine(b, &format!("{sp}/Branches/{i}"), false);
                    }
                }
                _ => self.add(
                    &format!("{sp}/Branches"),
                    "a Parallel state needs a non-empty 'Branches' array",
                ),
            }
        }
        if ty == "Map" {
            match (obj.get("ItemProcessor"), obj.get("Iterator")) {
                (Some(p), None) => self.machine(p, &format!("{sp}/ItemProcessor"), false),
                (None, Some(p)) => self.machine(p, &format!("{sp}/Iterator"), false),
                _ => self.add(
                    sp,
                    "a Map state needs exactly one of 'ItemProcessor' or 'Iterator'",
                ),
            }
        }
        for (key, is_catch) in [("Retry", false), ("Catch", true)] {
            let Some(list) = obj.get(key) else { continue };
            let Some(list) = list.as_array() else {
                self.add(&format!("{sp}/{key}"), format!("'{key}' must be an array"));
                continue;
            };
            for (i, r) in list.iter().enumerate() {
                let rp = format!("{sp}/{key}/{i}");
                let known: &[&str] = if is_catch {
                    &["ErrorEquals", "Next", "ResultPath", "Comment"]
                } else {
                    &[
                        "ErrorEquals",
                        "IntervalSeconds",
                        "MaxAttempts",
                        "BackoffRate",
                        "MaxDelaySeconds",
                        "JitterStrategy",
                        "Comment",
                    ]
                };
                for k in r
                    .as_object()
                    .map(|o| o.keys().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if !known.contains(&k.as_str()) {
                        self.add(
                            &format!("{rp}/{}", esc(k)),
                            format!("unknown field '{k}' in a {key} entry"),
                        );
                    }
                }
                if let Some(j) = r.get("JitterStrategy")
                    && !matches!(j.as_str(), Some("FULL" | "NONE"))
                {
                    self.add(
                        &format!("{rp}/JitterStrategy"),
                        "'JitterStrategy' must be FULL or NONE",
                    );
                }
                match r.get("ErrorEquals").and_then(Value::as_array) {
                    Some(e) if !e.is_empty() => {
                        let has_all = e.iter().position(|x| x.as_str() == Some("States.ALL"));
                        if has_all.is_some_and(|p| e.len() != 1 || p != 0) {
                            self.add(
                                &format!("{rp}/ErrorEquals"),
                                "'States.ALL' must appear alone",
                            );
                        }
                    }
                    _ => self.add(
                        &format!("{rp}/ErrorEquals"),
                        "'ErrorEquals' must be a non-empty array",
                    ),
                }
                if is_catch {
                    match r.get("Next") {
                        None => self.add(&format!("{rp}/Next"), "a catcher needs 'Next'"),
                        n => {
                            if let Some(t) = self.target(&format!("{rp}/Next"), n, states) {
                                succ.push(t);
                            }
                        }
                    }
                    self.path_field(
                        r.as_object().unwrap_or(&Map::new()),
                        "ResultPath",
                        &rp,
                        true,
                    );
                }
            }
        }
        (succ, terminal)
    }
}

fn mentions_task_token(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("$$.Task.Token"),
        Value::Array(a) => a.iter().any(mentions_task_token),
        Value::Object(m) => m.values().any(mentions_task_token),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(def: &str) -> Vec<String> {
        validate(def).into_iter().map(|f| f.pointer).collect()
    }

    #[test]
    fn given_valid_definition_with_placeholders_when_validated_then_no_findings() {
        let def = r#"{"StartAt":"Deploy","States":{
            "Deploy":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
              "Parameters":{"FunctionName":"${DeployFunctionArn}","Payload":{"token.$":"$$.Task.Token"}},
              "Next":"Done"},
            "Done":{"Type":"Succeed"}}}"#;
        assert_eq!(validate(def), vec![]);
    }

    #[test]
    fn given_dangling_next_when_validated_then_pointer_to_next() {
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nope"}}}"#;
        assert!(pointers(def).contains(&"/States/A/Next".to_string()));
    }

    #[test]
    fn given_bad_start_and_unreachable_when_validated_then_findings() {
        let def = r#"{"StartAt":"X","States":{"A":{"Type":"Pass","End":true}}}"#;
        assert!(pointers(def).contains(&"/StartAt".to_string()));
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}"#;
        assert_eq!(pointers(def), vec!["/States/B"]);
    }

    #[test]
    fn given_infinite_loop_when_validated_then_no_way_to_end() {
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}"#;
        assert_eq!(pointers(def), vec!["/States/A", "/States/B"]);
    }

    #[test]
    fn given_various_errors_when_validated_then_each_located() {
        let def = r#"{"StartAt":"W","States":{
            "W":{"Type":"Wait","Seconds":1,"Timestamp":"2024-01-01T00:00:00Z","Next":"P"},
            "P":{"Type":"Pass","Bogus":1,"InputPath":"x","Parameters":{"a.$":"States.Nope(1)"},"Next":"T"},
            "T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","End":true}}}"#;
        let p = pointers(def);
        assert!(p.contains(&"/States/W".to_string()));
        assert!(p.contains(&"/States/P/Bogus".to_string()));
        assert!(p.contains(&"/States/P/InputPath".to_string()));
        assert!(p.contains(&"/States/P/Parameters/a.$".to_string()));
        assert!(p.contains(&"/States/T/Parameters".to_string()));
    }

    #[test]
    fn given_bad_retry_and_catch_entries_when_validated_then_located() {
        let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true,
            "Retry":[{"ErrorEquals":["States.ALL","X"],"Foo":1,"JitterStrategy":"SOME"}],
            "Catch":[{"ErrorEquals":["X"],"Next":"Gone","ResultPath":"$.a[*]"}]}}}"#;
        let p = pointers(def);
        for want in [
            "/States/T/Retry/0/ErrorEquals",
            "/States/T/Retry/0/Foo",
            "/States/T/Retry/0/JitterStrategy",
            "/States/T/Catch/0/Next",
            "/States/T/Catch/0/ResultPath",
        ] {
            assert!(p.contains(&want.to_string()), "{want} missing from {p:?}");
        }
    }

    #[test]
    fn given_wait_seconds_out_of_aws_range_when_validated_then_located() {
        let wait = |secs: &str| {
            pointers(&format!(
                r#"{{"StartAt":"W","States":{{"W":{{"Type":"Wait","Seconds":{secs},"End":true}}}}}}"#
            ))
        };
        for bad in ["1e18", "-1", "1.5", "100000000", "\"5\""] {
            assert!(
                wait(bad).contains(&"/States/W/Seconds".to_string()),
                "Seconds {bad} accepted"
            );
        }
        assert_eq!(wait("0"), Vec::<String>::new());
        assert_eq!(wait("99999999"), Vec::<String>::new());
    }

    #[test]
    fn given_20000_state_chain_when_validated_then_no_findings() {
        let n = 20_000;
        let states: Vec<String> = (0..n)
            .map(|i| {
                let tail = if i + 1 == n {
                    r#""End":true"#.to_string()
                } else {
                    format!(r#""Next":"S{}""#, i + 1)
                };
                format!(r#""S{i}":{{"Type":"Pass","Parameters":{{"i.$":"$.i"}},{tail}}}"#)
            })
            .collect();
        let def = format!(r#"{{"StartAt":"S0","States":{{{}}}}}"#, states.join(","));
        assert_eq!(validate(&def), vec![]);
        // The same chain with its last link cut: only the states before the cut can
        // never end (they run into the loop), and the cut-off state is unreachable.
        let cut = def
            .replace(
                r#""S19999":{"Type":"Pass","Parameters":{"i.$":"$.i"},"End":true}"#,
                r#""S19999":{"Type":"Pass","End":true}"#,
            )
            .replace(r#""Next":"S19999""#, r#""Next":"S0""#);
        let findings = validate(&cut);
        assert_eq!(findings.len(), 20_000);
        assert_eq!(findings[0].pointer, "/States/S19999");
        assert!(findings[0].message.contains("not reachable"));
        assert!(
            findings[1..]
                .iter()
                .all(|f| f.message.contains("no path to a terminal"))
        );
    }

    #[test]
    fn given_invalid_json_or_shape_when_validated_then_root_finding() {
        assert_eq!(pointers("{"), vec![""]);
        assert!(
            pointers(r#"{"StartAt":"A","States":{"A":{"Type":"Bogus"}}}"#)
                .contains(&"/States/A/Type".to_string())
        );
        assert!(
            !validate(
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Result":1}},"Foo":1}"#
            )
            .is_empty()
        );
    }
}
