//! Each page's view and charts, from the [`Report`]'s aggregates (and, for per-task charts, lazy scans
//! filtered to the task).

use std::collections::BTreeMap;

use polars::prelude::*;
use wotemu_contract::table::Table;
use wotemu_contract::time_util::us_to_rfc3339;

use crate::aggregate::{self, LatencyRow};
use crate::charts;
use crate::charts::{safe_file_name, task_file, Chart};
use crate::error::Error;
use crate::format;
use crate::frames::{f64s, scan, strs};
use crate::load::{Report, TaskRow};
use crate::views::*;

fn ms_rows(rows: Vec<(i64, String, f64)>) -> Vec<(f64, String, f64)> {
    rows.into_iter()
        .map(|(t, s, v)| (t as f64 / 1000.0, s, v))
        .collect()
}

/// p95 latency per window and `series` (at most [`LATENCY_TIME_POINTS`] points: the window grows with the
/// number of series), and the window's length in seconds.
fn latency_over_time(lf: LazyFrame, win: i64) -> Result<(WindowRows, i64), Error> {
    let mut width = win;
    loop {
        let rows = aggregate::window_latency(lf.clone(), "series", 0.95, width)?;
        if rows.len() <= LATENCY_TIME_POINTS || width >= 3_600_000_000 {
            return Ok((rows, width / 1_000_000));
        }
        width *= (rows.len() / LATENCY_TIME_POINTS + 1) as i64;
    }
}

/// (window start µs, series, value) rows.
type WindowRows = Vec<(i64, String, f64)>;

/// The most points of a latency-over-time chart.
const LATENCY_TIME_POINTS: usize = 1000;

/// Past this many tasks the tasks page's timeline has a bar per node (thousands of bars cannot be read).
const TIMELINE_TASKS: usize = 200;

/// Past this many tasks the summary's memory and CPU rankings are per node (a bar per task stops being
/// readable); the tasks page lists every replica.
const SUMMARY_TASKS: usize = 30;

fn latency_view(r: &LatencyRow) -> LatencyView<'_> {
    LatencyView {
        thing: &r.thing,
        name: &r.name,
        verb: &r.verb,
        count: r.count,
        errors: r.errors,
        error_pct: format::percent(r.errors, r.count),
        p50: format::ms(r.p50),
        p95: format::ms(r.p95),
        p99: format::ms(r.p99),
        max: format::ms(r.max),
    }
}

impl Report {
    /// The frame of every page.
    pub(crate) fn site_view(&self) -> SiteView<'_> {
        let span = match self.span {
            (Some(a), Some(b)) => format!(
                "{} → {} ({})",
                us_to_rfc3339(a),
                us_to_rfc3339(b),
                format::duration((b - a) as f64 / 1e6)
            ),
            _ => "no records".into(),
        };
        SiteView {
            title: self
                .opts
                .title
                .clone()
                .unwrap_or_else(|| format!("wotemu report · {}", self.manifest.stack)),
            stack: &self.manifest.stack,
            base_url: self
                .opts
                .base_url
                .as_deref()
                .map(|u| format!("{}/", u.trim_end_matches('/'))),
            version: env!("CARGO_PKG_VERSION"),
            span,
            nav: vec![
                NavItem {
                    href: "index.html",
                    label: "Summary",
                },
                NavItem {
                    href: "tasks.html",
                    label: "Tasks",
                },
                NavItem {
                    href: "errors.html",
                    label: "Errors",
                },
                NavItem {
                    href: "networks.html",
                    label: "Networks",
                },
                NavItem {
                    href: "hosts.html",
                    label: "Hosts",
                },
                NavItem {
                    href: "scenario.html",
                    label: "Scenario",
                },
                NavItem {
                    href: "compose.html",
                    label: "Topology",
                },
                NavItem {
                    href: "data.html",
                    label: "Data",
                },
            ],
        }
    }

    pub(crate) fn summary_view(&self) -> SummaryView<'_> {
        let consumed: Vec<&LatencyRow> = self
            .latency
            .iter()
            .filter(|r| r.side == "consumed")
            .collect();
        // The error rate is what clients saw fail (a failed read shows on both sides when the server
        // raised; a timeout only on the client's).
        let (calls, failed) = consumed
            .iter()
            .fold((0, 0), |(n, e), r| (n + r.count, e + r.errors));
        let p95_reads = consumed
            .iter()
            .filter(|r| r.verb == "readproperty")
            .filter_map(|r| r.p95)
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
        let length = match self.span {
            (Some(a), Some(b)) => format::duration((b - a) as f64 / 1e6),
            _ => "–".into(),
        };
        let count = |t: Table| self.counts.get(&t).copied().unwrap_or(0);
        let mut cards = vec![
            Card {
                label: "run length",
                value: length,
            },
            Card {
                label: "tasks",
                value: format::count(self.tasks.len() as i64),
            },
            Card {
                label: "client interactions",
                value: format::count(calls),
            },
            Card {
                label: "client error rate",
                value: format::percent(failed, calls),
            },
        ];
        if let Some(p) = p95_reads {
            cards.push(Card {
                label: "read p95 (worst thing), ms",
                value: format::ms(Some(p)),
            });
        }
        cards.extend([
            Card {
                label: "packets",
                value: format::count(count(Table::Packets)),
            },
            Card {
                label: "bytes on the wire",
                value: format::bytes(self.packet_bytes),
            },
        ]);
        let talkers = self
            .talkers
            .iter()
            .take(10)
            .map(|t| {
                let (bytes_in, bytes_out) = self.in_out(&t.task);
                let h = |b: Option<i64>| b.map(format::bytes).unwrap_or_else(|| "–".into());
                TalkerView {
                    task: &t.task,
                    href: task_file(&t.task),
                    packets: t.packets,
                    bytes: t.bytes,
                    bytes_h: format::bytes(t.bytes),
                    bytes_out,
                    bytes_out_h: h(bytes_out),
                    bytes_in,
                    bytes_in_h: h(bytes_in),
                }
            })
            .collect();
        let num = |v: f64| {
            if v.abs() >= 1000.0 || v == v.trunc() {
                format!("{v:.0}")
            } else {
                format!("{v:.4}")
            }
        };
        let app_metrics = self
            .app_stats
            .iter()
            .map(|a| AppMetricView {
                key: &a.key,
                field: &a.field,
                node: &a.node,
                count: format::count(a.count as i64),
                mean: num(a.mean),
                p50: num(a.p50),
                p95: num(a.p95),
                max: num(a.max),
            })
            .collect();
        SummaryView {
            app_metrics,
            cards,
            consumed: consumed.into_iter().map(latency_view).collect(),
            exposed: self
                .latency
                .iter()
                .filter(|r| r.side != "consumed")
                .map(latency_view)
                .collect(),
            talkers,
            problem_tasks: self
                .tasks
                .iter()
                .filter(|t| t.bad)
                .map(|t| self.task_row(t))
                .collect(),
            incidents: self
                .timeline
                .iter()
                .map(|e| IncidentView {
                    time: us_to_rfc3339(e.time_us),
                    kind: &e.kind,
                    target: &e.target,
                    outcome: &e.outcome,
                    error: &e.error,
                    detail: &e.detail,
                    sentence: crate::incident::sentence(
                        &e.kind, &e.target, &e.outcome, &e.error, &e.detail,
                    ),
                })
                .collect(),
            incomplete: self.manifest.incomplete.as_ref().map(|i| i.reason.as_str()),
            fidelity: self.fidelity_views(),
            overload: self.overload_view(),
        }
    }

    pub(crate) fn summary_charts(&self) -> Result<Vec<Chart>, Error> {
        let dir = &self.opts.dataset;
        let mut out = Vec::new();
        let win = self.window_us;
        let secs = win / 1_000_000;
        if let Some(lf) = scan(dir, Table::Interactions)? {
            // What clients saw, over time: ok and failed consumed interactions.
            let lf = lf.filter(col("side").eq(lit("consumed"))).with_column(
                when(col("ok"))
                    .then(lit("ok"))
                    .otherwise(lit("error"))
                    .alias("outcome"),
            );
            let rows =
                aggregate::window_sums(lf, aggregate::ones(), "outcome", win, Table::Interactions)?;
            out.push(Chart {
                id: "c-interactions".into(),
                title: "Client interactions over time".into(),
                note: format!("consumed side, ok and failed, per {secs} s window"),
                spec: charts::with_rules(
                    charts::time_lines("Interactions", "interactions per window", &ms_rows(rows)),
                    &self.all_rules(),
                ),
            });
        }
        if let Some(lf) = scan(dir, Table::Interactions)? {
            let lf = lf.filter(col("side").eq(lit("consumed"))).with_column(
                (col("thing") + lit(" · ") + col("name") + lit(" · ") + col("verb"))
                    .alias("series"),
            );
            let (rows, secs) = latency_over_time(lf, win)?;
            if !rows.is_empty() {
                out.push(Chart {
                    id: "c-latency-time".into(),
                    title: "Client latency over time".into(),
                    note: format!(
                        "p95 per {secs} s window by thing · name · verb, consumed side; dotted rules: changes of a network's conditions"
                    ),
                    spec: charts::with_rules(
                        charts::time_lines("Latency p95", "ms", &ms_rows(rows)),
                        &self.all_rules(),
                    ),
                });
            }
        }
        if let Some(lf) = scan(dir, Table::Packets)? {
            let rows =
                aggregate::window_sums(lf.clone(), col("len"), "proto", win, Table::Packets)?;
            out.push(Chart {
                id: "c-traffic".into(),
                title: "Traffic by protocol".into(),
                note: format!("bytes per {secs} s window, all tasks"),
                spec: charts::time_lines("Traffic", "bytes per window", &ms_rows(rows)),
            });
            let rows = aggregate::window_sums(lf, col("len"), "iface", win, Table::Packets)?;
            out.push(Chart {
                id: "c-networks".into(),
                title: "Traffic per network".into(),
                note: format!(
                    "bytes per {secs} s window by interface (wotemu run names interfaces after their network)"
                ),
                spec: charts::time_lines("Traffic per network", "bytes per window", &ms_rows(rows)),
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
        if let Some(stats) = self.system_stats()? {
            out.extend(self.resource_charts(stats));
        }
        // The apps' own metrics: one chart per key · field, a line per node.
        let mut series: Vec<(&str, &str)> = self
            .app_stats
            .iter()
            .map(|a| (a.key.as_str(), a.field.as_str()))
            .collect();
        series.dedup();
        for (i, (key, field)) in series.into_iter().enumerate() {
            let pts = self
                .app_points
                .iter()
                .filter(|p| p.key == key && p.field == field);
            let rows = crate::app::windowed(pts, win, |p| p.node.clone());
            let title = format!("{key} · {field}");
            out.push(Chart {
                id: format!("c-app-{i}"),
                title: format!("App metric {title}"),
                note: format!("mean per {secs} s window, per node (`write_metric(\"{key}\", …)`)"),
                spec: charts::time_lines(&title, field, &rows),
            });
        }
        Ok(out)
    }

    /// The memory and CPU rankings (per task, or per node past `SUMMARY_TASKS` tasks).
    fn resource_charts(&self, stats: &crate::load::SystemStats) -> Vec<Chart> {
        let mut charts_out = Vec::new();
        let (mem, cpu) = (&stats.mem, &stats.cpu);
        // Per task: the most memory it held, its mean CPU; per node past SUMMARY_TASKS tasks (its
        // replicas' highest peak and mean CPU), each node linking to its replicas on the tasks page.
        let node_of: BTreeMap<&str, &str> = self
            .tasks
            .iter()
            .map(|t| (t.task.as_str(), t.node.as_str()))
            .collect();
        let by_node = self.tasks.len() > SUMMARY_TASKS;
        let mut mem_rows = Vec::new();
        let mut cpu_rows = Vec::new();
        // node → (replicas, highest peak MiB, CPU sum)
        let mut nodes: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
        let (task, max) = (strs(mem, "task"), f64s(mem, "max"));
        for (t, m) in task.into_iter().zip(max) {
            if let (Some(t), Some(m)) = (t, m) {
                if by_node {
                    let node = node_of.get(t.as_str()).copied().unwrap_or(t.as_str());
                    let e = nodes.entry(node.to_owned()).or_default();
                    e.0 += 1;
                    e.1 = e.1.max(m / 1_048_576.0);
                } else {
                    mem_rows.push((t.clone(), m / 1_048_576.0, Some(task_file(&t))));
                }
            }
        }
        let (task, mean) = (strs(cpu, "task"), f64s(cpu, "mean"));
        for (t, c) in task.into_iter().zip(mean) {
            let (Some(t), Some(c)) = (t, c) else { continue };
            if by_node {
                let node = node_of.get(t.as_str()).copied().unwrap_or(t.as_str());
                nodes.entry(node.to_owned()).or_default().2 += c;
                continue;
            }
            let model = self
                .tasks
                .iter()
                .find(|x| x.task == t)
                .and_then(|x| x.cpu_model.clone());
            let label = match &model {
                Some(m) => format!("{t} ({m})"),
                None => t.clone(),
            };
            cpu_rows.push((label, c, Some(task_file(&t))));
        }
        for (node, (n, peak, cpu)) in &nodes {
            let label = format!("{node} ({n} replica{})", if *n == 1 { "" } else { "s" });
            let href = Some(format!("tasks.html#node-{}", safe_file_name(node)));
            mem_rows.push((label.clone(), *peak, href.clone()));
            cpu_rows.push((label, cpu / (*n).max(1) as f64, href));
        }
        let per = if by_node { "node" } else { "task" };
        charts_out.push(Chart {
        id: "c-mem".into(),
        title: "Memory ranking".into(),
        note: if by_node {
            "peak MiB per node: the most any of its replicas held (click a node for its replicas)".into()
        } else {
            "peak MiB per task".into()
        },
        spec: charts::ranking("Peak memory", "MiB", &mem_rows),
    });
        charts_out.push(Chart {
            id: "c-cpu".into(),
            title: format!("CPU usage per {per}"),
            note: if by_node {
                "mean % of one CPU of a node's replicas (click a node for its replicas)".into()
            } else {
                "mean % of one CPU, with the CPU model".into()
            },
            spec: charts::ranking("Mean CPU", "% CPU", &cpu_rows),
        });
        charts_out
    }

    /// Rules for every change of conditions and scenario event.
    fn all_rules(&self) -> Vec<(f64, String)> {
        let mut r = self.change_rules(None);
        r.extend(self.scenario_rules(None));
        r
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

    pub(crate) fn task_row<'a>(&self, t: &'a TaskRow) -> TaskRowView<'a> {
        TaskRowView {
            task: &t.task,
            href: task_file(&t.task),
            node: &t.node,
            state: &t.state,
            restarts: t.restarts,
            bad: t.bad,
            error: &t.error,
            started_at: t.started_us.map(us_to_rfc3339).unwrap_or_default(),
            stopped_at: t.stopped_us.map(us_to_rfc3339).unwrap_or_default(),
            anchor: None,
        }
    }

    /// The tasks page's rows; a node's first row is the anchor (`#node-<node>`) the summary links to.
    pub(crate) fn tasks_view(&self) -> Vec<TaskRowView<'_>> {
        let mut seen = std::collections::BTreeSet::new();
        self.tasks
            .iter()
            .map(|t| {
                let mut v = self.task_row(t);
                if seen.insert(t.node.as_str()) {
                    v.anchor = Some(format!("node-{}", safe_file_name(&t.node)));
                }
                v
            })
            .collect()
    }

    pub(crate) fn tasks_charts(&self) -> Vec<Chart> {
        let end = self.span.1.unwrap_or(0);
        let by_node = self.tasks.len() > TIMELINE_TASKS;
        // (label, start ms, end ms, state, href); past TIMELINE_TASKS tasks a bar per node, from its first
        // replica's start to its last one's end, marked failed when any replica was.
        let mut rows: Vec<(String, f64, f64, String, String)> = Vec::new();
        let mut nodes: BTreeMap<&str, (usize, f64, f64, bool)> = BTreeMap::new();
        for t in &self.tasks {
            let Some(a) = t.started_us.or(self.span.0) else {
                continue;
            };
            let b = t.stopped_us.unwrap_or(end).max(a);
            let (a, b) = (a as f64 / 1000.0, b as f64 / 1000.0);
            if by_node {
                let e = nodes.entry(&t.node).or_insert((0, a, b, false));
                *e = (e.0 + 1, e.1.min(a), e.2.max(b), e.3 || t.bad);
            } else {
                rows.push((t.task.clone(), a, b, t.state.clone(), task_file(&t.task)));
            }
        }
        for (node, (n, a, b, bad)) in nodes {
            rows.push((
                format!("{node} ({n} replica{})", if n == 1 { "" } else { "s" }),
                a,
                b,
                if bad { "some failed" } else { "running" }.into(),
                format!("tasks.html#node-{}", safe_file_name(node)),
            ));
        }
        vec![Chart {
            id: "c-timeline".into(),
            title: "Task timeline".into(),
            note: if by_node {
                "a bar per node, from its first replica's start to its last one's end; click a node for its replicas".into()
            } else {
                "click a task to open it".into()
            },
            spec: charts::timeline("Tasks", &rows),
        }]
    }

    pub(crate) fn task_view<'a>(
        &self,
        t: &'a TaskRow,
        d: &'a crate::task_pages::TaskData,
    ) -> TaskView<'a> {
        let mut facts = vec![
            Fact {
                label: "node".into(),
                value: t.node.clone(),
            },
            Fact {
                label: "state".into(),
                value: t.state.clone(),
            },
        ];
        if !t.error.is_empty() {
            facts.push(Fact {
                label: "error".into(),
                value: t.error.clone(),
            });
        }
        facts.extend(t.facts.iter().map(|(l, v)| Fact {
            label: l.clone(),
            value: v.clone(),
        }));
        TaskView {
            task: &t.task,
            facts,
            logs_truncated: (d.log_count as usize) > d.logs.len(),
            logs: &d.logs,
            log_count: d.log_count,
        }
    }

    pub(crate) fn errors_view(&self) -> Vec<ErrorView<'_>> {
        self.errors
            .iter()
            .map(|e| ErrorView {
                error_type: &e.error_type,
                error_message: &e.error_message,
                thing: &e.thing,
                name: &e.name,
                verb: &e.verb,
                count: e.count,
                tasks: e.tasks,
                first_seen: us_to_rfc3339(e.first_us),
                last_seen: us_to_rfc3339(e.last_us),
            })
            .collect()
    }

    pub(crate) fn event_errors_view(&self) -> Vec<EventErrorView> {
        self.event_errors
            .iter()
            .map(|e| EventErrorView {
                error_type: e.error_type.clone(),
                error_message: e.error_message.clone(),
                thing: e.thing.clone(),
                name: e.name.clone(),
                count: e.count,
                tasks: e.tasks,
                first_seen: us_to_rfc3339(e.first_us),
                last_seen: us_to_rfc3339(e.last_us),
            })
            .collect()
    }

    pub(crate) fn topology_view(&self) -> TopologyView<'_> {
        TopologyView {
            topology: self.manifest.topology.as_deref(),
            compose: self.manifest.compose.as_deref(),
        }
    }

    pub(crate) fn data_view(&self, tables: Vec<DownloadView>) -> DataView {
        let a = &self.manifest.accounting.totals;
        let accounting = [
            ("records produced", a.records_produced),
            ("… in the dataset", a.records_written),
            (
                "… dropped by their producers (full buffers or spool)",
                a.records_dropped_by_agent,
            ),
            (
                "… rejected (entries that could not be read)",
                a.records_rejected,
            ),
            (
                "… missing (batches that never reached Redis)",
                a.records_missing,
            ),
            ("records read by the collector", a.records_read),
            ("duplicates skipped (replayed batches)", a.records_duplicate),
            ("entries rejected", a.entries_rejected),
            ("batches missing", a.seq_missing),
            (
                "tasks without their final report (killed)",
                a.without_final_report,
            ),
        ]
        .into_iter()
        .map(|(l, v)| Fact {
            label: l.into(),
            value: format::count(v as i64),
        })
        .collect();
        let m = &self.manifest;
        DataView {
            tables,
            accounting,
            balanced: a.balanced(),
            losses: m.losses(),
            incomplete: m.incomplete.as_ref().map(|i| match &i.at {
                Some(at) => format!("{} (at {at})", i.reason),
                None => i.reason.clone(),
            }),
        }
    }
}
