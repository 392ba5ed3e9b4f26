//! Failure budgets for secrets a person types (TOTP codes today).
//!
//! A six-digit code has a million values; without a limit an attacker who holds a session guesses it
//! within hours. The budget allows a few free failures (people mistype), then makes each further failure
//! cost an exponentially growing wait, capped so that the owner is never locked out for long:
//!
//! | consecutive failures | wait before the next attempt |
//! |---|---|
//! | 1 – 4 | none |
//! | 5 | 30 s |
//! | 6 | 60 s |
//! | … | doubling |
//! | 12 and more | 1 h (the cap) |
//!
//! With the defaults an attacker gets at most 34 guesses a day: against a 6-digit code with a ±1 step
//! window (3 valid codes at a time) an even chance takes about 18 years of guessing.
//! A success resets the count. The state is two numbers the store keeps per user ([`Attempts`]); the
//! store must read, decide and write it under one lock, so that concurrent guesses are counted one after
//! another. Pure: the time is an argument.

use tessera_proto::UnixTime;

/// The policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureBudget {
    /// Consecutive failures allowed before any wait.
    pub free_failures: u32,
    /// The wait after the first failure past the free ones, in seconds; it doubles with each further one.
    pub base_delay_secs: u64,
    /// The longest wait, in seconds.
    pub max_delay_secs: u64,
}

impl Default for FailureBudget {
    fn default() -> Self {
        Self {
            free_failures: 4,
            base_delay_secs: 30,
            max_delay_secs: 3600,
        }
    }
}

/// What the store remembers per user: consecutive failures, and until when attempts are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    pub failures: u32,
    /// Attempts before this moment are refused without being checked.
    pub locked_until: Option<UnixTime>,
}

/// An attempt refused because the budget is spent: try again after `retry_after_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locked {
    pub retry_after_secs: u64,
}

impl FailureBudget {
    /// May an attempt be checked at `now`?
    ///
    /// # Errors
    /// [`Locked`] with the seconds left while a wait is running.
    pub fn admit(&self, state: &Attempts, now: UnixTime) -> Result<(), Locked> {
        match state.locked_until {
            Some(until) if until > now => Err(Locked {
                // Rounded up: a client that waits this long is admitted.
                retry_after_secs: until.millis_since(now).div_ceil(1000).max(1),
            }),
            _ => Ok(()),
        }
    }

    /// The wait imposed after the `failures`-th consecutive failure (0 while failures are free).
    #[must_use]
    pub fn delay_after(&self, failures: u32) -> u64 {
        let Some(past) = failures.checked_sub(self.free_failures) else {
            return 0;
        };
        if past == 0 {
            return 0;
        }
        let doublings = past - 1;
        let delay = if doublings >= 63 {
            u64::MAX
        } else {
            self.base_delay_secs.saturating_mul(1_u64 << doublings)
        };
        delay.min(self.max_delay_secs)
    }

    /// The state after a failed attempt at `now`.
    #[must_use]
    pub fn after_failure(&self, state: &Attempts, now: UnixTime) -> Attempts {
        let failures = state.failures.saturating_add(1);
        let delay = self.delay_after(failures);
        Attempts {
            failures,
            locked_until: (delay > 0)
                .then(|| now.plus_secs(i64::try_from(delay).unwrap_or(i64::MAX))),
        }
    }

    /// The state after a successful attempt: the count starts again.
    #[must_use]
    pub fn after_success(&self) -> Attempts {
        Attempts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn at(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    #[test]
    fn free_failures_impose_no_wait() {
        let b = FailureBudget::default();
        let mut s = Attempts::default();
        for _ in 0..b.free_failures {
            assert_eq!(b.admit(&s, at(NOW)), Ok(()));
            s = b.after_failure(&s, at(NOW));
        }
        assert_eq!(s.failures, 4);
        assert_eq!(s.locked_until, None);
    }

    #[test]
    fn waits_double_from_the_first_failure_past_the_free_ones_and_stop_at_the_cap() {
        let b = FailureBudget::default();
        let waits: Vec<u64> = (1..=14).map(|n| b.delay_after(n)).collect();
        assert_eq!(
            waits,
            [0, 0, 0, 0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
        );
        assert_eq!(b.delay_after(u32::MAX), 3600);
    }

    #[test]
    fn a_locked_user_is_refused_until_the_wait_is_over_even_with_the_right_code() {
        let b = FailureBudget::default();
        let mut s = Attempts::default();
        for _ in 0..5 {
            s = b.after_failure(&s, at(NOW));
        }
        assert_eq!(s.locked_until, Some(at(NOW + 30)));
        assert_eq!(
            b.admit(&s, at(NOW)),
            Err(Locked {
                retry_after_secs: 30
            })
        );
        assert_eq!(
            b.admit(&s, at(NOW + 29)),
            Err(Locked {
                retry_after_secs: 1
            })
        );
        assert_eq!(b.admit(&s, at(NOW + 30)), Ok(()));
        // The next failure after the wait doubles it.
        let s = b.after_failure(&s, at(NOW + 30));
        assert_eq!(s.locked_until, Some(at(NOW + 30 + 60)));
    }

    #[test]
    fn success_resets_the_count() {
        let b = FailureBudget::default();
        let s = b.after_failure(&Attempts::default(), at(NOW));
        assert_eq!(s.failures, 1);
        assert_eq!(b.after_success(), Attempts::default());
    }

    #[test]
    fn a_day_of_guessing_is_bounded() {
        // The claim in the module header: at most 34 checked guesses a day.
        let b = FailureBudget::default();
        let (mut s, mut now, mut checked) = (Attempts::default(), NOW, 0);
        while now < NOW + 86_400 {
            match b.admit(&s, at(now)) {
                Ok(()) => {
                    checked += 1;
                    s = b.after_failure(&s, at(now));
                }
                Err(l) => now += i64::try_from(l.retry_after_secs).unwrap_or(1),
            }
        }
        assert!(checked <= 34, "{checked} guesses in a day");
    }
}
