//! Who must approve a release, and whether those who did make a quorum.
//!
//! Every role the release type lists must be covered by a *different* person: someone who
//! holds both CEO and CTO cannot approve a major release alone. A person may hold several
//! roles and covers whichever one completes the quorum (a small bipartite matching).
//! The release's author never approves their own release.

use chrono::{DateTime, Utc};

use crate::config::{Approver, Config};
use crate::model::{Approval, Contributor, Decision, Release};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("`{0}` is not a configured approver")]
    UnknownApprover(String),
    #[error(
        "{approver} wrote this release and cannot approve it; ask someone else with the role {roles}"
    )]
    SelfApproval { approver: String, roles: String },
    #[error("{approver} holds none of the roles this {kind} release needs ({roles})")]
    RoleNotRequired {
        approver: String,
        kind: String,
        roles: String,
    },
    #[error("a rejection needs a reason")]
    ReasonRequired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    pub required: Vec<String>,
    /// Role → approver id, for the roles covered.
    pub covered: Vec<(String, String)>,
    pub missing: Vec<String>,
}

impl Quorum {
    pub fn is_met(&self) -> bool {
        self.missing.is_empty()
    }
}

pub fn required_roles(config: &Config, release: &Release) -> Vec<String> {
    // A release to an environment before production is approved by that environment's
    // roles, whatever its type.
    if config.environment.is_none()
        && let Some(env) = config.environment_of(&release.id)
    {
        return config.environments[env].approval_roles.clone();
    }
    config
        .approvals
        .required
        .get(&release.release_type)
        .cloned()
        .unwrap_or_default()
}

fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

/// Whether `contributor` is `approver`: by GitHub login (against their logins and their
/// id), by email (any of theirs) or by name.
pub fn is_person(approver: &Approver, contributor: &Contributor) -> bool {
    let login = contributor.login.as_deref().is_some_and(|l| {
        std::iter::once(&approver.id)
            .chain(&approver.github)
            .any(|k| same(k, l))
    });
    let email = contributor.email.as_deref().is_some_and(|e| {
        std::iter::once(&approver.email)
            .chain(&approver.emails)
            .any(|k| same(k, e))
    });
    let name = contributor
        .name
        .as_deref()
        .is_some_and(|n| same(&approver.name, n));
    login || email || name
}

/// Whether `approver` wrote, committed or pushed `release`, by any name they go by: the
/// author as recorded may be their id, name, GitHub login or any of their emails, and any
/// contributor may be them (see [`is_person`]).
pub fn is_author(approver: &Approver, release: &Release) -> bool {
    let author = release.author.as_str();
    let named = std::iter::once(&approver.id)
        .chain([&approver.name, &approver.email])
        .chain(&approver.emails)
        .chain(&approver.github)
        .any(|known| same(known, author));
    named || release.contributors.iter().any(|c| is_person(approver, c))
}

/// The contributors of `release` who are none of the configured approvers: shown to those
/// asked to approve, so a stranger's code never passes unnoticed.
pub fn unknown_contributors<'a>(config: &Config, release: &'a Release) -> Vec<&'a Contributor> {
    release
        .contributors
        .iter()
        .filter(|c| !config.approvers.iter().any(|a| is_person(a, c)))
        .collect()
}

/// The quorum as it stands from the approvals recorded so far.
pub fn quorum(config: &Config, release: &Release) -> Quorum {
    let required = required_roles(config, release);
    let people: Vec<&Approver> = release
        .approvals_granted()
        .filter_map(|a| config.approver(&a.approver))
        .filter(|a| !is_author(a, release))
        .collect();
    let assignment = match_roles(&required, &people);
    let mut covered = Vec::new();
    let mut missing = Vec::new();
    for (role, person) in required.iter().zip(assignment) {
        match person {
            Some(p) => covered.push((role.clone(), people[p].id.clone())),
            None => missing.push(role.clone()),
        }
    }
    Quorum {
        required,
        covered,
        missing,
    }
}

/// Assigns distinct people to roles, covering as many roles as possible.
fn match_roles(roles: &[String], people: &[&Approver]) -> Vec<Option<usize>> {
    crate::matching::match_roles(roles, people.len(), |p, role| {
        people[p].roles.iter().any(|r| r == role)
    })
}

/// Checks a decision and returns the approval to record. Does not touch the release.
pub fn decide(
    config: &Config,
    release: &Release,
    approver_id: &str,
    decision: Decision,
    reason: Option<String>,
    at: DateTime<Utc>,
) -> Result<Approval, ApprovalError> {
    let approver = config
        .approver(approver_id)
        .ok_or_else(|| ApprovalError::UnknownApprover(approver_id.to_string()))?;
    let required = required_roles(config, release);
    let held: Vec<&String> = required
        .iter()
        .filter(|r| approver.roles.contains(r))
        .collect();
    if held.is_empty() {
        return Err(ApprovalError::RoleNotRequired {
            approver: approver.id.clone(),
            kind: release.release_type.to_string(),
            roles: required.join(" + "),
        });
    }
    if is_author(approver, release) {
        return Err(ApprovalError::SelfApproval {
            approver: approver.id.clone(),
            roles: held
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
        });
    }
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if decision == Decision::Rejected && reason.is_none() {
        return Err(ApprovalError::ReasonRequired);
    }
    // The role recorded is the one this person covers once their approval counts.
    let mut with_me = release.clone();
    with_me.approvals.push(Approval {
        approver: approver.id.clone(),
        role: String::new(),
        decision: Decision::Approved,
        at,
        reason: None,
        without_bypass: false,
    });
    let role = quorum(config, &with_me)
        .covered
        .into_iter()
        .find(|(_, who)| who == &approver.id)
        .map(|(role, _)| role)
        .unwrap_or_else(|| held[0].clone());
    Ok(Approval {
        approver: approver.id.clone(),
        role,
        decision,
        at,
        reason,
        without_bypass: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::example;
    use crate::model::{Changelog, Contribution, NewRelease, ReleaseType};

    fn release(kind: ReleaseType, author: &str) -> Release {
        Release::open(
            NewRelease {
                service: "api".parse().unwrap(),
                version: "1.0.0".parse().unwrap(),
                commit: "abc".into(),
                author: author.into(),
                changelog: Changelog::default(),
                release_type: Some(kind),
                bypass_reason: None,
                contributors: Vec::new(),
                user_announcement: None,
            },
            kind,
            "img".into(),
            DateTime::UNIX_EPOCH,
        )
    }

    fn approve(config: &Config, r: &mut Release, who: &str) -> Result<(), ApprovalError> {
        let a = decide(
            config,
            r,
            who,
            Decision::Approved,
            None,
            DateTime::UNIX_EPOCH,
        )?;
        r.approvals.push(a);
        Ok(())
    }

    #[test]
    fn given_a_minor_release_when_approved_then_the_eng_lead_is_needed_and_enough() {
        let config = example();
        let mut r = release(ReleaseType::Minor, "dev");
        assert_eq!(quorum(&config, &r).missing, vec!["Eng Lead"]);
        approve(&config, &mut r, "lee").unwrap();
        assert!(quorum(&config, &r).is_met());
    }

    #[test]
    fn given_a_hotfix_when_the_eng_lead_approves_then_the_role_is_refused_as_not_required() {
        let config = example();
        let r = release(ReleaseType::Hotfix, "dev");
        let err = decide(
            &config,
            &r,
            "lee",
            Decision::Approved,
            None,
            DateTime::UNIX_EPOCH,
        );
        assert!(matches!(err, Err(ApprovalError::RoleNotRequired { .. })));
    }

    #[test]
    fn given_a_major_release_when_the_cto_approves_then_it_still_needs_the_ceo() {
        let config = example();
        let mut r = release(ReleaseType::Major, "dev");
        approve(&config, &mut r, "taylor").unwrap();
        let q = quorum(&config, &r);
        assert!(!q.is_met());
        assert_eq!(q.missing, vec!["CEO"]);
        approve(&config, &mut r, "casey").unwrap();
        assert!(quorum(&config, &r).is_met());
    }

    #[test]
    fn given_one_person_with_two_roles_when_they_approve_then_they_cover_only_one() {
        let mut config = example();
        config.approvers[0].roles = vec!["CEO".into(), "CTO".into()];
        let mut r = release(ReleaseType::Major, "dev");
        approve(&config, &mut r, "casey").unwrap();
        assert_eq!(quorum(&config, &r).covered.len(), 1);
        // The CTO then completes it: casey moves over to cover CEO.
        approve(&config, &mut r, "taylor").unwrap();
        let q = quorum(&config, &r);
        assert!(q.is_met(), "{q:?}");
    }

    #[test]
    fn given_a_release_by_an_approver_when_they_approve_it_then_self_approval_is_refused() {
        let config = example();
        for author in ["lee", "eng-lead@example.com", "Lee Larsen (Eng Lead)"] {
            let r = release(ReleaseType::Minor, author);
            let err = decide(
                &config,
                &r,
                "lee",
                Decision::Approved,
                None,
                DateTime::UNIX_EPOCH,
            );
            assert!(
                matches!(err, Err(ApprovalError::SelfApproval { .. })),
                "{author}"
            );
        }
    }

    #[test]
    fn given_a_rejection_without_a_reason_when_decided_then_it_is_refused() {
        let config = example();
        let r = release(ReleaseType::Minor, "dev");
        let err = decide(
            &config,
            &r,
            "lee",
            Decision::Rejected,
            Some("  ".into()),
            DateTime::UNIX_EPOCH,
        );
        assert_eq!(err, Err(ApprovalError::ReasonRequired));
        assert!(
            decide(
                &config,
                &r,
                "lee",
                Decision::Rejected,
                Some("flaky".into()),
                DateTime::UNIX_EPOCH
            )
            .is_ok()
        );
    }

    #[test]
    fn given_an_unknown_approver_when_deciding_then_it_is_refused() {
        let config = example();
        let r = release(ReleaseType::Minor, "dev");
        assert!(matches!(
            decide(
                &config,
                &r,
                "mallory",
                Decision::Approved,
                None,
                DateTime::UNIX_EPOCH
            ),
            Err(ApprovalError::UnknownApprover(_))
        ));
    }

    fn by(
        role: Contribution,
        name: Option<&str>,
        email: Option<&str>,
        login: Option<&str>,
    ) -> Contributor {
        Contributor {
            role,
            name: name.map(Into::into),
            email: email.map(Into::into),
            login: login.map(Into::into),
        }
    }

    #[test]
    fn given_an_approver_who_wrote_committed_or_pushed_when_approving_then_refused_by_any_name() {
        let mut config = example();
        let lee = config.approvers.iter_mut().find(|a| a.id == "lee").unwrap();
        lee.github = vec!["lee-larsen".into()];
        lee.emails = vec![
            "lee@roleferry.example".into(),
            "lee@users.noreply.github.com".into(),
        ];
        let config = config;
        // Each way the Eng Lead can appear in a release of his own.
        let ways = [
            ("recorded author = id", "lee", vec![]),
            (
                "recorded author = configured email",
                "ENG-LEAD@example.com",
                vec![],
            ),
            (
                "recorded author = another email",
                "lee@roleferry.example",
                vec![],
            ),
            ("recorded author = login", "lee-larsen", vec![]),
            ("recorded author = name", "Lee Larsen (Eng Lead)", vec![]),
            (
                "pusher with an unlisted email but login = id",
                "someone@else.example",
                vec![by(
                    Contribution::Pusher,
                    None,
                    Some("lee@home.example"),
                    Some("lee"),
                )],
            ),
            (
                "commit author by a listed email",
                "ci-bot",
                vec![by(
                    Contribution::Author,
                    Some("L."),
                    Some("lee@users.noreply.github.com"),
                    None,
                )],
            ),
            (
                "committer by GitHub login",
                "ci-bot",
                vec![by(Contribution::Committer, None, None, Some("Lee-Larsen"))],
            ),
            (
                "author by full name",
                "ci-bot",
                vec![by(
                    Contribution::Author,
                    Some("lee larsen (eng lead)"),
                    None,
                    None,
                )],
            ),
        ];
        for (what, author, contributors) in ways {
            let mut r = release(ReleaseType::Minor, author);
            r.contributors = contributors;
            let err = approve(&config, &mut r, "lee").unwrap_err();
            assert!(
                matches!(err, ApprovalError::SelfApproval { .. }),
                "{what}: {err:?}"
            );
            // Someone else with the role still can.
            approve(&config, &mut r, "taylor").unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    }

    #[test]
    fn given_contributors_who_are_no_approver_when_listed_then_they_are_named() {
        let config = example();
        let mut r = release(ReleaseType::Minor, "alex");
        r.contributors = vec![
            by(
                Contribution::Author,
                Some("Alex Kim"),
                Some("alex@roleferry.example"),
                Some("alexk"),
            ),
            by(Contribution::Pusher, None, Some("cto@example.com"), None),
        ];
        let unknown: Vec<String> = unknown_contributors(&config, &r)
            .iter()
            .map(|c| c.display())
            .collect();
        assert_eq!(unknown, ["Alex Kim <alex@roleferry.example> (@alexk)"]);
        // An empty name never matches an empty field.
        let blank = by(Contribution::Author, Some(""), Some(" "), Some(""));
        assert!(!config.approvers.iter().any(|a| is_person(a, &blank)));
    }
}
