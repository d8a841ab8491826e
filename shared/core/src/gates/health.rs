//! The health-check gate: every configured critical path (procedure §4: API health, jobs
//! list, apply) must answer with its expected status. Retries live in `statemachine.json`.

use serde::{Deserialize, Serialize};

use crate::error::GateError;
use crate::gates::{Deps, rolled_back_elsewhere, wrong_state};
use crate::model::{ReleaseId, ReleaseState};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub release_id: ReleaseId,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub status: Option<u16>,
    pub millis: Option<u64>,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub healthy: bool,
    pub checks: Vec<CheckResult>,
}

#[tracing::instrument(skip(deps), fields(release_id = %input.release_id))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    let mut release = deps.load(&input.release_id).await?;
    if let Some(err) = rolled_back_elsewhere(&release) {
        return Err(err);
    }
    match release.state {
        ReleaseState::HealthChecking => {}
        ReleaseState::Monitoring => {
            return Ok(Output {
                healthy: true,
                checks: vec![],
            });
        }
        _ => {
            return Err(wrong_state(
                &release,
                "health checks run once the deployment is stable",
            ));
        }
    }
    let checks = probe_all(deps).await;
    let now = deps.now();
    if let Some(detail) = failures(&checks) {
        release.note(now, "health-check", "unhealthy", detail.clone());
        deps.save(&release).await?;
        return Err(GateError::HealthCheckFailed(detail));
    }
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    release.transition(
        ReleaseState::Monitoring,
        "health-check",
        format!("critical paths healthy: {}", names.join(", ")),
        now,
    )?;
    deps.save(&release).await?;
    Ok(Output {
        healthy: true,
        checks,
    })
}

/// Every configured critical path, probed once.
pub(crate) async fn probe_all(deps: &Deps) -> Vec<CheckResult> {
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
pub(crate) fn failures(checks: &[CheckResult]) -> Option<String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}
