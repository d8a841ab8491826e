//! GitHub's `check_suite`, `check_run` and `status` webhooks (already verified by
//! [`crate::github::webhook`]): GitHub reported on a commit, so a release of it waiting for
//! its evidence reads the evidence again at once instead of at its next recheck.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use crate::Shared;
use crate::github::{accepted, answer};

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct HeadSha {
    head_sha: String,
}

/// The fields the three events share, as GitHub documents them: `sha` for a status,
/// `check_suite.head_sha` or `check_run.head_sha` for the checks.
#[derive(Debug, Deserialize)]
struct Reported {
    repository: Repository,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    check_suite: Option<HeadSha>,
    #[serde(default)]
    check_run: Option<HeadSha>,
}

/// Wakes the evidence waits of the commit `event` reports on.
pub async fn reported(state: &Shared, event: &str, body: &[u8]) -> Response {
    let reported: Reported = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(err) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": format!("malformed {event} payload: {err}") }),
            );
        }
    };
    let repository = &state.deps.config.service.repository;
    if !reported
        .repository
        .full_name
        .eq_ignore_ascii_case(repository)
    {
        return accepted(format!(
            "{event} on {}; this shipgate releases {repository}",
            reported.repository.full_name
        ));
    }
    let sha = match event {
        "status" => reported.sha,
        "check_suite" => reported.check_suite.map(|c| c.head_sha),
        _ => reported.check_run.map(|c| c.head_sha),
    };
    let sha = match sha.as_deref().map(shipgate_core::model::full_commit) {
        Some(Ok(sha)) => sha,
        Some(Err(err)) => {
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": err.to_string() }),
            );
        }
        None => {
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": format!("the {event} payload names no commit") }),
            );
        }
    };
    match shipgate_core::evidence::wake(&state.deps, &sha).await {
        Ok(woken) if woken.is_empty() => {
            accepted(format!("no release of {sha} waits for its evidence"))
        }
        Ok(woken) => {
            info!(?woken, event, "evidence waits woken");
            (state.hooks.after_change)();
            answer(
                StatusCode::ACCEPTED,
                json!({ "status": "rechecking", "release_ids": woken }),
            )
        }
        Err(err) => {
            warn!(error = %err, "could not wake the evidence waits");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": err.to_string() }),
            )
        }
    }
}
