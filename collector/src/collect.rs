//! `wotemu collect`: drain a stack's streams into a run dataset, crash-safely.
//!
//! Steps, each durable before the next (see [`crate::checkpoint`] for the invariants):
//! 1. resume from `<run>/.wotemu-collect/checkpoint.json` if present, deleting orphan parts;
//! 2. find the streams (`SCAN`) and read each from its position, de-duplicating by `(task, seq)`;
//! 3. when the buffers reach the budget: spill sorted parts → save the checkpoint → trim Redis (`XTRIM MINID`);
//! 4. merge each table's parts into `<table>.parquet`, write `tasks.parquet` from the registry and snapshot;
//! 5. write `manifest.json` (last: its presence means the dataset is complete) and remove the work folder.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redis::Connection;
use wotemu_contract::keys::{check_name, StackKeys};
use wotemu_contract::manifest::{
    Accounting, HostFacts, Manifest, Problem, Source, TaskAccounting, MANIFEST_FILE,
};
use wotemu_contract::table::{LogLine, Records};
use wotemu_contract::task::{TaskInfo, TaskName, TaskSnapshot};
use wotemu_contract::time_util::rfc3339_to_us;
use wotemu_contract::{Table, DATASET_SCHEMA_VERSION};

use crate::checkpoint::Checkpoint;
use crate::error::Error;
use crate::events;
use crate::failpoint;
use crate::finalize::{finalize, Finish};
use crate::sink::PartSink;
use crate::source::{self, StreamToRead};
use crate::{NoProgress, Progress};

/// The work folder inside a run directory while a collection is under way.
pub const WORK_DIR: &str = ".wotemu-collect";

/// How to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub redis_url: String,
    pub stack: String,
    /// The run directory to write.
    pub out: PathBuf,
    /// Buffered bytes that trigger a spill (memory bound of the collector's buffers).
    pub spill_bytes: usize,
    /// Entries per XRANGE page.
    pub page_entries: usize,
    /// Trim consumed entries from Redis once they are durable (the default); off keeps Redis as it is.
    pub trim: bool,
    /// A folder of agents' spools (`<task>.spool`) to read as well: entries their agents never replayed
    /// (a one-host run's `spool/`). Entries also in Redis are de-duplicated by their `seq`.
    pub spool_dir: Option<PathBuf>,
    /// Marks the dataset incomplete (a salvaged run), with why.
    pub incomplete: Option<wotemu_contract::manifest::Incomplete>,
}

impl CollectOptions {
    /// Defaults for a stack and output directory.
    pub fn new(redis_url: &str, stack: &str, out: &Path) -> Self {
        CollectOptions {
            redis_url: redis_url.to_owned(),
            stack: stack.to_owned(),
            out: out.to_owned(),
            spill_bytes: 48 << 20,
            page_entries: 64,
            trim: true,
            spool_dir: None,
            incomplete: None,
        }
    }
}

/// What a collection did.
#[derive(Debug, Clone)]
pub struct CollectSummary {
    pub manifest: Manifest,
    /// Entries read in this invocation.
    pub entries: u64,
    /// Records written in this invocation.
    pub records: u64,
    pub elapsed: Duration,
    /// Whether an interrupted collection was resumed.
    pub resumed: bool,
    /// Whether the dataset was already complete and nothing was done.
    pub already_complete: bool,
}

impl CollectSummary {
    /// Records per second of this invocation.
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.records as f64 / secs
        } else {
            0.0
        }
    }

    /// What `wotemu collect --json` prints (`out`: the dataset's folder).
    pub fn report_json(&self, out: &std::path::Path) -> serde_json::Value {
        let m = &self.manifest;
        let tables: std::collections::BTreeMap<Table, u64> =
            m.tables.iter().map(|(t, i)| (*t, i.rows)).collect();
        serde_json::json!({
            "out": out.display().to_string(),
            "stack": m.stack,
            "source": m.source.kind,
            "resumed": self.resumed,
            "already_complete": self.already_complete,
            "entries": self.entries,
            "records": self.records,
            "seconds": self.elapsed.as_secs_f64(),
            "records_per_second": self.rate(),
            "tables": tables,
            "accounting": m.accounting.totals,
            "problems": m.problems,
        })
    }

    /// What `wotemu collect` says to people.
    pub fn describe(&self, out: &std::path::Path) -> String {
        let m = &self.manifest;
        if self.already_complete {
            return format!(
                "{} already holds the complete dataset of stack `{}`; nothing new to collect.",
                out.display(),
                m.stack
            );
        }
        let tasks = m
            .accounting
            .tasks
            .len()
            .max(m.tables.get(&Table::Tasks).map_or(0, |t| t.rows as usize));
        let rows: Vec<String> = m
            .tables
            .iter()
            .map(|(t, i)| format!("{t} {}", i.rows))
            .collect();
        format!(
            "Collected {} records from {tasks} tasks in {:.2} s ({:.0} records/s) into {}{}\n  rows: {}",
            self.records,
            self.elapsed.as_secs_f64(),
            self.rate(),
            out.display(),
            if self.resumed { " (resumed)" } else { "" },
            rows.join(", ")
        )
    }
}

/// The process stops using transparent huge pages (a collection's buffers are large and short-lived: a huge
/// page costs its zeroing and saves nothing); this and what it starts from now on.
pub(crate) fn no_huge_pages() {
    if !wotemu_sys::process::no_huge_pages() {
        tracing::debug!("The kernel kept transparent huge pages on (PR_SET_THP_DISABLE refused).");
    }
}

/// Collects a stack into a run dataset. The calling process uses no transparent huge pages afterwards.
pub fn collect(opts: &CollectOptions, progress: &dyn Progress) -> Result<CollectSummary, Error> {
    let _span = tracing::info_span!("collect", stack = %opts.stack).entered();
    let started = Instant::now();
    no_huge_pages();
    check_name(&opts.stack)?;
    let keys = StackKeys::new(&opts.stack);
    let work = opts.out.join(WORK_DIR);
    let mut conn = source::connect(&opts.redis_url)?;

    let resumed_ckpt = if work.exists() {
        Checkpoint::load(&work)?
    } else {
        None
    };
    if resumed_ckpt.is_none() && opts.out.join(MANIFEST_FILE).exists() {
        return already_collected(&mut conn, &keys, opts, started);
    }
    let resumed = resumed_ckpt.is_some();
    let mut ckpt = match resumed_ckpt {
        Some(c) if c.stack != opts.stack => {
            return Err(Error::OtherStack {
                work: work.display().to_string(),
                found: c.stack,
                expected: opts.stack.clone(),
            })
        }
        Some(c) => c,
        None => Checkpoint::new(&opts.stack),
    };
    fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let mut sink = PartSink::new(work.join("parts"), opts.spill_bytes, ckpt.next_part)?;
    let orphans = sink.remove_orphans(&ckpt.parts)?;
    if resumed {
        events::Resumed {
            parts: ckpt.parts.len(),
            orphans_removed: orphans,
        }
        .emit();
    }

    // Discover streams and registered tasks.
    let stream_keys = source::scan_keys(&mut conn, &keys.stream_pattern())?;
    let registry: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.tasks())
        .query(&mut conn)
        .map_err(Error::redis("HGETALL"))?;
    if stream_keys.is_empty() && registry.is_empty() && ckpt.parts.is_empty() {
        if let Err(e) = fs::remove_dir_all(&work) {
            tracing::warn!(error = %e, work = %work.display(), "The empty work folder was not removed.");
        }
        return Err(Error::NoSuchStack {
            stack: opts.stack.clone(),
            url: wotemu_contract::redact::redact_url(&opts.redis_url),
        });
    }
    let streams: Vec<StreamToRead> = stream_keys
        .iter()
        .map(|k| StreamToRead {
            key: k.clone(),
            after: ckpt.streams.get(k).cloned(),
        })
        .collect();
    let total = streams
        .iter()
        .map(|s| source::pending_entries(&mut conn, &s.key, s.after.as_deref()))
        .sum::<Result<u64, Error>>()?;
    progress.start("Collecting", Some(total));

    // Drain.
    let (rx, reader) = source::spawn_reader(&opts.redis_url, streams.clone(), opts.page_entries)?;
    let mut trimmed: BTreeMap<String, String> = BTreeMap::new();
    let (mut entries, mut records) = (0u64, 0u64);
    let mut warned = events::RateLimit::new(10);
    for page in rx {
        let page = page?;
        let key = &streams[page.stream].key;
        let task = keys.task_of_stream(key).unwrap_or(key).to_owned();
        let n = page.entries.len() as u64;
        for e in page.entries {
            records += consume(
                &mut ckpt,
                &mut sink,
                &task,
                key,
                &e.id,
                e.result,
                &mut warned,
            );
            ckpt.streams.insert(key.clone(), e.id);
        }
        entries += n;
        progress.advance(n);
        if sink.should_spill() {
            commit(&mut ckpt, &mut sink, &work)?;
            trim(&mut conn, opts, &ckpt, &mut trimmed)?;
        }
    }
    reader.join().expect("reader thread");
    if !ckpt.spools_read {
        let (r, e) = read_spools(opts, &mut ckpt, &mut sink, &mut warned)?;
        records += r;
        entries += e;
        ckpt.spools_read = true;
    }
    if !ckpt.snapshot_logs {
        // The tasks' output kept by `wotemu stop` (Swarm): once, in the same commit as the rest.
        let lines = snapshot_log_lines(&mut conn, &keys, opts, &mut ckpt)?;
        if !lines.is_empty() {
            records += lines.len() as u64;
            sink.push(Table::Logs, LogLine::to_batch(&lines));
        }
        ckpt.snapshot_logs = true;
    }
    commit(&mut ckpt, &mut sink, &work)?;
    trim(&mut conn, opts, &ckpt, &mut trimmed)?;
    warned.summary("entries rejected");
    progress.finish();
    tracing::debug!(
        entries,
        records,
        parts = ckpt.parts.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        peak_rss_kib = crate::fsutil::peak_rss_kib(),
        "Drained the streams."
    );

    let finish = describe(&mut conn, opts, &keys, &ckpt, &registry, &work)?;
    let manifest = finalize(finish, progress)?;
    Ok(CollectSummary {
        manifest,
        entries,
        records,
        elapsed: started.elapsed(),
        resumed,
        already_complete: false,
    })
}

/// `out` holds a complete dataset: nothing to do unless Redis has entries since (then an error).
fn already_collected(
    conn: &mut redis::Connection,
    keys: &StackKeys,
    opts: &CollectOptions,
    started: Instant,
) -> Result<CollectSummary, Error> {
    let pending = pending_total(conn, keys)?;
    if pending > 0 {
        return Err(Error::DatasetExists {
            dir: opts.out.display().to_string(),
            stack: opts.stack.clone(),
            pending,
        });
    }
    let manifest = Manifest::read(&opts.out)?;
    Ok(CollectSummary {
        manifest,
        entries: 0,
        records: 0,
        elapsed: started.elapsed(),
        resumed: false,
        already_complete: true,
    })
}

/// Entries agents spooled and never replayed (one was killed while Redis was down): once, in the same
/// commit as the rest; those also in Redis are duplicates by their seq. Returns (records, entries).
fn read_spools(
    opts: &CollectOptions,
    ckpt: &mut Checkpoint,
    sink: &mut PartSink,
    warned: &mut events::RateLimit,
) -> Result<(u64, u64), Error> {
    let (mut records, mut entries) = (0, 0);
    if let Some(dir) = &opts.spool_dir {
        for (task, path, fields) in crate::spools::read(dir)? {
            let result = wotemu_contract::StreamEntry::decode(
                fields.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
            );
            let key = path.display().to_string();
            records += consume(ckpt, sink, &task, &key, "spool", result, warned);
            entries += 1;
        }
    }
    Ok((records, entries))
}

/// Takes one entry into the dataset (or counts it as a duplicate or rejected); returns the records written.
fn consume(
    ckpt: &mut Checkpoint,
    sink: &mut PartSink,
    task: &str,
    key: &str,
    id: &str,
    result: Result<wotemu_contract::entry::Decoded, wotemu_contract::entry::BadEntry>,
    warned: &mut events::RateLimit,
) -> u64 {
    let acc = ckpt.accounting.entry(task.to_owned()).or_default();
    let seqs = ckpt.seqs.entry(task.to_owned()).or_default();
    acc.entries_read += 1;
    match result {
        Ok(d) => {
            let rows = d.entry.batch.num_rows() as u64;
            acc.records_read += rows;
            if let Some(p) = d.entry.produced {
                let max = ckpt
                    .produced
                    .entry(task.to_owned())
                    .or_default()
                    .entry(d.entry.table.name().to_owned())
                    .or_default();
                *max = (*max).max(p);
            }
            if seqs.insert(d.entry.seq) {
                acc.records_written += rows;
                acc.records_dropped_by_agent += d.entry.dropped;
                for c in d.ignored_columns {
                    *acc.ignored_columns
                        .entry(format!("{}.{c}", d.entry.table))
                        .or_default() += 1;
                }
                sink.push(d.entry.table, d.entry.batch);
                rows
            } else {
                acc.entries_duplicate += 1;
                acc.records_duplicate += rows;
                events::DuplicateSkipped {
                    task,
                    seq: d.entry.seq,
                    records: rows,
                }
                .emit();
                0
            }
        }
        Err(bad) => {
            acc.entries_rejected += 1;
            acc.records_rejected += bad.records.unwrap_or(0);
            if let Some(seq) = bad.seq {
                seqs.insert(seq);
            }
            let problem = Problem {
                stream: key.to_owned(),
                id: id.to_owned(),
                error: bad.to_string(),
            };
            if warned.allow() {
                events::EntryRejected { problem: &problem }.emit();
            }
            ckpt.problems.push(problem);
            0
        }
    }
}

/// The log lines kept in the stop snapshot (`logs`, with Docker's timestamps), as rows of stream `docker`.
fn snapshot_log_lines(
    conn: &mut Connection,
    keys: &StackKeys,
    opts: &CollectOptions,
    ckpt: &mut Checkpoint,
) -> Result<Vec<LogLine>, Error> {
    let snapshot: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.snapshot())
        .query(conn)
        .map_err(Error::redis("HGETALL"))?;
    let mut out = Vec::new();
    for (task, json) in &snapshot {
        let Ok(snap) = serde_json::from_str::<TaskSnapshot>(json) else {
            continue; // reported with the tasks table
        };
        let Some(text) = snap.logs.as_deref() else {
            continue;
        };
        let fallback = snap
            .stopped_at
            .as_deref()
            .and_then(rfc3339_to_us)
            .unwrap_or(0);
        let node = TaskName::parse(task).node(Some(&opts.stack)).to_owned();
        let before = out.len();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (time, line) =
                wotemu_contract::time_util::timestamped_line(line).unwrap_or((fallback, line));
            out.push(LogLine {
                task: task.clone(),
                node: node.clone(),
                time,
                stream: "docker".into(),
                line: line.to_owned(),
            });
        }
        let n = (out.len() - before) as u64;
        let acc = ckpt.accounting.entry(task.clone()).or_default();
        acc.records_read += n;
        acc.records_written += n;
    }
    Ok(out)
}

/// Entries waiting in every stream of the stack.
fn pending_total(conn: &mut Connection, keys: &StackKeys) -> Result<u64, Error> {
    let mut n = 0;
    for k in source::scan_keys(conn, &keys.stream_pattern())? {
        n += source::pending_entries(conn, &k, None)?;
    }
    Ok(n)
}

/// Spills the buffers into parts and saves the checkpoint naming them.
fn commit(ckpt: &mut Checkpoint, sink: &mut PartSink, work: &Path) -> Result<(), Error> {
    let parts = sink.spill()?;
    failpoint::hit("parts-written");
    ckpt.parts.extend(parts);
    ckpt.next_part = sink.next_part();
    ckpt.save(work)?;
    failpoint::hit("checkpoint-saved");
    Ok(())
}

/// Trims every stream up to its durable position (entries at or below it are in the dataset).
fn trim(
    conn: &mut Connection,
    opts: &CollectOptions,
    ckpt: &Checkpoint,
    trimmed: &mut BTreeMap<String, String>,
) -> Result<(), Error> {
    if !opts.trim {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    let mut any = false;
    for (key, id) in &ckpt.streams {
        if trimmed.get(key) == Some(id) {
            continue;
        }
        if let Some(min) = source::next_id(id) {
            pipe.cmd("XTRIM").arg(key).arg("MINID").arg(min).ignore();
            any = true;
        }
    }
    if any {
        pipe.query::<()>(conn).map_err(Error::redis("XTRIM"))?;
        failpoint::hit("redis-trimmed");
    }
    trimmed.clone_from(&ckpt.streams);
    Ok(())
}

/// Everything the dataset needs besides the parts: the tasks (registry, stop snapshot, streams), the
/// accounting and the run's metadata.
fn describe<'a>(
    conn: &mut Connection,
    opts: &'a CollectOptions,
    keys: &StackKeys,
    ckpt: &'a Checkpoint,
    registry: &BTreeMap<String, String>,
    work: &'a Path,
) -> Result<Finish<'a>, Error> {
    // The tasks table: registry + snapshot, plus tasks only seen in streams.
    let snapshot: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.snapshot())
        .query(conn)
        .map_err(Error::redis("HGETALL"))?;
    let mut problems = ckpt.problems.clone();
    let mut names: BTreeSet<String> = registry.keys().cloned().collect();
    names.extend(ckpt.accounting.keys().cloned());
    // Tasks Swarm ran that never reached Redis themselves (gateways, a replica that failed early).
    names.extend(snapshot.keys().cloned());
    let mut rows = Vec::new();
    for name in &names {
        let info = match registry
            .get(name)
            .map(|j| serde_json::from_str::<TaskInfo>(j))
        {
            Some(Ok(i)) => i,
            other => {
                if let Some(Err(e)) = other {
                    problems.push(Problem {
                        stream: keys.tasks(),
                        id: name.clone(),
                        error: format!("task registry entry is not valid JSON: {e}"),
                    });
                }
                let parsed = TaskName::parse(name);
                TaskInfo {
                    task: name.clone(),
                    node: parsed.node(Some(&opts.stack)).to_owned(),
                    service: parsed.service.to_owned(),
                    slot: parsed.slot,
                    ..Default::default()
                }
            }
        };
        let snap = match snapshot
            .get(name)
            .map(|j| serde_json::from_str::<TaskSnapshot>(j))
        {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                problems.push(Problem {
                    stream: keys.snapshot(),
                    id: name.clone(),
                    error: format!("snapshot entry is not valid JSON: {e}"),
                });
                None
            }
            None => None,
        };
        rows.push(info.to_row(snap.as_ref()));
    }

    // Accounting: what the producers said they produced against what arrived.
    let mut accounting = Accounting::default();
    for (task, acc) in &ckpt.accounting {
        let mut acc: TaskAccounting = acc.clone();
        acc.seq_missing = ckpt.seqs.get(task).map_or(0, |s| s.missing());
        let accounted = acc.records_written + acc.records_dropped_by_agent + acc.records_rejected;
        let produced: u64 = ckpt.produced.get(task).map_or(0, |t| t.values().sum());
        acc.records_produced = produced.max(accounted);
        acc.records_missing = acc.records_produced - accounted;
        // An agent's last act is its own snapshot: without one, it was killed.
        if ckpt.produced.contains_key(task) && !final_report(snapshot.get(task)) {
            acc.without_final_report = 1;
        }
        accounting.totals.add(&acc);
        accounting.tasks.insert(task.clone(), acc);
    }

    let meta: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.meta())
        .query(conn)
        .map_err(Error::redis("HGETALL"))?;
    let topology: Option<String> = redis::cmd("GET")
        .arg(keys.topology())
        .query(conn)
        .map_err(Error::redis("GET"))?;
    let compose: Option<String> = redis::cmd("GET")
        .arg(keys.compose())
        .query(conn)
        .map_err(Error::redis("GET"))?;
    let manifest = Manifest {
        schema_version: DATASET_SCHEMA_VERSION,
        stack: opts.stack.clone(),
        wotemu_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: meta.get("started_at").cloned(),
        stopped_at: meta.get("stopped_at").cloned(),
        collected_at: None,
        source: Source {
            kind: "redis-streams".into(),
            redis_url: Some(wotemu_contract::redact::redact_url(&opts.redis_url)),
        },
        topology,
        compose,
        seed: meta.get("seed").and_then(|s| s.parse().ok()),
        host: HostFacts::probe(),
        tables: BTreeMap::new(),
        accounting,
        problems,
        incomplete: opts.incomplete.clone(),
        extra: BTreeMap::new(),
    };
    Ok(Finish {
        out: &opts.out,
        work,
        parts: &ckpt.parts,
        written: BTreeMap::new(),
        tasks: rows,
        manifest,
    })
}

/// Whether a snapshot entry is the agent's own final report (not only what `wotemu stop` knew of the task).
fn final_report(json: Option<&String>) -> bool {
    json.and_then(|j| serde_json::from_str::<TaskSnapshot>(j).ok())
        .is_some_and(|s| match s.extra.get("docker") {
            None => true,
            Some(d) => d["agent_snapshot"] == true,
        })
}

/// Collects without progress output.
pub fn collect_quiet(opts: &CollectOptions) -> Result<CollectSummary, Error> {
    collect(opts, &NoProgress)
}
