//! What the run's networks really did: the gateways' windows (the `network` table), the changes of
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
pub(crate) fn changes(timeline: &[crate::load::TimelineRow]) -> Vec<Change> {
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
    // Rate, per direction: no window above the configured rate (plus a burst).
    let mut dirs: Vec<&str> = windows.iter().map(|x| x.direction.as_str()).collect();
    dirs.sort_unstable();
    dirs.dedup();
    for dir in dirs {
        let mine: Vec<&NetWindow> = windows
            .iter()
            .filter(|x| x.direction == dir && x.window_s > 0.0)
            .collect();
        let limited: Vec<&&NetWindow> = mine.iter().filter(|x| x.cfg_rate_bps.is_some()).collect();
        let name = format!("rate {dir}");
        if limited.is_empty() {
            continue;
        }
        let worst = limited
            .iter()
            .map(|x| (x.rate_bps, x.cfg_rate_bps.unwrap_or(0.0), x.window_s))
            .max_by(|a, b| (a.0 - a.1).total_cmp(&(b.0 - b.1)))
            .expect("not empty");
        let saturated = limited
            .iter()
            .filter(|x| x.rate_bps >= 0.9 * x.cfg_rate_bps.unwrap_or(f64::MAX))
            .count();
        let tol = 0.05 * worst.1 + BURST_BITS / worst.2;
        figs.push(Figure {
            name,
            unit: "bit/s",
            configured: Some(worst.1),
            realized: Some(worst.0),
            tolerance: Some(tol),
            verdict: verdict((worst.0 - worst.1).max(0.0), tol),
            note: format!(
                "the busiest window against its limit; saturated (≥ 90 %) in {saturated} of {} windows",
                limited.len()
            ),
        });
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

// ---- The pages: the summary's fidelity panel and overload banner, a page per network, and the rules that
// mark condition changes on time charts.

use wotemu_contract::time_util::us_to_rfc3339;

use crate::charts;
use crate::format;
use crate::load::Report;
use crate::pages::Chart;
use crate::views::{ChangeView, FidelityView, FigureView, NetworkView, OverloadView};

/// The file of a network's page.
pub(crate) fn network_file(name: &str) -> String {
    format!("networks/{}.html", crate::pages::safe_file_name(name))
}

fn number(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "–".into(),
        Some(v) if unit == "bit/s" => format::rate(v),
        Some(v) if v.abs() >= 100.0 || v == v.trunc() => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn clock(us: i64) -> String {
    let t = us_to_rfc3339(us);
    t.get(11..19).map(str::to_owned).unwrap_or(t)
}

impl Report {
    pub(crate) fn fidelity_view(&self, n: &NetworkTruth) -> FidelityView {
        FidelityView {
            network: n.name.clone(),
            href: network_file(&n.name),
            backend: n.backend.clone(),
            reason: n.reason.clone(),
            verdict: n.verdict,
            figures: n
                .figures
                .iter()
                .map(|f| FigureView {
                    name: f.name.clone(),
                    unit: f.unit,
                    configured: number(f.configured, f.unit),
                    realized: number(f.realized, f.unit),
                    tolerance: f
                        .tolerance
                        .map(|t| format!("± {}", number(Some(t), f.unit)))
                        .unwrap_or_else(|| "–".into()),
                    verdict: f.verdict,
                    note: f.note.clone(),
                })
                .collect(),
        }
    }

    pub(crate) fn fidelity_views(&self) -> Vec<FidelityView> {
        self.networks
            .iter()
            .map(|n| self.fidelity_view(n))
            .collect()
    }

    pub(crate) fn overload_view(&self) -> Option<OverloadView> {
        let o = self.overload.as_ref()?;
        let total = match self.span {
            (Some(a), Some(b)) => format!(" of {}", format::duration((b - a) as f64 / 1e6)),
            _ => String::new(),
        };
        Some(OverloadView {
            reasons: o.reasons.clone(),
            spans: o
                .spans
                .iter()
                .map(|(a, b)| {
                    format!(
                        "{} → {} ({})",
                        clock(*a),
                        clock(*b),
                        format::duration((b - a) as f64 / 1e6)
                    )
                })
                .collect(),
            affected: format!("{}{total}", format::duration(o.affected_s)),
        })
    }

    /// Rules for the condition changes of `network` (all networks when `None`), for time charts.
    pub(crate) fn change_rules(&self, network: Option<&str>) -> Vec<(f64, String)> {
        self.changes
            .iter()
            .filter(|c| network.is_none_or(|n| c.network == n))
            .map(|c| (c.time_us as f64 / 1000.0, c.label.clone()))
            .collect()
    }

    pub(crate) fn network_view(&self, n: &NetworkTruth) -> NetworkView {
        NetworkView {
            fidelity: self.fidelity_view(n),
            changes: self
                .changes
                .iter()
                .filter(|c| c.network == n.name)
                .map(|c| ChangeView {
                    time: us_to_rfc3339(c.time_us),
                    how: c.how.clone(),
                    label: c.label.clone(),
                })
                .collect(),
            windows: n.windows.len(),
        }
    }

    pub(crate) fn network_charts(&self, n: &NetworkTruth) -> Vec<Chart> {
        let rules = self.change_rules(Some(&n.name));
        let t = |w: &NetWindow| w.time_us as f64 / 1000.0;
        let mut delay = Vec::new();
        let mut rate = Vec::new();
        let mut loss = Vec::new();
        let mut late = Vec::new();
        let mut drops = Vec::new();
        let mut cfg_delay_done = std::collections::BTreeSet::new();
        for w in &n.windows {
            let d = &w.direction;
            if let Some(v) = w.delay_mean_ms {
                delay.push((t(w), format!("realized mean ({d})"), v));
            }
            if let Some(v) = w.delay_p99_ms {
                delay.push((t(w), format!("realized p99 ({d})"), v));
            }
            // The configured delay is the same in both directions: one line for its mean, one for its p99
            // (latency + 2.33 jitter: the jitter against the realized p99).
            if cfg_delay_done.insert(w.time_us) {
                delay.push((
                    t(w),
                    "configured (expected mean)".into(),
                    expected_delay_ms(w.cfg_latency_ms, w.cfg_jitter_ms),
                ));
                delay.push((
                    t(w),
                    "configured p99 (latency + 2.33 × jitter)".into(),
                    (w.cfg_latency_ms + 2.326 * w.cfg_jitter_ms).max(0.0),
                ));
            }
            rate.push((t(w), format!("achieved ({d})"), w.rate_bps));
            if let Some(c) = w.cfg_rate_bps {
                rate.push((t(w), format!("configured ({d})"), c));
            }
            if w.received > 0.0 {
                loss.push((t(w), format!("realized ({d})"), 100.0 * w.lost / w.received));
            }
            loss.push((t(w), format!("configured ({d})"), w.cfg_loss_pct));
            if w.received > 0.0 && (w.duplicated > 0.0 || w.cfg_duplicate_pct > 0.0) {
                loss.push((
                    t(w),
                    format!("duplicated ({d})"),
                    100.0 * w.duplicated / w.received,
                ));
                loss.push((
                    t(w),
                    format!("duplication configured ({d})"),
                    w.cfg_duplicate_pct,
                ));
            }
            if let Some(v) = w.lateness_p50_us {
                late.push((t(w), format!("p50 ({d})"), v));
            }
            if let Some(v) = w.lateness_p99_us {
                late.push((t(w), format!("p99 ({d})"), v));
            }
            drops.push((t(w), format!("rate limit ({d})"), w.dropped_rate));
            drops.push((t(w), format!("overflow ({d})"), w.dropped_overflow));
        }
        let chart =
            |id: &str, title: &str, note: &str, y: &str, rows: &[(f64, String, f64)]| Chart {
                id: id.into(),
                title: title.into(),
                note: note.into(),
                spec: charts::with_rules(charts::time_lines(title, y, rows), &rules),
            };
        vec![
            chart("c-delay", "Delay applied", "ms per window and direction: the delay line's mean and p99 against what the configured latency and jitter imply (their spread is the jitter); dotted rules: changes of conditions", "ms", &delay),
            chart("c-rate", "Rate", "bit/s forwarded per window and direction against the configured rate (a link carries less when its traffic is lighter)", "bit/s", &rate),
            chart("c-loss", "Loss and duplication", "% of the packets received in each window dropped by the configured loss (and duplicated, when the network duplicates)", "%", &loss),
            chart("c-lateness", "Shaper lateness", &format!("µs after their planned time that packets left (p50, p99): above {:.0} µs the host could not keep up", LATENESS_BOUND_US), "µs", &late),
            chart("c-drops", "Drops", "packets per window dropped by the rate limit (a saturated link, as 0.6's tbf) and by overflow (the shaper could not take them)", "packets", &drops),
        ]
    }
}

// ---- Scenario events: rules on the charts and the scenario page.

use crate::views::ScenarioView;

/// The scenario's events among the timeline's (kind `scenario`).
pub(crate) fn scenario_events(
    timeline: &[crate::load::TimelineRow],
) -> Vec<&crate::load::TimelineRow> {
    timeline.iter().filter(|e| e.kind == "scenario").collect()
}

/// `kill node reader.1` from a scenario event.
pub(crate) fn scenario_label(e: &crate::load::TimelineRow) -> String {
    let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
    format!("{} {}", d["action"].as_str().unwrap_or(&e.kind), e.target)
}

impl Report {
    /// Rules for the scenario's events (all, or those of `node`'s replicas and networks).
    pub(crate) fn scenario_rules(&self, node: Option<(&str, &[String])>) -> Vec<(f64, String)> {
        scenario_events(&self.timeline)
            .into_iter()
            .filter(|e| match node {
                None => true,
                Some((n, nets)) => {
                    e.target.starts_with(&format!("node {n}"))
                        || nets.iter().any(|x| e.target == format!("network {x}"))
                }
            })
            .map(|e| (e.time_us as f64 / 1000.0, scenario_label(e)))
            .collect()
    }

    /// The scenario page: each event with what clients saw in the 10 s before and after it, and how long
    /// until the first successful interaction of what it affected once it ended.
    pub(crate) fn scenario_view(&self) -> Result<Vec<ScenarioView>, Error> {
        let events = scenario_events(&self.timeline);
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let Some(lf) = scan(&self.opts.dataset, Table::Interactions)? else {
            return Ok(Vec::new());
        };
        let consumed = lf.filter(col("side").eq(lit("consumed")));
        let window =
            |from: i64, to: i64, affected: &Expr| -> Result<(i64, i64, Option<f64>), Error> {
                let df = collect(
                    consumed
                        .clone()
                        .filter(
                            time_us()
                                .gt_eq(lit(from))
                                .and(time_us().lt(lit(to)))
                                .and(affected.clone()),
                        )
                        .select([
                            len().cast(DataType::Int64).alias("n"),
                            col("ok").not().cast(DataType::Int64).sum().alias("errors"),
                            col("latency_ms")
                                .quantile(lit(0.5), QuantileMethod::Linear)
                                .alias("p50"),
                        ]),
                    Table::Interactions,
                )?;
                Ok((
                    i64s(&df, "n").first().copied().flatten().unwrap_or(0),
                    i64s(&df, "errors").first().copied().flatten().unwrap_or(0),
                    f64s(&df, "p50").first().copied().flatten(),
                ))
            };
        let mut out = Vec::new();
        for e in events {
            let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
            // What the event affects: a node's own calls and calls to it, or the calls of a network's tasks.
            let affected = if let Some(rest) = e.target.strip_prefix("node ") {
                let node = rest.split([' ', '.']).next().unwrap_or(rest).to_owned();
                col("node")
                    .eq(lit(node.clone()))
                    .or(col("host").str().starts_with(lit(node)))
            } else if let Some(net) = e.target.strip_prefix("network ") {
                let tasks: Vec<String> = self
                    .tasks
                    .iter()
                    .filter(|t| t.networks.iter().any(|n| n == net))
                    .map(|t| t.node.clone())
                    .collect();
                tasks
                    .into_iter()
                    .fold(lit(false), |a, n| a.or(col("node").eq(lit(n))))
            } else {
                lit(true)
            };
            let t = e.time_us;
            let before = window(t - 10_000_000, t, &affected)?;
            let after = window(t, t + 10_000_000, &affected)?;
            // Recovery: after an event that ends (`end`) or is done at once (`done`).
            let recovery = if e.outcome == "start" {
                None
            } else {
                let df = collect(
                    consumed
                        .clone()
                        .filter(col("ok").and(time_us().gt(lit(t))).and(affected.clone()))
                        .select([time_us().min().alias("first")]),
                    Table::Interactions,
                )?;
                i64s(&df, "first")
                    .first()
                    .copied()
                    .flatten()
                    .map(|f| format::duration_ms((f - t) as f64 / 1000.0))
            };
            let rate = |(n, err, _): (i64, i64, Option<f64>)| format::percent(err, n);
            out.push(ScenarioView {
                time: us_to_rfc3339(t),
                late_ms: d["late_ms"]
                    .as_f64()
                    .map(|l| format!("{l:.1}"))
                    .unwrap_or_default(),
                action: d["action"].as_str().unwrap_or_default().to_owned(),
                target: e.target.clone(),
                outcome: e.outcome.clone(),
                error: e.error.clone(),
                before_n: before.0,
                before_errors: rate(before),
                before_p50: format::ms(before.2),
                after_n: after.0,
                after_errors: rate(after),
                after_p50: format::ms(after.2),
                recovery: recovery.unwrap_or_else(|| "–".into()),
            });
        }
        Ok(out)
    }
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
            rate_bps: 500_000.0,
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
            "latency 100.0 → 500.0 ms, rate 1.5mbit → 50kbit, loss none → 2.0 %"
        );
    }
}
