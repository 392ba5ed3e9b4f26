//! Timestamps (RFC 3339, years 0001-9999) and durations (Go's `ParseDuration` syntax, ±10,000 years),
//! both to the nanosecond, as cel-spec defines them. Calendar arithmetic is the proleptic Gregorian
//! calendar in UTC or a fixed offset.

use tessera_proto::rfc3339::{civil_from_days, days_from_civil, days_in_month};

const NANOS: i128 = 1_000_000_000;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, in seconds since the Unix epoch.
const MIN_SECONDS: i128 = -62_135_596_800;
const MAX_SECONDS: i128 = 253_402_300_799;
/// Protocol buffers' bound on a duration: 10,000 years of 365.25 days.
const MAX_DURATION_SECONDS: i128 = 315_576_000_000;

/// A point in time: nanoseconds since the Unix epoch, within 0001-01-01 .. 9999-12-31 UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i128);

/// A signed span of time in nanoseconds, within ±10,000 years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i128);

impl Timestamp {
    /// `nanos` since the Unix epoch, if within range.
    #[must_use]
    pub fn from_nanos(nanos: i128) -> Option<Self> {
        let seconds = nanos.div_euclid(NANOS);
        (MIN_SECONDS..=MAX_SECONDS)
            .contains(&seconds)
            .then_some(Self(nanos))
    }

    /// Whole seconds since the Unix epoch (rounded down).
    #[must_use]
    pub fn seconds(self) -> i64 {
        i64::try_from(self.0.div_euclid(NANOS)).unwrap_or(0)
    }

    #[must_use]
    pub fn nanos(self) -> i128 {
        self.0
    }

    /// `self + d`, if within range.
    #[must_use]
    pub fn plus(self, d: Duration) -> Option<Self> {
        Self::from_nanos(self.0.checked_add(d.0)?)
    }

    /// `self - other`, if it fits a duration of at most ±2^63 ns (as cel-go bounds a difference).
    #[must_use]
    pub fn since(self, other: Self) -> Option<Duration> {
        let d = self.0.checked_sub(other.0)?;
        i64::try_from(d).ok()?;
        Duration::from_nanos(d)
    }

    /// Parse RFC 3339 (`2023-10-11T10:00:00.000Z`, `...+05:30`).
    ///
    /// # Errors
    /// A malformed or out-of-range timestamp.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not an RFC 3339 timestamp");
        let mut r = Reader::new(text);
        let year = r.digits(4).ok_or_else(bad)?;
        if r.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(format!("timestamp `{text}` is out of range"));
        }
        r.expect('-').ok_or_else(bad)?;
        let month = r.digits(2).ok_or_else(bad)?;
        r.expect('-').ok_or_else(bad)?;
        let day = r.digits(2).ok_or_else(bad)?;
        if !matches!(r.next(), Some('T' | 't')) {
            return Err(bad());
        }
        let hour = r.digits(2).ok_or_else(bad)?;
        r.expect(':').ok_or_else(bad)?;
        let minute = r.digits(2).ok_or_else(bad)?;
        r.expect(':').ok_or_else(bad)?;
        let second = r.digits(2).ok_or_else(bad)?;
        let mut nanos: i128 = 0;
        if r.peek() == Some('.') {
            r.next();
            let mut scale = NANOS / 10;
            let mut any = false;
            while let Some(d) = r.peek().and_then(|c| c.to_digit(10)) {
                r.next();
                any = true;
                nanos += i128::from(d) * scale;
                scale /= 10;
            }
            if !any {
                return Err(bad());
            }
        }
        let offset_seconds = match r.next() {
            Some('Z' | 'z') => 0,
            Some(sign @ ('+' | '-')) => {
                let h = r.digits(2).ok_or_else(bad)?;
                r.expect(':').ok_or_else(bad)?;
                let m = r.digits(2).ok_or_else(bad)?;
                if h > 23 || m > 59 {
                    return Err(bad());
                }
                let o = h * 3600 + m * 60;
                if sign == '-' {
                    -o
                } else {
                    o
                }
            }
            _ => return Err(bad()),
        };
        if r.next().is_some()
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(bad());
        }
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
        Self::from_nanos(i128::from(seconds) * NANOS + nanos)
            .ok_or_else(|| format!("timestamp `{text}` is out of range"))
    }

    /// The calendar fields of this instant at `offset_seconds` east of UTC.
    #[must_use]
    pub fn civil(self, offset_seconds: i64) -> Civil {
        let local = self.seconds().saturating_add(offset_seconds);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let start_of_year = days_from_civil(year, 1, 1);
        Civil {
            year,
            month,
            day,
            day_of_year: days - start_of_year,
            // 1970-01-01 was a Thursday (4, counting Sunday as 0).
            day_of_week: (days + 4).rem_euclid(7),
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
            millisecond: i64::try_from(self.0.rem_euclid(NANOS) / 1_000_000).unwrap_or(0),
        }
    }
}

impl core::fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with as many fractional digits as needed (none for whole seconds).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = self.civil(0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )?;
        write_fraction(f, self.0.rem_euclid(NANOS))?;
        f.write_str("Z")
    }
}

fn write_fraction(f: &mut core::fmt::Formatter<'_>, nanos: i128) -> core::fmt::Result {
    if nanos == 0 {
        return Ok(());
    }
    let digits = format!("{nanos:09}");
    write!(f, ".{}", digits.trim_end_matches('0'))
}

/// A timestamp's calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1-12.
    pub month: i64,
    /// 1-31.
    pub day: i64,
    /// 0-365.
    pub day_of_year: i64,
    /// 0 (Sunday) - 6.
    pub day_of_week: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub millisecond: i64,
}

impl Duration {
    /// `nanos`, if within ±10,000 years.
    #[must_use]
    pub fn from_nanos(nanos: i128) -> Option<Self> {
        (nanos.abs() <= MAX_DURATION_SECONDS * NANOS).then_some(Self(nanos))
    }

    #[must_use]
    pub fn nanos(self) -> i128 {
        self.0
    }

    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        Self::from_nanos(self.0.checked_add(other.0)?)
    }

    #[must_use]
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        Self::from_nanos(self.0.checked_sub(other.0)?)
    }

    #[must_use]
    pub fn checked_neg(self) -> Option<Self> {
        Self::from_nanos(self.0.checked_neg()?)
    }

    /// Parse Go's duration syntax: `1h30m`, `1.5s`, `-300ms`, `2us`, `0`.
    ///
    /// # Errors
    /// A malformed or out-of-range duration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a duration (such as `1h30m` or `1.5s`)");
        let mut r = Reader::new(text);
        let negative = match r.peek() {
            Some('-') => {
                r.next();
                true
            }
            Some('+') => {
                r.next();
                false
            }
            _ => false,
        };
        if r.peek() == Some('0') && r.rest_is_empty_after(1) {
            return Ok(Self(0));
        }
        let mut total: i128 = 0;
        let mut any = false;
        while r.peek().is_some() {
            let mut whole: i128 = 0;
            let mut fraction: i128 = 0;
            let mut fraction_scale: i128 = 1;
            let mut digits = false;
            while let Some(d) = r.peek().and_then(|c| c.to_digit(10)) {
                r.next();
                digits = true;
                whole = whole
                    .checked_mul(10)
                    .and_then(|w| w.checked_add(i128::from(d)))
                    .ok_or_else(|| format!("duration `{text}` is out of range"))?;
            }
            if r.peek() == Some('.') {
                r.next();
                while let Some(d) = r.peek().and_then(|c| c.to_digit(10)) {
                    r.next();
                    digits = true;
                    if fraction_scale < NANOS * 1000 {
                        fraction = fraction * 10 + i128::from(d);
                        fraction_scale *= 10;
                    }
                }
            }
            if !digits {
                return Err(bad());
            }
            let mut unit = String::new();
            while let Some(c) = r.peek().filter(|c| c.is_alphabetic()) {
                r.next();
                unit.push(c);
            }
            let per: i128 = match unit.as_str() {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => NANOS,
                "m" => 60 * NANOS,
                "h" => 3600 * NANOS,
                _ => return Err(bad()),
            };
            let part = whole
                .checked_mul(per)
                .and_then(|w| w.checked_add(fraction * per / fraction_scale))
                .ok_or_else(|| format!("duration `{text}` is out of range"))?;
            total = total
                .checked_add(part)
                .ok_or_else(|| format!("duration `{text}` is out of range"))?;
            any = true;
        }
        if !any {
            return Err(bad());
        }
        Self::from_nanos(if negative { -total } else { total })
            .ok_or_else(|| format!("duration `{text}` is out of range"))
    }
}

impl core::fmt::Display for Duration {
    /// Seconds with as many fractional digits as needed: `1.5s`, `-300s`, `0.000000001s`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let abs = self.0.abs();
        write!(f, "{}", abs / NANOS)?;
        write_fraction(f, abs % NANOS)?;
        f.write_str("s")
    }
}

struct Reader<'t> {
    chars: core::iter::Peekable<core::str::Chars<'t>>,
    text: &'t str,
    taken: usize,
}

impl<'t> Reader<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            chars: text.chars().peekable(),
            text,
            taken: 0,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn next(&mut self) -> Option<char> {
        self.taken += 1;
        self.chars.next()
    }

    fn expect(&mut self, c: char) -> Option<()> {
        (self.next() == Some(c)).then_some(())
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let mut v = 0i64;
        for _ in 0..n {
            let d = self.peek()?.to_digit(10)?;
            self.next();
            v = v * 10 + i64::from(d);
        }
        Some(v)
    }

    /// Whether the text ends `n` characters from here.
    fn rest_is_empty_after(&self, n: usize) -> bool {
        self.text.chars().count() == self.taken + n
    }
}

/// A time zone argument of the timestamp accessors: `UTC`, `Z` or a fixed offset `±HH:MM`, as seconds
/// east of UTC. Named zones of the IANA database are not known here.
///
/// # Errors
/// Anything else.
pub fn offset_of(zone: &str) -> Result<i64, String> {
    if matches!(zone, "UTC" | "Z" | "Etc/UTC" | "GMT") {
        return Ok(0);
    }
    let mut r = Reader::new(zone);
    let sign = match r.next() {
        Some('+') => 1,
        Some('-') => -1,
        _ => {
            return Err(format!(
                "time zone `{zone}` is not supported (use `UTC` or an offset such as `+05:30`)"
            ))
        }
    };
    let bad = || format!("`{zone}` is not a time zone offset such as `+05:30`");
    let h = r.digits(2).ok_or_else(bad)?;
    r.expect(':').ok_or_else(bad)?;
    let m = r.digits(2).ok_or_else(bad)?;
    if r.next().is_some() || h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_and_print_as_rfc_3339() {
        let t = Timestamp::parse("2009-02-13T23:31:30Z").unwrap_or(Timestamp(0));
        assert_eq!(t.seconds(), 1_234_567_890);
        assert_eq!(t.to_string(), "2009-02-13T23:31:30Z");
        let t = Timestamp::parse("2023-10-11T10:00:00.120+02:00").unwrap_or(Timestamp(0));
        assert_eq!(t.to_string(), "2023-10-11T08:00:00.12Z");
        for ok in [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2024-02-29T00:00:00Z",
        ] {
            assert!(Timestamp::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0000-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-10-11 10:00:00Z",
            "2023-10-11T10:00:00",
            "2023-10-11T10:00:00.Z",
            "2023-10-11T10:00:00Zjunk",
            "２０２３-10-11T10:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_fields_agree_with_known_dates() {
        let t = Timestamp::parse("2024-03-01T13:14:15.678Z").unwrap_or(Timestamp(0));
        let c = t.civil(0);
        assert_eq!(
            (c.year, c.month, c.day, c.day_of_year, c.day_of_week),
            (2024, 3, 1, 60, 5)
        );
        assert_eq!(
            (c.hour, c.minute, c.second, c.millisecond),
            (13, 14, 15, 678)
        );
        assert_eq!(t.civil(-14 * 3600).day, 29);
    }

    #[test]
    fn durations_parse_in_go_syntax() {
        let d = |s: &str| Duration::parse(s).map(Duration::nanos);
        assert_eq!(d("1h30m"), Ok(5_400 * NANOS));
        assert_eq!(d("1.5s"), Ok(1_500_000_000));
        assert_eq!(d("-300ms"), Ok(-300_000_000));
        assert_eq!(d("2us"), Ok(2_000));
        assert_eq!(d("2µs"), Ok(2_000));
        assert_eq!(d("0"), Ok(0));
        for bad in ["", "1", "1x", "h", "-", "1.s.", "320000000000s"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Duration::parse("-1.5s").map(|d| d.to_string()),
            Ok("-1.5s".into())
        );
    }
}
