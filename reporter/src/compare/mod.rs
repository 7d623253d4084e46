//! `wotemu compare`: 2 to N run datasets side by side, against a baseline, with the significance of every
//! change, and regression gates (`--fail-if`). `wotemu sweep` adds a sweep page.
//!
//! [`Comparison::load`] reads each dataset ([`load`]), computes every figure with its 95 % interval
//! ([`stats`]), tests every change against the baseline and corrects the tests together (Holm); the site
//! ([`site`]) and `--json` ([`Comparison::json`]) show the same figures.

pub mod gate;
pub mod load;
mod site;
pub mod stats;
pub mod topo;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

pub use gate::{Gate, Verdict};
pub use load::{GroupKey, NodeFigures, RunData, Sample};
use stats::{Change, Estimate};

use crate::error::Error;

/// The version of `wotemu compare --json`'s document; it changes only when a key changes meaning or goes.
pub const JSON_SCHEMA: u32 = 1;

/// How many latency points an ECDF line carries (a chart of N runs stays under the 5,000-point budget).
const ECDF_POINTS: usize = 400;

/// What to compare.
pub struct CompareOptions {
    pub runs: Vec<PathBuf>,
    /// Index into `runs` of the baseline.
    pub baseline: usize,
    pub title: Option<String>,
    pub base_url: Option<String>,
    pub gates: Vec<Gate>,
    /// Set by `wotemu sweep`: the swept parameters and each run's values.
    pub sweep: Option<SweepInfo>,
}

/// The runs of `wotemu compare RUN…`, and which is the baseline: the first, or `baseline` (one of them, or
/// another run put first). At least two, each a dataset.
pub fn with_baseline(
    mut runs: Vec<PathBuf>,
    baseline: Option<&std::path::Path>,
) -> Result<(Vec<PathBuf>, usize), Error> {
    let same = |a: &std::path::Path, b: &std::path::Path| match (
        std::fs::canonicalize(a),
        std::fs::canonicalize(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let i = match baseline {
        None => 0,
        Some(b) => match runs.iter().position(|r| same(r, b)) {
            Some(i) => i,
            None => {
                runs.insert(0, b.to_owned());
                0
            }
        },
    };
    if runs.len() < 2 {
        return Err(Error::Compare(format!(
            "give at least two run datasets to compare (got {})",
            runs.len()
        )));
    }
    for r in &runs {
        if !r.join("manifest.json").exists() {
            return Err(Error::Compare(format!(
                "{} is not a run dataset (no manifest.json); give the folder `wotemu run --out` or `wotemu collect --out` wrote",
                r.display()
            )));
        }
    }
    Ok((runs, i))
}

/// The parameters of a sweep and where each run sits in it.
#[derive(Debug, Clone, Serialize)]
pub struct SweepInfo {
    /// The `--set` paths, in order.
    pub params: Vec<String>,
    /// Per run (same order as the runs): the value of each parameter, and the repeat (1-based).
    pub points: Vec<(Vec<String>, u32)>,
}

/// One group's figures in one run.
#[derive(Debug, Clone, Serialize)]
pub struct GroupFigures {
    pub count: u64,
    pub ok: u64,
    pub ok_rate: Option<Estimate>,
    pub p50: Option<Estimate>,
    pub p95: Option<Estimate>,
    pub p99: Option<Estimate>,
    pub mean: Option<f64>,
    /// Interactions per second over the run's span.
    pub throughput: Option<f64>,
    /// Against the baseline (absent in the baseline itself, or when the baseline has no such group).
    pub change: Option<GroupChange>,
}

/// The changes of one group's figures against the baseline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupChange {
    pub p50: Option<Change>,
    pub p95: Option<Change>,
    pub p99: Option<Change>,
    pub ok_rate: Option<Change>,
}

impl GroupChange {
    fn all_mut(&mut self) -> [&mut Option<Change>; 4] {
        [
            &mut self.p50,
            &mut self.p95,
            &mut self.p99,
            &mut self.ok_rate,
        ]
    }
    /// Whether any figure changed significantly.
    pub fn significant(&self) -> bool {
        [&self.p50, &self.p95, &self.p99, &self.ok_rate]
            .iter()
            .any(|c| c.is_some_and(|c| c.significant))
    }
}

/// One thing × name × verb across the runs.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub thing: String,
    pub name: String,
    pub verb: String,
    /// One per run (`None`: no such interaction in that run).
    pub runs: Vec<Option<GroupFigures>>,
}

/// The comparison: every figure of every run, the changes, the gates' verdicts.
pub struct Comparison {
    pub(crate) runs: Vec<RunData>,
    pub(crate) baseline: usize,
    pub(crate) groups: Vec<GroupRow>,
    pub(crate) differences: Vec<topo::Difference>,
    pub(crate) warnings: Vec<String>,
    pub(crate) verdicts: Vec<Verdict>,
    pub(crate) tests: usize,
    pub(crate) title: String,
    pub(crate) base_url: Option<String>,
    pub(crate) sweep: Option<SweepInfo>,
}

/// Unique labels for the runs: each folder's name, with its parent when two share a name.
fn labels(runs: &[PathBuf]) -> Vec<String> {
    let name = |p: &PathBuf, parents: usize| {
        let parts: Vec<String> = p
            .components()
            .rev()
            .take(parents + 1)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        parts.into_iter().rev().collect::<Vec<_>>().join("/")
    };
    let mut out: Vec<String> = runs.iter().map(|p| name(p, 0)).collect();
    let first = out.clone();
    for (i, label) in first.iter().enumerate() {
        if first.iter().filter(|l| *l == label).count() > 1 {
            out[i] = name(&runs[i], 1);
        }
    }
    for i in 0..out.len() {
        if out[..i].contains(&out[i]) {
            out[i] = format!("{}#{}", out[i], i + 1);
        }
    }
    out
}

impl Comparison {
    /// Reads every dataset and computes the comparison.
    pub fn load(opts: CompareOptions) -> Result<Comparison, Error> {
        let _span = tracing::info_span!("compare_load", runs = opts.runs.len()).entered();
        if opts.runs.len() < 2 {
            return Err(Error::Compare(format!(
                "compare needs at least two run datasets, got {}",
                opts.runs.len()
            )));
        }
        if opts.baseline >= opts.runs.len() {
            return Err(Error::Compare("the baseline is not one of the runs".into()));
        }
        let labels = labels(&opts.runs);
        // The datasets are read in parallel (two at a time per core is enough: Polars parallelises each).
        let loaded: Vec<Result<RunData, Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = opts
                .runs
                .iter()
                .zip(labels)
                .map(|(p, l)| s.spawn(move || RunData::load(p, l)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let runs = loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
        let mut warnings = Vec::new();
        let versions: BTreeSet<u32> = runs.iter().map(|r| r.manifest.schema_version).collect();
        if versions.len() > 1 {
            warnings.push(format!(
                "the datasets have different schema versions ({}): figures are compared on what they share",
                versions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        for r in &runs {
            if !r.missing.is_empty() {
                warnings.push(format!(
                    "run {} has no {} table: its figures from it are empty",
                    r.label,
                    r.missing.join(", ")
                ));
            }
            if r.samples.is_empty() {
                warnings.push(format!("run {} recorded no client interaction", r.label));
            }
            if let Some(i) = &r.manifest.incomplete {
                warnings.push(format!("run {} is incomplete: {}", r.label, i.reason));
            }
        }
        let topologies: Vec<_> = runs.iter().map(|r| r.topology.clone()).collect();
        for r in runs.iter().filter(|r| r.topology.is_none()) {
            warnings.push(format!(
                "run {}'s topology is not in its dataset (or could not be read): it is left out of \"what differs\"",
                r.label
            ));
        }
        let differences = topo::differences(&topologies);
        let mut c = Comparison {
            groups: Vec::new(),
            differences,
            warnings,
            verdicts: Vec::new(),
            tests: 0,
            title: opts
                .title
                .unwrap_or_else(|| format!("wotemu compare · {} runs", runs.len())),
            base_url: opts.base_url,
            sweep: opts.sweep,
            baseline: opts.baseline,
            runs,
        };
        c.compute_groups();
        c.verdicts = opts.gates.iter().flat_map(|g| c.check(g)).collect();
        Ok(c)
    }

    fn compute_groups(&mut self) {
        let keys: BTreeSet<&GroupKey> = self.runs.iter().flat_map(|r| r.samples.keys()).collect();
        let mut groups: Vec<GroupRow> = keys
            .into_iter()
            .map(|k| GroupRow {
                thing: k.0.clone(),
                name: k.1.clone(),
                verb: k.2.clone(),
                runs: self
                    .runs
                    .iter()
                    .map(|r| {
                        r.samples
                            .get(k)
                            .map(|by_node| figures(by_node.values(), r.span_s))
                    })
                    .collect(),
            })
            .collect();
        // Changes against the baseline, then Holm over every test of the comparison.
        let b = self.baseline;
        let mut p = Vec::new();
        for g in &mut groups {
            let Some(base) = g.runs[b].clone() else {
                continue;
            };
            for (i, f) in g.runs.iter_mut().enumerate() {
                let Some(f) = f.as_mut().filter(|_| i != b) else {
                    continue;
                };
                let d = |a: &Option<Estimate>, x: &Option<Estimate>| {
                    stats::difference(a.as_ref()?, x.as_ref()?)
                };
                let mut ch = GroupChange {
                    p50: d(&base.p50, &f.p50),
                    p95: d(&base.p95, &f.p95),
                    p99: d(&base.p99, &f.p99),
                    ok_rate: None,
                };
                if let (Some(a), Some(x)) = (base.ok_rate, f.ok_rate) {
                    if let (Some(mut c), Some(pv)) = (
                        stats::difference(&a, &x),
                        stats::proportions_p(base.ok, base.count, f.ok, f.count),
                    ) {
                        c.p = pv;
                        ch.ok_rate = Some(c);
                    }
                }
                for c in ch.all_mut().into_iter().flatten() {
                    p.push(c.p);
                }
                f.change = Some(ch);
            }
        }
        self.tests = p.len();
        let mut sig = stats::holm(&p, stats::ALPHA).into_iter();
        for g in &mut groups {
            for f in g.runs.iter_mut().flatten() {
                if let Some(ch) = f.change.as_mut() {
                    for c in ch.all_mut().into_iter().flatten() {
                        c.significant = sig.next().unwrap_or(false);
                    }
                }
            }
        }
        // Most used first (by the baseline, then by any run).
        groups.sort_by_key(|g| {
            std::cmp::Reverse(g.runs.iter().flatten().map(|f| f.count).max().unwrap_or(0))
        });
        self.groups = groups;
    }

    /// The gate on every run but the baseline.
    fn check(&self, g: &Gate) -> Vec<Verdict> {
        let base = self.figure(self.baseline, g);
        self.runs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.baseline)
            .map(|(i, r)| g.check(&r.label, self.figure(i, g), base))
            .collect()
    }

    /// A gate's figure in run `i`.
    pub fn figure(&self, i: usize, g: &Gate) -> Option<f64> {
        use gate::Field;
        let r = &self.runs[i];
        if g.of_nodes() {
            let nodes: Vec<&NodeFigures> = r
                .nodes
                .iter()
                .filter(|(n, _)| {
                    g.selector
                        .iter()
                        .all(|(f, v)| matches!(f, Field::Any | Field::Node) && v == *n)
                })
                .map(|(_, f)| f)
                .collect();
            if nodes.is_empty() {
                return None;
            }
            if g.metric == "restarts" {
                return Some(nodes.iter().map(|n| n.restarts as f64).sum());
            }
            if g.metric == "drops" {
                // Only gateways drop; a node that does not shape traffic has no figure.
                let shaping: Vec<&&NodeFigures> =
                    nodes.iter().filter(|n| n.dropped_loss.is_some()).collect();
                if shaping.is_empty() {
                    return None;
                }
                return Some(
                    shaping
                        .iter()
                        .map(|n| {
                            (n.dropped_loss.unwrap_or(0)
                                + n.dropped_rate.unwrap_or(0)
                                + n.dropped_overflow.unwrap_or(0))
                                as f64
                        })
                        .sum(),
                );
            }
            let mut v: Vec<f64> = nodes
                .iter()
                .flat_map(|n| {
                    if g.metric.ends_with("_cpu") {
                        &n.cpu
                    } else {
                        &n.mem
                    }
                })
                .copied()
                .collect();
            if v.is_empty() {
                return None;
            }
            v.sort_by(f64::total_cmp);
            let scale = if g.metric.ends_with("_mem") {
                1.0 / 1_048_576.0
            } else {
                1.0
            };
            let x = match g.metric.split('_').next() {
                Some("mean") => v.iter().sum::<f64>() / v.len() as f64,
                Some("p95") => stats::linear(&v, 0.95),
                _ => *v.last()?,
            };
            return Some(x * scale);
        }
        let hits: Vec<&Sample> = r
            .samples
            .iter()
            .flat_map(|((thing, name, verb), by_node)| {
                by_node.iter().filter_map(move |(node, s)| {
                    g.selector
                        .iter()
                        .all(|(f, v)| match f {
                            Field::Any => v == thing || v == name || v == verb || v == node,
                            Field::Thing => v == thing,
                            Field::Name => v == name,
                            Field::Verb => v == verb,
                            Field::Node => v == node,
                        })
                        .then_some(s)
                })
            })
            .collect();
        if hits.is_empty() {
            return None;
        }
        let Pool {
            latencies: lat,
            count,
            ok,
        } = pool(hits);
        match g.metric.as_str() {
            "count" => Some(count as f64),
            "errors" => Some((count - ok) as f64),
            "error_rate" => (count > 0).then(|| (count - ok) as f64 / count as f64),
            "ok_rate" => (count > 0).then(|| ok as f64 / count as f64),
            "throughput" => (r.span_s > 0.0).then(|| count as f64 / r.span_s),
            "mean" => (!lat.is_empty()).then(|| lat.iter().sum::<f64>() / lat.len() as f64),
            m => {
                let q = match m {
                    "p50" => 0.5,
                    "p95" => 0.95,
                    _ => 0.99,
                };
                (!lat.is_empty()).then(|| stats::linear(&lat, q))
            }
        }
    }

    /// The significant changes for people, a line each (at most `limit` lines of percentiles; every change
    /// of a success rate), and how many there are.
    pub fn describe_changes(&self, limit: usize) -> (Vec<String>, usize) {
        let labels = self.labels();
        let mut lines = Vec::new();
        let mut significant = 0;
        for g in self.groups() {
            for (f, label) in g.runs.iter().zip(&labels) {
                let Some(ch) = f.as_ref().and_then(|f| f.change.as_ref()) else {
                    continue;
                };
                for (name, x) in [("p50", ch.p50), ("p95", ch.p95), ("p99", ch.p99)] {
                    if let Some(x) = x.filter(|x| x.significant) {
                        significant += 1;
                        if significant <= limit {
                            lines.push(format!(
                                "  {label}: {} · {} · {} {name} {:+.1} % ({:+.1} ms)",
                                g.thing,
                                g.name,
                                g.verb,
                                x.relative.unwrap_or(0.0) * 100.0,
                                x.delta
                            ));
                        }
                    }
                }
                if let Some(x) = ch.ok_rate.filter(|x| x.significant) {
                    significant += 1;
                    lines.push(format!(
                        "  {label}: {} · {} · {} success rate {:+.2} pp",
                        g.thing,
                        g.name,
                        g.verb,
                        x.delta * 100.0
                    ));
                }
            }
        }
        (lines, significant)
    }

    /// `wotemu compare` for people: the significant changes (at most `limit` lines of percentiles), then a
    /// line with how many runs, how long it took (`seconds`), the baseline and the site written, if any.
    pub fn describe(&self, limit: usize, seconds: f64, site: Option<&std::path::Path>) -> String {
        let (mut lines, significant) = self.describe_changes(limit);
        let labels = self.labels();
        lines.push(format!(
            "Compared {} runs in {seconds:.1} s (baseline {}): {significant} significant changes{}",
            labels.len(),
            labels[self.baseline],
            site.map(|o| format!("; site: {}", o.join("index.html").display()))
                .unwrap_or_default()
        ));
        lines.join("\n")
    }

    /// The gates' verdicts.
    pub fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }

    /// Warnings about the datasets (different schemas, missing tables, no interactions, incomplete runs).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The runs' labels, in order.
    pub fn labels(&self) -> Vec<&str> {
        self.runs.iter().map(|r| r.label.as_str()).collect()
    }

    /// The groups (thing × name × verb), most used first.
    pub fn groups(&self) -> &[GroupRow] {
        &self.groups
    }

    /// The comparison as the documented JSON document (`--json`).
    pub fn json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Run<'a> {
            label: &'a str,
            path: String,
            stack: &'a str,
            source: &'a str,
            engine: &'static str,
            schema_version: u32,
            started_at: &'a Option<String>,
            stopped_at: &'a Option<String>,
            incomplete: Option<&'a str>,
            span_s: f64,
            interactions: u64,
            ok_rate: Option<f64>,
            throughput: Option<f64>,
            packets: u64,
            bytes: u64,
            bytes_per_interaction: Option<f64>,
            bytes_by_proto: &'a BTreeMap<String, u64>,
            errors: &'a BTreeMap<String, u64>,
            subscription_errors: u64,
            nodes: &'a BTreeMap<String, NodeFigures>,
            sweep: Option<serde_json::Value>,
        }
        let runs: Vec<Run<'_>> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (n, ok) = totals(r);
                Run {
                    label: &r.label,
                    path: r.path.display().to_string(),
                    stack: &r.manifest.stack,
                    source: &r.manifest.source.kind,
                    engine: r.manifest.engine(),
                    schema_version: r.manifest.schema_version,
                    started_at: &r.manifest.started_at,
                    stopped_at: &r.manifest.stopped_at,
                    incomplete: r.manifest.incomplete.as_ref().map(|i| i.reason.as_str()),
                    span_s: r.span_s,
                    interactions: n,
                    ok_rate: (n > 0).then(|| ok as f64 / n as f64),
                    throughput: (r.span_s > 0.0).then(|| n as f64 / r.span_s),
                    packets: r.packets,
                    bytes: r.bytes,
                    bytes_per_interaction: bytes_per_interaction(r),
                    bytes_by_proto: &r.bytes_by_proto,
                    errors: &r.errors,
                    subscription_errors: r.subscription_errors,
                    nodes: &r.nodes,
                    sweep: self.sweep.as_ref().and_then(|s| {
                        let (values, repeat) = s.points.get(i)?;
                        let set: serde_json::Map<String, serde_json::Value> = s
                            .params
                            .iter()
                            .zip(values)
                            .map(|(p, v)| (p.clone(), v.clone().into()))
                            .collect();
                        Some(serde_json::json!({"set": set, "repeat": repeat}))
                    }),
                }
            })
            .collect();
        serde_json::json!({
            "schema": JSON_SCHEMA,
            "baseline": self.runs[self.baseline].label,
            "method": self.method(),
            "warnings": self.warnings,
            "runs": runs,
            "differences": self.differences,
            "groups": self.groups,
            "gates": self.verdicts,
        })
    }

    /// How the figures are tested, for the page and the JSON.
    pub fn method(&self) -> serde_json::Value {
        serde_json::json!({
            "confidence": 0.95,
            "quantile_interval": "distribution-free, from order statistics: ranks n·q ± 1.96·√(n·q·(1−q)), rounded outwards",
            "rate_interval": "Wilson score interval",
            "quantile_test": "z test of the difference, standard errors from each interval (half-width / 1.96)",
            "rate_test": "pooled two-proportion z test",
            "correction": "Holm–Bonferroni over every test of the comparison",
            "family_alpha": stats::ALPHA,
            "tests": self.tests,
        })
    }
}

/// Consumed interactions and the successful ones of a run.
fn totals(r: &RunData) -> (u64, u64) {
    r.samples
        .values()
        .flat_map(|m| m.values())
        .fold((0, 0), |(n, ok), s| (n + s.count, ok + s.ok))
}

/// The figures of a group pooled over its nodes.
fn figures<'a>(samples: impl IntoIterator<Item = &'a Sample>, span_s: f64) -> GroupFigures {
    let Pool {
        latencies: lat,
        count,
        ok,
    } = pool(samples);
    GroupFigures {
        count,
        ok,
        ok_rate: stats::rate(ok, count),
        p50: stats::quantile(&lat, 0.5),
        p95: stats::quantile(&lat, 0.95),
        p99: stats::quantile(&lat, 0.99),
        mean: (!lat.is_empty()).then(|| lat.iter().sum::<f64>() / lat.len() as f64),
        throughput: (span_s > 0.0).then(|| count as f64 / span_s),
        change: None,
    }
}

/// All the bytes captured over the clients' interactions (`None` without interactions).
pub(crate) fn bytes_per_interaction(r: &RunData) -> Option<f64> {
    let (n, _) = totals(r);
    (n > 0).then(|| r.bytes as f64 / n as f64)
}

/// Samples pooled: every latency (sorted), the interactions and the successful ones.
struct Pool {
    latencies: Vec<f64>,
    count: u64,
    ok: u64,
}

fn pool<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Pool {
    let mut p = Pool {
        latencies: Vec::new(),
        count: 0,
        ok: 0,
    };
    for s in samples {
        p.count += s.count;
        p.ok += s.ok;
        p.latencies.extend_from_slice(&s.latencies);
    }
    p.latencies.sort_by(f64::total_cmp);
    p
}

/// The pooled, sorted latencies of a group in a run.
pub(crate) fn pooled(r: &RunData, k: &GroupKey) -> Vec<f64> {
    pool(r.samples.get(k).into_iter().flat_map(|m| m.values())).latencies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique() {
        let l = labels(&[
            PathBuf::from("a/run"),
            PathBuf::from("b/run"),
            PathBuf::from("c/other"),
            PathBuf::from("a/run"),
        ]);
        assert_eq!(l, ["a/run", "b/run", "other", "a/run#4"]);
    }
}
