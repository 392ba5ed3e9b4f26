//! Regions: what an origin says about itself and the regions it knows (`GET /v1/regions`, and the
//! `GET /internal/v1/region` its peers poll), and the headers that say where an answer was computed.
//!
//! One region's PostgreSQL is the primary; every other region's origin reads a streaming replica of it and
//! sends writes (and reads that need a newer revision than its replica has replayed) to the primary region.

use serde::{Deserialize, Serialize};

/// The region that computed an answer (set by the origin that ran the handler; a forwarding origin
/// passes it on unchanged).
pub const REGION_HEADER: &str = "tessera-region";
/// The region whose origin forwarded the request to the one that computed the answer.
pub const VIA_HEADER: &str = "tessera-via";
/// Marks a request one origin forwarded to another: the receiver answers it itself or refuses it
/// (`503 primary_unavailable`, e.g. when it stopped being the primary meanwhile), never forwards it again.
pub const FORWARDED_HEADER: &str = "tessera-forwarded-by";
/// On an answer computed at a replica: how far its replay was behind the primary (ms), so that the edge
/// dates the revision it learns; `unknown` when the replica cannot tell (the edge then learns no head
/// from the answer).
pub const REPLICA_LAG_HEADER: &str = "tessera-replica-lag-ms";
/// Sent by the edge with a `fully_consistent` read for its own cache (`accept`): the head of this region's
/// replica will do, within its lag bound (the answer then carries [`REPLICA_LAG_HEADER`]).
pub const REGION_HEAD_HEADER: &str = "tessera-region-head";
/// On a `503 primary_unavailable` for a write: `no` when the request never reached the primary (so it may
/// be sent elsewhere), `unknown` when it may have been applied.
pub const WRITE_APPLIED_HEADER: &str = "tessera-write-applied";

/// What an origin's own database is to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionRole {
    /// It accepts writes (SQLite, or a PostgreSQL primary no newer primary has replaced).
    Primary,
    /// A hot standby: reads at the revision it has replayed; writes go to the primary region.
    Replica,
    /// A PostgreSQL that reports itself primary while another region's primary is on a newer timeline
    /// (a failover happened without it): it takes no writes and answers nothing of its own.
    Fenced,
    /// The database cannot be reached.
    Unavailable,
}

/// One origin's own state, as its peers poll it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionStatus {
    pub region: String,
    pub role: RegionRole,
    /// The PostgreSQL timeline of a primary (it grows by one at each promotion); 0 when unknown.
    pub timeline: u32,
    /// How far a replica's replay is behind the primary, in milliseconds (the age of the newest
    /// heartbeat it replayed); 0 for a primary, `None` when not known (no heartbeat replayed yet).
    pub lag_ms: Option<u64>,
    /// The database cluster's identity (a primary and its replicas share it): a peer on another cluster
    /// is not followed.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// A peer as this origin last saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub region: String,
    pub url: String,
    /// `None` when the last poll got no answer.
    pub status: Option<RegionStatus>,
}

/// A tenant's head as this region's database has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantHead {
    pub tenant: String,
    pub revision: u64,
    pub zookie: String,
}

/// How many requests this origin answered itself and how many it sent to the primary region, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCounters {
    pub answered_here: u64,
    /// Audit batches stored here (the edge's, and other regions' origins' own events): the trail's
    /// traffic, counted apart from the answers.
    #[serde(default)]
    pub audit_batches: u64,
    /// Writes, and the reads that must see the latest write (sessions, users, SCIM, administration).
    pub forwarded_to_primary: u64,
    /// Reads whose consistency asked for a revision the replica had not replayed within the wait.
    pub forwarded_fresh_reads: u64,
    /// Reads forwarded because the replica was past its lag bound (or its database unreachable).
    pub forwarded_stale_reads: u64,
    /// Reads that waited for replay and were then answered here.
    pub waited_for_replay: u64,
    /// Requests refused with `503 primary_unavailable` or `replica_stale`.
    pub refused: u64,
}

/// `GET /v1/regions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionsAnswer {
    #[serde(flatten)]
    pub own: RegionStatus,
    /// Past this lag a replica stops answering `minimize_latency` reads itself.
    pub max_lag_ms: u64,
    /// The region writes go to now (`None`: no primary is reachable).
    pub primary_region: Option<String>,
    pub peers: Vec<PeerStatus>,
    pub counters: RegionCounters,
    /// With `?tenant=`: that tenant's head in this region's database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantHead>,
}
