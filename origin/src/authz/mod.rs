//! Authorization: the Zanzibar-style relationship store and its HTTP API.
//!
//! - [`store`]: per-tenant revisions, versioned schemas, relationships with MVCC revisions, watch; the
//!   engine's storage port ([`store::SnapshotReader`]).
//! - [`cache`]: relationships in memory, exact by revision.
//! - [`engine_thread`]: where the engine runs (a thread whose stack holds the depth limit).
//! - [`http`]: `/v1/tenants/{tenant}/...` (schema, relationships, check, expand, lookups, watch, head).

pub mod cache;
pub mod engine_thread;
pub mod http;
pub mod store;
pub mod sweep;

pub use store::{AuthzStore, WriteTx};
