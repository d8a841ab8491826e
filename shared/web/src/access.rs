//! Who may see the dashboard. On AWS (the callback function's URL is public) every page
//! and `/api/releases` need a personal, signed, expiring dashboard link: `?access=<token>`
//! on the URL (what `shipgate --stack NAME dashboard-link --as ID` prints, and what the
//! approval and release emails carry), or `Authorization: Bearer <token>` for the JSON.
//! Without one: 401 and nothing about any release. Locally (`shipgate serve`, loopback) the
//! dashboard is open; a token, when given, is still checked and names the viewer.
//!
//! The pages of a viewer keep their token on every link they print, so navigation works;
//! `Referrer-Policy: no-referrer` and `Cache-Control: no-store` keep it from leaking.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use shipgate_core::config::Approver;
use shipgate_core::links::{Claims, Grant, LinkError, LinkSigner};

use crate::Shared;
use crate::html::problem;

/// The query parameter of a dashboard link.
pub const ACCESS_PARAM: &str = "access";

/// Whether the dashboard needs a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardAccess {
    /// Only with a valid dashboard link (the deployed stack).
    Signed,
    /// Open to whoever reaches the server (local, on loopback).
    Open,
}

/// The person a dashboard link was made for, and the link's token (carried on).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub approver: Approver,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl Viewer {
    /// `path` with this viewer's access on it.
    pub fn href(&self, path: &str) -> String {
        let join = if path.contains('?') { '&' } else { '?' };
        format!("{path}{join}{ACCESS_PARAM}={}", self.token)
    }
}

/// `path` as a viewer (or anyone, on an open dashboard) follows it.
pub fn href(viewer: Option<&Viewer>, path: &str) -> String {
    viewer.map_or_else(|| path.to_string(), |v| v.href(path))
}

/// `path` on the dashboard for `person`, with a dashboard token of theirs valid until
/// `until`: what personal pages (approval, rollback) link to. The bare path without a key.
pub fn personal_href(state: &Shared, person: &str, path: &str, until: DateTime<Utc>) -> String {
    match LinkSigner::from_config(&state.deps.config) {
        Some(signer) => {
            let token = signer.sign_claims(&Claims {
                grant: Grant::View,
                person: person.to_string(),
                expires_at: until,
            });
            let join = if path.contains('?') { '&' } else { '?' };
            format!("{path}{join}{ACCESS_PARAM}={token}")
        }
        None => path.to_string(),
    }
}

/// The token a request carries: `?access=` or a bearer token.
fn token_of(query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let from_query = query.and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == ACCESS_PARAM)
            .map(|(_, v)| v)
    });
    from_query.or_else(|| {
        headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_string())
    })
}

/// Why a request may not see the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    NoLink,
    Link(LinkError),
    NotAnApprover(String),
    NoKey,
}

impl Refusal {
    fn message(&self) -> String {
        match self {
            Refusal::NoLink => {
                "The releases are shown to approvers only, through their own dashboard link. \
                Ask for yours with `shipgate --stack <stack> dashboard-link --as <your id>`, \
                or open the dashboard link of your latest approval or release email."
                    .into()
            }
            Refusal::Link(LinkError::Expired(at)) => format!(
                "Your dashboard link expired at {}. Ask for a new one with `shipgate --stack <stack> dashboard-link --as <your id>`.",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            Refusal::Link(err) => format!("{err}."),
            Refusal::NotAnApprover(who) => {
                format!("The link was made for `{who}`, who is no longer an approver here.")
            }
            Refusal::NoKey => {
                "This shipgate has no link key configured, so it cannot check dashboard links."
                    .into()
            }
        }
    }
}

fn viewer_of(state: &Shared, token: &str) -> Result<Viewer, Refusal> {
    let config = &state.deps.config;
    let signer = LinkSigner::from_config(config).ok_or(Refusal::NoKey)?;
    let claims = signer
        .verify_claims(token, state.deps.now())
        .map_err(Refusal::Link)?;
    if claims.grant != Grant::View {
        return Err(Refusal::Link(LinkError::WrongUse {
            expected: Grant::View.describe(),
            actual: claims.grant.describe(),
        }));
    }
    let approver = config
        .approver(&claims.person)
        .cloned()
        .ok_or_else(|| Refusal::NotAnApprover(claims.person.clone()))?;
    Ok(Viewer {
        approver,
        token: token.to_string(),
        expires_at: claims.expires_at,
    })
}

fn refuse(api: bool, refusal: &Refusal) -> Response {
    let message = refusal.message();
    let mut response = if api {
        (StatusCode::UNAUTHORIZED, Json(json!({ "error": message }))).into_response()
    } else {
        problem(
            StatusCode::UNAUTHORIZED,
            "Your dashboard link is needed",
            &message,
        )
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"shipgate\""),
    );
    response
}

/// Middleware of the dashboard routes: a valid token makes the request's [`Viewer`]; a
/// missing one is refused when the dashboard is [`DashboardAccess::Signed`]; a bad one
/// always is.
pub async fn guard(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    match token_of(request.uri().query(), request.headers()) {
        Some(token) => match viewer_of(&state, &token) {
            Ok(viewer) => {
                request.extensions_mut().insert(viewer);
            }
            Err(refusal) => return refuse(api, &refusal),
        },
        None if state.hooks.dashboard == DashboardAccess::Signed => {
            return refuse(api, &Refusal::NoLink);
        }
        None => {}
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_request_when_its_token_is_read_then_it_comes_from_the_query_or_a_bearer_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            token_of(Some("x=1&access=a.b.c"), &headers),
            Some("a.b.c".into())
        );
        assert_eq!(token_of(Some("x=1"), &headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t.o.k"),
        );
        assert_eq!(token_of(None, &headers), Some("t.o.k".into()));
        assert_eq!(
            token_of(Some("access=q.q.q"), &headers),
            Some("q.q.q".into())
        );
    }

    #[test]
    fn given_a_viewer_when_links_are_made_then_each_keeps_the_token() {
        let viewer = Viewer {
            approver: Approver {
                id: "lee".into(),
                name: "Lee".into(),
                email: "lee@example.com".into(),
                slack_user: None,
                roles: vec![],
                github: vec![],
                emails: vec![],
                aws_principals: vec![],
            },
            token: "a.b.c".into(),
            expires_at: DateTime::<Utc>::MAX_UTC,
        };
        assert_eq!(viewer.href("/releases/x"), "/releases/x?access=a.b.c");
        assert_eq!(href(Some(&viewer), "/?x=1"), "/?x=1&access=a.b.c");
        assert_eq!(href(None, "/"), "/");
    }
}
