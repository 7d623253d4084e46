//! The value syntaxes of a topology: durations, rates, percentages, memory sizes and CPU counts.
//!
//! Each parser returns a message saying what is accepted, so the caller can attach a location.

/// A duration in milliseconds: a number (milliseconds, as 0.6's `latency`) or a string with a unit
/// (`us`, `ms`, `s`, `m`), e.g. `300`, `"300ms"`, `"1.5s"`, `"2m"`.
pub fn parse_duration_ms(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mult) = split_unit(t, &[("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)])
        .ok_or_else(|| format!("`{s}` is not a duration; write milliseconds (`300`) or a number with us, ms, s or m (`300ms`, `1.5s`)"))?;
    let v: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{s}` is not a duration; the number must be 0 or more"))?;
    Ok(v * mult)
}

/// Formats milliseconds the way [`parse_duration_ms`] reads them back.
/// A duration given on a command line (`--duration`): `60s`, `2m`, `1.5s`, or seconds as a plain number.
pub fn parse_flag_duration(s: &str) -> Result<std::time::Duration, String> {
    let ms = parse_duration_ms(s)
        .or_else(|_| {
            s.trim()
                .parse::<f64>()
                .map(|v| v * 1000.0)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 60s, 2m or 90"))?;
    if !(ms.is_finite() && ms >= 0.0) {
        return Err(format!("{s:?} is not a duration; write e.g. 60s, 2m or 90"));
    }
    Ok(std::time::Duration::from_millis(ms as u64))
}

/// A size in bytes, decimal: `10MB` and `10M` are 10,000,000 bytes, `500k`, `1g`, or a number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('g') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok((v * mult).round() as u64),
        _ => Err(format!(
            "`{s}` is not a size; write e.g. 10MB, 500k, 1g or a number of bytes"
        )),
    }
}

pub fn format_ms(ms: f64) -> String {
    if ms != 0.0 && ms % 1000.0 == 0.0 {
        format!("{}s", ms / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// A rate in bits per second, in `tc` syntax: `bit`, `kbit`, `mbit`, `gbit`, `tbit` (powers of 1000) and
/// `bps`, `kbps`, `mbps`, `gbps` (BYTES per second, as `tc` reads them), e.g. `"1500kbit"`, `"15mbit"`.
pub fn parse_rate_bps(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let units = [
        ("tbit", 1e12),
        ("gbit", 1e9),
        ("mbit", 1e6),
        ("kbit", 1e3),
        ("bit", 1.0),
        ("gbps", 8e9),
        ("mbps", 8e6),
        ("kbps", 8e3),
        ("bps", 8.0),
    ];
    let hint = || {
        format!(
            "`{s}` is not a rate; write it as tc does: a number with bit, kbit, mbit or gbit (`1500kbit`, `15mbit`); \
             note that kbps/mbps mean bytes per second"
        )
    };
    let (num, mult) = split_unit(&t, &units).ok_or_else(hint)?;
    let v: f64 = num.parse().map_err(|_| hint())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("`{s}` is not a rate: it must be more than 0"));
    }
    let bps = (v * mult).round();
    if !(8.0..=1e13).contains(&bps) {
        return Err(format!("`{s}` is out of range (8bit .. 10tbit)"));
    }
    Ok(bps as u64)
}

/// Formats bits per second in `tc` syntax, exactly (the largest unit that divides it).
pub fn format_rate(bps: u64) -> String {
    for (unit, m) in [
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
    ] {
        if bps % m == 0 {
            return format!("{}{unit}", bps / m);
        }
    }
    format!("{bps}bit")
}

/// A percentage: a number (percent) or a string ending in `%`, from 0 to 100: `1`, `"0.5%"`.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    let v: f64 = num.parse().map_err(|_| {
        format!("`{s}` is not a percentage; write a number from 0 to 100, e.g. `1%` or `0.5`")
    })?;
    if !(0.0..=100.0).contains(&v) || !v.is_finite() {
        return Err(format!(
            "`{s}` is not a percentage: it must be from 0 to 100"
        ));
    }
    Ok(v)
}

/// A memory size as Docker reads it: a number of bytes with an optional unit `b`, `k`, `m`, `g` (powers of
/// 1024, optionally followed by `b`, any case), e.g. `"150M"`, `"1g"`, `"512mb"`.
pub fn parse_mem_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let hint = || {
        format!("`{s}` is not a memory size; write a number with an optional unit b, k, m or g, e.g. `150M` or `1g`")
    };
    let units = [
        ("kb", 1u64 << 10),
        ("mb", 1 << 20),
        ("gb", 1 << 30),
        ("k", 1 << 10),
        ("m", 1 << 20),
        ("g", 1 << 30),
        ("b", 1),
    ];
    let (num, mult) = units
        .iter()
        .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n.trim(), *m)))
        .unwrap_or((t.as_str(), 1));
    let v: f64 = num.parse().map_err(|_| hint())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!(
            "`{s}` is not a memory size: it must be more than 0"
        ));
    }
    let bytes = v * mult as f64;
    if bytes < 4.0 * 1024.0 * 1024.0 {
        return Err(format!(
            "`{s}` is below Docker's minimum memory limit of 6M (did you forget the unit, e.g. `{s}M`?)"
        ));
    }
    if bytes > 1e15 {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(bytes as u64)
}

/// A number of CPUs as Docker reads it (`0.5`, `"2"`), more than 0 and at most 1024.
pub fn parse_cpus(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| {
        format!("`{s}` is not a number of CPUs; write a decimal number such as `0.5` or `2`")
    })?;
    if !v.is_finite() || v <= 0.0 || v > 1024.0 {
        return Err(format!(
            "`{s}` is not a number of CPUs: it must be more than 0 and at most 1024"
        ));
    }
    Ok(v)
}

fn split_unit<'a>(t: &'a str, units: &[(&str, f64)]) -> Option<(&'a str, f64)> {
    if t.is_empty() {
        return None;
    }
    // A bare number: the first unit with multiplier 1 for durations is ms; callers pass units in order of
    // preference, so a bare number means the unit whose multiplier is 1.0.
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let m = units.iter().find(|(_, m)| *m == 1.0).map(|(_, m)| *m)?;
        return Some((t, m));
    }
    // Longest unit first, so `ms` wins over `s`.
    let mut sorted: Vec<_> = units.to_vec();
    sorted.sort_by_key(|(u, _)| std::cmp::Reverse(u.len()));
    sorted
        .iter()
        .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n.trim(), *m)))
        .filter(|(n, _)| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("300").unwrap(), 300.0);
        assert_eq!(parse_duration_ms("300ms").unwrap(), 300.0);
        assert_eq!(parse_duration_ms("1.5s").unwrap(), 1500.0);
        assert_eq!(parse_duration_ms("2m").unwrap(), 120_000.0);
        assert_eq!(parse_duration_ms("250us").unwrap(), 0.25);
        assert!(parse_duration_ms("-1").is_err());
        assert!(parse_duration_ms("1h").is_err());
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("ms").is_err());
        assert_eq!(format_ms(60_000.0), "60s");
        assert_eq!(format_ms(150.0), "150ms");
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate_bps("1500kbit").unwrap(), 1_500_000);
        assert_eq!(parse_rate_bps("15mbit").unwrap(), 15_000_000);
        assert_eq!(parse_rate_bps("1Gbit").unwrap(), 1_000_000_000);
        assert_eq!(parse_rate_bps("100kbps").unwrap(), 800_000);
        assert_eq!(parse_rate_bps("1000").unwrap(), 1000);
        assert!(parse_rate_bps("fast").unwrap_err().contains("kbit"));
        assert!(parse_rate_bps("0kbit").is_err());
        assert_eq!(format_rate(1_500_000), "1500kbit");
        assert_eq!(format_rate(50_000), "50kbit");
        assert_eq!(format_rate(100_000_000), "100mbit");
        assert_eq!(format_rate(1234), "1234bit");
    }

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(parse_mem_bytes("150M").unwrap(), 150 << 20);
        assert_eq!(parse_mem_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_mem_bytes("512mb").unwrap(), 512 << 20);
        assert!(parse_mem_bytes("150Q").unwrap_err().contains("memory size"));
        assert!(parse_mem_bytes("150")
            .unwrap_err()
            .contains("forget the unit"));
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("half").is_err());
        assert_eq!(parse_percent("1%").unwrap(), 1.0);
        assert_eq!(parse_percent("0.5").unwrap(), 0.5);
        assert!(parse_percent("101%").is_err());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic_and_errors_name_the_input(s in "\\PC{0,24}") {
            for r in [
                parse_duration_ms(&s).map(drop),
                parse_rate_bps(&s).map(drop),
                parse_percent(&s).map(drop),
                parse_mem_bytes(&s).map(drop),
                parse_cpus(&s).map(drop),
            ] {
                if let Err(e) = r {
                    prop_assert!(e.contains(&format!("`{s}`")), "{e}");
                }
            }
        }

        #[test]
        fn durations_round_trip(ms in 0u32..100_000_000) {
            let ms = f64::from(ms) / 4.0;
            prop_assert_eq!(parse_duration_ms(&format_ms(ms)).unwrap(), ms);
        }

        #[test]
        fn rates_round_trip(bps in 8u64..10_000_000_000_000) {
            prop_assert_eq!(parse_rate_bps(&format_rate(bps)).unwrap(), bps);
        }

        #[test]
        fn accepted_percentages_are_percentages(v in -1000.0f64..1000.0) {
            match parse_percent(&format!("{v}%")) {
                Ok(p) => prop_assert!((0.0..=100.0).contains(&p) && p == v),
                Err(_) => prop_assert!(!(0.0..=100.0).contains(&v)),
            }
        }

        #[test]
        fn memory_units_are_powers_of_1024(n in 6u64..100_000, unit in 0usize..3) {
            let (suffix, mult) = [("M", 1u64 << 20), ("g", 1 << 30), ("kb", 1 << 10)][unit];
            let text = format!("{n}{suffix}");
            match parse_mem_bytes(&text) {
                Ok(b) => prop_assert_eq!(b, n * mult),
                Err(e) => prop_assert!(n * mult < 4 << 20, "{e}"),
            }
        }
    }
}
