//! Ships records to the task's Redis stream in batches, without loss or duplication.
//!
//! Producers (the Python recorder, the samplers, the packet counter) [`Shipper::push`] records: a lock and a
//! `Vec::push`. A flusher thread takes the buffers at least every `flush_every` (sooner when a table reaches
//! `batch_rows`), turns each table's records into one stream entry (Arrow IPC) with the next sequence number
//! and `XADD`s them in one pipeline.
//!
//! When Redis is unreachable, entries go to the [`Spool`] on disk, in order, and are replayed first when
//! Redis answers again. An entry keeps its sequence number forever, so one replayed after a partial pipeline
//! is dropped as a duplicate by the collector: nothing is lost, nothing doubled. Memory is bounded by
//! `max_buffered_rows` per table and the spool by `spool_max_bytes`; what does not fit is counted and carried
//! in the `dropped` field of the table's next entry, never silently lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::table::{
    AppValue, Event, Interaction, LogLine, NetworkSample, Packet, Records, SystemSample,
    TimelineEvent,
};
use wotemu_contract::{StreamEntry, Table};

use crate::spool::{Fields, Spool};

/// Settings of a shipper.
#[derive(Debug, Clone)]
pub struct ShipperConfig {
    pub redis_url: String,
    pub stack: String,
    pub task: String,
    pub flush_every: Duration,
    pub batch_rows: usize,
    pub max_buffered_rows: usize,
    pub drain_timeout: Duration,
}

/// Records waiting to be shipped.
#[derive(Default)]
pub struct Buffers {
    packets: Vec<Packet>,
    interactions: Vec<Interaction>,
    events: Vec<Event>,
    system: Vec<SystemSample>,
    logs: Vec<LogLine>,
    app: Vec<AppValue>,
    network: Vec<NetworkSample>,
    timeline: Vec<TimelineEvent>,
    /// Records dropped because a buffer was full, per table (index: `Table as usize`).
    dropped: [u64; Table::ALL.len()],
    /// Records produced so far (kept or dropped), per table: every entry carries its table's count.
    produced: [u64; Table::ALL.len()],
    /// Hash fields to set (the task registry and snapshot), retried until Redis takes them.
    control: Vec<(String, String, String)>,
    closing: bool,
}

/// A batch cut from the buffers: its records (none for an entry that only reports drops), the records of
/// its table dropped since the previous entry, and the table's cumulative produced count at the cut.
struct Cut {
    table: Table,
    batch: Option<RecordBatch>,
    dropped: u64,
    produced: u64,
}

/// A record type the shipper buffers.
pub trait Buffered: Records + Sized {
    fn buffer(b: &mut Buffers) -> &mut Vec<Self>;
}

macro_rules! buffered {
    ($t:ty, $f:ident) => {
        impl Buffered for $t {
            fn buffer(b: &mut Buffers) -> &mut Vec<Self> {
                &mut b.$f
            }
        }
    };
}
buffered!(Packet, packets);
buffered!(Interaction, interactions);
buffered!(Event, events);
buffered!(SystemSample, system);
buffered!(LogLine, logs);
buffered!(AppValue, app);
buffered!(NetworkSample, network);
buffered!(TimelineEvent, timeline);

impl Buffers {
    fn longest(&self) -> usize {
        [
            self.packets.len(),
            self.interactions.len(),
            self.events.len(),
            self.system.len(),
            self.logs.len(),
            self.app.len(),
            self.network.len(),
            self.timeline.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// Counters of a shipper, readable at any time.
#[derive(Debug, Default)]
pub struct ShipperStats {
    /// Entries that reached Redis.
    pub shipped: AtomicU64,
    /// Records that reached Redis.
    pub shipped_records: AtomicU64,
    /// Entries written to the spool.
    pub spooled: AtomicU64,
    /// Records dropped (full buffers, full spool); also reported in the entries' `dropped` field.
    pub dropped_records: AtomicU64,
    /// Whether the last attempt to reach Redis worked.
    pub redis_up: AtomicBool,
}

/// The result of shipping at close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Entries still in the spool (Redis never came back within the drain timeout).
    pub left_in_spool: u64,
    pub spool_path: std::path::PathBuf,
}

/// The shipper of one task.
pub struct Shipper {
    cfg: ShipperConfig,
    buffers: Mutex<Buffers>,
    wake: Condvar,
    pub stats: ShipperStats,
}

impl Shipper {
    pub fn new(cfg: ShipperConfig) -> Arc<Shipper> {
        Arc::new(Shipper {
            cfg,
            buffers: Mutex::new(Buffers::default()),
            wake: Condvar::new(),
            stats: ShipperStats::default(),
        })
    }

    /// Queues a record (drops and counts it when its table's buffer is full).
    pub fn push<R: Buffered>(&self, r: R) {
        let mut b = self.buffers.lock().expect("shipper lock");
        b.produced[R::TABLE as usize] += 1;
        let max = self.cfg.max_buffered_rows;
        let v = R::buffer(&mut b);
        if v.len() >= max {
            b.dropped[R::TABLE as usize] += 1;
            self.stats.dropped_records.fetch_add(1, Ordering::Relaxed);
            return;
        }
        v.push(r);
        if v.len() == self.cfg.batch_rows {
            self.wake.notify_one();
        }
    }

    /// Queues many records under one lock (what does not fit is dropped and counted).
    pub fn push_many<R: Buffered>(&self, rows: &mut Vec<R>) {
        if rows.is_empty() {
            return;
        }
        let mut b = self.buffers.lock().expect("shipper lock");
        b.produced[R::TABLE as usize] += rows.len() as u64;
        let max = self.cfg.max_buffered_rows;
        let v = R::buffer(&mut b);
        let room = max.saturating_sub(v.len());
        let before = v.len();
        let dropped = rows.len().saturating_sub(room);
        rows.truncate(rows.len() - dropped);
        v.append(rows);
        let full = before < self.cfg.batch_rows && v.len() >= self.cfg.batch_rows;
        if dropped > 0 {
            b.dropped[R::TABLE as usize] += dropped as u64;
            self.stats
                .dropped_records
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        rows.clear();
        if full {
            self.wake.notify_one();
        }
    }

    /// Counts records a producer had to drop (e.g. the kernel's packet drops).
    pub fn count_dropped(&self, table: Table, n: u64) {
        if n == 0 {
            return;
        }
        let mut b = self.buffers.lock().expect("shipper lock");
        b.dropped[table as usize] += n;
        b.produced[table as usize] += n;
        self.stats.dropped_records.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets `field` of hash `key` (retried until Redis takes it, in order with the entries).
    pub fn hset(&self, key: String, field: String, value: String) {
        self.buffers
            .lock()
            .expect("shipper lock")
            .control
            .push((key, field, value));
        self.wake.notify_one();
    }

    /// Starts the flusher thread; [`Shipper::close`] then joining it ships what is left.
    pub fn spawn(self: &Arc<Self>, spool: Spool) -> std::io::Result<JoinHandle<Drained>> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("wotemu-shipper".into())
            .spawn(move || Flusher::new(me, spool).run())
    }

    /// Asks the flusher to ship everything and stop.
    pub fn close(&self) {
        self.buffers.lock().expect("shipper lock").closing = true;
        self.wake.notify_all();
    }
}

struct Flusher {
    shipper: Arc<Shipper>,
    spool: Spool,
    conn: Option<redis::Connection>,
    last_connect: Option<Instant>,
    next_seq: u64,
    seq_known: bool,
    /// Dropped records not yet reported in an entry, per table.
    carry: [u64; Table::ALL.len()],
    stream: String,
    live_key: Option<String>,
    control: Vec<(String, String, String)>,
    warned_down: bool,
}

impl Flusher {
    fn new(shipper: Arc<Shipper>, spool: Spool) -> Flusher {
        let stream = StackKeys::new(&shipper.cfg.stack).stream(&shipper.cfg.task);
        let live_key = StackKeys::new(&shipper.cfg.stack).live();
        let next_seq = spool
            .saved_next_seq()
            .unwrap_or(1)
            .max(spool.max_seq().map_or(1, |s| s + 1));
        Flusher {
            shipper,
            spool,
            conn: None,
            last_connect: None,
            next_seq,
            seq_known: false,
            carry: [0; Table::ALL.len()],
            stream,
            live_key: Some(live_key),
            control: Vec::new(),
            warned_down: false,
        }
    }

    fn run(mut self) -> Drained {
        loop {
            let (batches, closing) = self.take();
            self.ship(batches);
            if closing {
                break;
            }
        }
        // Drain: keep trying to empty the spool until the timeout.
        let deadline = Instant::now() + self.shipper.cfg.drain_timeout;
        while (!self.spool.is_empty() || !self.control.is_empty()) && Instant::now() < deadline {
            self.last_connect = None;
            self.ship(Vec::new());
            if !self.spool.is_empty() || !self.control.is_empty() {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let left = self.spool.len();
        let spool_path = self.spool.path().to_owned();
        if left == 0 && self.control.is_empty() {
            if let Err(e) = self.spool.save_next_seq(self.next_seq) {
                // The next agent of this task checks the stream's last entry as well; it will not reuse one.
                tracing::warn!(error = %e, "The next sequence number was not saved.");
            }
        }
        Drained {
            left_in_spool: left,
            spool_path,
        }
    }

    /// Waits for work and takes every buffer: (the cut batches, whether the shipper is closing).
    fn take(&mut self) -> (Vec<Cut>, bool) {
        let cfg = &self.shipper.cfg;
        let guard = self.shipper.buffers.lock().expect("shipper lock");
        let (mut b, _) = self
            .shipper
            .wake
            .wait_timeout_while(guard, cfg.flush_every, |b| {
                !b.closing && b.longest() < cfg.batch_rows && b.control.is_empty()
            })
            .expect("shipper lock");
        let closing = b.closing;
        let dropped = std::mem::take(&mut b.dropped);
        // Every record pushed so far is in these buffers, an earlier entry, or counted as dropped.
        let produced = b.produced;
        self.control.append(&mut b.control);
        let packets = std::mem::take(&mut b.packets);
        let interactions = std::mem::take(&mut b.interactions);
        let events = std::mem::take(&mut b.events);
        let system = std::mem::take(&mut b.system);
        let logs = std::mem::take(&mut b.logs);
        let app = std::mem::take(&mut b.app);
        let network = std::mem::take(&mut b.network);
        let timeline = std::mem::take(&mut b.timeline);
        drop(b);
        let mut out = Vec::new();
        fn add<R: Records>(
            out: &mut Vec<Cut>,
            rows: &[R],
            chunk: usize,
            dropped: &[u64],
            produced: &[u64],
        ) {
            let t = R::TABLE as usize;
            let mut first = true;
            for c in rows.chunks(chunk.max(1)) {
                out.push(Cut {
                    table: R::TABLE,
                    batch: Some(R::to_batch(c)),
                    dropped: if first { dropped[t] } else { 0 },
                    produced: produced[t],
                });
                first = false;
            }
            if rows.is_empty() && dropped[t] > 0 {
                out.push(Cut {
                    table: R::TABLE,
                    batch: None,
                    dropped: dropped[t],
                    produced: produced[t],
                });
            }
        }
        let n = cfg.batch_rows;
        add(&mut out, &packets, n, &dropped, &produced);
        add(&mut out, &interactions, n, &dropped, &produced);
        add(&mut out, &events, n, &dropped, &produced);
        add(&mut out, &system, n, &dropped, &produced);
        add(&mut out, &logs, n, &dropped, &produced);
        add(&mut out, &app, n, &dropped, &produced);
        add(&mut out, &network, n, &dropped, &produced);
        add(&mut out, &timeline, n, &dropped, &produced);
        (out, closing)
    }

    fn connect(&mut self) {
        if self.conn.is_some() {
            return;
        }
        if self
            .last_connect
            .is_some_and(|t| t.elapsed() < Duration::from_millis(500))
        {
            return;
        }
        self.last_connect = Some(Instant::now());
        let conn = redis::Client::open(self.shipper.cfg.redis_url.as_str()).and_then(|c| {
            let conn = c.get_connection_with_timeout(Duration::from_secs(2))?;
            conn.set_read_timeout(Some(Duration::from_secs(10)))?;
            conn.set_write_timeout(Some(Duration::from_secs(10)))?;
            Ok(conn)
        });
        match conn {
            Ok(mut c) => {
                if !self.seq_known {
                    // Continue after the stream's last entry (a restarted agent of the same task).
                    let last: redis::RedisResult<redis::streams::StreamRangeReply> =
                        redis::cmd("XREVRANGE")
                            .arg(&self.stream)
                            .arg("+")
                            .arg("-")
                            .arg("COUNT")
                            .arg(1)
                            .query(&mut c);
                    match last {
                        Ok(r) => {
                            if let Some(seq) = r.ids.first().and_then(|id| {
                                id.get::<String>("seq").and_then(|s| s.parse::<u64>().ok())
                            }) {
                                self.next_seq = self.next_seq.max(seq + 1);
                            }
                            self.seq_known = true;
                        }
                        Err(_) => return,
                    }
                }
                if self.warned_down {
                    tracing::info!(stream = %self.stream, "Redis is back; replaying the spool");
                }
                self.warned_down = false;
                self.shipper.stats.redis_up.store(true, Ordering::Relaxed);
                self.conn = Some(c);
            }
            Err(e) => self.down(&e),
        }
    }

    fn down(&mut self, e: &redis::RedisError) {
        self.conn = None;
        self.shipper.stats.redis_up.store(false, Ordering::Relaxed);
        if !self.warned_down {
            tracing::warn!(error = %e, spool = %self.spool.path().display(),
                "Redis is unreachable; batches wait in the spool until it answers");
            self.warned_down = true;
        }
    }

    fn xadd_all(&mut self, entries: &[Fields]) -> redis::RedisResult<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "not connected",
            )));
        };
        for chunk in entries.chunks(64) {
            let mut pipe = redis::pipe();
            for e in chunk {
                let cmd = pipe.cmd("XADD").arg(&self.stream).arg("*");
                for (k, v) in e {
                    cmd.arg(k.as_str()).arg(v.as_slice());
                }
            }
            let _: Vec<String> = pipe.query(conn)?;
        }
        Ok(())
    }

    /// Adds to the stack's live totals (best effort: they only feed status displays).
    fn live(&mut self, n: u64, errors: u64) {
        if let (Some(conn), Some(key)) = (self.conn.as_mut(), self.live_key.as_ref()) {
            let _: redis::RedisResult<()> = redis::pipe()
                .cmd("HINCRBY")
                .arg(key)
                .arg("interactions")
                .arg(n)
                .ignore()
                .cmd("HINCRBY")
                .arg(key)
                .arg("errors")
                .arg(errors)
                .ignore()
                .query(conn);
        }
    }

    fn ship_control(&mut self) {
        if self.control.is_empty() {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut pipe = redis::pipe();
        for (k, f, v) in &self.control {
            pipe.cmd("HSET").arg(k).arg(f).arg(v).ignore();
        }
        match pipe.query::<()>(conn) {
            Ok(()) => self.control.clear(),
            Err(e) => self.down(&e),
        }
    }

    /// Replays the spool when Redis answers; true when it is empty afterwards.
    fn replay(&mut self) -> bool {
        if self.spool.is_empty() {
            return true;
        }
        if self.conn.is_none() {
            return false;
        }
        let entries = match self.spool.read_all() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool");
                return false;
            }
        };
        let records: u64 = entries.iter().map(rows_of).sum();
        match self.xadd_all(&entries) {
            Ok(()) => {
                if let Err(e) = self.spool.clear() {
                    tracing::error!(error = %e, "cannot clear the spool");
                    return false;
                }
                let st = &self.shipper.stats;
                st.shipped
                    .fetch_add(entries.len() as u64, Ordering::Relaxed);
                st.shipped_records.fetch_add(records, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.down(&e);
                false
            }
        }
    }

    fn ship(&mut self, batches: Vec<Cut>) {
        self.connect();
        let clear = self.replay();
        self.ship_control();
        if batches.is_empty() {
            return;
        }
        let direct = clear && self.conn.is_some();
        let mut encoded: Vec<Fields> = Vec::new();
        let mut rows = 0u64;
        let (mut live_n, mut live_err) = (0u64, 0u64);
        let first_seq = self.next_seq;
        for Cut {
            table,
            batch,
            dropped,
            produced,
        } in batches
        {
            let ti = table as usize;
            let dropped = dropped + std::mem::take(&mut self.carry[ti]);
            let batch = batch.unwrap_or_else(|| RecordBatch::new_empty(table.schema()));
            let n = batch.num_rows() as u64;
            if table == Table::Interactions {
                live_n += n;
                live_err += batch
                    .column_by_name("ok")
                    .and_then(|c| c.as_any().downcast_ref::<arrow::array::BooleanArray>())
                    .map(|ok| ok.false_count() as u64)
                    .unwrap_or(0);
            }
            let mut entry = StreamEntry::new(self.next_seq, batch, table);
            entry.dropped = dropped;
            entry.produced = Some(produced);
            let fields: Fields = entry
                .encode()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if !direct {
                // Redis is down: the entry goes to the spool, or is dropped (and counted) when it is full.
                match self.spool.append(std::slice::from_ref(&fields)) {
                    Ok(true) => {
                        self.shipper.stats.spooled.fetch_add(1, Ordering::Relaxed);
                        self.next_seq += 1;
                    }
                    Ok(false) | Err(_) => {
                        // Not written anywhere: its seq is not used, its records are reported as dropped.
                        self.carry[ti] += dropped + n;
                        self.shipper
                            .stats
                            .dropped_records
                            .fetch_add(n, Ordering::Relaxed);
                    }
                }
                continue;
            }
            self.next_seq += 1;
            rows += n;
            encoded.push(fields);
        }
        if direct {
            match self.xadd_all(&encoded) {
                Ok(()) => {
                    let st = &self.shipper.stats;
                    st.shipped
                        .fetch_add(encoded.len() as u64, Ordering::Relaxed);
                    st.shipped_records.fetch_add(rows, Ordering::Relaxed);
                    if live_n > 0 {
                        self.live(live_n, live_err);
                    }
                }
                Err(e) => {
                    // Some may have reached Redis: all go to the spool with their seq; the collector drops
                    // the ones it already has.
                    self.down(&e);
                    match self.spool.append(&encoded) {
                        Ok(true) => {
                            self.shipper
                                .stats
                                .spooled
                                .fetch_add(encoded.len() as u64, Ordering::Relaxed);
                        }
                        _ => {
                            tracing::error!(
                                entries = encoded.len(),
                                "the spool is full: {rows} records are lost (reported as missing batches)"
                            );
                            self.shipper
                                .stats
                                .dropped_records
                                .fetch_add(rows, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        if self.next_seq != first_seq {
            if let Err(e) = self.spool.save_next_seq(self.next_seq) {
                tracing::warn!(error = %e, "cannot record the next sequence number");
            }
        }
    }
}

fn rows_of(fields: &Fields) -> u64 {
    fields
        .iter()
        .find(|(k, _)| k == "n")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_indices_follow_all() {
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(
                *t as usize, i,
                "Buffers::dropped is indexed by `Table as usize`"
            );
        }
    }
}
