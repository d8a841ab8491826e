//! A push to the release branch: which version it releases, and starting that release.
//!
//! The version is the one a `vX.Y.Z` tag gave the pushed commit, else the one a merged
//! `release/vX.Y.Z` branch names (the procedure's release branch, whose merge commit is not
//! a conventional commit), else the next one after the highest version taken, bumped as
//! the conventional commits ask ([`crate::commits`]). A push with none of these releases
//! nothing.
//! Two pushes that chose the same version at once: the one that lost takes the next, up to
//! five times; then the push is refused as a conflict, to be sent again.

#![warn(missing_docs)]

use tracing::info;

use crate::commits::{derive, merged_release_branch};
use crate::deps::Deps;
use crate::error::GateError;
use crate::model::{Contributor, NewRelease};
use crate::ports::{StoreError, TriggerLog};
use crate::releases::{self, Started};
use crate::semver::{Version, next_version};

/// How often a push takes the next version when a concurrent push took the one it chose.
const VERSION_TRIES: usize = 5;

/// What the webhook read from a push.
#[derive(Debug, Clone)]
pub struct Pushed<'a> {
    /// The head commit (a full SHA).
    pub commit: &'a str,
    /// The messages of the commits pushed (the head commit's alone when GitHub lists none).
    pub messages: Vec<&'a str>,
    /// Recorded as the release's author (the webhook gives the pusher's email or name).
    pub author: String,
    /// The reason of the head commit's `Hotfix-Bypass:` trailer, if any: the release asks to
    /// skip the deploy window ([`crate::policy::window::bypass_trailer`]).
    pub bypass_reason: Option<String>,
    /// Everyone who wrote, committed or pushed the commits: none of them may approve the
    /// release.
    pub contributors: Vec<Contributor>,
    /// The head commit carries a `User-Announcement: yes` trailer
    /// ([`crate::commits::asks_user_announcement`]): the users are emailed when it ships.
    pub user_announcement: bool,
}

/// What a push did.
#[derive(Debug)]
pub enum PushOutcome {
    /// No tag and no `feat`, `fix` or breaking commit.
    NothingToRelease,
    /// A release was started, or found already started for this commit ([`Started::created`]
    /// says which).
    Started(Box<Started>),
}

impl PushOutcome {
    /// What the webhook answers for [`PushOutcome::NothingToRelease`], in words.
    pub const NOTHING_TO_RELEASE: &'static str =
        "no feat, fix or breaking commit since the last release: nothing to release";
}

/// Chooses the push's version and starts its release (idempotent per commit, as
/// [`releases::start`]).
pub async fn release(
    deps: &Deps,
    triggers: &dyn TriggerLog,
    pushed: Pushed<'_>,
) -> Result<PushOutcome, GateError> {
    let (bump, changelog) = derive(pushed.messages.iter().copied());
    let tagged = match triggers.tag_for(pushed.commit).await? {
        Some(version) => Some(version),
        None => pushed
            .messages
            .iter()
            .rev()
            .find_map(|m| merged_release_branch(m)),
    };
    if tagged.is_none() && bump.is_none() {
        return Ok(PushOutcome::NothingToRelease);
    }
    let mut tries = 0;
    loop {
        let version = match (&tagged, bump) {
            (Some(version), _) => *version,
            (None, Some(bump)) => next_for(deps, pushed.commit, bump).await?,
            (None, None) => return Ok(PushOutcome::NothingToRelease),
        };
        let new = NewRelease {
            service: deps.config.service.name.clone(),
            version,
            commit: pushed.commit.to_string(),
            author: pushed.author.clone(),
            changelog: changelog.clone(),
            release_type: None,
            bypass_reason: pushed.bypass_reason.clone(),
            contributors: pushed.contributors.clone(),
            user_announcement: pushed
                .user_announcement
                .then(|| crate::users::ASKED_BY_TRAILER.to_string()),
        };
        match releases::start(deps, new).await {
            Ok(started) => return Ok(PushOutcome::Started(Box::new(started))),
            // A tag or a release branch names its version: taken is taken. A derived one
            // moves on.
            Err(err @ GateError::VersionTaken { .. }) if tagged.is_none() => {
                tries += 1;
                if tries == VERSION_TRIES {
                    // Contention, not a mistake in the push: the webhook answers "try again".
                    let taken = err.to_string();
                    return Err(GateError::Conflict(
                        format!("for commit {}", pushed.commit),
                        StoreError::AlreadyExists(taken),
                    ));
                }
                info!(error = %err, tries, "version taken meanwhile: taking the next");
            }
            Err(err) => return Err(err),
        }
    }
}

/// The next version for `commit`: two reads, however long the history (GitHub gives a
/// webhook 10 seconds) — the highest version taken and the last one released.
async fn next_for(
    deps: &Deps,
    commit: &str,
    bump: crate::model::ReleaseType,
) -> Result<Version, GateError> {
    let service = &deps.config.service;
    match deps.store.highest_version(&service.name).await? {
        // This very commit already has its version (a redelivered push).
        Some((version, taken_by)) if taken_by == commit => Ok(version),
        highest => {
            let last = deps
                .store
                .last_released(&service.name)
                .await?
                .map(|r| r.semver);
            Ok(next_version(
                bump,
                highest.map(|(v, _)| v),
                last,
                service.initial_version,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::ReleaseType;
    use crate::ports::TriggerRecord;
    use crate::testkit::Kit;

    #[derive(Default)]
    struct Tags(Mutex<HashMap<String, Version>>);

    #[async_trait]
    impl TriggerLog for Tags {
        async fn seen(&self, _: &str, _: &str) -> Result<Option<TriggerRecord>, StoreError> {
            Ok(None)
        }
        async fn record(&self, _: &TriggerRecord) -> Result<(), StoreError> {
            Ok(())
        }
        async fn record_tag(&self, commit: &str, version: &Version) -> Result<(), StoreError> {
            self.0.lock().unwrap().insert(commit.into(), *version);
            Ok(())
        }
        async fn tag_for(&self, commit: &str) -> Result<Option<Version>, StoreError> {
            Ok(self.0.lock().unwrap().get(commit).copied())
        }
    }

    fn sha(n: u8) -> String {
        format!("{:040x}", n)
    }

    fn pushed<'a>(commit: &'a str, messages: &[&'a str]) -> Pushed<'a> {
        Pushed {
            commit,
            messages: messages.to_vec(),
            author: "alex@example.com".into(),
            bypass_reason: None,
            contributors: Vec::new(),
            user_announcement: false,
        }
    }

    fn started(outcome: PushOutcome) -> Started {
        match outcome {
            PushOutcome::Started(started) => *started,
            PushOutcome::NothingToRelease => panic!("expected a release"),
        }
    }

    #[tokio::test]
    async fn given_pushed_commits_when_released_then_they_bump_from_the_highest_version_taken() {
        let kit = Kit::new("2026-03-02T10:00:00Z");
        kit.release_in("1.4.2", ReleaseType::Minor, crate::ReleaseState::Succeeded)
            .await;
        let tags = Tags::default();
        let (a, b) = (sha(1), sha(2));
        let first = started(
            release(&kit.deps, &tags, pushed(&a, &["feat: saved searches"]))
                .await
                .unwrap(),
        );
        assert_eq!(first.release.semver.to_string(), "1.5.0");
        assert_eq!(first.release.changelog.features, ["Saved searches"]);
        // Taken but not released yet: the next push counts from it.
        let second = started(
            release(&kit.deps, &tags, pushed(&b, &["fix: typo"]))
                .await
                .unwrap(),
        );
        assert_eq!(second.release.semver.to_string(), "1.5.1");
        // The same push again keeps its version.
        let again = started(
            release(&kit.deps, &tags, pushed(&b, &["fix: typo"]))
                .await
                .unwrap(),
        );
        assert!(!again.created);
        assert_eq!(again.release.id, second.release.id);
    }

    #[tokio::test]
    async fn given_chores_when_pushed_then_nothing_is_released_unless_a_tag_names_the_version() {
        let kit = Kit::new("2026-03-02T10:00:00Z");
        let tags = Tags::default();
        let commit = sha(7);
        let outcome = release(&kit.deps, &tags, pushed(&commit, &["chore: bump deps"]))
            .await
            .unwrap();
        assert!(matches!(outcome, PushOutcome::NothingToRelease));
        tags.record_tag(&commit, &"2.0.0".parse().unwrap())
            .await
            .unwrap();
        let tagged = started(
            release(&kit.deps, &tags, pushed(&commit, &["chore: bump deps"]))
                .await
                .unwrap(),
        );
        assert_eq!(tagged.release.semver.to_string(), "2.0.0");
        assert_eq!(tagged.release.release_type, ReleaseType::Major);
    }

    #[tokio::test]
    async fn given_a_tag_for_a_version_another_commit_holds_when_pushed_then_it_is_refused() {
        let kit = Kit::new("2026-03-02T10:00:00Z");
        let tags = Tags::default();
        let (a, b) = (sha(1), sha(2));
        started(
            release(&kit.deps, &tags, pushed(&a, &["feat: one"]))
                .await
                .unwrap(),
        );
        let taken = started(
            release(&kit.deps, &tags, pushed(&a, &["feat: one"]))
                .await
                .unwrap(),
        )
        .release
        .semver;
        tags.record_tag(&b, &taken).await.unwrap();
        let err = release(&kit.deps, &tags, pushed(&b, &["feat: two"]))
            .await
            .unwrap_err();
        assert!(matches!(err, GateError::VersionTaken { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn given_a_merge_of_a_release_branch_when_pushed_then_the_branch_names_the_version() {
        let kit = Kit::new("2026-03-10T09:00:00Z");
        let triggers = Tags::default();
        let commit = sha(7);
        let outcome = release(
            &kit.deps,
            &triggers,
            pushed(&commit, &["docs: notes", "Merge branch 'release/v0.4.0'"]),
        )
        .await
        .unwrap();
        let started = started(outcome);
        assert_eq!(started.release.semver.to_string(), "0.4.0");
        assert_eq!(started.release.release_type, ReleaseType::Minor);
    }
}
