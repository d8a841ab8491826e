//! `GET|HEAD /approvals/{link}`: the confirmation page of one approver's link — it changes
//! nothing, so a mail scanner prefetching the link approves nothing. `POST` records the
//! decision (idempotent: the same decision again shows where things stand). A link that
//! expired, was used, was altered or is foreign gets a 4xx page saying which.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use shipgate_core::GateError;
use shipgate_core::config::Approver;
use shipgate_core::gates::approve;
use shipgate_core::links::{Grant, LinkError, LinkSigner};
use shipgate_core::model::{Decision, Release, ReleaseId, ReleaseState};
use shipgate_core::policy::approval;
use shipgate_core::releases;
use tracing::{info, warn};

use crate::Shared;
use crate::access::personal_href;
use crate::dashboard::waiting_on;
use crate::html::{asking, path_segment, problem, respond_with_home, state_badge, time};

/// A personal link that checked out: the release and the approver it is for, and until
/// when it holds.
pub(crate) struct Opened {
    pub release: Release,
    pub approver: Approver,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Checks a personal link for one release: its signature and expiry, that it is for this
/// use (`release_of` gives the release of the grant it expects), that the release exists
/// and that its person is still an approver. Otherwise, the page saying which.
pub(crate) async fn open_link(
    state: &Shared,
    token: &str,
    release_of: impl Fn(Grant) -> Result<ReleaseId, LinkError>,
) -> Result<Opened, Response> {
    let config = &state.deps.config;
    let Some(signer) = LinkSigner::from_config(config) else {
        return Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Links are not set up",
            "This shipgate has no link key configured, so it cannot check its links.",
        ));
    };
    let claims = match signer.verify_claims(token, state.deps.now()) {
        Ok(claims) => claims,
        Err(err) => return Err(refused_link(&err)),
    };
    let release_id = release_of(claims.grant).map_err(|err| refused_link(&err))?;
    let release = match state.deps.store.get(&release_id).await {
        Ok(Some(release)) => release,
        Ok(None) => {
            return Err(problem(
                StatusCode::NOT_FOUND,
                "This link is not from this shipgate",
                &format!(
                    "The link is for release {release_id}, which this shipgate does not know: it is a link from another installation."
                ),
            ));
        }
        Err(err) => {
            return Err(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                &format!("The release could not be read: {err}"),
            ));
        }
    };
    let Some(approver) = config.approver(&claims.person).cloned() else {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "This link is not for a current approver",
            &format!(
                "The link was made for `{}`, who is no longer an approver here.",
                claims.person
            ),
        ));
    };
    Ok(Opened {
        release,
        approver,
        expires_at: claims.expires_at,
    })
}

async fn open(state: &Shared, token: &str) -> Result<Opened, Response> {
    open_link(state, token, |grant| match grant {
        Grant::Decide(id) => Ok(id),
        other => Err(LinkError::WrongUse {
            expected: "an approval link",
            actual: other.describe(),
        }),
    })
    .await
}

/// A page for `approver`: its header links to the dashboard with their own access.
fn respond_to(
    state: &Shared,
    approver: &Approver,
    status: StatusCode,
    title: &str,
    body: Markup,
) -> Response {
    let home = personal_href(
        state,
        &approver.id,
        "/",
        state.deps.now() + chrono::Duration::hours(24),
    );
    respond_with_home(status, title, body, &home)
}

/// The page of a personal link that does not check out, saying why.
pub(crate) fn refused_link(err: &LinkError) -> Response {
    let (status, title) = match err {
        LinkError::Tampered => (StatusCode::BAD_REQUEST, "This link is damaged"),
        LinkError::Foreign => (StatusCode::FORBIDDEN, "This link is not from this shipgate"),
        LinkError::Expired(_) => (StatusCode::GONE, "This link has expired"),
        LinkError::WrongUse { .. } => (StatusCode::BAD_REQUEST, "This link is for something else"),
    };
    problem(status, title, &err.to_string())
}

/// Who wrote, committed or pushed the code and is none of the approvers: named, so their
/// code is looked at knowingly.
fn strangers(config: &shipgate_core::Config, release: &Release) -> Markup {
    let unknown = approval::unknown_contributors(config, release);
    html! {
        @if !unknown.is_empty() {
            dt { "Not an approver" }
            dd id="strangers" {
                ul {
                    @for c in &unknown {
                        li { (c.display()) " (" (format!("{:?}", c.role).to_lowercase()) ")" }
                    }
                }
            }
        }
    }
}

/// The release as an approver needs to see it: what, who, what is left.
fn summary(state: &Shared, release: &Release, approver: &Approver) -> Markup {
    html! {
        (facts(state, release, approver))
        (changelog(release))
        (decisions(&state.deps.config, release))
    }
}

/// What the release is, linking to its page with this approver's dashboard access for a day.
fn facts(state: &Shared, release: &Release, approver: &Approver) -> Markup {
    let config = &state.deps.config;
    let page = personal_href(
        state,
        &approver.id,
        &format!("/releases/{}", path_segment(release.id.as_str())),
        state.deps.now() + chrono::Duration::hours(24),
    );
    html! {
        div class="card" {
            dl {
                dt { "Release" } dd { a href=(page) { (release.id.as_str()) } }
                dt { "Version" } dd { "v" (release.semver) }
                dt { "Type" } dd { (release.release_type) }
                dt { "Service" } dd { (release.service.as_str()) }
                @if let Some(env) = &release.environment {
                    dt { "Environment" } dd { (env) }
                }
                @if let Some(digest) = &release.image_digest {
                    dt { "Image" } dd { code { (shipgate_core::model::pinned_image(&release.image, Some(digest))) } }
                }
                dt { "Commit" } dd { code { (release.commit) } }
                dt { "Author" } dd { (release.author) }
                (strangers(config, release))
                dt { "State" } dd { (state_badge(release.state)) }
                dt { "Waiting on" } dd { (waiting_on(config, release)) }
            }
        }
    }
}

fn changelog(release: &Release) -> Markup {
    let log = &release.changelog;
    html! {
        h2 { "Changelog" }
        div class="card" {
            @if log.features.is_empty() && log.fixes.is_empty() {
                p class="muted" { "No changelog entries." }
            }
            @for (heading, items) in [("Features", &log.features), ("Fixes", &log.fixes)] {
                @if !items.is_empty() {
                    p { strong { (heading) } }
                    ul { @for item in items { li { (item) } } }
                }
            }
        }
    }
}

/// Who decided what so far, and, while approval is open, who is still needed and until when.
fn decisions(config: &shipgate_core::Config, release: &Release) -> Markup {
    let open = release.state == ReleaseState::AwaitingApproval;
    let quorum = approval::quorum(config, release);
    let asked: Vec<String> = approve::first_asked(config, release, &quorum.missing)
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let deadline = approve::deadline(config, release).filter(|_| open);
    html! {
        h2 { "Approvals" }
        div class="card" {
            ul id="approvals" {
                @if release.approvals.is_empty() {
                    li class="muted" { "Nobody has decided yet." }
                }
                @for a in &release.approvals {
                    li {
                        (config.name_of(&a.approver)) " " (a.decision.as_str()) " as " (a.role)
                        " at " (time(a.at))
                        @if let Some(reason) = &a.reason { ": “" (reason) "”" }
                    }
                }
            }
            @if open && !quorum.missing.is_empty() {
                p id="missing" {
                    "Still needed: " strong { (quorum.missing.join(" + ")) }
                    " (asked: " (asked.join(", ")) ")."
                }
            }
            @if let Some(deadline) = deadline {
                p class="muted" { "Approval closes at " (time(deadline)) "." }
            }
            @if !config.notifications.on_call.is_empty() {
                p id="on-call" {
                    "On call during the deploy: " (config.notifications.on_call.join(", ")) "."
                }
            }
        }
    }
}

fn confirmation(state: &Shared, opened: &Opened, error: Option<&str>) -> Markup {
    let release = &opened.release;
    let config = &state.deps.config;
    html! {
        (asking(
            html! { "Approve v" (release.semver) " of " (release.service.as_str()) "?" },
            &opened.approver.name,
            "your decision is recorded only when you press a button.",
            error,
        ))
        (summary(state, release, &opened.approver))
        @if let Some(evidence) = &release.evidence {
            (crate::html::evidence_card(evidence))
        }
        @if release.environment.is_some() {
            h2 { "Test cases" }
        } @else {
            h2 { @if release.evidence.is_some() { "To confirm" } @else { "Checklist" } }
        }
        div class="card" {
            p class="muted" {
                @if let Some(env) = &release.environment {
                    "It runs on " (env) " now and its smoke tests passed. Test it, then approve; production may ship it only once you have. By approving you confirm:"
                } @else if release.evidence.is_some() { "No system proves these; by approving you confirm:" }
                @else { "By approving you confirm:" }
            }
            ul class="check" { @for item in config.checklist_for(&release.id) { li { (item) } } }
        }
        @if approval::is_author(&opened.approver, release) {
            div class="card notice" {
                p {
                    "You wrote this release, so you cannot approve it; "
                    "someone else with the role must."
                }
            }
        } @else {
            (decision_forms(
                shipgate_core::messages::bypass_asked(config, release).as_deref(),
                users_choice(config, release),
            ))
        }
    }
}

/// What the approve forms say about the users' email (procedure §6, External): nothing
/// without a contact list; who asked for it; or a box to ask for it.
fn users_choice(config: &shipgate_core::Config, release: &Release) -> Option<Markup> {
    let users = config.notifications.users.as_ref()?;
    Some(match &release.user_announcement {
        Some(asked) => html! {
            p id="users-announcement" {
                (users.product) "'s users will be emailed the release when it ships (asked by " (asked) ")."
            }
        },
        None => html! {
            p {
                label {
                    input type="checkbox" name="announce_users" value="yes" id="announce-users";
                    " Also email " (users.product) "'s users the release when it ships"
                }
            }
        },
    })
}

/// The buttons: approve (and, for a hotfix that asks to skip the window, approve for the
/// window only), or reject with a reason.
fn decision_forms(bypass: Option<&str>, users: Option<Markup>) -> Markup {
    let approve_label = if bypass.is_some() {
        "Approve and deploy now"
    } else {
        "Approve"
    };
    html! {
        @if let Some(reason) = bypass {
            div class="card notice" id="bypass" {
                p {
                    strong { "This hotfix asks to skip the deploy window" } ": " (reason) "."
                }
                p {
                    "Approving deploys it now; to approve it for the next window instead, "
                    "choose “Approve, wait for the window”."
                }
            }
        }
        h2 { "Your decision" }
        div class="actions" {
            form method="post" class="card" {
                input type="hidden" name="decision" value="approve";
                p { "Everything above is as it should be." }
                @if let Some(users) = &users { (users) }
                button type="submit" class="approve" id="approve" { (approve_label) }
            }
            @if bypass.is_some() {
                form method="post" class="card" {
                    input type="hidden" name="decision" value="approve_without_bypass";
                    p { "Approve the release, not the bypass: it deploys in the next window." }
                    @if let Some(users) = &users { (users) }
                    button type="submit" class="approve" id="approve-without-bypass" {
                        "Approve, wait for the window"
                    }
                }
            }
            form method="post" class="card" {
                input type="hidden" name="decision" value="reject";
                label for="reason" { "Reason for rejecting (required)" }
                textarea id="reason" name="reason" required {}
                p { button type="submit" class="reject" id="reject" { "Reject" } }
            }
        }
    }
}

fn decided_before(
    release: &Release,
    approver: &Approver,
) -> Option<shipgate_core::model::Approval> {
    release
        .approvals
        .iter()
        .find(|a| a.approver == approver.id)
        .cloned()
}

fn verb(decision: Decision) -> &'static str {
    decision.as_str()
}

fn no_longer_open(state: &Shared, release: &Release, approver: &Approver) -> Response {
    respond_to(
        state,
        approver,
        StatusCode::GONE,
        "No decision needed any more",
        html! {
            h1 { "This release no longer awaits decisions" }
            div class="card notice" {
                p {
                    "It is " (release.state) " now"
                    @if let Some(outcome) = &release.outcome { " (" (outcome) ")" }
                    ". This link cannot be used any more."
                }
            }
            (summary(state, release, approver))
        },
    )
}

/// A decision recorded before: `heading`, what it was and when, then the release.
fn decided_page(
    state: &Shared,
    opened: &Opened,
    previous: &shipgate_core::model::Approval,
    heading: &str,
    card_class: &str,
    closing: &str,
) -> Markup {
    html! {
        h1 { (heading) }
        div class=(card_class) {
            p {
                "You " (verb(previous.decision)) " this release at " (time(previous.at)) ". "
                (closing)
            }
        }
        (summary(state, &opened.release, &opened.approver))
    }
}

/// `GET|HEAD /approvals/{link}`: shows, changes nothing.
pub async fn show(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    let opened = match open(&state, &token).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if let Some(previous) = decided_before(&opened.release, &opened.approver) {
        return respond_to(
            &state,
            &opened.approver,
            StatusCode::GONE,
            "This link has been used",
            decided_page(
                &state,
                &opened,
                &previous,
                "This link has been used",
                "card notice",
                "A decision cannot be changed.",
            ),
        );
    }
    if opened.release.state != ReleaseState::AwaitingApproval {
        return no_longer_open(&state, &opened.release, &opened.approver);
    }
    respond_to(
        &state,
        &opened.approver,
        StatusCode::OK,
        &format!("Approve v{}", opened.release.semver),
        confirmation(&state, &opened, None),
    )
}

#[derive(Debug, Deserialize)]
struct Form {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
    /// `yes`: email the users when the release ships.
    #[serde(default)]
    announce_users: Option<String>,
}

/// `POST /approvals/{link}`: records the decision.
pub async fn decide(
    State(state): State<Shared>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let opened = match open(&state, &token).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let form: Form = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Nothing was decided",
                "The form was incomplete: choose Approve or Reject on the approval page.",
            );
        }
    };
    let without_bypass = form.decision == "approve_without_bypass";
    let decision = match form.decision.as_str() {
        "approve" | "approve_without_bypass" => Decision::Approved,
        "reject" => Decision::Rejected,
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Nothing was decided",
                "The decision must be Approve or Reject.",
            );
        }
    };
    let reason = form
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if let Some(previous) = decided_before(&opened.release, &opened.approver) {
        if previous.decision == decision {
            return respond_to(
                &state,
                &opened.approver,
                StatusCode::OK,
                "Already recorded",
                decided_page(
                    &state,
                    &opened,
                    &previous,
                    "Your decision was already recorded",
                    "card done",
                    "Nothing changed.",
                ),
            );
        }
        return problem(
            StatusCode::CONFLICT,
            "This link has been used",
            &format!(
                "You already {} this release at {}; a decision cannot be changed.",
                verb(previous.decision),
                time(previous.at)
            ),
        );
    }
    if opened.release.state != ReleaseState::AwaitingApproval {
        return no_longer_open(&state, &opened.release, &opened.approver);
    }
    if decision == Decision::Rejected && reason.is_none() {
        return respond_to(
            &state,
            &opened.approver,
            StatusCode::UNPROCESSABLE_ENTITY,
            "A reason is needed",
            confirmation(
                &state,
                &opened,
                Some("A rejection needs a reason: say what is wrong, so the author can fix it."),
            ),
        );
    }
    let id = opened.release.id.clone();
    match releases::decide_with(
        &state.deps,
        &id,
        &opened.approver.id,
        decision,
        reason,
        without_bypass,
    )
    .await
    {
        Ok(decided) => {
            info!(release_id = %id, approver = %opened.approver.id, ?decision, "decision recorded from a link");
            if decision == Decision::Approved && form.announce_users.as_deref() == Some("yes") {
                // The decision stands either way; the timeline says whether this was kept.
                if let Err(err) =
                    shipgate_core::users::ask(&state.deps, &id, &opened.approver.name).await
                {
                    warn!(release_id = %id, error = %err, "could not record the users' email asked for");
                }
            }
            (state.hooks.after_change)();
            let next = match (decision, decided.quorum.met) {
                (Decision::Rejected, _) => {
                    "The release is rejected; nothing will be deployed.".to_string()
                }
                (Decision::Approved, true) => {
                    "Every required role has approved: the release now waits for the deploy window."
                        .to_string()
                }
                (Decision::Approved, false) => {
                    format!("Still needed: {}.", decided.quorum.missing.join(" + "))
                }
            };
            respond_to(
                &state,
                &opened.approver,
                StatusCode::OK,
                "Decision recorded",
                html! {
                    h1 { "Thank you — " (verb(decision)) }
                    div class="card done" id="result" {
                        p { "Your decision is recorded. " (next) }
                    }
                    (summary(&state, &decided.release, &opened.approver))
                },
            )
        }
        Err(GateError::ApprovalRefused(err)) => problem(
            StatusCode::FORBIDDEN,
            "You cannot decide on this release",
            &err.to_string(),
        ),
        Err(err @ (GateError::InvalidState { .. } | GateError::InvalidInput(_))) => problem(
            StatusCode::CONFLICT,
            "Nothing was decided",
            &err.to_string(),
        ),
        Err(err) => {
            warn!(error = %err, "a decision could not be recorded");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                &format!("shipgate could not record your decision: {err}"),
            )
        }
    }
}
