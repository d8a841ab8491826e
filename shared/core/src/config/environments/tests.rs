use super::*;
use crate::config::tests::EXAMPLE;
use crate::semver::Version;

/// The example configuration with its commented staging section turned on.
pub(crate) fn with_staging() -> Config {
    let text = EXAMPLE
        .lines()
        .map(|line| {
            let uncommented = line.strip_prefix("# ").unwrap_or(line);
            let staging_line = uncommented.starts_with("[[approvers]]")
                || uncommented.starts_with("[environments.")
                || [
                    "id = \"quinn\"",
                    "name = \"Quinn",
                    "email = \"qa@",
                    "slack_user = \"U0QA",
                    "roles = [\"QA\"]",
                    "branch = ",
                    "cluster = \"roleferry-staging",
                    "service = \"api-staging",
                    "task_family = \"roleferry-api-staging",
                    "health_base_url",
                    "alarms = [\"roleferry-api-staging",
                    "approval_roles",
                    "test_cases",
                    "monitor_minutes",
                ]
                .iter()
                .any(|start| uncommented.starts_with(start));
            if line.starts_with("# ") && staging_line {
                uncommented
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Config::from_toml_str(&text).unwrap()
}

#[test]
fn given_the_commented_staging_section_when_uncommented_then_it_is_read_as_written() {
    let config = with_staging();
    let staging = &config.environments["staging"];
    assert_eq!(staging.branch, "develop");
    assert_eq!(staging.service.as_str(), "api-staging");
    assert_eq!(staging.approval_roles, ["QA"]);
    assert_eq!(staging.test_cases.len(), 4);
    assert!(staging.window.is_none());
    assert!(staging.required_for_production);
    assert!(config.approver("quinn").is_some());
    assert_eq!(config.environment_for_branch("develop"), Some("staging"));
    assert_eq!(config.environment_for_branch("main"), None);
    assert_eq!(
        config.required_before_production().collect::<Vec<_>>(),
        ["staging"]
    );
    let services: Vec<String> = config.services().iter().map(|s| s.to_string()).collect();
    assert_eq!(services, ["api", "api-staging"]);
}

#[test]
fn given_staging_when_laid_over_production_then_its_service_approvers_and_window_replace_production_s()
 {
    let production = with_staging();
    let staging = production.for_environment("staging").unwrap();
    assert_eq!(staging.environment.as_deref(), Some("staging"));
    assert_eq!(staging.service.name.as_str(), "api-staging");
    assert_eq!(staging.service.cluster, "roleferry-staging");
    assert_eq!(staging.service.task_family, "roleferry-api-staging");
    // The same image and migration: staging runs what production will.
    assert_eq!(staging.service.image, production.service.image);
    assert_eq!(staging.service.migration, production.service.migration);
    assert_eq!(staging.health.base_url, "https://staging.api.roleferry.com");
    assert_eq!(staging.health.checks, production.health.checks);
    assert_eq!(staging.monitor.alarms, ["roleferry-api-staging-5xx-rate"]);
    assert_eq!(staging.monitor.duration_minutes, 0);
    for kind in [ReleaseType::Hotfix, ReleaseType::Minor, ReleaseType::Major] {
        assert_eq!(staging.approvals.required[&kind], ["QA"]);
    }
    assert_eq!(staging.approvals.checklist[1], "Apply to a job");
    assert_eq!(staging.web.branch, "develop");
    assert!(staging.github.is_none());
    assert!(!staging.notifications.pagerduty);
    assert!(staging.notifications.users.is_none());
    assert!(!staging.window_applies());
    assert!(production.window_applies());
    assert!(staging.stage().is_some() && production.stage().is_none());
    assert!(production.for_environment("qa").is_none());
}

#[test]
fn given_release_ids_when_placed_then_the_staging_service_prefix_names_the_environment() {
    let config = with_staging();
    let version = Version::new(1, 2, 3);
    let commit = "a".repeat(40);
    let staged = ReleaseId::for_commit(&"api-staging".parse().unwrap(), &version, &commit);
    let shipped = ReleaseId::for_commit(&config.service.name, &version, &commit);
    assert_eq!(config.environment_of(&staged), Some("staging"));
    assert_eq!(config.environment_of(&shipped), None);
    let overlaid = config.for_release(&staged).unwrap();
    assert_eq!(overlaid.service.name.as_str(), "api-staging");
    assert!(config.for_release(&shipped).is_none());
    // Laid over once only.
    assert!(overlaid.for_release(&staged).is_none());
}

#[test]
fn given_bad_environments_when_validated_then_every_problem_names_its_field() {
    let mut config = with_staging();
    let mut bad = config.environments["staging"].clone();
    bad.branch = "main".into();
    bad.service = "api".parse().unwrap();
    bad.health_base_url = "ftp://staging".into();
    bad.approval_roles = vec!["Janitor".into()];
    bad.monitor_minutes = 100_000;
    config.environments.insert("staging".into(), bad);
    let problems = config.problems();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "environments.staging.branch",
            "environments.staging.service",
            "environments.staging.health_base_url",
            "environments.staging.approval_roles[0]",
            "environments.staging.monitor_minutes",
        ],
        "{problems}"
    );
    let text = format!(
        "{EXAMPLE}\n[environments.staging]\ncluster = \"c\"\nservice = \"api-staging\"\nhealth_base_url = \"https://s\"\nbranche = \"develop\"\n"
    );
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("branche"), "{err}");
}

#[test]
fn given_a_production_environment_or_a_shared_branch_when_validated_then_it_is_refused() {
    let mut config = with_staging();
    let staging = config.environments["staging"].clone();
    let mut qa = staging.clone();
    qa.service = "api-qa".parse().unwrap();
    config.environments.insert("production".into(), staging);
    config.environments.insert("qa".into(), qa);
    let problems = config.problems();
    assert!(problems.names("environments.production"), "{problems}");
    assert!(problems.names("environments.qa.branch"), "{problems}");
    assert!(problems.names("environments.staging.service"), "{problems}");
}
