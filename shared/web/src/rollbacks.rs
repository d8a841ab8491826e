//! `GET|HEAD /rollbacks/{link}`: an approver's manual rollback of one release — a
//! confirmation page that says what will happen and asks for a reason; it changes nothing.
//! `POST /rollbacks/{link}` (with the reason) asks for the rollback: it is written to the
//! release's timeline and handed to the rollback path an alarm takes
//! ([`crate::WebState::rollbacks`]). Asking again while it runs, or once it is done, asks
//! nothing more. The production alarms are never touched.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use shipgate_core::GateError;
use shipgate_core::links::{Grant, LinkError};
use shipgate_core::messages::family_revision;
use shipgate_core::model::{Release, ReleaseState};
use shipgate_core::ports::{Handed, RollbackRequest};
use shipgate_core::releases::{self, RollbackAsked};
use tracing::{info, warn};

use crate::Shared;
use crate::access::personal_href;
use crate::approvals::{Opened, open_link};
use crate::html::{asking, path_segment, problem, respond_with_home, state_badge};

/// Where the rollback was asked from, in the release's timeline.
pub const VIA_LINK: &str = "their rollback link";

async fn open(state: &Shared, token: &str) -> Result<Opened, Response> {
    open_link(state, token, |grant| match grant {
        Grant::RollBack(id) => Ok(id),
        other => Err(LinkError::WrongUse {
            expected: "a rollback link",
            actual: other.describe(),
        }),
    })
    .await
}

fn page_of(state: &Shared, opened: &Opened) -> String {
    personal_href(
        state,
        &opened.approver.id,
        &format!("/releases/{}", path_segment(opened.release.id.as_str())),
        opened.expires_at,
    )
}

fn home_of(state: &Shared, opened: &Opened) -> String {
    personal_href(state, &opened.approver.id, "/", opened.expires_at)
}

/// What rolling `release` back does, in words.
fn what_happens(state: &Shared, release: &Release) -> Markup {
    let config = &state.deps.config;
    let revision = |v: &Option<String>| v.as_deref().map_or("—", family_revision).to_string();
    let migration_ran = release
        .migration
        .as_ref()
        .is_some_and(|m| m.exit_code == 0 && !m.reversed);
    let reverse = config.service.migration.as_ref().filter(|_| migration_ran);
    html! {
        div class="card" {
            dl {
                dt { "Release" }
                dd { code { (release.id.as_str()) } " " (state_badge(release.state)) }
                dt { "Deployed" }
                dd { code { (revision(&release.new_task_definition)) } }
                dt { "Goes back to" }
                dd id="restores" { code { (revision(&release.previous_task_definition)) } }
                @if let Some(m) = reverse {
                    dt { "Database" }
                    dd { "the reverse migration " code { (m.reverse_command.join(" ")) } " runs" }
                }
            }
        }
    }
}

fn confirmation(state: &Shared, opened: &Opened, error: Option<&str>) -> Markup {
    let release = &opened.release;
    html! {
        (asking(
            html! { "Roll back v" (release.semver) " of " (release.service.as_str()) "?" },
            &opened.approver.name,
            "the rollback starts only when you send the form below.",
            error,
        ))
        (what_happens(state, release))
        form method="post" class="card" {
            label for="reason" { "Why roll back? (required, announced with the rollback)" }
            textarea id="reason" name="reason" required {}
            p { button type="submit" class="reject" id="rollback" { "Roll back now" } }
        }
        p class="muted" { a href=(page_of(state, opened)) { "The release's page" } }
    }
}

/// The page of a release that is already rolling back or rolled back.
fn already(state: &Shared, opened: &Opened) -> Response {
    let release = &opened.release;
    let doing = if release.state == ReleaseState::RollingBack {
        "is being rolled back now"
    } else {
        "has been rolled back"
    };
    respond_with_home(
        StatusCode::OK,
        "Already rolled back",
        html! {
            h1 { "v" (release.semver) " " (doing) }
            div class="card done" id="result" {
                p { (release.outcome.as_deref().unwrap_or("")) }
                p {
                    "Nothing more was asked. "
                    a href=(page_of(state, opened)) { "Follow it on the release's page." }
                }
            }
        },
        &home_of(state, opened),
    )
}

/// The page of a rollback just asked for: `title`, then what happens now (`text`).
fn asked_page(state: &Shared, opened: &Opened, title: &str, text: &str) -> Markup {
    html! {
        h1 { (title) }
        div class="card done" id="result" {
            p { (text) }
            p { a href=(page_of(state, opened)) { "Follow it on the release's page." } }
        }
    }
}

/// `GET|HEAD /rollbacks/{link}`: shows, changes nothing.
pub async fn show(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    let opened = match open(&state, &token).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    match releases::rollback_possible(&opened.release) {
        Ok(true) => respond_with_home(
            StatusCode::OK,
            &format!("Roll back v{}", opened.release.semver),
            confirmation(&state, &opened, None),
            &home_of(&state, &opened),
        ),
        Ok(false) => already(&state, &opened),
        Err(err) => problem(
            StatusCode::CONFLICT,
            "This release cannot be rolled back",
            &err.to_string(),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct Form {
    #[serde(default)]
    reason: String,
}

/// `POST /rollbacks/{link}`: asks for the rollback.
pub async fn roll_back(
    State(state): State<Shared>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let opened = match open(&state, &token).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let reason = serde_urlencoded::from_bytes::<Form>(&body)
        .map(|f| f.reason.trim().to_string())
        .unwrap_or_default();
    if reason.is_empty() && releases::rollback_possible(&opened.release).unwrap_or(false) {
        return respond_with_home(
            StatusCode::UNPROCESSABLE_ENTITY,
            "A reason is needed",
            confirmation(
                &state,
                &opened,
                Some("A rollback needs a reason: it is announced, and the team needs to know why."),
            ),
            &home_of(&state, &opened),
        );
    }
    let request = RollbackRequest {
        release_id: opened.release.id.clone(),
        actor: opened.approver.id.clone(),
        reason,
        via: VIA_LINK.into(),
    };
    match releases::request_rollback(&state.deps, state.rollbacks.as_ref(), request).await {
        Ok(RollbackAsked {
            release,
            handed: None,
        }) => already(&state, &Opened { release, ..opened }),
        Ok(RollbackAsked {
            release,
            handed: Some(handed),
        }) => {
            info!(release_id = %release.id, approver = %opened.approver.id, ?handed, "manual rollback asked from a link");
            (state.hooks.after_change)();
            let opened = Opened { release, ..opened };
            let (status, title, text) = match &handed {
                Handed::Done => (
                    StatusCode::OK,
                    "Service pointed back",
                    format!(
                        "The release is {} now ({}). It is recorded rolled back, and announced, once the restored version is seen stable and healthy.",
                        opened.release.state,
                        opened.release.outcome.as_deref().unwrap_or("")
                    ),
                ),
                Handed::Queued => (
                    StatusCode::ACCEPTED,
                    "Rollback started",
                    "The rollback has started; it is announced once the restored version is seen stable and healthy.".to_string(),
                ),
                Handed::Refused(why) => {
                    return problem(StatusCode::CONFLICT, "Nothing was rolled back", why);
                }
            };
            respond_with_home(
                status,
                title,
                asked_page(&state, &opened, title, &text),
                &home_of(&state, &opened),
            )
        }
        Err(err @ (GateError::InvalidState { .. } | GateError::InvalidInput(_))) => problem(
            StatusCode::CONFLICT,
            "Nothing was rolled back",
            &err.to_string(),
        ),
        Err(err) => {
            warn!(error = %err, "a manual rollback could not be asked for");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                &format!("shipgate could not start the rollback: {}", err.describe()),
            )
        }
    }
}
