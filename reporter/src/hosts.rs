//! The hosts page (`hosts.html`): where the tasks ran (the `tasks` table's `host`, which `wotemu stop` takes
//! from the Swarm node each task was placed on), what each host carried over time (its tasks' CPU and memory,
//! summed), and the tasks of each host that did not end well.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;
use wotemu_contract::table::Table;

use crate::charts::{self, Chart};
use crate::error::Error;
use crate::format;
use crate::frames::{collect, f64s, i64s, scan, strs, time_us};
use crate::load::Report;
use crate::views::TaskRowView;

/// The page's view.
#[derive(Debug, Serialize)]
pub(crate) struct HostsView<'a> {
    pub(crate) hosts: Vec<HostView<'a>>,
    /// Why no host is named, when none is (a one-host run, or a dataset from before hosts were recorded).
    pub(crate) unknown: Option<String>,
}

/// One host.
#[derive(Debug, Serialize)]
pub(crate) struct HostView<'a> {
    pub(crate) name: String,
    /// `host-<name>`, the anchor task pages link to.
    pub(crate) anchor: String,
    pub(crate) tasks: usize,
    /// Its nodes and how many of each one's replicas it ran: `reader ×2, server ×1`.
    pub(crate) nodes: String,
    /// The sum of its tasks' mean CPU (% of one CPU).
    pub(crate) cpu: String,
    /// The sum of its tasks' peak memory.
    pub(crate) memory: String,
    /// Its tasks that failed, restarted or ended in an unexpected state.
    pub(crate) bad: Vec<TaskRowView<'a>>,
    /// Its outages, for people: `down at 12:00:03 (the Swarm node is down): 2 tasks lost (…)`.
    pub(crate) outages: Vec<String>,
}

/// The name a task without a known host is listed under.
const UNKNOWN: &str = "(unknown)";

impl Report {
    fn host_of(&self) -> BTreeMap<&str, &str> {
        self.tasks
            .iter()
            .map(|t| (t.task.as_str(), t.host.as_deref().unwrap_or(UNKNOWN)))
            .collect()
    }

    /// A host's outages (the timeline's `outage` events of target `host <name>`), for people.
    fn outages_of(&self, host: &str) -> Vec<String> {
        let target = format!("host {host}");
        self.timeline
            .iter()
            .filter(|e| e.kind == "outage" && e.target == target)
            .map(|e| {
                let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
                let lost: Vec<&str> = detail["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                    .collect();
                format!(
                    "{} {} ({}): {} tasks lost{}",
                    if e.outcome == "end" {
                        "back at"
                    } else {
                        "down at"
                    },
                    wotemu_contract::time_util::us_to_rfc3339(e.time_us),
                    e.error,
                    lost.len(),
                    if lost.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", lost.join(", "))
                    }
                )
            })
            .collect()
    }

    pub(crate) fn hosts_view(&self) -> Result<HostsView<'_>, Error> {
        if self.tasks.iter().all(|t| t.host.is_none()) {
            let why = if self.manifest.engine() == "one host" {
                "A one-host run (`wotemu run`): every task ran on this run's machine (the summary describes it)."
            } else {
                "No task's host is known: the dataset comes from before wotemu recorded hosts, or from a store whose snapshot names no Swarm node."
            };
            return Ok(HostsView {
                hosts: Vec::new(),
                unknown: Some(why.into()),
            });
        }
        // task → (mean CPU %, peak memory bytes)
        let mut cpu: BTreeMap<String, f64> = BTreeMap::new();
        let mut mem: BTreeMap<String, f64> = BTreeMap::new();
        if let Some(stats) = self.system_stats()? {
            for (df, into, stat) in [
                (&stats.cpu, &mut cpu, "mean"),
                (&stats.mem, &mut mem, "max"),
            ] {
                for (t, v) in strs(df, "task").into_iter().zip(f64s(df, stat)) {
                    if let (Some(t), Some(v)) = (t, v) {
                        into.insert(t, v);
                    }
                }
            }
        }
        let mut by_host: BTreeMap<&str, Vec<&crate::load::TaskRow>> = BTreeMap::new();
        for t in &self.tasks {
            by_host
                .entry(t.host.as_deref().unwrap_or(UNKNOWN))
                .or_default()
                .push(t);
        }
        let hosts = by_host
            .into_iter()
            .map(|(name, tasks)| {
                let mut nodes: BTreeMap<&str, usize> = BTreeMap::new();
                for t in &tasks {
                    *nodes.entry(t.node.as_str()).or_default() += 1;
                }
                let sum = |m: &BTreeMap<String, f64>| {
                    tasks.iter().filter_map(|t| m.get(&t.task)).sum::<f64>()
                };
                HostView {
                    name: name.to_owned(),
                    anchor: format!("host-{}", charts::safe_file_name(name)),
                    tasks: tasks.len(),
                    nodes: nodes
                        .iter()
                        .map(|(n, k)| format!("{n} ×{k}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cpu: format!("{:.1} %", sum(&cpu)),
                    memory: format::bytes(sum(&mem) as i64),
                    bad: tasks
                        .iter()
                        .filter(|t| t.bad)
                        .map(|t| self.task_row(t))
                        .collect(),
                    outages: self.outages_of(name),
                }
            })
            .collect();
        Ok(HostsView {
            hosts,
            unknown: None,
        })
    }

    /// Each host's CPU and memory over time: per window, the sum over its tasks of each task's mean in the
    /// window.
    pub(crate) fn hosts_charts(&self) -> Result<Vec<Chart>, Error> {
        if self.tasks.iter().all(|t| t.host.is_none()) {
            return Ok(Vec::new());
        }
        let Some(lf) = scan(&self.opts.dataset, Table::System)? else {
            return Ok(Vec::new());
        };
        let win = self.window_us;
        let host_of = self.host_of();
        let mut out = Vec::new();
        for (column, id, title, unit, scale) in [
            (
                "cpu_percent",
                "c-host-cpu",
                "CPU per host",
                "% of one CPU",
                1.0,
            ),
            (
                "mem_bytes",
                "c-host-mem",
                "Memory per host",
                "MiB",
                1.0 / 1_048_576.0,
            ),
        ] {
            let df = collect(
                lf.clone()
                    .filter(col(column).is_not_null())
                    .with_column(((time_us() / lit(win)) * lit(win)).alias("window"))
                    .group_by([col("window"), col("task")])
                    .agg([col(column).cast(DataType::Float64).mean().alias("value")]),
                Table::System,
            )?;
            let mut sums: BTreeMap<(i64, &str), f64> = BTreeMap::new();
            let (w, t, v) = (i64s(&df, "window"), strs(&df, "task"), f64s(&df, "value"));
            for i in 0..df.height() {
                let (Some(w), Some(t), Some(v)) = (w[i], t[i].as_deref(), v[i]) else {
                    continue;
                };
                let host = host_of.get(t).copied().unwrap_or(UNKNOWN);
                *sums.entry((w, host)).or_default() += v * scale;
            }
            let rows: Vec<(f64, String, f64)> = sums
                .into_iter()
                .map(|((w, h), v)| (w as f64 / 1000.0, h.to_owned(), v))
                .collect();
            if rows.is_empty() {
                continue;
            }
            out.push(Chart {
                id: id.into(),
                title: title.into(),
                note: format!(
                    "the sum of its tasks' means per {} s window",
                    win / 1_000_000
                ),
                spec: charts::time_lines(title, unit, &rows),
            });
        }
        Ok(out)
    }
}
