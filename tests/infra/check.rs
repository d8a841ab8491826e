//! The project's own check of `infra/template.yaml` against `statemachine.json`, the
//! `functions/` directory and the code's error names — what cfn-lint and asl-validator
//! cannot know:
//!
//! - every `${...}` placeholder of the definition is substituted by the state machine's
//!   `DefinitionSubstitutions`, and every substitution is used;
//! - every substituted ARN is a function of the template whose code is one of
//!   `functions/<name>` (`CodeUri: ../target/lambda/<name>/bootstrap.zip`), and every
//!   function in `functions/` is deployed, with JSON logs;
//! - every `errorType` the definition matches in `Retry`/`Catch` (other than `States.*`
//!   and `Lambda.*`) is one of `GateError::ERROR_TYPES`;
//! - IAM: no action `"*"` (nor `service:*`), and every `Resource: "*"` carries a YAML
//!   comment saying why (read from the raw text, as comments do not survive parsing).
//!
//! CloudFormation's short-form tags (`!Sub`, `!GetAtt`, `!Ref`, …) are parsed as YAML tags
//! and turned into their long form (`Fn::Sub`, `Fn::GetAtt`, `Ref`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

/// The template as JSON, short-form tags in their long form.
pub(crate) fn parse_template(text: &str) -> Result<Value, String> {
    let yaml: Yaml = serde_yaml_ng::from_str(text).map_err(|e| format!("template: {e}"))?;
    to_json(yaml)
}

fn to_json(yaml: Yaml) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => serde_json::to_value(&n).map_err(|e| e.to_string())?,
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s,
                    other => serde_yaml_ng::to_string(&other)
                        .map_err(|e| e.to_string())?
                        .trim()
                        .to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value)?;
            let (key, inner) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((resource, attribute)) => {
                                Value::Array(vec![resource.into(), attribute.into()])
                            }
                            None => Value::String(s),
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".into(), inner)
                }
                _ => (format!("Fn::{name}"), inner),
            };
            let mut out = Map::new();
            out.insert(key, inner);
            Value::Object(out)
        }
    })
}

/// The logical id a value refers to: `!GetAtt X.Arn`, `!Ref X`.
fn referenced(value: &Value) -> Option<String> {
    if let Some(get) = value.get("Fn::GetAtt") {
        return get.get(0).and_then(Value::as_str).map(str::to_string);
    }
    value.get("Ref").and_then(Value::as_str).map(str::to_string)
}

/// The `${Name}` placeholders of a definition's text.
pub(crate) fn placeholders(definition: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                found.insert(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

/// Every `ErrorEquals` name in `Retry` and `Catch`, with its state, nested states included.
fn matched_errors(states: &Value, out: &mut Vec<(String, String)>) {
    let Some(states) = states.as_object() else {
        return;
    };
    for (name, state) in states {
        for list in ["Retry", "Catch"] {
            for rule in state[list].as_array().into_iter().flatten() {
                for error in rule["ErrorEquals"].as_array().into_iter().flatten() {
                    if let Some(error) = error.as_str() {
                        out.push((name.clone(), error.to_string()));
                    }
                }
            }
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            matched_errors(&branch["States"], out);
        }
        for nested in ["Iterator", "ItemProcessor"] {
            matched_errors(&state[nested]["States"], out);
        }
    }
}

/// Every IAM action value in the template, with where it is.
fn actions(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{at}/{key}");
                if key == "Action" || key == "NotAction" {
                    match v {
                        Value::String(s) => out.push((here.clone(), s.clone())),
                        Value::Array(items) => {
                            for item in items.iter().filter_map(Value::as_str) {
                                out.push((here.clone(), item.to_string()));
                            }
                        }
                        _ => {}
                    }
                }
                actions(v, &here, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                actions(v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// How many times `"*"` is a `Resource` (alone or in a list) in the parsed template.
fn star_resources(value: &Value) -> usize {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(key, v)| {
                let here = if key == "Resource" {
                    match v {
                        Value::String(s) if s == "*" => 1,
                        Value::Array(items) => {
                            items.iter().filter(|i| i.as_str() == Some("*")).count()
                        }
                        _ => 0,
                    }
                } else {
                    0
                };
                here + star_resources(v)
            })
            .sum(),
        Value::Array(items) => items.iter().map(star_resources).sum(),
        _ => 0,
    }
}

fn is_star(text: &str) -> bool {
    matches!(text.trim(), "\"*\"" | "'*'" | "*")
}

/// The raw lines that make `"*"` a resource, each with whether a comment explains it: a
/// `#` comment on the line, or comment lines right above it (above the `Resource:` line
/// for a list item).
fn commented_star_resources(raw: &str) -> Vec<(usize, bool)> {
    let lines: Vec<&str> = raw.lines().collect();
    let strip = |line: &str| -> (String, bool) {
        // A `#` outside quotes starts a comment.
        let mut quote: Option<char> = None;
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '#') => return (line[..i].to_string(), true),
                _ => {}
            }
        }
        (line.to_string(), false)
    };
    let comment_above = |index: usize| -> bool {
        index > 0
            && lines[..index]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with('#'))
    };
    let mut found = Vec::new();
    let mut resource_line: Option<usize> = None;
    for (index, line) in lines.iter().enumerate() {
        let (code, inline) = strip(line);
        let trimmed = code.trim();
        if let Some(value) = trimmed
            .strip_prefix("- ")
            .unwrap_or(trimmed)
            .strip_prefix("Resource:")
        {
            if is_star(value) {
                found.push((index + 1, inline || comment_above(index)));
                resource_line = None;
            } else if value.trim().is_empty() {
                resource_line = Some(index);
            } else {
                resource_line = None;
            }
            continue;
        }
        if let Some(start) = resource_line {
            if let Some(item) = trimmed.strip_prefix('-') {
                if is_star(item) {
                    found.push((
                        index + 1,
                        inline || comment_above(index) || comment_above(start),
                    ));
                }
            } else if !trimmed.is_empty() && !line.trim_start().starts_with('#') {
                resource_line = None;
            }
        }
    }
    found
}

/// The name of `functions/<name>` a function's `CodeUri` builds from.
fn function_of_code_uri(uri: &str) -> Option<&str> {
    uri.strip_prefix("../target/lambda/")?
        .strip_suffix("/bootstrap.zip")
}

/// Everything wrong, in words; empty when the template passes.
pub(crate) fn problems(
    template_text: &str,
    definition_text: &str,
    functions: &BTreeSet<String>,
    error_types: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    let template = match parse_template(template_text) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let definition: Value = match serde_json::from_str(definition_text) {
        Ok(d) => d,
        Err(e) => return vec![format!("statemachine.json: {e}")],
    };
    let empty = Map::new();
    let resources = template["Resources"].as_object().unwrap_or(&empty);

    // Functions: each deployed from its functions/<name>, with JSON logs.
    let mut deployed: BTreeMap<String, String> = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let props = &resource["Properties"];
        match props["CodeUri"].as_str().and_then(function_of_code_uri) {
            Some(name) if functions.contains(name) => {
                deployed.insert(id.clone(), name.to_string());
            }
            Some(name) => problems.push(format!(
                "{id}: CodeUri builds `{name}`, which is not in functions/"
            )),
            None => problems.push(format!(
                "{id}: CodeUri must be ../target/lambda/<name>/bootstrap.zip (what `make package` builds)"
            )),
        }
        if props["LoggingConfig"]["LogFormat"] != "JSON" {
            problems.push(format!("{id}: LoggingConfig.LogFormat must be JSON"));
        }
    }
    let deployed_names: BTreeSet<&String> = deployed.values().collect();
    for name in functions {
        if !deployed_names.contains(name) {
            problems.push(format!("functions/{name} is not deployed by the template"));
        }
    }

    // The state machine: every placeholder substituted, by a function of the template.
    let machines: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::StateMachine")
        .collect();
    if machines.len() != 1 {
        problems.push(format!(
            "expected one AWS::Serverless::StateMachine, found {}",
            machines.len()
        ));
    }
    let wanted = placeholders(definition_text);
    for (id, machine) in machines {
        let props = &machine["Properties"];
        if props["DefinitionUri"] != "../statemachine.json" {
            problems.push(format!("{id}: DefinitionUri must be ../statemachine.json"));
        }
        let subs = props["DefinitionSubstitutions"]
            .as_object()
            .unwrap_or(&empty);
        for name in &wanted {
            if !subs.contains_key(name) {
                problems.push(format!(
                    "{id}: statemachine.json uses ${{{name}}}, which DefinitionSubstitutions does not substitute"
                ));
            }
        }
        for (name, value) in subs {
            if !wanted.contains(name) {
                problems.push(format!(
                    "{id}: DefinitionSubstitutions.{name} is not used by statemachine.json"
                ));
            }
            match referenced(value) {
                Some(target) if deployed.contains_key(&target) => {}
                Some(target) => problems.push(format!(
                    "{id}: {name} refers to {target}, which is not a function of the template built from functions/"
                )),
                None => problems.push(format!(
                    "{id}: {name} must be !GetAtt <Function>.Arn of a function of the template"
                )),
            }
        }
    }

    // Error names.
    let mut matched = Vec::new();
    matched_errors(&definition["States"], &mut matched);
    for (state, error) in matched {
        if error.starts_with("States.") || error.starts_with("Lambda.") {
            continue;
        }
        if !error_types.contains(&error.as_str()) {
            problems.push(format!(
                "statemachine.json: {state} matches {error}, which is not in GateError::ERROR_TYPES"
            ));
        }
    }

    // IAM.
    let mut found = Vec::new();
    actions(&template, "", &mut found);
    for (at, action) in found {
        if action == "*" || action.ends_with(":*") {
            problems.push(format!("{at}: action `{action}` grants everything"));
        }
    }
    let parsed = star_resources(&template);
    let raw = commented_star_resources(template_text);
    if parsed != raw.len() {
        problems.push(format!(
            "{parsed} `Resource: \"*\"` in the template, but {} written as `Resource: \"*\"` or a `- \"*\"` list item: write each on its own line",
            raw.len()
        ));
    }
    for (line, commented) in raw {
        if !commented {
            problems.push(format!(
                "template line {line}: Resource \"*\" without a comment saying why"
            ));
        }
    }
    problems
}

/// The names of `functions/<name>` directories.
pub(crate) fn function_dirs(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("Cargo.toml").exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}
