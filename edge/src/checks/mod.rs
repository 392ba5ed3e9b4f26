//! Permission checks near the caller: `/v1/check` and `/v1/check/bulk` (`endpoints`: read, decide,
//! respond), the questions and answers they speak (`answers`), who asks (`caller`), deciding (`decisions`: plan from the head, then walk), the cache tiers walked cheapest first (`tiers`: isolate memory, KV) and
//! the origin as the final source (`from_origin`), the per-tenant head (a Durable Object, `heads`), and
//! whether a person's session still lives (`session_liveness`).

pub mod answers;
pub mod caller;
pub mod decisions;
pub mod endpoints;
pub mod from_origin;
pub mod heads;
pub mod session_liveness;
pub mod tiers;
