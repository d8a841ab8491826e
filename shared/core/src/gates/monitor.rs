//! The monitor gate, called by the flow every interval for the monitoring hour: any
//! configured alarm in ALARM, or error rate or p99 latency over its threshold, fails it
//! (and the flow rolls back). Once the hour has passed cleanly the release has succeeded.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::{GateError, rolled_back_elsewhere, wrong_state};
use crate::lane;
use crate::model::{ReleaseId, ReleaseState};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub release_id: ReleaseId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub done: bool,
    pub minutes_left: i64,
    pub error_rate: Option<f64>,
    pub p99_latency_ms: Option<f64>,
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
    // Staging's watch ends with its approvers asked.
    let ended = deps.config.stage().is_some() && release.state == ReleaseState::AwaitingApproval;
    if release.state == ReleaseState::Succeeded || ended {
        return Ok(Output {
            done: true,
            minutes_left: 0,
            error_rate: None,
            p99_latency_ms: None,
        });
    }
    if release.state != ReleaseState::Monitoring {
        return Err(wrong_state(
            &release,
            "monitoring follows the health checks",
        ));
    }
    let now = deps.now();
    let monitor = &deps.config.monitor;
    let started = release
        .events
        .iter()
        .rev()
        .find(|e| e.to == Some(ReleaseState::Monitoring))
        .map(|e| e.at)
        .unwrap_or(now);

    // Keep the service's lane while watching.
    lane::renew(deps, &mut release).await?;

    let fired: Vec<String> = deps
        .alarms
        .states(&monitor.alarms)
        .await?
        .into_iter()
        .filter(|a| a.in_alarm)
        .map(|a| format!("{} in ALARM ({})", a.name, a.reason))
        .collect();
    if !fired.is_empty() {
        return Err(GateError::AlarmFired(fired.join("; ")));
    }
    let sample = deps.alarms.metrics(&release.service, started, now).await?;
    if let Some(rate) = sample.error_rate.filter(|r| *r > monitor.max_error_rate) {
        return Err(GateError::ThresholdBreached(format!(
            "error rate {:.2}% over the {:.2}% threshold",
            rate * 100.0,
            monitor.max_error_rate * 100.0
        )));
    }
    if let Some(p99) = sample
        .p99_latency_ms
        .filter(|l| *l > monitor.max_p99_latency_ms)
    {
        return Err(GateError::ThresholdBreached(format!(
            "p99 latency {p99:.0} ms over the {:.0} ms threshold",
            monitor.max_p99_latency_ms
        )));
    }
    let ends = started + Duration::minutes(i64::from(monitor.duration_minutes));
    if now < ends {
        return Ok(Output {
            done: false,
            minutes_left: (ends - now).num_minutes(),
            error_rate: sample.error_rate,
            p99_latency_ms: sample.p99_latency_ms,
        });
    }
    let detail = format!(
        "monitored {} min: no alarm; error rate {}, p99 {}",
        monitor.duration_minutes,
        sample
            .error_rate
            .map_or("n/a".into(), |r| format!("{:.2}%", r * 100.0)),
        sample
            .p99_latency_ms
            .map_or("n/a".into(), |l| format!("{l:.0} ms")),
    );
    if let Some(env) = deps.config.environment.as_deref() {
        // Staging: its approvers test it now.
        let watched = if monitor.duration_minutes == 0 {
            String::new()
        } else {
            format!("; {detail}")
        };
        release.transition(
            ReleaseState::AwaitingApproval,
            "monitor",
            format!("smoke tests passed on {env}{watched}; its approvers are asked"),
            now,
        )?;
    } else {
        release.outcome = Some(detail.clone());
        release.transition(ReleaseState::Succeeded, "monitor", detail, now)?;
    }
    deps.save(&release).await?;
    Ok(Output {
        done: true,
        minutes_left: 0,
        error_rate: sample.error_rate,
        p99_latency_ms: sample.p99_latency_ms,
    })
}
