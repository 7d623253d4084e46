//! The pages of the run's network truth (`truth.rs` computes it): the summary's fidelity panel and overload
//! banner, a page per network, the scenario page, and the rules that mark condition changes on time charts.

use polars::prelude::*;
use wotemu_contract::table::Table;
use wotemu_contract::time_util::us_to_rfc3339;

use crate::charts::{self, safe_file_name, Chart};
use crate::error::Error;
use crate::format;
use crate::frames::{collect, f64s, i64s, scan, time_us};
use crate::load::Report;
use crate::timeline::TimelineRow;
use crate::truth::{expected_delay_ms, NetWindow, NetworkTruth, LATENESS_BOUND_US};
use crate::views::{ChangeView, FidelityView, FigureView, NetworkView, OverloadView};

/// The file of a network's page.
pub(crate) fn network_file(name: &str) -> String {
    format!("networks/{}.html", safe_file_name(name))
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
pub(crate) fn scenario_events(timeline: &[TimelineRow]) -> Vec<&TimelineRow> {
    timeline.iter().filter(|e| e.kind == "scenario").collect()
}

/// `kill node reader.1` from a scenario event.
pub(crate) fn scenario_label(e: &TimelineRow) -> String {
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
