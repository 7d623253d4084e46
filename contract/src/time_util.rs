//! Time helpers: the contract's timestamps are microseconds since the UNIX epoch (UTC) in data, and RFC 3339
//! text in JSON documents.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, in microseconds since the UNIX epoch.
pub fn now_us() -> i64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1000) as i64
}

/// Formats microseconds since the epoch as RFC 3339 (UTC), e.g. `2026-11-24T10:00:00.000001Z`.
pub fn us_to_rfc3339(us: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{us}us"))
}

/// Parses RFC 3339 text into microseconds since the epoch.
pub fn rfc3339_to_us(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
}

/// Converts UNIX seconds (as 0.6 stored them, possibly fractional) to microseconds.
pub fn secs_f64_to_us(secs: f64) -> Option<i64> {
    let us = (secs * 1e6).round();
    (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64)
}

/// A duration in seconds for people: `45 s`, `3 min 20 s`, `2 h 05 min`.
pub fn human_duration(secs: f64) -> String {
    let s = secs.round() as i64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// A line that starts with an RFC 3339 timestamp and a space, as `docker logs --timestamps` writes them:
/// its time (µs since the epoch) and the rest.
pub fn timestamped_line(line: &str) -> Option<(i64, &str)> {
    let (ts, rest) = line.split_once(' ')?;
    let us = rfc3339_to_us(ts)?;
    Some((us, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(us_to_rfc3339(1_000_001), "1970-01-01T00:00:01.000001Z");
        assert_eq!(
            rfc3339_to_us("1970-01-01T00:00:01.000001Z"),
            Some(1_000_001)
        );
        assert_eq!(rfc3339_to_us("yesterday"), None);
        assert_eq!(secs_f64_to_us(1.5), Some(1_500_000));
        assert_eq!(secs_f64_to_us(f64::NAN), None);
        assert!(now_us() > 1_700_000_000_000_000);
    }
}
