//! The health-check gate: every configured critical path (procedure §4: API health, jobs
//! list, apply) must answer with its expected status. Retries live in `statemachine.json`.

use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, failures, probe_all};
use crate::deps::Deps;
use crate::error::{GateError, rolled_back_elsewhere, wrong_state};
use crate::model::EventKind;
use crate::model::{ReleaseId, ReleaseState};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub release_id: ReleaseId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub healthy: bool,
    pub checks: Vec<CheckResult>,
}

#[tracing::instrument(skip(deps), fields(release_id = %input.release_id))]
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, GateError> {
    // A release to an environment before production runs with its configuration.
    let laid = deps.for_release(&input.release_id);
    let deps = laid.as_ref();
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
        release.note(now, "health-check", EventKind::Unhealthy, detail.clone());
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
