//! What an edge isolate knows about one tenant's head, and the move that knowledge allows for a check.
//!
//! [`HeadKnowledge`] gathers what used to be spread through the edge's check handlers: the newest head
//! seen (from origin answers and from the tenant head object's polls), whether the last attempt to
//! confirm it failed (answers then say `stale`), whether a background refresh is in flight, and
//! [`HeadKnowledge::plan`], which turns a request's [`Freshness`] into a [`Step`]:
//!
//! | freshness | known head | step |
//! |---|---|---|
//! | `minimize_latency` | confirmed within the bound | [`Step::Tiers`] at it (refresh in the background past `refresh_after_ms`) |
//! | `minimize_latency` | none, or older than the bound | [`Step::ConfirmHead`], then [`HeadKnowledge::replan`] |
//! | `at_least_as_fresh(r)` | at or past `r`, however old | [`Step::Tiers`] at it, staleness 0 |
//! | `at_least_as_fresh(r)` | none, or before `r` | [`Step::Origin`], which answers at its head (or at a revision past `r` that was its head within `RECENT_REVISION_MS`) |
//! | `fully_consistent` | any | [`Step::Origin`] at its head |
//! | `at_exact_snapshot(r)` | any | [`Step::Origin`] at `r` (its answer says nothing about the head) |
//!
//! A [`Step::Tiers`] names the one revision (and schema revision) a cached answer must be at: answers are
//! stored under the revision they were computed at ([`crate::decision_cache::decision_key`]), so the
//! tiers are looked up at exactly that head, and on a miss the origin is asked for its head.
//!
//! Pure: time is an argument (milliseconds since the epoch); the edge keeps one of these per tenant.

use tessera_proto::UnixTime;

use crate::decision_cache::{plan, Bounds, Freshness, Head, Plan};

/// One tenant's head as an isolate (or the tenant head object) knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadKnowledge {
    head: Option<Head>,
    /// Set when the last attempt to confirm the head failed; cleared by any answer from the origin.
    unconfirmed: bool,
    /// A background refresh is in flight (at most one per tenant and isolate).
    refreshing: bool,
}

/// What the edge does for one check (or one bulk check: all its questions at one revision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Look through the cache tiers, cheapest first, for answers at exactly `head`; on a miss ask the
    /// origin at its head. `staleness_ms` bounds how far behind the true head an answer at `head` may be
    /// (0 for `at_least_as_fresh`, which has no time bound). `refresh`: confirm the head again without
    /// making this caller wait.
    Tiers {
        head: Head,
        staleness_ms: u64,
        refresh: bool,
    },
    /// `minimize_latency` with no head confirmed within the bound: confirm the head (the caller waits),
    /// then [`HeadKnowledge::replan`].
    ConfirmHead,
    /// Only the origin can answer. `at_head`: it answers at its head (`fully_consistent`, or a zookie
    /// newer than the known head), so its answer also confirms the head; not so for an exact snapshot.
    Origin { at_head: bool },
    /// The head was just confirmed and is still not within the bound (the origin cannot be reached):
    /// `minimize_latency` cannot be met, and the edge never guesses.
    Unavailable,
}

impl HeadKnowledge {
    /// The newest head seen, if any.
    #[must_use]
    pub fn head(&self) -> Option<Head> {
        self.head
    }

    /// Whether the last attempt to confirm the head failed: answers served from the cache say `stale`.
    #[must_use]
    pub fn is_unconfirmed(&self) -> bool {
        self.unconfirmed
    }

    /// The head, if it was confirmed at most `max_age_ms` before `now`.
    #[must_use]
    pub fn confirmed_within(&self, max_age_ms: u64, now: UnixTime) -> Option<Head> {
        self.head.filter(|h| h.age_ms(now) <= max_age_ms)
    }

    /// Fold in a head the origin just confirmed (an answer computed at its head): the head is confirmed.
    pub fn learn(&mut self, seen: Head) {
        self.unconfirmed = false;
        self.fold(seen);
    }

    /// Fold in what a poll of the head reported: the head it knows (possibly an old one), and whether
    /// the origin confirmed it just now.
    pub fn polled(&mut self, head: Option<Head>, confirmed: bool) {
        if let Some(seen) = head {
            self.fold(seen);
        }
        self.unconfirmed = !confirmed;
    }

    /// The poll itself failed: nothing new is known, and answers are stale until the origin answers.
    pub fn poll_failed(&mut self) {
        self.unconfirmed = true;
    }

    /// Start a background refresh unless one is in flight; `true` when the caller should start it.
    pub fn begin_refresh(&mut self) -> bool {
        !std::mem::replace(&mut self.refreshing, true)
    }

    /// The background refresh has finished (however it went).
    pub fn end_refresh(&mut self) {
        self.refreshing = false;
    }

    /// The move for a request asking for `want`, at `now`.
    #[must_use]
    pub fn plan(&self, want: Freshness, bounds: Bounds, now: UnixTime) -> Step {
        match plan(self.head, want, bounds, now) {
            Plan::Cached {
                head,
                staleness_ms,
                refresh,
            } => Step::Tiers {
                head,
                staleness_ms,
                refresh,
            },
            Plan::RefreshHead => Step::ConfirmHead,
            Plan::Origin => Step::Origin {
                at_head: !matches!(want, Freshness::Exact(_)),
            },
        }
    }

    /// The move after [`Step::ConfirmHead`] was carried out: as [`Self::plan`], except that needing the
    /// head confirmed again means it cannot be ([`Step::Unavailable`]).
    #[must_use]
    pub fn replan(&self, want: Freshness, bounds: Bounds, now: UnixTime) -> Step {
        match self.plan(want, bounds, now) {
            Step::ConfirmHead => Step::Unavailable,
            step => step,
        }
    }

    fn fold(&mut self, seen: Head) {
        match &mut self.head {
            Some(h) => {
                h.advance(seen);
            }
            None => self.head = Some(seen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision_cache::tests::{head, ms, B};

    fn knowing(h: Head) -> HeadKnowledge {
        let mut k = HeadKnowledge::default();
        k.learn(h);
        k
    }

    #[test]
    fn nothing_known_means_confirm_first_or_ask_the_origin() {
        let k = HeadKnowledge::default();
        assert_eq!(k.head(), None);
        assert!(!k.is_unconfirmed());
        assert_eq!(
            k.plan(Freshness::MinimizeLatency, B, ms(0)),
            Step::ConfirmHead
        );
        assert_eq!(
            k.plan(Freshness::AtLeast(1), B, ms(0)),
            Step::Origin { at_head: true }
        );
        assert_eq!(
            k.plan(Freshness::Fully, B, ms(0)),
            Step::Origin { at_head: true }
        );
        assert_eq!(
            k.plan(Freshness::Exact(3), B, ms(0)),
            Step::Origin { at_head: false }
        );
    }

    #[test]
    fn minimize_latency_uses_the_tiers_within_the_bound_and_refreshes_early() {
        let h = head(7, 10_000);
        let k = knowing(h);
        assert_eq!(
            k.plan(Freshness::MinimizeLatency, B, ms(10_500)),
            Step::Tiers {
                head: h,
                staleness_ms: 500,
                refresh: false
            }
        );
        assert_eq!(
            k.plan(Freshness::MinimizeLatency, B, ms(12_000)),
            Step::Tiers {
                head: h,
                staleness_ms: 2_000,
                refresh: true
            }
        );
        assert!(matches!(
            k.plan(Freshness::MinimizeLatency, B, ms(15_000)),
            Step::Tiers {
                staleness_ms: 5_000,
                ..
            }
        ));
        assert_eq!(
            k.plan(Freshness::MinimizeLatency, B, ms(15_001)),
            Step::ConfirmHead
        );
    }

    #[test]
    fn after_confirming_a_head_still_out_of_bound_is_unavailable_never_a_guess() {
        let mut k = knowing(head(7, 0));
        // The head object answered with its old head and an origin error.
        k.polled(Some(head(7, 0)), false);
        assert_eq!(
            k.replan(Freshness::MinimizeLatency, B, ms(10_000)),
            Step::Unavailable
        );
        // A confirmation that did arrive is used.
        k.polled(Some(head(8, 9_500)), true);
        assert_eq!(
            k.replan(Freshness::MinimizeLatency, B, ms(10_000)),
            Step::Tiers {
                head: head(8, 9_500),
                staleness_ms: 500,
                refresh: false
            }
        );
        // replan changes nothing else.
        assert_eq!(
            k.replan(Freshness::Exact(2), B, ms(10_000)),
            Step::Origin { at_head: false }
        );
    }

    #[test]
    fn a_zookie_is_met_by_a_known_head_at_or_after_it_however_old() {
        let h = head(7, 0);
        let k = knowing(h);
        assert_eq!(
            k.plan(Freshness::AtLeast(7), B, ms(1_000_000)),
            Step::Tiers {
                head: h,
                staleness_ms: 0,
                refresh: false
            }
        );
        // Read-your-writes: a zookie past the known head goes to the origin, which answers at its head.
        assert_eq!(
            k.plan(Freshness::AtLeast(8), B, ms(0)),
            Step::Origin { at_head: true }
        );
        // An exact snapshot is never served from the tiers, even at the known head.
        assert_eq!(
            k.plan(Freshness::Exact(7), B, ms(0)),
            Step::Origin { at_head: false }
        );
        assert_eq!(
            k.plan(Freshness::Fully, B, ms(0)),
            Step::Origin { at_head: true }
        );
    }

    #[test]
    fn confirmation_state_follows_polls_and_origin_answers() {
        let mut k = knowing(head(5, 100));
        k.poll_failed();
        assert!(k.is_unconfirmed());
        assert_eq!(k.head(), Some(head(5, 100)), "a failed poll keeps the head");
        k.polled(None, false);
        assert!(k.is_unconfirmed());
        k.learn(head(5, 200));
        assert!(!k.is_unconfirmed(), "an origin answer confirms");
        assert_eq!(k.head(), Some(head(5, 200)));
        k.polled(None, false);
        k.polled(Some(head(4, 900)), true);
        assert!(!k.is_unconfirmed());
        assert_eq!(k.head(), Some(head(5, 200)), "the head never moves back");
        k.learn(head(6, 150));
        assert_eq!(k.head(), Some(head(6, 150)));
    }

    #[test]
    fn confirmed_within_is_the_head_only_while_young_enough() {
        let k = knowing(head(3, 1_000));
        assert_eq!(k.confirmed_within(500, ms(1_500)), Some(head(3, 1_000)));
        assert_eq!(k.confirmed_within(500, ms(1_501)), None);
        assert_eq!(HeadKnowledge::default().confirmed_within(500, ms(0)), None);
    }

    #[test]
    fn one_background_refresh_at_a_time() {
        let mut k = HeadKnowledge::default();
        assert!(k.begin_refresh());
        assert!(!k.begin_refresh(), "already in flight");
        k.end_refresh();
        assert!(k.begin_refresh());
    }
}
