//! RFC 3339 `date-time` values read as instants, so that moments are compared, not strings:
//! `2011-05-13T04:42:34Z` equals `2011-05-13T06:42:34+02:00`. SCIM's `dateTime` (RFC 7643 §2.3.5) and
//! SAML's `xs:dateTime` in UTC (SAML core §1.3.3) are both this profile.

use crate::time::UnixTime;

/// Nanoseconds since 1970-01-01T00:00:00Z (`i128`: every year 0000–9999 fits, with any offset).
pub type Instant = i128;

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t`/`z` accepted in either case, seconds up to 60
/// (a leap second is read as the next second's start). `None` when the text is not such a value.
#[must_use]
pub fn parse_date_time(text: &str) -> Option<Instant> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at).is_some_and(|x| x.eq_ignore_ascii_case(&c));
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: i128 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        let mut scale: i128 = 100_000_000;
        while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            nanos += i128::from(d - b'0') * scale;
            scale /= 10;
            at += 1;
        }
        if at == start {
            return None;
        }
    }
    let offset_secs = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() && sep(at + 3, b':') => {
            let (oh, om) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// [`parse_date_time`] as a [`UnixTime`] (whole milliseconds, floored). `None` when the text is not a
/// `date-time` or lies outside what a [`UnixTime`] holds.
#[must_use]
pub fn parse_unix_time(text: &str) -> Option<UnixTime> {
    let millis = parse_date_time(text)?.div_euclid(1_000_000);
    i64::try_from(millis).ok().map(UnixTime::from_millis)
}

/// Seconds since the epoch as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` (what `meta.created` and
/// `meta.lastModified` carry). Years outside 0000–9999 are clamped to them.
#[must_use]
pub fn format_date_time(unix_secs: i64) -> String {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = unix_secs.clamp(MIN, MAX);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The number of days in `month` (1-12) of `year` (proleptic Gregorian).
#[must_use]
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
#[must_use]
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_not_strings() {
        assert_eq!(parse_date_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_date_time("2011-05-13T04:42:34Z"),
            parse_date_time("2011-05-13T06:42:34+02:00")
        );
        assert_eq!(
            parse_date_time("2011-05-13T04:42:34.5Z"),
            parse_date_time("2011-05-13T04:42:34Z").map(|t| t + 500_000_000)
        );
        // 2000-03-01 is day 11017.
        assert_eq!(
            parse_date_time("2000-03-01T00:00:00Z"),
            Some(11_017 * 86_400 * 1_000_000_000)
        );
    }

    #[test]
    fn formats_what_it_parses() {
        assert_eq!(format_date_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_date_time(1_305_261_754), "2011-05-13T04:42:34Z");
        assert_eq!(format_date_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_date_time(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_date_time(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(format_date_time(i64::MIN), "0000-01-01T00:00:00Z");
        for secs in (-10_000_000_000_i64..10_000_000_000).step_by(86_399 * 97) {
            let text = format_date_time(secs);
            assert_eq!(
                parse_date_time(&text),
                Some(i128::from(secs) * 1_000_000_000),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for bad in [
            "",
            "2011-05-13",
            "2011-05-13T04:42:34",
            "2011-02-30T00:00:00Z",
            "2011-05-13T24:00:00Z",
            "2011-05-13T04:42:34.Z",
            "2011-05-13T04:42:34+0200",
            "2011-05-13T04:42:34Zjunk",
            "２011-05-13T04:42:34Z",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }
}
