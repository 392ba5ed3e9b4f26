//! The region monitor: every tick it looks at this origin's database and polls its peers, writes the
//! heartbeat when its database is the primary, and decides where writes go. Requests only read what it
//! last decided ([`super::Regions::snapshot`]), so a dead peer or database never slows one down by more
//! than the forward itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tessera_proto::regions::{RegionRole, RegionStatus};

use super::heartbeat::{self, DbState};
use super::{PrimaryTarget, Regions, Snapshot};
use crate::store::Db;

/// Run the monitor until the process ends. `bearer`: the service credential the peers accept.
pub fn spawn(regions: Regions, db: Db, bearer: Arc<str>) {
    tokio::spawn(async move {
        let beating = Arc::new(AtomicBool::new(false));
        loop {
            tick(&regions, &db, &bearer, &beating).await;
            tokio::time::sleep(regions.settings().tick).await;
        }
    });
}

/// One round: look, beat, poll, decide.
async fn tick(regions: &Regions, db: &Db, bearer: &str, beating: &Arc<AtomicBool>) {
    let settings = regions.settings();
    let patience = (settings.tick * 4).max(Duration::from_secs(1));
    let own = match tokio::time::timeout(patience, heartbeat::probe(db)).await {
        Ok(Ok(state)) => Some(state),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "region monitor: the database did not answer");
            None
        }
        Err(_) => {
            tracing::warn!("region monitor: the database did not answer in time");
            None
        }
    };
    if let Some(DbState::Primary { timeline }) = own {
        // One heartbeat in flight at a time: under synchronous replication with the standby gone, a
        // commit waits, and the monitor must not pile them up.
        if !beating.swap(true, Ordering::AcqRel) {
            let (db, beating, name) = (db.clone(), beating.clone(), regions.name().to_owned());
            tokio::spawn(async move {
                if let Err(e) = heartbeat::beat(&db, &name, timeline, heartbeat::now_ms()).await {
                    tracing::warn!(error = %e, "region monitor: cannot write the heartbeat");
                }
                beating.store(false, Ordering::Release);
            });
        }
    }
    let peers = poll_peers(regions, bearer, patience).await;
    let snapshot = decide(regions.name(), own, peers, heartbeat::now_ms());
    let before = regions.snapshot();
    if before.primary != snapshot.primary || before.own.role != snapshot.own.role {
        tracing::info!(
            role = ?snapshot.own.role,
            primary = ?snapshot.primary,
            "region monitor: the region's role or primary changed"
        );
    }
    regions.set_snapshot(snapshot);
}

/// Every peer's `GET /internal/v1/region`, concurrently; `None` for one that did not answer.
async fn poll_peers(
    regions: &Regions,
    bearer: &str,
    patience: Duration,
) -> Vec<Option<RegionStatus>> {
    let mut set = tokio::task::JoinSet::new();
    let Some(client) = regions.client() else {
        return Vec::new();
    };
    for (i, peer) in regions.settings().peers.iter().enumerate() {
        let request = client
            .get(format!("{}/internal/v1/region", peer.url))
            .bearer_auth(bearer)
            .timeout(patience);
        set.spawn(async move {
            let status = match request.send().await {
                Ok(r) if r.status().is_success() => r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<RegionStatus>(&b).ok()),
                _ => None,
            };
            (i, status)
        });
    }
    let mut out = vec![None; regions.settings().peers.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, status)) = joined {
            if let Some(slot) = out.get_mut(i) {
                *slot = status;
            }
        }
    }
    out
}

/// From what this origin saw of its database (`None`: unreachable) and of its peers, its own status and
/// where writes go: to the primary on the newest timeline (this origin's own database first on a tie,
/// then the peers in configured order). A database that reports itself primary on an older timeline than
/// a peer's is fenced: a failover happened without it, and its writes would fork history.
#[must_use]
pub fn decide(
    name: &str,
    own: Option<DbState>,
    peers: Vec<Option<RegionStatus>>,
    now_ms: i64,
) -> Snapshot {
    let best_peer = peers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.as_ref()
                .filter(|s| s.role == RegionRole::Primary)
                .map(|s| (i, s.timeline))
        })
        // Highest timeline; the first configured among equals.
        .fold(None::<(usize, u32)>, |best, (i, t)| match best {
            Some((_, bt)) if bt >= t => best,
            _ => Some((i, t)),
        });
    let (own_status, primary) = match own {
        Some(DbState::Primary { timeline }) => match best_peer {
            Some((i, t)) if t > timeline => (
                status(name, RegionRole::Fenced, timeline, None),
                PrimaryTarget::Peer(i),
            ),
            _ => (
                status(name, RegionRole::Primary, timeline, Some(0)),
                PrimaryTarget::Here,
            ),
        },
        Some(DbState::Replica { heartbeat }) => {
            let (timeline, lag) = heartbeat.map_or((0, None), |(t, at)| {
                (
                    t,
                    Some(u64::try_from(now_ms.saturating_sub(at)).unwrap_or(0)),
                )
            });
            (
                status(name, RegionRole::Replica, timeline, lag),
                best_peer.map_or(PrimaryTarget::Unknown, |(i, _)| PrimaryTarget::Peer(i)),
            )
        }
        None => (
            status(name, RegionRole::Unavailable, 0, None),
            best_peer.map_or(PrimaryTarget::Unknown, |(i, _)| PrimaryTarget::Peer(i)),
        ),
    };
    Snapshot {
        own: own_status,
        peers,
        primary,
    }
}

fn status(name: &str, role: RegionRole, timeline: u32, lag_ms: Option<u64>) -> RegionStatus {
    RegionStatus {
        region: name.to_owned(),
        role,
        timeline,
        lag_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(role: RegionRole, timeline: u32) -> Option<RegionStatus> {
        Some(status("p", role, timeline, Some(0)))
    }

    #[test]
    fn a_primary_with_no_newer_peer_takes_writes() {
        let s = decide(
            "a",
            Some(DbState::Primary { timeline: 1 }),
            vec![peer(RegionRole::Replica, 1)],
            0,
        );
        assert_eq!(s.primary, PrimaryTarget::Here);
        assert_eq!(s.own.role, RegionRole::Primary);
    }

    #[test]
    fn a_replica_sends_writes_to_the_peer_primary_and_knows_its_lag() {
        let s = decide(
            "b",
            Some(DbState::Replica {
                heartbeat: Some((1, 9_000)),
            }),
            vec![None, peer(RegionRole::Primary, 1)],
            10_000,
        );
        assert_eq!(s.primary, PrimaryTarget::Peer(1));
        assert_eq!(s.own.lag_ms, Some(1000));
        let unknown = decide(
            "b",
            Some(DbState::Replica { heartbeat: None }),
            vec![None],
            0,
        );
        assert_eq!(unknown.primary, PrimaryTarget::Unknown);
        assert_eq!(unknown.own.lag_ms, None);
    }

    #[test]
    fn an_old_primary_on_an_older_timeline_is_fenced() {
        let s = decide(
            "a",
            Some(DbState::Primary { timeline: 1 }),
            vec![peer(RegionRole::Primary, 2)],
            0,
        );
        assert_eq!(s.own.role, RegionRole::Fenced);
        assert_eq!(s.primary, PrimaryTarget::Peer(0));
    }

    #[test]
    fn an_unreachable_database_follows_the_newest_primary() {
        let s = decide(
            "a",
            None,
            vec![
                peer(RegionRole::Primary, 2),
                peer(RegionRole::Primary, 3),
                peer(RegionRole::Fenced, 4),
            ],
            0,
        );
        assert_eq!(s.own.role, RegionRole::Unavailable);
        assert_eq!(s.primary, PrimaryTarget::Peer(1));
    }
}
