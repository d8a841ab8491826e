//! What the procedure leaves on GitHub once a release has ended (§2 Steps 3 and 5, §4):
//! after a success, the CHANGELOG entry, the annotated tag `vX.Y.Z`, the GitHub Release
//! whose notes are the `#releases` announcement, and `main` merged back into `develop`
//! (a pull request when they conflict); after a rollback or a failure once deployed, a
//! post-mortem issue; in every case the release ticket closed with the outcome.
//!
//! Each step is recorded on the release when done, so the flow may run this again after a
//! crash or a retry: what is done is not done twice, and GitHub's "already exists" counts
//! as done. GitHub unreachable or failing (5xx, 429) is [`GateError::Unavailable`], for
//! the flow to retry; a refusal (403, 404, 422 …) is noted on the release's timeline and
//! the other steps go on.

use base64::Engine as _;

use crate::config::{ChangelogMode, GitHubConfig};
use crate::deps::Deps;
use crate::error::GateError;
use crate::github::{GitHubAnswer, GitHubCall};
use crate::messages;
use crate::model::{Contribution, EventKind, Release, ReleaseId, ReleaseState};
use crate::ticket;

/// How one step went.
enum Step {
    /// Done, with what to record.
    Done(Option<String>),
    /// GitHub refused it: why, for the timeline.
    Refused(String),
}

/// Sends `call`; a transient failure is an error for the flow to retry.
async fn send(deps: &Deps, call: &GitHubCall) -> Result<GitHubAnswer, GateError> {
    answered(deps.github.call(call).await)
}

/// Opens the post-mortem of `release` once, whatever happens between GitHub's answer and
/// its record.
async fn open_postmortem(
    deps: &Deps,
    release: &Release,
    call: GitHubCall,
) -> Result<GitHubAnswer, GateError> {
    let marker = crate::github::marker(release.id.as_str(), "post-mortem");
    answered(crate::github::open_issue_once(deps.github.as_ref(), &marker, call).await)
}

/// GitHub's answer; unreachable, 5xx or 429 as [`GateError::Unavailable`].
pub(crate) fn answered(
    sent: Result<GitHubAnswer, crate::github::GitHubError>,
) -> Result<GitHubAnswer, GateError> {
    let answer = sent.map_err(|err| GateError::Unavailable {
        what: "GitHub".into(),
        source: Box::new(err),
    })?;
    if answer.status >= 500 || answer.status == 429 {
        return Err(GateError::Unavailable {
            what: "GitHub".into(),
            source: answer.describe().into(),
        });
    }
    Ok(answer)
}

/// Records on GitHub what the end of release `id` calls for; see the module documentation.
pub async fn record(deps: &Deps, id: &ReleaseId) -> Result<Release, GateError> {
    let mut release = deps.load(id).await?;
    let Some(github) = deps.config.github.clone() else {
        return Ok(release);
    };
    if !release.state.is_terminal() {
        return Err(crate::error::wrong_state(
            &release,
            "GitHub is told once the release has ended",
        ));
    }
    let mut steps: Vec<&str> = Vec::new();
    if release.state == ReleaseState::Succeeded {
        if github.changelog != ChangelogMode::Off {
            steps.push("changelog");
        }
        steps.extend(["tag", "release", "merge-back"]);
    } else if release.deploy_started_at.is_some() {
        steps.push("post-mortem");
    }
    for step in steps {
        if release.github.did(step) {
            continue;
        }
        let outcome = match step {
            "changelog" => changelog(deps, &github, &release).await?,
            "tag" => tag(deps, &release).await?,
            "release" => github_release(deps, &release).await?,
            "merge-back" => merge_back(deps, &github, &release).await?,
            _ => postmortem(deps, &github, &release).await?,
        };
        shipgate_crash::point("github.step-made");
        let now = deps.now();
        release = deps
            .record(release, |r| match &outcome {
                Step::Done(detail) => {
                    if !r.github.did(step) {
                        r.github.done.push(step.to_string());
                        match step {
                            "merge-back" => r.github.merge_back = detail.clone(),
                            "post-mortem" => {
                                r.github.postmortem = detail.as_deref().and_then(|d| d.parse().ok())
                            }
                            "changelog" => {
                                r.github.changelog_pull =
                                    detail.as_deref().and_then(|d| d.parse().ok())
                            }
                            _ => {}
                        }
                        r.note(
                            now,
                            "github",
                            EventKind::Recorded,
                            done_detail(step, r, detail),
                        );
                    }
                }
                Step::Refused(why) => r.note(
                    now,
                    "github",
                    EventKind::Recorded,
                    format!("GitHub refused the {step}: {why}"),
                ),
            })
            .await?;
    }
    if let Some(how) = release
        .github
        .merge_back
        .as_deref()
        .filter(|how| how.starts_with("conflict"))
    {
        // The announcement went out before GitHub was told: say what is left to a person.
        let text = format!(
            "⚠️ After v{}, {} could not be merged back into {}: {how}.",
            release.semver, deps.config.web.branch, github.develop_branch
        );
        let message = messages::channel_post(&deps.config, &release, text);
        deps.notifier
            .send_once(&format!("{}/merge-back-conflict", release.id), &message)
            .await?;
    }
    Ok(ticket::close(deps, release).await)
}

fn done_detail(step: &str, release: &Release, detail: &Option<String>) -> String {
    let version = &release.semver;
    match (step, detail) {
        ("changelog", Some(pull)) => {
            format!("CHANGELOG entry for v{version} in pull request #{pull}")
        }
        ("changelog", None) => format!("CHANGELOG entry for v{version} committed"),
        ("tag", _) => format!("tagged v{version}"),
        ("release", _) => format!("GitHub Release v{version} published"),
        ("merge-back", Some(how)) => format!("main into develop: {how}"),
        ("post-mortem", Some(issue)) => format!("post-mortem opened: issue #{issue}"),
        (step, _) => format!("{step} done"),
    }
}

fn tag_name(release: &Release) -> String {
    format!("v{}", release.semver)
}

/// The annotated tag, then its reference (`git tag -a vX.Y.Z`, `git push --tags`).
async fn tag(deps: &Deps, release: &Release) -> Result<Step, GateError> {
    let name = tag_name(release);
    let object = send(
        deps,
        &GitHubCall::CreateTag {
            tag: name.clone(),
            message: format!("Release {name}"),
            commit: release.commit.clone(),
        },
    )
    .await?;
    if !object.ok() {
        return Ok(Step::Refused(object.describe()));
    }
    let Some(sha) = object.body["sha"].as_str() else {
        return Ok(Step::Refused("the tag object has no sha".into()));
    };
    let reference = send(
        deps,
        &GitHubCall::CreateRef {
            name: format!("refs/tags/{name}"),
            sha: sha.to_string(),
        },
    )
    .await?;
    Ok(if reference.ok() || reference.already_exists() {
        Step::Done(None)
    } else {
        Step::Refused(reference.describe())
    })
}

/// The GitHub Release: the `#releases` announcement as its notes (§6).
async fn github_release(deps: &Deps, release: &Release) -> Result<Step, GateError> {
    let notes = messages::outcome(&deps.config, release)
        .first()
        .map(|m| m.text().to_string())
        .unwrap_or_default();
    let answer = send(
        deps,
        &GitHubCall::CreateRelease {
            tag: tag_name(release),
            name: tag_name(release),
            body: notes,
        },
    )
    .await?;
    Ok(if answer.ok() || answer.already_exists() {
        Step::Done(None)
    } else {
        Step::Refused(answer.describe())
    })
}

/// `main` back into `develop` (Step 5); a conflict opens a pull request for a person.
async fn merge_back(
    deps: &Deps,
    github: &GitHubConfig,
    release: &Release,
) -> Result<Step, GateError> {
    let main = deps.config.web.branch.clone();
    let develop = github.develop_branch.clone();
    let title = format!("Merge {main} into {develop} after {}", tag_name(release));
    let merge = send(
        deps,
        &GitHubCall::Merge {
            base: develop.clone(),
            head: main.clone(),
            message: title.clone(),
        },
    )
    .await?;
    match merge.status {
        201 => Ok(Step::Done(Some("merged".into()))),
        // Nothing to merge: develop has main already. A merge repeated after the process
        // was killed between GitHub's answer and its record answers so too, and the
        // timeline tells the same story either way.
        204 => Ok(Step::Done(Some("merged".into()))),
        409 => {
            let pull = send(
                deps,
                &GitHubCall::OpenPull {
                    title,
                    head: main.clone(),
                    base: develop.clone(),
                    body: format!(
                        "Merging `{main}` into `{develop}` after {} conflicts: resolve the conflicts and merge.",
                        tag_name(release)
                    ),
                },
            )
            .await?;
            let number = match pull.number() {
                Some(n) => Some(n),
                None if pull.already_exists() => open_pull(deps, &main, &develop).await?,
                None => {
                    return Ok(Step::Refused(format!(
                        "merge conflict, and {}",
                        pull.describe()
                    )));
                }
            };
            Ok(Step::Done(Some(match number {
                Some(n) => format!("conflict; pull request #{n} opened to resolve it"),
                None => "conflict; a pull request to resolve it is open".into(),
            })))
        }
        _ => Ok(Step::Refused(merge.describe())),
    }
}

/// The CHANGELOG entry in the Keep a Changelog shape, dated the day of the deploy.
pub fn changelog_entry(release: &Release) -> String {
    let day = release
        .finished_at
        .or(release.deploy_started_at)
        .unwrap_or(release.updated_at)
        .format("%Y-%m-%d");
    let mut entry = format!("## [{}] - {day}\n", release.semver);
    for (heading, items) in [
        ("Added", &release.changelog.features),
        ("Fixed", &release.changelog.fixes),
    ] {
        if !items.is_empty() {
            entry.push_str(&format!("\n### {heading}\n\n"));
            for item in items {
                entry.push_str(&format!("- {item}\n"));
            }
        }
    }
    entry
}

/// `existing` with `entry` inserted above the newest entry (after the title and its
/// introduction); `None` when it already holds the version.
pub fn with_entry(existing: Option<&str>, release: &Release, entry: &str) -> Option<String> {
    let Some(text) = existing else {
        return Some(format!("# Changelog\n\n{entry}"));
    };
    let marker = format!("## [{}]", release.semver);
    if text.lines().any(|l| l.starts_with(&marker)) {
        return None;
    }
    let at = text
        .match_indices("\n## ")
        .next()
        .map(|(i, _)| i + 1)
        .or_else(|| text.starts_with("## ").then_some(0));
    Some(match at {
        Some(i) => format!("{}{entry}\n{}", &text[..i], &text[i..]),
        None => format!("{}\n\n{entry}", text.trim_end()),
    })
}

/// The file's text and blob SHA from a contents answer (base64 with line breaks).
fn file_of(answer: &GitHubAnswer) -> Option<(String, String)> {
    let encoded: String = answer.body["content"]
        .as_str()?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some((
        String::from_utf8(bytes).ok()?,
        answer.body["sha"].as_str()?.to_string(),
    ))
}

/// The CHANGELOG entry (Step 3): on a branch with a pull request, or on the main branch.
async fn changelog(
    deps: &Deps,
    github: &GitHubConfig,
    release: &Release,
) -> Result<Step, GateError> {
    let main = deps.config.web.branch.clone();
    let branch = match github.changelog {
        ChangelogMode::Direct | ChangelogMode::Off => main.clone(),
        ChangelogMode::PullRequest => {
            let branch = format!("changelog/{}", tag_name(release));
            let head = send(
                deps,
                &GitHubCall::GetBranch {
                    branch: main.clone(),
                },
            )
            .await?;
            let Some(sha) = head.body["object"]["sha"].as_str().filter(|_| head.ok()) else {
                return Ok(Step::Refused(format!(
                    "reading {main}: {}",
                    head.describe()
                )));
            };
            let created = send(
                deps,
                &GitHubCall::CreateRef {
                    name: format!("refs/heads/{branch}"),
                    sha: sha.to_string(),
                },
            )
            .await?;
            if !created.ok() && !created.already_exists() {
                return Ok(Step::Refused(created.describe()));
            }
            branch
        }
    };
    let path = github.changelog_path.clone();
    let current = send(
        deps,
        &GitHubCall::GetFile {
            path: path.clone(),
            branch: branch.clone(),
        },
    )
    .await?;
    let existing = match current.status {
        200 => match file_of(&current) {
            Some(file) => Some(file),
            None => return Ok(Step::Refused(format!("{path} is not a text file"))),
        },
        404 => None,
        _ => return Ok(Step::Refused(current.describe())),
    };
    let entry = changelog_entry(release);
    if let Some(text) = with_entry(existing.as_ref().map(|(t, _)| t.as_str()), release, &entry) {
        let put = send(
            deps,
            &GitHubCall::PutFile {
                path: path.clone(),
                branch: branch.clone(),
                message: format!("docs: changelog for {}", tag_name(release)),
                content: text,
                sha: existing.map(|(_, sha)| sha),
            },
        )
        .await?;
        if !put.ok() {
            return Ok(Step::Refused(put.describe()));
        }
    }
    if github.changelog != ChangelogMode::PullRequest {
        return Ok(Step::Done(None));
    }
    let branch_name = branch.clone();
    let pull = send(
        deps,
        &GitHubCall::OpenPull {
            title: format!("Changelog for {}", tag_name(release)),
            head: branch,
            base: main.clone(),
            body: entry,
        },
    )
    .await?;
    Ok(match pull.number() {
        Some(n) => Step::Done(Some(n.to_string())),
        None if pull.already_exists() => Step::Done(
            open_pull(deps, &branch_name, &main)
                .await?
                .map(|n| n.to_string()),
        ),
        None => Step::Refused(pull.describe()),
    })
}

/// The number of the pull request from `head` into `base` opened earlier (by a call
/// repeated after the process was killed), if GitHub lists one.
async fn open_pull(deps: &Deps, head: &str, base: &str) -> Result<Option<u64>, GateError> {
    let listed = send(
        deps,
        &GitHubCall::ListPulls {
            head: head.to_string(),
            base: base.to_string(),
        },
    )
    .await?;
    Ok(listed
        .ok()
        .then(|| {
            listed
                .body
                .as_array()
                .and_then(|p| p.first()?["number"].as_u64())
        })
        .flatten())
}

/// What made the release roll back or fail: the first move into `RollingBack` (who or what,
/// and why), else the outcome.
pub fn what_fired(release: &Release) -> String {
    release
        .events
        .iter()
        .find(|e| e.to == Some(ReleaseState::RollingBack))
        .map(|e| format!("{}: {}", e.actor, e.detail))
        .or_else(|| release.outcome.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// The post-mortem's text (§4, "Post-mortem if issues occurred").
pub fn postmortem_body(deps: &Deps, release: &Release) -> String {
    let config = &deps.config;
    let family = |td: &Option<String>| {
        td.as_deref()
            .map(|t| format!("`{}`", messages::family_revision(t)))
            .unwrap_or_else(|| "none recorded".into())
    };
    let mut text = format!(
        "## What happened\n\nRelease v{} of `{}` ({}) ended **{}**: {}\n\n",
        release.semver,
        release.service,
        release.release_type,
        release.state,
        release.outcome.clone().unwrap_or_default()
    );
    text.push_str(&format!("**What fired**: {}\n\n", what_fired(release)));
    text.push_str(&format!(
        "**Revisions**: deployed {} (image `{}`), restored {}.\n",
        family(&release.new_task_definition),
        release.image,
        family(&release.previous_task_definition)
    ));
    if let Some(migration) = &release.migration {
        text.push_str(&format!(
            "**Migration**: exit code {}, {}.\n",
            migration.exit_code,
            if migration.reversed {
                "reversed"
            } else {
                "not reversed"
            }
        ));
    }
    text.push_str(&format!(
        "\n**Commit**: {}\n",
        ticket::commit_link(&config.service.repository, &release.commit)
    ));
    if let Some(issue) = release.github.ticket {
        text.push_str(&format!("**Release ticket**: #{issue}\n"));
    }
    text.push_str(&format!(
        "**Release page**: {}/releases/{}\n\n## Timeline\n\n",
        config.web.public_url().trim_end_matches('/'),
        release.id
    ));
    for event in &release.events {
        text.push_str(&format!(
            "- {} · {} · {}\n",
            event.at.format("%Y-%m-%d %H:%M:%S UTC"),
            event.actor,
            event.detail
        ));
    }
    text.push_str(
        "\n## Root cause\n\n_To be written._\n\n## What we change\n\n- [ ] _To be written._\n",
    );
    text
}

/// The release's author and pusher as GitHub logins, then the on-call engineers.
pub fn postmortem_assignees(github: &GitHubConfig, release: &Release) -> Vec<String> {
    let mut logins: Vec<String> = Vec::new();
    let people = release
        .contributors
        .iter()
        .filter(|c| matches!(c.role, Contribution::Author | Contribution::Pusher))
        .filter_map(|c| c.login.clone());
    for login in people.chain(github.on_call.iter().cloned()) {
        if !logins.iter().any(|l| l.eq_ignore_ascii_case(&login)) {
            logins.push(login);
        }
    }
    logins
}

async fn postmortem(
    deps: &Deps,
    github: &GitHubConfig,
    release: &Release,
) -> Result<Step, GateError> {
    let title = format!(
        "Post-mortem: v{} of {} {}",
        release.semver,
        release.service,
        if release.state == ReleaseState::RolledBack {
            "rolled back".to_string()
        } else {
            release.state.to_string().to_lowercase()
        }
    );
    let assignees = postmortem_assignees(github, release);
    let body = postmortem_body(deps, release);
    let mut answer = open_postmortem(
        deps,
        release,
        GitHubCall::OpenIssue {
            title: title.clone(),
            body: body.clone(),
            labels: github.postmortem_labels.clone(),
            assignees: assignees.clone(),
        },
    )
    .await?;
    if answer.status == 422 && !assignees.is_empty() {
        // Someone cannot be assigned here (not a collaborator): name them instead.
        let named: Vec<String> = assignees.iter().map(|a| format!("@{a}")).collect();
        answer = open_postmortem(
            deps,
            release,
            GitHubCall::OpenIssue {
                title,
                body: format!("{body}\ncc {}\n", named.join(" ")),
                labels: github.postmortem_labels.clone(),
                assignees: Vec::new(),
            },
        )
        .await?;
    }
    Ok(match answer.number().filter(|_| answer.ok()) {
        Some(n) => Step::Done(Some(n.to_string())),
        None => Step::Refused(answer.describe()),
    })
}
