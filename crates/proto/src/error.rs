//! The error body every Tessera endpoint that is not an OAuth endpoint returns.

use serde::{Deserialize, Serialize};

use crate::Code;

/// `{"error": "<stable code>", "message": "<safe, human readable>"}`.
///
/// `error` is a stable, greppable [`Code`] (kept as text on the wire type, so that a peer newer than this
/// crate can still be read: [`ErrorBody::code`] says whether the code is known); `message` is safe to show to a client and never carries
/// secrets or internal detail (that goes to the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl ErrorBody {
    #[must_use]
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            error: code.as_str().to_owned(),
            message: message.into(),
        }
    }

    /// The code, if it is one this crate knows.
    #[must_use]
    pub fn code(&self) -> Option<Code> {
        self.error.parse().ok()
    }
}
