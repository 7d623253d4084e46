//! The comparison site: a summary page, a page per thing × name × verb, and a sweep page for `wotemu sweep`,
//! in the report's template (same frame, style, offline charts).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::stats::{Change, Estimate};
use super::{pooled, totals, Comparison, GroupRow};
use crate::charts;
use crate::charts::Chart;
use crate::error::Error;
use crate::format;
use crate::site::{dir_size, publish, write_file, Rendered, Writer};
use crate::views::{NavItem, SiteView};

#[derive(Serialize)]
struct RunView {
    label: String,
    baseline: bool,
    report: Option<String>,
    stack: String,
    source: String,
    started: String,
    span: String,
    interactions: String,
    ok: String,
    throughput: String,
    bytes_per_interaction: String,
    incomplete: String,
}

#[derive(Serialize)]
struct DiffView {
    path: String,
    values: Vec<String>,
}

#[derive(Serialize)]
struct GateView {
    gate: String,
    run: String,
    value: String,
    threshold: String,
    violated: bool,
    reason: String,
}

/// A change for people: the text, and whether it is significant and worse or better.
#[derive(Serialize, Default)]
struct ChangeView {
    text: String,
    /// `worse`, `better` or empty (not significant / no test).
    class: &'static str,
}

#[derive(Serialize)]
struct GroupRunView {
    run: String,
    baseline: bool,
    count: String,
    ok: String,
    throughput: String,
    p50: String,
    p95: String,
    p99: String,
    d_p50: ChangeView,
    d_p95: ChangeView,
    d_p99: ChangeView,
    d_ok: ChangeView,
}

#[derive(Serialize)]
struct GroupView {
    label: String,
    href: String,
    significant: bool,
    rows: Vec<GroupRunView>,
}

#[derive(Serialize)]
struct TrafficView {
    run: String,
    packets: String,
    bytes: String,
    per_interaction: String,
    by_proto: Vec<String>,
}

#[derive(Serialize)]
struct NodeView {
    node: String,
    run: String,
    replicas: u64,
    cpu_mean: String,
    cpu_p95: String,
    cpu_limit: String,
    mem_mean: String,
    mem_p95: String,
    mem_limit: String,
    packets: String,
    /// Loss / rate limit / overflow, or `–` for a node that does not shape traffic.
    drops: String,
    restarts: u64,
    failed: u64,
    oom_kills: u64,
    bad: bool,
}

#[derive(Serialize)]
struct IndexView<'a> {
    warnings: &'a [String],
    runs: Vec<RunView>,
    labels: Vec<&'a str>,
    differences: Vec<DiffView>,
    gates: Vec<GateView>,
    groups: Vec<GroupView>,
    protos: Vec<String>,
    traffic: Vec<TrafficView>,
    errors: Vec<(String, Vec<String>)>,
    nodes: Vec<NodeView>,
    tests: usize,
    alpha: f64,
    baseline: &'a str,
    sweep: bool,
}

#[derive(Serialize)]
struct NodeLatencyView {
    node: String,
    run: String,
    count: String,
    p50: String,
    p95: String,
}

#[derive(Serialize)]
struct GroupPageView {
    group: GroupView,
    nodes: Vec<NodeLatencyView>,
    tests: usize,
}

#[derive(Serialize)]
struct SweepView {
    params: Vec<String>,
    points: Vec<(String, Vec<String>, u32)>,
}

fn est(e: &Option<Estimate>) -> String {
    match e {
        None => "–".into(),
        Some(Estimate {
            value,
            lo: Some(lo),
            hi: Some(hi),
        }) => {
            format!(
                "{} [{}–{}]",
                format::ms(Some(*value)),
                format::ms(Some(*lo)),
                format::ms(Some(*hi))
            )
        }
        Some(e) => format!("{} [n too small]", format::ms(Some(e.value))),
    }
}

fn change(c: &Option<Change>, higher_is_worse: bool, rate: bool) -> ChangeView {
    let Some(c) = c else {
        return ChangeView::default();
    };
    let text = if rate {
        format!("{:+.2} pp", c.delta * 100.0)
    } else {
        match c.relative {
            Some(r) => format!("{:+.1} % ({:+} ms)", r * 100.0, format::ms(Some(c.delta))),
            None => format!("{:+} ms", format::ms(Some(c.delta))),
        }
    };
    let class = match (c.significant, (c.delta > 0.0) == higher_is_worse) {
        (false, _) => "",
        (true, true) => "worse",
        (true, false) => "better",
    };
    let text = match class {
        "worse" => format!("{text} ▲ worse"),
        "better" => format!("{text} ▼ better"),
        _ => format!("{text} · n.s."),
    };
    ChangeView { text, class }
}

fn group_label(g: &GroupRow) -> String {
    format!("{} · {} · {}", g.thing, g.name, g.verb)
}

fn group_file(i: usize, g: &GroupRow) -> String {
    let safe: String = format!("{}-{}-{}", g.thing, g.name, g.verb)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("groups/{i}-{safe}.html")
}

/// `to` relative to the folder `from` (both made absolute), for links from the site to each run's report.
fn relative(from: &Path, to: &Path) -> Option<String> {
    Some(wotemu_sys::fs::relative_path(
        &std::path::absolute(from).ok()?,
        &std::path::absolute(to).ok()?,
    ))
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".into(), f)
}

impl Comparison {
    fn group_view(&self, i: usize, g: &GroupRow, root: &str) -> GroupView {
        let rows = g
            .runs
            .iter()
            .zip(&self.runs)
            .enumerate()
            .filter_map(|(k, (f, r))| {
                let f = f.as_ref()?;
                let ch = f.change.clone().unwrap_or_default();
                Some(GroupRunView {
                    run: r.label.clone(),
                    baseline: k == self.baseline,
                    count: format::count(f.count as i64),
                    ok: match f.ok_rate {
                        Some(Estimate {
                            value,
                            lo: Some(lo),
                            hi: Some(hi),
                        }) => {
                            format!(
                                "{:.2} % [{:.2}–{:.2}]",
                                value * 100.0,
                                lo * 100.0,
                                hi * 100.0
                            )
                        }
                        _ => "–".into(),
                    },
                    throughput: opt(f.throughput, |t| format!("{t:.2}/s")),
                    p50: est(&f.p50),
                    p95: est(&f.p95),
                    p99: est(&f.p99),
                    d_p50: change(&ch.p50, true, false),
                    d_p95: change(&ch.p95, true, false),
                    d_p99: change(&ch.p99, true, false),
                    d_ok: change(&ch.ok_rate, false, true),
                })
            })
            .collect();
        GroupView {
            label: group_label(g),
            href: format!("{root}{}", group_file(i, g)),
            significant: g
                .runs
                .iter()
                .flatten()
                .any(|f| f.change.as_ref().is_some_and(|c| c.significant())),
            rows,
        }
    }

    fn index_view(&self, out: &Path) -> IndexView<'_> {
        let labels = self.labels();
        let runs = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (n, ok) = totals(r);
                let report = r.path.join("site/index.html");
                RunView {
                    label: r.label.clone(),
                    baseline: i == self.baseline,
                    report: report.exists().then(|| relative(out, &report)).flatten(),
                    stack: r.manifest.stack.clone(),
                    source: r.manifest.engine().to_owned(),
                    started: r.manifest.started_at.clone().unwrap_or_default(),
                    span: format::duration(r.span_s),
                    interactions: format::count(n as i64),
                    ok: format::percent(ok as i64, n as i64),
                    throughput: if r.span_s > 0.0 {
                        format!("{:.2}/s", n as f64 / r.span_s)
                    } else {
                        "–".into()
                    },
                    bytes_per_interaction: opt(super::bytes_per_interaction(r), |b| {
                        format::bytes(b as i64)
                    }),
                    incomplete: r
                        .manifest
                        .incomplete
                        .as_ref()
                        .map(|i| i.reason.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
        let differences = self
            .differences
            .iter()
            .map(|d| DiffView {
                path: d.path.clone(),
                values: d
                    .values
                    .iter()
                    .map(|v| v.clone().unwrap_or_else(|| "(absent)".into()))
                    .collect(),
            })
            .collect();
        let gates = self
            .verdicts
            .iter()
            .map(|v| GateView {
                gate: v.gate.clone(),
                run: v.run.clone(),
                value: opt(v.value, |x| format!("{x:.4}")),
                threshold: opt(v.threshold, |x| format!("{x:.4}")),
                violated: v.violated,
                reason: v.reason.clone().unwrap_or_default(),
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| self.group_view(i, g, ""))
            .collect();
        let protos: Vec<String> = self
            .runs
            .iter()
            .flat_map(|r| r.bytes_by_proto.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let traffic = self
            .runs
            .iter()
            .map(|r| TrafficView {
                run: r.label.clone(),
                packets: format::count(r.packets as i64),
                bytes: format::bytes(r.bytes as i64),
                per_interaction: opt(super::bytes_per_interaction(r), |b| format::bytes(b as i64)),
                by_proto: protos
                    .iter()
                    .map(|p| {
                        r.bytes_by_proto
                            .get(p)
                            .map_or("–".into(), |b| format::bytes(*b as i64))
                    })
                    .collect(),
            })
            .collect();
        let types: BTreeSet<&String> = self.runs.iter().flat_map(|r| r.errors.keys()).collect();
        let mut errors: Vec<(String, Vec<String>)> = types
            .into_iter()
            .map(|t| {
                (
                    t.clone(),
                    self.runs
                        .iter()
                        .map(|r| format::count(r.errors.get(t).copied().unwrap_or(0) as i64))
                        .collect(),
                )
            })
            .collect();
        if self.runs.iter().any(|r| r.subscription_errors > 0) {
            errors.push((
                "(subscription errors)".into(),
                self.runs
                    .iter()
                    .map(|r| format::count(r.subscription_errors as i64))
                    .collect(),
            ));
        }
        let nodes = self.node_views();
        IndexView {
            warnings: &self.warnings,
            runs,
            labels,
            differences,
            gates,
            groups,
            protos,
            traffic,
            errors,
            nodes,
            tests: self.tests,
            alpha: super::stats::ALPHA,
            baseline: &self.runs[self.baseline].label,
            sweep: self.sweep.is_some(),
        }
    }

    /// Each node's figures in each run (a row per node and run).
    fn node_views(&self) -> Vec<NodeView> {
        let names: BTreeSet<&String> = self.runs.iter().flat_map(|r| r.nodes.keys()).collect();
        let mut nodes = Vec::new();
        for n in names {
            for r in &self.runs {
                let Some(f) = r.nodes.get(n) else { continue };
                let mib = |v: Option<f64>| opt(v, |b| format::bytes(b as i64));
                let pct = |v: Option<f64>| opt(v, |c| format!("{c:.1} %"));
                nodes.push(NodeView {
                    node: n.clone(),
                    run: r.label.clone(),
                    replicas: f.replicas,
                    cpu_mean: pct(f.cpu_mean),
                    cpu_p95: pct(f.cpu_p95),
                    cpu_limit: pct(f.cpu_limit),
                    mem_mean: mib(f.mem_mean),
                    mem_p95: mib(f.mem_p95),
                    mem_limit: mib(f.mem_limit),
                    packets: format::count(f.packets as i64),
                    drops: match (f.dropped_loss, f.dropped_rate, f.dropped_overflow) {
                        (Some(l), Some(r), Some(o)) => format!(
                            "{} / {} / {}",
                            format::count(l as i64),
                            format::count(r as i64),
                            format::count(o as i64)
                        ),
                        _ => "–".into(),
                    },
                    restarts: f.restarts,
                    failed: f.failed,
                    oom_kills: f.oom_kills,
                    bad: f.restarts + f.failed + f.oom_kills > 0,
                });
            }
        }
        nodes
    }

    fn index_charts(&self) -> Vec<Chart> {
        let mut cells = Vec::new();
        for (i, g) in self.groups.iter().enumerate().take(60) {
            for (k, f) in g.runs.iter().enumerate() {
                if k == self.baseline {
                    continue;
                }
                let label = group_label(g);
                let col = self.runs[k].label.clone();
                let href = group_file(i, g);
                let Some(ch) = f.as_ref().and_then(|f| f.change.as_ref()) else {
                    cells.push((label, col, None, "no data".to_owned(), href));
                    continue;
                };
                // The most telling significant change: p95, else p50, else p99, else the success rate.
                let pick = [("p95", &ch.p95), ("p50", &ch.p50), ("p99", &ch.p99)]
                    .into_iter()
                    .find(|(_, c)| c.is_some_and(|c| c.significant));
                let (v, text) = match pick {
                    Some((name, Some(c))) => (
                        c.relative,
                        format!("{name} {:+.0} %", c.relative.unwrap_or(0.0) * 100.0),
                    ),
                    _ => match ch.ok_rate.filter(|c| c.significant) {
                        Some(c) => (Some(-c.delta), format!("ok {:+.1} pp", c.delta * 100.0)),
                        None => (None, "·".to_owned()),
                    },
                };
                cells.push((label, col, v, text, href));
            }
        }
        let mut out = vec![Chart {
            id: "c-changes".into(),
            title: "Significant changes against the baseline".into(),
            note: "per thing · name · verb: the p95 change (else p50, p99, success rate) when significant; · when not. Click a cell for the detail".into(),
            spec: charts::changes("", &cells),
        }];
        let mut points = Vec::new();
        for g in self.groups.iter().take(25) {
            for (f, r) in g.runs.iter().zip(&self.runs) {
                if let Some(e) = f.as_ref().and_then(|f| f.p95) {
                    points.push((group_label(g), r.label.clone(), e.value, e.lo, e.hi));
                }
            }
        }
        out.push(Chart {
            id: "c-p95".into(),
            title: "p95 latency with its 95 % interval, per run".into(),
            note: "the 25 most used thing · name · verb; log scale".into(),
            spec: charts::intervals("", "p95 latency (ms)", &points),
        });
        out
    }

    fn group_page(&self, i: usize, g: &GroupRow) -> (GroupPageView, Vec<Chart>) {
        let key = (g.thing.clone(), g.name.clone(), g.verb.clone());
        let per_line = (charts::MAX_POINTS / self.runs.len().max(1)).min(super::ECDF_POINTS);
        let mut ecdf = Vec::new();
        let mut ci = Vec::new();
        let mut nodes = Vec::new();
        for (f, r) in g.runs.iter().zip(&self.runs) {
            let lat = pooled(r, &key);
            for (v, p) in super::stats::ecdf(&lat, per_line) {
                ecdf.push((r.label.clone(), v, p));
            }
            if let Some(f) = f {
                for (name, e) in [("p50", f.p50), ("p95", f.p95), ("p99", f.p99)] {
                    if let Some(e) = e {
                        ci.push((name.to_owned(), r.label.clone(), e.value, e.lo, e.hi));
                    }
                }
            }
            if let Some(by_node) = r.samples.get(&key) {
                for (node, s) in by_node {
                    nodes.push(NodeLatencyView {
                        node: node.clone(),
                        run: r.label.clone(),
                        count: format::count(s.count as i64),
                        p50: est(&super::stats::quantile(&s.latencies, 0.5)),
                        p95: est(&super::stats::quantile(&s.latencies, 0.95)),
                    });
                }
            }
        }
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        let charts = vec![
            Chart {
                id: "c-ecdf".into(),
                title: "Latency distribution (ECDF), one line per run".into(),
                note: format!("every interaction with a latency, at most {per_line} points per run; log scale"),
                spec: charts::ecdf("", "latency (ms)", &ecdf),
            },
            Chart {
                id: "c-ci".into(),
                title: "p50, p95 and p99 with their 95 % intervals".into(),
                note: "distribution-free intervals from order statistics; none where the sample is too small".into(),
                spec: charts::intervals("", "latency (ms)", &ci),
            },
        ];
        (
            GroupPageView {
                group: self.group_view(i, g, "../"),
                nodes,
                tests: self.tests,
            },
            charts,
        )
    }

    fn sweep_charts(&self) -> Vec<Chart> {
        let Some(sw) = &self.sweep else {
            return Vec::new();
        };
        // Headline figures: (title, unit, value of run k).
        type Fig<'a> = (String, &'static str, Box<dyn Fn(usize) -> Option<f64> + 'a>);
        let mut figs: Vec<Fig<'_>> = Vec::new();
        for g in self.groups.iter().take(4) {
            for (q, name) in [(0.5, "p50"), (0.95, "p95")] {
                let key = (g.thing.clone(), g.name.clone(), g.verb.clone());
                figs.push((
                    format!("{name} latency · {}", group_label(g)),
                    "ms",
                    Box::new(move |k: usize| {
                        let v = pooled(&self.runs[k], &key);
                        (!v.is_empty()).then(|| super::stats::linear(&v, q))
                    }),
                ));
            }
        }
        figs.push((
            "error rate (all client interactions)".into(),
            "%",
            Box::new(|k: usize| {
                let (n, ok) = totals(&self.runs[k]);
                (n > 0).then(|| (n - ok) as f64 * 100.0 / n as f64)
            }),
        ));
        figs.push((
            "throughput (all client interactions)".into(),
            "interactions/s",
            Box::new(|k: usize| {
                let r = &self.runs[k];
                (r.span_s > 0.0).then(|| totals(r).0 as f64 / r.span_s)
            }),
        ));
        let nodes: BTreeSet<&String> = self
            .runs
            .iter()
            .flat_map(|r| {
                r.nodes
                    .iter()
                    .filter(|(_, f)| !f.cpu.is_empty())
                    .map(|(n, _)| n)
            })
            .collect();
        for n in nodes.into_iter().take(6) {
            let n2 = n.clone();
            figs.push((
                format!("mean CPU · node {n}"),
                "% of one core",
                Box::new(move |k: usize| self.runs[k].nodes.get(&n2)?.cpu_mean),
            ));
            let n3 = n.clone();
            figs.push((
                format!("mean memory · node {n}"),
                "MiB",
                Box::new(move |k: usize| {
                    Some(self.runs[k].nodes.get(&n3)?.mem_mean? / 1_048_576.0)
                }),
            ));
        }
        // Parameters with one value are the same in every run: nothing to draw against them, nothing to tell
        // the lines apart by.
        let varied: Vec<bool> = (0..sw.params.len())
            .map(|pi| {
                sw.points
                    .iter()
                    .map(|(v, _)| &v[pi])
                    .collect::<BTreeSet<_>>()
                    .len()
                    > 1
            })
            .collect();
        let mut out = Vec::new();
        for (pi, param) in sw.params.iter().enumerate().filter(|(pi, _)| varied[*pi]) {
            let mut order: Vec<String> = Vec::new();
            for (values, _) in &sw.points {
                if !order.contains(&values[pi]) {
                    order.push(values[pi].clone());
                }
            }
            for (fi, (title, unit, f)) in figs.iter().enumerate() {
                // (x, others) → values of the repeats.
                let mut cells: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
                for (k, (values, _)) in sw.points.iter().enumerate() {
                    let others: Vec<String> = sw
                        .params
                        .iter()
                        .zip(values)
                        .enumerate()
                        .filter(|(j, _)| *j != pi && varied[*j])
                        .map(|(_, (p, v))| format!("{}={v}", p.rsplit('.').next().unwrap_or(p)))
                        .collect();
                    let series = if others.is_empty() {
                        "all".to_owned()
                    } else {
                        others.join(" ")
                    };
                    if let Some(v) = f(k) {
                        cells
                            .entry((values[pi].clone(), series))
                            .or_default()
                            .push(v);
                    }
                }
                let rows: Vec<(String, String, f64, f64, f64)> = cells
                    .into_iter()
                    .map(|((x, s), v)| {
                        let mean = v.iter().sum::<f64>() / v.len() as f64;
                        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        (x, s, mean, lo, hi)
                    })
                    .collect();
                out.push(Chart {
                    id: format!("s-{pi}-{fi}"),
                    title: format!("{title} against {param}"),
                    note: "mean of the repeats; bars: their min–max".into(),
                    spec: charts::sweep("", param, unit, &order, &rows),
                });
            }
        }
        out
    }

    /// The number of pages [`Comparison::render`] writes.
    pub fn page_count(&self) -> usize {
        1 + self.groups.len() + usize::from(self.sweep.is_some())
    }

    /// Writes the comparison site into `out` (atomically, as a report).
    pub fn render(&self, out: &Path) -> Result<Rendered, Error> {
        let _span = tracing::info_span!("compare_render", out = %out.display()).entered();
        let mut rendered = publish(out, |staging| self.render_into(staging, out))?;
        rendered.out = out.to_owned();
        Ok(rendered)
    }

    fn render_into(&self, dir: &Path, out: &Path) -> Result<Rendered, Error> {
        for (name, bytes) in crate::assets::FILES {
            write_file(&dir.join(name), bytes)?;
        }
        write_file(&dir.join(".nojekyll"), b"")?;
        let mut nav = vec![NavItem {
            href: "index.html",
            label: "Comparison",
        }];
        if self.sweep.is_some() {
            nav.push(NavItem {
                href: "sweep.html",
                label: "Sweep",
            });
        }
        let w = Writer::new(
            dir,
            SiteView {
                title: self.title.clone(),
                stack: "",
                base_url: self
                    .base_url
                    .as_deref()
                    .map(|u| format!("{}/", u.trim_end_matches('/'))),
                version: env!("CARGO_PKG_VERSION"),
                span: format!(
                    "{} runs, baseline {}",
                    self.runs.len(),
                    self.runs[self.baseline].label
                ),
                nav,
            },
        )?;
        w.page(
            "index.html",
            "compare.html",
            "compare",
            &self.index_view(out),
            self.index_charts(),
        )?;
        for (i, g) in self.groups.iter().enumerate() {
            let (view, charts) = self.group_page(i, g);
            w.page(
                &group_file(i, g),
                "compare_group.html",
                "page",
                &view,
                charts,
            )?;
        }
        if let Some(sw) = &self.sweep {
            let view = SweepView {
                params: sw.params.clone(),
                points: self
                    .runs
                    .iter()
                    .zip(&sw.points)
                    .map(|(r, (v, k))| (r.label.clone(), v.clone(), *k))
                    .collect(),
            };
            w.page(
                "sweep.html",
                "sweep.html",
                "sweep",
                &view,
                self.sweep_charts(),
            )?;
        }
        let json =
            serde_json::to_vec_pretty(&self.json()).map_err(|e| Error::Compare(e.to_string()))?;
        write_file(&dir.join("compare.json"), &json)?;
        let (pages, charts) = w.finish()?;
        Ok(Rendered {
            out: dir.to_owned(),
            pages,
            charts,
            bytes: dir_size(dir),
        })
    }
}
