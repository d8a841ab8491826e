//! The critical paths (procedure §4: API health, jobs list, apply), each probed once and
//! judged against its expected status: the health-check gate's work, and the rollback's
//! proof that the restored version answers.

#![warn(missing_docs)]

use serde::Serialize;

use crate::deps::Deps;

/// One critical path's answer.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The check's configured name.
    pub name: String,
    /// The HTTP status it answered with; `None` when it did not answer.
    pub status: Option<u16>,
    /// How long the answer took, in milliseconds; `None` when it did not answer.
    pub millis: Option<u64>,
    /// Whether it answered with its expected status.
    pub ok: bool,
    /// What happened, in one line: the request, the status against the expected one and the
    /// time, or why there was no answer.
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
