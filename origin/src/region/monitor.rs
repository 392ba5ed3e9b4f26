//! The region monitor: every tick it looks at this origin's database (on a small pool of its own) and
//! polls its peers, decides where writes go, and, when that is here, writes the heartbeat. Requests only
//! read what it last decided ([`super::Regions::snapshot`]), so a dead peer or database never slows one
//! down by more than the forward itself; a snapshot the monitor stopped refreshing is not believed
//! ([`super::Snapshot::lag_ms`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tessera_proto::regions::{RegionRole, RegionStatus};

use super::heartbeat::{self, DbState};
use super::{PrimaryTarget, Regions, Snapshot};
use crate::store::Db;

/// Consecutive failed looks at the database before it counts as unreachable (one slow answer is not an
/// outage).
const PROBE_FAILURES: u32 = 2;
/// A heartbeat write that takes longer is abandoned (under synchronous replication with the standby gone
/// a commit waits; the next tick tries again).
const BEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the monitor carries from one tick to the next.
#[derive(Default)]
pub struct Memory {
    last_good: Option<DbState>,
    failures: u32,
    peers_up: Vec<bool>,
    beating: Arc<AtomicBool>,
}

/// Look once before serving, so that the origin starts knowing what it is.
pub async fn first_tick(regions: &Regions, db: &Db, bearer: &str) -> Memory {
    let mut memory = Memory::default();
    tick(regions, db, bearer, &mut memory).await;
    memory
}

/// Run the monitor until the process ends. `bearer`: the service credential the peers accept.
pub fn spawn(regions: Regions, db: Db, bearer: Arc<str>, mut memory: Memory) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(regions.settings().tick).await;
            tick(&regions, &db, &bearer, &mut memory).await;
        }
    });
}

/// One round: look, poll, decide, beat.
async fn tick(regions: &Regions, db: &Db, bearer: &str, memory: &mut Memory) {
    let patience = regions.settings().patience();
    let seen = match tokio::time::timeout(patience, heartbeat::probe(db)).await {
        Ok(Ok(state)) => Ok(state),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {patience:?}")),
    };
    let own = match seen {
        Ok(state) => {
            if memory.failures >= PROBE_FAILURES {
                tracing::info!("region monitor: the database answers again");
            }
            memory.failures = 0;
            memory.last_good = Some(state.clone());
            Some(state)
        }
        Err(e) => {
            memory.failures = memory.failures.saturating_add(1);
            if memory.failures == PROBE_FAILURES {
                tracing::warn!(error = %e.escape_debug(), "region monitor: the database does not answer");
            }
            if memory.failures < PROBE_FAILURES {
                memory.last_good.clone()
            } else {
                None
            }
        }
    };
    let peers = poll_peers(regions, bearer, patience, memory).await;
    let names: Vec<&str> = regions
        .settings()
        .peers
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let snapshot = decide(
        regions.name(),
        own.as_ref(),
        &names,
        peers,
        heartbeat::now_ms(),
    );
    let before = regions.snapshot();
    if before.primary != snapshot.primary || before.role != snapshot.role {
        tracing::info!(
            role = ?snapshot.role,
            primary = ?snapshot.primary,
            timeline = snapshot.timeline,
            "region monitor: the region's role or primary changed"
        );
    }
    let beat = (snapshot.primary == PrimaryTarget::Here).then_some(snapshot.timeline);
    regions.set_snapshot(snapshot);
    if let Some(timeline) = beat {
        beat_once(regions, db, timeline, &memory.beating);
    }
}

/// Write the heartbeat in the background, one at a time.
fn beat_once(regions: &Regions, db: &Db, timeline: u32, beating: &Arc<AtomicBool>) {
    if beating.swap(true, Ordering::AcqRel) {
        return;
    }
    let (db, beating, name) = (db.clone(), beating.clone(), regions.name().to_owned());
    tokio::spawn(async move {
        let wrote = tokio::time::timeout(
            BEAT_TIMEOUT,
            heartbeat::beat(&db, &name, timeline, heartbeat::now_ms()),
        )
        .await;
        match wrote {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "region monitor: cannot write the heartbeat"),
            Err(_) => tracing::warn!("region monitor: the heartbeat write did not finish in time"),
        }
        beating.store(false, Ordering::Release);
    });
}

/// Every peer's `GET /internal/v1/region`, concurrently; `None` for one that did not answer (logged
/// when a peer goes from answering to not, with why).
async fn poll_peers(
    regions: &Regions,
    bearer: &str,
    patience: Duration,
    memory: &mut Memory,
) -> Vec<Option<RegionStatus>> {
    let count = regions.settings().peers.len();
    let mut out = vec![None; count];
    let Some(client) = regions.client() else {
        return out;
    };
    let mut set = tokio::task::JoinSet::new();
    for (i, peer) in regions.settings().peers.iter().enumerate() {
        let request = client
            .get(format!("{}/internal/v1/region", peer.url))
            .bearer_auth(bearer)
            .timeout(patience);
        set.spawn(async move {
            let status = match request.send().await {
                Ok(r) if r.status().is_success() => match r.bytes().await {
                    Ok(b) => serde_json::from_slice::<RegionStatus>(&b)
                        .map_err(|e| format!("an answer that is not a region status: {e}")),
                    Err(e) => Err(e.without_url().to_string()),
                },
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.without_url().to_string()),
            };
            (i, status)
        });
    }
    memory.peers_up.resize(count, true);
    while let Some(joined) = set.join_next().await {
        let Ok((i, status)) = joined else { continue };
        let name = regions.peer(i).map_or("?", |p| p.name.as_str());
        let up = status.is_ok();
        if let Some(was_up) = memory.peers_up.get_mut(i) {
            if *was_up && !up {
                if let Err(e) = &status {
                    tracing::warn!(peer = name, error = %e.escape_debug(), "region monitor: a peer stopped answering");
                }
            } else if !*was_up && up {
                tracing::info!(peer = name, "region monitor: a peer answers again");
            }
            *was_up = up;
        }
        if let Some(slot) = out.get_mut(i) {
            *slot = status.ok();
        }
    }
    out
}

/// From what this origin saw of its database (`None`: unreachable) and of its peers (`names`: as
/// configured), its own role and where writes go.
///
/// - Peers count only when they call themselves by their configured name and, when both are known, share
///   this database's cluster identity.
/// - The primary is the candidate (this database, peers reporting `primary`) on the newest timeline; on a
///   tie, the smallest region name — the same choice in every origin, whatever its peer order. Two
///   primaries on one timeline is a broken cluster, logged.
/// - A replica follows no primary on an older timeline than the heartbeat it replayed (that one's history
///   was abandoned), and its heartbeat counts for its lag only when it is the chosen primary's.
/// - A database that says "primary" but is not chosen is fenced: it forwards everything and writes
///   nothing (nor its heartbeat).
#[must_use]
pub fn decide(
    name: &str,
    own: Option<&DbState>,
    names: &[&str],
    peers: Vec<Option<RegionStatus>>,
    now_ms: i64,
) -> Snapshot {
    let cluster = own.and_then(DbState::cluster);
    let floor = match own {
        Some(DbState::Replica {
            heartbeat: Some(h), ..
        }) => h.timeline,
        _ => 0,
    };
    // (timeline, region name, target)
    let mut candidates: Vec<(u32, &str, PrimaryTarget)> = Vec::new();
    if let Some(DbState::Primary { timeline, .. }) = own {
        candidates.push((*timeline, name, PrimaryTarget::Here));
    }
    for (i, status) in peers.iter().enumerate() {
        let (Some(s), Some(peer_name)) = (status, names.get(i)) else {
            continue;
        };
        let same_cluster = match (cluster, s.cluster.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if s.role == RegionRole::Primary
            && s.region == *peer_name
            && same_cluster
            && s.timeline >= floor
        {
            candidates.push((s.timeline, peer_name, PrimaryTarget::Peer(i)));
        }
    }
    let best = candidates
        .iter()
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .cloned();
    if let Some((t, _, _)) = best {
        if candidates.iter().filter(|c| c.0 == t).count() > 1 {
            tracing::error!(
                timeline = t,
                "region monitor: two primaries on one timeline (a standby promoted twice?); writes go to the smallest region name"
            );
        }
    }
    let primary = best
        .as_ref()
        .map_or(PrimaryTarget::Unknown, |b| b.2.clone());
    let (role, timeline, heartbeat_at_ms) = match own {
        Some(DbState::Primary { timeline, .. }) => {
            if primary == PrimaryTarget::Here {
                (RegionRole::Primary, *timeline, None)
            } else {
                (RegionRole::Fenced, *timeline, None)
            }
        }
        Some(DbState::Replica { heartbeat, .. }) => {
            let from_primary = heartbeat.as_ref().filter(|h| match &best {
                Some((t, region, _)) => h.timeline == *t && h.region == *region,
                // No primary in sight: the last heartbeat still says how old the data is.
                None => true,
            });
            (
                RegionRole::Replica,
                heartbeat.as_ref().map_or(0, |h| h.timeline),
                from_primary.map(|h| h.at_ms),
            )
        }
        None => (RegionRole::Unavailable, 0, None),
    };
    Snapshot {
        role,
        timeline,
        heartbeat_at_ms,
        cluster: cluster.map(str::to_owned),
        peers,
        primary,
        taken_at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::super::heartbeat::Heartbeat;
    use super::*;

    fn peer(region: &str, role: RegionRole, timeline: u32) -> Option<RegionStatus> {
        Some(RegionStatus {
            region: region.to_owned(),
            role,
            timeline,
            lag_ms: Some(0),
            cluster: Some("c1".to_owned()),
        })
    }
    fn primary(timeline: u32) -> DbState {
        DbState::Primary {
            timeline,
            cluster: Some("c1".to_owned()),
        }
    }
    fn replica(region: &str, timeline: u32, at_ms: i64) -> DbState {
        DbState::Replica {
            heartbeat: Some(Heartbeat {
                region: region.to_owned(),
                timeline,
                at_ms,
            }),
            cluster: Some("c1".to_owned()),
        }
    }

    #[test]
    fn a_primary_with_no_newer_peer_takes_writes() {
        let s = decide(
            "a",
            Some(&primary(1)),
            &["b"],
            vec![peer("b", RegionRole::Replica, 1)],
            0,
        );
        assert_eq!(s.primary, PrimaryTarget::Here);
        assert_eq!(s.role, RegionRole::Primary);
        assert_eq!(s.lag_ms(0, 1000), Some(0));
    }

    #[test]
    fn a_replica_sends_writes_to_the_peer_primary_and_its_lag_grows_between_ticks() {
        let s = decide(
            "b",
            Some(&replica("a", 1, 9_000)),
            &["c", "a"],
            vec![None, peer("a", RegionRole::Primary, 1)],
            10_000,
        );
        assert_eq!(s.primary, PrimaryTarget::Peer(1));
        assert_eq!(s.lag_ms(10_000, 5_000), Some(1000));
        assert_eq!(s.lag_ms(12_000, 5_000), Some(3000));
        assert_eq!(
            s.lag_ms(16_000, 5_000),
            None,
            "a snapshot nobody refreshed is not believed"
        );
        assert_eq!(s.lag_ms(7_000, 5_000), None, "a heartbeat from the future");
        assert_eq!(s.lag_ms(8_500, 5_000), Some(0), "small skew is zero lag");
        let none = decide(
            "b",
            Some(&DbState::Replica {
                heartbeat: None,
                cluster: None,
            }),
            &["a"],
            vec![None],
            0,
        );
        assert_eq!(none.primary, PrimaryTarget::Unknown);
        assert_eq!(none.lag_ms(0, 1000), None);
    }

    #[test]
    fn an_old_primary_on_an_older_timeline_is_fenced() {
        let s = decide(
            "a",
            Some(&primary(1)),
            &["b"],
            vec![peer("b", RegionRole::Primary, 2)],
            0,
        );
        assert_eq!(s.role, RegionRole::Fenced);
        assert_eq!(s.primary, PrimaryTarget::Peer(0));
    }

    #[test]
    fn ties_go_to_the_smallest_region_name_in_every_origin() {
        // c sees a and b both primary on timeline 2, in either configured order.
        for (names, peers) in [
            (
                ["a", "b"],
                vec![
                    peer("a", RegionRole::Primary, 2),
                    peer("b", RegionRole::Primary, 2),
                ],
            ),
            (
                ["b", "a"],
                vec![
                    peer("b", RegionRole::Primary, 2),
                    peer("a", RegionRole::Primary, 2),
                ],
            ),
        ] {
            let s = decide("c", Some(&replica("a", 2, 0)), &names, peers, 0);
            let chosen = match s.primary {
                PrimaryTarget::Peer(i) => names[i],
                other => panic!("{other:?}"),
            };
            assert_eq!(chosen, "a");
        }
        // b itself, primary on 2, defers to a.
        let s = decide(
            "b",
            Some(&primary(2)),
            &["a"],
            vec![peer("a", RegionRole::Primary, 2)],
            0,
        );
        assert_eq!(s.role, RegionRole::Fenced);
    }

    #[test]
    fn peers_that_misname_themselves_or_sit_on_another_cluster_are_not_followed() {
        let mut other = peer("b", RegionRole::Primary, 9);
        if let Some(o) = other.as_mut() {
            o.cluster = Some("c2".to_owned());
        }
        let s = decide(
            "a",
            Some(&primary(1)),
            &["b", "c"],
            vec![other, peer("x", RegionRole::Primary, 9)],
            0,
        );
        assert_eq!(s.primary, PrimaryTarget::Here);
        assert_eq!(s.role, RegionRole::Primary);
    }

    #[test]
    fn a_replica_never_follows_a_primary_older_than_its_history_and_counts_only_its_primarys_heartbeat(
    ) {
        // b replays timeline 2 (from c); a comes back claiming primary on timeline 1.
        let s = decide(
            "b",
            Some(&replica("c", 2, 1_000)),
            &["a", "c"],
            vec![peer("a", RegionRole::Primary, 1), None],
            1_500,
        );
        assert_eq!(s.primary, PrimaryTarget::Unknown);
        assert_eq!(
            s.lag_ms(1_500, 5_000),
            Some(500),
            "no primary in sight: the last heartbeat"
        );
        // A heartbeat from the old primary does not vouch for freshness under the new one.
        let s = decide(
            "b",
            Some(&replica("a", 1, 1_000)),
            &["a", "c"],
            vec![None, peer("c", RegionRole::Primary, 2)],
            1_500,
        );
        assert_eq!(s.primary, PrimaryTarget::Peer(1));
        assert_eq!(s.lag_ms(1_500, 5_000), None);
    }

    #[test]
    fn an_unreachable_database_follows_the_newest_primary() {
        let s = decide(
            "a",
            None,
            &["b", "c", "d"],
            vec![
                peer("b", RegionRole::Primary, 2),
                peer("c", RegionRole::Primary, 3),
                peer("d", RegionRole::Fenced, 4),
            ],
            0,
        );
        assert_eq!(s.role, RegionRole::Unavailable);
        assert_eq!(s.primary, PrimaryTarget::Peer(1));
    }
}
