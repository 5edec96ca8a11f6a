//! Durations as written on the command line and in configuration: a
//! sequence of `<number><unit>` with units `s`, `m`, `h`, `d`, `w`
//! (`0s`, `90m`, `6h`, `7d`, `1h30m`). A bare `0` is accepted; any other
//! number needs a unit.

use std::time::Duration;

use crate::{Error, Result};

/// Parses a duration such as `6h`, `90m`, `7d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = |why: &str| {
        Error::InvalidArgument(format!(
            "duration {s:?}: {why} (expected e.g. 0s, 90m, 6h, 7d or 1h30m)"
        ))
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| bad("number too large"))?;
        rest = &rest[digits..];
        let unit = rest
            .chars()
            .next()
            .ok_or_else(|| bad("a number needs a unit"))?;
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        rest = &rest[unit.len_utf8()..];
        total = number
            .checked_mul(seconds)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too large"))?;
    }
    Ok(Duration::from_secs(total))
}

/// Writes a duration the way [`parse_duration`] reads it, e.g. `1h30m`.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

/// Parses a point in time for an expiry: a duration from `now` (`7d`), or
/// an RFC 3339 time (`2026-12-01T00:00:00Z`, `2026-12-01T01:00:00+01:00`,
/// or a date `2026-12-01`, meaning midnight UTC). Returns seconds since the
/// Unix epoch.
pub fn parse_time_or_duration(s: &str, now: i64) -> Result<i64> {
    let text = s.trim();
    if text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-') {
        return parse_rfc3339(text);
    }
    let d = parse_duration(text).map_err(|_| {
        Error::InvalidArgument(format!(
            "time {s:?}: expected a duration from now (7d, 12h) or an RFC 3339 time \
             (2026-12-01T00:00:00Z)"
        ))
    })?;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    Ok(now.saturating_add(secs))
}

/// Parses an RFC 3339 time (or a bare date, midnight UTC) into seconds
/// since the Unix epoch.
pub fn parse_rfc3339(s: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidArgument(format!(
            "time {s:?}: expected RFC 3339, e.g. 2026-12-01T00:00:00Z or 2026-12-01"
        ))
    };
    let num = |range: std::ops::Range<usize>| -> Result<i64> {
        let part = s.get(range).ok_or_else(bad)?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let date = days_from_civil(year, month, day) * 86_400;
    if b.len() == 10 {
        return Ok(date);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return Err(bad());
            }
            let h: i64 = rest[1..3].parse().map_err(|_| bad())?;
            let m: i64 = rest[4..6].parse().map_err(|_| bad())?;
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let o = h * 3600 + m * 60;
            if rb[0] == b'-' {
                -o
            } else {
                o
            }
        }
    };
    Ok(date + hour * 3600 + minute * 60 + second - offset)
}

/// Writes seconds since the Unix epoch as RFC 3339 UTC, e.g.
/// `2026-12-01T00:00:00Z`.
pub fn format_rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_rfc3339("2000-03-01").unwrap(), 951_868_800);
        assert_eq!(
            parse_rfc3339("2026-11-25T12:00:00+01:00").unwrap(),
            1795604400
        );
        assert_eq!(
            parse_rfc3339("2026-11-25T11:00:00.5Z").unwrap(),
            parse_rfc3339("2026-11-25T12:00:00+01:00").unwrap()
        );
        for t in [0, 951_868_800, 1795604400, -86_400] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)).unwrap(), t);
        }
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2026-11-25T25:00:00Z",
            "2026-11-25T12:00:00",
            "2026-11-25X",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_time_or_duration("7d", 100).unwrap(), 100 + 604_800);
        assert_eq!(parse_time_or_duration("1970-01-02", 100).unwrap(), 86_400);
        assert!(parse_time_or_duration("soon", 100).is_err());
    }

    #[test]
    fn parses() {
        let cases = [
            ("0s", 0),
            ("0", 0),
            ("90m", 5400),
            ("6h", 21_600),
            ("7d", 604_800),
            ("2w", 1_209_600),
            ("1h30m", 5400),
            ("1d2h3m4s", 93_784),
            (" 45s ", 45),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_secs(secs),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "h",
            "6",
            "6x",
            "-1h",
            "1.5h",
            "6h x",
            "6 h",
            "99999999999999999999d",
            "1ĥ",
        ] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for secs in [0, 1, 59, 60, 5400, 93_784, 604_800] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
