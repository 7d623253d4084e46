//! What the run's networks really did (the data; their pages are `network.rs`): the gateways' windows (the `network` table), the changes of
//! conditions (`timeline` events of kind `conditions`), each network's configured-vs-realized figures with
//! a verdict, and whether the host was overloaded (and when).
//!
//! The verdicts use the tolerances of `wotemu fidelity`: a mean delay within 5 % (at least 1 ms, and at
//! least four standard errors of the mean for the packets measured: a run's traffic is a sample) of what
//! the conditions imply, loss and duplication within four binomial standard errors (plus one packet) of
//! the configured share, an achieved rate at most 5 % (plus one burst) above the configured one. Twice the
//! tolerance is a warning, more a failure.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;
use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, f64s, i64s, scan, strs, time_us};

/// A release this late (µs, p99 of a window) means the shaper could not keep its schedule.
pub(crate) const LATENESS_BOUND_US: f64 = 10_000.0;
/// A window's p99 lateness counts only with this many packets (fewer make it their maximum).
pub(crate) const LATENESS_MIN_PACKETS: f64 = 100.0;
/// CPU use of all sampled tasks together at or above this share of the host's cores is saturation.
pub(crate) const CPU_SATURATION: f64 = 0.95;
/// The token bucket's burst (0.6's `tbf burst 100kbit`): a window may carry this much above the rate.
const BURST_BITS: f64 = 100_000.0;

/// One window of one direction of a network's gateway.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NetWindow {
    pub(crate) network: String,
    pub(crate) direction: String,
    pub(crate) backend: String,
    pub(crate) reason: String,
    pub(crate) time_us: i64,
    pub(crate) window_s: f64,
    pub(crate) received: f64,
    pub(crate) forwarded: f64,
    pub(crate) lost: f64,
    pub(crate) dropped_rate: f64,
    pub(crate) dropped_overflow: f64,
    pub(crate) duplicated: f64,
    pub(crate) delay_mean_ms: Option<f64>,
    pub(crate) delay_p50_ms: Option<f64>,
    pub(crate) delay_p99_ms: Option<f64>,
    pub(crate) rate_bps: f64,
    pub(crate) queue_packets: Option<f64>,
    pub(crate) lateness_p50_us: Option<f64>,
    pub(crate) lateness_p99_us: Option<f64>,
    pub(crate) cfg_latency_ms: f64,
    pub(crate) cfg_jitter_ms: f64,
    pub(crate) cfg_rate_bps: Option<f64>,
    pub(crate) cfg_loss_pct: f64,
    pub(crate) cfg_duplicate_pct: f64,
}

/// A change of a network's conditions.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Change {
    pub(crate) time_us: i64,
    pub(crate) network: String,
    /// `schedule` or `live`.
    pub(crate) how: String,
    /// What changed, for people: `3g: latency 100 → 500 ms`.
    pub(crate) label: String,
}

/// One configured-vs-realized figure of a network.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figure {
    pub(crate) name: String,
    pub(crate) unit: &'static str,
    pub(crate) configured: Option<f64>,
    pub(crate) realized: Option<f64>,
    pub(crate) tolerance: Option<f64>,
    /// `pass`, `warn`, `fail`, or `n/a` (no traffic to judge it on).
    pub(crate) verdict: &'static str,
    pub(crate) note: String,
}

/// A network's realized conditions over the whole run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NetworkTruth {
    pub(crate) name: String,
    pub(crate) backend: String,
    pub(crate) reason: String,
    pub(crate) windows: Vec<NetWindow>,
    pub(crate) figures: Vec<Figure>,
    /// The worst verdict of its figures.
    pub(crate) verdict: &'static str,
}

/// When and why the host could not keep up.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Overload {
    pub(crate) reasons: Vec<String>,
    /// Affected stretches (start, end) in µs.
    pub(crate) spans: Vec<(i64, i64)>,
    pub(crate) affected_s: f64,
}

/// Reads the `network` table, in time order per network and direction.
pub(crate) fn load_windows(dir: &Path) -> Result<Vec<NetWindow>, Error> {
    let Some(lf) = scan(dir, Table::Network)? else {
        return Ok(Vec::new());
    };
    let df = collect(
        lf.sort_by_exprs(
            [col("network"), col("direction"), col("time")],
            SortMultipleOptions::default(),
        ),
        Table::Network,
    )?;
    let s = |n: &str| strs(&df, n);
    let f = |n: &str| f64s(&df, n);
    let (network, direction, backend, reason) =
        (s("network"), s("direction"), s("backend"), s("reason"));
    let time = i64s(&df, "time");
    let cols: BTreeMap<&str, Vec<Option<f64>>> = [
        "window_s",
        "received",
        "forwarded",
        "lost",
        "dropped_rate",
        "dropped_overflow",
        "duplicated",
        "delay_mean_ms",
        "delay_p50_ms",
        "delay_p99_ms",
        "rate_bps",
        "queue_packets",
        "lateness_p50_us",
        "lateness_p99_us",
        "cfg_latency_ms",
        "cfg_jitter_ms",
        "cfg_rate_bps",
        "cfg_loss_pct",
        "cfg_duplicate_pct",
    ]
    .into_iter()
    .map(|c| (c, f(c)))
    .collect();
    let v = |c: &str, i: usize| cols[c][i];
    let z = |c: &str, i: usize| cols[c][i].unwrap_or(0.0);
    Ok((0..df.height())
        .map(|i| NetWindow {
            network: network[i].clone().unwrap_or_default(),
            direction: direction[i].clone().unwrap_or_default(),
            backend: backend[i].clone().unwrap_or_default(),
            reason: reason[i].clone().unwrap_or_default(),
            time_us: time[i].unwrap_or(0),
            window_s: z("window_s", i),
            received: z("received", i),
            forwarded: z("forwarded", i),
            lost: z("lost", i),
            dropped_rate: z("dropped_rate", i),
            dropped_overflow: z("dropped_overflow", i),
            duplicated: z("duplicated", i),
            delay_mean_ms: v("delay_mean_ms", i),
            delay_p50_ms: v("delay_p50_ms", i),
            delay_p99_ms: v("delay_p99_ms", i),
            rate_bps: z("rate_bps", i),
            queue_packets: v("queue_packets", i),
            lateness_p50_us: v("lateness_p50_us", i),
            lateness_p99_us: v("lateness_p99_us", i),
            cfg_latency_ms: z("cfg_latency_ms", i),
            cfg_jitter_ms: z("cfg_jitter_ms", i),
            cfg_rate_bps: v("cfg_rate_bps", i),
            cfg_loss_pct: z("cfg_loss_pct", i),
            cfg_duplicate_pct: z("cfg_duplicate_pct", i),
        })
        .collect())
}

/// The changes of conditions among the timeline's events (`kind = conditions`, detail `{network, old, new}`).
pub(crate) fn changes(timeline: &[crate::timeline::TimelineRow]) -> Vec<Change> {
    timeline
        .iter()
        .filter(|e| e.kind == "conditions")
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
            let network = d["network"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| e.target.trim_start_matches("network ").to_owned());
            Change {
                time_us: e.time_us,
                label: format!("{network}: {}", describe_change(&d["old"], &d["new"])),
                network,
                how: e.outcome.clone(),
            }
        })
        .collect()
}

/// `latency 100 → 500 ms, rate 1.5mbit → 50kbit` from two conditions objects.
pub(crate) fn describe_change(old: &serde_json::Value, new: &serde_json::Value) -> String {
    let keys = [
        ("latency", " ms"),
        ("jitter", " ms"),
        ("rate", ""),
        ("rate_up", ""),
        ("loss", " %"),
        ("duplicate", " %"),
        ("corrupt", " %"),
        ("reorder", " %"),
    ];
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "none".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.as_f64().map_or_else(
            || n.to_string(),
            |f| format!("{}", (f * 1000.0).round() / 1000.0),
        ),
        other => other.to_string(),
    };
    let parts: Vec<String> = keys
        .iter()
        .filter(|(k, _)| old[k] != new[k])
        .map(|(k, unit)| format!("{k} {} → {}{unit}", show(&old[*k]), show(&new[*k])))
        .collect();
    if parts.is_empty() {
        "unchanged".into()
    } else {
        parts.join(", ")
    }
}

/// Φ, the standard normal CDF (Abramowitz & Stegun 7.1.26, error < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The mean one-way delay netem's model gives: `max(0, N(latency, jitter))` (reordered packets aside).
pub(crate) fn expected_delay_ms(latency: f64, jitter: f64) -> f64 {
    if jitter <= 0.0 {
        return latency.max(0.0);
    }
    let a = latency / jitter;
    let pdf = (-a * a / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    latency * normal_cdf(a) + jitter * pdf
}

fn verdict(diff: f64, tol: f64) -> &'static str {
    if diff <= tol {
        "pass"
    } else if diff <= 2.0 * tol {
        "warn"
    } else {
        "fail"
    }
}

fn share_tol(p_pct: f64, n: f64) -> f64 {
    let p = p_pct / 100.0;
    let n = n.max(1.0);
    100.0 * (4.0 * (p * (1.0 - p) / n).sqrt() + 1.0 / n)
}

/// The figures of one network from its windows.
pub(crate) fn judge(windows: &[NetWindow]) -> Vec<Figure> {
    let mut figs = Vec::new();
    // Delay: windows that measured it, weighted by the packets forwarded.
    let (mut w, mut real, mut exp, mut var) = (0.0, 0.0, 0.0, 0.0);
    for x in windows {
        if let Some(d) = x.delay_mean_ms.filter(|_| x.forwarded > 0.0) {
            w += x.forwarded;
            real += d * x.forwarded;
            exp += expected_delay_ms(x.cfg_latency_ms, x.cfg_jitter_ms) * x.forwarded;
            // The jitter bounds the spread of one packet's delay (the cut normal is narrower).
            var += x.cfg_jitter_ms * x.cfg_jitter_ms * x.forwarded;
        }
    }
    if w > 0.0 {
        let (real, exp) = (real / w, exp / w);
        let standard_error = (var / w).sqrt() / w.sqrt();
        let tol = (0.05 * exp).max(1.0).max(4.0 * standard_error);
        figs.push(Figure {
            name: "delay, mean one way".into(),
            unit: "ms",
            configured: Some(exp),
            realized: Some(real),
            tolerance: Some(tol),
            verdict: verdict((real - exp).abs(), tol),
            note: format!("{w:.0} packets; configured: what latency and jitter imply"),
        });
    } else {
        figs.push(na("delay, mean one way", "ms", "no packet was delayed"));
    }
    let received: f64 = windows.iter().map(|x| x.received).sum();
    for (name, real, cfg) in [
        (
            "loss",
            windows.iter().map(|x| x.lost).sum::<f64>(),
            windows
                .iter()
                .map(|x| x.cfg_loss_pct * x.received)
                .sum::<f64>(),
        ),
        (
            "duplication",
            windows.iter().map(|x| x.duplicated).sum::<f64>(),
            windows
                .iter()
                .map(|x| x.cfg_duplicate_pct * x.received)
                .sum::<f64>(),
        ),
    ] {
        if received > 0.0 {
            let (real, cfg) = (100.0 * real / received, cfg / received);
            let tol = share_tol(cfg, received);
            figs.push(Figure {
                name: name.into(),
                unit: "%",
                configured: Some(cfg),
                realized: Some(real),
                tolerance: Some(tol),
                verdict: verdict((real - cfg).abs(), tol),
                note: format!("of {received:.0} packets"),
            });
        } else {
            figs.push(na(name, "%", "no packet went through"));
        }
    }
    // Rate, per direction and stretch of constant conditions.
    let mut dirs: Vec<&str> = windows.iter().map(|x| x.direction.as_str()).collect();
    dirs.sort_unstable();
    dirs.dedup();
    for dir in dirs {
        let mine: Vec<&NetWindow> = windows
            .iter()
            .filter(|x| x.direction == dir && x.window_s > 0.0)
            .collect();
        figs.extend(rate_figures(dir, &mine));
    }
    // The shaper's health.
    let late = windows
        .iter()
        .filter(|x| x.forwarded >= LATENESS_MIN_PACKETS)
        .filter_map(|x| x.lateness_p99_us)
        .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    match late {
        Some(l) => figs.push(Figure {
            name: "release lateness, worst p99".into(),
            unit: "µs",
            configured: Some(0.0),
            realized: Some(l),
            tolerance: Some(LATENESS_BOUND_US),
            verdict: verdict(l, LATENESS_BOUND_US),
            note: "how late the shaper released packets after their planned time (windows of 100 packets or more)".into(),
        }),
        None => figs.push(na(
            "release lateness, worst p99",
            "µs",
            "not measured (kernel backend), or no window carried 100 packets",
        )),
    }
    let overflow: f64 = windows.iter().map(|x| x.dropped_overflow).sum();
    figs.push(Figure {
        name: "dropped by overflow".into(),
        unit: "packets",
        configured: Some(0.0),
        realized: Some(overflow),
        tolerance: Some(0.0),
        verdict: if overflow > 0.0 { "fail" } else { "pass" },
        note: "packets the shaper could not take (its queues were full)".into(),
    });
    figs
}

/// At most this many stretches of constant conditions get a rate figure each; more (a trace) are judged
/// window by window in one figure.
const MAX_RATE_STRETCHES: usize = 4;

/// The rate figures of one direction: no window above its configured rate (plus a burst), judged for each
/// stretch of constant configured rate against that rate (a network whose conditions change is not judged
/// against one "configured" figure). A stretch whose traffic never came near its limit (no window at 90 % or
/// more) cannot show whether the limit holds: it is "not judged", and says why, unless a window exceeded it.
fn rate_figures(dir: &str, mine: &[&NetWindow]) -> Vec<Figure> {
    let limited: Vec<&NetWindow> = mine
        .iter()
        .copied()
        .filter(|x| x.cfg_rate_bps.is_some())
        .collect();
    let Some(first) = limited.first() else {
        return Vec::new();
    };
    let mut stretches: Vec<Vec<&NetWindow>> = Vec::new();
    for w in &limited {
        match stretches.last_mut() {
            Some(s) if s[0].cfg_rate_bps == w.cfg_rate_bps => s.push(w),
            _ => stretches.push(vec![w]),
        }
    }
    // Windows are stamped at their end: the first began a window earlier.
    let t0 = first.time_us - (first.window_s * 1e6) as i64;
    let secs = |us: i64| (us - t0) as f64 / 1e6;
    if stretches.len() > MAX_RATE_STRETCHES {
        let mut f = rate_figure(format!("rate {dir}"), &limited);
        f.note = format!(
            "{} (its rate changed {} times: each window against its own limit)",
            f.note,
            stretches.len() - 1
        );
        return vec![f];
    }
    let many = stretches.len() > 1;
    stretches
        .iter()
        .map(|s| {
            let name = if many {
                let (a, b) = (s[0], s[s.len() - 1]);
                format!(
                    "rate {dir}, {:.0}–{:.0} s",
                    secs(a.time_us - (a.window_s * 1e6) as i64).max(0.0),
                    secs(b.time_us)
                )
            } else {
                format!("rate {dir}")
            };
            rate_figure(name, s)
        })
        .collect()
}

/// One rate figure over windows that all have a configured rate.
fn rate_figure(name: String, windows: &[&NetWindow]) -> Figure {
    let cfg = |x: &NetWindow| x.cfg_rate_bps.unwrap_or(f64::MAX);
    let worst = windows
        .iter()
        .max_by(|a, b| (a.rate_bps - cfg(a)).total_cmp(&(b.rate_bps - cfg(b))))
        .expect("not empty");
    let saturated = windows
        .iter()
        .filter(|x| x.rate_bps >= 0.9 * cfg(x))
        .count();
    let tol = 0.05 * cfg(worst) + BURST_BITS / worst.window_s;
    let excess = (worst.rate_bps - cfg(worst)).max(0.0);
    let note = format!(
        "the busiest window against its limit; saturated (≥ 90 %) in {saturated} of {} windows",
        windows.len()
    );
    if saturated == 0 && excess == 0.0 {
        return Figure {
            name,
            unit: "bit/s",
            configured: Some(cfg(worst)),
            realized: Some(worst.rate_bps),
            tolerance: None,
            verdict: "n/a",
            note: format!(
                "not judged: the traffic never came near the limit (no window at 90 % of it, of {}), so it \
                 could not show whether the limit holds",
                windows.len()
            ),
        };
    }
    Figure {
        name,
        unit: "bit/s",
        configured: Some(cfg(worst)),
        realized: Some(worst.rate_bps),
        tolerance: Some(tol),
        verdict: verdict(excess, tol),
        note,
    }
}

fn na(name: &str, unit: &'static str, note: &str) -> Figure {
    Figure {
        name: name.into(),
        unit,
        configured: None,
        realized: None,
        tolerance: None,
        verdict: "n/a",
        note: note.into(),
    }
}

/// Every network's truth, by name.
pub(crate) fn truths(windows: Vec<NetWindow>) -> Vec<NetworkTruth> {
    let mut by: BTreeMap<String, Vec<NetWindow>> = BTreeMap::new();
    for w in windows {
        by.entry(w.network.clone()).or_default().push(w);
    }
    by.into_iter()
        .map(|(name, windows)| {
            let figures = judge(&windows);
            let rank = |v: &str| match v {
                "fail" => 3,
                "warn" => 2,
                "pass" => 1,
                _ => 0,
            };
            let verdict = figures
                .iter()
                .map(|f| f.verdict)
                .max_by_key(|v| rank(v))
                .unwrap_or("n/a");
            let first = windows.first();
            NetworkTruth {
                backend: first.map(|w| w.backend.clone()).unwrap_or_default(),
                reason: first.map(|w| w.reason.clone()).unwrap_or_default(),
                name,
                windows,
                figures,
                verdict,
            }
        })
        .collect()
}

/// Total CPU of the sampled tasks per window (% of one core), from the `system` table.
pub(crate) fn cpu_per_window(dir: &Path, width_us: i64) -> Result<Vec<(i64, f64)>, Error> {
    let Some(lf) = scan(dir, Table::System)? else {
        return Ok(Vec::new());
    };
    let df = collect(
        lf.filter(col("cpu_percent").is_not_null())
            .with_column(((time_us() / lit(width_us)) * lit(width_us)).alias("window"))
            .group_by([col("window"), col("task")])
            .agg([col("cpu_percent").mean().alias("cpu")])
            .group_by([col("window")])
            .agg([col("cpu").sum().alias("cpu")])
            .sort(["window"], Default::default()),
        Table::System,
    )?;
    let (w, c) = (i64s(&df, "window"), f64s(&df, "cpu"));
    Ok((0..df.height())
        .filter_map(|i| Some((w[i]?, c[i]?)))
        .collect())
}

/// Whether (and when) the host was overloaded: a shaper releasing late or dropping by overflow, or the
/// tasks' CPU at the host's capacity. `None` for a quiet run.
pub(crate) fn overload(
    windows: &[NetWindow],
    cpu: &[(i64, f64)],
    cpu_width_us: i64,
    cores: Option<u32>,
) -> Option<Overload> {
    let mut spans: Vec<(i64, i64)> = Vec::new();
    let mut reasons: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for x in windows {
        let start = x.time_us - (x.window_s * 1e6) as i64;
        if let Some(l) = x
            .lateness_p99_us
            .filter(|l| *l > LATENESS_BOUND_US && x.forwarded >= LATENESS_MIN_PACKETS)
        {
            let e = reasons
                .entry(format!(
                    "the {} shaper released packets late (p99 above {:.0} ms)",
                    x.network,
                    LATENESS_BOUND_US / 1000.0
                ))
                .or_default();
            e.0 += 1;
            e.1 = e.1.max(l / 1000.0);
            spans.push((start, x.time_us));
        }
        if x.dropped_overflow > 0.0 {
            let e = reasons
                .entry(format!(
                    "the {} shaper dropped packets it could not take (overflow)",
                    x.network
                ))
                .or_default();
            e.0 += 1;
            e.1 += x.dropped_overflow;
            spans.push((start, x.time_us));
        }
    }
    if let Some(cores) = cores.filter(|c| *c > 0) {
        let cap = f64::from(cores) * 100.0;
        for &(w, c) in cpu {
            if c >= CPU_SATURATION * cap {
                let e = reasons
                    .entry(format!(
                        "the tasks used {:.0} % or more of the host's {cores} cores",
                        CPU_SATURATION * 100.0
                    ))
                    .or_default();
                e.0 += 1;
                e.1 = e.1.max(c / cap * 100.0);
                spans.push((w, w + cpu_width_us));
            }
        }
    }
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 + 1_000_000 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let affected_s = merged.iter().map(|(a, b)| (b - a) as f64 / 1e6).sum();
    Some(Overload {
        reasons: reasons
            .into_iter()
            .map(|(r, (n, worst))| {
                if r.contains("late") {
                    format!("{r}: {n} windows, worst {worst:.1} ms")
                } else if r.contains("overflow") {
                    format!("{r}: {worst:.0} packets in {n} windows")
                } else {
                    format!("{r}: {n} windows, at most {worst:.0} %")
                }
            })
            .collect(),
        spans: merged,
        affected_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(dir: &str, t: i64) -> NetWindow {
        NetWindow {
            network: "3g".into(),
            direction: dir.into(),
            backend: "userspace".into(),
            reason: String::new(),
            time_us: t,
            window_s: 1.0,
            received: 1000.0,
            forwarded: 990.0,
            lost: 10.0,
            dropped_rate: 0.0,
            dropped_overflow: 0.0,
            duplicated: 0.0,
            delay_mean_ms: Some(100.2),
            delay_p50_ms: Some(100.0),
            delay_p99_ms: Some(101.0),
            rate_bps: 950_000.0,
            queue_packets: Some(0.0),
            lateness_p50_us: Some(40.0),
            lateness_p99_us: Some(300.0),
            cfg_latency_ms: 100.0,
            cfg_jitter_ms: 0.0,
            cfg_rate_bps: Some(1_000_000.0),
            cfg_loss_pct: 1.0,
            cfg_duplicate_pct: 0.0,
        }
    }

    #[test]
    fn the_cut_normal_mean_matches_its_closed_form() {
        // μ = 300, σ = 150: 300 Φ(2) + 150 φ(2).
        let m = expected_delay_ms(300.0, 150.0);
        assert!(
            (m - (300.0 * 0.977_249_868 + 150.0 * 0.053_990_967)).abs() < 1e-3,
            "{m}"
        );
        assert_eq!(expected_delay_ms(50.0, 0.0), 50.0);
        // Mostly cut: the mean is far above the configured latency.
        assert!(expected_delay_ms(0.0, 100.0) > 39.0);
    }

    #[test]
    fn a_faithful_network_passes_and_a_distorted_one_fails() {
        let good: Vec<NetWindow> = (0..10).map(|i| win("down", i * 1_000_000)).collect();
        let figs = judge(&good);
        for f in &figs {
            assert_eq!(f.verdict, "pass", "{f:?}");
        }
        assert!(overload(&good, &[], 1_000_000, Some(2)).is_none());

        let mut bad = good.clone();
        bad[3].delay_mean_ms = Some(140.0);
        bad[3].lateness_p99_us = Some(25_000.0);
        bad[4].dropped_overflow = 50.0;
        bad[5].rate_bps = 2_000_000.0;
        let figs = judge(&bad);
        let v = |n: &str| figs.iter().find(|f| f.name == n).unwrap().verdict;
        assert_eq!(v("release lateness, worst p99"), "fail");
        assert_eq!(v("dropped by overflow"), "fail");
        assert_eq!(v("rate down"), "fail");
        let o = overload(&bad, &[], 1_000_000, Some(2)).unwrap();
        // Windows 3 and 4 (ending at 3 s and 4 s) are one stretch from 2 s to 4 s.
        assert_eq!(o.spans, vec![(2_000_000, 4_000_000)]);
        assert_eq!(o.reasons.len(), 2, "{:?}", o.reasons);
    }

    #[test]
    fn a_rate_is_judged_per_stretch_and_not_when_never_near_its_limit() {
        // Never near its limit: the figure cannot fail, so it is not judged.
        let light: Vec<NetWindow> = (0..10)
            .map(|i| NetWindow {
                rate_bps: 100_000.0,
                ..win("down", i * 1_000_000)
            })
            .collect();
        let figs = judge(&light);
        let rate = figs.iter().find(|f| f.name == "rate down").unwrap();
        assert_eq!(rate.verdict, "n/a", "{rate:?}");
        assert!(rate.note.starts_with("not judged"), "{rate:?}");
        // 1 Mbit/s for 5 s, then 50 kbit/s: each stretch against its own rate.
        let changed: Vec<NetWindow> = (0..10)
            .map(|i| {
                let w = win("down", (i + 1) * 1_000_000);
                if i < 5 {
                    w
                } else {
                    NetWindow {
                        cfg_rate_bps: Some(50_000.0),
                        rate_bps: 49_000.0,
                        ..w
                    }
                }
            })
            .collect();
        let figs = judge(&changed);
        let rates: Vec<(&str, Option<f64>, &str)> = figs
            .iter()
            .filter(|f| f.name.starts_with("rate "))
            .map(|f| (f.name.as_str(), f.configured, f.verdict))
            .collect();
        assert_eq!(
            rates,
            [
                ("rate down, 0–5 s", Some(1_000_000.0), "pass"),
                ("rate down, 5–10 s", Some(50_000.0), "pass")
            ]
        );
    }

    #[test]
    fn cpu_at_capacity_is_an_overload() {
        let cpu = [(0, 50.0), (1_000_000, 195.0), (2_000_000, 60.0)];
        let o = overload(&[], &cpu, 1_000_000, Some(2)).unwrap();
        assert_eq!(o.spans, vec![(1_000_000, 2_000_000)]);
        assert!(o.reasons[0].contains("2 cores"), "{:?}", o.reasons);
        assert!(overload(&[], &cpu, 1_000_000, Some(4)).is_none());
    }

    #[test]
    fn changes_say_what_changed() {
        let old = serde_json::json!({"latency": 100.0, "jitter": 0.0, "rate": "1.5mbit"});
        let new =
            serde_json::json!({"latency": 500.0, "jitter": 0.0, "rate": "50kbit", "loss": 2.0});
        assert_eq!(
            describe_change(&old, &new),
            "latency 100 → 500 ms, rate 1.5mbit → 50kbit, loss none → 2 %"
        );
    }
}
