//! GitHub, where the procedure keeps its record (§2 Steps 3 and 5, §4): the calls shipgate
//! makes to its REST API, typed, and the port they go through. Each [`GitHubCall`] knows its
//! method, path and body as GitHub documents them, so an adapter only carries requests:
//! over HTTPS in production, into the outbox and a double locally.

#![warn(missing_docs)]

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ports::BoxError;

/// Why an issue is closed (`state_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The release shipped.
    Completed,
    /// The release ended without shipping (rejected, expired, rolled back, failed).
    NotPlanned,
}

/// One call to GitHub's REST API on the configured repository.
#[derive(Debug, Clone, PartialEq)]
pub enum GitHubCall {
    /// `POST /repos/{repo}/issues`: the release ticket or a post-mortem.
    OpenIssue {
        /// The issue's title.
        title: String,
        /// Markdown.
        body: String,
        /// Labels, created by GitHub when missing.
        labels: Vec<String>,
        /// GitHub logins.
        assignees: Vec<String>,
    },
    /// `GET /repos/{repo}/issues?labels=…&state=all&per_page=100`: the newest issues
    /// carrying every one of `labels`, open or closed.
    ListIssues {
        /// The labels an issue must carry.
        labels: Vec<String>,
    },
    /// `GET /repos/{repo}/issues/{issue}/comments?per_page=100`: the oldest comments.
    ListComments {
        /// The issue's number.
        issue: u64,
    },
    /// `POST /repos/{repo}/issues/{issue}/comments`.
    Comment {
        /// The issue's number.
        issue: u64,
        /// Markdown.
        body: String,
    },
    /// `PATCH /repos/{repo}/issues/{issue}` with `state: closed`.
    CloseIssue {
        /// The issue's number.
        issue: u64,
        /// `completed` or `not_planned`.
        reason: CloseReason,
    },
    /// `POST /repos/{repo}/git/tags`: an annotated tag object on `commit`.
    CreateTag {
        /// `v1.3.0`.
        tag: String,
        /// The tag's message.
        message: String,
        /// The full SHA the tag points to.
        commit: String,
    },
    /// `POST /repos/{repo}/git/refs`: a branch or a tag reference.
    CreateRef {
        /// `refs/tags/v1.3.0`, `refs/heads/changelog/v1.3.0`.
        name: String,
        /// The object it points to.
        sha: String,
    },
    /// `GET /repos/{repo}/git/ref/heads/{branch}`: the branch's head.
    GetBranch {
        /// The branch's name.
        branch: String,
    },
    /// `POST /repos/{repo}/releases`: a GitHub Release of an existing tag.
    CreateRelease {
        /// The tag.
        tag: String,
        /// The release's title.
        name: String,
        /// The release notes (Markdown).
        body: String,
    },
    /// `GET /repos/{repo}/contents/{path}?ref={branch}`.
    GetFile {
        /// The file's path in the repository.
        path: String,
        /// The branch read.
        branch: String,
    },
    /// `PUT /repos/{repo}/contents/{path}`: a commit that writes the file on `branch`.
    PutFile {
        /// The file's path in the repository.
        path: String,
        /// The branch the commit goes on.
        branch: String,
        /// The commit message.
        message: String,
        /// The file's new text (sent base64-encoded, as GitHub wants it).
        content: String,
        /// The blob SHA of the file replaced; `None` creates it.
        sha: Option<String>,
    },
    /// `POST /repos/{repo}/merges`: merges `head` into `base`.
    Merge {
        /// The branch merged into (`develop`).
        base: String,
        /// The branch merged (`main`).
        head: String,
        /// The merge commit's message.
        message: String,
    },
    /// `GET /repos/{repo}/commits/{commit}/check-runs?filter=latest&per_page=100`: the
    /// newest run of each check on a commit.
    CheckRuns {
        /// The full SHA.
        commit: String,
    },
    /// `GET /repos/{repo}/commits/{commit}/status`: the newest commit status of each
    /// context.
    CombinedStatus {
        /// The full SHA.
        commit: String,
    },
    /// `GET /repos/{repo}/commits/{commit}`: a commit, with its parents (a merge has two;
    /// the second is the merged branch's head).
    GetCommit {
        /// The full SHA.
        commit: String,
    },
    /// `GET /repos/{repo}/commits/{commit}/pulls`: the pull requests that brought a commit.
    PullsOfCommit {
        /// The full SHA.
        commit: String,
    },
    /// `GET /repos/{repo}/pulls/{pull}/reviews?per_page=100`: a pull request's reviews,
    /// oldest first.
    Reviews {
        /// The pull request's number.
        pull: u64,
    },
    /// `GET /repos/{repo}/pulls?head={owner}:{head}&base={base}&state=all`: the pull
    /// requests from `head` into `base`, open or closed.
    ListPulls {
        /// The branch with the changes.
        head: String,
        /// The branch they go into.
        base: String,
    },
    /// `POST /repos/{repo}/pulls`.
    OpenPull {
        /// The pull request's title.
        title: String,
        /// The branch with the changes.
        head: String,
        /// The branch they go into.
        base: String,
        /// Markdown.
        body: String,
    },
}

/// A call as GitHub receives it: method, path from the API's root, JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitHubRequest {
    /// `GET`, `POST`, `PUT` or `PATCH`.
    pub method: String,
    /// `/repos/{owner}/{name}/...`, with its query.
    pub path: String,
    /// The JSON body; `None` for reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// Percent-encodes what a path segment or query value must not carry raw.
fn encoded(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl GitHubCall {
    /// The request on `repository` (`owner/name`).
    pub fn request(&self, repository: &str) -> GitHubRequest {
        let repo = format!("/repos/{repository}");
        let (method, path, body) = match self {
            GitHubCall::OpenIssue {
                title,
                body,
                labels,
                assignees,
            } => (
                "POST",
                format!("{repo}/issues"),
                Some(
                    json!({ "title": title, "body": body, "labels": labels, "assignees": assignees }),
                ),
            ),
            GitHubCall::ListIssues { labels } => (
                "GET",
                format!(
                    "{repo}/issues?labels={}&state=all&per_page=100",
                    encoded(&labels.join(","))
                ),
                None,
            ),
            GitHubCall::ListComments { issue } => (
                "GET",
                format!("{repo}/issues/{issue}/comments?per_page=100"),
                None,
            ),
            GitHubCall::Comment { issue, body } => (
                "POST",
                format!("{repo}/issues/{issue}/comments"),
                Some(json!({ "body": body })),
            ),
            GitHubCall::CloseIssue { issue, reason } => (
                "PATCH",
                format!("{repo}/issues/{issue}"),
                Some(json!({ "state": "closed", "state_reason": reason })),
            ),
            GitHubCall::CreateTag {
                tag,
                message,
                commit,
            } => (
                "POST",
                format!("{repo}/git/tags"),
                Some(json!({ "tag": tag, "message": message, "object": commit, "type": "commit" })),
            ),
            GitHubCall::CreateRef { name, sha } => (
                "POST",
                format!("{repo}/git/refs"),
                Some(json!({ "ref": name, "sha": sha })),
            ),
            GitHubCall::GetBranch { branch } => (
                "GET",
                format!("{repo}/git/ref/heads/{}", encoded(branch)),
                None,
            ),
            GitHubCall::CreateRelease { tag, name, body } => (
                "POST",
                format!("{repo}/releases"),
                Some(json!({ "tag_name": tag, "name": name, "body": body })),
            ),
            GitHubCall::GetFile { path, branch } => (
                "GET",
                format!("{repo}/contents/{}?ref={}", encoded(path), encoded(branch)),
                None,
            ),
            GitHubCall::PutFile {
                path,
                branch,
                message,
                content,
                sha,
            } => {
                let mut body = json!({
                    "message": message,
                    "content": base64::engine::general_purpose::STANDARD.encode(content),
                    "branch": branch,
                });
                if let (Some(sha), Some(object)) = (sha, body.as_object_mut()) {
                    object.insert("sha".into(), json!(sha));
                }
                (
                    "PUT",
                    format!("{repo}/contents/{}", encoded(path)),
                    Some(body),
                )
            }
            GitHubCall::Merge {
                base,
                head,
                message,
            } => (
                "POST",
                format!("{repo}/merges"),
                Some(json!({ "base": base, "head": head, "commit_message": message })),
            ),
            GitHubCall::CheckRuns { commit } => (
                "GET",
                format!(
                    "{repo}/commits/{}/check-runs?filter=latest&per_page=100",
                    encoded(commit)
                ),
                None,
            ),
            GitHubCall::CombinedStatus { commit } => (
                "GET",
                format!("{repo}/commits/{}/status?per_page=100", encoded(commit)),
                None,
            ),
            GitHubCall::GetCommit { commit } => {
                ("GET", format!("{repo}/commits/{}", encoded(commit)), None)
            }
            GitHubCall::PullsOfCommit { commit } => (
                "GET",
                format!("{repo}/commits/{}/pulls", encoded(commit)),
                None,
            ),
            GitHubCall::Reviews { pull } => (
                "GET",
                format!("{repo}/pulls/{pull}/reviews?per_page=100"),
                None,
            ),
            GitHubCall::ListPulls { head, base } => {
                let owner = repository.split('/').next().unwrap_or_default();
                (
                    "GET",
                    format!(
                        "{repo}/pulls?head={}&base={}&state=all&per_page=100",
                        encoded(&format!("{owner}:{head}")),
                        encoded(base)
                    ),
                    None,
                )
            }
            GitHubCall::OpenPull {
                title,
                head,
                base,
                body,
            } => (
                "POST",
                format!("{repo}/pulls"),
                Some(json!({ "title": title, "head": head, "base": base, "body": body })),
            ),
        };
        GitHubRequest {
            method: method.into(),
            path,
            body,
        }
    }
}

/// GitHub's answer: its status and JSON body (`null` when it sent none).
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl GitHubAnswer {
    /// A 2xx answer.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A `422 Unprocessable Entity` saying the thing exists already (a tag, a reference, a
    /// release or a pull request created by an earlier attempt). GitHub says it with the
    /// error code `already_exists`, or in words: in the message, or in an error's message
    /// (`A pull request already exists for owner:branch.`, code `custom`).
    pub fn already_exists(&self) -> bool {
        let says = |m: &Value| m.as_str().is_some_and(|m| m.contains("already exists"));
        self.status == 422
            && (self.body["errors"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|e| e["code"] == "already_exists" || says(&e["message"]))
            }) || says(&self.body["message"]))
    }

    /// The `number` of a created issue or pull request.
    pub fn number(&self) -> Option<u64> {
        self.body["number"].as_u64()
    }

    /// What GitHub said, for an error: its `message` or the status.
    pub fn describe(&self) -> String {
        match self.body["message"].as_str() {
            Some(message) => format!("HTTP {}: {message}", self.status),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// The hidden line that marks an issue shipgate opened as `what` of `release` (`ticket`,
/// `post-mortem`), so a call repeated after a crash finds the issue instead of opening a
/// second one.
pub fn marker(release: &str, what: &str) -> String {
    format!("<!-- shipgate:{release}:{what} -->")
}

/// The number of the issue among `answer` (a [`GitHubCall::ListIssues`] answer) whose body
/// carries `marker`.
pub fn issue_marked(answer: &GitHubAnswer, marker: &str) -> Option<u64> {
    answer
        .body
        .as_array()?
        .iter()
        .find(|issue| issue["body"].as_str().is_some_and(|b| b.contains(marker)))
        .and_then(|issue| issue["number"].as_u64())
}

/// Sends `call` (an [`GitHubCall::OpenIssue`]) with `marker` appended to its body, unless
/// an issue carrying its labels and `marker` exists already: then answers as if GitHub had
/// just opened that one (200, its `number`). If the issues cannot be listed, it opens one.
pub async fn open_issue_once(
    github: &dyn GitHub,
    marker: &str,
    call: GitHubCall,
) -> Result<GitHubAnswer, GitHubError> {
    let GitHubCall::OpenIssue {
        title,
        body,
        labels,
        assignees,
    } = call
    else {
        return github.call(&call).await;
    };
    let listed = github
        .call(&GitHubCall::ListIssues {
            labels: labels.clone(),
        })
        .await?;
    if let Some(number) = listed.ok().then(|| issue_marked(&listed, marker)).flatten() {
        return Ok(GitHubAnswer {
            status: 200,
            body: json!({ "number": number }),
        });
    }
    github
        .call(&GitHubCall::OpenIssue {
            title,
            body: format!("{body}\n{marker}\n"),
            labels,
            assignees,
        })
        .await
}

/// Why a call did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// GitHub could not be reached or did not answer in time.
    #[error("GitHub could not be reached")]
    Unreachable(#[source] BoxError),
}

/// GitHub's REST API: in production over HTTPS with the team's token, locally the outbox
/// (`<n>-github.json`) and a double that answers like GitHub.
/// Without a token, an adapter answers as GitHub answers an anonymous write: 401.
#[async_trait]
pub trait GitHub: Send + Sync {
    /// Sends `call` once and returns GitHub's answer, whatever its status: the caller
    /// decides what a 404, 409 or 422 means. A call that creates something is not
    /// idempotent: callers record what they created before going on.
    async fn call(&self, call: &GitHubCall) -> Result<GitHubAnswer, GitHubError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_put_file_when_requested_then_the_content_is_base64_and_the_sha_optional() {
        let call = GitHubCall::PutFile {
            path: "CHANGELOG.md".into(),
            branch: "main".into(),
            message: "docs: v1.3.0".into(),
            content: "# Changelog\n".into(),
            sha: None,
        };
        let request = call.request("acme/api");
        assert_eq!(request.method, "PUT");
        assert_eq!(request.path, "/repos/acme/api/contents/CHANGELOG.md");
        let body = request.body.unwrap();
        assert_eq!(body["content"], "IyBDaGFuZ2Vsb2cK");
        assert_eq!(body["branch"], "main");
        assert!(body.get("sha").is_none());
    }

    #[test]
    fn given_a_branch_with_odd_characters_when_read_then_the_path_is_encoded() {
        let request = GitHubCall::GetFile {
            path: "docs/CHANGE LOG.md".into(),
            branch: "release/v1.3.0&x".into(),
        }
        .request("acme/api");
        assert_eq!(
            request.path,
            "/repos/acme/api/contents/docs/CHANGE%20LOG.md?ref=release/v1.3.0%26x"
        );
        assert_eq!(request.body, None);
    }

    #[test]
    fn given_an_issue_closed_as_not_planned_when_requested_then_the_state_reason_is_named() {
        let request = GitHubCall::CloseIssue {
            issue: 7,
            reason: CloseReason::NotPlanned,
        }
        .request("acme/api");
        assert_eq!(request.method, "PATCH");
        assert_eq!(request.path, "/repos/acme/api/issues/7");
        assert_eq!(
            request.body,
            Some(json!({ "state": "closed", "state_reason": "not_planned" }))
        );
    }

    #[test]
    fn given_a_tag_created_before_when_github_answers_422_then_it_already_exists() {
        let answer = GitHubAnswer {
            status: 422,
            body: json!({ "message": "Reference already exists", "documentation_url": "https://docs.github.com/rest" }),
        };
        assert!(answer.already_exists());
        let release = GitHubAnswer {
            status: 422,
            body: json!({ "message": "Validation Failed", "errors": [{ "resource": "Release", "code": "already_exists", "field": "tag_name" }] }),
        };
        assert!(release.already_exists());
        let other = GitHubAnswer {
            status: 422,
            body: json!({ "message": "Validation Failed", "errors": [{ "code": "invalid" }] }),
        };
        assert!(!other.already_exists());
        assert_eq!(other.describe(), "HTTP 422: Validation Failed");
        let pull = GitHubAnswer {
            status: 422,
            body: json!({ "message": "Validation Failed", "errors": [{ "resource": "PullRequest", "code": "custom", "message": "A pull request already exists for acme:changelog/v1.3.0." }] }),
        };
        assert!(pull.already_exists());
    }
}
