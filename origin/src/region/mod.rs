//! Regions (issue 12): origins in several regions over one replicated PostgreSQL.
//!
//! One region's database is the PostgreSQL primary; every other region's origin runs on a streaming
//! replica (hot standby) in its region. Each origin knows its own region (`--region`) and its peers'
//! origins (`--peers b=https://...`), and:
//!
//! - answers reads from its own database at the revision it has replayed, and sends writes to the region
//!   whose database is the primary ([`gate`]: one table says which routes are which; anything it does not
//!   name goes to the primary);
//! - for a read whose consistency asks for more than its replica has replayed, waits a bounded time for
//!   replay, then sends it to the primary region (`fully_consistent` goes straight there);
//! - past its lag bound (`--max-lag`), stops answering `minimize_latency` itself: it forwards, or, when no
//!   primary is reachable, refuses with `503 replica_stale` rather than answering from old data;
//! - learns who the primary is by polling its own database (`pg_is_in_recovery()`, the WAL timeline) and its
//!   peers' `GET /internal/v1/region` ([`monitor`]), so after a failover (a standby promoted) every origin
//!   follows the new primary without a restart, and an old primary that comes back on an older timeline
//!   fences itself;
//! - measures its replica's lag by a heartbeat the primary's origins write ([`heartbeat`]);
//! - says where each answer was computed (`Tessera-Region`, and `Tessera-Via` when forwarded).
//!
//! With SQLite (or PostgreSQL and no peers) there is one region and all of this reduces to answering
//! everything locally.

pub mod forward;
pub mod gate;
pub mod heartbeat;
pub mod http;
pub mod monitor;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tessera_proto::regions::{PeerStatus, RegionCounters, RegionRole, RegionStatus};

/// A region's name: 1–32 of `a-z 0-9 -`, starting with a letter (it travels in headers and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionName(String);

impl std::str::FromStr for RegionName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let ok = (1..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "region name `{}` must be 1 to 32 of a-z, 0-9 and -, starting with a letter",
                s.escape_debug()
            ))
        }
    }
}

impl RegionName {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Another region's origin.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: RegionName,
    /// Base URL, no trailing slash.
    pub url: String,
}

/// Parse `--peers`: `name=url` pairs separated by commas (order is the order of preference for a primary
/// when two report the same timeline).
///
/// # Errors
/// A malformed pair, a bad name or URL, or a name given twice or equal to `own`.
pub fn parse_peers(text: &str, own: &RegionName) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, url)) = pair.split_once('=') else {
            return Err(format!(
                "--peers: `{}` is not region=URL",
                pair.escape_debug()
            ));
        };
        let name: RegionName = name.trim().parse()?;
        let url = url.trim().trim_end_matches('/');
        let parsed = url::Url::parse(url)
            .map_err(|e| format!("--peers: `{}` is not a URL: {e}", url.escape_debug()))?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        // The service credential travels to peers: never in clear text off this machine.
        if !(parsed.scheme() == "https" && parsed.host().is_some()
            || parsed.scheme() == "http" && loopback)
        {
            return Err(format!(
                "--peers: `{}` must be an https:// URL (http:// only on loopback)",
                url.escape_debug()
            ));
        }
        if &name == own || peers.iter().any(|p| p.name == name) {
            return Err(format!(
                "--peers: region `{}` is named twice (or is this origin's own)",
                name.as_str()
            ));
        }
        peers.push(Peer {
            name,
            url: url.to_owned(),
        });
    }
    Ok(peers)
}

/// How an origin behaves in its region.
#[derive(Clone, Debug)]
pub struct RegionSettings {
    pub name: RegionName,
    pub peers: Vec<Peer>,
    /// Past this lag a replica forwards (or refuses) `minimize_latency` reads.
    pub max_lag: Duration,
    /// How long a read that needs a newer revision waits for replay before it is forwarded.
    pub replay_wait: Duration,
    /// How often the primary's origins write the heartbeat and every origin polls its database and peers.
    pub tick: Duration,
    /// A forwarded request's whole budget (connect, send, answer).
    pub forward_timeout: Duration,
}

impl RegionSettings {
    /// How long the monitor waits for its database or a peer in one tick.
    #[must_use]
    pub fn patience(&self) -> Duration {
        (self.tick * 4).max(Duration::from_secs(1))
    }

    /// One region named `local`: the SQLite default.
    #[must_use]
    pub fn single() -> Self {
        Self {
            name: RegionName("local".to_owned()),
            peers: Vec::new(),
            max_lag: Duration::from_secs(5),
            replay_wait: Duration::from_millis(250),
            tick: Duration::from_millis(500),
            forward_timeout: Duration::from_secs(4),
        }
    }
}

/// Where writes go now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrimaryTarget {
    /// This origin's own database.
    Here,
    /// Another region's origin (index into the peers).
    Peer(usize),
    /// Nobody reachable takes writes.
    Unknown,
}

/// What the monitor last saw: this origin's database and its peers.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub role: RegionRole,
    pub timeline: u32,
    /// A replica: when the newest heartbeat it replayed from the current primary was written (unix ms,
    /// the primary's clock); `None` when it has replayed none from that primary.
    pub heartbeat_at_ms: Option<i64>,
    /// The database cluster's identity (`region_cluster`), shared by a primary and its replicas.
    pub cluster: Option<String>,
    pub peers: Vec<Option<RegionStatus>>,
    pub primary: PrimaryTarget,
    /// When the monitor took it (unix ms).
    pub taken_at_ms: i64,
}

/// A clock difference between regions beyond which a heartbeat "from the future" is not believed.
const MAX_CLOCK_SKEW_MS: i64 = 1000;

impl Snapshot {
    /// How far behind the primary this origin's database is at `now_ms`: 0 for a primary; for a replica
    /// the age of its newest heartbeat, growing between ticks; `None` when unknown (no heartbeat from the
    /// current primary, a clock ahead of ours by more than a second, or a monitor that stopped ticking).
    #[must_use]
    pub fn lag_ms(&self, now_ms: i64, stale_after_ms: i64) -> Option<u64> {
        match self.role {
            RegionRole::Primary => Some(0),
            RegionRole::Replica => {
                if now_ms.saturating_sub(self.taken_at_ms) > stale_after_ms {
                    return None;
                }
                let age = now_ms.saturating_sub(self.heartbeat_at_ms?);
                if age < -MAX_CLOCK_SKEW_MS {
                    return None;
                }
                Some(u64::try_from(age.max(0)).unwrap_or(0))
            }
            RegionRole::Fenced | RegionRole::Unavailable => None,
        }
    }
}

/// The region state every request consults (cheap to clone).
#[derive(Clone)]
pub struct Regions {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RegionSettings,
    snapshot: RwLock<Snapshot>,
    /// `None` for a single region, which never calls a peer.
    client: Option<reqwest::Client>,
    counters: Counters,
    /// Forwards in flight, bounded: past the bound a request is refused at once rather than queued.
    forwards: tokio::sync::Semaphore,
    /// Reads waiting for replay, bounded likewise (past it they are forwarded without waiting).
    waiters: tokio::sync::Semaphore,
}

/// Forwards one origin keeps in flight at most.
pub const MAX_FORWARDS: usize = 256;
/// Reads one origin keeps waiting for replay at most.
pub const MAX_REPLAY_WAITERS: usize = 64;

#[derive(Default)]
struct Counters {
    answered_here: AtomicU64,
    audit_batches: AtomicU64,
    forwarded_to_primary: AtomicU64,
    forwarded_fresh_reads: AtomicU64,
    forwarded_stale_reads: AtomicU64,
    waited_for_replay: AtomicU64,
    refused: AtomicU64,
}

/// Which counter a request adds to.
#[derive(Clone, Copy, Debug)]
pub enum Count {
    AnsweredHere,
    /// An audit batch stored here (the edge's, or another region's origin's own events).
    AuditBatch,
    ForwardedToPrimary,
    ForwardedFreshRead,
    ForwardedStaleRead,
    WaitedForReplay,
    Refused,
}

impl Regions {
    /// One region, whose database takes writes (SQLite, or PostgreSQL with no peers).
    #[must_use]
    pub fn single() -> Self {
        Self::with_client(RegionSettings::single(), PrimaryTarget::Here, None)
    }

    /// A region whose role the monitor has yet to find: it answers nothing of its own until its first
    /// tick ([`monitor::first_tick`]) says what its database is.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(settings: RegionSettings) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2).min(settings.forward_timeout))
            .timeout(settings.forward_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client for peers: {e}"))?;
        Ok(Self::with_client(
            settings,
            PrimaryTarget::Unknown,
            Some(client),
        ))
    }

    fn with_client(
        settings: RegionSettings,
        primary: PrimaryTarget,
        client: Option<reqwest::Client>,
    ) -> Self {
        let here = primary == PrimaryTarget::Here;
        let snapshot = Snapshot {
            role: if here {
                RegionRole::Primary
            } else {
                RegionRole::Unavailable
            },
            timeline: u32::from(here),
            heartbeat_at_ms: None,
            cluster: None,
            peers: vec![None; settings.peers.len()],
            primary,
            taken_at_ms: 0,
        };
        Self {
            inner: Arc::new(Inner {
                settings,
                snapshot: RwLock::new(snapshot),
                client,
                counters: Counters::default(),
                forwards: tokio::sync::Semaphore::new(MAX_FORWARDS),
                waiters: tokio::sync::Semaphore::new(MAX_REPLAY_WAITERS),
            }),
        }
    }

    #[must_use]
    pub fn settings(&self) -> &RegionSettings {
        &self.inner.settings
    }

    #[must_use]
    pub fn name(&self) -> &str {
        self.inner.settings.name.as_str()
    }

    pub(crate) fn client(&self) -> Option<&reqwest::Client> {
        self.inner.client.as_ref()
    }

    pub(crate) fn forwards(&self) -> &tokio::sync::Semaphore {
        &self.inner.forwards
    }

    pub(crate) fn waiters(&self) -> &tokio::sync::Semaphore {
        &self.inner.waiters
    }

    /// What the monitor last saw.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_snapshot(&self, s: Snapshot) {
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = s;
    }

    /// How old a snapshot may be before its replica lag is no longer believed (ms): two rounds of the
    /// monitor at their slowest.
    #[must_use]
    pub fn stale_after_ms(&self) -> i64 {
        let s = &self.inner.settings;
        i64::try_from((s.patience() * 2 + s.tick * 2).as_millis()).unwrap_or(i64::MAX)
    }

    /// This origin's status now (its lag as of this moment).
    #[must_use]
    pub fn status(&self, snap: &Snapshot, now_ms: i64) -> RegionStatus {
        RegionStatus {
            region: self.name().to_owned(),
            role: snap.role,
            timeline: snap.timeline,
            lag_ms: snap.lag_ms(now_ms, self.stale_after_ms()),
            cluster: snap.cluster.clone(),
        }
    }

    /// The peer writes go to, when it is another region's.
    #[must_use]
    pub fn peer(&self, i: usize) -> Option<&Peer> {
        self.inner.settings.peers.get(i)
    }

    pub fn count(&self, c: Count) {
        let n = &self.inner.counters;
        let counter = match c {
            Count::AnsweredHere => &n.answered_here,
            Count::AuditBatch => &n.audit_batches,
            Count::ForwardedToPrimary => &n.forwarded_to_primary,
            Count::ForwardedFreshRead => &n.forwarded_fresh_reads,
            Count::ForwardedStaleRead => &n.forwarded_stale_reads,
            Count::WaitedForReplay => &n.waited_for_replay,
            Count::Refused => &n.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    #[must_use]
    pub fn counters(&self) -> RegionCounters {
        let n = &self.inner.counters;
        RegionCounters {
            answered_here: n.answered_here.load(Ordering::Relaxed),
            audit_batches: n.audit_batches.load(Ordering::Relaxed),
            forwarded_to_primary: n.forwarded_to_primary.load(Ordering::Relaxed),
            forwarded_fresh_reads: n.forwarded_fresh_reads.load(Ordering::Relaxed),
            forwarded_stale_reads: n.forwarded_stale_reads.load(Ordering::Relaxed),
            waited_for_replay: n.waited_for_replay.load(Ordering::Relaxed),
            refused: n.refused.load(Ordering::Relaxed),
        }
    }

    /// The peers with what was last seen of each.
    #[must_use]
    pub fn peer_statuses(&self) -> Vec<PeerStatus> {
        let snap = self.snapshot();
        self.inner
            .settings
            .peers
            .iter()
            .zip(snap.peers)
            .map(|(p, status)| PeerStatus {
                region: p.name.as_str().to_owned(),
                url: p.url.clone(),
                status,
            })
            .collect()
    }

    /// The region writes go to now.
    #[must_use]
    pub fn primary_region(&self) -> Option<String> {
        match self.snapshot().primary {
            PrimaryTarget::Here => Some(self.name().to_owned()),
            PrimaryTarget::Peer(i) => self.peer(i).map(|p| p.name.as_str().to_owned()),
            PrimaryTarget::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_parsed_not_trusted() {
        assert!("eu-west-1".parse::<RegionName>().is_ok());
        for bad in ["", "1eu", "EU", "eu west", "eu\nwest", &"a".repeat(33)] {
            assert!(bad.parse::<RegionName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn peers_are_name_url_pairs() {
        let own: RegionName = "a".parse().unwrap();
        let peers = parse_peers("b=http://127.0.0.1:9/, c=https://c.example", &own).unwrap();
        assert!(parse_peers("b=http://[::1]:9, c=http://localhost:8", &own).is_ok());
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].url, "http://127.0.0.1:9");
        assert_eq!(peers[1].name.as_str(), "c");
        for bad in [
            "b",
            "b=https://",
            "b=ftp://x",
            "b=http://b.example",
            "b=http://10.0.0.1:80",
            "b=http://x,b=http://y",
            "a=http://x",
            "B=http://x",
        ] {
            assert!(parse_peers(bad, &own).is_err(), "{bad:?}");
        }
        assert!(parse_peers("", &own).unwrap().is_empty());
    }
}
