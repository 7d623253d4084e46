//! [`Report::load`]: the manifest, the tasks and every aggregate of a dataset, computed once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use wotemu_contract::manifest::Manifest;
use wotemu_contract::table::Table;

use crate::aggregate::{self, ErrorGroup, EventErrorGroup, Flow, LatencyRow, Talker};
use crate::error::Error;
use crate::format;
use crate::frames::{collect, i64s, scan, strs};
use crate::timeline::TimelineRow;

/// The bytes a site's CSV copies may take by default (10 MB).
pub const DEFAULT_DOWNLOADS_BUDGET: u64 = 10_000_000;

/// What to render and how.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub dataset: PathBuf,
    pub out: PathBuf,
    /// The site's title (default: "wotemu report · <stack>").
    pub title: Option<String>,
    /// Log lines shown per task page (all are in the downloads).
    pub log_lines: usize,
    /// Where the site will be published (GitHub Pages), for canonical links; links stay relative.
    pub base_url: Option<String>,
    /// Which copies of the tables the site offers (`data/`).
    pub downloads: Downloads,
    /// With [`Downloads::Parquet`], how many bytes the site's CSV copies may take in all (estimated before
    /// writing; smallest tables first). Default 10 MB.
    pub downloads_budget: u64,
}

/// The tables a site offers for download.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Downloads {
    /// Every table as Parquet; as CSV too while the CSV copies stay within `downloads_budget` (CSV is many
    /// times larger than Parquet: a big table's would make the site too big to publish).
    #[default]
    Parquet,
    /// Every table as Parquet and as CSV.
    Csv,
    /// No copy: the pages only (the dataset folder holds the tables).
    None,
}

impl ReportOptions {
    pub fn new(dataset: &Path, out: &Path) -> Self {
        ReportOptions {
            dataset: dataset.to_owned(),
            out: out.to_owned(),
            title: None,
            log_lines: 500,
            base_url: None,
            downloads: Downloads::default(),
            downloads_budget: DEFAULT_DOWNLOADS_BUDGET,
        }
    }
}

/// One task (replica), from the tasks table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskRow {
    pub(crate) task: String,
    pub(crate) node: String,
    pub(crate) state: String,
    pub(crate) restarts: i64,
    pub(crate) started_us: Option<i64>,
    pub(crate) stopped_us: Option<i64>,
    pub(crate) error: String,
    /// (label, value formatted for people).
    pub(crate) facts: Vec<(String, String)>,
    /// Its addresses (for who talks to whom).
    pub(crate) addresses: Vec<String>,
    /// The networks it is on.
    pub(crate) networks: Vec<String>,
    pub(crate) cpu_model: Option<String>,
    /// The host it ran on (Swarm), if known.
    pub(crate) host: Option<String>,
    /// Failed, restarted or in an unexpected state.
    pub(crate) bad: bool,
    /// Emulated CPU speed, for people: target, host, quota, measured.
    pub(crate) cpu_speed: Option<String>,
}

/// The aggregates of a dataset, ready to render.
pub struct Report {
    /// Per task, CPU and memory ([`crate::aggregate::system_frame`] of `cpu_percent` and `mem_bytes`):
    /// computed once, for the summary's rankings and the hosts page.
    pub(crate) system_stats: std::sync::OnceLock<SystemStats>,
    pub(crate) opts: ReportOptions,
    pub(crate) manifest: Manifest,
    pub(crate) tasks: Vec<TaskRow>,
    pub(crate) latency: Vec<LatencyRow>,
    pub(crate) errors: Vec<ErrorGroup>,
    pub(crate) event_errors: Vec<EventErrorGroup>,
    pub(crate) talkers: Vec<Talker>,
    pub(crate) flows: Vec<Flow>,
    /// Address → node, from the tasks' addresses.
    pub(crate) owners: BTreeMap<String, String>,
    pub(crate) counts: BTreeMap<Table, i64>,
    pub(crate) span: (Option<i64>, Option<i64>),
    pub(crate) packet_bytes: i64,
    pub(crate) window_us: i64,
    /// The run's timeline (outages, restarts, condition changes, scenario events), in time order.
    pub(crate) timeline: Vec<TimelineRow>,
    /// The apps' own numeric metrics, in time order, and their statistics.
    pub(crate) app_points: Vec<crate::app::AppPoint>,
    pub(crate) app_stats: Vec<crate::app::AppStat>,
    /// What each network's gateway realized, by network name.
    pub(crate) networks: Vec<crate::truth::NetworkTruth>,
    /// Changes of conditions (schedule steps, live changes), in time order.
    pub(crate) changes: Vec<crate::truth::Change>,
    /// When the host could not keep up, if it could not.
    pub(crate) overload: Option<crate::truth::Overload>,
}

impl Report {
    /// Reads the manifest and computes every aggregate.
    pub fn load(opts: ReportOptions) -> Result<Report, Error> {
        let _span = tracing::info_span!("report_load", dataset = %opts.dataset.display()).entered();
        let dir = &opts.dataset;
        let manifest = Manifest::read(dir).map_err(|e| Error::NotADataset {
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        let mut counts = BTreeMap::new();
        let (mut lo, mut hi) = (None::<i64>, None::<i64>);
        for t in Table::ALL {
            if t == Table::Tasks {
                continue;
            }
            let (n, a, b) = aggregate::count_and_span(dir, t)?;
            counts.insert(t, n);
            lo = [lo, a].into_iter().flatten().min();
            hi = [hi, b].into_iter().flatten().max();
        }
        let span_us = match (lo, hi) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        let window_us = aggregate::window_us(span_us, 1000, 1_000_000);
        let interactions = scan(dir, Table::Interactions)?;
        let (latency, errors) = match &interactions {
            Some(lf) => (
                aggregate::latency_table(lf.clone())?,
                aggregate::error_groups(lf.clone())?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let event_errors = match scan(dir, Table::Events)? {
            Some(lf) => aggregate::event_error_groups(lf)?,
            None => Vec::new(),
        };
        let (talkers, flows) = match scan(dir, Table::Packets)? {
            Some(lf) => (
                aggregate::talkers(lf.clone(), 1_000_000)?,
                aggregate::flows(lf)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let packet_bytes = talkers.iter().map(|t| t.bytes).sum();
        let mut tasks = load_tasks(dir)?;
        let timeline = crate::timeline::load(dir)?;
        ended_by_the_scenario(&mut tasks, &timeline, lo);
        let owners = address_owners(&tasks);
        counts.insert(Table::Tasks, tasks.len() as i64);
        let app_points = crate::app::points(dir)?;
        let app_stats = crate::app::stats(&app_points);
        let net_windows = crate::truth::load_windows(dir)?;
        let changes = crate::truth::changes(&timeline);
        // Only a one-host run's tasks all share the host the manifest describes.
        let cores = (manifest.engine() == "one host")
            .then_some(manifest.host.cpu_count)
            .flatten();
        let cpu = crate::truth::cpu_per_window(dir, window_us)?;
        let overload = crate::truth::overload(&net_windows, &cpu, window_us, cores);
        let networks = crate::truth::truths(net_windows);
        Ok(Report {
            opts,
            manifest,
            tasks,
            latency,
            errors,
            event_errors,
            talkers,
            flows,
            owners,
            counts,
            span: (lo, hi),
            packet_bytes,
            window_us,
            timeline,
            app_points,
            app_stats,
            networks,
            changes,
            overload,
            system_stats: std::sync::OnceLock::new(),
        })
    }

    /// Per task, CPU and memory; `None` without a system table.
    pub(crate) fn system_stats(&self) -> Result<Option<&SystemStats>, Error> {
        if let Some(s) = self.system_stats.get() {
            return Ok(Some(s));
        }
        let Some(lf) = scan(&self.opts.dataset, Table::System)? else {
            return Ok(None);
        };
        let frame = |column| {
            crate::frames::collect(
                crate::aggregate::system_frame(lf.clone(), column),
                Table::System,
            )
        };
        let stats = SystemStats {
            cpu: frame("cpu_percent")?,
            mem: frame("mem_bytes")?,
        };
        // Two pages asking at once may both compute it; the first one kept is the one used.
        Ok(Some(self.system_stats.get_or_init(|| stats)))
    }
}

/// Per task, `samples`, `mean`, `max` and `limit` of CPU and of memory (see
/// [`crate::aggregate::system_frame`]).
pub(crate) struct SystemStats {
    pub(crate) cpu: polars::prelude::DataFrame,
    pub(crate) mem: polars::prelude::DataFrame,
}

/// A task a scenario event ended on purpose (`kill`, `churn`, a `scale` down) and that never told its
/// own end: its state says so ("killed by the scenario at 15 s") instead of "unknown".
fn ended_by_the_scenario(tasks: &mut [TaskRow], timeline: &[TimelineRow], start: Option<i64>) {
    for e in timeline
        .iter()
        .filter(|e| e.kind == "scenario" && e.error.is_empty())
    {
        let Ok(d) = serde_json::from_str::<serde_json::Value>(&e.detail) else {
            continue;
        };
        let action = d["action"].as_str().unwrap_or_default();
        let verb = match action {
            "kill" => "killed",
            "churn" => "replaced",
            "scale" => "stopped",
            _ => continue,
        };
        let Some(touched) = d["tasks"].as_array() else {
            continue;
        };
        let at = start.map_or(String::new(), |s| {
            format!(" at {:.0} s", (e.time_us - s) as f64 / 1e6)
        });
        for t in tasks.iter_mut() {
            if t.state == "unknown" && touched.iter().any(|x| x.as_str() == Some(t.task.as_str())) {
                t.state = format!("{verb} by the scenario{at}");
            }
        }
    }
}

/// Address → node, from the addresses of every task (`10.0.0.2/24` and `10.0.0.2` both give `10.0.0.2`).
fn address_owners(tasks: &[TaskRow]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in tasks {
        for ip in &t.addresses {
            out.insert(ip.clone(), t.node.clone());
        }
    }
    out
}

fn load_tasks(dir: &Path) -> Result<Vec<TaskRow>, Error> {
    let Some(lf) = scan(dir, Table::Tasks)? else {
        return Ok(Vec::new());
    };
    let df = collect(lf, Table::Tasks)?;
    let s = |n: &str| strs(&df, n);
    let (task, node, state, err) = (s("task"), s("node"), s("state"), s("exit_error"));
    let restarts = i64s(&df, "restarts");
    let (started, stopped) = (i64s(&df, "started_at"), i64s(&df, "stopped_at"));
    let (cpus, mem) = (i64s(&df, "cpu_count"), i64s(&df, "mem_total_bytes"));
    let f = |n: &str| crate::frames::f64s(&df, n);
    let (speed_target, speed_host, quota, speed_measured) = (
        f("cpu_speed_target"),
        f("cpu_speed_host"),
        f("cpu_quota"),
        f("cpu_speed_measured"),
    );
    let text_facts = [
        ("host", "host"),
        ("service", "service"),
        ("hostname", "hostname"),
        ("container id", "container_id"),
        ("networks", "networks"),
        ("addresses", "ip_addresses"),
        ("cpu model", "cpu_model"),
        ("python", "python_version"),
        ("platform", "platform"),
    ];
    let columns: Vec<(&str, Vec<Option<String>>)> =
        text_facts.iter().map(|(l, c)| (*l, s(c))).collect();
    let mut out = Vec::new();
    for i in 0..df.height() {
        let state = state[i].clone().unwrap_or_default();
        let error = err[i].clone().unwrap_or_default();
        let restarts = restarts[i].unwrap_or(0);
        let ok_state = matches!(
            state.as_str(),
            "running" | "complete" | "shutdown" | "stopped"
        );
        let value = |label: &str| {
            columns
                .iter()
                .find(|(l, _)| *l == label)
                .and_then(|(_, v)| v[i].clone())
                .filter(|x| !x.is_empty())
        };
        let mut facts: Vec<(String, String)> = columns
            .iter()
            .filter_map(|(l, v)| {
                v[i].clone()
                    .filter(|x| !x.is_empty())
                    .map(|x| ((*l).to_owned(), x))
            })
            .collect();
        if let Some(n) = cpus[i] {
            facts.push(("cpus".into(), n.to_string()));
        }
        if let Some(b) = mem[i] {
            facts.push(("memory".into(), format::bytes(b)));
        }
        for (label, t) in [("started", started[i]), ("stopped", stopped[i])] {
            if let Some(t) = t {
                facts.push((label.into(), wotemu_contract::time_util::us_to_rfc3339(t)));
            }
        }
        if restarts > 0 {
            facts.push(("restarts".into(), restarts.to_string()));
        }
        let cpu_speed = speed_target[i].map(|target| {
            let mut parts = vec![format!("target {target:.0} events/s")];
            if let Some(h) = speed_host[i] {
                parts.push(format!("host {h:.0} events/s"));
            }
            if let Some(q) = quota[i] {
                parts.push(format!("quota {:.1} % of one CPU", q * 100.0));
            }
            match speed_measured[i] {
                Some(m) => parts.push(format!(
                    "measured at start {m:.0} events/s ({:+.1} %)",
                    (m / target - 1.0) * 100.0
                )),
                None => parts.push("not measured".into()),
            }
            parts.join(" · ")
        });
        if let Some(c) = &cpu_speed {
            facts.push((
                "emulated CPU speed (sysbench cpu, one thread)".into(),
                c.clone(),
            ));
        }
        let addresses = value("addresses")
            .map(|v| {
                v.split(',')
                    .map(|a| a.trim().split('/').next().unwrap_or_default().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let networks = value("networks")
            .map(|v| {
                v.split(',')
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        out.push(TaskRow {
            networks,
            task: task[i].clone().unwrap_or_default(),
            node: node[i].clone().unwrap_or_default(),
            bad: !ok_state || !error.is_empty() || restarts > 0,
            cpu_speed,
            cpu_model: value("cpu model"),
            host: value("host"),
            state,
            restarts,
            started_us: started[i],
            stopped_us: stopped[i],
            error,
            facts,
            addresses,
        });
    }
    out.sort_by(|a, b| a.task.cmp(&b.task));
    Ok(out)
}
