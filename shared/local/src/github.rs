//! GitHub on one machine: [`GitHubWorld`], a repository as GitHub's REST API shows it
//! (branches, files, tags, releases, issues, pull requests), answering the requests shipgate
//! makes as GitHub documents them; and [`LocalGitHub`], the port's local adapter, which
//! keeps the world in `<data-dir>/github.json` and writes every call to the outbox as
//! `<n>-github.json` (`method`, `path`, `body`, and GitHub's `status` and `answer`).
//! The twin serves the same world over HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shipgate_core::github::{GitHub, GitHubAnswer, GitHubCall, GitHubError, GitHubRequest};

use crate::outbox::Outbox;

mod reports;

pub use reports::{CheckRun, CommitReports, CommitStatus, Review};

/// The changelog every branch starts with.
pub const SEED_CHANGELOG: &str = "# Changelog\n\nAll notable changes to this service are documented here.\n\n## [0.1.0] - 2026-01-05\n\n### Added\n\n- First release\n";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Issue {
    pub title: String,
    #[serde(default)]
    pub body: String,
    pub state: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
    #[serde(default)]
    pub comments: Vec<String>,
    #[serde(default)]
    pub state_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pull {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
}

/// One repository: what shipgate reads and writes on GitHub.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GitHubWorld {
    /// Branch → head commit.
    pub branches: BTreeMap<String, String>,
    /// `branch/path` → the file's text.
    pub files: BTreeMap<String, String>,
    /// Tag name → the commit it points to.
    pub tags: BTreeMap<String, String>,
    /// Tag names with a GitHub Release.
    pub releases: Vec<String>,
    pub issues: BTreeMap<u64, Issue>,
    pub pulls: Vec<Pull>,
    /// Merging `main` into `develop` conflicts.
    pub merge_conflicts: bool,
    /// Merges done, as `head→base`.
    pub merged: Vec<String>,
    /// What GitHub shows about commits: checks, statuses, reviews.
    #[serde(default)]
    pub reports: CommitReports,
    next_number: u64,
    next_object: u64,
}

impl Default for GitHubWorld {
    fn default() -> Self {
        let mut world = GitHubWorld {
            branches: BTreeMap::new(),
            files: BTreeMap::new(),
            tags: BTreeMap::new(),
            releases: Vec::new(),
            issues: BTreeMap::new(),
            pulls: Vec::new(),
            merge_conflicts: false,
            merged: Vec::new(),
            reports: CommitReports::default(),
            next_number: 1,
            next_object: 1,
        };
        for branch in ["main", "develop"] {
            let head = world.object();
            world.branches.insert(branch.into(), head);
            world
                .files
                .insert(format!("{branch}/CHANGELOG.md"), SEED_CHANGELOG.into());
        }
        world
    }
}

fn answer(status: u16, body: Value) -> GitHubAnswer {
    GitHubAnswer { status, body }
}

fn not_found() -> GitHubAnswer {
    answer(
        404,
        json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest" }),
    )
}

fn invalid(message: &str) -> GitHubAnswer {
    answer(
        422,
        json!({ "message": "Validation Failed", "errors": [{ "message": message, "code": "custom" }] }),
    )
}

/// A string field of a request body.
fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or_default()
}

/// Undoes the percent-encoding of a path segment.
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl GitHubWorld {
    /// A new object id (40 hexadecimal digits).
    fn object(&mut self) -> String {
        self.next_object += 1;
        format!("{:040x}", self.next_object * 0x9e37_79b9)
    }

    fn number(&mut self) -> u64 {
        self.next_number += 1;
        self.next_number - 1
    }

    fn blob_sha(text: &str) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .take(20)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// GitHub's answer to `request` on `repository`, changing the world as GitHub would.
    pub fn answer(&mut self, repository: &str, request: &GitHubRequest) -> GitHubAnswer {
        let prefix = format!("/repos/{repository}/");
        let Some(rest) = request.path.strip_prefix(&prefix) else {
            return not_found();
        };
        let (route, query) = rest.split_once('?').unwrap_or((rest, ""));
        let body = request.body.clone().unwrap_or(Value::Null);
        let parts: Vec<&str> = route.split('/').collect();
        if let Some(answer) = self
            .reports
            .answer(repository, &request.method, parts.as_slice())
        {
            return answer;
        }
        match (request.method.as_str(), parts.as_slice()) {
            ("POST", ["issues"]) => {
                if text(&body, "title").is_empty() {
                    return invalid("title is missing");
                }
                let number = self.number();
                let strings = |field: &str| -> Vec<String> {
                    body[field]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                self.issues.insert(
                    number,
                    Issue {
                        title: text(&body, "title").into(),
                        body: text(&body, "body").into(),
                        state: "open".into(),
                        labels: strings("labels"),
                        assignees: strings("assignees"),
                        comments: Vec::new(),
                        state_reason: None,
                    },
                );
                answer(
                    201,
                    json!({ "number": number, "state": "open", "html_url": format!("https://github.com/{repository}/issues/{number}") }),
                )
            }
            ("GET", ["issues"]) => {
                let wanted: Vec<String> = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("labels="))
                    .map(decoded)
                    .map(|l| {
                        l.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                let listed: Vec<Value> = self
                    .issues
                    .iter()
                    .rev()
                    .filter(|(_, i)| wanted.iter().all(|w| i.labels.contains(w)))
                    .take(100)
                    .map(|(n, i)| {
                        json!({
                            "number": n,
                            "title": i.title,
                            "body": i.body,
                            "state": i.state,
                            "labels": i.labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                answer(200, Value::Array(listed))
            }
            ("POST", ["issues", n, "comments"]) => {
                let id = self.next_object;
                match n.parse().ok().and_then(|n: u64| self.issues.get_mut(&n)) {
                    Some(issue) => {
                        issue.comments.push(text(&body, "body").into());
                        answer(201, json!({ "id": id }))
                    }
                    None => not_found(),
                }
            }
            ("GET", ["issues", n, "comments"]) => {
                match n.parse().ok().and_then(|n: u64| self.issues.get(&n)) {
                    Some(issue) => answer(
                        200,
                        Value::Array(
                            issue
                                .comments
                                .iter()
                                .take(100)
                                .enumerate()
                                .map(|(i, body)| json!({ "id": i + 1, "body": body }))
                                .collect(),
                        ),
                    ),
                    None => not_found(),
                }
            }
            ("PATCH", ["issues", n]) => {
                match n.parse().ok().and_then(|n: u64| self.issues.get_mut(&n)) {
                    Some(issue) => {
                        if let Some(state) = body["state"].as_str() {
                            issue.state = state.into();
                        }
                        issue.state_reason = body["state_reason"].as_str().map(String::from);
                        answer(
                            200,
                            json!({ "number": n.parse::<u64>().unwrap_or_default(), "state": issue.state }),
                        )
                    }
                    None => not_found(),
                }
            }
            ("POST", ["git", "tags"]) => {
                let sha = self.object();
                answer(
                    201,
                    json!({ "sha": sha, "tag": text(&body, "tag"), "object": { "sha": text(&body, "object"), "type": "commit" } }),
                )
            }
            ("POST", ["git", "refs"]) => {
                let name = text(&body, "ref").to_string();
                let sha = text(&body, "sha").to_string();
                if let Some(branch) = name.strip_prefix("refs/heads/") {
                    if self.branches.contains_key(branch) {
                        return invalid("Reference already exists");
                    }
                    // A branch from the head of the branch it names.
                    let from = self
                        .branches
                        .iter()
                        .find(|(_, head)| **head == sha)
                        .map(|(b, _)| b.clone());
                    if let Some(from) = from {
                        let copied: Vec<(String, String)> = self
                            .files
                            .iter()
                            .filter_map(|(k, v)| {
                                k.strip_prefix(&format!("{from}/"))
                                    .map(|p| (format!("{branch}/{p}"), v.clone()))
                            })
                            .collect();
                        self.files.extend(copied);
                    }
                    self.branches.insert(branch.into(), sha.clone());
                } else if let Some(tag) = name.strip_prefix("refs/tags/") {
                    if self.tags.contains_key(tag) {
                        return answer(422, json!({ "message": "Reference already exists" }));
                    }
                    self.tags.insert(tag.into(), sha.clone());
                } else {
                    return invalid("ref must start with refs/heads/ or refs/tags/");
                }
                answer(201, json!({ "ref": name, "object": { "sha": sha } }))
            }
            ("GET", ["git", "ref", "heads", branch @ ..]) => {
                let branch = decoded(&branch.join("/"));
                match self.branches.get(&branch) {
                    Some(sha) => answer(
                        200,
                        json!({ "ref": format!("refs/heads/{branch}"), "object": { "sha": sha, "type": "commit" } }),
                    ),
                    None => not_found(),
                }
            }
            ("POST", ["releases"]) => {
                let tag = text(&body, "tag_name").to_string();
                if self.releases.contains(&tag) {
                    return answer(
                        422,
                        json!({ "message": "Validation Failed", "errors": [{ "resource": "Release", "code": "already_exists", "field": "tag_name" }] }),
                    );
                }
                self.releases.push(tag.clone());
                answer(
                    201,
                    json!({ "tag_name": tag, "html_url": format!("https://github.com/{repository}/releases/tag/{tag}") }),
                )
            }
            ("GET", ["contents", path @ ..]) => {
                let branch = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("ref="))
                    .map(decoded)
                    .unwrap_or_else(|| "main".into());
                let path = decoded(&path.join("/"));
                if !self.branches.contains_key(&branch) {
                    return answer(
                        404,
                        json!({ "message": format!("No commit found for the ref {branch}") }),
                    );
                }
                match self.files.get(&format!("{branch}/{path}")) {
                    Some(content) => answer(
                        200,
                        json!({
                            "type": "file",
                            "encoding": "base64",
                            "path": path,
                            "sha": Self::blob_sha(content),
                            "content": base64::engine::general_purpose::STANDARD.encode(content),
                        }),
                    ),
                    None => not_found(),
                }
            }
            ("PUT", ["contents", path @ ..]) => {
                let path = decoded(&path.join("/"));
                let branch = text(&body, "branch").to_string();
                if !self.branches.contains_key(&branch) {
                    return not_found();
                }
                let key = format!("{branch}/{path}");
                let given = body["sha"].as_str();
                match (self.files.get(&key), given) {
                    (Some(_), None) => return invalid("\"sha\" wasn't supplied."),
                    (Some(current), Some(sha)) if Self::blob_sha(current) != sha => {
                        return answer(
                            409,
                            json!({ "message": format!("{path} does not match {sha}") }),
                        );
                    }
                    _ => {}
                }
                let Some(content) = body["content"]
                    .as_str()
                    .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                else {
                    return invalid("content is not valid Base64");
                };
                let created = !self.files.contains_key(&key);
                let sha = Self::blob_sha(&content);
                self.files.insert(key, content);
                let commit = self.object();
                self.branches.insert(branch, commit.clone());
                answer(
                    if created { 201 } else { 200 },
                    json!({ "content": { "path": path, "sha": sha }, "commit": { "sha": commit } }),
                )
            }
            ("POST", ["merges"]) => {
                let base = text(&body, "base").to_string();
                let head = text(&body, "head").to_string();
                let (Some(_), Some(head_sha)) =
                    (self.branches.get(&base), self.branches.get(&head).cloned())
                else {
                    return answer(404, json!({ "message": "Base or head does not exist" }));
                };
                if self.merge_conflicts {
                    return answer(409, json!({ "message": "Merge conflict" }));
                }
                let done = format!("{head}@{head_sha}→{base}");
                if self.merged.contains(&done) {
                    return answer(204, Value::Null);
                }
                self.merged.push(done);
                let sha = self.object();
                self.branches.insert(base, sha.clone());
                answer(
                    201,
                    json!({ "sha": sha, "commit": { "message": text(&body, "commit_message") } }),
                )
            }
            ("GET", ["pulls"]) => {
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                        .map(decoded)
                };
                // `head` is `owner:branch`.
                let head =
                    param("head").map(|h| h.rsplit(':').next().unwrap_or_default().to_string());
                let base = param("base");
                let listed: Vec<Value> = self
                    .pulls
                    .iter()
                    .rev()
                    .filter(|p| head.as_ref().is_none_or(|h| *h == p.head))
                    .filter(|p| base.as_ref().is_none_or(|b| *b == p.base))
                    .map(|p| {
                        json!({
                            "number": p.number,
                            "title": p.title,
                            "state": "open",
                            "head": { "ref": p.head },
                            "base": { "ref": p.base },
                        })
                    })
                    .collect();
                answer(200, Value::Array(listed))
            }
            ("POST", ["pulls"]) => {
                let head = text(&body, "head").to_string();
                let base = text(&body, "base").to_string();
                if !self.branches.contains_key(&head) || !self.branches.contains_key(&base) {
                    return invalid("head or base does not exist");
                }
                if self.pulls.iter().any(|p| p.head == head && p.base == base) {
                    return invalid(&format!("A pull request already exists for {head}."));
                }
                let number = self.number();
                self.pulls.push(Pull {
                    number,
                    head,
                    base,
                    title: text(&body, "title").into(),
                });
                answer(
                    201,
                    json!({ "number": number, "html_url": format!("https://github.com/{repository}/pull/{number}") }),
                )
            }
            _ => not_found(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalGitHubError {
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a GitHub world")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The GitHub port on one machine (see the module documentation).
pub struct LocalGitHub {
    repository: String,
    world_file: PathBuf,
    outbox: Outbox,
    lock: Mutex<()>,
}

impl LocalGitHub {
    /// The world of `repository` kept in `world_file`; calls written to `outbox`.
    pub fn new(repository: &str, world_file: impl Into<PathBuf>, outbox: Outbox) -> Self {
        Self {
            repository: repository.into(),
            world_file: world_file.into(),
            outbox,
            lock: Mutex::new(()),
        }
    }

    /// The world as stored (the seeded one before any call).
    pub fn world(path: &Path) -> Result<GitHubWorld, LocalGitHubError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| LocalGitHubError::Parse {
                path: path.to_path_buf(),
                source,
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(GitHubWorld::default()),
            Err(source) => Err(LocalGitHubError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Stores `world` (atomically: a temporary file, then a rename).
    pub fn save_world(path: &Path, world: &GitHubWorld) -> Result<(), LocalGitHubError> {
        let io = |source| LocalGitHubError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec_pretty(world).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    fn answer(&self, request: &GitHubRequest) -> Result<GitHubAnswer, LocalGitHubError> {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut world = Self::world(&self.world_file)?;
        let answer = world.answer(&self.repository, request);
        Self::save_world(&self.world_file, &world)?;
        Ok(answer)
    }
}

#[async_trait]
impl GitHub for LocalGitHub {
    async fn call(&self, call: &GitHubCall) -> Result<GitHubAnswer, GitHubError> {
        let request = call.request(&self.repository);
        let answer = self
            .answer(&request)
            .map_err(|e| GitHubError::Unreachable(Box::new(e)))?;
        let record = json!({
            "channel": "github",
            "method": request.method,
            "path": request.path,
            "body": request.body,
            "status": answer.status,
            "answer": answer.body,
        });
        self.outbox
            .write_record("github", &record)
            .map_err(|e| GitHubError::Unreachable(Box::new(e)))?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(world: &mut GitHubWorld, call: GitHubCall) -> GitHubAnswer {
        world.answer("acme/api", &call.request("acme/api"))
    }

    #[test]
    fn given_a_tag_when_created_twice_then_github_says_it_already_exists() {
        let mut world = GitHubWorld::default();
        let tag = call(
            &mut world,
            GitHubCall::CreateTag {
                tag: "v1.3.0".into(),
                message: "Release v1.3.0".into(),
                commit: "c".repeat(40),
            },
        );
        assert_eq!(tag.status, 201);
        let sha = tag.body["sha"].as_str().unwrap().to_string();
        let reference = GitHubCall::CreateRef {
            name: "refs/tags/v1.3.0".into(),
            sha,
        };
        assert_eq!(call(&mut world, reference.clone()).status, 201);
        assert!(call(&mut world, reference).already_exists());
    }

    #[test]
    fn given_a_file_when_written_with_a_stale_sha_then_it_conflicts_and_with_the_right_one_it_lands()
     {
        let mut world = GitHubWorld::default();
        let read = call(
            &mut world,
            GitHubCall::GetFile {
                path: "CHANGELOG.md".into(),
                branch: "main".into(),
            },
        );
        assert_eq!(read.status, 200);
        let sha = read.body["sha"].as_str().unwrap().to_string();
        let put = |sha: Option<String>| GitHubCall::PutFile {
            path: "CHANGELOG.md".into(),
            branch: "main".into(),
            message: "docs".into(),
            content: "# Changelog\n".into(),
            sha,
        };
        assert_eq!(call(&mut world, put(Some("0".repeat(40)))).status, 409);
        assert_eq!(call(&mut world, put(None)).status, 422);
        assert_eq!(call(&mut world, put(Some(sha))).status, 200);
        assert_eq!(world.files["main/CHANGELOG.md"], "# Changelog\n");
    }

    #[test]
    fn given_main_merged_into_develop_when_merged_again_then_there_is_nothing_to_merge() {
        let mut world = GitHubWorld::default();
        let merge = || GitHubCall::Merge {
            base: "develop".into(),
            head: "main".into(),
            message: "Merge main into develop".into(),
        };
        assert_eq!(call(&mut world, merge()).status, 201);
        assert_eq!(call(&mut world, merge()).status, 204);
        world.merge_conflicts = true;
        assert_eq!(call(&mut world, merge()).status, 409);
    }

    #[test]
    fn given_comments_and_a_pull_when_listed_then_a_repeated_call_can_find_what_it_made() {
        let mut world = GitHubWorld::default();
        let opened = call(
            &mut world,
            GitHubCall::OpenIssue {
                title: "Release".into(),
                body: "ticket".into(),
                labels: vec![],
                assignees: vec![],
            },
        );
        let issue = opened.number().unwrap();
        call(
            &mut world,
            GitHubCall::Comment {
                issue,
                body: "part\n<!-- marker -->".into(),
            },
        );
        let comments = call(&mut world, GitHubCall::ListComments { issue });
        assert_eq!(comments.status, 200);
        assert_eq!(comments.body[0]["body"], "part\n<!-- marker -->");
        let pull = GitHubCall::OpenPull {
            title: "Merge main into develop".into(),
            head: "main".into(),
            base: "develop".into(),
            body: String::new(),
        };
        let number = call(&mut world, pull.clone()).number().unwrap();
        let again = call(&mut world, pull);
        assert!(again.already_exists(), "{}", again.body);
        let listed = call(
            &mut world,
            GitHubCall::ListPulls {
                head: "main".into(),
                base: "develop".into(),
            },
        );
        assert_eq!(listed.body[0]["number"], number);
        let none = call(
            &mut world,
            GitHubCall::ListPulls {
                head: "main".into(),
                base: "release".into(),
            },
        );
        assert_eq!(none.body, serde_json::json!([]));
    }

    #[test]
    fn given_an_unknown_issue_when_commented_then_it_is_not_found() {
        let mut world = GitHubWorld::default();
        let comment = GitHubCall::Comment {
            issue: 9,
            body: "hello".into(),
        };
        assert_eq!(call(&mut world, comment).status, 404);
        let request = GitHubRequest {
            method: "DELETE".into(),
            path: "/repos/acme/api/issues/1".into(),
            body: None,
        };
        assert_eq!(world.answer("acme/api", &request).status, 404);
        assert_eq!(
            world
                .answer(
                    "other/repo",
                    &GitHubCall::GetBranch {
                        branch: "main".into()
                    }
                    .request("acme/api")
                )
                .status,
            404,
            "another repository is not this one"
        );
    }

    #[tokio::test]
    async fn given_calls_when_made_locally_then_each_is_a_github_file_in_the_outbox_and_the_world_is_kept()
     {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox"));
        let github = LocalGitHub::new("acme/api", dir.path().join("github.json"), outbox);
        let opened = github
            .call(&GitHubCall::OpenIssue {
                title: "Release v1.3.0".into(),
                body: "text".into(),
                labels: vec!["release".into()],
                assignees: vec![],
            })
            .await
            .unwrap();
        assert_eq!(opened.number(), Some(1));
        // Another process sees the same world.
        let again = LocalGitHub::new(
            "acme/api",
            dir.path().join("github.json"),
            Outbox::new(dir.path().join("outbox")),
        );
        let second = again
            .call(&GitHubCall::OpenIssue {
                title: "Release v1.4.0".into(),
                body: "text".into(),
                labels: vec![],
                assignees: vec![],
            })
            .await
            .unwrap();
        assert_eq!(second.number(), Some(2));
        let listed = again
            .call(&GitHubCall::ListIssues {
                labels: vec!["release".into()],
            })
            .await
            .unwrap();
        assert_eq!(listed.status, 200);
        let numbers: Vec<u64> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["number"].as_u64())
            .collect();
        assert_eq!(numbers, vec![1], "only the issue carrying the label");
        let records = Outbox::read_records(&dir.path().join("outbox"), "github").unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0]["method"], "POST");
        assert_eq!(records[0]["path"], "/repos/acme/api/issues");
        assert_eq!(records[0]["body"]["title"], "Release v1.3.0");
        assert_eq!(records[1]["answer"]["number"], 2);
        assert!(
            Outbox::read_all(&dir.path().join("outbox"))
                .unwrap()
                .is_empty(),
            "GitHub calls are not notifications"
        );
    }
}
