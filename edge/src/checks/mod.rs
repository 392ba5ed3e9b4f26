//! Permission checks near the caller: `/v1/check` and `/v1/check/bulk` from isolate memory, KV or the
//! origin (`decisions`), the per-tenant head (a Durable Object, `heads`), and whether a person's session
//! still lives (`session_liveness`).

pub mod decisions;
pub mod heads;
pub mod session_liveness;
