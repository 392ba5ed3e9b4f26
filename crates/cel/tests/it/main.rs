//! The CEL evaluator as caveats use it: three-valued answers, bounds against hostile expressions, and
//! the expressions of OpenFGA's ABAC suite and SpiceDB's documentation. (cel-spec's own conformance suite
//! runs from tests/blackbox/cel_conformance.test.mjs.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod bounds;
mod caveats;
mod unknowns;
