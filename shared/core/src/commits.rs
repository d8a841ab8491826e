//! What the commits of a push ask for, read as conventional commits: the bump (a breaking
//! change is major, a feature minor, a fix a hotfix) and the changelog.

#![warn(missing_docs)]

use crate::model::Changelog;
use crate::semver::ReleaseType;

/// What one commit message says, read as a conventional commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conventional {
    /// The type before the colon, lowercased, without scope or `!` (`feat`, `fix`, `chore`).
    pub kind: String,
    /// Marked breaking: a `!` before the colon, or a line after the first that starts with
    /// `BREAKING CHANGE:` (or `BREAKING-CHANGE:`).
    pub breaking: bool,
    /// The text after the colon, trimmed.
    pub description: String,
}

/// Reads `type(scope)!: description` from the first line, and `BREAKING CHANGE:` anywhere.
pub fn conventional(message: &str) -> Option<Conventional> {
    let header = message.lines().next()?.trim();
    let (head, description) = header.split_once(':')?;
    let description = description.trim();
    let bang = head.ends_with('!');
    let head = head.trim_end_matches('!');
    let kind = match head.split_once('(') {
        Some((kind, scope)) if scope.ends_with(')') => kind,
        Some(_) => return None,
        None => head,
    };
    if kind.is_empty() || description.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let breaking = bang
        || message
            .lines()
            .skip(1)
            .any(|l| l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:"));
    Some(Conventional {
        kind: kind.to_ascii_lowercase(),
        breaking,
        description: description.to_string(),
    })
}

/// Whether a commit message asks for the users' email when the release ships: a
/// `User-Announcement: yes` (or `true`) trailer, as Git writes trailers (the last one
/// wins).
pub fn asks_user_announcement(message: &str) -> bool {
    message
        .lines()
        .rev()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case("user-announcement")
                .then(|| matches!(value.trim().to_ascii_lowercase().as_str(), "yes" | "true"))
        })
        .unwrap_or(false)
}

/// The version a merge of a release branch names (procedure §2 Step 3: `release/vX.Y.Z`),
/// read from the merge commit's first line as Git and GitHub write it: `Merge branch
/// 'release/v1.3.0'`, `Merge pull request #12 from acme/release/v1.3.0`, `Merge
/// remote-tracking branch 'origin/release/v1.3.0'`.
pub fn merged_release_branch(message: &str) -> Option<crate::semver::Version> {
    let header = message.lines().next()?.trim();
    if !header.starts_with("Merge ") {
        return None;
    }
    let (_, rest) = header.split_once("release/")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    if !name.starts_with('v') {
        return None;
    }
    name.parse().ok()
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The bump a list of commit messages asks for (none when no commit is a feature, a fix
/// or breaking), and their changelog.
pub fn derive<'a>(messages: impl IntoIterator<Item = &'a str>) -> (Option<ReleaseType>, Changelog) {
    let mut bump: Option<ReleaseType> = None;
    let mut changelog = Changelog::default();
    for message in messages {
        let Some(c) = conventional(message) else {
            continue;
        };
        let this = if c.breaking {
            Some(ReleaseType::Major)
        } else {
            match c.kind.as_str() {
                "feat" => Some(ReleaseType::Minor),
                "fix" => Some(ReleaseType::Hotfix),
                _ => None,
            }
        };
        bump = bump.max(this);
        match c.kind.as_str() {
            "feat" => changelog.features.push(sentence(&c.description)),
            "fix" => changelog.fixes.push(sentence(&c.description)),
            _ if c.breaking => changelog.features.push(sentence(&c.description)),
            _ => {}
        }
    }
    (bump, changelog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_commits_when_read_then_conventional_ones_are_read_with_scope_bang_and_footer() {
        assert_eq!(
            conventional("feat(scoring): weight recent applications"),
            Some(Conventional {
                kind: "feat".into(),
                breaking: false,
                description: "weight recent applications".into()
            })
        );
        assert!(conventional("refactor!: drop v1 API").unwrap().breaking);
        assert!(
            conventional("fix: x\n\nBREAKING CHANGE: the config moved")
                .unwrap()
                .breaking
        );
        assert_eq!(conventional("Merge branch 'release/v0.2.0'"), None);
        assert_eq!(conventional("Initial commit"), None);
    }

    #[test]
    fn given_commits_when_derived_then_the_biggest_bumps_and_features_and_fixes_are_listed() {
        let (bump, log) = derive([
            "feat(scoring): weight recent applications higher",
            "fix(enrichment): time out slow providers after 5 s (#234)",
            "chore: tidy",
        ]);
        assert_eq!(bump, Some(ReleaseType::Minor));
        assert_eq!(log.features, vec!["Weight recent applications higher"]);
        assert_eq!(log.fixes, vec!["Time out slow providers after 5 s (#234)"]);
        assert_eq!(derive(["fix: a"]).0, Some(ReleaseType::Hotfix));
        assert_eq!(derive(["fix: a", "feat!: b"]).0, Some(ReleaseType::Major));
        assert_eq!(derive(["docs: a", "Update README"]).0, None);
    }

    #[test]
    fn given_merges_of_release_branches_when_read_then_the_branch_names_the_version() {
        use super::merged_release_branch;
        let v = |s: &str| s.parse::<crate::semver::Version>().ok();
        assert_eq!(
            merged_release_branch("Merge branch 'release/v1.3.0'"),
            v("1.3.0")
        );
        assert_eq!(
            merged_release_branch("Merge branch 'release/v1.3.0' into main\n\nShip it"),
            v("1.3.0")
        );
        assert_eq!(
            merged_release_branch("Merge pull request #12 from acme/release/v2.0.0"),
            v("2.0.0")
        );
        assert_eq!(
            merged_release_branch("Merge remote-tracking branch 'origin/release/v0.2.1'"),
            v("0.2.1")
        );
        assert_eq!(merged_release_branch("Merge branch 'feature/x'"), None);
        assert_eq!(merged_release_branch("Merge branch 'release/next'"), None);
        assert_eq!(merged_release_branch("Merge branch 'release/v1.3'"), None);
        assert_eq!(merged_release_branch("feat: release/v1.3.0 notes"), None);
    }
}
