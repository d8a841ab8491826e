//! The critical paths (procedure §4: API health, jobs list, apply), each probed once and
//! judged against its expected status: the health-check gate's work, and the rollback's
//! proof that the restored version answers.

use serde::Serialize;

use crate::deps::Deps;

/// One critical path's answer.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub status: Option<u16>,
    pub millis: Option<u64>,
    pub ok: bool,
    pub detail: String,
}

/// Every configured critical path, probed once.
pub async fn probe_all(deps: &Deps) -> Vec<CheckResult> {
    let health = &deps.config.health;
    let mut checks = Vec::new();
    for check in &health.checks {
        let result = match deps.health.probe(&health.base_url, check).await {
            Ok(probe) => CheckResult {
                name: check.name.clone(),
                status: Some(probe.status),
                millis: Some(probe.millis),
                ok: probe.status == check.expect_status,
                detail: format!(
                    "{} {} answered {} (expected {}) in {} ms",
                    check.method, check.path, probe.status, check.expect_status, probe.millis
                ),
            },
            Err(err) => CheckResult {
                name: check.name.clone(),
                status: None,
                millis: None,
                ok: false,
                detail: err.to_string(),
            },
        };
        checks.push(result);
    }
    checks
}

/// What failed, in one line; `None` when every check passed.
pub fn failures(checks: &[CheckResult]) -> Option<String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}
