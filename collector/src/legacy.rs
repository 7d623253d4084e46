//! Importing a WoTemu 0.6 Redis store into a run dataset. The store is only read, never written.
//!
//! The 0.6 layout keeps sorted sets (score = UNIX seconds, member = JSON). Keys are found with `SCAN MATCH
//! wotemu:*`, put in task order, and read with `ZRANGE` in pages by a reader thread with its own client
//! (`resp.rs`: a page is one buffer, not a vector per member), many small sets' pages in one round trip,
//! without scores (a member without a `time` of its own gets its score with `ZSCORE`); parser threads turn
//! each round trip's pages into batches (packets appended to Arrow columns straight from the member), which
//! the calling thread puts back in order and writes straight to each table's Parquet file ([`TaskStream`]:
//! keys come in task order, so a task's rows are complete when the next task's start, and are then put in
//! time order). Strings are borrowed from the page while parsing, and JSON
//! values (results, items) kept as 0.6 wrote them. The mapping:
//!
//! | 0.6 key | table | mapping |
//! | --- | --- | --- |
//! | `wotemu:packet:<iface>:<task>` | `packets` | `len`, `src`, `dst`, `srcport`, `dstport`; `transport` lower-cased; `proto` (tshark's highest layer) kept as `layer` and mapped to `proto` (`http`, `json`, `data-text-lines`, … → `http`; `websocket` → `ws`; `mqtt`; `coap`; else from the WoT ports, else the transport) |
//! | `wotemu:system:<task>` | `system` | `cpu_percent`; `cpu_percent_constraint` → `cpu_limit_percent`; `mem_mb` × 2²⁰ → `mem_bytes`; `mem_bytes` ÷ (`mem_percent`/100) → `mem_limit_bytes` |
//! | `wotemu:thing:<task>` without `subscription` | `interactions` | `thing`, `name`, `verb`, `host`; `class` `ConsumedThing`/`ExposedThing` → `side`; `latency` s → `latency_ms`; `error` → `ok`, `error_type`, `error_message`; `result` → `result` (JSON) |
//! | `wotemu:thing:<task>` with `subscription` | `events` | `event` `on_next`… → `kind` `next`…; `item` as JSON; for `on_error`, `error` `{type, message}` becomes the item, as wotemu's agent records it |
//! | `wotemu:info:<task>` | `tasks` | `cpu_count`, `cpu_model`, `mem_total`, `hostname`, `container_id`, `python_version`; `networks_cidr` → `networks`; addresses in `net` → `ip_addresses`; `uname` → `platform`; `env` redacted; every other field (and `net`, `networks_cidr`, `uname` whole) → `facts` |
//! | `wotemu:snapshot` | `tasks`, `logs` | Docker task `Status.State` → `state`, `Status.Err` → `exit_error`, `Slot`, container id, `Status.Timestamp` → `stopped_at` (terminal states); the task's other fields but its `Spec` (the compose file's, in the manifest) → `facts.docker_task`; `logs` split into lines |
//! | `wotemu:app:<task>:<key>` | `app` | `key`, member as JSON `value` |
//! | `wotemu:compose` | manifest `compose` | the compose document |
//!
//! `time` is the member's `time` field when present, else its score. Members that are not JSON, or lack a
//! required field, are rejected, counted (`records_rejected`) and listed in the manifest's problems.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, RecordBatch, StringBuilder, TimestampMicrosecondArray, UInt16Builder, UInt32Array,
};
use redis::Connection;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use wotemu_contract::keys::legacy::{self, LegacyKey};
use wotemu_contract::manifest::{Accounting, HostFacts, Manifest, Problem, Source, TaskAccounting};
use wotemu_contract::table::{
    AppValue, Event, Interaction, LogLine, Records, SystemSample, TaskRow,
};
use wotemu_contract::task::TaskName;
use wotemu_contract::time_util::secs_f64_to_us;
use wotemu_contract::{Table, DATASET_SCHEMA_VERSION};

use crate::collect::{CollectSummary, WORK_DIR};
use crate::error::Error;
use crate::events::{LegacyRejected, RateLimit};
use crate::finalize::{finalize, Finish};
use crate::resp::{Members, RawConn};
use crate::scan::{scan_object, Seen};
use crate::sink::{PartMeta, PartSink, TaskStream};
use crate::source::{connect, scan_keys};
use crate::Progress;

/// How to import a 0.6 store.
#[derive(Debug, Clone)]
pub struct LegacyOptions {
    pub redis_url: String,
    /// The 0.6 stack name, used to turn `<stack>_<node>` services into node names; guessed when absent.
    pub stack: Option<String>,
    pub out: PathBuf,
    pub spill_bytes: usize,
}

/// Members read per `ZRANGE`.
const PAGE: usize = 20_000;
/// Members asked for in one round trip (and so parsed as one piece of work).
const TRIP_MEMBERS: usize = PAGE;
/// `ZRANGE` commands in one round trip.
const TRIP_COMMANDS: usize = 512;

/// Imports a 0.6 store into a run dataset. The calling process uses no transparent huge pages afterwards.
pub fn import(opts: &LegacyOptions, progress: &dyn Progress) -> Result<CollectSummary, Error> {
    let _span = tracing::info_span!("import_06", redis = %wotemu_contract::redact::redact_url(&opts.redis_url)).entered();
    let started = Instant::now();
    crate::collect::no_huge_pages();
    let mut conn = connect(&opts.redis_url)?;
    let (mut data_keys, snapshot_key, compose_key) = store_keys(&mut conn, &opts.redis_url)?;

    let compose = if compose_key {
        read_single_document(&mut conn, legacy::COMPOSE)?
    } else {
        None
    };
    let tasks: BTreeSet<String> = data_keys.iter().filter_map(|k| task_of(k)).collect();
    let stack = match &opts.stack {
        Some(s) => s.clone(),
        None => guess_stack(&tasks, compose.as_ref()),
    };

    let work = opts.out.join(WORK_DIR);
    if work.exists() {
        // An interrupted import: the store is unchanged, so start over.
        fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    }
    let mut sink = PartSink::new(work.join("parts"), opts.spill_bytes, 0)?;
    let mut streams = task_streams(opts, &work)?;
    let mut parts: Vec<PartMeta> = Vec::new();
    let mut imp = Importer {
        stack: stack.clone(),
        accounting: BTreeMap::new(),
        problems: Vec::new(),
        warn: RateLimit::new(10),
        infos: BTreeMap::new(),
    };

    // Keys in task order (then by key), so that each table's rows come task by task, as the streams need them.
    // One round trip for every key's type, one for the sizes.
    data_keys.sort_by(|a, b| (task_of(a), a).cmp(&(task_of(b), b)));
    let (zsets, cards) = sorted_sets(&mut conn, &data_keys, &mut imp)?;
    let total: u64 = cards.iter().sum();
    progress.start("Importing", Some(total));
    let mut records = 0u64;
    // A reader thread pages the sorted sets (many small sets per round trip); parsers turn trips into
    // batches on every core; this thread puts them back in order and writes them.
    let parsers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    std::thread::scope(|scope| -> Result<(), Error> {
        let (page_tx, page_rx) = std::sync::mpsc::sync_channel::<Result<Trip, Error>>(2 * parsers);
        let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<Result<TripOut, Error>>(2 * parsers);
        let url = opts.redis_url.as_str();
        let keys = &zsets;
        let cards = &cards;
        let stack = stack.as_str();
        scope.spawn(move || read_pages(url, keys, cards, &page_tx));
        let page_rx = std::sync::Arc::new(std::sync::Mutex::new(page_rx));
        for _ in 0..parsers {
            let page_rx = page_rx.clone();
            let out_tx = out_tx.clone();
            scope.spawn(move || parse_pages(&page_rx, &out_tx, url, keys, stack));
        }
        drop(out_tx);
        let mut waiting: BTreeMap<usize, TripOut> = BTreeMap::new();
        let mut next = 0usize;
        let task = |key: usize| task_of(zsets[key]).unwrap_or_default();
        for out in out_rx {
            let out = out?;
            waiting.insert(out.seq, out);
            while let Some(out) = waiting.remove(&next) {
                next += 1;
                for (key, read) in out.read {
                    let acc = imp.acc(&task(key));
                    acc.records_read += read;
                    acc.records_written += read;
                }
                for (key, pos, msg) in out.rejects {
                    imp.reject(zsets[key], &format!("member {pos}"), msg, Some(&task(key)));
                }
                for (key, at, info) in out.infos {
                    let task = task(key);
                    if imp.infos.get(&task).is_none_or(|(s, _)| at >= *s) {
                        imp.infos.insert(task, (at, info));
                    }
                }
                for (table, batch) in out.batches {
                    records += batch.num_rows() as u64;
                    match streams.get_mut(&table) {
                        Some(stream) => stream.push(&batch)?,
                        None => sink.push(table, batch),
                    }
                }
                progress.advance(out.members as u64);
                if sink.should_spill() {
                    parts.extend(sink.spill()?);
                }
            }
        }
        Ok(())
    })?;
    progress.finish();
    tracing::debug!(
        secs = started.elapsed().as_secs_f64(),
        "Read and parsed the store."
    );

    // Tasks and logs from info and the snapshot; the logs go into the parts like the rest.
    let snapshot = if snapshot_key {
        read_single_document(&mut conn, legacy::SNAPSHOT)?
    } else {
        None
    };
    let (task_rows, logs) = imp.tasks(&tasks, snapshot.as_ref());
    records += logs.len() as u64;
    if !logs.is_empty() {
        sink.push(Table::Logs, LogLine::to_batch(&logs));
    }
    parts.extend(sink.spill()?);
    let mut written = BTreeMap::new();
    for (table, stream) in streams {
        written.insert(table, stream.finish()?);
    }

    let manifest = legacy_manifest(stack, opts, compose, imp);
    let manifest = finalize(
        Finish {
            out: &opts.out,
            work: &work,
            parts: &parts,
            written,
            tasks: task_rows,
            manifest,
        },
        progress,
    )?;
    tracing::debug!(secs = started.elapsed().as_secs_f64(), "Wrote the dataset.");
    Ok(CollectSummary {
        manifest,
        entries: total,
        records,
        elapsed: started.elapsed(),
        resumed: false,
        already_complete: false,
    })
}

/// The streamed tables come task by task (keys in task order): they are written straight to Parquet as
/// they come, each task's rows in time order. Logs (from the snapshot, at the end) go through the sink.
/// The memory budget is shared between them.
fn task_streams(opts: &LegacyOptions, work: &Path) -> Result<BTreeMap<Table, TaskStream>, Error> {
    const STREAMED: [Table; 5] = [
        Table::Packets,
        Table::Interactions,
        Table::Events,
        Table::System,
        Table::App,
    ];
    let mut streams: BTreeMap<Table, TaskStream> = BTreeMap::new();
    for table in STREAMED {
        let stream = TaskStream::create(
            table,
            &opts.out.join(table.file_name()),
            &work.join("parts"),
            opts.spill_bytes / STREAMED.len(),
        )?;
        streams.insert(table, stream);
    }
    Ok(streams)
}

/// The store's keys of the 0.6 layout: its data keys (sorted sets of a task each), and whether it has the
/// snapshot and the compose document. A store without any is an error.
fn store_keys(conn: &mut redis::Connection, url: &str) -> Result<(Vec<String>, bool, bool), Error> {
    let all_keys = scan_keys(conn, "wotemu:*")?;
    let mut data_keys: Vec<String> = Vec::new();
    let (mut snapshot_key, mut compose_key) = (false, false);
    for k in &all_keys {
        match legacy::parse(k) {
            Some(LegacyKey::Snapshot) => snapshot_key = true,
            Some(LegacyKey::Compose) => compose_key = true,
            Some(_) => data_keys.push(k.clone()),
            None => {}
        }
    }
    if data_keys.is_empty() && !snapshot_key {
        return Err(Error::NoLegacyData {
            url: wotemu_contract::redact::redact_url(url),
        });
    }
    let ignored =
        all_keys.len() - data_keys.len() - usize::from(snapshot_key) - usize::from(compose_key);
    if ignored > 0 {
        tracing::info!(
            keys = ignored,
            "Keys under `wotemu:` that are not of the 0.6 layout were left alone."
        );
    }

    Ok((data_keys, snapshot_key, compose_key))
}

/// The data keys that are sorted sets (the others are rejected) and their sizes: two round trips.
fn sorted_sets<'k>(
    conn: &mut redis::Connection,
    data_keys: &'k [String],
    imp: &mut Importer,
) -> Result<(Vec<&'k str>, Vec<u64>), Error> {
    let mut pipe = redis::pipe();
    for k in data_keys {
        pipe.cmd("TYPE").arg(k);
    }
    let kinds: Vec<String> = pipe.query(conn).map_err(Error::redis("TYPE"))?;
    let mut zsets: Vec<&str> = Vec::new();
    for (k, kind) in data_keys.iter().zip(&kinds) {
        if kind == "zset" {
            zsets.push(k);
        } else {
            let msg = format!("a {kind}, not a sorted set as in the 0.6 layout; key left out");
            imp.reject(k, "-", msg, None);
        }
    }
    let mut pipe = redis::pipe();
    for k in &zsets {
        pipe.cmd("ZCARD").arg(*k);
    }
    let cards: Vec<u64> = pipe.query(conn).map_err(Error::redis("ZCARD"))?;
    Ok((zsets, cards))
}

/// The manifest of an import: its accounting (0.6 agents did not count what they produced) and problems.
fn legacy_manifest(
    stack: String,
    opts: &LegacyOptions,
    compose: Option<serde_json::Value>,
    imp: Importer,
) -> Manifest {
    let mut accounting = Accounting::default();
    for (task, mut acc) in imp.accounting {
        // 0.6 agents did not count what they produced: what was read is what is known.
        acc.records_produced = acc.records_written + acc.records_rejected;
        accounting.totals.add(&acc);
        accounting.tasks.insert(task, acc);
    }
    imp.warn.summary("0.6 records rejected");
    Manifest {
        schema_version: DATASET_SCHEMA_VERSION,
        stack,
        wotemu_version: env!("CARGO_PKG_VERSION").to_owned(),
        source: Source {
            kind: "legacy-0.6".into(),
            redis_url: Some(wotemu_contract::redact::redact_url(&opts.redis_url)),
        },
        compose: compose.map(|c| serde_json::to_string_pretty(&c).unwrap_or_default()),
        host: HostFacts::probe(),
        accounting,
        problems: imp.problems,
        ..Default::default()
    }
}

fn task_of(key: &str) -> Option<String> {
    match legacy::parse(key)? {
        LegacyKey::System { task }
        | LegacyKey::Packet { task, .. }
        | LegacyKey::Thing { task }
        | LegacyKey::Info { task }
        | LegacyKey::App { task, .. } => Some(task.to_owned()),
        _ => None,
    }
}

/// Reads a key that holds one JSON document: a string, or a sorted set whose last member is the document.
fn read_single_document(conn: &mut Connection, key: &str) -> Result<Option<Value>, Error> {
    let kind: String = redis::cmd("TYPE")
        .arg(key)
        .query(conn)
        .map_err(Error::redis("TYPE"))?;
    let raw: Option<Vec<u8>> = match kind.as_str() {
        "zset" => {
            let v: Vec<Vec<u8>> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(-1)
                .arg(-1)
                .query(conn)
                .map_err(Error::redis("ZRANGE"))?;
            v.into_iter().next()
        }
        "string" => redis::cmd("GET")
            .arg(key)
            .query(conn)
            .map_err(Error::redis("GET"))?,
        _ => None,
    };
    Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
}

/// The stack name: the prefix that turns most task services into compose service names.
fn guess_stack(tasks: &BTreeSet<String>, compose: Option<&Value>) -> String {
    let services: Vec<&str> = compose
        .and_then(|c| c.get("services"))
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut votes: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let service = TaskName::parse(t).service;
        let from_compose = services
            .iter()
            .filter_map(|s| service.strip_suffix(s).and_then(|p| p.strip_suffix('_')))
            .max_by_key(|p| p.len());
        let stack = from_compose.or_else(|| service.split_once('_').map(|(s, _)| s));
        if let Some(s) = stack {
            *votes.entry(s.to_owned()).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(s, _)| s)
        .unwrap_or_else(|| "legacy".to_owned())
}

/// Rows being built from a trip's members, in the order they came (task by task, as the keys are read: each
/// table's [`TaskStream`] puts a task's rows in time order).
#[derive(Default)]
struct Rows {
    packets: PacketColumns,
    interactions: Vec<Interaction>,
    events: Vec<Event>,
    system: Vec<SystemSample>,
    app: Vec<AppValue>,
    /// `info` documents with their time (not rows of a streamed table).
    infos: Vec<(f64, String)>,
}

impl Rows {
    /// Batches of every row gathered.
    fn flush(&mut self) -> Result<Vec<(Table, RecordBatch)>, Error> {
        fn take<T: Records>(v: &mut Vec<T>, out: &mut Vec<(Table, RecordBatch)>) {
            if !v.is_empty() {
                out.push((T::TABLE, T::to_batch(v)));
                v.clear();
            }
        }
        let mut out = Vec::new();
        if let Some(b) = self.packets.finish()? {
            out.push((Table::Packets, b));
        }
        take(&mut self.interactions, &mut out);
        take(&mut self.events, &mut out);
        take(&mut self.system, &mut out);
        take(&mut self.app, &mut out);
        Ok(out)
    }
}

/// The `packets` table's columns, appended to straight from the parsed members (packets are most of a 0.6
/// store: a row struct with eight strings of its own cost more than parsing the member).
#[derive(Default)]
struct PacketColumns {
    task: StringBuilder,
    node: StringBuilder,
    iface: StringBuilder,
    time: Vec<i64>,
    len: Vec<u32>,
    src: StringBuilder,
    dst: StringBuilder,
    transport: StringBuilder,
    srcport: UInt16Builder,
    dstport: UInt16Builder,
    proto: StringBuilder,
    layer: StringBuilder,
}

impl PacketColumns {
    /// The rows appended so far as a batch of the `packets` schema (`None` when there is none); the columns
    /// are empty again afterwards.
    fn finish(&mut self) -> Result<Option<RecordBatch>, Error> {
        if self.time.is_empty() {
            return Ok(None);
        }
        let time =
            TimestampMicrosecondArray::from(std::mem::take(&mut self.time)).with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.task.finish()),
            Arc::new(self.node.finish()),
            Arc::new(self.iface.finish()),
            Arc::new(time),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.len))),
            Arc::new(self.src.finish()),
            Arc::new(self.dst.finish()),
            Arc::new(self.transport.finish()),
            Arc::new(self.srcport.finish()),
            Arc::new(self.dstport.finish()),
            Arc::new(self.proto.finish()),
            Arc::new(self.layer.finish()),
        ];
        RecordBatch::try_new(Table::Packets.schema(), columns)
            .map(Some)
            .map_err(Error::arrow)
    }
}

struct Importer {
    stack: String,
    accounting: BTreeMap<String, TaskAccounting>,
    problems: Vec<Problem>,
    warn: RateLimit,
    /// The last `info` document of each task (its JSON text).
    infos: BTreeMap<String, (f64, String)>,
}

/// A 0.6 thing record's row: an event of a subscription, else an interaction.
fn thing_rows(ctx: &KeyCtx, d: ThingFields<'_>, time: i64, rows: &mut Rows) -> Result<(), String> {
    let thing = d
        .thing
        .map(raw_text)
        .ok_or_else(|| "`thing` is missing".to_owned())?;
    let name = d.name.map(Cow::into_owned).unwrap_or_default();
    if let Some(sub) = d.subscription {
        let kind = d.event.as_deref().unwrap_or("next");
        // 0.6 recorded a subscription's error beside the event (`error: {type, message}`),
        // not as its item: it becomes the item, as wotemu's agent records it.
        let item = match d.error {
            Some(e) => {
                let (t, m) = error_parts(e);
                Some(serde_json::json!({"type": t, "message": m}).to_string())
            }
            None => d.item.map(str::to_owned),
        };
        rows.events.push(Event {
            task: ctx.task.clone(),
            node: ctx.node.clone(),
            time,
            thing,
            name,
            subscription: raw_text(sub),
            kind: kind.strip_prefix("on_").unwrap_or(kind).to_owned(),
            item,
        });
    } else {
        let (error_type, error_message) = match d.error {
            None => (None, None),
            Some(e) => error_parts(e),
        };
        rows.interactions.push(Interaction {
            task: ctx.task.clone(),
            node: ctx.node.clone(),
            time,
            thing,
            name,
            verb: d.verb.as_deref().unwrap_or("unknown").to_ascii_lowercase(),
            side: match d.class.as_deref() {
                Some("ExposedThing") => "exposed".into(),
                Some("ConsumedThing") => "consumed".into(),
                Some(other) => other.to_ascii_lowercase(),
                None => "unknown".into(),
            },
            latency_ms: d.latency.map(|s| s * 1000.0),
            ok: error_type.is_none() && error_message.is_none(),
            error_type,
            error_message,
            host: d.host.map(Cow::into_owned),
            result: d.result.map(str::to_owned),
        });
    }
    Ok(())
}

/// Parses one member into its row; `None` when the member has no `time` of its own and `score` is not
/// given yet (nothing is recorded then: call again with its score).
fn parse_member(
    ctx: &KeyCtx,
    member: &[u8],
    score: Option<f64>,
    rows: &mut Rows,
) -> Option<Parsed> {
    enum Failure {
        NeedScore,
        Reject(String),
    }
    let time_of = |t: Option<f64>| -> Result<i64, Failure> {
        match t.and_then(secs_f64_to_us) {
            Some(us) => Ok(us),
            None => match score {
                None => Err(Failure::NeedScore),
                Some(s) => {
                    secs_f64_to_us(s).ok_or_else(|| Failure::Reject("time is not a number".into()))
                }
            },
        }
    };
    let task = &ctx.task;
    let result: Result<Parsed, Failure> = (|| {
        match &ctx.kind {
            KeyKind::Packet { iface } => {
                let d = match PacketFields::scan(member) {
                    Some(d) => d,
                    None => serde_json::from_slice::<PacketDoc<'_>>(member)
                        .map(PacketFields::from)
                        .map_err(|e| Failure::Reject(format!("not a 0.6 packet record: {e}")))?,
                };
                let time = time_of(d.time)?;
                let len = d
                    .len
                    .and_then(raw_number)
                    .ok_or_else(|| Failure::Reject("`len` is missing or not a number".into()))?;
                let transport = lower(d.transport.as_deref().unwrap_or("other"));
                let srcport = raw_port(d.srcport);
                let dstport = raw_port(d.dstport);
                let p = &mut rows.packets;
                p.task.append_value(task);
                p.node.append_value(&ctx.node);
                p.iface.append_value(iface);
                p.time.push(time);
                p.len.push(len as u32);
                p.src.append_value(d.src.as_deref().unwrap_or_default());
                p.dst.append_value(d.dst.as_deref().unwrap_or_default());
                p.proto
                    .append_value(proto_of(d.proto.as_deref(), &transport, srcport, dstport));
                p.transport.append_value(&transport);
                p.srcport.append_option(srcport);
                p.dstport.append_option(dstport);
                p.layer.append_option(d.proto.as_deref());
            }
            KeyKind::System => {
                let d: SystemDoc = serde_json::from_slice(member)
                    .map_err(|e| Failure::Reject(format!("not a 0.6 system record: {e}")))?;
                let time = time_of(d.time)?;
                let mem_bytes = d.mem_mb.map(|mb| (mb * 1_048_576.0).round() as u64);
                let mem_limit_bytes = match (mem_bytes, d.mem_percent) {
                    (Some(b), Some(p)) if p > 0.0 => Some((b as f64 / (p / 100.0)).round() as u64),
                    _ => None,
                };
                rows.system.push(SystemSample {
                    task: task.clone(),
                    node: ctx.node.clone(),
                    time,
                    cpu_percent: d.cpu_percent,
                    cpu_limit_percent: d.cpu_percent_constraint,
                    mem_bytes,
                    mem_limit_bytes,
                    cpu_throttled_us: None,
                    oom_kills: None,
                });
            }
            KeyKind::Thing => {
                let d = match ThingFields::scan(member) {
                    Some(d) => d,
                    None => serde_json::from_slice::<ThingDoc<'_>>(member)
                        .map(ThingFields::from)
                        .map_err(|e| Failure::Reject(format!("not a 0.6 thing record: {e}")))?,
                };
                let time = time_of(d.time)?;
                thing_rows(ctx, d, time, rows).map_err(Failure::Reject)?;
            }
            KeyKind::App { key } => {
                let doc_time = serde_json::from_slice::<TimeDoc>(member)
                    .ok()
                    .and_then(|d| d.time);
                let time = time_of(doc_time)?;
                let value = match serde_json::from_slice::<&RawValue>(member) {
                    Ok(v) => v.get().to_owned(),
                    Err(_) => {
                        Value::String(String::from_utf8_lossy(member).into_owned()).to_string()
                    }
                };
                rows.app.push(AppValue {
                    task: task.clone(),
                    node: ctx.node.clone(),
                    time,
                    key: key.clone(),
                    value,
                });
            }
            KeyKind::Info => {
                // Kept as its text until the tasks rows are made: thousands of tasks' documents as
                // `Value`s were tens of megabytes.
                let raw = serde_json::from_slice::<&RawValue>(member)
                    .map_err(|e| Failure::Reject(format!("not a 0.6 info record: {e}")))?;
                let at = serde_json::from_str::<TimeDoc>(raw.get())
                    .ok()
                    .and_then(|d| d.time);
                let Some(at) = at.or(score) else {
                    return Err(Failure::NeedScore);
                };
                rows.infos.push((at, raw.get().to_owned()));
                // Info becomes the tasks row, not a record of a streamed table.
                return Ok(Parsed::Nothing);
            }
            KeyKind::Other => return Ok(Parsed::Nothing),
        }
        Ok(Parsed::Row)
    })();
    match result {
        Ok(parsed) => Some(parsed),
        Err(Failure::NeedScore) => None,
        Err(Failure::Reject(e)) => Some(Parsed::Rejected(e)),
    }
}

/// A page of members of one sorted set, as the reader thread read it.
struct Page {
    /// Index of the key in the import's key list.
    key: usize,
    /// Index of the first member in the sorted set.
    start: usize,
    members: Members,
}

/// The pages of one round trip: a large key's several pages, or many small keys' whole sets.
struct Trip {
    /// The trip's place in the order trips were made.
    seq: usize,
    pages: Vec<Page>,
}

/// Reads every sorted set of `keys` in pages of at most [`PAGE`] members, up to the size `cards` says (a 0.6
/// store is not written any more), and sends them in order. Each round trip asks for up to [`TRIP_MEMBERS`]
/// members (and [`TRIP_COMMANDS`] commands), so a store of many small sets (a key per task and interface)
/// takes a few round trips, not one per key. Stops at the first error (sent) or when the receiver is gone.
fn read_pages(url: &str, keys: &[&str], cards: &[u64], tx: &SyncSender<Result<Trip, Error>>) {
    let mut conn = match RawConn::open(url) {
        Ok(c) => c,
        Err(e) => {
            if tx.send(Err(e)).is_err() {
                tracing::debug!("The import stopped before the reader connected.");
            }
            return;
        }
    };
    let card = |ki: usize| usize::try_from(cards[ki]).unwrap_or(usize::MAX);
    let (mut ki, mut start) = (0usize, 0usize);
    let mut seq = 0usize;
    while ki < keys.len() {
        // Plan the trip: (key, start) of each page asked for.
        let mut plan: Vec<(usize, usize)> = Vec::new();
        let mut asked = 0usize;
        while ki < keys.len() && asked < TRIP_MEMBERS && plan.len() < TRIP_COMMANDS {
            if start < card(ki) {
                let a = start.to_string();
                let b = (start + PAGE - 1).to_string();
                conn.command(&[b"ZRANGE", keys[ki].as_bytes(), a.as_bytes(), b.as_bytes()]);
                plan.push((ki, start));
                asked += (card(ki) - start).min(PAGE);
                start += PAGE;
            }
            if start >= card(ki) {
                ki += 1;
                start = 0;
            }
        }
        if plan.is_empty() {
            break;
        }
        let replies = conn.flush().and_then(|()| {
            plan.iter()
                .map(|&(key, start)| {
                    conn.read_members().map(|members| Page {
                        key,
                        start,
                        members,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        });
        let pages = match replies {
            Ok(p) => p.into_iter().filter(|p| p.members.len() > 0).collect(),
            Err(e) => {
                if tx.send(Err(Error::redis("ZRANGE")(e))).is_err() {
                    tracing::debug!("The import stopped while a page was read.");
                }
                return;
            }
        };
        if tx.send(Ok(Trip { seq, pages })).is_err() {
            return;
        }
        seq += 1;
    }
}

/// What a parser made of a trip's pages.
struct TripOut {
    seq: usize,
    members: usize,
    /// The trip's rows, task by task.
    batches: Vec<(Table, RecordBatch)>,
    /// Members turned into rows, by key.
    read: Vec<(usize, u64)>,
    /// Members left out: key, position in the sorted set, why.
    rejects: Vec<(usize, usize, String)>,
    /// `info` documents: key, time, document.
    infos: Vec<(usize, f64, String)>,
}

/// What parsing a member gave.
enum Parsed {
    /// A row (or, for `info`, a document kept aside).
    Row,
    /// Nothing to import (a key of no known kind).
    Nothing,
    Rejected(String),
}

/// A parser thread: trips in, sorted batches out, until the trips end or the receiver is gone.
fn parse_pages(
    trips: &std::sync::Mutex<std::sync::mpsc::Receiver<Result<Trip, Error>>>,
    out: &SyncSender<Result<TripOut, Error>>,
    url: &str,
    keys: &[&str],
    stack: &str,
) {
    let mut ctx: Option<(usize, KeyCtx)> = None;
    // Only for members without a `time` of their own (rare: 0.6 wrote `time`).
    let mut conn: Option<Connection> = None;
    loop {
        let trip = match trips.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(trip) = trip else { return };
        let result = trip.and_then(|trip| {
            let mut rows = Rows::default();
            let mut done = TripOut {
                seq: trip.seq,
                members: trip.pages.iter().map(|p| p.members.len()).sum(),
                batches: Vec::new(),
                read: Vec::new(),
                rejects: Vec::new(),
                infos: Vec::new(),
            };
            for page in &trip.pages {
                let ctx = match &mut ctx {
                    Some((k, c)) if *k == page.key => c,
                    _ => &mut ctx.insert((page.key, KeyCtx::new(keys[page.key], stack))).1,
                };
                let mut read = 0u64;
                for (i, member) in page.members.iter().enumerate() {
                    let pos = page.start + i;
                    let mut parsed = parse_member(ctx, member, None, &mut rows);
                    if parsed.is_none() {
                        let c = match &mut conn {
                            Some(c) => c,
                            None => conn.insert(connect(url)?),
                        };
                        let score: Option<f64> = redis::cmd("ZSCORE")
                            .arg(&ctx.raw_key)
                            .arg(member)
                            .query(c)
                            .map_err(Error::redis("ZSCORE"))?;
                        parsed =
                            parse_member(ctx, member, Some(score.unwrap_or(f64::NAN)), &mut rows);
                    }
                    match parsed {
                        Some(Parsed::Row) => read += 1,
                        Some(Parsed::Rejected(why)) => done.rejects.push((page.key, pos, why)),
                        Some(Parsed::Nothing) | None => {}
                    }
                }
                done.read.push((page.key, read));
                done.infos
                    .extend(rows.infos.drain(..).map(|(at, v)| (page.key, at, v)));
            }
            done.batches = rows.flush()?;
            Ok(done)
        });
        if out.send(result).is_err() {
            return;
        }
    }
}

/// What the import knows of one key while its members are parsed.
struct KeyCtx {
    raw_key: String,
    kind: KeyKind,
    task: String,
    node: String,
}

enum KeyKind {
    Packet { iface: String },
    System,
    Thing,
    Info,
    App { key: String },
    Other,
}

impl KeyCtx {
    fn new(raw_key: &str, stack: &str) -> KeyCtx {
        let parsed = legacy::parse(raw_key);
        let (kind, task) = match parsed {
            Some(LegacyKey::Packet { iface, task }) => (
                KeyKind::Packet {
                    iface: iface.to_owned(),
                },
                task,
            ),
            Some(LegacyKey::System { task }) => (KeyKind::System, task),
            Some(LegacyKey::Thing { task }) => (KeyKind::Thing, task),
            Some(LegacyKey::Info { task }) => (KeyKind::Info, task),
            Some(LegacyKey::App { task, key }) => (
                KeyKind::App {
                    key: key.to_owned(),
                },
                task,
            ),
            _ => (KeyKind::Other, ""),
        };
        KeyCtx {
            raw_key: raw_key.to_owned(),
            kind,
            task: task.to_owned(),
            node: TaskName::parse(task).node(Some(stack)).to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct PacketDoc<'a> {
    time: Option<f64>,
    #[serde(borrow)]
    len: Option<&'a RawValue>,
    #[serde(borrow)]
    src: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dst: Option<Cow<'a, str>>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    transport: Option<Cow<'a, str>>,
    #[serde(borrow)]
    srcport: Option<&'a RawValue>,
    #[serde(borrow)]
    dstport: Option<&'a RawValue>,
}

/// A packet member's fields, borrowed from it: `len` and the ports as their JSON text (a number, or a string
/// with its quotes), as [`raw_number`] reads them.
#[derive(Debug, Default, PartialEq)]
struct PacketFields<'a> {
    time: Option<f64>,
    len: Option<&'a str>,
    src: Option<Cow<'a, str>>,
    dst: Option<Cow<'a, str>>,
    proto: Option<Cow<'a, str>>,
    transport: Option<Cow<'a, str>>,
    srcport: Option<&'a str>,
    dstport: Option<&'a str>,
}

impl<'a> From<PacketDoc<'a>> for PacketFields<'a> {
    fn from(d: PacketDoc<'a>) -> Self {
        PacketFields {
            time: d.time,
            len: d.len.map(RawValue::get),
            src: d.src,
            dst: d.dst,
            proto: d.proto,
            transport: d.transport,
            srcport: d.srcport.map(RawValue::get),
            dstport: d.dstport.map(RawValue::get),
        }
    }
}

impl<'a> PacketFields<'a> {
    /// The fields of a member that [`scan_object`] reads (every packet 0.6 wrote), `None` for anything else,
    /// which [`PacketDoc`] then parses, or rejects with serde_json's message. Both give the same fields
    /// (tested): serde_json's derive took a fifth of an import's CPU.
    fn scan(member: &'a [u8]) -> Option<Self> {
        let mut f = PacketFields::default();
        let mut seen = Seen::default();
        scan_object(member, |key, value| {
            let n = match key {
                b"time" => {
                    f.time = value.number()?;
                    0
                }
                b"len" => {
                    f.len = value.raw();
                    1
                }
                b"srcport" => {
                    f.srcport = value.raw();
                    2
                }
                b"dstport" => {
                    f.dstport = value.raw();
                    3
                }
                b"src" => {
                    f.src = value.text()?;
                    4
                }
                b"dst" => {
                    f.dst = value.text()?;
                    5
                }
                b"proto" => {
                    f.proto = value.text()?;
                    6
                }
                b"transport" => {
                    f.transport = value.text()?;
                    7
                }
                _ => return Some(()),
            };
            seen.first(n)
        })?;
        Some(f)
    }
}

/// A thing member's fields, borrowed from it: the `Option<&RawValue>`s of [`ThingDoc`] as their JSON text.
#[derive(Debug, Default, PartialEq)]
struct ThingFields<'a> {
    time: Option<f64>,
    thing: Option<&'a str>,
    name: Option<Cow<'a, str>>,
    verb: Option<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
    class: Option<Cow<'a, str>>,
    latency: Option<f64>,
    error: Option<&'a str>,
    subscription: Option<&'a str>,
    event: Option<Cow<'a, str>>,
    item: Option<&'a str>,
    result: Option<&'a str>,
}

impl<'a> From<ThingDoc<'a>> for ThingFields<'a> {
    fn from(d: ThingDoc<'a>) -> Self {
        ThingFields {
            time: d.time,
            thing: d.thing.map(RawValue::get),
            name: d.name,
            verb: d.verb,
            host: d.host,
            class: d.class,
            latency: d.latency,
            error: d.error.map(RawValue::get),
            subscription: d.subscription.map(RawValue::get),
            event: d.event,
            item: d.item.map(RawValue::get),
            result: d.result.map(RawValue::get),
        }
    }
}

impl<'a> ThingFields<'a> {
    /// As [`PacketFields::scan`], for the members of a `thing` key (interactions and subscriptions).
    fn scan(member: &'a [u8]) -> Option<Self> {
        let mut f = ThingFields::default();
        let mut seen = Seen::default();
        scan_object(member, |key, value| {
            let n = match key {
                b"time" => {
                    f.time = value.number()?;
                    0
                }
                b"latency" => {
                    f.latency = value.number()?;
                    1
                }
                b"thing" => {
                    f.thing = value.raw();
                    2
                }
                b"error" => {
                    f.error = value.raw();
                    3
                }
                b"subscription" => {
                    f.subscription = value.raw();
                    4
                }
                b"item" => {
                    f.item = value.raw();
                    5
                }
                b"result" => {
                    f.result = value.raw();
                    6
                }
                b"name" => {
                    f.name = value.text()?;
                    7
                }
                b"verb" => {
                    f.verb = value.text()?;
                    8
                }
                b"host" => {
                    f.host = value.text()?;
                    9
                }
                b"class" => {
                    f.class = value.text()?;
                    10
                }
                b"event" => {
                    f.event = value.text()?;
                    11
                }
                _ => return Some(()),
            };
            seen.first(n)
        })?;
        Some(f)
    }
}

#[derive(Deserialize)]
struct SystemDoc {
    time: Option<f64>,
    cpu_percent: Option<f64>,
    cpu_percent_constraint: Option<f64>,
    mem_mb: Option<f64>,
    mem_percent: Option<f64>,
}

#[derive(Deserialize)]
struct ThingDoc<'a> {
    time: Option<f64>,
    #[serde(borrow)]
    thing: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    verb: Option<Cow<'a, str>>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    class: Option<Cow<'a, str>>,
    latency: Option<f64>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    #[serde(borrow)]
    subscription: Option<&'a RawValue>,
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    item: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct TimeDoc {
    time: Option<f64>,
}

/// The text of a JSON value: a string's content, anything else as JSON.
fn raw_text(t: &str) -> String {
    if t.starts_with('"') {
        serde_json::from_str::<String>(t).unwrap_or_else(|_| t.to_owned())
    } else {
        t.to_owned()
    }
}

/// A number, or a string holding one (0.6 wrote some ports as strings).
fn raw_number(r: &str) -> Option<f64> {
    let t = r.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map_or(t, str::trim);
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn raw_port(r: Option<&str>) -> Option<u16> {
    r.and_then(raw_number)
        .filter(|n| (0.0..=65535.0).contains(n))
        .map(|n| n as u16)
}

/// `{type, message}` of a 0.6 error value (an object, or anything else as the message of an `Error`).
fn error_parts(r: &str) -> (Option<String>, Option<String>) {
    match serde_json::from_str::<Value>(r) {
        Ok(Value::Object(o)) => (o.get("type").map(text), o.get("message").map(text)),
        Ok(v) => (Some("Error".to_owned()), Some(text(&v))),
        Err(_) => (Some("Error".to_owned()), Some(r.to_owned())),
    }
}

impl Importer {
    fn acc(&mut self, task: &str) -> &mut TaskAccounting {
        self.accounting.entry(task.to_owned()).or_default()
    }

    fn reject(&mut self, key: &str, id: &str, error: String, task: Option<&str>) {
        if let Some(t) = task {
            self.acc(t).records_rejected += 1;
        }
        let problem = Problem {
            stream: key.to_owned(),
            id: id.to_owned(),
            error,
        };
        if self.warn.allow() {
            LegacyRejected { problem: &problem }.emit();
        }
        self.problems.push(problem);
    }

    fn node(&self, task: &str) -> String {
        TaskName::parse(task).node(Some(&self.stack)).to_owned()
    }

    /// The `tasks` rows (from info and the snapshot) and the snapshot's log lines.
    fn tasks(
        &mut self,
        tasks: &BTreeSet<String>,
        snapshot: Option<&Value>,
    ) -> (Vec<TaskRow>, Vec<LogLine>) {
        // Snapshot entries are keyed by Docker task id; task names end with it.
        let mut by_id: BTreeMap<String, &Value> = BTreeMap::new();
        if let Some(Value::Object(m)) = snapshot {
            for (id, v) in m {
                by_id.insert(id.clone(), v);
            }
        }
        let mut names: BTreeSet<String> = tasks.clone();
        let mut id_to_name: BTreeMap<String, String> = BTreeMap::new();
        for t in tasks {
            if let Some(id) = TaskName::parse(t).id {
                id_to_name.insert(id.to_owned(), t.clone());
            }
        }
        for (id, v) in &by_id {
            if !id_to_name.contains_key(id) {
                // A task that left no data: name it from the snapshot.
                let slot = v.pointer("/task/Slot").and_then(Value::as_u64).unwrap_or(0);
                let service = v
                    .pointer("/task/ServiceID")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                let name = format!(
                    "{}_service-{}.{slot}.{id}",
                    self.stack,
                    &service[..service.len().min(12)]
                );
                id_to_name.insert(id.clone(), name.clone());
                names.insert(name);
            }
        }
        let mut rows = Vec::new();
        let mut logs = Vec::new();
        for name in &names {
            let parsed = TaskName::parse(name);
            let snap = parsed.id.and_then(|id| by_id.get(id).copied()).or_else(|| {
                id_to_name
                    .iter()
                    .find(|(_, n)| *n == name)
                    .and_then(|(id, _)| by_id.get(id).copied())
            });
            let info: Option<Value> = self
                .infos
                .get(name)
                .and_then(|(_, raw)| serde_json::from_str(raw).ok());
            let info = info.as_ref();
            let s = |v: Option<&Value>, p: &str| {
                v.and_then(|v| v.pointer(p))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let state = s(snap, "/task/Status/State").unwrap_or_else(|| "unknown".into());
            let terminal = matches!(
                state.as_str(),
                "complete" | "failed" | "shutdown" | "rejected" | "orphaned" | "remove"
            );
            let env = info
                .and_then(|i| i.get("env"))
                .and_then(Value::as_object)
                .map(|m| {
                    let pairs: Vec<(String, String)> =
                        m.iter().map(|(k, v)| (k.clone(), text(v))).collect();
                    let red = wotemu_contract::redact::redact_env(
                        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    );
                    serde_json::to_string(&red).unwrap_or_default()
                });
            rows.push(TaskRow {
                task: name.clone(),
                node: self.node(name),
                service: parsed.service.to_owned(),
                slot: parsed.slot.or_else(|| {
                    snap.and_then(|v| v.pointer("/task/Slot"))
                        .and_then(Value::as_u64)
                        .map(|n| n as u32)
                }),
                // 0.6 knew no host names: the Swarm node's id (short) tells its tasks' hosts apart.
                host: snap
                    .and_then(|v| v.pointer("/task/NodeID"))
                    .and_then(Value::as_str)
                    .map(|id| id.chars().take(12).collect()),
                hostname: s(info, "/hostname"),
                container_id: s(snap, "/task/Status/ContainerStatus/ContainerID")
                    .or_else(|| s(info, "/container_id")),
                networks: info
                    .and_then(|i| i.get("networks_cidr"))
                    .and_then(|n| match n {
                        Value::Object(m) => Some(m.keys().cloned().collect::<Vec<_>>().join(",")),
                        Value::Array(a) => Some(a.iter().map(text).collect::<Vec<_>>().join(",")),
                        _ => None,
                    }),
                ip_addresses: info
                    .and_then(|i| i.get("net"))
                    .map(addresses)
                    .filter(|a| !a.is_empty()),
                cpu_model: s(info, "/cpu_model"),
                cpu_count: info
                    .and_then(|i| i.get("cpu_count"))
                    .and_then(number)
                    .map(|n| n as u32),
                mem_total_bytes: info
                    .and_then(|i| i.get("mem_total"))
                    .and_then(number)
                    .map(|n| n as u64),
                started_at: info
                    .and_then(|i| i.get("time").and_then(Value::as_f64))
                    .or_else(|| self.infos.get(name).map(|(s, _)| *s))
                    .and_then(secs_f64_to_us),
                stopped_at: if terminal {
                    s(snap, "/task/Status/Timestamp")
                        .and_then(|t| wotemu_contract::time_util::rfc3339_to_us(&t))
                } else {
                    None
                },
                state,
                exit_error: s(snap, "/task/Status/Err"),
                restarts: None,
                python_version: s(info, "/python_version"),
                platform: info.and_then(|i| i.get("uname")).map(|u| match u {
                    Value::Object(m) => m.values().map(text).collect::<Vec<_>>().join(" "),
                    Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(" "),
                    v => text(v),
                }),
                env,
                // 0.6 recorded neither the calibration nor the quota it applied.
                cpu_speed_target: None,
                cpu_speed_host: None,
                cpu_quota: None,
                cpu_speed_measured: None,
                facts: legacy_facts(info, snap),
            });
            logs.extend(self.snapshot_logs(name, snap));
        }
        (rows, logs)
    }

    /// A task's output kept in 0.6's snapshot, a line each (timestamped by Docker, else at the snapshot's time).
    fn snapshot_logs(&mut self, name: &str, snap: Option<&Value>) -> Vec<LogLine> {
        let mut logs = Vec::new();
        let Some(text_logs) = snap.and_then(|v| v.get("logs")).and_then(Value::as_str) else {
            return logs;
        };
        let t0 = snap
            .and_then(|v| v.get("time"))
            .and_then(Value::as_f64)
            .and_then(secs_f64_to_us)
            .unwrap_or(0);
        let node = self.node(name);
        let acc = self.acc(name);
        for line in text_logs.lines().filter(|l| !l.is_empty()) {
            let (time, line) =
                wotemu_contract::time_util::timestamped_line(line).unwrap_or((t0, line));
            acc.records_read += 1;
            acc.records_written += 1;
            logs.push(LogLine {
                task: name.to_owned(),
                node: node.clone(),
                time,
                stream: "stdout".into(),
                line: line.to_owned(),
            });
        }
        logs
    }
}

/// Every field of a task's 0.6 info document and Docker task that no column holds, as a JSON object: kept,
/// never dropped (`env` is in its own column, redacted; the Docker task's spec is left out: it repeats the
/// compose file, which the manifest keeps, and holds the environment unredacted).
fn legacy_facts(info: Option<&Value>, snap: Option<&Value>) -> Option<String> {
    // Fields a column holds whole (`net`, `networks_cidr` and `uname` are flattened there: kept here too).
    const IN_COLUMNS: [&str; 8] = [
        "cpu_count",
        "cpu_model",
        "mem_total",
        "hostname",
        "container_id",
        "python_version",
        "env",
        "time",
    ];
    let mut out = serde_json::Map::new();
    if let Some(Value::Object(m)) = info {
        for (k, v) in m {
            if !IN_COLUMNS.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(task) = snap.and_then(|v| v.get("task")) {
        let mut docker = task.clone();
        if let Value::Object(m) = &mut docker {
            m.remove("Spec");
        }
        out.insert("docker_task".into(), docker);
    }
    (!out.is_empty()).then(|| Value::Object(out).to_string())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Every IP address (other than loopback) found under an `address` key in psutil's `net_if_addrs` shape.
fn addresses(net: &Value) -> String {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "address" {
                        if let Some(ip) = v.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
                            if !ip.is_loopback() {
                                out.insert(ip.to_string());
                            }
                        }
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(net, &mut out);
    out.into_iter().collect::<Vec<_>>().join(",")
}

/// The application protocol of a 0.6 packet: tshark's highest layer when it names one, else the WoT ports.
pub fn app_proto(
    highest: Option<&str>,
    transport: &str,
    srcport: Option<u16>,
    dstport: Option<u16>,
) -> String {
    proto_of(highest, transport, srcport, dstport).to_owned()
}

/// [`app_proto`] without allocating.
fn proto_of<'a>(
    highest: Option<&str>,
    transport: &'a str,
    srcport: Option<u16>,
    dstport: Option<u16>,
) -> &'a str {
    let h = lower(highest.unwrap_or(""));
    let by_layer = match &*h {
        "http" | "json" | "data-text-lines" | "urlencoded-form" | "media" | "xml" | "http2" => {
            Some("http")
        }
        "websocket" => Some("ws"),
        "mqtt" => Some("mqtt"),
        "coap" => Some("coap"),
        _ => None,
    };
    if let Some(p) = by_layer {
        return p;
    }
    let by_port = |p: Option<u16>| match p {
        Some(80) | Some(9090) => Some("http"),
        Some(81) => Some("ws"),
        Some(1883) => Some("mqtt"),
        Some(5683) => Some("coap"),
        _ => None,
    };
    by_port(dstport)
        .or_else(|| by_port(srcport))
        .unwrap_or(if transport.is_empty() {
            "other"
        } else {
            transport
        })
}

/// A text in lower case, borrowed when it is already (as 0.6 wrote its protocols).
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What serde_json's derive makes of a member (`None`: it rejects it).
    fn packet_by_serde(member: &[u8]) -> Option<PacketFields<'_>> {
        serde_json::from_slice::<PacketDoc<'_>>(member)
            .ok()
            .map(PacketFields::from)
    }

    fn thing_by_serde(member: &[u8]) -> Option<ThingFields<'_>> {
        serde_json::from_slice::<ThingDoc<'_>>(member)
            .ok()
            .map(ThingFields::from)
    }

    #[test]
    fn the_members_0_6_wrote_are_scanned_in_one_pass_with_serdes_fields() {
        for member in [
            r#"{"len": 1434, "src": "10.0.1.3", "dst": "10.0.1.2", "proto": "http", "transport": "tcp", "time": 1764000000.123456, "srcport": 40000, "dstport": 80}"#,
            r#"{"len": 98, "src": "10.0.1.3", "dst": "10.0.1.2", "proto": "icmp", "transport": "icmp", "time": 1764000000.5, "srcport": null, "dstport": null}"#,
            r#"{"len": "60", "srcport": "80", "time": 1764000001, "extra": [1, {"a": [true, "é"]}], "x": {}}"#,
            r#" { "time" : 1.5e9 , "len":0 } "#,
            r#"{}"#,
        ] {
            let scanned = PacketFields::scan(member.as_bytes());
            assert!(scanned.is_some(), "{member}");
            assert_eq!(scanned, packet_by_serde(member.as_bytes()), "{member}");
        }
        let p = PacketFields::scan(br#"{"len": 1434, "srcport": "80", "time": 1764000000.123456}"#)
            .unwrap();
        assert_eq!(p.len, Some("1434"));
        assert_eq!(p.srcport, Some("\"80\""));
        assert_eq!(p.time, Some(1_764_000_000.123_456));
        for member in [
            r#"{"thing": "urn:t", "verb": "readProperty", "name": "temperature", "time": 1764000000.25, "host": "h", "class": "ConsumedThing", "latency": 0.61, "error": null, "result": 20.5}"#,
            r#"{"thing": "urn:t", "verb": "readProperty", "name": "humidity", "time": 1764000040, "host": "h", "class": "ConsumedThing", "latency": 30, "error": {"type": "TimeoutError", "message": "timed out after 30 s"}, "result": null}"#,
            r#"{"event": "on_next", "item": {"name": "tick", "data": {"n": 3, "time": 1764000001.5}}, "thing": "urn:t", "verb": "subscribeEvent", "name": "tick", "time": 1764000001.5, "host": "h", "class": "ConsumedThing", "subscription": "00ab"}"#,
            r#"{"thing": {"id": 1}, "result": [1, 2, {"b": false}], "item": true}"#,
        ] {
            let scanned = ThingFields::scan(member.as_bytes());
            assert!(scanned.is_some(), "{member}");
            assert_eq!(scanned, thing_by_serde(member.as_bytes()), "{member}");
        }
        let t = ThingFields::scan(br#"{"error": {"type": "E", "message": "m"}, "result": [1, 2]}"#)
            .unwrap();
        assert_eq!(t.error, Some(r#"{"type": "E", "message": "m"}"#));
        assert_eq!(t.result, Some("[1, 2]"));
    }

    #[test]
    fn what_the_scan_leaves_to_serde_json() {
        for member in [
            r#"{"src": "a\"b"}"#,        // an escape
            r#"{"x": {"a": "\n"}}"#,     // an escape, nested
            r#"{"time": 1, "time": 2}"#, // a duplicate field: serde_json rejects it
            r#"{"src": 5}"#,             // a number where a string is expected: rejected
            r#"{"time": "5"}"#,          // a string where a number is expected: rejected
            r#"{"len": 01}"#,            // not JSON
            r#"{"len": 1,}"#,            // not JSON
            r#"{"x": [1,]}"#,            // not JSON
            r#"{"x": {"a" 1}}"#,         // not JSON
            r#"{"len": 1} x"#,           // trailing text
            r#"{"time": 1e400}"#,        // out of range: rejected
            r#"[1, "a"]"#,               // a struct as a sequence: serde_json's
            "{\"src\": \"\u{1}\"}",      // a control character
        ] {
            assert_eq!(PacketFields::scan(member.as_bytes()), None, "{member}");
        }
        assert_eq!(PacketFields::scan(b"{\"src\": \"\xff\"}"), None);
        let deep = format!("{{\"x\": {}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(PacketFields::scan(deep.as_bytes()), None);
        assert!(packet_by_serde(deep.as_bytes()).is_some());
    }

    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            (-1e12f64..1e12).prop_map(|n| format!("{n}")),
            (0u32..70_000).prop_map(|n| n.to_string()),
            (0u32..70_000).prop_map(|n| format!("\"{n}\"")),
            "[a-z0-9. \\\\\"\u{e9}]{0,8}".prop_map(|s| format!("\"{s}\"")),
            Just("-0.5e-3".to_owned()),
            // Escapes serde_json reads and the scans leave to it.
            Just(r#""a\"b""#.to_owned()),
            Just(r#""\u00e9\n""#.to_owned()),
            Just("1e400".to_owned()),
            Just("1.".to_owned()),
            Just("-".to_owned()),
            Just("tru".to_owned()),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                proptest::collection::vec(("[a-z\"]{0,3}", inner), 0..4).prop_map(|v| {
                    let fields: Vec<String> =
                        v.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    /// Whatever the scans read, serde_json reads the same; whatever serde_json rejects, the scans leave.
    #[test]
    fn the_scans_agree_with_serde_json() {
        let member = (
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("time"),
                        Just("len"),
                        Just("src"),
                        Just("proto"),
                        Just("srcport"),
                        Just("thing"),
                        Just("name"),
                        Just("latency"),
                        Just("error"),
                        Just("result"),
                        Just("other"),
                        Just("\u{e9}"),
                    ],
                    json_value(),
                    prop_oneof![Just(""), Just(" "), Just("\n\t")],
                ),
                0..8,
            ),
            prop_oneof![Just(""), Just(" "), Just(","), Just("}"), Just(" x")],
        )
            .prop_map(|(fields, tail)| {
                let body: Vec<String> = fields
                    .iter()
                    .map(|(k, v, ws)| format!("{ws}\"{k}\"{ws}:{ws}{v}{ws}"))
                    .collect();
                format!("{{{}}}{tail}", body.join(","))
            });
        let counts = std::cell::Cell::new([0usize; 4]);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 4_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = runner.run(&member, |member| {
            let m = member.as_bytes();
            let (packet, thing) = (PacketFields::scan(m), ThingFields::scan(m));
            let (packet_serde, thing_serde) = (packet_by_serde(m), thing_by_serde(m));
            let mut c = counts.get();
            c[0] += usize::from(packet.is_some());
            c[1] += usize::from(packet_serde.is_some());
            c[2] += usize::from(thing.is_some());
            c[3] += usize::from(thing_serde.is_some());
            counts.set(c);
            if packet.is_some() {
                prop_assert_eq!(&packet, &packet_serde, "{}", member);
            }
            if packet_serde.is_none() {
                prop_assert_eq!(&packet, &None, "{}", member);
            }
            if thing.is_some() {
                prop_assert_eq!(&thing, &thing_serde, "{}", member);
            }
            if thing_serde.is_none() {
                prop_assert_eq!(&thing, &None, "{}", member);
            }
            Ok(())
        });
        result.unwrap();
        // Every outcome was tried, often: scanned, left to serde_json and read by it, rejected.
        let [packet, packet_serde, thing, thing_serde] = counts.get();
        for (scanned, by_serde) in [(packet, packet_serde), (thing, thing_serde)] {
            assert!(scanned > 150, "{scanned} of 4,000 scanned");
            assert!(
                by_serde - scanned > 10,
                "{by_serde} read by serde_json, {scanned} scanned"
            );
            assert!(4_000 - by_serde > 400, "{by_serde} read by serde_json");
        }
    }

    #[test]
    fn protocols() {
        assert_eq!(
            app_proto(Some("json"), "tcp", Some(80), Some(40000)),
            "http"
        );
        assert_eq!(app_proto(Some("websocket"), "tcp", None, None), "ws");
        assert_eq!(app_proto(Some("WebSocket"), "tcp", None, None), "ws");
        assert_eq!(app_proto(Some("MQTT"), "tcp", None, None), "mqtt");
        assert_eq!(app_proto(None, "", None, None), "other");
        assert_eq!(
            app_proto(Some("tcp"), "tcp", Some(40000), Some(1883)),
            "mqtt"
        );
        assert_eq!(
            app_proto(Some("udp"), "udp", Some(5683), Some(40000)),
            "coap"
        );
        assert_eq!(app_proto(Some("tcp"), "tcp", Some(40000), Some(22)), "tcp");
        assert_eq!(app_proto(None, "icmp", None, None), "icmp");
    }

    #[test]
    fn stack_guess() {
        let tasks: BTreeSet<String> = ["my_exp_reader.1.a", "my_exp_server.1.b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let compose = serde_json::json!({"services": {"reader": {}, "server": {}, "redis": {}}});
        assert_eq!(guess_stack(&tasks, Some(&compose)), "my_exp");
        assert_eq!(guess_stack(&tasks, None), "my");
    }

    #[test]
    fn addresses_from_psutil_shape() {
        let net = serde_json::json!({"eth0": [{"family": 2, "address": "10.0.1.5"}, {"family": 17, "address": "02:42:ac:11:00:02"}],
                                     "lo": [{"family": 2, "address": "127.0.0.1"}]});
        assert_eq!(addresses(&net), "10.0.1.5");
    }
}
