//! Server-rendered pages: one layout, one small style sheet. No scripts; readable at 3 AM
//! (follows the system's dark mode, large type, high contrast). Pages are [`maud`]
//! templates: every value spliced in is escaped; only the constant style sheet is not.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use shipgate_core::ReleaseState;
use shipgate_core::evidence::{Evidence, Proof};

/// `text` as the pages render it (maud escapes `&`, `<`, `>` and `"`): what to look for in
/// a page. Pages never build markup from it; they splice text into [`html!`].
pub fn escaped(text: &str) -> String {
    html! { (text) }.into_string()
}

/// Percent-encodes text for one segment of a URL path (everything but letters, digits
/// and `-._~`), so a name with `/`, `?` or `#` stays one segment.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What GitHub showed on the release commit: each item marked, with its link.
pub fn evidence_card(evidence: &Evidence) -> Markup {
    html! {
        h2 { "Evidence" }
        div class="card" id="evidence" {
            p { (evidence.summary()) "." }
            ul class="evidence" {
                @for item in &evidence.items {
                    @let (class, mark) = match item.proof {
                        Proof::Passed => ("passed", "✓"),
                        Proof::Pending => ("pending", "…"),
                        Proof::Failed => ("failed", "✗"),
                    };
                    li class=(class) {
                        span class="mark" { (mark) } " " strong { (item.name) } ": " (item.detail)
                        @if let Some(link) = &item.link {
                            " " a href=(link) { "details" }
                        }
                    }
                }
            }
            p class="muted" { "Read from GitHub at " (time(evidence.read_at)) "." }
        }
    }
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg: #fbfbfa; --fg: #1d1f21; --muted: #5f6368; --card: #ffffff;
  --line: #d9dce0; --ok: #1b7f3b; --bad: #b3261e; --wait: #8a5a00; --run: #1859b5; }
@media (prefers-color-scheme: dark) { :root { --bg: #15171a; --fg: #e8eaed; --muted: #a0a6ad;
  --card: #1e2125; --line: #33373d; --ok: #6fd08c; --bad: #ff8a80; --wait: #f2c14e; --run: #8ab4f8; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 17px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem 1rem 4rem; }
header.top { display: flex; justify-content: space-between; align-items: baseline; border-bottom: 1px solid var(--line); margin-bottom: 1.5rem; }
header.top a { color: var(--fg); text-decoration: none; font-weight: 700; }
h1 { font-size: 1.6rem; margin: .2rem 0 1rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
a { color: var(--run); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.2rem; margin: 1rem 0; }
table { width: 100%; border-collapse: collapse; } th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .9rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; } dt { color: var(--muted); } dd { margin: 0; }
.state { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .85rem; font-weight: 600; border: 1px solid currentColor; }
.s-ok { color: var(--ok); } .s-bad { color: var(--bad); } .s-wait { color: var(--wait); } .s-run { color: var(--run); }
.muted { color: var(--muted); } code { font-size: .9em; }
.notice { border-left: 4px solid var(--wait); } .error { border-left: 4px solid var(--bad); } .done { border-left: 4px solid var(--ok); }
button { font: inherit; padding: .55rem 1.2rem; border-radius: 8px; border: 1px solid var(--line); cursor: pointer; background: var(--card); color: var(--fg); }
button.approve { background: var(--ok); color: var(--bg); border-color: var(--ok); font-weight: 700; }
button.reject { background: var(--bad); color: var(--bg); border-color: var(--bad); font-weight: 700; }
textarea { width: 100%; min-height: 4.5rem; font: inherit; padding: .5rem; border-radius: 8px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
.actions { display: grid; gap: 1rem; grid-template-columns: 1fr 1fr; } @media (max-width: 40rem) { .actions { grid-template-columns: 1fr; } }
ul.check { list-style: none; padding-left: 0; } ul.check li::before { content: "☐ "; color: var(--muted); }
ul.evidence { list-style: none; padding-left: 0; } ul.evidence .passed .mark { color: var(--ok); } ul.evidence .failed .mark { color: var(--bad); } ul.evidence .pending .mark { color: var(--muted); }
"#;

/// A whole page.
pub fn page(title: &str, body: Markup) -> Markup {
    page_with_home(title, body, "/")
}

/// A whole page whose header links to `home` (the dashboard, with a viewer's access).
pub fn page_with_home(title: &str, body: Markup, home: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · shipgate" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    header class="top" {
                        a href=(home) { "shipgate" }
                        span class="muted" { "releases" }
                    }
                    (body)
                }
            }
        }
    }
}

/// An HTML response that no cache keeps and no referrer leaks (links carry tokens).
pub fn respond(status: StatusCode, title: &str, body: Markup) -> Response {
    respond_with_home(status, title, body, "/")
}

/// [`respond`], the header linking to `home`.
pub fn respond_with_home(status: StatusCode, title: &str, body: Markup, home: &str) -> Response {
    let mut response = (status, page_with_home(title, body, home).into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A page that says, in plain words, why something was refused.
pub fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    respond(
        status,
        title,
        html! {
            h1 { (title) }
            div class="card error" { p { (message) } }
        },
    )
}

/// The top of a page that asks a person to decide: the question, who is deciding, that
/// opening the page changed nothing (`until`: what will), and a previous attempt's error.
pub fn asking(question: Markup, who: &str, until: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { (question) }
        p { "You are " strong { (who) } ". Opening this page changed nothing; " (until) }
        @if let Some(error) = error {
            div class="card error" { p { (error) } }
        }
    }
}

/// A release's state, coloured by how it stands.
pub fn state_badge(state: ReleaseState) -> Markup {
    let class = match state {
        ReleaseState::Succeeded => "s-ok",
        ReleaseState::Rejected
        | ReleaseState::Expired
        | ReleaseState::RolledBack
        | ReleaseState::Failed
        | ReleaseState::RollingBack => "s-bad",
        ReleaseState::Pending | ReleaseState::AwaitingApproval | ReleaseState::AwaitingWindow => {
            "s-wait"
        }
        ReleaseState::Deploying | ReleaseState::HealthChecking | ReleaseState::Monitoring => {
            "s-run"
        }
        // Finished without deploying, and nothing went wrong: a newer version shipped.
        ReleaseState::Superseded => "muted",
    };
    html! {
        span class={ "state " (class) } data-state=(state) { (state) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_markup_in_text_when_escaped_then_it_is_safe_for_content_and_attributes() {
        assert_eq!(
            escaped("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O'Neil &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn given_markup_in_a_title_and_home_link_when_the_page_renders_then_both_are_escaped() {
        let page =
            page_with_home("<b>\"x\"</b>", html! { p { "body" } }, "/?a=1&b=\"2\"").into_string();
        assert!(
            page.starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{page}"
        );
        assert!(page.contains("<title>&lt;b&gt;&quot;x&quot;&lt;/b&gt; · shipgate</title>"));
        assert!(page.contains("<a href=\"/?a=1&amp;b=&quot;2&quot;\">shipgate</a>"));
        assert!(page.contains("</header><p>body</p></main>"));
    }

    #[test]
    fn given_a_release_state_when_rendered_as_a_badge_then_it_carries_the_state_and_class() {
        assert_eq!(
            state_badge(ReleaseState::RolledBack).into_string(),
            "<span class=\"state s-bad\" data-state=\"RolledBack\">RolledBack</span>"
        );
    }

    #[test]
    fn given_a_path_segment_when_encoded_then_unreserved_marks_stay_and_slashes_are_escaped() {
        assert_eq!(path_segment("api-5xx_rate.v2~"), "api-5xx_rate.v2~");
        assert_eq!(path_segment("a/b?c#d é"), "a%2Fb%3Fc%23d%20%C3%A9");
    }
}
