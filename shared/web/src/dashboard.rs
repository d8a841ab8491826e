//! `GET /`: every release, where it stands and what it waits for; `GET /releases/{id}`:
//! one release's timeline — every transition, who, when, why — and, for an approver viewing
//! it through their link, a Roll back action. The same as JSON under `/api/releases`. Task
//! tokens are never shown. Who may see them: [`crate::access`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;
use shipgate_core::config::Config;
use shipgate_core::gates::approve;
use shipgate_core::model::EventKind;
use shipgate_core::policy::approval;
use shipgate_core::ports::ReleaseFilter;
use shipgate_core::{Release, ReleaseId, ReleaseState};

use crate::Shared;
use crate::access::{Viewer, href};
use crate::html::{esc, path_segment, problem, respond_with_home, state_badge, time};
use crate::local::{Caller, TOKEN_FIELD};

/// What a release is waiting on, in words.
pub fn waiting_on(config: &Config, release: &Release) -> String {
    match release.state {
        ReleaseState::Pending => "the pipeline to ask for approval".into(),
        ReleaseState::AwaitingApproval => {
            let quorum = approval::quorum(config, release);
            let people: Vec<String> = approve::first_asked(config, release, &quorum.missing)
                .iter()
                .filter(|a| !release.approvals.iter().any(|d| d.approver == a.id))
                .map(|a| a.name.clone())
                .collect();
            let until = approve::deadline(config, release)
                .map(|d| format!(", until {}", time(d)))
                .unwrap_or_default();
            format!(
                "approval by {} (asked: {}){until}",
                quorum.missing.join(" + "),
                people.join(", ")
            )
        }
        ReleaseState::AwaitingWindow => release
            .events
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::Waiting)
            .map(|e| e.detail.clone())
            .unwrap_or_else(|| {
                format!(
                    "the deploy window ({}–{} UTC)",
                    config.window.start.format("%H:%M"),
                    config.window.end.format("%H:%M")
                )
            }),
        ReleaseState::Deploying => "the deployment to become stable".into(),
        ReleaseState::HealthChecking => "the critical-path health checks".into(),
        ReleaseState::Monitoring => format!(
            "the {}-minute monitoring period (alarms, error rate, latency)",
            config.monitor.duration_minutes
        ),
        ReleaseState::RollingBack => "the rollback to finish".into(),
        _ => "nothing (finished)".into(),
    }
}

/// A release as JSON, without its task tokens, with what it waits on.
pub fn view(config: &Config, release: &Release) -> Value {
    let mut value = serde_json::to_value(release).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("approval_token");
        object.remove("window_token");
        object.insert(
            "waiting_on".into(),
            Value::String(waiting_on(config, release)),
        );
    }
    value
}

/// The configured service's releases: one index query (a whole-table scan is neither
/// needed nor granted to the functions on AWS).
async fn all(state: &Shared) -> Result<Vec<Release>, Response> {
    let filter = ReleaseFilter {
        service: Some(state.deps.config.service.name.clone()),
        states: Vec::new(),
    };
    state.deps.store.list(&filter).await.map_err(|e| {
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again in a moment",
            &format!("The releases could not be read: {e}"),
        )
    })
}

async fn one(state: &Shared, id: &str) -> Result<Release, Response> {
    let not_found = || {
        problem(
            StatusCode::NOT_FOUND,
            "No such release",
            &format!("There is no release `{id}`."),
        )
    };
    let id: ReleaseId = id.parse().map_err(|_| not_found())?;
    match state.deps.store.get(&id).await {
        Ok(Some(release)) => Ok(release),
        Ok(None) => Err(not_found()),
        Err(e) => Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again in a moment",
            &format!("The release could not be read: {e}"),
        )),
    }
}

pub async fn index(
    State(state): State<Shared>,
    caller: Caller,
    viewer: Option<Extension<Viewer>>,
) -> Response {
    let viewer = viewer.map(|Extension(v)| v);
    let viewer = viewer.as_ref();
    let releases = match all(&state).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let config = &state.deps.config;
    let mut body = String::from("<h1>Releases</h1>");
    if releases.is_empty() {
        body.push_str("<div class=\"card\"><p class=\"muted\">No releases yet. A push to the release branch starts one.</p></div>");
    } else {
        body.push_str(
            "<table id=\"releases\"><thead><tr><th>Release</th><th>State</th><th>Version</th><th>Type</th>\
             <th>Service</th><th>Waiting on</th><th>Updated</th></tr></thead><tbody>",
        );
        for r in &releases {
            body.push_str(&format!(
                "<tr data-release=\"{id}\"><td><a href=\"{page}\">{id}</a></td><td>{badge}</td><td>v{version}</td>\
                 <td>{kind}</td><td>{service}</td><td>{waiting}</td><td class=\"muted\">{updated}</td></tr>",
                id = esc(r.id.as_str()),
                page = esc(&href(
                    viewer,
                    &format!("/releases/{}", path_segment(r.id.as_str()))
                )),
                badge = state_badge(r.state),
                version = r.semver,
                kind = r.release_type,
                service = esc(r.service.as_str()),
                waiting = esc(&waiting_on(config, r)),
                updated = time(r.updated_at),
            ));
        }
        body.push_str("</tbody></table>");
    }
    // The trip buttons carry the local token: only a caller on this machine sees them.
    let local = state.hooks.local.as_ref().filter(|_| caller.local);
    if let Some(local) = local
        && !config.monitor.alarms.is_empty()
    {
        body.push_str("<h2>Simulated alarms (local only)</h2><div class=\"card\"><p class=\"muted\">Trip an alarm to watch a live release roll back.</p>");
        for alarm in &config.monitor.alarms {
            body.push_str(&format!(
                "<form method=\"post\" action=\"/local/alarms/{name}\" style=\"display:inline-block;margin:.2rem\">\
                 <input type=\"hidden\" name=\"{TOKEN_FIELD}\" value=\"{token}\">\
                 <button type=\"submit\">Trip {text}</button></form>",
                name = esc(&path_segment(alarm)),
                token = esc(local.token.expose()),
                text = esc(alarm)
            ));
        }
        body.push_str("</div>");
    }
    if let Some(viewer) = viewer {
        body.push_str(&format!(
            "<p class=\"muted\" id=\"viewer\">Shown to {} through their own link, valid until {}.</p>",
            esc(&viewer.approver.name),
            time(viewer.expires_at)
        ));
    }
    body.push_str(&format!(
        "<p class=\"muted\">JSON: <a href=\"{}\">/api/releases</a></p>",
        esc(&href(viewer, "/api/releases"))
    ));
    let mut response = respond_with_home(StatusCode::OK, "Releases", &body, &href(viewer, "/"));
    response.headers_mut().insert(
        axum::http::header::REFRESH,
        axum::http::HeaderValue::from_static("15"),
    );
    response
}

pub async fn release(
    State(state): State<Shared>,
    Path(id): Path<String>,
    viewer: Option<Extension<Viewer>>,
) -> Response {
    let viewer = viewer.map(|Extension(v)| v);
    let viewer = viewer.as_ref();
    let release = match one(&state, &id).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let config = &state.deps.config;
    let r = &release;
    let opt = |v: &Option<String>| v.as_deref().map(esc).unwrap_or_else(|| "—".into());
    let mut body = format!(
        "<h1>v{version} of {service} {badge}</h1><div class=\"card\"><dl>\
         <dt>Release</dt><dd><code>{id}</code></dd><dt>Type</dt><dd>{kind}</dd>\
         <dt>Commit</dt><dd><code>{commit}</code></dd><dt>Author</dt><dd>{author}</dd>\
         <dt>Waiting on</dt><dd id=\"waiting\">{waiting}</dd><dt>Outcome</dt><dd id=\"outcome\">{outcome}</dd>\
         <dt>Image</dt><dd><code>{image}</code></dd>\
         <dt>Task definition before</dt><dd><code>{previous}</code></dd>\
         <dt>Task definition deployed</dt><dd><code>{new}</code></dd></dl></div>",
        version = r.semver,
        service = esc(r.service.as_str()),
        badge = state_badge(r.state),
        id = esc(r.id.as_str()),
        kind = r.release_type,
        commit = esc(&r.commit),
        author = esc(&r.author),
        waiting = esc(&waiting_on(config, r)),
        outcome = opt(&r.outcome),
        image = esc(&r.image),
        previous = opt(&r.previous_task_definition),
        new = opt(&r.new_task_definition),
    );
    body.push_str("<h2>Timeline</h2><table id=\"timeline\"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Why</th></tr></thead><tbody>");
    for e in &r.events {
        let what = match (e.from, e.to) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (None, Some(to)) => format!("→ {to}"),
            _ => e.kind.to_string(),
        };
        body.push_str(&format!(
            "<tr data-kind=\"{kind}\"><td class=\"muted\">{at}</td><td>{actor}</td><td>{what}</td><td>{detail}</td></tr>",
            kind = esc(e.kind.as_str()),
            at = e.at.format("%Y-%m-%d %H:%M:%S UTC"),
            actor = esc(&e.actor),
            what = esc(&what),
            detail = esc(&e.detail),
        ));
    }
    body.push_str("</tbody></table>");
    if let Some(action) = viewer.and_then(|v| rollback_action(&state, r, v)) {
        body.push_str(&action);
    }
    body.push_str(&format!(
        "<p class=\"muted\">JSON: <a href=\"{href}\">/api/releases/{id}</a></p>",
        href = esc(&href(
            viewer,
            &format!("/api/releases/{}", path_segment(r.id.as_str()))
        )),
        id = esc(r.id.as_str())
    ));
    respond_with_home(
        StatusCode::OK,
        &format!("v{} of {}", r.semver, r.service),
        &body,
        &href(viewer, "/"),
    )
}

/// The Roll back action of a release an approver may roll back: their own rollback link
/// (the confirmation page asks for a reason; nothing happens before it is sent).
fn rollback_action(state: &Shared, release: &Release, viewer: &Viewer) -> Option<String> {
    if !shipgate_core::releases::rollback_possible(release).unwrap_or(false) {
        return None;
    }
    let link = shipgate_core::links::link(
        &state.deps.config,
        shipgate_core::links::Grant::RollBack(release.id.clone()),
        &viewer.approver.id,
        viewer.expires_at,
    )?;
    // Relative, so it works behind any host name.
    let path = link
        .find("/rollbacks/")
        .map_or(link.as_str(), |at| &link[at..]);
    Some(format!(
        "<h2>Roll back</h2><div class=\"card notice\"><p>Something wrong with this release? \
         Roll the service back to the task definition it replaced.</p>\
         <p><a id=\"rollback\" href=\"{}\">Roll back v{}…</a> \
         <span class=\"muted\">(asks for a reason first)</span></p></div>",
        esc(path),
        release.semver
    ))
}

pub async fn api_list(State(state): State<Shared>) -> Response {
    match all(&state).await {
        Ok(releases) => {
            let config = &state.deps.config;
            Json(Value::Array(
                releases.iter().map(|r| view(config, r)).collect(),
            ))
            .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": "the releases could not be read"})),
        )
            .into_response(),
    }
}

pub async fn api_release(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(parsed) = id.parse::<ReleaseId>() else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": format!("no release `{id}`")})),
        )
            .into_response();
    };
    match state.deps.store.get(&parsed).await {
        Ok(Some(release)) => Json(view(&state.deps.config, &release)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": format!("no release `{id}`")})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}
