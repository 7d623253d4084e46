//! The task pages' data: every task's charts and logs, computed with one query per figure for **all** tasks
//! (grouped by task) and then cut into each task's part — never a scan per task (a run of 7,000 tasks made
//! 50,000 scans and took minutes). A task page is an overview, so its charts use a coarser window than the
//! summary's: at most [`TASK_POINTS`] windows per series over the run (the dataset has every row).

use std::collections::HashMap;

use polars::prelude::*;
use wotemu_contract::table::Table;
use wotemu_contract::time_util::us_to_rfc3339;

use crate::aggregate::{self, Quantiles};
use crate::charts;
use crate::charts::Chart;
use crate::error::Error;
use crate::frames::{collect, f64s, i64s, scan, strs, time_us};
use crate::load::{Report, TaskRow};
use crate::views::LogView;

/// The most windows per series on a task page's time charts.
pub(crate) const TASK_POINTS: i64 = 30;

/// (time ms, series, value) rows of a time chart.
type Lines = Vec<(f64, String, f64)>;

/// What one task's page shows, gathered from the all-task queries.
#[derive(Default)]
pub(crate) struct TaskData {
    /// (time ms, min, mean, max)
    cpu: Vec<(f64, f64, f64, f64)>,
    mem: Vec<(f64, f64, f64, f64)>,
    cpu_limit: Option<f64>,
    mem_limit: Option<f64>,
    proto: Lines,
    iface: Lines,
    boxes: Vec<(String, String, [f64; 7], i64)>,
    latency: Lines,
    events: Lines,
    verbs: Vec<(String, String, f64)>,
    /// Its app metrics: indexes into [`Report::app_points`].
    app: Vec<usize>,
    pub(crate) logs: Vec<LogView>,
    pub(crate) log_count: i64,
}

/// Calls `f(task's data, row)` for every row of `df` (whose `task` column is sorted), looking each task up
/// once.
fn by_task(
    df: &DataFrame,
    out: &mut HashMap<String, TaskData>,
    mut f: impl FnMut(&mut TaskData, usize),
) {
    let tasks = strs(df, "task");
    let mut i = 0;
    while i < tasks.len() {
        let Some(t) = tasks[i].as_deref() else {
            i += 1;
            continue;
        };
        let d = out.entry(t.to_owned()).or_default();
        while i < tasks.len() && tasks[i].as_deref() == Some(t) {
            f(d, i);
            i += 1;
        }
    }
}

fn window(width_us: i64) -> Expr {
    ((time_us() / lit(width_us)) * lit(width_us)).alias("window")
}

fn ms(us: Option<i64>) -> f64 {
    us.unwrap_or(0) as f64 / 1000.0
}

impl Report {
    /// The window of the task pages' time charts, µs.
    pub(crate) fn task_window_us(&self) -> i64 {
        let span = match self.span {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        aggregate::window_us(span, TASK_POINTS, 1_000_000).max(self.window_us)
    }

    /// Every task's page data, by task name.
    pub(crate) fn tasks_data(&self) -> Result<HashMap<String, TaskData>, Error> {
        let _span = tracing::info_span!("report_tasks", tasks = self.tasks.len()).entered();
        let mut out: HashMap<String, TaskData> = HashMap::with_capacity(self.tasks.len());
        let dir = &self.opts.dataset;
        let win = self.task_window_us();
        if let Some(lf) = scan(dir, Table::System)? {
            self.system_data(lf, win, &mut out)?;
        }
        if let Some(lf) = scan(dir, Table::Packets)? {
            for series in ["proto", "iface"] {
                let df = collect(
                    lf.clone()
                        .with_column(window(win))
                        .group_by([col("task"), col("window"), col(series)])
                        .agg([col("len").cast(DataType::Float64).sum().alias("v")])
                        .sort_by_exprs(
                            [col("task"), col("window"), col(series)],
                            SortMultipleOptions::default(),
                        ),
                    Table::Packets,
                )?;
                let (w, s, v) = (i64s(&df, "window"), strs(&df, series), f64s(&df, "v"));
                by_task(&df, &mut out, |d, i| {
                    let row = (
                        ms(w[i]),
                        s[i].clone().unwrap_or_default(),
                        v[i].unwrap_or(0.0),
                    );
                    if series == "proto" {
                        d.proto.push(row);
                    } else {
                        d.iface.push(row);
                    }
                });
            }
        }
        if let Some(lf) = scan(dir, Table::Interactions)? {
            self.interactions_data(lf, win, &mut out)?;
        }
        if let Some(lf) = scan(dir, Table::Events)? {
            let df = collect(
                lf.with_column(window(win))
                    .with_column((col("name") + lit(" · ") + col("kind")).alias("series"))
                    .group_by([col("task"), col("window"), col("series")])
                    .agg([len().cast(DataType::Float64).alias("v")])
                    .sort_by_exprs(
                        [col("task"), col("window"), col("series")],
                        SortMultipleOptions::default(),
                    ),
                Table::Events,
            )?;
            let (w, s, v) = (i64s(&df, "window"), strs(&df, "series"), f64s(&df, "v"));
            by_task(&df, &mut out, |d, i| {
                d.events.push((
                    ms(w[i]),
                    s[i].clone().unwrap_or_default(),
                    v[i].unwrap_or(0.0),
                ))
            });
        }
        if let Some(lf) = scan(dir, Table::Logs)? {
            self.logs_data(lf, &mut out)?;
        }
        for (i, p) in self.app_points.iter().enumerate() {
            out.entry(p.task.clone()).or_default().app.push(i);
        }
        Ok(out)
    }

    fn system_data(
        &self,
        lf: LazyFrame,
        win: i64,
        out: &mut HashMap<String, TaskData>,
    ) -> Result<(), Error> {
        let stats = |c: &str| {
            let v = col(c).cast(DataType::Float64);
            [
                v.clone().min().alias(format!("{c}_min")),
                v.clone().mean().alias(format!("{c}_mean")),
                v.max().alias(format!("{c}_max")),
            ]
        };
        let mut aggs = stats("cpu_percent").to_vec();
        aggs.extend(stats("mem_bytes"));
        let df = collect(
            lf.clone()
                .with_column(window(win))
                .group_by([col("task"), col("window")])
                .agg(aggs)
                .sort_by_exprs([col("task"), col("window")], SortMultipleOptions::default()),
            Table::System,
        )?;
        let w = i64s(&df, "window");
        let col3 = |c: &str| {
            (
                f64s(&df, &format!("{c}_min")),
                f64s(&df, &format!("{c}_mean")),
                f64s(&df, &format!("{c}_max")),
            )
        };
        let (cpu, mem) = (col3("cpu_percent"), col3("mem_bytes"));
        let mib = 1_048_576.0;
        by_task(&df, out, |d, i| {
            let t = ms(w[i]);
            if let (Some(a), Some(m), Some(b)) = (cpu.0[i], cpu.1[i], cpu.2[i]) {
                d.cpu.push((t, a, m, b));
            }
            if let (Some(a), Some(m), Some(b)) = (mem.0[i], mem.1[i], mem.2[i]) {
                d.mem.push((t, a / mib, m / mib, b / mib));
            }
        });
        let limits = collect(
            lf.group_by([col("task")])
                .agg([
                    col("cpu_limit_percent")
                        .cast(DataType::Float64)
                        .max()
                        .alias("cpu"),
                    col("mem_limit_bytes")
                        .cast(DataType::Float64)
                        .max()
                        .alias("mem"),
                ])
                .sort_by_exprs([col("task")], SortMultipleOptions::default()),
            Table::System,
        )?;
        let (c, m) = (f64s(&limits, "cpu"), f64s(&limits, "mem"));
        by_task(&limits, out, |d, i| {
            d.cpu_limit = c[i];
            d.mem_limit = m[i].map(|b| b / mib);
        });
        Ok(())
    }

    fn interactions_data(
        &self,
        lf: LazyFrame,
        win: i64,
        out: &mut HashMap<String, TaskData>,
    ) -> Result<(), Error> {
        let timed = lf.clone().filter(col("latency_ms").is_not_null());
        let q = |p: f64, name: &str| {
            col("latency_ms")
                .quantile(lit(p), QuantileMethod::Linear)
                .alias(name)
        };
        let keys = || {
            [
                col("task"),
                col("thing"),
                col("name"),
                col("verb"),
                col("side"),
            ]
        };
        let df = collect(
            timed
                .clone()
                .group_by(keys())
                .agg([
                    col("latency_ms").min().alias("min"),
                    q(0.25, "p25"),
                    q(0.5, "p50"),
                    q(0.75, "p75"),
                    q(0.95, "p95"),
                    q(0.99, "p99"),
                    col("latency_ms").max().alias("max"),
                    len().alias("n"),
                ])
                .sort_by_exprs(keys(), SortMultipleOptions::default()),
            Table::Interactions,
        )?;
        let (thing, name, verb, side) = (
            strs(&df, "thing"),
            strs(&df, "name"),
            strs(&df, "verb"),
            strs(&df, "side"),
        );
        let n = i64s(&df, "n");
        let cols: Vec<Vec<Option<f64>>> = ["min", "p25", "p50", "p75", "p95", "p99", "max"]
            .iter()
            .map(|c| f64s(&df, c))
            .collect();
        let label = |i: usize| {
            format!(
                "{} · {} · {}",
                thing[i].as_deref().unwrap_or_default(),
                name[i].as_deref().unwrap_or_default(),
                verb[i].as_deref().unwrap_or_default()
            )
        };
        by_task(&df, out, |d, i| {
            let mut q: Quantiles = ([0.0; 7], n[i].unwrap_or(0));
            for (k, c) in cols.iter().enumerate() {
                q.0[k] = c[i].unwrap_or(0.0);
            }
            d.boxes
                .push((label(i), side[i].clone().unwrap_or_default(), q.0, q.1));
        });
        let series = (col("thing")
            + lit(" · ")
            + col("name")
            + lit(" · ")
            + col("verb")
            + lit(" (")
            + col("side")
            + lit(")"))
        .alias("series");
        let df = collect(
            timed
                .with_column(window(win))
                .with_column(series)
                .group_by([col("task"), col("window"), col("series")])
                .agg([col("latency_ms")
                    .quantile(lit(0.95), QuantileMethod::Linear)
                    .alias("v")])
                .sort_by_exprs(
                    [col("task"), col("window"), col("series")],
                    SortMultipleOptions::default(),
                ),
            Table::Interactions,
        )?;
        let (w, s, v) = (i64s(&df, "window"), strs(&df, "series"), f64s(&df, "v"));
        by_task(&df, out, |d, i| {
            if let Some(v) = v[i] {
                d.latency
                    .push((ms(w[i]), s[i].clone().unwrap_or_default(), v));
            }
        });
        let keys = || {
            [
                col("task"),
                col("side"),
                col("thing"),
                col("name"),
                col("verb"),
                col("outcome"),
            ]
        };
        let df = collect(
            lf.with_column(
                when(col("ok"))
                    .then(lit("ok"))
                    .otherwise(lit("error"))
                    .alias("outcome"),
            )
            .group_by(keys())
            .agg([len().alias("n")])
            .sort_by_exprs(keys(), SortMultipleOptions::default()),
            Table::Interactions,
        )?;
        let s = |c| strs(&df, c);
        let (side, thing, name, verb, outcome) =
            (s("side"), s("thing"), s("name"), s("verb"), s("outcome"));
        let n = i64s(&df, "n");
        by_task(&df, out, |d, i| {
            let v = |c: &[Option<String>]| c[i].clone().unwrap_or_default();
            d.verbs.push((
                format!("{} · {} · {} ({})", v(&thing), v(&name), v(&verb), v(&side)),
                v(&outcome),
                n[i].unwrap_or(0) as f64,
            ));
        });
        Ok(())
    }

    fn logs_data(&self, lf: LazyFrame, out: &mut HashMap<String, TaskData>) -> Result<(), Error> {
        let keep = self.opts.log_lines;
        let df = collect(
            lf.group_by([col("task")])
                .agg([
                    len().cast(DataType::Int64).alias("n"),
                    col("time").tail(Some(keep)),
                    col("stream").tail(Some(keep)),
                    col("line").tail(Some(keep)),
                ])
                .sort_by_exprs([col("task")], SortMultipleOptions::default())
                .explode(
                    cols(["time", "stream", "line"]),
                    ExplodeOptions {
                        empty_as_null: false,
                        keep_nulls: true,
                    },
                ),
            Table::Logs,
        )?;
        let (n, time) = (i64s(&df, "n"), i64s(&df, "time"));
        let (stream, line) = (strs(&df, "stream"), strs(&df, "line"));
        by_task(&df, out, |d, i| {
            d.log_count = n[i].unwrap_or(0);
            d.logs.push(LogView {
                time: time[i].map(us_to_rfc3339).unwrap_or_default(),
                stream: stream[i].clone().unwrap_or_default(),
                line: line[i].clone().unwrap_or_default(),
            });
        });
        Ok(())
    }

    /// A task's charts, from its data.
    pub(crate) fn task_charts(&self, t: &TaskRow, d: &TaskData) -> Vec<Chart> {
        let secs = self.task_window_us() / 1_000_000;
        let mut out = Vec::new();
        // A task without samples (no agent: a gateway, Redis, the Docker API proxy) gets no CPU chart.
        if !d.cpu.is_empty() {
            out.push(Chart {
                id: "c-cpu".into(),
                title: "CPU".into(),
                note: format!(
                    "% of one CPU per {secs} s window: mean, min–max band; dashed: the limit"
                ),
                spec: charts::band("CPU", "% CPU", &d.cpu, d.cpu_limit),
            });
            out.push(Chart {
                id: "c-mem".into(),
                title: "Memory".into(),
                note: format!("MiB per {secs} s window; dashed: the limit"),
                spec: charts::band("Memory", "MiB", &d.mem, d.mem_limit),
            });
        }
        for (rows, id, title) in [
            (&d.proto, "c-proto", "Bytes by protocol"),
            (&d.iface, "c-iface", "Bytes by interface"),
        ] {
            if !rows.is_empty() {
                out.push(Chart {
                    id: id.into(),
                    title: title.into(),
                    note: format!("bytes per {secs} s window"),
                    spec: charts::time_lines(title, "bytes", rows),
                });
            }
        }
        if !d.boxes.is_empty() {
            out.push(Chart {
                id: "c-latency".into(),
                title: "Latency distributions".into(),
                note: "by thing · name · verb, consumed (what this task observed as a client) and exposed (its handler's time) apart: min–max, p25–p75 box, median tick, p99 triangle".into(),
                spec: charts::boxes("Latency", &d.boxes),
            });
        }
        out.extend(self.app_charts(d, secs));
        if !d.latency.is_empty() {
            out.push(Chart {
                id: "c-latency-time".into(),
                title: "Latency over time".into(),
                note: format!("p95 per {secs} s window by thing · name · verb and side; dotted rules: changes of its networks' conditions"),
                spec: charts::with_rules(
                    charts::time_lines("Latency p95", "ms", &d.latency),
                    &self.task_rules(t),
                ),
            });
        }
        if !d.events.is_empty() {
            out.push(Chart {
                id: "c-events".into(),
                title: "Subscription events".into(),
                note: format!("events per {secs} s window by event and kind"),
                spec: charts::time_lines("Events", "events per window", &d.events),
            });
        }
        if !d.verbs.is_empty() {
            out.push(Chart {
                id: "c-verbs".into(),
                title: "Interactions by thing, name and verb".into(),
                note: "ok and failed, consumed and exposed apart".into(),
                spec: charts::outcome_bars("Interactions", &d.verbs),
            });
        }
        out
    }

    /// The apps' own metrics of a task: a chart per key.
    fn app_charts(&self, d: &TaskData, secs: i64) -> Vec<Chart> {
        let points = || d.app.iter().map(|&i| &self.app_points[i]);
        let mut keys: Vec<&str> = points().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .enumerate()
            .map(|(i, key)| {
                let pts = points().filter(|p| p.key == key);
                let rows = crate::app::windowed(pts, self.task_window_us(), |p| p.field.clone());
                Chart {
                    id: format!("c-app-{i}"),
                    title: format!("App metric {key}"),
                    note: format!("numeric fields, mean per {secs} s window"),
                    spec: charts::time_lines(key, "value", &rows),
                }
            })
            .collect()
    }

    /// The rules of a task's latency chart: changes of its networks' conditions and the scenario's events
    /// that touched it.
    fn task_rules(&self, t: &TaskRow) -> Vec<(f64, String)> {
        let mut rules: Vec<(f64, String)> = self
            .changes
            .iter()
            .filter(|c| t.networks.contains(&c.network))
            .map(|c| (c.time_us as f64 / 1000.0, c.label.clone()))
            .collect();
        rules.extend(self.scenario_rules(Some((&t.node, &t.networks))));
        rules
    }
}
