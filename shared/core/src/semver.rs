//! Semantic versions (`MAJOR.MINOR.PATCH`, optional leading `v`) and the release type
//! a bump implies (procedure §5: MAJOR → major, MINOR → minor, PATCH → hotfix).

#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Release types of the procedure (§1), ordered by the size of the change:
/// `Hotfix < Minor < Major`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseType {
    /// A PATCH bump (`x.y.Z`), as a fix asks for; the only type that may bypass the deploy
    /// window (with a stated reason).
    Hotfix,
    /// A MINOR bump (`x.Y.0`), as a feature asks for.
    Minor,
    /// A MAJOR bump (`X.0.0`), as a breaking change asks for.
    Major,
}

impl fmt::Display for ReleaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReleaseType::Hotfix => "hotfix",
            ReleaseType::Minor => "minor",
            ReleaseType::Major => "major",
        })
    }
}

impl FromStr for ReleaseType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "hotfix" | "patch" => Ok(ReleaseType::Hotfix),
            "minor" => Ok(ReleaseType::Minor),
            "major" => Ok(ReleaseType::Major),
            other => Err(format!(
                "`{other}` is not a release type: use hotfix, minor or major"
            )),
        }
    }
}

/// A version `MAJOR.MINOR.PATCH`. Parsed with or without a leading `v` (`1.4.0`, `v1.4.0`;
/// no leading zeros, no pre-release or build suffix), shown and serialised without it
/// (`1.4.0`); ordered numerically, major first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Raised for breaking changes.
    pub major: u64,
    /// Raised for new features; reset by a major bump.
    pub minor: u64,
    /// Raised for fixes; reset by a major or minor bump.
    pub patch: u64,
}

/// Why a version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The text, kept as given, is not `MAJOR.MINOR.PATCH` in plain decimal numbers.
    #[error("`{0}` is not a version: expected MAJOR.MINOR.PATCH such as 1.4.0 or v1.4.0")]
    Malformed(String),
    /// The version is not above the last released one.
    #[error("version {new} is not newer than the last released version {last}")]
    NotNewer {
        /// The last released version.
        last: Version,
        /// The version refused.
        new: Version,
    },
}

impl Version {
    /// The version `major.minor.patch`.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The release type of going from `last` to `self`.
    pub fn release_type_since(&self, last: Option<&Version>) -> Result<ReleaseType, VersionError> {
        let Some(last) = last else {
            // A first release has nothing to compare with: judge it by its own shape.
            return Ok(if self.major > 0 && self.minor == 0 && self.patch == 0 {
                ReleaseType::Major
            } else if self.patch > 0 {
                ReleaseType::Hotfix
            } else {
                ReleaseType::Minor
            });
        };
        if self <= last {
            return Err(VersionError::NotNewer {
                last: *last,
                new: *self,
            });
        }
        Ok(if self.major != last.major {
            ReleaseType::Major
        } else if self.minor != last.minor {
            ReleaseType::Minor
        } else {
            ReleaseType::Hotfix
        })
    }

    /// The next version for a bump of the given type.
    pub fn bumped(&self, kind: ReleaseType) -> Version {
        match kind {
            ReleaseType::Major => Version::new(self.major + 1, 0, 0),
            ReleaseType::Minor => Version::new(self.major, self.minor + 1, 0),
            ReleaseType::Hotfix => Version::new(self.major, self.minor, self.patch + 1),
        }
    }
}

/// The version a push gets from its `bump`: one step above the highest of the version any
/// release already took (its image tag exists: never reused), the last released, and the
/// configured initial version.
pub fn next_version(
    bump: ReleaseType,
    highest_taken: Option<Version>,
    last_released: Option<Version>,
    initial: Version,
) -> Version {
    highest_taken
        .into_iter()
        .chain(last_released)
        .max()
        .unwrap_or(initial)
        .max(initial)
        .bumped(bump)
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || VersionError::Malformed(s.to_string());
        let body = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let mut parts = body.split('.');
        let mut next = || -> Result<u64, VersionError> {
            let part = parts.next().ok_or_else(malformed)?;
            let well_formed = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if !well_formed {
                return Err(malformed());
            }
            part.parse().map_err(|_| malformed())
        };
        let version = Version::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(malformed());
        }
        Ok(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn given_plain_and_v_tagged_versions_when_parsed_then_they_are_read() {
        assert_eq!(v("1.2.3"), Version::new(1, 2, 3));
        assert_eq!(v("v0.2.0"), Version::new(0, 2, 0));
        assert_eq!(v("10.20.30").to_string(), "10.20.30");
    }

    #[test]
    fn given_malformed_versions_when_parsed_then_they_are_rejected() {
        for bad in [
            "", "1", "1.2", "1.2.3.4", "a.b.c", "1.02.3", "1.-2.3", "v", "1.2.x",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn given_a_newer_version_when_compared_with_the_last_then_the_part_bumped_decides_the_type() {
        let last = v("1.4.2");
        assert_eq!(
            v("2.0.0").release_type_since(Some(&last)),
            Ok(ReleaseType::Major)
        );
        assert_eq!(
            v("1.5.0").release_type_since(Some(&last)),
            Ok(ReleaseType::Minor)
        );
        assert_eq!(
            v("1.4.3").release_type_since(Some(&last)),
            Ok(ReleaseType::Hotfix)
        );
    }

    #[test]
    fn given_a_version_not_newer_than_the_last_when_compared_then_it_is_refused() {
        let last = v("1.4.2");
        assert!(matches!(
            v("1.4.2").release_type_since(Some(&last)),
            Err(VersionError::NotNewer { .. })
        ));
        assert!(v("1.3.9").release_type_since(Some(&last)).is_err());
    }

    #[test]
    fn given_taken_released_and_initial_versions_when_the_next_is_chosen_then_it_steps_above_all() {
        let initial = v("0.1.0");
        assert_eq!(
            next_version(ReleaseType::Minor, None, None, initial),
            v("0.2.0")
        );
        assert_eq!(
            next_version(
                ReleaseType::Hotfix,
                Some(v("1.4.0")),
                Some(v("1.3.0")),
                initial
            ),
            v("1.4.1")
        );
        assert_eq!(
            next_version(ReleaseType::Major, None, Some(v("1.3.2")), initial),
            v("2.0.0")
        );
        assert_eq!(
            next_version(ReleaseType::Minor, Some(v("0.0.3")), None, v("1.0.0")),
            v("1.1.0")
        );
    }

    #[test]
    fn given_a_version_when_bumped_then_it_gives_the_next_version_of_that_type() {
        let base = v("1.4.2");
        assert_eq!(base.bumped(ReleaseType::Major), v("2.0.0"));
        assert_eq!(base.bumped(ReleaseType::Minor), v("1.5.0"));
        assert_eq!(base.bumped(ReleaseType::Hotfix), v("1.4.3"));
    }

    #[test]
    fn given_a_version_when_written_as_json_then_it_reads_back_and_junk_is_refused() {
        let json = serde_json::to_string(&v("3.1.4")).unwrap();
        assert_eq!(json, "\"3.1.4\"");
        assert_eq!(serde_json::from_str::<Version>(&json).unwrap(), v("3.1.4"));
        assert!(serde_json::from_str::<Version>("\"nope\"").is_err());
    }
}
