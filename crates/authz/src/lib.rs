//! Zanzibar-style authorization for Tessera: the schema language, relationships and the check engine.
//!
//! - [`schema`]: the SpiceDB schema language (`definition`, `relation` with allowed subject types including
//!   `user:*` wildcards and `group#member` subject sets, `permission` with `+` union, `&` intersection,
//!   `-` exclusion, `->` arrows and `.any()`/`.all()` arrow functions, `nil`), parsed with `line:column`
//!   errors and validated (unknown types or relations, arrows over permissions, duplicates); caveats
//!   (`caveat name(params) { CEL }`, `user with name`) compiled with `tessera-cel`. Expiration traits
//!   are refused with a "not supported yet" error, never ignored.
//! - [`caveat`]: a caveated relationship's answer for a context (satisfied, unsatisfied, or missing the
//!   named parameters), which makes a check three-valued: [`Permissionship`].
//! - [`relationship`]: `resource:id#relation@subject:id[#relation]`, parsed and validated against a schema;
//!   [`tuple`]: one with its caveat (`...[caveat:{context}]`), as stores keep it.
//! - [`engine`]: `check`, `expand`, `lookup_resources` (cursor-paged, complete) and `lookup_subjects` over a
//!   [`engine::RelationshipReader`] owned by this crate, with per-request memoisation, cycle handling and a
//!   depth limit (the operations live in the private modules `check`, `expand` and `lookup`).
//!
//! - [`explain`]: why a check came out as it did (the relationships that granted it, or what denied it),
//!   for audit records.
//! - [`openfga`]: import of OpenFGA authorization models (the JSON form, schema 1.1) into this language.
//! - [`caller`]: who may ask a permission question, from an access token's claims.
//! - [`decision_cache`]: the edge's policy for serving checks from a cache keyed by revision, honouring
//!   the caller's consistency, and a bounded cache for isolate memory; [`head_knowledge`]: what the edge
//!   knows about a tenant's head, and the step (cache tiers, confirm the head, origin) for a request.
//! - [`zookie`]: opaque, tenant-bound, tamper-evident revision tokens and the consistency modes.
//!
//! Like every Tessera core this crate performs no I/O and has no clock or RNG: storage is a trait the
//! origin implements. Precedence follows SpiceDB: `+` binds tighter than `&`, which binds tighter than `-`;
//! all three are left-associative.

pub mod caller;
pub mod caveat;
mod check;
pub mod decision_cache;
pub mod engine;
mod expand;
pub mod explain;
pub mod head_knowledge;
mod lookup;
pub mod openfga;
pub mod relationship;
pub mod schema;
pub mod tuple;
pub mod zookie;

pub use caveat::{CaveatAnswer, CaveatError, Context, RelationshipCaveat};
pub use check::Permissionship;
pub use engine::{CheckError, Engine, ExpandKind, ExpandNode, FoundSubjects, RelationshipReader};
pub use openfga::{openfga_to_schema, ImportError};
pub use relationship::{ObjectRef, Relationship, RelationshipError, SubjectRef};
pub use schema::{parse_schema, Schema, SchemaError};
pub use tuple::Tuple;
pub use zookie::{revision_unverified, ZookieError, ZookieKey};
