//! SCIM 2.0 for Tessera (RFC 7643 core schema, RFC 7644 protocol): the rules the origin's `/scim/v2`
//! endpoints enforce, as pure functions over `serde_json` values.
//!
//! - [`schema`]: attribute characteristics and the built-in resource types — User with the Enterprise
//!   User extension, Group (RFC 7643 §4, §8.7.1) — and the lookups every other stage makes;
//! - [`discovery`]: the `/Schemas`, `/ResourceTypes` and `/ServiceProviderConfig` documents (RFC 7643
//!   §5–7), built from the same model, so the origin advertises exactly what it enforces;
//! - [`filter`]: filters (RFC 7644 §3.4.2.2) parsed with positions, bound to a resource type, evaluated
//!   on resources, and the `attr eq "value"` conjuncts a store can answer from an index;
//! - [`patch`]: `PatchOp` bodies (RFC 7644 §3.5.2) parsed, checked against mutability and types, and
//!   applied to a resource; the quirks Microsoft Entra ID and Okta send are accepted and reported as
//!   [`patch::Correction`]s; a Group PATCH becomes member changes without loading the members;
//! - [`list`]: `attributes`/`excludedAttributes` projection, `sortBy`/`sortOrder`, pagination and the
//!   `ListResponse` (RFC 7644 §3.4.2.3–4, §3.9);
//! - [`error`]: the `scimType` keywords and the RFC 7644 §3.12 error body; each stage has its own error
//!   type ([`FilterError`], [`PatchError`], [`ListError`]).
//!
//! Like every Tessera core it performs no I/O and reads no clock: the store, ids, `meta` timestamps and
//! versions (ETags) are the origin's. It does not implement bulk operations, `/Me`, password changes,
//! sorting inside the store, or custom schemas (the model is the built-in one; attribute names are
//! `&'static str`).

pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod schema;

pub use error::{error_body, error_body_parts, ScimError, ScimType};
pub use filter::{compile_filter, parse_filter, BoundFilter, Filter, FilterError, Pushdown};
pub use list::{list_response, ListError, Page, Projection, SortOrder, SortSpec};
pub use patch::{
    apply_patch, parse_patch, plan_group_patch, Correction, GroupPatchPlan, MemberChanges,
    PatchError, PatchOutcome, PatchRequest,
};
pub use schema::group::group_resource_type;
pub use schema::user::user_resource_type;
pub use schema::ResourceType;
