//! Delays measured by `ping`, for `distribution: {ping: FILE}`: the round trips of Linux `ping`'s output
//! (`64 bytes from …: icmp_seq=1 ttl=57 time=12.3 ms`; its other lines are skipped), or one round trip in
//! ms per line. Each direction gets half a round trip, drawn from the file's quantiles.

/// How many quantiles a network keeps of its file (every 0.2 %, both ends included).
pub const QUANTILES: usize = 501;
/// The fewest round trips that make a distribution.
pub const MIN_SAMPLES: usize = 20;

/// A problem in a ping file: its line (1-based; 0 for the file as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PingError {
    pub line: usize,
    pub message: String,
}

/// The round trips of a ping file, ms.
pub fn parse(text: &str) -> Result<Vec<f64>, PingError> {
    let is_ping = text.contains("time=") || text.contains("time<");
    let mut rtts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |message: String| PingError {
            line: i + 1,
            message,
        };
        let line = line.trim();
        let value = if is_ping {
            // `time=12.3 ms`; `time<1 ms` (Windows' and BSD's form for under a millisecond) counts as 0.5.
            match line
                .split_once("time=")
                .or_else(|| line.split_once("time<"))
            {
                Some((_, rest)) => {
                    let num = rest.split(|c: char| c.is_whitespace() || c == 'm').next();
                    let v = num.and_then(|n| n.parse::<f64>().ok()).ok_or_else(|| {
                        bad(format!("`{line}`: no round trip in ms after `time`"))
                    })?;
                    if line.contains("time<") {
                        v / 2.0
                    } else {
                        v
                    }
                }
                None => continue,
            }
        } else {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            line.trim_end_matches("ms").trim().parse::<f64>().map_err(|_| {
                bad(format!(
                    "`{line}` is not a round trip in ms (give one per line, or the output of Linux `ping`)"
                ))
            })?
        };
        if !value.is_finite() || value < 0.0 {
            return Err(bad(format!("a round trip of {value} ms")));
        }
        rtts.push(value);
    }
    if rtts.len() < MIN_SAMPLES {
        return Err(PingError {
            line: 0,
            message: format!(
                "it holds {} round trips; a distribution needs at least {MIN_SAMPLES} (e.g. `ping -c 1000 HOST > FILE`)",
                rtts.len()
            ),
        });
    }
    Ok(rtts)
}

/// One-way delays (half of each round trip), ms, at [`QUANTILES`] evenly spaced quantiles.
pub fn one_way_quantiles(rtts: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = rtts.iter().map(|r| r / 2.0).collect();
    v.sort_by(f64::total_cmp);
    (0..QUANTILES)
        .map(|i| {
            let pos = i as f64 / (QUANTILES - 1) as f64 * (v.len() - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            let hi = (lo + 1).min(v.len() - 1);
            let q = v[lo] + (v[hi] - v[lo]) * frac;
            (q * 1000.0).round() / 1000.0
        })
        .collect()
}

/// A ping file's delays, with its path and line in any error (`wotemu fidelity --distribution ping:FILE`).
pub fn read_file(path: &std::path::Path) -> Result<crate::model::PingDelays, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the ping file {}: {e}", path.display()))?;
    let rtts = parse(&text).map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message))?;
    Ok(crate::model::PingDelays {
        file: path.display().to_string(),
        quantiles_ms: one_way_quantiles(&rtts),
    })
}

/// The delay at the uniform `u` (in [0, 1)) of a distribution given by its evenly spaced quantiles.
pub fn draw(quantiles: &[f64], u: f64) -> f64 {
    match quantiles.len() {
        0 => 0.0,
        1 => quantiles[0],
        n => {
            let pos = u.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = (pos.floor() as usize).min(n - 2);
            quantiles[lo] + (quantiles[lo + 1] - quantiles[lo]) * (pos - lo as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_linux_ping_output() {
        let mut text = String::from("PING 1.1.1.1 (1.1.1.1) 56(84) bytes of data.\n");
        for i in 0..30 {
            text.push_str(&format!(
                "64 bytes from 1.1.1.1: icmp_seq={i} ttl=57 time={} ms\n",
                10 + i
            ));
        }
        text.push_str("\n--- 1.1.1.1 ping statistics ---\n30 packets transmitted, 30 received, 0% packet loss, time 29040ms\nrtt min/avg/max/mdev = 10.0/24.5/39.0/8.6 ms\n");
        let rtts = parse(&text).unwrap();
        assert_eq!(rtts.len(), 30);
        assert_eq!((rtts[0], rtts[29]), (10.0, 39.0));
        let q = one_way_quantiles(&rtts);
        assert_eq!(q.len(), QUANTILES);
        assert_eq!((q[0], q[QUANTILES - 1]), (5.0, 19.5));
        assert!((draw(&q, 0.5) - 12.25).abs() < 1e-9, "{}", draw(&q, 0.5));
    }

    #[test]
    fn reads_one_round_trip_per_line_and_says_where_a_line_is_wrong() {
        let text: String = (0..25).map(|i| format!("{}\n", 20 + i)).collect();
        assert_eq!(parse(&text).unwrap().len(), 25);
        let e = parse(&format!("# rtt\n{text}fast\n")).unwrap_err();
        assert_eq!(e.line, 27);
        assert!(e.message.contains("`fast`"), "{e}");
        let e = parse("12\n13\n").unwrap_err();
        assert!(e.message.contains("at least 20"), "{e}");
    }
}
