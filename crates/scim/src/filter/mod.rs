//! SCIM filters (RFC 7644 §3.4.2.2), in four stages, one file each:
//!
//! - `lex`: the text into tokens (words, quoted JSON strings, brackets), with byte positions;
//! - `parse`: tokens into a [`Filter`] — `or` binds loosest, then `and`, then `not`; value paths
//!   `emails[type eq "work"]`; keywords and operators in any case — within [`MAX_FILTER_LEN`],
//!   [`MAX_FILTER_DEPTH`] and [`MAX_FILTER_TERMS`], so that hostile input cannot exhaust the stack;
//! - `bind`: a [`Filter`] against a [`ResourceType`] into a [`BoundFilter`]: every attribute resolved,
//!   every operator and value checked against the attribute's type (RFC 7644 §3.4.2.2's table);
//! - `eval`: [`BoundFilter::matches`] on a resource's JSON, honouring `caseExact`, multi-valued
//!   attributes (any value may match), `dateTime` as instants and numbers as numbers.
//!
//! [`BoundFilter::pushdown`] (in `pushdown`) gives the `attr eq "value"` conjuncts a store can answer
//! from an index before evaluating the whole filter on the candidates.
//!
//! Every error is a [`FilterError`] (`scimType` `invalidFilter`) with the byte position it refers to.

use core::fmt;

use serde_json::Value;

use crate::error::{ScimError, ScimType};
use crate::schema::ResourceType;

mod bind;
mod eval;
pub(crate) mod lex;
pub(crate) mod parse;
mod pushdown;

pub use bind::BoundFilter;
pub(crate) use eval::{get_ci, number_order};
pub use pushdown::{Equality, Pushdown};

/// The longest filter accepted, in bytes. Real filters are a few hundred bytes at most.
pub const MAX_FILTER_LEN: usize = 4096;
/// How deeply parentheses, `not` and value paths may nest.
pub const MAX_FILTER_DEPTH: u32 = 16;
/// How many comparisons (`attr op value`, `attr pr`) a filter may hold.
pub const MAX_FILTER_TERMS: u32 = 64;

/// An attribute path as written: `[urn:] name [.sub]`, with its byte position in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
    pub position: usize,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// The comparison operators of RFC 7644 Table 3 (`pr` is [`Filter::Present`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// The operator named by `word`, in any case.
    #[must_use]
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Whether the operator orders values (`gt ge lt le`).
    #[must_use]
    pub const fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

/// A parsed filter, not yet checked against any schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `attr op value`; the value is a JSON string, number, boolean or null.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `attr pr`.
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the (complex) attribute matches `filter`, whose paths name its
    /// sub-attributes.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// What went wrong in a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterErrorKind {
    /// Not in the filter grammar (unterminated string, missing operand, stray token...).
    Syntax,
    /// Longer than [`MAX_FILTER_LEN`], deeper than [`MAX_FILTER_DEPTH`] or with more than
    /// [`MAX_FILTER_TERMS`] comparisons.
    TooComplex,
    /// An attribute the resource type does not have, or one that cannot be filtered on.
    UnknownAttribute,
    /// An operator or value the attribute's type does not allow (`active co "x"`, `userName gt 3`).
    TypeMismatch,
}

impl FilterErrorKind {
    /// A stable code for logs and audit records.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            FilterErrorKind::Syntax => "filter_syntax",
            FilterErrorKind::TooComplex => "filter_too_complex",
            FilterErrorKind::UnknownAttribute => "filter_unknown_attribute",
            FilterErrorKind::TypeMismatch => "filter_type_mismatch",
        }
    }
}

/// A filter that cannot be used, with the byte offset it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub kind: FilterErrorKind,
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(kind: FilterErrorKind, position: usize, message: impl Into<String>) -> Self {
        Self {
            kind,
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid filter at offset {}: {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for FilterError {}

impl ScimError for FilterError {
    fn scim_type(&self) -> Option<ScimType> {
        Some(ScimType::InvalidFilter)
    }
}

/// Parse a filter (syntax only).
///
/// # Errors
/// A [`FilterError`] with the position of the first problem.
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    parse::parse(text)
}

/// Parse a filter and bind it to a resource type: what a list or search request does with `filter`.
///
/// # Errors
/// A [`FilterError`]: syntax, limits, unknown attributes, operators or values the types refuse.
pub fn compile_filter(
    text: &str,
    resource_type: &ResourceType,
) -> Result<BoundFilter, FilterError> {
    BoundFilter::bind(&parse::parse(text)?, resource_type)
}
