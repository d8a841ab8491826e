//! `GET /`: every release, where it stands and what it waits for; `GET /releases/{id}`:
//! one release's timeline — every transition, who, when, why — and, for an approver viewing
//! it through their link, a Roll back action. The same as JSON under `/api/releases`. Task
//! tokens are never shown. Who may see them: [`crate::access`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use maud::{Markup, html};
use serde_json::Value;
use shipgate_core::config::Config;
use shipgate_core::gates::approve;
use shipgate_core::model::{AuditEvent, EventKind};
use shipgate_core::policy::approval;
use shipgate_core::ports::ReleaseFilter;
use shipgate_core::{Release, ReleaseId, ReleaseState};

use crate::Shared;
use crate::access::{Viewer, href};
use crate::html::{path_segment, problem, respond_with_home, state_badge, time};
use crate::local::{Caller, LocalToken, TOKEN_FIELD};

/// What a release is waiting on, in words.
pub fn waiting_on(config: &Config, release: &Release) -> String {
    match release.state {
        ReleaseState::Pending => shipgate_core::evidence::waiting(release)
            .unwrap_or_else(|| "the pipeline to ask for approval".into()),
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
        object.remove("evidence_token");
        object.insert(
            "waiting_on".into(),
            Value::String(waiting_on(config, release)),
        );
    }
    value
}

/// The releases of the configured service and of its environments before production (staging),
/// newest first: one index query each (a whole-table scan is neither needed nor granted to
/// the functions on AWS).
async fn all(state: &Shared) -> Result<Vec<Release>, Response> {
    let mut all = Vec::new();
    for service in state.deps.config.services() {
        let filter = ReleaseFilter {
            service: Some(service),
            states: Vec::new(),
        };
        all.extend(state.deps.store.list(&filter).await.map_err(|e| {
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                &format!("The releases could not be read: {e}"),
            )
        })?);
    }
    all.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    Ok(all)
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

/// The releases, newest first as the store lists them, each linking to its page.
fn release_table(config: &Config, viewer: Option<&Viewer>, releases: &[Release]) -> Markup {
    html! {
        table id="releases" {
            thead {
                tr {
                    th { "Release" } th { "State" } th { "Version" } th { "Type" }
                    th { "Service" } th { "Waiting on" } th { "Updated" }
                }
            }
            tbody {
                @for r in releases {
                    tr data-release=(r.id.as_str()) {
                        td { a href=(href(viewer, &release_path(r))) { (r.id.as_str()) } }
                        td { (state_badge(r.state)) }
                        td { "v" (r.semver) }
                        td { (r.release_type) }
                        td { (r.service.as_str()) }
                        td { (waiting_on(config, r)) }
                        td class="muted" { (time(r.updated_at)) }
                    }
                }
            }
        }
    }
}

/// `/releases/{id}`, the id as one path segment.
fn release_path(release: &Release) -> String {
    format!("/releases/{}", path_segment(release.id.as_str()))
}

/// One Trip button per simulated alarm; each form carries the local token.
fn alarm_forms(alarms: &[String], token: &LocalToken) -> Markup {
    html! {
        h2 { "Simulated alarms (local only)" }
        div class="card" {
            p class="muted" { "Trip an alarm to watch a live release roll back." }
            @for alarm in alarms {
                form method="post" action={ "/local/alarms/" (path_segment(alarm)) }
                    style="display:inline-block;margin:.2rem" {
                    input type="hidden" name=(TOKEN_FIELD) value=(token.expose());
                    button type="submit" { "Trip " (alarm) }
                }
            }
        }
    }
}

/// A link to the JSON of a page (at `path`, shown as `text`), keeping the viewer's access.
fn json_link(viewer: Option<&Viewer>, path: &str, text: &str) -> Markup {
    html! {
        p class="muted" { "JSON: " a href=(href(viewer, path)) { (text) } }
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
    // The trip buttons carry the local token: only a caller on this machine sees them.
    let local = state.hooks.local.as_ref().filter(|_| caller.local);
    let alarms = &config.monitor.alarms;
    let body = html! {
        h1 { "Releases" }
        @if releases.is_empty() {
            div class="card" {
                p class="muted" { "No releases yet. A push to the release branch starts one." }
            }
        } @else {
            (release_table(config, viewer, &releases))
        }
        @if let Some(local) = local.filter(|_| !alarms.is_empty()) {
            (alarm_forms(alarms, &local.token))
        }
        @if let Some(viewer) = viewer {
            p class="muted" id="viewer" {
                "Shown to " (viewer.approver.name) " through their own link, valid until "
                (time(viewer.expires_at)) "."
            }
        }
        (json_link(viewer, "/api/releases", "/api/releases"))
    };
    let mut response = respond_with_home(StatusCode::OK, "Releases", body, &href(viewer, "/"));
    response.headers_mut().insert(
        axum::http::header::REFRESH,
        axum::http::HeaderValue::from_static("15"),
    );
    response
}

/// What a release is and did: its facts, for the top of its page.
fn release_facts(config: &Config, r: &Release) -> Markup {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    html! {
        h1 { "v" (r.semver) " of " (r.service.as_str()) " " (state_badge(r.state)) }
        div class="card" {
            dl {
                dt { "Release" } dd { code { (r.id.as_str()) } }
                dt { "Type" } dd { (r.release_type) }
                dt { "Commit" } dd { code { (r.commit) } }
                dt { "Author" } dd { (r.author) }
                dt { "Waiting on" } dd id="waiting" { (waiting_on(config, r)) }
                dt { "Outcome" } dd id="outcome" { (or_dash(&r.outcome)) }
                dt { "Image" } dd { code { (r.image) } }
                dt { "Task definition before" }
                dd { code { (or_dash(&r.previous_task_definition)) } }
                dt { "Task definition deployed" }
                dd { code { (or_dash(&r.new_task_definition)) } }
            }
        }
    }
}

/// Every transition and step of a release: when, who, what, why.
fn timeline(events: &[AuditEvent]) -> Markup {
    html! {
        h2 { "Timeline" }
        table id="timeline" {
            thead { tr { th { "When" } th { "Who" } th { "What" } th { "Why" } } }
            tbody {
                @for e in events {
                    tr data-kind=(e.kind.as_str()) {
                        td class="muted" { (e.at.format("%Y-%m-%d %H:%M:%S UTC")) }
                        td { (e.actor) }
                        td { (what_happened(e)) }
                        td { (e.detail) }
                    }
                }
            }
        }
    }
}

/// An event in a word or two: the transition it made, or its kind.
fn what_happened(e: &AuditEvent) -> String {
    match (e.from, e.to) {
        (Some(from), Some(to)) => format!("{from} → {to}"),
        (None, Some(to)) => format!("→ {to}"),
        _ => e.kind.to_string(),
    }
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
    let r = &release;
    let action = viewer.and_then(|v| rollback_action(&state, r, v));
    let body = html! {
        (release_facts(&state.deps.config, r))
        @if let Some(evidence) = &r.evidence {
            (crate::html::evidence_card(evidence))
        }
        (timeline(&r.events))
        @if let Some(action) = action { (action) }
        (json_link(
            viewer,
            &format!("/api/releases/{}", path_segment(r.id.as_str())),
            &format!("/api/releases/{}", r.id),
        ))
    };
    respond_with_home(
        StatusCode::OK,
        &format!("v{} of {}", r.semver, r.service),
        body,
        &href(viewer, "/"),
    )
}

/// The Roll back action of a release an approver may roll back: their own rollback link
/// (the confirmation page asks for a reason; nothing happens before it is sent).
fn rollback_action(state: &Shared, release: &Release, viewer: &Viewer) -> Option<Markup> {
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
    Some(html! {
        h2 { "Roll back" }
        div class="card notice" {
            p {
                "Something wrong with this release? "
                "Roll the service back to the task definition it replaced."
            }
            p {
                a id="rollback" href=(path) { "Roll back v" (release.semver) "…" }
                " "
                span class="muted" { "(asks for a reason first)" }
            }
        }
    })
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
