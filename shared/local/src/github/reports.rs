//! What GitHub shows about a commit, for the evidence read before approval: its check
//! runs, its commit statuses, the pull request that brought it and that pull request's
//! reviews. Scenarios (and a person trying shipgate locally) write them; shipgate only reads
//! them, as it reads GitHub's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shipgate_core::github::GitHubAnswer;

/// One run of a check on a commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// Once completed: `success`, `failure`, `neutral`, `cancelled`, `skipped`,
    /// `timed_out` or `action_required`.
    #[serde(default)]
    pub conclusion: Option<String>,
}

/// One commit status (the older API CI systems report through).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommitStatus {
    pub context: String,
    /// `success`, `pending`, `failure` or `error`.
    pub state: String,
    #[serde(default)]
    pub description: String,
}

/// A review of a pull request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Review {
    pub user: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED` or `DISMISSED`.
    pub state: String,
}

/// The reports on every commit GitHub knows of.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CommitReports {
    /// Commit → its check runs, oldest first.
    #[serde(default)]
    pub check_runs: BTreeMap<String, Vec<CheckRun>>,
    /// Commit → its statuses, oldest first.
    #[serde(default)]
    pub statuses: BTreeMap<String, Vec<CommitStatus>>,
    /// Commit → the number of the merged pull request that brought it.
    #[serde(default)]
    pub brought_by: BTreeMap<String, u64>,
    /// Pull request → its reviews, oldest first.
    #[serde(default)]
    pub reviews: BTreeMap<u64, Vec<Review>>,
    /// Commit → its parents (a merge's second parent is the merged branch's head).
    #[serde(default)]
    pub parents: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    next_id: u64,
}

/// Pull requests merged before shipgate watched the repository are numbered from here, so
/// they never take the numbers of the issues and pull requests shipgate opens.
const FIRST_MERGED_PULL: u64 = 900;

impl CommitReports {
    /// A check run of `name` on `commit`: `conclusion` `None` while it runs.
    pub fn run(&mut self, commit: &str, name: &str, conclusion: Option<&str>) {
        self.next_id += 1;
        let run = CheckRun {
            id: 7_000_000 + self.next_id,
            name: name.into(),
            status: if conclusion.is_some() {
                "completed"
            } else {
                "in_progress"
            }
            .into(),
            conclusion: conclusion.map(String::from),
        };
        self.check_runs
            .entry(commit.to_ascii_lowercase())
            .or_default()
            .push(run);
    }

    /// A commit status of `context` on `commit`.
    pub fn status(&mut self, commit: &str, context: &str, state: &str, description: &str) {
        self.statuses
            .entry(commit.to_ascii_lowercase())
            .or_default()
            .push(CommitStatus {
                context: context.into(),
                state: state.into(),
                description: description.into(),
            });
    }

    /// A pull request that brought `commit`, merged, approved by `approvers`; its number.
    pub fn merged_pull(&mut self, commit: &str, approvers: &[&str]) -> u64 {
        let number = FIRST_MERGED_PULL + u64::try_from(self.brought_by.len()).unwrap_or(0);
        self.brought_by.insert(commit.to_ascii_lowercase(), number);
        self.reviews.insert(
            number,
            approvers
                .iter()
                .map(|who| Review {
                    user: (*who).into(),
                    state: "APPROVED".into(),
                })
                .collect(),
        );
        number
    }

    /// `commit` merges `merged` (a branch's head) into `first`.
    pub fn merge(&mut self, commit: &str, first: &str, merged: &str) {
        self.parents.insert(
            commit.to_ascii_lowercase(),
            vec![first.to_ascii_lowercase(), merged.to_ascii_lowercase()],
        );
    }

    /// GitHub's answer to a read of these reports, or `None` when `route` is not one.
    pub fn answer(&self, repository: &str, method: &str, route: &[&str]) -> Option<GitHubAnswer> {
        let ok = |body| Some(GitHubAnswer { status: 200, body });
        match (method, route) {
            ("GET", ["commits", sha]) => {
                let parents: Vec<Value> = self
                    .parents
                    .get(&sha.to_ascii_lowercase())
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| json!({ "sha": p, "html_url": format!("https://github.com/{repository}/commit/{p}") }))
                    .collect();
                ok(json!({
                    "sha": sha,
                    "html_url": format!("https://github.com/{repository}/commit/{sha}"),
                    "parents": parents,
                }))
            }
            ("GET", ["commits", sha, "check-runs"]) => {
                // `filter=latest`: the newest run of each name.
                let mut latest: Vec<&CheckRun> = Vec::new();
                let all = self.check_runs.get(&sha.to_ascii_lowercase());
                for run in all.map(Vec::as_slice).unwrap_or_default().iter().rev() {
                    if !latest.iter().any(|r| r.name == run.name) {
                        latest.push(run);
                    }
                }
                let runs: Vec<Value> = latest
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id,
                            "name": r.name,
                            "head_sha": sha,
                            "status": r.status,
                            "conclusion": r.conclusion,
                            "html_url": format!("https://github.com/{repository}/runs/{}", r.id),
                            "details_url": format!("https://ci.example.com/{}/{}", r.name, r.id),
                        })
                    })
                    .collect();
                ok(json!({ "total_count": runs.len(), "check_runs": runs }))
            }
            ("GET", ["commits", sha, "status"]) => {
                let mut latest: Vec<&CommitStatus> = Vec::new();
                let all = self.statuses.get(&sha.to_ascii_lowercase());
                for status in all.map(Vec::as_slice).unwrap_or_default().iter().rev() {
                    if !latest.iter().any(|s| s.context == status.context) {
                        latest.push(status);
                    }
                }
                let state = if latest
                    .iter()
                    .any(|s| s.state == "failure" || s.state == "error")
                {
                    "failure"
                } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
                    "pending"
                } else {
                    "success"
                };
                let statuses: Vec<Value> = latest
                    .iter()
                    .map(|s| {
                        json!({
                            "context": s.context,
                            "state": s.state,
                            "description": s.description,
                            "target_url": format!("https://ci.example.com/{}/{sha}", s.context),
                        })
                    })
                    .collect();
                ok(
                    json!({ "state": state, "sha": sha, "total_count": statuses.len(), "statuses": statuses }),
                )
            }
            ("GET", ["commits", sha, "pulls"]) => {
                let pulls: Vec<Value> = self
                    .brought_by
                    .get(&sha.to_ascii_lowercase())
                    .map(|n| {
                        vec![json!({
                            "number": n,
                            "state": "closed",
                            "merged_at": "2026-03-10T08:30:00Z",
                            "html_url": format!("https://github.com/{repository}/pull/{n}"),
                        })]
                    })
                    .unwrap_or_default();
                ok(Value::Array(pulls))
            }
            ("GET", ["pulls", n, "reviews"]) => {
                let number: u64 = n.parse().ok()?;
                let reviews: Vec<Value> = self
                    .reviews
                    .get(&number)?
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        json!({
                            "id": 80_000 + i,
                            "user": { "login": r.user },
                            "state": r.state,
                            "submitted_at": "2026-03-10T08:00:00Z",
                        })
                    })
                    .collect();
                ok(Value::Array(reviews))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use shipgate_core::github::GitHubCall;

    use crate::github::GitHubWorld;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn read(world: &mut GitHubWorld, call: GitHubCall) -> serde_json::Value {
        let answer = world.answer("acme/api", &call.request("acme/api"));
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    #[test]
    fn given_reruns_when_check_runs_are_read_then_the_newest_run_of_each_check_is_shown() {
        let mut world = GitHubWorld::default();
        world.reports.run(SHA, "snyk", Some("failure"));
        world.reports.run(SHA, "tests", None);
        world.reports.run(SHA, "snyk", Some("success"));
        let body = read(&mut world, GitHubCall::CheckRuns { commit: SHA.into() });
        assert_eq!(body["total_count"], 2);
        let runs = body["check_runs"].as_array().unwrap();
        let snyk = runs.iter().find(|r| r["name"] == "snyk").unwrap();
        assert_eq!(snyk["conclusion"], "success");
        assert_eq!(snyk["status"], "completed");
        let tests = runs.iter().find(|r| r["name"] == "tests").unwrap();
        assert_eq!(tests["status"], "in_progress");
        assert!(tests["conclusion"].is_null());
        assert!(
            snyk["html_url"]
                .as_str()
                .unwrap()
                .starts_with("https://github.com/acme/api/runs/")
        );
        // A commit nothing reported on has no runs, as GitHub answers.
        let other = read(
            &mut world,
            GitHubCall::CheckRuns {
                commit: "f".repeat(40),
            },
        );
        assert_eq!(other["total_count"], 0);
    }

    #[test]
    fn given_statuses_when_the_combined_status_is_read_then_it_fails_on_any_failure_and_keeps_the_newest()
     {
        let mut world = GitHubWorld::default();
        let combined = |world: &mut GitHubWorld| {
            read(world, GitHubCall::CombinedStatus { commit: SHA.into() })
        };
        assert_eq!(combined(&mut world)["state"], "pending");
        world.reports.status(SHA, "perf", "pending", "running");
        world.reports.status(SHA, "perf", "success", "p99 ok");
        assert_eq!(combined(&mut world)["state"], "success");
        world.reports.status(SHA, "lint", "error", "crashed");
        let body = combined(&mut world);
        assert_eq!(body["state"], "failure");
        assert_eq!(body["total_count"], 2);
    }

    #[test]
    fn given_a_merged_pull_when_read_then_it_brought_the_commit_and_carries_its_reviews() {
        let mut world = GitHubWorld::default();
        let number = world.reports.merged_pull(SHA, &["ana", "bo"]);
        let pulls = read(&mut world, GitHubCall::PullsOfCommit { commit: SHA.into() });
        assert_eq!(pulls[0]["number"], number);
        assert!(!pulls[0]["merged_at"].is_null());
        let reviews = read(&mut world, GitHubCall::Reviews { pull: number });
        let logins: Vec<&str> = reviews
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["user"]["login"].as_str().unwrap())
            .collect();
        assert_eq!(logins, ["ana", "bo"]);
        // The pull requests shipgate opens keep their own numbers.
        assert_ne!(number, 1);
        let unknown = world.answer(
            "acme/api",
            &GitHubCall::Reviews { pull: 5 }.request("acme/api"),
        );
        assert_eq!(unknown.status, 404);
    }

    #[test]
    fn given_a_merge_when_its_commit_is_read_then_the_merged_head_is_its_second_parent() {
        let mut world = GitHubWorld::default();
        let (main, head) = ("a".repeat(40), "b".repeat(40));
        world.reports.merge(SHA, &main, &head);
        let commit = read(&mut world, GitHubCall::GetCommit { commit: SHA.into() });
        assert_eq!(commit["sha"], SHA);
        assert_eq!(commit["parents"][0]["sha"], main.as_str());
        assert_eq!(commit["parents"][1]["sha"], head.as_str());
        // A commit the world knows nothing of has no parents recorded.
        let other = read(&mut world, GitHubCall::GetCommit { commit: head });
        assert_eq!(other["parents"], serde_json::json!([]));
    }
}
