//! The vocabulary of permission checks at the edge: a validated [`Question`], a [`Decision`] and where it
//! came from ([`Source`]), an origin's refusal of one question ([`ItemError`]), and a [`Batch`] of answers
//! at one revision. The deciding ([`crate::checks::decisions`]), the cache tiers
//! ([`crate::checks::tiers`]) and the origin ([`crate::checks::from_origin`]) all speak it.

use std::rc::Rc;
use std::str::FromStr;

use tessera_authz::{ObjectRef, RelationshipError, SubjectRef};
use tessera_proto::check::{AnswerAt, CheckItem};
use tessera_proto::Code;

use crate::error::ApiError;

/// An answer (cached, or the origin's).
#[derive(Clone)]
pub struct Decision {
    pub allowed: bool,
    pub zookie: Rc<str>,
    /// The caveat parameters still missing, when the answer is conditional (never cached: only the
    /// origin gives one, and a later request may bring the context).
    pub missing: Option<Rc<[String]>>,
    /// When the answer rests on a relationship that expires (RFC 3339): it holds until then and is
    /// never cached here (only the origin gives one; its own kept answer lasts until then).
    pub valid_until: Option<Rc<str>>,
}

/// Where the answers came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Isolate,
    Kv,
    Origin,
}

impl Source {
    /// The `tessera-cache` header's value.
    pub fn header(self) -> &'static str {
        match self {
            Self::Isolate => "isolate",
            Self::Kv => "kv",
            Self::Origin => "origin",
        }
    }
}

/// A question, validated and in canonical form.
pub struct Question {
    pub resource: String,
    pub permission: String,
    pub subject: String,
}

impl Question {
    /// # Errors
    /// `400` with the relationship parser's code when a part is malformed.
    pub fn parse(item: &CheckItem) -> Result<Self, ApiError> {
        fn part<T: FromStr<Err = RelationshipError>>(
            what: &str,
            text: &str,
        ) -> Result<T, ApiError> {
            text.parse().map_err(|e: RelationshipError| {
                ApiError::new(400, e.code(), format!("{what} `{text}`: {e}"))
            })
        }
        let resource: ObjectRef = part("resource", &item.resource)?;
        let subject: SubjectRef = part("subject", &item.subject)?;
        let p = &item.permission;
        let plausible = p.len() <= 64
            && p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plausible {
            return Err(ApiError::new(
                400,
                Code::InvalidPermission,
                format!("permission `{p}` is not a permission name"),
            ));
        }
        Ok(Self {
            resource: resource.to_string(),
            permission: p.clone(),
            subject: subject.to_string(),
        })
    }

    pub(crate) fn item(&self) -> CheckItem {
        CheckItem {
            resource: self.resource.clone(),
            permission: self.permission.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// Tenant names as the origin accepts them (`tessera_proto::TenantId`).
pub fn valid_tenant(t: &str) -> bool {
    t.parse::<tessera_proto::TenantId>().is_ok()
}

/// An error the origin gave for one question.
pub struct ItemError {
    pub code: String,
    pub message: String,
}

/// Answers to a batch of questions, all at one revision.
pub struct Batch {
    pub results: Vec<Result<Decision, ItemError>>,
    pub zookie: String,
    pub revision: u64,
    pub source: Source,
    pub stale: bool,
    pub staleness_ms: u64,
    /// The region whose origin computed it (answers from the origin, when it said).
    pub region: Option<String>,
}

/// What an answer says besides its results: what the client sees, and where it came from.
pub struct About {
    pub at: AnswerAt,
    pub source: Source,
    pub region: Option<String>,
}

impl Batch {
    /// The results, and what the answer says about them.
    #[must_use]
    pub fn split(self) -> (Vec<Result<Decision, ItemError>>, About) {
        let about = About {
            at: AnswerAt {
                zookie: self.zookie,
                revision: self.revision,
                cached: self.source != Source::Origin,
                stale: self.stale,
                staleness_ms: self.staleness_ms,
            },
            source: self.source,
            region: self.region,
        };
        (self.results, about)
    }
}

pub(crate) fn unavailable(message: impl Into<String>, detail: impl Into<String>) -> ApiError {
    ApiError::unavailable(Code::ConsistencyUnavailable, message, detail)
}
