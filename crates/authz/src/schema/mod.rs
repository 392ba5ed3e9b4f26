//! The SpiceDB schema language: the types a schema is made of, and `parse_schema`, which runs the three
//! stages in their own files: `lex` (tokens), `parse` (definitions and expressions, positions kept) and
//! `validate` (names, types, arrows, wildcards).

use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_proto::Code;

use parse::{Parser, Spans};

mod lex;
mod parse;
mod validate;

/// A parse or validation error, with the 1-based position it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    pub line: u32,
    pub column: u32,
    pub kind: SchemaErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaErrorKind {
    /// The text is not in the schema language.
    Syntax,
    /// Valid syntax that Tessera does not implement yet (expiration, chained arrows).
    Unsupported,
    /// Well-formed but meaningless: unknown types or relations, duplicates, arrows over permissions.
    Invalid,
}

impl SchemaError {
    /// Stable code.
    #[must_use]
    pub fn code(&self) -> Code {
        match self.kind {
            SchemaErrorKind::Syntax => Code::SchemaSyntax,
            SchemaErrorKind::Unsupported => Code::SchemaUnsupported,
            SchemaErrorKind::Invalid => Code::SchemaInvalid,
        }
    }
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for SchemaError {}

/// A subject type a relation allows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AllowedSubject {
    /// `user`: objects of this type.
    Object(String),
    /// `user:*`: every object of this type.
    Wildcard(String),
    /// `group#member`: the subjects of a relation or permission of this type.
    Set(String, String),
}

/// Which arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrowKind {
    /// `a->b` or `a.any(b)`: some object related by `a` has `b`.
    Any,
    /// `a.all(b)`: at least one object is related by `a`, and every one has `b`.
    All,
}

/// A permission expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Nil,
    /// The relationships stored under relation `.0` of this object (written `this` inside that relation's
    /// rewrite).
    Direct(String),
    /// A relation or permission of the same object.
    Ref(String),
    Arrow {
        tupleset: String,
        kind: ArrowKind,
        target: String,
    },
    Union(Box<Expr>, Box<Expr>),
    Intersection(Box<Expr>, Box<Expr>),
    Exclusion(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    /// The subject types a relationship may name without a caveat.
    pub allowed: Vec<AllowedSubject>,
    /// The subject types a relationship may name with a caveat (`user with ip_allowed`): the pair of
    /// type and caveat name. `user | user with c` allows both.
    pub caveated: Vec<(AllowedSubject, String)>,
    /// The subject types a relationship may name only with an expiration (`user with expiration`,
    /// `user with c and expiration`; the schema must say `use expiration`), each with the caveat it
    /// must also carry, if any. As in SpiceDB, `user | user with expiration` allows both.
    pub expiring: Vec<(AllowedSubject, Option<String>)>,
    /// `relation viewer: user = this + editor`: the relation's answer is this expression, in which `this`
    /// stands for its stored relationships (an extension of the SpiceDB language, for models such as
    /// OpenFGA's where one relation is both assignable and computed). `None`: just the stored ones.
    pub rewrite: Option<Expr>,
}

impl Relation {
    /// Every subject type the relation allows, with or without a caveat.
    pub fn subject_types(&self) -> impl Iterator<Item = &AllowedSubject> {
        self.allowed
            .iter()
            .chain(self.caveated.iter().map(|(a, _)| a))
            .chain(self.expiring.iter().map(|(a, _)| a))
    }

    /// Whether a relationship of this relation may carry a caveat (with or without an expiration).
    #[must_use]
    pub fn allows_caveats(&self) -> bool {
        !self.caveated.is_empty() || self.expiring.iter().any(|(_, c)| c.is_some())
    }
}

/// The type of a caveat parameter (SpiceDB's caveat types).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaveatType {
    Any,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    IpAddress,
    /// `list<T>`.
    List(Box<CaveatType>),
    /// `map<T>`: string keys.
    Map(Box<CaveatType>),
}

impl std::fmt::Display for CaveatType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Bool => f.write_str("bool"),
            Self::Int => f.write_str("int"),
            Self::Uint => f.write_str("uint"),
            Self::Double => f.write_str("double"),
            Self::String => f.write_str("string"),
            Self::Bytes => f.write_str("bytes"),
            Self::Duration => f.write_str("duration"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::IpAddress => f.write_str("ipaddress"),
            Self::List(t) => write!(f, "list<{t}>"),
            Self::Map(t) => write!(f, "map<{t}>"),
        }
    }
}

/// `caveat name(param type, ...) { expression }`: a CEL expression over typed parameters, compiled once.
///
/// `caveat name(...) strict { ... }` (a Tessera extension, which the OpenFGA import writes for
/// conditions) needs every parameter in the context before it is evaluated, as OpenFGA's conditions
/// do; without `strict`, a caveat is evaluated partially, as SpiceDB's are (`x < 100 || y < 50` holds
/// with `x = 10` alone).
#[derive(Clone, Debug)]
pub struct Caveat {
    pub params: BTreeMap<String, CaveatType>,
    pub strict: bool,
    /// The expression as written.
    pub expression: String,
    pub(crate) program: Arc<tessera_cel::Program>,
}

impl PartialEq for Caveat {
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
            && self.strict == other.strict
            && self.expression == other.expression
    }
}

impl Eq for Caveat {}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Definition {
    pub relations: BTreeMap<String, Relation>,
    pub permissions: BTreeMap<String, Expr>,
}

impl Definition {
    /// Whether `name` is a relation or a permission here.
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.relations.contains_key(name) || self.permissions.contains_key(name)
    }
}

/// A validated schema.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    pub definitions: BTreeMap<String, Definition>,
    pub caveats: BTreeMap<String, Caveat>,
}

impl Schema {
    #[must_use]
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name)
    }

    /// The height of the deepest permission or rewrite expression (at most [`MAX_EXPR_HEIGHT`] for a
    /// parsed schema; 0 when there is none).
    #[must_use]
    pub fn expr_height(&self) -> u32 {
        self.definitions
            .values()
            .flat_map(|d| {
                d.permissions
                    .values()
                    .chain(d.relations.values().filter_map(|r| r.rewrite.as_ref()))
            })
            .map(expr_height)
            .max()
            .unwrap_or(0)
    }
}

fn err(line: u32, column: u32, kind: SchemaErrorKind, message: impl Into<String>) -> SchemaError {
    SchemaError {
        line,
        column,
        kind,
        message: message.into(),
    }
}

/// How deep an expression may nest (operators, parentheses). Evaluating, validating and dropping an
/// expression recurse once per level, and the origin sizes the engine's stack from the deepest
/// expression of a schema ([`Schema::expr_height`]), so the height must be bounded — and a hostile
/// schema of a million `(` must not overflow the parser. Generous: real schemas nest a handful deep.
pub const MAX_EXPR_HEIGHT: u32 = 100;

/// The height of an expression tree: 1 for a leaf (`nil`, a name, an arrow), one more per operator.
#[must_use]
pub fn expr_height(expr: &Expr) -> u32 {
    match expr {
        Expr::Nil | Expr::Direct(_) | Expr::Ref(_) | Expr::Arrow { .. } => 1,
        Expr::Union(a, b) | Expr::Intersection(a, b) | Expr::Exclusion(a, b) => {
            1 + expr_height(a).max(expr_height(b))
        }
    }
}

/// Parse and validate a schema.
///
/// # Errors
/// The first syntax, unsupported-feature or validation error, with its position.
pub fn parse_schema(src: &str) -> Result<Schema, SchemaError> {
    let toks = lex::lex(src)?;
    let mut parser = Parser {
        src,
        toks,
        pos: 0,
        this_relation: None,
        parens: 0,
        use_expiration: false,
        begun: false,
    };
    let mut spans = Spans::default();
    let schema = parser.schema(&mut spans)?;
    validate::validate(&schema, &spans)?;
    Ok(schema)
}
