//! Identifiers that cross the wire, each with one rule, checked in one place: [`TenantId`] and
//! [`Username`]. Edge, origin and SDKs parse them with `FromStr` (or deserialise them, which parses), so a
//! name the origin accepts is a name the edge accepts.

use crate::Code;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// A refused identifier: a stable code and a message naming the rule (the value in backticks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdError {
    pub code: Code,
    pub message: String,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IdError {}

/// A tenant: 1 to 63 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter or digit (it
/// appears in URLs, keys and DNS-like names).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub const MAX_LEN: usize = 63;

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
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
                code: Code::InvalidTenant,
                message: format!(
                    "tenant `{}` must be 1-63 characters of a-z, 0-9, `-` or `_`, starting with a letter or digit",
                    t.escape_debug()
                ),
            })
        }
    }
}

/// A person's sign-in name: 1 to 64 characters (not bytes), no control characters, no spaces at
/// either end.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 64;

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What uniqueness compares: the name lower-cased by Unicode's rules (`Alice`, `ALICE` and `alice`
    /// are one name; so are `ÄLICE` and `älice`, and the Kelvin sign `\u{212A}im` and `kim`). The same
    /// folding as SCIM filters use for `userName` (`caseExact: false`), done here rather than by the
    /// database, whose `lower()` folds ASCII only in SQLite and by locale in PostgreSQL.
    #[must_use]
    pub fn key(&self) -> String {
        username_key(&self.0)
    }
}

/// [`Username::key`] of any text (for look-ups by a name that need not be valid).
#[must_use]
pub fn username_key(name: &str) -> String {
    name.to_lowercase()
}

impl FromStr for Username {
    type Err = IdError;

    fn from_str(name: &str) -> Result<Self, IdError> {
        let ok = !name.is_empty()
            && name.chars().count() <= Self::MAX_CHARS
            && !name.chars().any(char::is_control)
            && name.trim() == name;
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(IdError {
                code: Code::InvalidUsername,
                message: "a username is 1 to 64 characters, without spaces at either end"
                    .to_owned(),
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

        impl std::ops::Deref for $t {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
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

string_like!(TenantId, Username);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants() {
        for ok in ["acme", "a", "0", "acme-eu_1", &"x".repeat(63)] {
            assert_eq!(ok.parse::<TenantId>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-acme",
            "_acme",
            "Acme",
            "ac me",
            "acmé",
            &"x".repeat(64),
            "a\n",
        ] {
            let e = bad.parse::<TenantId>().unwrap_err();
            assert_eq!(e.code, "invalid_tenant", "{bad:?}");
        }
        // The message escapes what it quotes: a newline cannot forge a log line.
        assert!("a\nb"
            .parse::<TenantId>()
            .unwrap_err()
            .message
            .contains("a\\nb"));
    }

    #[test]
    fn usernames() {
        for ok in ["ann", "Ann Smith", "ñandú", &"é".repeat(64)] {
            assert_eq!(ok.parse::<Username>().unwrap().as_str(), ok);
        }
        for bad in ["", " ann", "ann ", "tab\there", &"x".repeat(65)] {
            assert_eq!(
                bad.parse::<Username>().unwrap_err().code,
                "invalid_username"
            );
        }
    }

    #[test]
    fn username_keys_fold_case_by_unicode_rules() {
        let key = |s: &str| s.parse::<Username>().map(|u| u.key()).unwrap_or_default();
        assert_eq!(key("Alice"), key("aLICE"));
        assert_eq!(key("ÄLICE"), "älice");
        assert_eq!(key("\u{212A}im"), key("kim"));
        assert_ne!(key("ann"), key("anne"));
    }

    #[test]
    fn deserialising_parses() {
        assert!(serde_json::from_str::<TenantId>("\"acme\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"-acme\"").is_err());
        assert_eq!(
            serde_json::to_string(&"acme".parse::<TenantId>().unwrap()).unwrap(),
            "\"acme\""
        );
    }
}
