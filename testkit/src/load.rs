//! Writes records into Redis in the stream layout of [`wotemu_contract::entry`], as agents do: pipelined
//! `XADD`s, one entry per batch, sequence numbers from 1.

use arrow::array::RecordBatch;
use redis::Connection;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::task::TaskInfo;
use wotemu_contract::{StreamEntry, Table};

use crate::synth::{Synth, TaskSpec};

/// Registers a task in the stack's registry.
pub fn register_task(conn: &mut Connection, stack: &str, info: &TaskInfo) {
    let _: () = redis::cmd("HSET")
        .arg(StackKeys::new(stack).tasks())
        .arg(&info.task)
        .arg(serde_json::to_string(info).expect("task info serializes"))
        .query(conn)
        .expect("HSET task registry");
}

/// Appends entries to a task's stream in one pipeline; returns their ids.
pub fn xadd_entries(
    conn: &mut Connection,
    stack: &str,
    task: &str,
    entries: &[StreamEntry],
) -> Vec<String> {
    if entries.is_empty() {
        return Vec::new();
    }
    let key = StackKeys::new(stack).stream(task);
    let mut pipe = redis::pipe();
    for e in entries {
        let cmd = pipe.cmd("XADD").arg(&key).arg("*");
        for (k, v) in e.encode() {
            cmd.arg(k).arg(v);
        }
    }
    pipe.query(conn).expect("XADD entries")
}

/// Appends raw field/value pairs as one entry (for corrupt-entry tests); returns its id.
pub fn xadd_raw(
    conn: &mut Connection,
    stack: &str,
    task: &str,
    fields: &[(&str, &[u8])],
) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(StackKeys::new(stack).stream(task)).arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(*v);
    }
    cmd.query(conn).expect("XADD raw")
}

/// What [`load_synthetic`] wrote.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Every batch written, per task, in order (seq = index + 1).
    pub batches: Vec<(TaskSpec, Vec<StreamEntry>)>,
    pub records: u64,
}

/// The tables an agent streams (all but `tasks`, which comes from the registry).
pub const STREAMED: [Table; 6] = [
    Table::Packets,
    Table::Interactions,
    Table::Events,
    Table::System,
    Table::Logs,
    Table::App,
];

/// Registers `tasks` and writes `per_table` records of every streamed table for each, in batches of
/// `batch_size`, interleaving tables as an agent does. Entries are kept in the returned value when `keep`.
pub fn load_synthetic(
    conn: &mut Connection,
    synth: &mut Synth,
    stack: &str,
    tasks: &[TaskSpec],
    per_table: usize,
    batch_size: usize,
    keep: bool,
) -> Loaded {
    let start = 1_764_000_000_000_000_i64;
    let mut loaded = Loaded::default();
    for t in tasks {
        let info = TaskInfo {
            task: t.task.clone(),
            node: t.node.clone(),
            service: format!("{stack}_{}", t.node),
            slot: Some(t.slot),
            hostname: Some(t.task.clone()),
            networks: vec!["3g".into()],
            ip_addresses: vec![t.ip.clone()],
            started_at: Some(wotemu_contract::time_util::us_to_rfc3339(start)),
            ..Default::default()
        };
        register_task(conn, stack, &info);
        let mut seq = 0;
        let mut entries = Vec::new();
        let mut pending = Vec::new();
        let mut offset = 0;
        while offset < per_table {
            let n = batch_size.min(per_table - offset);
            for table in STREAMED {
                let step: i64 = match table {
                    Table::Packets => 1_000,
                    Table::System | Table::App => 1_000_000,
                    _ => 100_000,
                };
                let b: RecordBatch = synth.batch(table, t, start + offset as i64 * step, n);
                seq += 1;
                loaded.records += b.num_rows() as u64;
                pending.push(StreamEntry::new(seq, b, table));
            }
            offset += n;
            if pending.len() >= 64 {
                xadd_entries(conn, stack, &t.task, &pending);
                if keep {
                    entries.append(&mut pending);
                } else {
                    pending.clear();
                }
            }
        }
        xadd_entries(conn, stack, &t.task, &pending);
        entries.append(&mut pending);
        loaded
            .batches
            .push((t.clone(), if keep { entries } else { Vec::new() }));
    }
    loaded
}

/// Loads the benchmarks' run into `stack`: 19 tasks (a server, 12 readers, 6 callers) with, per 1× of
/// `scale`, 600k packets, 130k interactions, 35k system samples, 40k events, 20k logs and 5k app values
/// spread over the same ~30 min, in batches of 5,000. Returns (records, tasks).
pub fn load_bench_run(
    conn: &mut Connection,
    stack: &str,
    seed: u64,
    scale: usize,
) -> (usize, usize) {
    let mut synth = Synth::new(seed, stack);
    let tasks = synth.tasks(&[("server", 1), ("reader", 12), ("caller", 6)]);
    let sizes = [
        (Table::Packets, 600_000),
        (Table::Interactions, 130_000),
        (Table::System, 35_000),
        (Table::Events, 40_000),
        (Table::Logs, 20_000),
        (Table::App, 5_000),
    ];
    let start = 1_764_000_000_000_000_i64;
    let mut total = 0;
    for t in &tasks {
        register_task(
            conn,
            stack,
            &TaskInfo {
                task: t.task.clone(),
                node: t.node.clone(),
                service: format!("{stack}_{}", t.node),
                slot: Some(t.slot),
                ip_addresses: vec![t.ip.clone()],
                networks: vec!["3g".into()],
                started_at: Some(wotemu_contract::time_util::us_to_rfc3339(start)),
                ..Default::default()
            },
        );
        let mut seq = 0;
        for (table, n) in sizes {
            let n = n * scale / tasks.len();
            let mut done = 0;
            let mut entries = Vec::new();
            while done < n {
                let k = 5_000.min(n - done);
                let batch = synth.batch(table, t, start + done as i64 * 1_000 / scale as i64, k);
                seq += 1;
                entries.push(StreamEntry::new(seq, batch, table));
                done += k;
                total += k;
            }
            xadd_entries(conn, stack, &t.task, &entries);
        }
    }
    (total, tasks.len())
}
