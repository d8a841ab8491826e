//! `POST /webhooks/github`: a signed push to the release branch of the configured
//! repository starts a release.
//!
//! The version is the `vX.Y.Z` tag pushed for the head commit, if shipgate has seen one;
//! else the version of a `release/vX.Y.Z` branch the push merges; otherwise it is derived
//! from the conventional commits of the push (`feat` → minor,
//! `fix` → patch, `!` or `BREAKING CHANGE` → major), counted from the highest version
//! shipgate knows for the service (normally the last released one; `service.initial_version`
//! before any). A push with none of those commits releases nothing and says so. The
//! changelog's features and fixes are the commits' descriptions.
//!
//! A tag pushed on a commit of the release branch (GitHub's `base_ref`) starts the release
//! as the branch's push would: `git push origin main --tags` sends both pushes, in either
//! order, and the commit is released once, by whichever comes first.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use shipgate_core::model::{Contribution, Contributor};
use shipgate_core::policy::window::bypass_trailer;
use shipgate_core::ports::TriggerRecord;
use shipgate_core::push::{self, PushOutcome, Pushed};
use shipgate_core::{GateError, Version};
use tracing::{info, warn};

use crate::Shared;
use crate::signature::verify_github;

#[derive(Debug, Deserialize)]
pub struct Push {
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    /// For a tag: the branch whose head the tagged commit is, if any.
    #[serde(default)]
    pub base_ref: Option<String>,
    pub repository: Repository,
    #[serde(default)]
    pub commits: Vec<Commit>,
    #[serde(default)]
    pub head_commit: Option<Commit>,
    #[serde(default)]
    pub pusher: Option<Person>,
    #[serde(default)]
    pub sender: Option<Sender>,
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
}

#[derive(Debug, Deserialize)]
pub struct Commit {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub author: Option<Person>,
    #[serde(default)]
    pub committer: Option<Person>,
}

#[derive(Debug, Deserialize)]
pub struct Person {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Sender {
    pub login: String,
}

pub(crate) fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

pub(crate) fn accepted(reason: impl Into<String>) -> Response {
    answer(
        StatusCode::ACCEPTED,
        json!({ "status": "ignored", "reason": reason.into() }),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tracing::instrument(skip_all, fields(delivery))]
pub async fn webhook(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let config = state.deps.config.clone();
    let Some(secret) = config.web.github_webhook_secret.as_ref() else {
        warn!("a GitHub webhook arrived but no webhook secret is configured");
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "the GitHub webhook secret is not configured" }),
        );
    };
    if let Err(err) = verify_github(
        secret.expose().as_bytes(),
        &body,
        header(&headers, "x-hub-signature-256"),
    ) {
        warn!(error = %err, "GitHub webhook refused");
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({ "error": err.to_string() }),
        );
    }
    let event = header(&headers, "x-github-event").unwrap_or("");
    let delivery = header(&headers, "x-github-delivery")
        .unwrap_or("")
        .to_string();
    tracing::Span::current().record("delivery", delivery.as_str());
    match event {
        "ping" => {
            return match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(_) => answer(StatusCode::OK, json!({ "status": "pong" })),
                Err(err) => answer(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": format!("malformed JSON: {err}") }),
                ),
            };
        }
        "push" => {}
        "check_suite" | "check_run" | "status" => {
            return crate::evidence::reported(&state, event, &body).await;
        }
        other => return accepted(format!("event `{other}` is not one shipgate acts on")),
    }
    let push: Push = match serde_json::from_slice(&body) {
        Ok(push) => push,
        Err(err) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": format!("malformed push payload: {err}") }),
            );
        }
    };
    let repository = &config.service.repository;
    if !push.repository.full_name.eq_ignore_ascii_case(repository) {
        return accepted(format!(
            "push to {}; this shipgate releases {repository}",
            push.repository.full_name
        ));
    }
    if push.deleted {
        return accepted(format!("{} was deleted; nothing to release", push.git_ref));
    }
    let head = push
        .head_commit
        .as_ref()
        .map(|c| c.id.clone())
        .or_else(|| push.after.clone())
        .unwrap_or_default();
    // Commits are full SHAs; anything else is refused before it is stored anywhere.
    let head = if head.is_empty() {
        head
    } else {
        match shipgate_core::model::full_commit(&head) {
            Ok(sha) => sha,
            Err(err) => {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({ "error": err.to_string() }),
                );
            }
        }
    };
    let branch_ref = format!("refs/heads/{}", config.web.branch);
    // A push to an environment's branch (`develop`) deploys there first.
    let environment = push
        .git_ref
        .strip_prefix("refs/heads/")
        .and_then(|branch| config.environment_for_branch(branch))
        .map(String::from);
    if let Some(tag) = push.git_ref.strip_prefix("refs/tags/") {
        match tag
            .strip_prefix('v')
            .and_then(|_| tag.parse::<Version>().ok())
        {
            Some(version) if !head.is_empty() => {
                if let Err(err) = state.triggers.record_tag(&head, &version).await {
                    return unavailable(err.into());
                }
                if push.base_ref.as_deref() != Some(branch_ref.as_str()) {
                    return accepted(format!(
                        "tag {tag} recorded for commit {head}: a push of it to {} releases it as {version}",
                        config.web.branch
                    ));
                }
                // The tagged commit is on the release branch: release it now, unless the
                // branch's push did already (below, as for a redelivery).
            }
            _ => return accepted(format!("tag {tag} is not a vX.Y.Z release tag")),
        }
    } else if push.git_ref != branch_ref && environment.is_none() {
        let staged: Vec<String> = config
            .environments
            .values()
            .map(|env| format!("refs/heads/{}", env.branch))
            .collect();
        return accepted(format!(
            "push to {}; only pushes to {} start releases",
            push.git_ref,
            std::iter::once(branch_ref)
                .chain(staged)
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    let Some(head_commit) = push.head_commit.as_ref() else {
        return accepted("the push has no head commit; nothing to release");
    };
    if let Some(bad) = push
        .commits
        .iter()
        .map(|c| c.id.as_str())
        .find(|id| shipgate_core::model::full_commit(id).is_err())
    {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "error": format!("commit id `{}` is not a full SHA", bad.chars().take(60).collect::<String>()) }),
        );
    }
    // A commit released to staging from `develop` is released again, to production, when
    // it reaches `main`: the trigger remembers each environment's commits apart.
    let commit_key = match environment.as_deref() {
        Some(env) => format!("{env}:{}", head_commit.id),
        None => head_commit.id.clone(),
    };
    let delivery = if delivery.is_empty() {
        format!("commit:{commit_key}")
    } else {
        delivery
    };
    match state.triggers.seen(&delivery, &commit_key).await {
        Ok(Some(previous)) => {
            return answer(
                StatusCode::OK,
                json!({
                    "status": "duplicate",
                    "reason": format!("delivery {} already handled: {}", previous.delivery, previous.outcome),
                    "release_id": previous.release_id,
                }),
            );
        }
        Ok(None) => {}
        Err(err) => return unavailable(err.into()),
    }
    let deps = environment
        .as_deref()
        .and_then(|name| config.for_environment(name))
        .map_or_else(|| state.deps.clone(), |laid| state.deps.with_config(laid));
    match start(&state, &deps, &push, head_commit).await {
        Ok((status, body, release_id, outcome)) => {
            let record = TriggerRecord {
                delivery,
                commit: commit_key,
                release_id,
                outcome,
                at: state.deps.now(),
            };
            if let Err(err) = state.triggers.record(&record).await {
                warn!(error = %err, "could not record the delivery");
            }
            (state.hooks.after_change)();
            answer(status, body)
        }
        Err(response) => response,
    }
}

fn unavailable(err: GateError) -> Response {
    warn!(error = %err, "GitHub webhook failed");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "error": err.to_string() }),
    )
}

type Started = (
    StatusCode,
    serde_json::Value,
    Option<shipgate_core::ReleaseId>,
    String,
);

/// Everyone the push names: each commit's author and committer, the pusher and the sender,
/// once each.
fn contributors(push: &Push, head: &Commit) -> Vec<Contributor> {
    let person = |role, p: &Person| Contributor {
        role,
        name: p.name.clone().filter(|n| !n.trim().is_empty()),
        email: p.email.clone().filter(|e| !e.trim().is_empty()),
        login: p.username.clone().filter(|u| !u.trim().is_empty()),
    };
    let mut out: Vec<Contributor> = Vec::new();
    let commits = push.commits.iter().chain(std::iter::once(head));
    let mut add = |c: Contributor| {
        if (c.name.is_some() || c.email.is_some() || c.login.is_some()) && !out.contains(&c) {
            out.push(c);
        }
    };
    for commit in commits {
        if let Some(a) = &commit.author {
            add(person(Contribution::Author, a));
        }
        if let Some(c) = &commit.committer {
            add(person(Contribution::Committer, c));
        }
    }
    if let Some(p) = &push.pusher {
        add(person(Contribution::Pusher, p));
    }
    if let Some(s) = &push.sender {
        add(Contributor {
            role: Contribution::Pusher,
            name: None,
            email: None,
            login: Some(s.login.clone()),
        });
    }
    out
}

async fn start(
    state: &Shared,
    deps: &shipgate_core::Deps,
    push: &Push,
    head: &Commit,
) -> Result<Started, Response> {
    let messages: Vec<&str> = if push.commits.is_empty() {
        vec![head.message.as_str()]
    } else {
        push.commits.iter().map(|c| c.message.as_str()).collect()
    };
    let author = push
        .pusher
        .as_ref()
        .and_then(|p| p.email.clone().or_else(|| p.name.clone()))
        .or_else(|| head.author.as_ref().and_then(|a| a.email.clone()))
        .or_else(|| push.sender.as_ref().map(|s| s.login.clone()))
        .unwrap_or_else(|| "github".into());
    let pushed = Pushed {
        commit: &head.id,
        messages,
        author,
        bypass_reason: bypass_trailer(&head.message),
        contributors: contributors(push, head),
        user_announcement: shipgate_core::commits::asks_user_announcement(&head.message),
    };
    let started = match push::release(deps, state.triggers.as_ref(), pushed).await {
        Ok(PushOutcome::Started(started)) => started,
        Ok(PushOutcome::NothingToRelease) => {
            let outcome = PushOutcome::NOTHING_TO_RELEASE.to_string();
            return Ok((
                StatusCode::ACCEPTED,
                json!({ "status": "ignored", "reason": outcome }),
                None,
                outcome,
            ));
        }
        Err(err @ (GateError::InvalidInput(_) | GateError::VersionTaken { .. })) => {
            return Err(answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": err.to_string() }),
            ));
        }
        Err(err) => return Err(unavailable(err)),
    };
    let release = &started.release;
    info!(release_id = %release.id, created = started.created, "release started from a push");
    let outcome = if started.created {
        format!(
            "started release {} ({} {})",
            release.id, release.release_type, release.semver
        )
    } else {
        format!("release {} already existed", release.id)
    };
    Ok((
        if started.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        json!({
            "status": if started.created { "started" } else { "duplicate" },
            "release_id": release.id,
            "version": release.semver,
            "type": release.release_type,
            "execution_id": started.execution_id,
            "release": release_link(state, &deps.config, &release.id),
        }),
        Some(release.id.clone()),
        outcome,
    ))
}

/// Where GitHub's delivery log points a reader: the release's page where the dashboard is
/// open (locally); on the deployed stack, which serves it only through personal links,
/// how to get one.
fn release_link(
    state: &Shared,
    config: &shipgate_core::Config,
    id: &shipgate_core::ReleaseId,
) -> String {
    match state.hooks.dashboard {
        crate::access::DashboardAccess::Open => {
            format!("{}/releases/{id}", config.web.public_url())
        }
        crate::access::DashboardAccess::Signed => format!(
            "approvers were sent their personal links to {}/releases/{id}; anyone with AWS access: shipgate --stack NAME release show {id}",
            config.web.public_url()
        ),
    }
}
