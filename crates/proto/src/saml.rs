//! The SAML connections API of the origin (service credential): the bodies of
//! `/v1/tenants/{tenant}/saml/connections[/{connection}]` and of the edge's
//! `/internal/v1/saml/domains/{domain}`, and the two identifiers they carry, each with one rule
//! ([`ConnectionId`], [`EmailDomain`]). Requests refuse unknown fields; an answer never carries the
//! service provider's private key (no type here has a field for it).

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Code, IdError};

/// A connection's name within its tenant, chosen by the operator (`--name`): 1 to 64 characters of
/// `a-z`, `0-9`, `-` and `_`, starting with a letter or digit. It appears in URLs
/// (`/saml/{tenant}/{connection}/...`), so the rule is the tenant's.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub const MAX_LEN: usize = 64;

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ConnectionId {
    type Err = IdError;

    fn from_str(t: &str) -> Result<Self, IdError> {
        let b = t.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= Self::MAX_LEN
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_');
        if ok {
            Ok(Self(t.to_owned()))
        } else {
            Err(IdError {
                code: Code::SamlConnectionNameInvalid,
                message: format!(
                    "connection name `{}` must be 1-64 characters of a-z, 0-9, `-` or `_`, starting with a letter or digit",
                    t.escape_debug()
                ),
            })
        }
    }
}

/// An email domain a connection claims ("sign in with your company" by the domain of the address
/// typed): a DNS name in ASCII (IDNs as their `xn--` A-labels), lower-cased on reading, at least two
/// labels of 1 to 63 characters of `a-z`, `0-9` and `-` (not at either end of a label), 253 at most.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EmailDomain(String);

impl EmailDomain {
    pub const MAX_LEN: usize = 253;

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain of an email address (what follows its last `@`), if that is a valid domain.
    #[must_use]
    pub fn of_address(address: &str) -> Option<Self> {
        let (_, domain) = address.rsplit_once('@')?;
        domain.parse().ok()
    }
}

impl FromStr for EmailDomain {
    type Err = IdError;

    fn from_str(t: &str) -> Result<Self, IdError> {
        let lower = t.to_ascii_lowercase();
        let label_ok = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let ok = lower.len() <= Self::MAX_LEN
            && lower.split('.').count() >= 2
            && lower.split('.').all(label_ok)
            // the top-level label is not all digits (that would be an IPv4 address)
            && lower
                .rsplit('.')
                .next()
                .is_some_and(|tld| !tld.bytes().all(|c| c.is_ascii_digit()));
        if ok {
            Ok(Self(lower))
        } else {
            Err(IdError {
                code: Code::SamlDomainInvalid,
                message: format!(
                    "email domain `{}` must be a DNS name like `example.com` (internationalised names as their xn-- form)",
                    t.escape_debug()
                ),
            })
        }
    }
}

macro_rules! string_like {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

string_like!(ConnectionId, EmailDomain);

/// Which signature of an IdP's answer the connection requires: on the assertion (the default, and what
/// every major IdP can do), on the whole response, or either of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignedPart {
    #[default]
    Assertion,
    Response,
    Either,
}

impl SignedPart {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Assertion => "assertion",
            Self::Response => "response",
            Self::Either => "either",
        }
    }
}

impl fmt::Display for SignedPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignedPart {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "assertion" => Ok(Self::Assertion),
            "response" => Ok(Self::Response),
            "either" => Ok(Self::Either),
            other => Err(format!(
                "signed part `{}` must be `assertion`, `response` or `either`",
                other.escape_debug()
            )),
        }
    }
}

/// Which SAML attribute (by its `Name`, a URI or a plain name) gives each of a person's properties.
/// Unset keys are not read. `external_id` names the stable key of a person when the IdP's `NameID` is
/// not `persistent`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl AttributeMap {
    /// The keys a map may set.
    pub const KEYS: [&'static str; 6] = [
        "email",
        "display_name",
        "given_name",
        "family_name",
        "groups",
        "external_id",
    ];
    /// The longest attribute name accepted, in characters.
    pub const MAX_NAME_CHARS: usize = 1024;

    /// Set `key` to the attribute `name`.
    ///
    /// # Errors
    /// An unknown key, a key set twice, or a name that is empty, too long, or holds whitespace or
    /// control characters.
    pub fn set(&mut self, key: &str, name: &str) -> Result<(), String> {
        if name.is_empty()
            || name.chars().count() > Self::MAX_NAME_CHARS
            || name.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "attribute name `{}` for `{}` must be 1-{} characters without spaces",
                name.escape_debug(),
                key.escape_debug(),
                Self::MAX_NAME_CHARS
            ));
        }
        let slot = match key {
            "email" => &mut self.email,
            "display_name" => &mut self.display_name,
            "given_name" => &mut self.given_name,
            "family_name" => &mut self.family_name,
            "groups" => &mut self.groups,
            "external_id" => &mut self.external_id,
            other => {
                return Err(format!(
                    "unknown attribute map key `{}` (known: {})",
                    other.escape_debug(),
                    Self::KEYS.join(", ")
                ))
            }
        };
        if slot.is_some() {
            return Err(format!("attribute map key `{key}` is given twice"));
        }
        *slot = Some(name.to_owned());
        Ok(())
    }

    /// Read `key=name,key=name,...` (the CLI's form); adds to what is already set.
    ///
    /// # Errors
    /// A pair without `=`, and whatever [`AttributeMap::set`] refuses.
    pub fn add_pairs(&mut self, text: &str) -> Result<(), String> {
        for pair in text.split(',').filter(|p| !p.is_empty()) {
            let (key, name) = pair.split_once('=').ok_or_else(|| {
                format!(
                    "attribute map entry `{}` is not key=attribute",
                    pair.escape_debug()
                )
            })?;
            self.set(key.trim(), name.trim())?;
        }
        Ok(())
    }

    /// Every set entry, in [`AttributeMap::KEYS`] order.
    #[must_use]
    pub fn entries(&self) -> Vec<(&'static str, &str)> {
        [
            ("email", &self.email),
            ("display_name", &self.display_name),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("groups", &self.groups),
            ("external_id", &self.external_id),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// `POST /v1/tenants/{tenant}/saml/connections`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectionRequest {
    /// The connection's name in URLs ([`ConnectionId`]).
    pub name: String,
    /// For people (the login page's button); defaults to the name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The identity provider's metadata XML, as downloaded from it.
    pub idp_metadata: String,
    /// Accept responses that answer no request of ours (IdP-initiated sign-in).
    #[serde(default)]
    pub allow_idp_initiated: bool,
    #[serde(default)]
    pub signed_part: SignedPart,
    #[serde(default)]
    pub attribute_map: AttributeMap,
    /// Email domains whose people sign in through this connection (unique across all tenants).
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// Absolute URLs a sign-in may return to (besides relative paths), compared exactly.
    #[serde(default)]
    pub relay_state_allow_list: Vec<String>,
    /// The `NameIDPolicy` `Format` we ask for: `persistent`, `email`, `transient`, `unspecified` (the
    /// default) or one of their URIs.
    #[serde(default)]
    pub name_id_format: Option<String>,
}

/// The identity provider, as its metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpSummary {
    pub entity_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_redirect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_post: Option<String>,
    /// SHA-256 of each signing certificate (DER), lower-case hex.
    pub signing_certificates_sha256: Vec<String>,
    pub want_authn_requests_signed: bool,
}

/// Us, the service provider, as this connection presents us to the identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpSummary {
    pub entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
    pub login_url: String,
    /// SHA-256 of our certificate (DER) for this connection, lower-case hex.
    pub certificate_sha256: String,
    /// Our certificate, base64 DER (public: it is in our metadata).
    pub certificate: String,
}

/// A connection as the API answers it (never its private key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub tenant: String,
    pub connection: String,
    pub display_name: String,
    pub idp: IdpSummary,
    pub sp: SpSummary,
    pub allow_idp_initiated: bool,
    pub signed_part: SignedPart,
    pub attribute_map: AttributeMap,
    pub email_domains: Vec<String>,
    pub relay_state_allow_list: Vec<String>,
    pub name_id_format: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// `GET /v1/tenants/{tenant}/saml/connections`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionList {
    pub connections: Vec<Connection>,
}

/// `GET /internal/v1/saml/domains/{domain}`: where a person of that email domain signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainConnection {
    pub tenant: String,
    pub connection: String,
    pub display_name: String,
    /// Where to send the browser (`…/login`; add `?relay_state=` to come back somewhere).
    pub login_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names() {
        for ok in ["okta", "0", "entra-prod_2", &"x".repeat(64)] {
            assert_eq!(ok.parse::<ConnectionId>().map(|c| c.0), Ok(ok.to_owned()));
        }
        for bad in [
            "",
            "-okta",
            "_x",
            "Okta",
            "a b",
            "a/b",
            "é",
            &"x".repeat(65),
        ] {
            assert_eq!(
                bad.parse::<ConnectionId>().map_err(|e| e.code),
                Err(Code::SamlConnectionNameInvalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn email_domains() {
        for (text, read) in [
            ("Example.COM", "example.com"),
            ("a-b.co.uk", "a-b.co.uk"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(
                text.parse::<EmailDomain>().map(|d| d.0),
                Ok(read.to_owned())
            );
        }
        for bad in [
            "",
            "com",
            ".com",
            "a..com",
            "-a.com",
            "a-.com",
            "a.com.",
            "1.2.3.4",
            "bücher.de",
            "a_b.com",
            "a b.com",
            "a.com/x",
            "@a.com",
        ] {
            assert_eq!(
                bad.parse::<EmailDomain>().map_err(|e| e.code),
                Err(Code::SamlDomainInvalid),
                "{bad:?}"
            );
        }
        assert_eq!(
            EmailDomain::of_address("Ann@Example.com").map(|d| d.0),
            Some("example.com".to_owned())
        );
        assert_eq!(EmailDomain::of_address("no-at-sign"), None);
    }

    #[test]
    fn attribute_maps() {
        let mut map = AttributeMap::default();
        map.add_pairs("email=urn:oid:0.9.2342.19200300.100.1.3,groups=http://schemas.xmlsoap.org/claims/Group")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            map.email.as_deref(),
            Some("urn:oid:0.9.2342.19200300.100.1.3")
        );
        assert_eq!(
            map.entries().iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            ["email", "groups"]
        );
        assert!(map.set("email", "mail").is_err(), "twice");
        assert!(map.set("phone", "tel").is_err(), "unknown key");
        assert!(map.set("given_name", "").is_err());
        assert!(map.set("given_name", "a b").is_err());
        assert!(map.add_pairs("family_name").is_err());
        let json = r#"{"email":"mail","nickname":"x"}"#;
        assert!(
            serde_json::from_str::<AttributeMap>(json).is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn signed_parts() {
        for part in [
            SignedPart::Assertion,
            SignedPart::Response,
            SignedPart::Either,
        ] {
            assert_eq!(part.as_str().parse::<SignedPart>(), Ok(part));
            assert_eq!(
                serde_json::to_string(&part).ok(),
                Some(format!("\"{}\"", part.as_str()))
            );
        }
        assert!("Assertion".parse::<SignedPart>().is_err());
        assert_eq!(SignedPart::default(), SignedPart::Assertion);
    }
}
