//! Facts formatted for people: sizes in KiB/MiB/GiB, milliseconds, durations, counts with separators.

/// Bytes as `512 B`, `1.5 KiB`, `23.5 GiB`.
pub fn bytes(b: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v.abs() >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// A latency in milliseconds with a precision that suits its size (`0.021`, `4.73`, `1234.5`); `–` for none.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v.abs() < 1.0 => format!("{v:.3}"),
        Some(v) if v.abs() < 100.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// A count with thousands separators (`1,234,567`).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A duration in seconds as `45 s`, `3 min 20 s`, `2 h 05 min`.
pub fn duration(secs: f64) -> String {
    wotemu_contract::time_util::human_duration(secs)
}

/// A percentage with two decimals (`0.25 %`); `–` when the total is zero.
pub fn percent(part: i64, total: i64) -> String {
    if total > 0 {
        format!("{:.2} %", part as f64 * 100.0 / total as f64)
    } else {
        "–".into()
    }
}

/// A duration in milliseconds for people: `850 ms`, `12.4 s`, `3 min 20 s`.
pub fn duration_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        duration(ms / 1000.0)
    }
}

/// A rate in bits per second as `820 bit/s`, `1.50 Mbit/s`, `2.5 Gbit/s`.
pub fn rate(bps: f64) -> String {
    let units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
    let mut v = bps;
    let mut u = 0;
    while v.abs() >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", units[u])
    } else {
        format!("{v:.2} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_read_as_people_write_them() {
        assert_eq!(bytes(25_276_502_016), "23.5 GiB");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(157_286_400), "150.0 MiB");
        assert_eq!(ms(Some(0.0213)), "0.021");
        assert_eq!(ms(Some(12.345)), "12.35");
        assert_eq!(ms(Some(1234.56)), "1234.6");
        assert_eq!(ms(None), "–");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(duration(45.2), "45 s");
        assert_eq!(duration(200.0), "3 min 20 s");
        assert_eq!(duration(7500.0), "2 h 05 min");
        assert_eq!(percent(1, 4), "25.00 %");
        assert_eq!(percent(1, 0), "–");
    }
}
