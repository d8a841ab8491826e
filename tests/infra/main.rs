//! The infrastructure: `infra/template.yaml` passes the project's check against
//! `statemachine.json`, `functions/` and the code's error names; and the checks `make lint`
//! runs (cfn-lint, asl-validator, `shipgate asl validate`, this check) fail on broken copies.

mod check;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use shipgate_core::GateError;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> String {
    std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap()
}

fn definition() -> String {
    std::fs::read_to_string(repo().join("statemachine.json")).unwrap()
}

fn functions() -> BTreeSet<String> {
    check::function_dirs(&repo().join("functions"))
}

fn problems(template: &str, definition: &str) -> Vec<String> {
    check::problems(template, definition, &functions(), GateError::ERROR_TYPES)
}

#[test]
fn given_the_template_when_the_project_check_runs_then_it_passes() {
    assert_eq!(functions().len(), 9, "{:?}", functions());
    let problems = problems(&template(), &definition());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn given_the_template_when_it_substitutes_placeholders_then_they_are_exactly_the_gates() {
    let wanted = check::placeholders(&definition());
    let gates: BTreeSet<String> = shipgate_core::Gate::ALL
        .iter()
        .map(|g| {
            g.placeholder()
                .trim_start_matches("${")
                .trim_end_matches('}')
                .to_string()
        })
        .collect();
    assert_eq!(wanted, gates);
}

/// Each broken copy, and a piece of what the check must say about it.
fn broken_copies() -> Vec<(&'static str, String, String, &'static str)> {
    let t = template();
    let d = definition();
    let replace = |text: &str, from: &str, to: &str| {
        assert!(
            text.contains(from),
            "the fixture no longer contains {from:?}"
        );
        text.replacen(from, to, 1)
    };
    vec![
        (
            "a placeholder left unsubstituted",
            replace(
                &t,
                "        MonitorFunctionArn: !GetAtt MonitorFunction.Arn\n",
                "",
            ),
            d.clone(),
            "does not substitute",
        ),
        (
            "a substitution naming no function",
            replace(
                &t,
                "MonitorFunctionArn: !GetAtt MonitorFunction.Arn",
                "MonitorFunctionArn: !GetAtt MissingFunction.Arn",
            ),
            d.clone(),
            "MissingFunction",
        ),
        (
            "a function built from nothing in functions/",
            replace(
                &t,
                "../target/lambda/announce/bootstrap.zip",
                "../target/lambda/announcer/bootstrap.zip",
            ),
            d.clone(),
            "not in functions/",
        ),
        (
            "an error name no gate raises",
            t.clone(),
            replace(&d, "\"HealthCheck.Failed\"", "\"HealthCheck.Flaky\""),
            "HealthCheck.Flaky",
        ),
        (
            "an action of everything",
            replace(&t, "Action: states:StartExecution", "Action: \"*\""),
            d.clone(),
            "grants everything",
        ),
        (
            "a wildcard resource without a comment",
            replace(
                &t,
                "Resource: !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SesIdentity}",
                "Resource: \"*\"",
            ),
            d.clone(),
            "without a comment",
        ),
        (
            "text logs",
            replace(
                &t,
                "        LogFormat: JSON\n        LogGroup: !Ref ApproveLogGroup",
                "        LogFormat: Text\n        LogGroup: !Ref ApproveLogGroup",
            ),
            d.clone(),
            "LogFormat must be JSON",
        ),
    ]
}

#[test]
fn given_broken_copies_when_the_project_check_runs_then_it_fails_on_each() {
    for (what, template, definition, says) in broken_copies() {
        let problems = problems(&template, &definition);
        assert!(
            problems.iter().any(|p| p.contains(says)),
            "{what}: expected a problem mentioning {says:?}, got {problems:#?}"
        );
    }
}

#[test]
fn given_wildcard_resources_when_the_raw_text_check_runs_then_it_sees_comments_above_and_beside() {
    let text = "\
A:
  # why
  Resource: \"*\"
B:
  Resource: '*'  # why
C:
  Resource:
    - arn:x
    - \"*\"
D:
  # why
  Resource:
    - \"*\"
";
    let value = check::parse_template(text).unwrap();
    assert_eq!(value["A"]["Resource"], "*");
    let problems = check::problems(
        &format!("Resources: {{}}\nX:\n{}", indent(text)),
        "{\"States\": {}}",
        &BTreeSet::new(),
        &[],
    );
    let uncommented: Vec<_> = problems
        .iter()
        .filter(|p| p.contains("without a comment"))
        .collect();
    assert_eq!(uncommented.len(), 1, "{problems:#?}");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[test]
fn given_short_form_tags_when_the_template_is_parsed_then_they_become_their_long_form() {
    let value = check::parse_template(
        "a: !GetAtt Fn.Arn\nb: !Ref Thing\nc: !Sub \"x-${AWS::Region}\"\nd: !If [Cond, 1, 2]\n",
    )
    .unwrap();
    assert_eq!(value["a"]["Fn::GetAtt"], serde_json::json!(["Fn", "Arn"]));
    assert_eq!(value["b"]["Ref"], "Thing");
    assert_eq!(value["c"]["Fn::Sub"], "x-${AWS::Region}");
    assert_eq!(value["d"]["Fn::If"][0], "Cond");
}

/// An external linter: its path, or `None` (with a notice) when it is not installed —
/// which fails the test in CI, where `.ci/run` installs it.
fn tool(name: &str, path: PathBuf) -> Option<PathBuf> {
    let found = Command::new(&path).arg("--version").output().is_ok();
    if found {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{name} is not installed; .ci/run must install it");
    }
    eprintln!("NOTICE: {name} is not installed here; skipping its check (it runs in CI)");
    None
}

fn fails(command: &mut Command) -> bool {
    let out = command.output().unwrap();
    !out.status.success()
}

#[test]
fn given_the_template_and_a_broken_copy_when_cfn_lint_runs_then_only_the_copy_fails() {
    let Some(cfn_lint) = tool("cfn-lint", PathBuf::from("cfn-lint")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("template.yaml");
    std::fs::write(
        &broken,
        template().replacen(
            "Type: AWS::DynamoDB::Table",
            "Type: AWS::DynamoDB::Tabel",
            1,
        ),
    )
    .unwrap();
    assert!(
        !fails(Command::new(&cfn_lint).arg(repo().join("infra/template.yaml"))),
        "cfn-lint refuses infra/template.yaml"
    );
    assert!(fails(Command::new(&cfn_lint).arg(&broken)));
}

#[test]
fn given_the_definition_and_a_broken_copy_when_asl_validators_run_then_only_the_copy_fails() {
    let mut broken: serde_json::Value = serde_json::from_str(&definition()).unwrap();
    broken["States"]["Deploy"]["Next"] = "Nowhere".into();
    let broken = serde_json::to_string_pretty(&broken).unwrap();
    // shipgate asl validate (the engine's validator)
    assert!(shipgate_asl::validate(&definition()).is_empty());
    assert!(!shipgate_asl::validate(&broken).is_empty());
    // asl-validator (npm ci)
    let Some(validator) = tool(
        "asl-validator",
        repo().join("node_modules/.bin/asl-validator"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statemachine.json");
    std::fs::write(&path, broken).unwrap();
    assert!(
        !fails(
            Command::new(&validator)
                .arg("--json-path")
                .arg(repo().join("statemachine.json"))
        ),
        "asl-validator refuses statemachine.json"
    );
    assert!(fails(
        Command::new(&validator).arg("--json-path").arg(&path)
    ));
}
