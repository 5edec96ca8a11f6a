//! Sizes as written on the command line: a number with an optional unit,
//! decimal (`k`/`kB`, `M`/`MB`, `G`/`GB`, `T`/`TB`: powers of 1000) or
//! binary (`KiB`, `MiB`, `GiB`, `TiB`: powers of 1024), e.g. `500MiB`,
//! `10G`, `1.5TB`. A bare number is bytes; units are case-insensitive.

use crate::{Error, Result};

/// Parses a size in bytes, such as `10G`, `500MiB` or `123456`.
pub fn parse_size(s: &str) -> Result<u64> {
    let bad = |why: &str| {
        Error::InvalidArgument(format!(
            "size {s:?}: {why} (expected e.g. 123456, 500MiB, 10G or 1.5TB)"
        ))
    };
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(bad("expected a number"));
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000_u64.pow(2),
        "g" | "gb" => 1000_u64.pow(3),
        "t" | "tb" => 1000_u64.pow(4),
        "p" | "pb" => 1000_u64.pow(5),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "pib" => 1 << 50,
        other => return Err(bad(&format!("unknown unit {other:?}"))),
    };
    if let Some((int, frac)) = number.split_once('.') {
        if int.is_empty() || frac.is_empty() || frac.contains('.') || frac.len() > 9 {
            return Err(bad("malformed number"));
        }
        let int: u64 = int.parse().map_err(|_| bad("number too large"))?;
        let scale = 10_u64.pow(frac.len() as u32);
        let frac: u64 = frac.parse().map_err(|_| bad("malformed number"))?;
        let whole = int
            .checked_mul(multiplier)
            .ok_or_else(|| bad("too large"))?;
        let part = u128::from(frac) * u128::from(multiplier) / u128::from(scale);
        whole
            .checked_add(u64::try_from(part).map_err(|_| bad("too large"))?)
            .ok_or_else(|| bad("too large"))
    } else {
        let n: u64 = number.parse().map_err(|_| bad("number too large"))?;
        n.checked_mul(multiplier).ok_or_else(|| bad("too large"))
    }
}

/// `bytes` in binary units, e.g. `1.5 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases = [
            ("0", 0),
            ("123456", 123_456),
            ("10G", 10_000_000_000),
            ("10GB", 10_000_000_000),
            ("500MiB", 500 << 20),
            ("500mib", 500 << 20),
            ("1.5TB", 1_500_000_000_000),
            ("1.5KiB", 1536),
            ("2 GiB", 2 << 30),
            ("7b", 7),
        ];
        for (text, n) in cases {
            assert_eq!(parse_size(text).unwrap(), n, "{text}");
        }
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "G",
            "10X",
            "1..5G",
            ".5G",
            "5.G",
            "-1G",
            "99999999999999999999",
            "20000000PB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(12), "12 B");
    }
}
