//! Semantic versions (`MAJOR.MINOR.PATCH`, optional leading `v`) and the release type
//! a bump implies (procedure §5: MAJOR → major, MINOR → minor, PATCH → hotfix).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::ReleaseType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("`{0}` is not a version: expected MAJOR.MINOR.PATCH such as 1.4.0 or v1.4.0")]
    Malformed(String),
    #[error("version {new} is not newer than the last released version {last}")]
    NotNewer { last: Version, new: Version },
}

impl Version {
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
    fn parses_plain_and_tagged_versions() {
        assert_eq!(v("1.2.3"), Version::new(1, 2, 3));
        assert_eq!(v("v0.2.0"), Version::new(0, 2, 0));
        assert_eq!(v("10.20.30").to_string(), "10.20.30");
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in [
            "", "1", "1.2", "1.2.3.4", "a.b.c", "1.02.3", "1.-2.3", "v", "1.2.x",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn bump_decides_the_release_type() {
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
    fn a_version_not_newer_than_the_last_is_refused() {
        let last = v("1.4.2");
        assert!(matches!(
            v("1.4.2").release_type_since(Some(&last)),
            Err(VersionError::NotNewer { .. })
        ));
        assert!(v("1.3.9").release_type_since(Some(&last)).is_err());
    }

    #[test]
    fn bumped_gives_the_next_version() {
        let base = v("1.4.2");
        assert_eq!(base.bumped(ReleaseType::Major), v("2.0.0"));
        assert_eq!(base.bumped(ReleaseType::Minor), v("1.5.0"));
        assert_eq!(base.bumped(ReleaseType::Hotfix), v("1.4.3"));
    }

    #[test]
    fn versions_round_trip_through_json() {
        let json = serde_json::to_string(&v("3.1.4")).unwrap();
        assert_eq!(json, "\"3.1.4\"");
        assert_eq!(serde_json::from_str::<Version>(&json).unwrap(), v("3.1.4"));
        assert!(serde_json::from_str::<Version>("\"nope\"").is_err());
    }
}
