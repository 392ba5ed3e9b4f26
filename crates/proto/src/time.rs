//! One type for "a moment", so that seconds and milliseconds cannot be mixed up.
//!
//! Before it, Tessera had four time units: `i64` seconds (JWT NumericDate, the database), `u64` seconds
//! (TOTP), `u64` milliseconds (cache ages) and `f64` milliseconds (JavaScript's `Date.now()`). Every core
//! function that needs "now" takes a [`UnixTime`]; the shells make one from their clock
//! ([`UnixTime::from_js_millis`] at the edge, `From<SystemTime>` at the origin) and the core never reads a
//! clock itself.
//!
//! A [`UnixTime`] holds whole milliseconds since 1970-01-01T00:00:00Z. On the wire and in the database
//! moments stay what their formats say (RFC 7519 NumericDate: integer seconds); [`UnixTime::as_secs`] and
//! [`UnixTime::from_secs`] are the conversions, flooring towards the past.

use core::fmt;
use core::time::Duration;

/// Milliseconds since the Unix epoch. Arithmetic saturates: no moment overflows or wraps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime {
    millis: i64,
}

impl UnixTime {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Self = Self { millis: 0 };

    #[must_use]
    pub const fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    /// Whole seconds (a NumericDate); saturates far outside any real date.
    #[must_use]
    pub const fn from_secs(secs: i64) -> Self {
        Self {
            millis: secs.saturating_mul(1000),
        }
    }

    /// JavaScript's `Date.now()`: a float of milliseconds. Fractions are dropped; NaN becomes the epoch
    /// and infinities saturate (none of which a real clock gives).
    #[must_use]
    pub fn from_js_millis(millis: f64) -> Self {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "`as` saturates a float at i64's bounds and maps NaN to 0, which is the intent"
        )]
        let millis = millis.floor() as i64;
        Self { millis }
    }

    #[must_use]
    pub const fn as_millis(self) -> i64 {
        self.millis
    }

    /// Whole seconds, floored (a moment 0.9 s before the epoch is second -1).
    #[must_use]
    pub const fn as_secs(self) -> i64 {
        self.millis.div_euclid(1000)
    }

    /// This moment plus `secs` seconds (negative: earlier).
    #[must_use]
    pub const fn plus_secs(self, secs: i64) -> Self {
        Self {
            millis: self.millis.saturating_add(secs.saturating_mul(1000)),
        }
    }

    /// This moment plus `d`.
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        let add = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            millis: self.millis.saturating_add(add),
        }
    }

    /// How long after `earlier` this moment is; zero if it is not later.
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        let diff = self.millis.saturating_sub(earlier.millis);
        Duration::from_millis(u64::try_from(diff).unwrap_or(0))
    }

    /// Whole milliseconds after `earlier`; zero if this moment is not later.
    #[must_use]
    pub fn millis_since(self, earlier: Self) -> u64 {
        u64::try_from(self.millis.saturating_sub(earlier.millis)).unwrap_or(0)
    }
}

impl fmt::Display for UnixTime {
    /// `1700000000.123s` (seconds since the epoch), for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.as_secs(), self.millis.rem_euclid(1000))
    }
}

impl From<std::time::SystemTime> for UnixTime {
    /// A clock reading; a clock set before 1970 gives a negative moment rather than a panic.
    fn from(t: std::time::SystemTime) -> Self {
        let signed = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => Self::from_millis(signed(after)),
            Err(before) => Self::from_millis(signed(before.duration()).saturating_neg()),
        }
    }
}

/// For `#[serde(with = "tessera_proto::time::millis")]`: a moment as integer milliseconds since the epoch,
/// for internal records that need sub-second moments (the wire formats of the RFCs use seconds).
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::UnixTime;

    /// # Errors
    /// Only the serializer's.
    pub fn serialize<S: Serializer>(t: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.as_millis())
    }

    /// # Errors
    /// When the value is not an integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnixTime, D::Error> {
        i64::deserialize(d).map(UnixTime::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_floor_towards_the_past() {
        assert_eq!(
            UnixTime::from_millis(1_700_000_000_999).as_secs(),
            1_700_000_000
        );
        assert_eq!(UnixTime::from_millis(-1).as_secs(), -1);
        assert_eq!(UnixTime::from_secs(42).as_millis(), 42_000);
    }

    #[test]
    fn javascript_clock_readings() {
        assert_eq!(
            UnixTime::from_js_millis(1_700_000_000_123.9).as_millis(),
            1_700_000_000_123
        );
        assert_eq!(UnixTime::from_js_millis(f64::NAN), UnixTime::EPOCH);
        assert_eq!(
            UnixTime::from_js_millis(f64::INFINITY).as_millis(),
            i64::MAX
        );
    }

    #[test]
    fn arithmetic_saturates() {
        let far = UnixTime::from_millis(i64::MAX - 5);
        assert_eq!(far.plus_secs(10).as_millis(), i64::MAX);
        assert_eq!(
            far.plus(Duration::from_secs(u64::MAX)).as_millis(),
            i64::MAX
        );
        assert_eq!(UnixTime::from_secs(i64::MIN).as_millis(), i64::MIN);
        let t = UnixTime::from_secs(100);
        assert_eq!(t.plus_secs(-30).as_secs(), 70);
    }

    #[test]
    fn elapsed_time_is_never_negative() {
        let a = UnixTime::from_millis(1_000);
        let b = UnixTime::from_millis(3_500);
        assert_eq!(b.since(a), Duration::from_millis(2_500));
        assert_eq!(a.since(b), Duration::ZERO);
        assert_eq!(b.millis_since(a), 2_500);
        assert_eq!(a.millis_since(b), 0);
    }

    #[test]
    fn system_clock_readings() {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(1_234);
        assert_eq!(UnixTime::from(t).as_millis(), 1_234);
        let before = std::time::UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(UnixTime::from(before).as_millis(), -1_500);
        assert_eq!(UnixTime::from(before).as_secs(), -2);
    }

    #[test]
    fn millis_as_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Seen {
            #[serde(with = "super::millis")]
            at: UnixTime,
        }
        let seen = Seen {
            at: UnixTime::from_millis(1_700_000_000_123),
        };
        let json = serde_json::to_string(&seen).unwrap_or_default();
        assert_eq!(json, r#"{"at":1700000000123}"#);
        assert_eq!(serde_json::from_str::<Seen>(&json).ok(), Some(seen));
    }

    #[test]
    fn display_for_logs() {
        assert_eq!(
            UnixTime::from_millis(1_700_000_000_007).to_string(),
            "1700000000.007s"
        );
    }
}
