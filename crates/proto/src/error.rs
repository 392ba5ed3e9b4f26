//! The error body every Tessera endpoint that is not an OAuth endpoint returns.

use serde::{Deserialize, Serialize};

/// `{"error": "<stable code>", "message": "<safe, human readable>"}`.
///
/// `error` is a stable, greppable code; `message` is safe to show to a client and never carries
/// secrets or internal detail (that goes to the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}
