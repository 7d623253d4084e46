//! Importing a WoTemu 0.6 Redis store into a run dataset. The store is only read, never written.
//!
//! The 0.6 layout keeps sorted sets (score = UNIX seconds, member = JSON). Keys are found with `SCAN MATCH
//! wotemu:*` and read with `ZRANGE … WITHSCORES` in pages. The mapping:
//!
//! | 0.6 key | table | mapping |
//! | --- | --- | --- |
//! | `wotemu:packet:<iface>:<task>` | `packets` | `len`, `src`, `dst`, `srcport`, `dstport`; `transport` lower-cased; `proto` from tshark's highest layer (`http`, `json`, `data-text-lines`, … → `http`; `websocket` → `ws`; `mqtt`; `coap`) or else from the WoT ports, else the transport |
//! | `wotemu:system:<task>` | `system` | `cpu_percent`; `cpu_percent_constraint` → `cpu_limit_percent`; `mem_mb` × 2²⁰ → `mem_bytes`; `mem_bytes` ÷ (`mem_percent`/100) → `mem_limit_bytes` |
//! | `wotemu:thing:<task>` without `subscription` | `interactions` | `thing`, `name`, `verb`, `host`; `class` `ConsumedThing`/`ExposedThing` → `side`; `latency` s → `latency_ms`; `error` → `ok`, `error_type`, `error_message` |
//! | `wotemu:thing:<task>` with `subscription` | `events` | `event` `on_next`… → `kind` `next`…; `item` as JSON |
//! | `wotemu:info:<task>` | `tasks` | `cpu_count`, `cpu_model`, `mem_total`, `hostname`, `container_id`, `python_version`; `networks_cidr` → `networks`; addresses in `net` → `ip_addresses`; `uname` → `platform`; `env` redacted |
//! | `wotemu:snapshot` | `tasks`, `logs` | Docker task `Status.State` → `state`, `Status.Err` → `exit_error`, `Slot`, container id, `Status.Timestamp` → `stopped_at` (terminal states); `logs` split into lines |
//! | `wotemu:app:<task>:<key>` | `app` | `key`, member as JSON `value` |
//! | `wotemu:compose` | manifest `compose` | the compose document |
//!
//! `time` is the member's `time` field when present, else its score. Members that are not JSON, or lack a
//! required field, are rejected, counted (`records_rejected`) and listed in the manifest's problems.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use redis::Connection;
use serde::Deserialize;
use serde_json::Value;
use wotemu_contract::keys::legacy::{self, LegacyKey};
use wotemu_contract::manifest::{Accounting, HostFacts, Manifest, Problem, Source, TaskAccounting};
use wotemu_contract::table::{
    AppValue, Event, Interaction, LogLine, Packet, Records, SystemSample, TaskRow,
};
use wotemu_contract::task::TaskName;
use wotemu_contract::time_util::secs_f64_to_us;
use wotemu_contract::{Table, DATASET_SCHEMA_VERSION};

use crate::collect::{CollectSummary, WORK_DIR};
use crate::error::Error;
use crate::events::{LegacyRejected, RateLimit};
use crate::finalize::{finalize, Finish};
use crate::sink::{PartMeta, PartSink};
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
const PAGE: isize = 20_000;
/// Rows per batch handed to the sink.
const BATCH_ROWS: usize = 32_768;

/// Imports a 0.6 store into a run dataset.
pub fn import(opts: &LegacyOptions, progress: &dyn Progress) -> Result<CollectSummary, Error> {
    let started = Instant::now();
    let mut conn = connect(&opts.redis_url)?;
    let all_keys = scan_keys(&mut conn, "wotemu:*")?;
    let mut data_keys = Vec::new();
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
            url: wotemu_contract::redact::redact_url(&opts.redis_url),
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
    let mut parts: Vec<PartMeta> = Vec::new();
    let mut imp = Importer {
        stack: stack.clone(),
        accounting: BTreeMap::new(),
        problems: Vec::new(),
        warn: RateLimit::new(10),
        infos: BTreeMap::new(),
    };

    let mut total = 0u64;
    for k in &data_keys {
        total += redis::cmd("ZCARD")
            .arg(k)
            .query::<u64>(&mut conn)
            .unwrap_or(0);
    }
    progress.start("Importing", Some(total));
    let mut records = 0u64;
    for key in &data_keys {
        let parsed = legacy::parse(key).expect("classified above");
        let mut start: isize = 0;
        let mut rows = Rows::default();
        loop {
            if start == 0 {
                let kind: String = redis::cmd("TYPE")
                    .arg(key)
                    .query(&mut conn)
                    .map_err(Error::redis("TYPE"))?;
                if kind != "zset" {
                    let msg =
                        format!("a {kind}, not a sorted set as in the 0.6 layout; key left out");
                    imp.reject(key, "-", msg, None);
                    break;
                }
            }
            let page: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(start)
                .arg(start + PAGE - 1)
                .arg("WITHSCORES")
                .query(&mut conn)
                .map_err(Error::redis("ZRANGE"))?;
            let n = page.len();
            for (i, (member, score)) in page.into_iter().enumerate() {
                let pos = start as usize + i;
                imp.member(&parsed, key, pos, &member, score, &mut rows);
            }
            for (table, batch) in rows.flush(n < PAGE as usize) {
                records += batch.num_rows() as u64;
                sink.push(table, batch);
            }
            progress.advance(n as u64);
            if sink.should_spill() {
                parts.extend(sink.spill()?);
            }
            if n < PAGE as usize {
                break;
            }
            start += PAGE;
        }
    }
    progress.finish();

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

    let mut accounting = Accounting::default();
    for (task, acc) in imp.accounting {
        accounting.totals.add(&acc);
        accounting.tasks.insert(task, acc);
    }
    imp.warn.summary("0.6 records rejected");
    let manifest = Manifest {
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
    };
    let manifest = finalize(
        Finish {
            out: &opts.out,
            work: &work,
            parts: &parts,
            tasks: task_rows,
            manifest,
        },
        progress,
    )?;
    Ok(CollectSummary {
        manifest,
        entries: total,
        records,
        elapsed: started.elapsed(),
        resumed: false,
        already_complete: false,
    })
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

/// Rows being built for the sink.
#[derive(Default)]
struct Rows {
    packets: Vec<Packet>,
    interactions: Vec<Interaction>,
    events: Vec<Event>,
    system: Vec<SystemSample>,
    app: Vec<AppValue>,
}

impl Rows {
    /// Batches of the rows gathered so far (all of them when `all`, else only full batches).
    fn flush(&mut self, all: bool) -> Vec<(Table, RecordBatch)> {
        fn take<T: Records>(v: &mut Vec<T>, all: bool, out: &mut Vec<(Table, RecordBatch)>) {
            if !v.is_empty() && (all || v.len() >= BATCH_ROWS) {
                out.push((T::TABLE, T::to_batch(v)));
                v.clear();
            }
        }
        let mut out = Vec::new();
        take(&mut self.packets, all, &mut out);
        take(&mut self.interactions, all, &mut out);
        take(&mut self.events, all, &mut out);
        take(&mut self.system, all, &mut out);
        take(&mut self.app, all, &mut out);
        out
    }
}

struct Importer {
    stack: String,
    accounting: BTreeMap<String, TaskAccounting>,
    problems: Vec<Problem>,
    warn: RateLimit,
    /// The last `info` document of each task.
    infos: BTreeMap<String, (f64, Value)>,
}

#[derive(Deserialize)]
struct PacketDoc {
    time: Option<f64>,
    len: Value,
    src: Option<String>,
    dst: Option<String>,
    proto: Option<String>,
    transport: Option<String>,
    srcport: Option<Value>,
    dstport: Option<Value>,
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
struct ThingDoc {
    time: Option<f64>,
    thing: Option<Value>,
    name: Option<String>,
    verb: Option<String>,
    host: Option<String>,
    class: Option<String>,
    latency: Option<f64>,
    error: Option<Value>,
    subscription: Option<Value>,
    event: Option<String>,
    item: Option<Value>,
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

    fn member(
        &mut self,
        key: &LegacyKey<'_>,
        raw_key: &str,
        pos: usize,
        member: &[u8],
        score: f64,
        rows: &mut Rows,
    ) {
        let task = match key {
            LegacyKey::System { task }
            | LegacyKey::Packet { task, .. }
            | LegacyKey::Thing { task }
            | LegacyKey::Info { task }
            | LegacyKey::App { task, .. } => *task,
            _ => return,
        };
        let id = format!("member {pos}");
        let time_of =
            |t: Option<f64>| secs_f64_to_us(t.unwrap_or(score)).or_else(|| secs_f64_to_us(score));
        let result: Result<(), String> = (|| {
            match key {
                LegacyKey::Packet { iface, .. } => {
                    let d: PacketDoc = serde_json::from_slice(member)
                        .map_err(|e| format!("not a 0.6 packet record: {e}"))?;
                    let transport = d
                        .transport
                        .as_deref()
                        .unwrap_or("other")
                        .to_ascii_lowercase();
                    let srcport = port(d.srcport.as_ref());
                    let dstport = port(d.dstport.as_ref());
                    rows.packets.push(Packet {
                        task: task.to_owned(),
                        node: self.node(task),
                        iface: (*iface).to_owned(),
                        time: time_of(d.time).ok_or("time is not a number")?,
                        len: number(&d.len).ok_or("`len` is missing or not a number")? as u32,
                        src: d.src.unwrap_or_default(),
                        dst: d.dst.unwrap_or_default(),
                        proto: app_proto(d.proto.as_deref(), &transport, srcport, dstport),
                        transport,
                        srcport,
                        dstport,
                    });
                }
                LegacyKey::System { .. } => {
                    let d: SystemDoc = serde_json::from_slice(member)
                        .map_err(|e| format!("not a 0.6 system record: {e}"))?;
                    let mem_bytes = d.mem_mb.map(|mb| (mb * 1_048_576.0).round() as u64);
                    let mem_limit_bytes = match (mem_bytes, d.mem_percent) {
                        (Some(b), Some(p)) if p > 0.0 => {
                            Some((b as f64 / (p / 100.0)).round() as u64)
                        }
                        _ => None,
                    };
                    rows.system.push(SystemSample {
                        task: task.to_owned(),
                        node: self.node(task),
                        time: time_of(d.time).ok_or("time is not a number")?,
                        cpu_percent: d.cpu_percent,
                        cpu_limit_percent: d.cpu_percent_constraint,
                        mem_bytes,
                        mem_limit_bytes,
                        cpu_throttled_us: None,
                        oom_kills: None,
                    });
                }
                LegacyKey::Thing { .. } => {
                    let d: ThingDoc = serde_json::from_slice(member)
                        .map_err(|e| format!("not a 0.6 thing record: {e}"))?;
                    let time = time_of(d.time).ok_or("time is not a number")?;
                    let thing = match d.thing {
                        Some(Value::String(s)) => s,
                        Some(v) => v.to_string(),
                        None => return Err("`thing` is missing".into()),
                    };
                    let name = d.name.unwrap_or_default();
                    if let Some(sub) = d.subscription.filter(|s| !s.is_null()) {
                        let kind = d.event.as_deref().unwrap_or("next");
                        rows.events.push(Event {
                            task: task.to_owned(),
                            node: self.node(task),
                            time,
                            thing,
                            name,
                            subscription: match sub {
                                Value::String(s) => s,
                                v => v.to_string(),
                            },
                            kind: kind.strip_prefix("on_").unwrap_or(kind).to_owned(),
                            item: d.item.filter(|i| !i.is_null()).map(|i| i.to_string()),
                        });
                    } else {
                        let (error_type, error_message) = match d.error {
                            None | Some(Value::Null) => (None, None),
                            Some(Value::Object(o)) => {
                                (o.get("type").map(text), o.get("message").map(text))
                            }
                            Some(v) => (Some("Error".to_owned()), Some(text(&v))),
                        };
                        rows.interactions.push(Interaction {
                            task: task.to_owned(),
                            node: self.node(task),
                            time,
                            thing,
                            name,
                            verb: d
                                .verb
                                .unwrap_or_else(|| "unknown".into())
                                .to_ascii_lowercase(),
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
                            host: d.host,
                        });
                    }
                }
                LegacyKey::App { key, .. } => {
                    let value = match serde_json::from_slice::<Value>(member) {
                        Ok(v) => v.to_string(),
                        Err(_) => {
                            Value::String(String::from_utf8_lossy(member).into_owned()).to_string()
                        }
                    };
                    let doc_time = serde_json::from_slice::<Value>(member)
                        .ok()
                        .and_then(|v| v.get("time").and_then(Value::as_f64));
                    rows.app.push(AppValue {
                        task: task.to_owned(),
                        node: self.node(task),
                        time: time_of(doc_time).ok_or("time is not a number")?,
                        key: (*key).to_owned(),
                        value,
                    });
                }
                LegacyKey::Info { .. } => {
                    let v: Value = serde_json::from_slice(member)
                        .map_err(|e| format!("not a 0.6 info record: {e}"))?;
                    let newer = self.infos.get(task).is_none_or(|(s, _)| score >= *s);
                    if newer {
                        self.infos.insert(task.to_owned(), (score, v));
                    }
                    // Info becomes the tasks row, not a record of a streamed table.
                    return Ok(());
                }
                LegacyKey::Snapshot | LegacyKey::Compose => {}
            }
            let acc = self.acc(task);
            acc.records_read += 1;
            acc.records_written += 1;
            Ok(())
        })();
        if let Err(e) = result {
            self.reject(raw_key, &id, e, Some(task));
        }
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
            let info = self.infos.get(name).map(|(_, v)| v);
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
            });
            if let Some(text_logs) = snap.and_then(|v| v.get("logs")).and_then(Value::as_str) {
                let t0 = snap
                    .and_then(|v| v.get("time"))
                    .and_then(Value::as_f64)
                    .and_then(secs_f64_to_us)
                    .unwrap_or(0);
                let node = self.node(name);
                let acc = self.acc(name);
                for line in text_logs.lines().filter(|l| !l.is_empty()) {
                    let (time, line) = docker_timestamp(line).unwrap_or((t0, line));
                    acc.records_read += 1;
                    acc.records_written += 1;
                    logs.push(LogLine {
                        task: name.clone(),
                        node: node.clone(),
                        time,
                        stream: "stdout".into(),
                        line: line.to_owned(),
                    });
                }
            }
        }
        (rows, logs)
    }
}

/// A line starting with a Docker RFC 3339 timestamp: its time and the rest.
pub(crate) fn docker_timestamp(line: &str) -> Option<(i64, &str)> {
    let (ts, rest) = line.split_once(' ')?;
    let us = wotemu_contract::time_util::rfc3339_to_us(ts)?;
    Some((us, rest))
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

fn port(v: Option<&Value>) -> Option<u16> {
    v.and_then(number)
        .filter(|n| (0.0..=65535.0).contains(n))
        .map(|n| n as u16)
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
    let h = highest.unwrap_or("").to_ascii_lowercase();
    let by_layer = match h.as_str() {
        "http" | "json" | "data-text-lines" | "urlencoded-form" | "media" | "xml" | "http2" => {
            Some("http")
        }
        "websocket" => Some("ws"),
        "mqtt" => Some("mqtt"),
        "coap" => Some("coap"),
        _ => None,
    };
    if let Some(p) = by_layer {
        return p.to_owned();
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
        .map(str::to_owned)
        .unwrap_or_else(|| {
            if transport.is_empty() {
                "other".into()
            } else {
                transport.to_owned()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert_eq!(
            app_proto(Some("json"), "tcp", Some(80), Some(40000)),
            "http"
        );
        assert_eq!(app_proto(Some("websocket"), "tcp", None, None), "ws");
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
