//! Personal links: opaque, HMAC-SHA256-signed, expiring, each for one person and one use —
//! deciding on a release (the approval link), rolling a release back by hand, or seeing the
//! dashboard ([`Grant`]). A link carries the grant, the person's id and the expiry — never
//! a task token, which stays with the release in the backend.
//!
//! Shape: `<key id>.<payload>.<mac>`, each part base64url without padding. The key id is
//! derived from the key, so a link signed with another key (another installation, or
//! before the key changed) is told apart from a link someone altered. The MAC covers the
//! key id and the payload and is checked in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::Config;
use crate::model::ReleaseId;

type HmacSha256 = Hmac<Sha256>;

/// What a link grants: `approver` may decide on `release_id` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub release_id: ReleaseId,
    pub approver: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a link is refused, in words a person understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is damaged or was altered: it is not a link shipgate signed")]
    Tampered,
    #[error(
        "this link was signed by another shipgate (or with a key that has since changed): it is not valid here"
    )]
    Foreign,
    #[error("this link expired at {0}; the approval period is over")]
    Expired(DateTime<Utc>),
    #[error("this link is {actual}, not {expected}: it cannot be used here")]
    WrongUse {
        expected: &'static str,
        actual: &'static str,
    },
}

/// What a link lets the person it was made for do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Approve or reject one release: the approval link.
    Decide(ReleaseId),
    /// Roll one release back by hand (after a confirmation page, with a reason).
    RollBack(ReleaseId),
    /// See the dashboard, each release's page and `/api/releases`.
    View,
}

impl Grant {
    /// What the link is, in words.
    pub fn describe(&self) -> &'static str {
        match self {
            Grant::Decide(_) => "an approval link",
            Grant::RollBack(_) => "a rollback link",
            Grant::View => "a dashboard link",
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            Grant::Decide(_) => None,
            Grant::RollBack(_) => Some("rollback"),
            Grant::View => Some("view"),
        }
    }
}

/// What any link grants: `person` may do `grant` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub grant: Grant,
    pub person: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    r: String,
    a: String,
    e: i64,
    /// The use: absent for approval links (as links signed before there were others),
    /// `rollback` or `view`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    g: Option<String>,
}

/// Signs and verifies approval links with one key.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(***)")
    }
}

impl LinkSigner {
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        Self {
            key: key.as_ref().to_vec(),
        }
    }

    /// The signer for the configured key (`web.link_key`), if one is set.
    pub fn from_config(config: &Config) -> Option<Self> {
        config
            .web
            .link_key
            .as_ref()
            .filter(|k| !k.expose().is_empty())
            .map(|k| Self::new(k.expose().as_bytes()))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        match <HmacSha256 as KeyInit>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }

    fn key_id(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"shipgate approval link key id");
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..6])
    }

    /// The opaque token of an approval link.
    pub fn sign(&self, claims: &LinkClaims) -> String {
        self.sign_claims(&Claims {
            grant: Grant::Decide(claims.release_id.clone()),
            person: claims.approver.clone(),
            expires_at: claims.expires_at,
        })
    }

    /// The opaque token of any link.
    pub fn sign_claims(&self, claims: &Claims) -> String {
        let release = match &claims.grant {
            Grant::Decide(id) | Grant::RollBack(id) => id.to_string(),
            Grant::View => String::new(),
        };
        let payload = Payload {
            r: release,
            a: claims.person.clone(),
            e: claims.expires_at.timestamp(),
            g: claims.grant.code().map(str::to_string),
        };
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let signed = format!("{}.{}", self.key_id(), URL_SAFE_NO_PAD.encode(json));
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    /// The full URL of an approval link under `base` (`https://…`, no trailing slash needed).
    pub fn url(&self, base: &str, claims: &LinkClaims) -> String {
        format!(
            "{}/approvals/{}",
            base.trim_end_matches('/'),
            self.sign(claims)
        )
    }

    /// The full URL of any link under `base`: `/approvals/…`, `/rollbacks/…`, or the
    /// dashboard with `?access=…`.
    pub fn url_of(&self, base: &str, claims: &Claims) -> String {
        let base = base.trim_end_matches('/');
        let token = self.sign_claims(claims);
        match claims.grant {
            Grant::Decide(_) => format!("{base}/approvals/{token}"),
            Grant::RollBack(_) => format!("{base}/rollbacks/{token}"),
            Grant::View => format!("{base}/?access={token}"),
        }
    }

    /// Checks an approval link's token and returns what it grants.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        let claims = self.verify_claims(token, now)?;
        match claims.grant {
            Grant::Decide(release_id) => Ok(LinkClaims {
                release_id,
                approver: claims.person,
                expires_at: claims.expires_at,
            }),
            other => Err(LinkError::WrongUse {
                expected: "an approval link",
                actual: other.describe(),
            }),
        }
    }

    /// Checks a token and returns what it grants. The signature is checked (in constant
    /// time) before anything in the payload is believed.
    pub fn verify_claims(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, LinkError> {
        let mut parts = token.trim().split('.');
        let (Some(kid), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Tampered);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Tampered)?;
        let mut mac = self.mac();
        mac.update(kid.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        if mac.verify_slice(&tag).is_err() {
            return Err(if kid == self.key_id() {
                LinkError::Tampered
            } else {
                LinkError::Foreign
            });
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Tampered)?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| LinkError::Tampered)?;
        let release = || {
            payload
                .r
                .parse::<ReleaseId>()
                .map_err(|_| LinkError::Tampered)
        };
        let grant = match payload.g.as_deref() {
            None => Grant::Decide(release()?),
            Some("rollback") => Grant::RollBack(release()?),
            Some("view") => Grant::View,
            Some(_) => return Err(LinkError::Tampered),
        };
        let expires_at = DateTime::from_timestamp(payload.e, 0).ok_or(LinkError::Tampered)?;
        if now >= expires_at {
            return Err(LinkError::Expired(expires_at));
        }
        Ok(Claims {
            grant,
            person: payload.a,
            expires_at,
        })
    }
}

/// The link `person` uses for `grant` under the configured public URL, valid until
/// `expires_at`; `None` without a link key.
pub fn link(
    config: &Config,
    grant: Grant,
    person: &str,
    expires_at: DateTime<Utc>,
) -> Option<String> {
    let signer = LinkSigner::from_config(config)?;
    Some(signer.url_of(
        config.web.public_url(),
        &Claims {
            grant,
            person: person.to_string(),
            expires_at,
        },
    ))
}

/// The page of `release` for `person`, with their dashboard access until `expires_at`;
/// `None` without a link key.
pub fn release_page(
    config: &Config,
    release: &ReleaseId,
    person: &str,
    expires_at: DateTime<Utc>,
) -> Option<String> {
    let signer = LinkSigner::from_config(config)?;
    Some(format!(
        "{}/releases/{release}?access={}",
        config.web.public_url().trim_end_matches('/'),
        signer.sign_claims(&Claims {
            grant: Grant::View,
            person: person.to_string(),
            expires_at,
        })
    ))
}

/// How long the personal links of a release announcement hold.
pub const ANNOUNCEMENT_LINK_DAYS: i64 = 7;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::at;

    fn claims() -> LinkClaims {
        LinkClaims {
            release_id: "api-1.3.0-abc1234".parse().unwrap(),
            approver: "taylor".into(),
            expires_at: at("2026-03-11T14:00:00Z"),
        }
    }

    #[test]
    fn given_a_signed_link_when_verified_in_time_then_it_grants_what_it_carries() {
        let signer = LinkSigner::new("k3y");
        let token = signer.sign(&claims());
        assert!(!token.contains("taylor") && !token.contains("api-1.3.0"));
        assert_eq!(
            signer.verify(&token, at("2026-03-11T13:59:59Z")),
            Ok(claims())
        );
        assert!(
            signer
                .url("http://127.0.0.1:8080/", &claims())
                .starts_with("http://127.0.0.1:8080/approvals/")
        );
    }

    #[test]
    fn given_a_link_when_it_is_late_altered_or_foreign_then_it_says_which() {
        let signer = LinkSigner::new("k3y");
        let token = signer.sign(&claims());
        assert_eq!(
            signer.verify(&token, at("2026-03-11T14:00:00Z")),
            Err(LinkError::Expired(at("2026-03-11T14:00:00Z")))
        );
        // Another approver's payload with the original signature.
        let other = LinkSigner::new("k3y").sign(&LinkClaims {
            approver: "lee".into(),
            ..claims()
        });
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        let now = at("2026-03-11T10:00:00Z");
        assert_eq!(signer.verify(&forged, now), Err(LinkError::Tampered));
        assert_eq!(signer.verify("nonsense", now), Err(LinkError::Tampered));
        assert_eq!(
            signer.verify(&format!("{token}x"), now),
            Err(LinkError::Tampered)
        );
        assert_eq!(
            LinkSigner::new("another key").verify(&token, now),
            Err(LinkError::Foreign)
        );
    }

    #[test]
    fn given_links_of_each_use_when_verified_then_each_grants_its_own_use_only() {
        let signer = LinkSigner::new("k3y");
        let now = at("2026-03-11T10:00:00Z");
        let id: ReleaseId = "api-1.3.0-abc1234".parse().unwrap();
        let claims = |grant: Grant| Claims {
            grant,
            person: "lee".into(),
            expires_at: at("2026-03-11T14:00:00Z"),
        };
        for grant in [
            Grant::Decide(id.clone()),
            Grant::RollBack(id.clone()),
            Grant::View,
        ] {
            let token = signer.sign_claims(&claims(grant.clone()));
            assert_eq!(signer.verify_claims(&token, now), Ok(claims(grant)));
        }
        // An approval link signed as before (no use in the payload) is still an approval link.
        let approval = signer.sign(&claims_of_approval());
        assert_eq!(
            signer.verify_claims(&approval, now).map(|c| c.grant),
            Ok(Grant::Decide(claims_of_approval().release_id))
        );
        // A rollback or dashboard link never decides.
        let rollback = signer.sign_claims(&claims(Grant::RollBack(id)));
        assert_eq!(
            signer.verify(&rollback, now),
            Err(LinkError::WrongUse {
                expected: "an approval link",
                actual: "a rollback link"
            })
        );
        let base = "https://x.example/";
        assert!(
            signer
                .url_of(base, &claims(Grant::View))
                .starts_with("https://x.example/?access=")
        );
        assert!(
            signer
                .url_of(
                    base,
                    &claims(Grant::RollBack("api-1.3.0-abc1234".parse().unwrap()))
                )
                .starts_with("https://x.example/rollbacks/")
        );
    }

    fn claims_of_approval() -> LinkClaims {
        claims()
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn now() -> DateTime<Utc> {
            at("2026-03-11T10:00:00Z")
        }

        /// A part of a token: base64url text, or anything at all.
        fn part() -> impl Strategy<Value = String> {
            prop_oneof![
                "[A-Za-z0-9_-]{0,64}",
                any::<String>(),
                prop::collection::vec(any::<u8>(), 0..96).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn given_any_string_when_verified_then_it_is_refused(token in any::<String>()) {
                prop_assert!(LinkSigner::new("k3y").verify(&token, now()).is_err());
            }

            #[test]
            fn given_three_arbitrary_parts_when_verified_then_refused_as_tampered_or_foreign(
                kid in part(),
                payload in part(),
                tag in part(),
            ) {
                let token = format!("{kid}.{payload}.{tag}");
                let refused = LinkSigner::new("k3y").verify(&token, now());
                prop_assert!(
                    matches!(refused, Err(LinkError::Tampered | LinkError::Foreign)),
                    "{refused:?}"
                );
            }

            #[test]
            fn given_any_payload_signed_with_the_key_when_verified_then_it_is_read_without_panic(
                payload in prop_oneof![
                    any::<String>(),
                    (any::<String>(), any::<String>(), any::<i64>())
                        .prop_map(|(r, a, e)| serde_json::json!({"r": r, "a": a, "e": e}).to_string()),
                ]
            ) {
                // Even a payload with a valid MAC (the key leaked, or a bug in signing)
                // is parsed defensively: a bad release id or an impossible date is refused.
                let signer = LinkSigner::new("k3y");
                let signed = format!("{}.{}", signer.key_id(), URL_SAFE_NO_PAD.encode(payload));
                let mut mac = signer.mac();
                mac.update(signed.as_bytes());
                let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
                let _ = signer.verify(&token, now());
            }

            #[test]
            fn given_any_signed_link_when_verified_then_it_grants_its_claims_and_edits_are_refused(
                approver in any::<String>(),
                expires in 0i64..253_402_300_799,
                position in any::<prop::sample::Index>(),
                replacement in any::<char>(),
            ) {
                let signer = LinkSigner::new("k3y");
                let claims = LinkClaims {
                    release_id: "api-1.3.0-abc1234".parse().unwrap(),
                    approver,
                    expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
                };
                let token = signer.sign(&claims);
                let checked = signer.verify(&token, DateTime::<Utc>::MIN_UTC);
                prop_assert_eq!(checked, Ok(claims));
                let mut chars: Vec<char> = token.chars().collect();
                let i = position.index(chars.len());
                prop_assume!(chars[i] != replacement);
                chars[i] = replacement;
                let altered: String = chars.into_iter().collect();
                // Surrounding whitespace is trimmed, so a space at either end changes nothing.
                prop_assume!(altered.trim() != token);
                prop_assert!(signer.verify(&altered, DateTime::<Utc>::MIN_UTC).is_err());
            }
        }
    }
}
