//! Loading the aggregates and writing the site.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use wotemu_contract::manifest::Manifest;
use wotemu_contract::table::Table;
use wotemu_contract::time_util::us_to_rfc3339;

use crate::aggregate::{self, ErrorGroup, Flow, LatencyRow, Talker};
use crate::charts;
use crate::error::Error;
use crate::escape::script_json;
use crate::frames::{collect, f64s, i64s, scan, strs};

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
}

impl ReportOptions {
    pub fn new(dataset: &Path, out: &Path) -> Self {
        ReportOptions {
            dataset: dataset.to_owned(),
            out: out.to_owned(),
            title: None,
            log_lines: 500,
            base_url: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub out: PathBuf,
    pub pages: usize,
    pub charts: usize,
    pub bytes: u64,
}

/// One task (replica), from the tasks table.
#[derive(Debug, Clone, Serialize)]
struct TaskRow {
    task: String,
    node: String,
    state: String,
    restarts: i64,
    started_us: Option<i64>,
    stopped_us: Option<i64>,
    error: String,
    facts: Vec<(String, String)>,
    bad: bool,
}

/// The aggregates of a dataset, ready to render.
pub struct Report {
    opts: ReportOptions,
    manifest: Manifest,
    tasks: Vec<TaskRow>,
    latency: Vec<LatencyRow>,
    errors: Vec<ErrorGroup>,
    talkers: Vec<Talker>,
    flows: Vec<Flow>,
    /// Address → node, from the tasks' addresses.
    owners: BTreeMap<String, String>,
    counts: BTreeMap<Table, i64>,
    span: (Option<i64>, Option<i64>),
    packet_bytes: i64,
    window_us: i64,
}

struct Chart {
    id: String,
    title: String,
    note: String,
    spec: Value,
}

fn human_bytes(b: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
}

/// A file name for a task's page (task names are `[A-Za-z0-9_.-]`; anything else becomes `_`).
fn task_file(task: &str) -> String {
    let safe: String = task
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tasks/{safe}.html")
}

impl Report {
    /// Reads the manifest and computes every aggregate.
    pub fn load(opts: ReportOptions) -> Result<Report, Error> {
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
            lo = match (lo, a) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            hi = match (hi, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
        }
        let span_us = match (lo, hi) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        let window_us = aggregate::window_us(span_us, 1000, 1_000_000);
        let latency = match scan(dir, Table::Interactions)? {
            Some(lf) => aggregate::latency_table(lf)?,
            None => Vec::new(),
        };
        let errors = match scan(dir, Table::Interactions)? {
            Some(lf) => aggregate::error_groups(lf)?,
            None => Vec::new(),
        };
        let talkers = match scan(dir, Table::Packets)? {
            Some(lf) => aggregate::talkers(lf, 1_000_000)?,
            None => Vec::new(),
        };
        let packet_bytes = talkers.iter().map(|t| t.bytes).sum();
        let flows = match scan(dir, Table::Packets)? {
            Some(lf) => aggregate::flows(lf)?,
            None => Vec::new(),
        };
        let tasks = load_tasks(dir)?;
        let owners = address_owners(&tasks);
        counts.insert(Table::Tasks, tasks.len() as i64);
        Ok(Report {
            opts,
            manifest,
            tasks,
            latency,
            errors,
            talkers,
            flows,
            owners,
            counts,
            span: (lo, hi),
            packet_bytes,
            window_us,
        })
    }

    /// Writes the site.
    pub fn render(&self) -> Result<Rendered, Error> {
        self.render_with(&mut |_, _| {})
    }

    /// The number of pages [`Report::render`] writes.
    pub fn page_count(&self) -> usize {
        5 + self.tasks.len()
    }

    /// Writes the site, calling `on_page(done, total)` after every page.
    pub fn render_with(&self, on_page: &mut dyn FnMut(usize, usize)) -> Result<Rendered, Error> {
        // The downloads (a CSV of every table: most of the bytes) are written while the pages render.
        std::thread::scope(|scope| {
            let downloads = scope.spawn(|| self.write_downloads());
            self.render_pages(on_page, downloads)
        })
    }

    fn render_pages(
        &self,
        on_page: &mut dyn FnMut(usize, usize),
        downloads: std::thread::ScopedJoinHandle<'_, Result<Vec<Value>, Error>>,
    ) -> Result<Rendered, Error> {
        let total = self.page_count();
        let out = &self.opts.out;
        let w = |p: &Path, bytes: &[u8]| -> Result<(), Error> {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|source| Error::Write {
                    path: d.to_owned(),
                    source,
                })?;
            }
            std::fs::write(p, bytes).map_err(|source| Error::Write {
                path: p.to_owned(),
                source,
            })
        };
        for (name, bytes) in crate::render::assets::FILES {
            w(&out.join(name), bytes)?;
        }
        w(&out.join(".nojekyll"), b"")?;
        let tera = crate::render::assets::tera()?;
        let site = self.site_context();
        let mut pages = 0;
        let mut n_charts = 0;
        let mut page = |file: &str,
                        template: &str,
                        charts: Vec<Chart>,
                        mut ctx: tera::Context|
         -> Result<(), Error> {
            let depth = file.matches('/').count();
            ctx.insert("root", &"../".repeat(depth));
            ctx.insert("page_href", file);
            ctx.insert("site", &site);
            let chart_ctx: Vec<Value> = charts
                .iter()
                .map(|c| json!({"id": c.id, "title": c.title, "note": c.note, "json": script_json(&c.spec)}))
                .collect();
            n_charts += charts.len();
            ctx.insert("charts", &chart_ctx);
            let html = tera.render(template, &ctx).map_err(|e| Error::Template {
                page: file.to_owned(),
                message: error_chain(&e),
            })?;
            pages += 1;
            on_page(pages, total);
            w(&out.join(file), html.as_bytes())
        };

        // Summary.
        let mut ctx = tera::Context::new();
        ctx.insert("summary", &self.summary_view());
        page("index.html", "index.html", self.summary_charts()?, ctx)?;

        // Tasks.
        let mut ctx = tera::Context::new();
        let tasks: Vec<Value> = self
            .tasks
            .iter()
            .map(|t| self.task_list_row(t, ""))
            .collect();
        ctx.insert("tasks", &tasks);
        page("tasks.html", "tasks.html", self.task_charts(), ctx)?;
        for t in &self.tasks {
            let mut ctx = tera::Context::new();
            ctx.insert("task", &self.task_view(t)?);
            page(
                &task_file(&t.task),
                "task.html",
                self.one_task_charts(t)?,
                ctx,
            )?;
        }

        // Errors, compose, data.
        let mut ctx = tera::Context::new();
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| {
                json!({"error_type": e.error_type, "error_message": e.error_message, "thing": e.thing, "verb": e.verb,
                       "count": e.count, "tasks": e.tasks, "first_seen": us_to_rfc3339(e.first_us), "last_seen": us_to_rfc3339(e.last_us)})
            })
            .collect();
        ctx.insert("errors", &errors);
        page("errors.html", "errors.html", Vec::new(), ctx)?;
        let mut ctx = tera::Context::new();
        ctx.insert("topology", &self.manifest.topology);
        ctx.insert("compose", &self.manifest.compose);
        page("compose.html", "compose.html", Vec::new(), ctx)?;
        let mut ctx = tera::Context::new();
        let tables = downloads
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        ctx.insert("tables", &tables);
        let a = &self.manifest.accounting.totals;
        let acc: Vec<(&str, u64)> = vec![
            ("records read", a.records_read),
            ("records written", a.records_written),
            ("duplicates skipped", a.records_duplicate),
            ("entries rejected", a.entries_rejected),
            ("records rejected", a.records_rejected),
            ("records dropped by agents", a.records_dropped_by_agent),
            ("batches missing", a.seq_missing),
        ];
        ctx.insert("accounting", &acc);
        page("data.html", "data.html", Vec::new(), ctx)?;

        Ok(Rendered {
            out: out.clone(),
            pages,
            charts: n_charts,
            bytes: dir_size(out),
        })
    }

    fn site_context(&self) -> Value {
        let span = match self.span {
            (Some(a), Some(b)) => format!(
                "{} → {} ({:.0} s)",
                us_to_rfc3339(a),
                us_to_rfc3339(b),
                (b - a) as f64 / 1e6
            ),
            _ => "no records".into(),
        };
        json!({
            "title": self.opts.title.clone().unwrap_or_else(|| format!("wotemu report · {}", self.manifest.stack)),
            "stack": self.manifest.stack,
            "base_url": self.opts.base_url.as_deref().map(|u| format!("{}/", u.trim_end_matches('/'))),
            "version": env!("CARGO_PKG_VERSION"),
            "span": span,
            "nav": [
                {"href": "index.html", "label": "Summary"},
                {"href": "tasks.html", "label": "Tasks"},
                {"href": "errors.html", "label": "Errors"},
                {"href": "compose.html", "label": "Topology"},
                {"href": "data.html", "label": "Data"},
            ],
        })
    }

    fn summary_view(&self) -> Value {
        let interactions = self.counts.get(&Table::Interactions).copied().unwrap_or(0);
        let errors: i64 = self.latency.iter().map(|r| r.errors).sum();
        let length = match self.span {
            (Some(a), Some(b)) => format!("{:.0} s", (b - a) as f64 / 1e6),
            _ => "–".into(),
        };
        let cards = vec![
            json!({"label": "run length", "value": length}),
            json!({"label": "tasks", "value": self.tasks.len()}),
            json!({"label": "packets", "value": self.counts.get(&Table::Packets).copied().unwrap_or(0)}),
            json!({"label": "bytes on the wire", "value": human_bytes(self.packet_bytes)}),
            json!({"label": "interactions", "value": interactions}),
            json!({"label": "error rate", "value": if interactions > 0 { format!("{:.2} %", errors as f64 * 100.0 / interactions as f64) } else { "–".into() }}),
        ];
        let latency: Vec<Value> = self
            .latency
            .iter()
            .map(|r| {
                json!({"thing": r.thing, "verb": r.verb, "count": r.count, "errors": r.errors,
                       "error_pct": format!("{:.2}", if r.count > 0 { r.errors as f64 * 100.0 / r.count as f64 } else { 0.0 }),
                       "p50": fmt_ms(r.p50), "p95": fmt_ms(r.p95), "p99": fmt_ms(r.p99), "max": fmt_ms(r.max)})
            })
            .collect();
        let talkers: Vec<Value> = self
            .talkers
            .iter()
            .take(10)
            .map(|t| {
                let (bytes_in, bytes_out) = self.in_out(&t.task);
                let h = |b: Option<i64>| b.map(human_bytes).unwrap_or_else(|| "–".into());
                json!({"task": t.task, "href": task_file(&t.task), "packets": t.packets, "bytes": t.bytes,
                       "bytes_h": human_bytes(t.bytes), "bytes_out": bytes_out, "bytes_out_h": h(bytes_out),
                       "bytes_in": bytes_in, "bytes_in_h": h(bytes_in)})
            })
            .collect();
        let problem_tasks: Vec<Value> = self
            .tasks
            .iter()
            .filter(|t| t.bad)
            .map(|t| json!({"task": t.task, "href": task_file(&t.task), "state": t.state, "restarts": t.restarts, "error": t.error}))
            .collect();
        json!({"cards": cards, "latency": latency, "talkers": talkers, "problem_tasks": problem_tasks})
    }

    fn summary_charts(&self) -> Result<Vec<Chart>, Error> {
        let dir = &self.opts.dataset;
        let mut out = Vec::new();
        let win = self.window_us;
        let note = format!("{} s windows", win / 1_000_000);
        if let Some(lf) = scan(dir, Table::Interactions)? {
            let lf = lf.with_column(
                when(col("ok"))
                    .then(lit("ok"))
                    .otherwise(lit("error"))
                    .alias("outcome"),
            );
            let rows =
                aggregate::window_sums(lf, aggregate::ones(), "outcome", win, Table::Interactions)?;
            let rows: Vec<(f64, String, f64)> = rows
                .into_iter()
                .map(|(t, s, v)| (t as f64 / 1000.0, s, v))
                .collect();
            out.push(Chart {
                id: "c-interactions".into(),
                title: "Interactions over time".into(),
                note: note.clone(),
                spec: charts::time_lines("Interactions", "interactions per window", &rows),
            });
        }
        if let Some(lf) = scan(dir, Table::Packets)? {
            let rows = aggregate::window_sums(lf, col("len"), "proto", win, Table::Packets)?;
            let rows: Vec<(f64, String, f64)> = rows
                .into_iter()
                .map(|(t, s, v)| (t as f64 / 1000.0, s, v))
                .collect();
            out.push(Chart {
                id: "c-traffic".into(),
                title: "Traffic by protocol".into(),
                note: format!("bytes per {} s window, all tasks", win / 1_000_000),
                spec: charts::time_lines("Traffic", "bytes per window", &rows),
            });
        }
        if let Some(lf) = scan(dir, Table::Packets)? {
            let rows = aggregate::window_sums(lf, col("len"), "iface", win, Table::Packets)?;
            let rows: Vec<(f64, String, f64)> = rows
                .into_iter()
                .map(|(t, s, v)| (t as f64 / 1000.0, s, v))
                .collect();
            out.push(Chart {
                id: "c-networks".into(),
                title: "Traffic per network".into(),
                note: format!(
                    "bytes per {} s window by interface (wotemu run names interfaces after their network)",
                    win / 1_000_000
                ),
                spec: charts::time_lines("Traffic per network", "bytes per window", &rows),
            });
        }
        let (outbound, inbound) = self.service_matrices();
        if !outbound.is_empty() {
            out.push(Chart {
                id: "c-outbound".into(),
                title: "Outbound traffic between services".into(),
                note: "bytes sent, as captured by the sender".into(),
                spec: charts::heatmap("Outbound", "from", "to", &outbound),
            });
        }
        if !inbound.is_empty() {
            out.push(Chart {
                id: "c-inbound".into(),
                title: "Inbound traffic between services".into(),
                note: "bytes received, as captured by the receiver".into(),
                spec: charts::heatmap("Inbound", "to", "from", &inbound),
            });
        }
        if let Some(lf) = scan(dir, Table::System)? {
            let df = collect(
                lf.group_by([col("task")]).agg([
                    col("mem_bytes").cast(DataType::Float64).max().alias("mem"),
                    col("cpu_percent").mean().alias("cpu"),
                ]),
                Table::System,
            )?;
            let (task, mem, cpu) = (strs(&df, "task"), f64s(&df, "mem"), f64s(&df, "cpu"));
            let mut mem_rows = Vec::new();
            let mut cpu_rows = Vec::new();
            for i in 0..df.height() {
                let t = task[i].clone().unwrap_or_default();
                let model = self
                    .tasks
                    .iter()
                    .find(|x| x.task == t)
                    .and_then(|x| {
                        x.facts
                            .iter()
                            .find(|f| f.0 == "cpu model")
                            .map(|f| f.1.clone())
                    })
                    .unwrap_or_default();
                if let Some(m) = mem[i] {
                    mem_rows.push((t.clone(), m / 1_048_576.0, Some(task_file(&t))));
                }
                if let Some(c) = cpu[i] {
                    let label = if model.is_empty() {
                        t.clone()
                    } else {
                        format!("{t} ({model})")
                    };
                    cpu_rows.push((label, c, Some(task_file(&t))));
                }
            }
            out.push(Chart {
                id: "c-mem".into(),
                title: "Memory ranking".into(),
                note: "peak MiB per task".into(),
                spec: charts::ranking("Peak memory", "MiB", &mem_rows),
            });
            out.push(Chart {
                id: "c-cpu".into(),
                title: "CPU usage per task".into(),
                note: "mean % of one CPU, with the CPU model".into(),
                spec: charts::ranking("Mean CPU", "% CPU", &cpu_rows),
            });
        }
        Ok(out)
    }

    /// Bytes a task received and sent, from the packets it captured (None when its addresses are unknown).
    fn in_out(&self, task: &str) -> (Option<i64>, Option<i64>) {
        let Some(node) = self.tasks.iter().find(|t| t.task == task).map(|t| &t.node) else {
            return (None, None);
        };
        if !self.owners.values().any(|n| n == node) {
            return (None, None);
        }
        let (mut rx, mut tx) = (0, 0);
        for f in self.flows.iter().filter(|f| f.task == task) {
            if self.owners.get(&f.src) == Some(node) {
                tx += f.bytes;
            } else if self.owners.get(&f.dst) == Some(node) {
                rx += f.bytes;
            }
        }
        (Some(rx), Some(tx))
    }

    /// (outbound, inbound) byte matrices between nodes: outbound counted by the sender, inbound by the
    /// receiver, so a packet seen at both ends counts once in each. Unknown peers keep their address.
    #[allow(clippy::type_complexity)]
    fn service_matrices(&self) -> (Vec<(String, String, f64)>, Vec<(String, String, f64)>) {
        let node_of: BTreeMap<&str, &str> = self
            .tasks
            .iter()
            .map(|t| (t.task.as_str(), t.node.as_str()))
            .collect();
        let mut outbound: BTreeMap<(String, String), f64> = BTreeMap::new();
        let mut inbound: BTreeMap<(String, String), f64> = BTreeMap::new();
        for f in &self.flows {
            let Some(&node) = node_of.get(f.task.as_str()) else {
                continue;
            };
            let peer = |ip: &str| {
                self.owners
                    .get(ip)
                    .cloned()
                    .unwrap_or_else(|| ip.to_owned())
            };
            if self.owners.get(&f.src).map(String::as_str) == Some(node) {
                *outbound.entry((node.to_owned(), peer(&f.dst))).or_default() += f.bytes as f64;
            } else if self.owners.get(&f.dst).map(String::as_str) == Some(node) {
                *inbound.entry((node.to_owned(), peer(&f.src))).or_default() += f.bytes as f64;
            }
        }
        let flat = |m: BTreeMap<(String, String), f64>| {
            m.into_iter().map(|((a, b), v)| (a, b, v)).collect()
        };
        (flat(outbound), flat(inbound))
    }

    fn task_list_row(&self, t: &TaskRow, root: &str) -> Value {
        json!({"task": t.task, "href": format!("{root}{}", task_file(&t.task)), "node": t.node, "state": t.state,
               "restarts": t.restarts, "bad": t.bad, "error": t.error,
               "started_at": t.started_us.map(us_to_rfc3339).unwrap_or_default(),
               "stopped_at": t.stopped_us.map(us_to_rfc3339).unwrap_or_default()})
    }

    fn task_charts(&self) -> Vec<Chart> {
        let end = self.span.1.unwrap_or(0);
        let rows: Vec<(String, f64, f64, String, String)> = self
            .tasks
            .iter()
            .filter_map(|t| {
                let a = t.started_us.or(self.span.0)?;
                let b = t.stopped_us.unwrap_or(end).max(a);
                Some((
                    t.task.clone(),
                    a as f64 / 1000.0,
                    b as f64 / 1000.0,
                    t.state.clone(),
                    task_file(&t.task),
                ))
            })
            .collect();
        vec![Chart {
            id: "c-timeline".into(),
            title: "Task timeline".into(),
            note: "click a task to open it".into(),
            spec: charts::timeline("Tasks", &rows),
        }]
    }

    fn task_view(&self, t: &TaskRow) -> Result<Value, Error> {
        let mut logs = Vec::new();
        let mut count = 0;
        if let Some(lf) = scan(&self.opts.dataset, Table::Logs)? {
            let lf = lf.filter(col("task").eq(lit(t.task.clone())));
            let n = collect(lf.clone().select([len().alias("n")]), Table::Logs)?;
            count = i64s(&n, "n")[0].unwrap_or(0);
            let df = collect(lf.tail(self.opts.log_lines as u32), Table::Logs)?;
            let (time, stream, line) = (i64s(&df, "time"), strs(&df, "stream"), strs(&df, "line"));
            for i in 0..df.height() {
                logs.push(json!({"time": time[i].map(us_to_rfc3339).unwrap_or_default(), "stream": stream[i], "line": line[i]}));
            }
        }
        let mut facts = vec![
            ("node".to_owned(), t.node.clone()),
            ("state".to_owned(), t.state.clone()),
        ];
        facts.extend(t.facts.iter().cloned());
        Ok(
            json!({"task": t.task, "facts": facts, "logs": logs, "log_count": count, "logs_truncated": (count as usize) > logs.len()}),
        )
    }

    fn one_task_charts(&self, t: &TaskRow) -> Result<Vec<Chart>, Error> {
        let dir = &self.opts.dataset;
        let mut out = Vec::new();
        let only = |lf: LazyFrame| lf.filter(col("task").eq(lit(t.task.clone())));
        let win = self.window_us;
        if let Some(lf) = scan(dir, Table::System)? {
            let rows =
                aggregate::window_stats(only(lf.clone()), "cpu_percent", win, Table::System)?;
            let limit = collect(
                only(lf.clone()).select([col("cpu_limit_percent").max().alias("l")]),
                Table::System,
            )?;
            let limit = f64s(&limit, "l").first().copied().flatten();
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(w, a, m, b)| (w as f64 / 1000.0, a, m, b))
                .collect();
            // A task without samples (no agent: a gateway, Redis, the Docker API proxy) gets no chart.
            if rows.is_empty() {
                return self.one_task_other_charts(t, out);
            }
            out.push(Chart {
                id: "c-cpu".into(),
                title: "CPU".into(),
                note: "% of one CPU: mean, min–max band; dashed: the limit".into(),
                spec: charts::band("CPU", "% CPU", &rows, limit),
            });
            let rows = aggregate::window_stats(only(lf.clone()), "mem_bytes", win, Table::System)?;
            let limit = collect(
                only(lf).select([col("mem_limit_bytes")
                    .cast(DataType::Float64)
                    .max()
                    .alias("l")]),
                Table::System,
            )?;
            let limit = f64s(&limit, "l")
                .first()
                .copied()
                .flatten()
                .map(|b| b / 1_048_576.0);
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(w, a, m, b)| {
                    (
                        w as f64 / 1000.0,
                        a / 1_048_576.0,
                        m / 1_048_576.0,
                        b / 1_048_576.0,
                    )
                })
                .collect();
            out.push(Chart {
                id: "c-mem".into(),
                title: "Memory".into(),
                note: "MiB; dashed: the limit".into(),
                spec: charts::band("Memory", "MiB", &rows, limit),
            });
        }
        self.one_task_other_charts(t, out)
    }

    /// The charts of a task's packets and interactions (those it has).
    fn one_task_other_charts(&self, t: &TaskRow, mut out: Vec<Chart>) -> Result<Vec<Chart>, Error> {
        let dir = &self.opts.dataset;
        let only = |lf: LazyFrame| lf.filter(col("task").eq(lit(t.task.clone())));
        let win = self.window_us;
        if let Some(lf) = scan(dir, Table::Packets)? {
            for (series, id, title) in [
                ("proto", "c-proto", "Bytes by protocol"),
                ("iface", "c-iface", "Bytes by interface"),
            ] {
                let rows = aggregate::window_sums(
                    only(lf.clone()),
                    col("len"),
                    series,
                    win,
                    Table::Packets,
                )?;
                let rows: Vec<_> = rows
                    .into_iter()
                    .map(|(w, s, v)| (w as f64 / 1000.0, s, v))
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                out.push(Chart {
                    id: id.into(),
                    title: title.into(),
                    note: format!("bytes per {} s window", win / 1_000_000),
                    spec: charts::time_lines(title, "bytes", &rows),
                });
            }
        }
        if let Some(lf) = scan(dir, Table::Interactions)? {
            let boxes: Vec<(String, String, [f64; 7], i64)> =
                aggregate::latency_boxes(only(lf.clone()))?
                    .into_iter()
                    .map(|(c, s, (q, n))| (c, s, q, n))
                    .collect();
            if !boxes.is_empty() {
                out.push(Chart {
                    id: "c-latency".into(),
                    title: "Latency distributions".into(),
                    note: "consumed (client) vs exposed (server) side: min–max, p25–p75 box, median tick, p99 triangle".into(),
                    spec: charts::boxes("Latency", &boxes),
                });
            }
        }
        if let Some(lf) = scan(dir, Table::Events)? {
            let lf = only(lf).with_column((col("name") + lit(" · ") + col("kind")).alias("series"));
            let rows = aggregate::window_sums(lf, aggregate::ones(), "series", win, Table::Events)?;
            if !rows.is_empty() {
                let rows: Vec<_> = rows
                    .into_iter()
                    .map(|(w, s, v)| (w as f64 / 1000.0, s, v))
                    .collect();
                out.push(Chart {
                    id: "c-events".into(),
                    title: "Subscription events".into(),
                    note: format!("events per {} s window by event and kind", win / 1_000_000),
                    spec: charts::time_lines("Events", "events per window", &rows),
                });
            }
        }
        if let Some(lf) = scan(dir, Table::Interactions)? {
            let df = collect(
                only(lf)
                    .with_column(
                        when(col("ok"))
                            .then(lit("ok"))
                            .otherwise(lit("error"))
                            .alias("outcome"),
                    )
                    .group_by([col("thing"), col("verb"), col("outcome")])
                    .agg([len().alias("n")])
                    .sort_by_exprs(
                        [col("thing"), col("verb"), col("outcome")],
                        SortMultipleOptions::default(),
                    ),
                Table::Interactions,
            )?;
            let (thing, verb, outcome, n) = (
                strs(&df, "thing"),
                strs(&df, "verb"),
                strs(&df, "outcome"),
                i64s(&df, "n"),
            );
            let rows: Vec<(String, String, f64)> = (0..df.height())
                .map(|i| {
                    (
                        format!(
                            "{} · {}",
                            thing[i].clone().unwrap_or_default(),
                            verb[i].clone().unwrap_or_default()
                        ),
                        outcome[i].clone().unwrap_or_default(),
                        n[i].unwrap_or(0) as f64,
                    )
                })
                .collect();
            if !rows.is_empty() {
                out.push(Chart {
                    id: "c-verbs".into(),
                    title: "Interactions by thing and verb".into(),
                    note: "ok and failed".into(),
                    spec: charts::outcome_bars("Interactions", &rows),
                });
            }
        }
        Ok(out)
    }

    /// Copies each table's Parquet file and writes it as CSV under `data/`.
    fn write_downloads(&self) -> Result<Vec<Value>, Error> {
        let data = self.opts.out.join("data");
        std::fs::create_dir_all(&data).map_err(|source| Error::Write {
            path: data.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for t in Table::ALL {
            let src = self.opts.dataset.join(t.file_name());
            if !src.exists() {
                continue;
            }
            let pq = data.join(t.file_name());
            std::fs::copy(&src, &pq).map_err(|source| Error::Write {
                path: pq.clone(),
                source,
            })?;
            let csv = data.join(format!("{}.csv", t.name()));
            let file = std::fs::File::create(&csv).map_err(|source| Error::Write {
                path: csv.clone(),
                source,
            })?;
            let mut f = std::io::BufWriter::with_capacity(1 << 20, file);
            // In slices, so that memory stays bounded whatever the table's size.
            let lf = scan(&self.opts.dataset, t)?.expect("exists");
            let mut rows = 0usize;
            loop {
                let mut df = collect(lf.clone().slice(rows as i64, CSV_SLICE_ROWS as u32), t)?;
                let n = df.height();
                if n == 0 && rows > 0 {
                    break;
                }
                CsvWriter::new(&mut f)
                    .include_header(rows == 0)
                    .finish(&mut df)
                    .map_err(|source| Error::Table {
                        table: t.name(),
                        source,
                    })?;
                rows += n;
                if n < CSV_SLICE_ROWS {
                    break;
                }
            }
            std::io::Write::flush(&mut f).map_err(|source| Error::Write {
                path: csv.clone(),
                source,
            })?;
            out.push(json!({"name": t.name(), "rows": rows, "parquet": format!("data/{}", t.file_name()), "csv": format!("data/{}.csv", t.name())}));
        }
        Ok(out)
    }
}

/// Rows per slice when a table is written as CSV.
const CSV_SLICE_ROWS: usize = 256 * 1024;

/// Address → node, from the `addresses` fact of every task (`10.0.0.2/24` and `10.0.0.2` both give
/// `10.0.0.2`).
fn address_owners(tasks: &[TaskRow]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in tasks {
        for (label, value) in &t.facts {
            if label == "addresses" {
                for a in value.split(',') {
                    let ip = a.trim().split('/').next().unwrap_or_default();
                    if !ip.is_empty() {
                        out.insert(ip.to_owned(), t.node.clone());
                    }
                }
            }
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
    let fact_cols = [
        ("service", "service"),
        ("hostname", "hostname"),
        ("container id", "container_id"),
        ("networks", "networks"),
        ("addresses", "ip_addresses"),
        ("cpu model", "cpu_model"),
        ("cpus", "cpu_count"),
        ("memory", "mem_total_bytes"),
        ("python", "python_version"),
        ("platform", "platform"),
    ];
    let facts: Vec<(&str, Vec<Option<String>>)> =
        fact_cols.iter().map(|(l, c)| (*l, s(c))).collect();
    let mut out = Vec::new();
    for i in 0..df.height() {
        let state = state[i].clone().unwrap_or_default();
        let error = err[i].clone().unwrap_or_default();
        let restarts = restarts[i].unwrap_or(0);
        let ok_state = matches!(
            state.as_str(),
            "running" | "complete" | "shutdown" | "stopped"
        );
        out.push(TaskRow {
            task: task[i].clone().unwrap_or_default(),
            node: node[i].clone().unwrap_or_default(),
            bad: !ok_state || !error.is_empty() || restarts > 0,
            state,
            restarts,
            started_us: started[i],
            stopped_us: stopped[i],
            error,
            facts: facts
                .iter()
                .filter_map(|(l, v)| {
                    v[i].clone()
                        .filter(|x| !x.is_empty())
                        .map(|x| ((*l).to_owned(), x))
                })
                .collect(),
        });
    }
    out.sort_by(|a, b| a.task.cmp(&b.task));
    Ok(out)
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            total += if path.is_dir() {
                dir_size(&path)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

pub(crate) mod assets {
    //! The site template, compiled in.
    use crate::error::Error;

    macro_rules! st {
        ($p:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../site-template/",
                $p
            ))
        };
    }
    macro_rules! sb {
        ($p:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../site-template/",
                $p
            )) as &[u8]
        };
    }

    /// Files copied as they are into every site.
    pub(crate) const FILES: [(&str, &[u8]); 10] = [
        ("static/style.css", sb!("static/style.css")),
        ("static/app.js", sb!("static/app.js")),
        ("vendor/vega.min.js", sb!("vendor/vega.min.js")),
        ("vendor/vega-lite.min.js", sb!("vendor/vega-lite.min.js")),
        ("vendor/vega-embed.min.js", sb!("vendor/vega-embed.min.js")),
        ("vendor/LICENSE.vega", sb!("vendor/LICENSE.vega")),
        ("vendor/LICENSE.vega-lite", sb!("vendor/LICENSE.vega-lite")),
        (
            "vendor/LICENSE.vega-embed",
            sb!("vendor/LICENSE.vega-embed"),
        ),
        ("vendor/VERSIONS", sb!("vendor/VERSIONS")),
        ("vendor/README.md", sb!("README.md")),
    ];

    const TEMPLATES: [(&str, &str); 9] = [
        ("base.html", st!("templates/base.html")),
        ("macros.html", st!("templates/macros.html")),
        ("index.html", st!("templates/index.html")),
        ("tasks.html", st!("templates/tasks.html")),
        ("task.html", st!("templates/task.html")),
        ("errors.html", st!("templates/errors.html")),
        ("compose.html", st!("templates/compose.html")),
        ("data.html", st!("templates/data.html")),
        ("README.md", st!("README.md")),
    ];

    pub(crate) fn tera() -> Result<tera::Tera, Error> {
        let mut t = tera::Tera::default();
        t.add_raw_templates(
            TEMPLATES
                .iter()
                .filter(|(n, _)| n.ends_with(".html"))
                .copied(),
        )
        .map_err(|e| Error::Template {
            page: "(templates)".into(),
            message: super::error_chain(&e),
        })?;
        t.autoescape_on(vec![".html"]);
        Ok(t)
    }
}
