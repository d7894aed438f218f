//! Durations written as people write them in scenarios and on the command line: `500ms`, `3s`, `2m`,
//! `1h`, `30d`, or a sum such as `1h30m`.

use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a duration: {0:?} (write e.g. 500ms, 3s, 2m, 1h, 30d or 1h30m)")]
pub struct DurationError(pub String);

const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses a duration such as `30d` or `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(err());
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let value: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = rest.split_at(unit_len);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, s)| *s)
            .ok_or_else(err)?;
        total_ms = value
            .checked_mul(scale)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(err)?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration in the largest units that divide it exactly: `30d`, `1h30m`, `3s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (name, scale) in UNITS.iter().rev() {
        if ms >= *scale {
            out.push_str(&format!("{}{}", ms / scale, name));
            ms %= scale;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "3", "s", "3x", "-1s", "1.5s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["30d", "1h30m", "3s", "250ms", "1d2h3m4s5ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
