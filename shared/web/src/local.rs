//! `/local/...` (local runtime only): `POST /local/alarms/{name}` trips a simulated alarm
//! and delivers the alarm event as the EventBridge rule would in production, so a person
//! can watch the live release roll back. A browser form is sent back to the dashboard;
//! other callers get JSON.
//!
//! These routes change the world, and any web page the person has open can make their
//! browser post to 127.0.0.1. So [`guard`] serves them only to a caller that is on this
//! machine (a loopback peer, addressed by a loopback name — not a page that rebound its
//! own domain to 127.0.0.1, not a request relayed by a proxy) *and* carries the local
//! token (header `X-Shipgate-Token`, or form field `token`), compared in constant time.
//! The dashboard embeds the token in its forms, for callers on this machine only; another
//! site cannot read it.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use shipgate_core::config::Secret;
use shipgate_core::restore;

use crate::signature::same_secret;
use crate::{Shared, TripRefused};

/// The header a script sends the token in.
pub const TOKEN_HEADER: &str = "x-shipgate-token";
/// The form field the dashboard sends the token in.
pub const TOKEN_FIELD: &str = "token";
/// The largest body a `/local/...` request may have (a form with a token).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The shortest token accepted.
pub const MIN_TOKEN_CHARS: usize = 32;

/// The token `/local/...` requests must carry. Never printed.
#[derive(Clone)]
pub struct LocalToken(Secret);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a local token needs at least {MIN_TOKEN_CHARS} characters")]
pub struct WeakToken;

impl LocalToken {
    pub fn new(value: impl Into<String>) -> Result<Self, WeakToken> {
        let value = value.into();
        if value.chars().count() < MIN_TOKEN_CHARS {
            return Err(WeakToken);
        }
        Ok(Self(Secret::new(value)))
    }

    /// The token itself, to embed in a page served to this machine.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Whether `given` is the token (in constant time).
    pub fn matches(&self, given: &str) -> bool {
        same_secret(self.0.expose().as_bytes(), given.as_bytes())
    }
}

impl std::fmt::Debug for LocalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalToken(***)")
    }
}

/// Whether a request comes from this machine and was addressed to it by a loopback name:
/// the peer is a loopback address, the `Host` is `localhost` or a loopback address, and
/// no proxy relayed it. Without the peer's address (no `ConnectInfo`), it does not.
pub fn is_local(extensions: &Extensions, headers: &HeaderMap) -> bool {
    let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() else {
        return false;
    };
    if !peer.ip().to_canonical().is_loopback() {
        return false;
    }
    // A proxy on this machine makes every caller look local: what it relays is not.
    if headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for") {
        return false;
    }
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(host_is_loopback)
}

/// `localhost` or a loopback address, with or without a port.
fn host_is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((name, _)) => name,
            None => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Who is asking, for pages that show local-only controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// See [`is_local`].
    pub local: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            local: is_local(&parts.extensions, &parts.headers),
        })
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The value of form field `name` in a urlencoded body.
fn form_field(headers: &HeaderMap, body: &[u8], name: &str) -> Option<String> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return None;
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// Lets a request through to a `/local/...` route only from this machine with the token.
pub async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(local) = state.hooks.local.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !is_local(request.extensions(), request.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "local routes answer only requests from this machine to a loopback address",
        );
    }
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        return refuse(
            StatusCode::FORBIDDEN,
            "local routes do not answer requests another site started",
        );
    }
    let from_header = request
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the request body could not be read (at most 16 KiB)",
        );
    };
    let token = from_header.or_else(|| form_field(&parts.headers, &bytes, TOKEN_FIELD));
    if !token.is_some_and(|t| local.token.matches(&t)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the local token is missing or wrong (header X-Shipgate-Token, as in <data-dir>/local.token)",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

pub async fn trip_alarm(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(local) = state.hooks.local.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !state.deps.config.monitor.alarms.contains(&name) {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("`{name}` is not an alarm this configuration watches (monitor.alarms)"),
        );
    }
    let reason = "tripped by hand from the dashboard".to_string();
    match (local.trip_alarm)(name.clone(), reason.clone()).await {
        Ok(_release) => {}
        Err(TripRefused::NothingLive(err)) => return refuse(StatusCode::CONFLICT, &err),
        Err(TripRefused::Unavailable(err)) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, &err);
        }
    }
    let rolled_back = match restore::on_alarm(&state.deps, &name, &reason).await {
        Ok(release) => release.map(|r| r.id),
        Err(err) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &err.to_string()),
    };
    (state.hooks.after_change)();
    let from_browser = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if from_browser {
        return Redirect::to("/").into_response();
    }
    Json(json!({ "alarm": name, "rolled_back": rolled_back })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, host: Option<&str>) -> (Extensions, HeaderMap) {
        let mut extensions = Extensions::new();
        if let Ok(peer) = peer.parse::<SocketAddr>() {
            extensions.insert(ConnectInfo(peer));
        }
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, host.parse().unwrap());
        }
        (extensions, headers)
    }

    #[test]
    fn given_requests_when_checked_then_only_loopback_callers_to_a_loopback_name_are_local() {
        for (peer, host) in [
            ("127.0.0.1:50000", "127.0.0.1:8080"),
            ("127.0.0.1:50000", "localhost:8080"),
            ("127.0.0.1:50000", "LOCALHOST"),
            ("[::1]:50000", "[::1]:8080"),
            ("[::ffff:127.0.0.1]:50000", "127.0.0.2"),
        ] {
            let (e, h) = request(peer, Some(host));
            assert!(is_local(&e, &h), "{peer} → {host}");
        }
        for (peer, host) in [
            ("192.168.1.20:50000", Some("127.0.0.1:8080")),
            ("10.0.0.1:50000", Some("localhost")),
            // DNS rebinding: a loopback peer, but the page's own domain.
            ("127.0.0.1:50000", Some("evil.example.com:8080")),
            ("127.0.0.1:50000", Some("localhost.evil.example.com")),
            ("127.0.0.1:50000", Some("[::1")),
            ("127.0.0.1:50000", None),
            ("no peer", Some("127.0.0.1:8080")),
        ] {
            let (e, h) = request(peer, host);
            assert!(!is_local(&e, &h), "{peer} → {host:?}");
        }
        let (e, mut h) = request("127.0.0.1:50000", Some("127.0.0.1:8080"));
        h.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert!(!is_local(&e, &h), "a relayed request");
    }

    #[test]
    fn given_a_local_token_when_used_then_it_is_long_matches_only_itself_and_never_prints() {
        assert!(matches!(LocalToken::new("short"), Err(WeakToken)));
        let token = LocalToken::new("a".repeat(64)).unwrap();
        assert!(token.matches(&"a".repeat(64)));
        for wrong in ["", "a", &"a".repeat(63), &"a".repeat(65), &"b".repeat(64)] {
            assert!(!token.matches(wrong), "{wrong}");
        }
        assert!(!format!("{token:?}").contains("aaaa"));
    }

    #[test]
    fn given_a_body_when_the_token_is_read_then_only_a_form_body_gives_it() {
        let mut headers = HeaderMap::new();
        assert_eq!(form_field(&headers, b"token=abc", TOKEN_FIELD), None);
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(
            form_field(&headers, b"x=1&token=abc%2B", TOKEN_FIELD),
            Some("abc+".into())
        );
        assert_eq!(form_field(&headers, b"%zz", TOKEN_FIELD), None);
    }
}
