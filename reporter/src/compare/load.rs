//! Reading one run dataset for a comparison: its consumed interactions as sorted latency samples per thing ×
//! name × verb × node, its traffic, errors, nodes' CPU and memory, and its topology flattened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;
use wotemu_contract::manifest::Manifest;
use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, f64s, i64s, scan, strs, time_us};

/// The interactions of one thing × name × verb made by one node, in one run.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub count: u64,
    pub ok: u64,
    /// Every latency recorded (ms), sorted.
    pub latencies: Vec<f64>,
}

/// (thing, name, verb).
pub type GroupKey = (String, String, String);

/// CPU, memory, traffic and failures of one node (all its replicas) in one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeFigures {
    pub replicas: u64,
    pub cpu_mean: Option<f64>,
    pub cpu_p95: Option<f64>,
    pub cpu_max: Option<f64>,
    /// % of one core.
    pub cpu_limit: Option<f64>,
    /// Bytes.
    pub mem_mean: Option<f64>,
    pub mem_p95: Option<f64>,
    pub mem_max: Option<f64>,
    pub mem_limit: Option<f64>,
    pub packets: u64,
    pub bytes: u64,
    pub restarts: u64,
    /// Replicas that failed (state `failed` or an exit error).
    pub failed: u64,
    pub oom_kills: u64,
    /// Packets the node dropped: a network's gateway (`gw_<network>`) by the configured loss, by its rate
    /// limit (a saturated link) and by overflow (the shaper could not take them), from the `network`
    /// table; `None` for nodes that do not shape traffic.
    pub dropped_loss: Option<u64>,
    pub dropped_rate: Option<u64>,
    pub dropped_overflow: Option<u64>,
    /// Every CPU and memory sample, sorted (for gates and pooled figures).
    #[serde(skip)]
    pub cpu: Vec<f64>,
    #[serde(skip)]
    pub mem: Vec<f64>,
}

/// What a comparison needs of one run.
#[derive(Debug, Clone)]
pub struct RunData {
    pub label: String,
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Seconds between the first and the last consumed interaction (the rate's denominator).
    pub span_s: f64,
    /// (thing, name, verb) → node → sample.
    pub samples: BTreeMap<GroupKey, BTreeMap<String, Sample>>,
    pub packets: u64,
    pub bytes: u64,
    pub bytes_by_proto: BTreeMap<String, u64>,
    /// Failed interactions (both sides) by error type.
    pub errors: BTreeMap<String, u64>,
    pub subscription_errors: u64,
    pub nodes: BTreeMap<String, NodeFigures>,
    /// The topology, flattened (`None` when the dataset does not say it or it could not be read).
    pub topology: Option<BTreeMap<String, String>>,
    /// Tables this run does not have.
    pub missing: Vec<&'static str>,
}

impl RunData {
    /// Reads the run at `dir`; its topology is normalised by [`wotemu_topology::normalise`].
    pub fn load(dir: &Path, label: String) -> Result<RunData, Error> {
        let manifest = Manifest::read(dir).map_err(|e| Error::NotADataset {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let mut missing = Vec::new();
        for t in [
            Table::Interactions,
            Table::Packets,
            Table::System,
            Table::Tasks,
        ] {
            if !dir.join(t.file_name()).exists() {
                missing.push(t.name());
            }
        }
        let (samples, span_s, errors) = interactions(dir)?;
        let (packets, bytes, bytes_by_proto) = traffic(dir)?;
        let subscription_errors = match scan(dir, Table::Events)? {
            Some(lf) => {
                let df = collect(
                    lf.filter(col("kind").eq(lit("error")))
                        .select([len().alias("n")]),
                    Table::Events,
                )?;
                i64s(&df, "n")[0].unwrap_or(0) as u64
            }
            None => 0,
        };
        let nodes = nodes(dir)?;
        let topology = manifest
            .topology
            .as_deref()
            .and_then(wotemu_topology::normalise)
            .or_else(|| {
                // A Swarm or 0.6 dataset may hold only the compose file.
                let text = manifest.compose.as_deref()?;
                let v: serde_json::Value = serde_yaml::from_str(text).ok()?;
                Some(serde_json::json!({ "compose": v }))
            })
            .map(|v| super::topo::flatten(&v));
        Ok(RunData {
            label,
            path: dir.to_owned(),
            manifest,
            span_s,
            samples,
            packets,
            bytes,
            bytes_by_proto,
            errors,
            subscription_errors,
            nodes,
            topology,
            missing,
        })
    }
}

type Interactions = (
    BTreeMap<GroupKey, BTreeMap<String, Sample>>,
    f64,
    BTreeMap<String, u64>,
);

fn interactions(dir: &Path) -> Result<Interactions, Error> {
    let Some(lf) = scan(dir, Table::Interactions)? else {
        return Ok(Default::default());
    };
    let consumed = lf.clone().filter(col("side").eq(lit("consumed")));
    let df = collect(
        consumed
            .clone()
            .select([
                col("thing"),
                col("name"),
                col("verb"),
                col("node"),
                col("latency_ms"),
                col("ok"),
            ])
            .sort_by_exprs(
                [
                    col("thing"),
                    col("name"),
                    col("verb"),
                    col("node"),
                    col("latency_ms"),
                ],
                SortMultipleOptions::default().with_nulls_last(true),
            ),
        Table::Interactions,
    )?;
    let get = |c: &str| df.column(c).map(|c| c.as_materialized_series().clone());
    let table_err = |source| Error::Table {
        table: Table::Interactions.name(),
        source,
    };
    let (thing, name, verb, node) = (
        get("thing").map_err(table_err)?,
        get("name").map_err(table_err)?,
        get("verb").map_err(table_err)?,
        get("node").map_err(table_err)?,
    );
    let (lat, ok) = (
        get("latency_ms").map_err(table_err)?,
        get("ok").map_err(table_err)?,
    );
    let (thing, name, verb, node) = (
        thing.str().map_err(table_err)?,
        name.str().map_err(table_err)?,
        verb.str().map_err(table_err)?,
        node.str().map_err(table_err)?,
    );
    let lat = lat.cast(&DataType::Float64).map_err(table_err)?;
    let lat = lat.f64().map_err(table_err)?;
    let ok = ok.bool().map_err(table_err)?;
    let mut out: BTreeMap<GroupKey, BTreeMap<String, Sample>> = BTreeMap::new();
    let mut current: Option<(GroupKey, String)> = None;
    let mut sample = Sample::default();
    let rows = thing
        .iter()
        .zip(name.iter())
        .zip(verb.iter())
        .zip(node.iter())
        .zip(lat.iter())
        .zip(ok.iter());
    for (((((t, n), v), nd), l), o) in rows {
        let (t, n, v, nd) = (
            t.unwrap_or_default(),
            n.unwrap_or_default(),
            v.unwrap_or_default(),
            nd.unwrap_or_default(),
        );
        let same = current
            .as_ref()
            .is_some_and(|((a, b, c), d)| a == t && b == n && c == v && d == nd);
        if !same {
            if let Some((k, nd)) = current.take() {
                out.entry(k)
                    .or_default()
                    .insert(nd, std::mem::take(&mut sample));
            }
            current = Some(((t.to_owned(), n.to_owned(), v.to_owned()), nd.to_owned()));
        }
        sample.count += 1;
        if o == Some(true) {
            sample.ok += 1;
        }
        if let Some(l) = l.filter(|l| l.is_finite()) {
            sample.latencies.push(l);
        }
    }
    if let Some((k, nd)) = current {
        out.entry(k).or_default().insert(nd, sample);
    }
    let span = collect(
        consumed.select([time_us().min().alias("lo"), time_us().max().alias("hi")]),
        Table::Interactions,
    )?;
    let span_s = match (i64s(&span, "lo")[0], i64s(&span, "hi")[0]) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e6,
        _ => 0.0,
    };
    let errs = collect(
        lf.filter(col("ok").not())
            .group_by([col("error_type").fill_null(lit("(unknown)"))])
            .agg([len().alias("n")]),
        Table::Interactions,
    )?;
    let errors = strs(&errs, "error_type")
        .into_iter()
        .zip(i64s(&errs, "n"))
        .map(|(t, n)| (t.unwrap_or_default(), n.unwrap_or(0) as u64))
        .collect();
    Ok((out, span_s, errors))
}

fn traffic(dir: &Path) -> Result<(u64, u64, BTreeMap<String, u64>), Error> {
    let Some(lf) = scan(dir, Table::Packets)? else {
        return Ok(Default::default());
    };
    let df = collect(
        lf.group_by([col("proto")]).agg([
            len().cast(DataType::Int64).alias("packets"),
            col("len").cast(DataType::Int64).sum().alias("bytes"),
        ]),
        Table::Packets,
    )?;
    let (proto, packets, bytes) = (strs(&df, "proto"), i64s(&df, "packets"), i64s(&df, "bytes"));
    let mut by = BTreeMap::new();
    let (mut p, mut b) = (0, 0);
    for i in 0..df.height() {
        let n = bytes[i].unwrap_or(0) as u64;
        p += packets[i].unwrap_or(0) as u64;
        b += n;
        *by.entry(proto[i].clone().unwrap_or_default()).or_insert(0) += n;
    }
    Ok((p, b, by))
}

fn nodes(dir: &Path) -> Result<BTreeMap<String, NodeFigures>, Error> {
    let mut out: BTreeMap<String, NodeFigures> = BTreeMap::new();
    if let Some(lf) = scan(dir, Table::System)? {
        let df = collect(
            lf.select([
                col("node"),
                col("cpu_percent").cast(DataType::Float64),
                col("mem_bytes").cast(DataType::Float64),
                col("cpu_limit_percent").cast(DataType::Float64),
                col("mem_limit_bytes").cast(DataType::Float64),
                col("oom_kills").cast(DataType::Float64),
            ]),
            Table::System,
        )?;
        let node = strs(&df, "node");
        let (cpu, mem) = (f64s(&df, "cpu_percent"), f64s(&df, "mem_bytes"));
        let (cl, ml, oom) = (
            f64s(&df, "cpu_limit_percent"),
            f64s(&df, "mem_limit_bytes"),
            f64s(&df, "oom_kills"),
        );
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        for i in 0..df.height() {
            let f = out.entry(node[i].clone().unwrap_or_default()).or_default();
            if let Some(c) = cpu[i].filter(|v| v.is_finite()) {
                f.cpu.push(c);
            }
            if let Some(m) = mem[i].filter(|v| v.is_finite()) {
                f.mem.push(m);
            }
            f.cpu_limit = max(f.cpu_limit, cl[i]);
            f.mem_limit = max(f.mem_limit, ml[i]);
            f.oom_kills = f.oom_kills.max(oom[i].unwrap_or(0.0) as u64);
        }
        for f in out.values_mut() {
            for v in [&mut f.cpu, &mut f.mem] {
                v.sort_by(f64::total_cmp);
            }
            let stats = |v: &[f64]| -> (Option<f64>, Option<f64>, Option<f64>) {
                if v.is_empty() {
                    return (None, None, None);
                }
                (
                    Some(v.iter().sum::<f64>() / v.len() as f64),
                    Some(super::stats::linear(v, 0.95)),
                    v.last().copied(),
                )
            };
            (f.cpu_mean, f.cpu_p95, f.cpu_max) = stats(&f.cpu);
            (f.mem_mean, f.mem_p95, f.mem_max) = stats(&f.mem);
        }
    }
    if let Some(lf) = scan(dir, Table::Packets)? {
        let df = collect(
            lf.group_by([col("node")]).agg([
                len().cast(DataType::Int64).alias("packets"),
                col("len").cast(DataType::Int64).sum().alias("bytes"),
            ]),
            Table::Packets,
        )?;
        let (node, packets, bytes) = (strs(&df, "node"), i64s(&df, "packets"), i64s(&df, "bytes"));
        for i in 0..df.height() {
            let f = out.entry(node[i].clone().unwrap_or_default()).or_default();
            f.packets = packets[i].unwrap_or(0) as u64;
            f.bytes = bytes[i].unwrap_or(0) as u64;
        }
    }
    if let Some(lf) = scan(dir, Table::Network)? {
        let df = collect(
            lf.group_by([col("node")]).agg([
                col("lost").cast(DataType::Int64).sum().alias("lost"),
                col("dropped_rate")
                    .cast(DataType::Int64)
                    .sum()
                    .alias("rate"),
                col("dropped_overflow")
                    .cast(DataType::Int64)
                    .sum()
                    .alias("overflow"),
            ]),
            Table::Network,
        )?;
        let node = strs(&df, "node");
        let (lost, rate, overflow) = (i64s(&df, "lost"), i64s(&df, "rate"), i64s(&df, "overflow"));
        let n = |v: Option<i64>| Some(v.unwrap_or(0).max(0) as u64);
        for i in 0..df.height() {
            let f = out.entry(node[i].clone().unwrap_or_default()).or_default();
            f.dropped_loss = n(lost[i]);
            f.dropped_rate = n(rate[i]);
            f.dropped_overflow = n(overflow[i]);
        }
    }
    if let Some(lf) = scan(dir, Table::Tasks)? {
        let df = collect(lf, Table::Tasks)?;
        let (node, state, err) = (
            strs(&df, "node"),
            strs(&df, "state"),
            strs(&df, "exit_error"),
        );
        let restarts = i64s(&df, "restarts");
        for i in 0..df.height() {
            let f = out.entry(node[i].clone().unwrap_or_default()).or_default();
            f.replicas += 1;
            f.restarts += restarts[i].unwrap_or(0).max(0) as u64;
            let failed = state[i].as_deref() == Some("failed")
                || err[i].as_deref().is_some_and(|e| !e.is_empty());
            f.failed += u64::from(failed);
        }
    }
    Ok(out)
}
