//! Trace files of network conditions: CSV rows of `time, delay, jitter, rate, rate_up, loss` (any
//! subset, named by a header), and mahimahi's packet-delivery traces (one millisecond timestamp per line,
//! each an opportunity to deliver one 1500-byte packet), turned into a `rate` per `bin`.
//!
//! Errors name the line (1-based) and say what is wrong; the caller locates them at the topology's
//! `trace` key.

use std::path::Path;

use crate::model::{Trace, TraceFormat, TracePoint};
use crate::units;

/// The most rows a trace may have: the rows travel with the gateway's command line (a few tens of bytes
/// each, under Linux's 128 KiB limit of one argument). Resample longer traces.
pub const MAX_POINTS: usize = 2500;

/// The most bytes a trace's rows may take in the gateway's conditions (one command-line argument, which
/// Linux limits to 128 KiB; the rest of the conditions are a few hundred bytes): rows of wide figures reach
/// it before [`MAX_POINTS`].
pub const MAX_JSON_BYTES: usize = 120 * 1024;

/// The bytes of one mahimahi delivery opportunity.
pub const MAHIMAHI_PACKET_BYTES: u64 = 1500;

/// The smallest rate a trace gives (a bin without a delivery opportunity): one byte per second.
pub const MIN_RATE_BPS: u64 = 8;

/// A problem at a line of a trace file.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceError {
    pub line: usize,
    pub message: String,
}

/// The format of a trace file its topology does not name: CSV for a `.csv` file (any case), else mahimahi.
pub fn format_of(file: &str) -> TraceFormat {
    if file.to_ascii_lowercase().ends_with(".csv") {
        TraceFormat::Csv
    } else {
        TraceFormat::Mahimahi
    }
}

/// The rows of a trace file's text in its format (`bin_ms`: mahimahi's bin).
pub fn parse(text: &str, format: TraceFormat, bin_ms: f64) -> Result<Vec<TracePoint>, TraceError> {
    match format {
        TraceFormat::Csv => parse_csv(text),
        TraceFormat::Mahimahi => parse_mahimahi(text, bin_ms),
    }
}

/// What a trace of `format` looks like, for an error's hint.
pub fn format_hint(format: TraceFormat) -> &'static str {
    match format {
        TraceFormat::Csv => "a CSV trace has a header (`time,delay,jitter,rate,rate_up,loss`, any subset with `time`) and one row per change",
        TraceFormat::Mahimahi => "a mahimahi trace has one millisecond timestamp per line (set `format: csv` for a CSV file)",
    }
}

/// A trace file read whole (its format from its name, mahimahi bins of a second, not looped): `wotemu
/// fidelity --trace`. The error says the file, the line and what is wrong.
pub fn read_file(path: &Path, linear: bool) -> Result<Trace, String> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the trace {file}: {e}"))?;
    let format = format_of(&file);
    let points = parse(&text, format, 1000.0)
        .map_err(|e| format!("{file}:{}: {}; {}", e.line, e.message, format_hint(format)))?;
    Ok(Trace {
        file,
        format,
        linear,
        looped: false,
        bin_ms: 1000.0,
        points,
    })
}

fn err(line: usize, message: impl Into<String>) -> TraceError {
    TraceError {
        line,
        message: message.into(),
    }
}

fn check_len(points: &[TracePoint], line: usize) -> Result<(), TraceError> {
    if points.is_empty() {
        return Err(err(line, "the trace has no rows"));
    }
    if points.len() > MAX_POINTS {
        return Err(err(
            line,
            format!(
                "the trace has {} rows; at most {MAX_POINTS} travel with a gateway (resample it, e.g. one row per second)",
                points.len()
            ),
        ));
    }
    let bytes = crate::compose::trace_points_json(points).to_string().len();
    if bytes > MAX_JSON_BYTES {
        return Err(err(
            line,
            format!(
                "the trace's {} rows take {} KiB in the gateway's command, at most {} KiB travel (resample it, or round its figures)",
                points.len(),
                bytes / 1024,
                MAX_JSON_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

/// A CSV trace. `time` is in seconds (or a duration: `1.5s`, `500ms`), `delay`/`jitter` in ms (or a
/// duration), `rate`/`rate_up` in bit/s (or `1.5mbit`), `loss` in % (or `1%`). Empty cells keep the
/// network's own value; `#` starts a comment line.
pub fn parse_csv(text: &str) -> Result<Vec<TracePoint>, TraceError> {
    const COLUMNS: [&str; 6] = ["time", "delay", "jitter", "rate", "rate_up", "loss"];
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        return Err(err(
            1,
            "the trace is empty; its first line names the columns (`time,delay,rate`)",
        ));
    };
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    for c in &cols {
        if !COLUMNS.contains(&c.as_str()) {
            return Err(err(
                hline,
                format!(
                    "unknown column `{c}`; the columns are {}",
                    COLUMNS.join(", ")
                ),
            ));
        }
    }
    if !cols.iter().any(|c| c == "time") {
        return Err(err(hline, "the header has no `time` column"));
    }
    if cols.len() < 2 {
        return Err(err(
            hline,
            "the header names `time` and no condition (delay, jitter, rate, rate_up, loss)",
        ));
    }
    let mut points: Vec<TracePoint> = Vec::new();
    let mut last_line = hline;
    for (n, line) in lines {
        last_line = n;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != cols.len() {
            return Err(err(
                n,
                format!("{} cells for {} columns", cells.len(), cols.len()),
            ));
        }
        let mut p = TracePoint::default();
        let mut time = None;
        for (c, v) in cols.iter().zip(cells) {
            if v.is_empty() {
                continue;
            }
            let bad = |e: String| err(n, format!("`{c}`: {e}"));
            match c.as_str() {
                "time" => {
                    let ms = match v.parse::<f64>() {
                        Ok(s) => s * 1000.0,
                        Err(_) => units::parse_duration_ms(v).map_err(bad)?,
                    };
                    if !ms.is_finite() || ms < 0.0 {
                        return Err(err(n, format!("`time`: `{v}` must be 0 or more")));
                    }
                    time = Some(ms);
                }
                "delay" => p.latency_ms = Some(units::parse_duration_ms(v).map_err(bad)?),
                "jitter" => p.jitter_ms = Some(units::parse_duration_ms(v).map_err(bad)?),
                "rate" => p.rate_bps = Some(units::parse_rate_bps(v).map_err(bad)?),
                "rate_up" => p.rate_up_bps = Some(units::parse_rate_bps(v).map_err(bad)?),
                "loss" => {
                    let l = units::parse_percent(v).map_err(bad)?;
                    if !(0.0..=100.0).contains(&l) {
                        return Err(err(n, format!("`loss`: `{v}` is not within 0–100 %")));
                    }
                    p.loss_pct = Some(l);
                }
                _ => unreachable!("columns are checked"),
            }
        }
        for (what, v) in [("delay", p.latency_ms), ("jitter", p.jitter_ms)] {
            if v.is_some_and(|v| v < 0.0 || !v.is_finite()) {
                return Err(err(n, format!("`{what}` must be 0 ms or more")));
            }
        }
        let Some(at) = time else {
            return Err(err(n, "the row has no `time`"));
        };
        if let Some(prev) = points.last() {
            if at <= prev.at_ms {
                return Err(err(
                    n,
                    format!(
                        "time {} is not after the previous row's {}; rows go in time order",
                        units::format_ms(at),
                        units::format_ms(prev.at_ms)
                    ),
                ));
            }
        }
        p.at_ms = at;
        points.push(p);
    }
    check_len(&points, last_line)?;
    Ok(points)
}

/// A mahimahi trace: timestamps (ms, non-decreasing; each a 1500-byte delivery opportunity) counted in
/// windows of `bin_ms` into one `rate` row per window, from 0 to the last timestamp.
pub fn parse_mahimahi(text: &str, bin_ms: f64) -> Result<Vec<TracePoint>, TraceError> {
    if !(bin_ms.is_finite() && bin_ms >= 10.0) {
        return Err(err(
            1,
            format!("`bin` must be 10 ms or more, not {bin_ms} ms"),
        ));
    }
    let mut stamps: Vec<u64> = Vec::new();
    let mut last_line = 1;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        last_line = n;
        let t: u64 = l.parse().map_err(|_| {
            err(
                n,
                format!("`{l}` is not a timestamp; a mahimahi trace has one whole number of milliseconds per line"),
            )
        })?;
        if stamps.last().is_some_and(|&p| t < p) {
            return Err(err(
                n,
                format!("timestamp {t} is before the previous one; timestamps never decrease"),
            ));
        }
        stamps.push(t);
    }
    let Some(&end) = stamps.last() else {
        return Err(err(1, "the trace has no timestamps"));
    };
    let bins = ((end as f64 + 1.0) / bin_ms).ceil().max(1.0) as usize;
    if bins > MAX_POINTS {
        return Err(err(
            last_line,
            format!("the trace lasts {} ms: {bins} windows of {bin_ms} ms; at most {MAX_POINTS} travel with a gateway (use a larger `bin`)", end + 1),
        ));
    }
    let mut counts = vec![0u64; bins];
    for t in stamps {
        counts[((t as f64 / bin_ms) as usize).min(bins - 1)] += 1;
    }
    let points: Vec<TracePoint> = counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| TracePoint {
            at_ms: i as f64 * bin_ms,
            rate_bps: Some(
                ((c * MAHIMAHI_PACKET_BYTES * 8) as f64 * 1000.0 / bin_ms)
                    .round()
                    .max(MIN_RATE_BPS as f64) as u64,
            ),
            ..Default::default()
        })
        .collect();
    check_len(&points, last_line)?;
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_with_any_subset_of_columns() {
        let p = parse_csv(
            "# a trace\ntime,delay,rate,loss\n0,100,1mbit,\n1.5,200ms,,2%\n3s,50,500000,0\n",
        )
        .unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].at_ms, 0.0);
        assert_eq!(p[0].latency_ms, Some(100.0));
        assert_eq!(p[0].rate_bps, Some(1_000_000));
        assert_eq!(p[0].loss_pct, None);
        assert_eq!(p[1].at_ms, 1500.0);
        assert_eq!(p[1].rate_bps, None);
        assert_eq!(p[1].loss_pct, Some(2.0));
        assert_eq!(p[2].at_ms, 3000.0);
        assert_eq!(p[2].jitter_ms, None);
    }

    #[test]
    fn csv_mistakes_name_their_line() {
        for (text, line, says) in [
            ("", 1, "empty"),
            ("time,latency\n0,1\n", 1, "unknown column `latency`"),
            ("delay\n1\n", 1, "no `time`"),
            ("time,delay\n0,1\n1,x\n", 3, "`delay`"),
            ("time,delay\n0,1\n0,2\n", 3, "time order"),
            ("time,delay\n0,1,2\n", 2, "3 cells for 2 columns"),
            ("time,loss\n0,120\n", 2, "from 0 to 100"),
            ("time,delay\n", 1, "no rows"),
        ] {
            let e = parse_csv(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e:?}");
            assert!(e.message.contains(says), "{text:?}: {e:?}");
        }
    }

    /// The gateway's conditions are one command-line argument (Linux: at most 128 KiB): a trace of 2,500
    /// rows of ordinary figures travels; a longer one, or one whose figures are so wide that its rows would
    /// not fit, is refused at its last line.
    #[test]
    fn the_rows_that_travel_fit_one_argument_and_more_are_refused() {
        let csv = |rows: usize, row: &dyn Fn(usize) -> String| {
            let mut t = "time,delay,jitter,rate,rate_up,loss\n".to_owned();
            (0..rows).for_each(|i| t.push_str(&row(i)));
            t
        };
        let ordinary = |i: usize| format!("{i},300,150,1500000,,1\n");
        let points = parse_csv(&csv(MAX_POINTS, &ordinary)).unwrap();
        let trace = crate::model::Trace {
            file: "t.csv".into(),
            format: TraceFormat::Csv,
            linear: false,
            looped: false,
            bin_ms: 1000.0,
            points,
        };
        let arg = crate::compose::trace_json(&trace).to_string();
        assert!(arg.len() < 128 * 1024, "{} bytes", arg.len());
        let e = parse_csv(&csv(MAX_POINTS + 1, &ordinary)).unwrap_err();
        assert_eq!(e.line, MAX_POINTS + 2, "{e:?}");
        assert!(e.message.contains("at most 2500"), "{e:?}");
        let wide = |i: usize| format!("{i}.123,12345.678,1234.567,123456789,123456789,99.999\n");
        let e = parse_csv(&csv(MAX_POINTS, &wide)).unwrap_err();
        assert!(e.message.contains("KiB in the gateway's command"), "{e:?}");
    }

    #[test]
    fn mahimahi_opportunities_become_a_rate_per_bin() {
        // 1000 opportunities in the first second, 500 in the second, none in the third, one at 3000 ms.
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!("{i}\n"));
        }
        for i in 0..500 {
            text.push_str(&format!("{}\n", 1000 + 2 * i));
        }
        text.push_str("3000\n");
        let p = parse_mahimahi(&text, 1000.0).unwrap();
        let rates: Vec<u64> = p.iter().map(|x| x.rate_bps.unwrap()).collect();
        assert_eq!(rates, [12_000_000, 6_000_000, MIN_RATE_BPS, 12_000]);
        assert_eq!(p[3].at_ms, 3000.0);
        let e = parse_mahimahi("1\n2\nx\n", 1000.0).unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse_mahimahi("5\n2\n", 1000.0).unwrap_err();
        assert_eq!(e.line, 2);
    }
}
