//! Where records go on their way to the dataset: sorted spill parts, then one Parquet file per table.
//!
//! # Parts
//! Records are buffered per table in memory up to a byte budget. A spill sorts each table's buffer by the
//! table's sort key (`task`, `time`) and writes it as one *part*: an Arrow IPC file
//! `<work>/parts/<n:08>-<table>.arrow`, in batches of at most [`PART_BATCH_ROWS`] rows. A part is written to
//! `<name>.tmp`, fsynced and renamed, so a part file that exists under its final name is complete. Parts become
//! part of the dataset only once the checkpoint lists them (see [`crate::checkpoint`]); any other file in the
//! parts folder is an orphan of a crash and is deleted on start.
//!
//! # Merge
//! At the end, each table's parts (each sorted) are merged into `<run>/<table>.parquet`: a heap holds every
//! part's next row; the smallest part emits the longest run of rows that sort before the next part's head, as
//! a zero-copy slice. The merge is stable: rows with equal keys keep their arrival order (earlier parts first). Parts written in stream order barely overlap, so whole batches flow through.
//! Memory is one batch per part plus the Parquet row group being built, whatever the data size.
//!
//! # Streams
//! A table whose rows come task by task (the 0.6 import reads its keys in task order) needs no part:
//! [`TaskStream`] holds one task's rows, writes them in time order when the next task starts, and spills only
//! a task larger than its budget (then merged from its parts as above).
//!
//! Parquet files are zstd-compressed, dictionary-encoded but for `time` (delta-encoded: timestamps are
//! almost all distinct and in order within a task, so a dictionary is only work), with row groups of at most
//! [`ROW_GROUP_ROWS`] rows, and declare their sort order in the footer.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::compute::interleave_record_batch;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use wotemu_contract::manifest::TableInfo;
use wotemu_contract::time_util::us_to_rfc3339;
use wotemu_contract::Table;

use crate::error::Error;
use crate::fsutil;

/// Rows per batch inside a part file (and so per merge read).
pub const PART_BATCH_ROWS: usize = 12 * 1024;
/// The largest Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// A row group is also closed when its encoded size in memory reaches this, which bounds a writer's memory.
pub const ROW_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// A committed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartMeta {
    pub(crate) table: Table,
    pub(crate) file: String,
    pub(crate) rows: u64,
}

/// In-memory buffers and the part files they spill to.
pub(crate) struct PartSink {
    dir: PathBuf,
    buffers: BTreeMap<Table, Vec<RecordBatch>>,
    buffered_bytes: usize,
    spill_bytes: usize,
    next_part: u64,
}

impl PartSink {
    /// A sink spilling into `dir` when more than `spill_bytes` are buffered; part numbers start at `next_part`.
    pub(crate) fn new(dir: PathBuf, spill_bytes: usize, next_part: u64) -> Result<Self, Error> {
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(PartSink {
            dir,
            buffers: BTreeMap::new(),
            buffered_bytes: 0,
            spill_bytes,
            next_part,
        })
    }

    pub(crate) fn next_part(&self) -> u64 {
        self.next_part
    }

    /// Buffers a batch (of the table's schema).
    pub(crate) fn push(&mut self, table: Table, batch: RecordBatch) {
        if batch.num_rows() == 0 {
            return;
        }
        self.buffered_bytes += batch_bytes(&batch);
        self.buffers.entry(table).or_default().push(batch);
    }

    /// Whether the buffers have reached the budget.
    pub(crate) fn should_spill(&self) -> bool {
        self.buffered_bytes >= self.spill_bytes
    }

    /// Writes every buffer as a durable, sorted part; returns the new parts.
    pub(crate) fn spill(&mut self) -> Result<Vec<PartMeta>, Error> {
        let mut parts = Vec::new();
        for (table, batches) in std::mem::take(&mut self.buffers) {
            let file = format!("{:08}-{}.arrow", self.next_part, table.name());
            self.next_part += 1;
            let path = self.dir.join(&file);
            let rows = write_sorted_part(table, &batches, &path)?;
            parts.push(PartMeta { table, file, rows });
        }
        self.buffered_bytes = 0;
        if !parts.is_empty() {
            fsutil::sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        Ok(parts)
    }

    /// Deletes every file in the parts folder that is not one of `keep` (orphans of a crash).
    pub(crate) fn remove_orphans(&self, keep: &[PartMeta]) -> Result<usize, Error> {
        let mut removed = 0;
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.iter().any(|p| p.file == name) {
                fs::remove_file(entry.path()).map_err(|e| Error::io(&entry.path(), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The bytes of a batch's rows themselves: a decoded IPC batch shares one message buffer between its columns,
/// and a slice its parent's buffers, so `get_array_memory_size` would count them several times.
fn batch_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}

fn sort_converter(table: Table) -> RowConverter {
    let schema = table.schema();
    let fields = table
        .sort_key()
        .iter()
        .map(|k| {
            SortField::new(
                schema
                    .field_with_name(k)
                    .expect("sort key in schema")
                    .data_type()
                    .clone(),
            )
        })
        .collect();
    RowConverter::new(fields).expect("sort key types are row-convertible")
}

fn sort_rows(conv: &RowConverter, table: Table, batch: &RecordBatch) -> Result<Rows, Error> {
    let cols: Vec<ArrayRef> = table
        .sort_key()
        .iter()
        .map(|k| batch.column_by_name(k).expect("sort key column").clone())
        .collect();
    conv.convert_columns(&cols).map_err(Error::arrow)
}

/// Sorts `batches` together by the table's sort key (stable) and writes them as an Arrow IPC part.
fn write_sorted_part(table: Table, batches: &[RecordBatch], path: &Path) -> Result<u64, Error> {
    let conv = sort_converter(table);
    let rows: Vec<Rows> = batches
        .iter()
        .map(|b| sort_rows(&conv, table, b))
        .collect::<Result<_, _>>()?;
    let mut order: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .flat_map(|(b, r)| (0..r.num_rows()).map(move |i| (b, i)))
        .collect();
    let sorted = order
        .windows(2)
        .all(|w| rows[w[0].0].row(w[0].1) <= rows[w[1].0].row(w[1].1));
    if !sorted {
        order.sort_by(|a, b| rows[a.0].row(a.1).cmp(&rows[b.0].row(b.1)));
    }
    drop(rows);

    let tmp = fsutil::tmp_path(path);
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut w = FileWriter::try_new(BufWriter::with_capacity(1 << 20, file), &table.schema())
        .map_err(Error::arrow)?;
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    for chunk in order.chunks(PART_BATCH_ROWS) {
        let out = interleave_record_batch(&refs, chunk).map_err(Error::arrow)?;
        w.write(&out).map_err(Error::arrow)?;
    }
    w.finish().map_err(Error::arrow)?;
    let mut buf = w.into_inner().map_err(Error::arrow)?;
    buf.flush().map_err(|e| Error::io(&tmp, e))?;
    let file = buf
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    fsutil::commit(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(order.len() as u64)
}

/// A sorted part being read during the merge.
struct Cursor {
    reader: FileReader<BufReader<File>>,
    batch: RecordBatch,
    rows: Rows,
    pos: usize,
}

impl Cursor {
    fn open(path: &Path, conv: &RowConverter, table: Table) -> Result<Option<Cursor>, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let reader = FileReader::try_new(BufReader::with_capacity(1 << 20, file), None)
            .map_err(Error::arrow)?;
        let mut c = Cursor {
            reader,
            batch: RecordBatch::new_empty(table.schema()),
            rows: conv.empty_rows(0, 0),
            pos: 0,
        };
        Ok(c.advance(conv, table)?.then_some(c))
    }

    /// Loads the next non-empty batch; false at the end of the part.
    fn advance(&mut self, conv: &RowConverter, table: Table) -> Result<bool, Error> {
        for batch in self.reader.by_ref() {
            let batch = batch.map_err(Error::arrow)?;
            if batch.num_rows() > 0 {
                self.rows = sort_rows(conv, table, &batch)?;
                self.batch = batch;
                self.pos = 0;
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn head(&self) -> OwnedRow {
        self.rows.row(self.pos).owned()
    }

    /// First index at or after `pos` whose row must come after `bound`: greater than it, or equal to it when
    /// `ties_after` (the bound belongs to an earlier part, and equal keys keep the order they arrived in).
    fn upper_bound(&self, bound: &OwnedRow, ties_after: bool) -> usize {
        let (mut lo, mut hi) = (self.pos, self.rows.num_rows());
        let after = if ties_after {
            Ordering::Less
        } else {
            Ordering::Equal
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.rows.row(mid).cmp(&bound.row()) > after {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

fn writer_props(table: Table) -> WriterProperties {
    let schema = table.schema();
    let sorting = table
        .sort_key()
        .iter()
        .map(|k| SortingColumn {
            column_idx: schema.index_of(k).expect("sort key") as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    let time = ColumnPath::from("time");
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1"),
        ))
        .set_dictionary_enabled(true)
        .set_column_dictionary_enabled(time.clone(), false)
        .set_column_encoding(time, Encoding::DELTA_BINARY_PACKED)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("wotemu {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A Parquet file of one table being written, with its row count and time span. Written as a temporary file,
/// renamed by [`TableWriter::finish`]; dropped unfinished (an error), the temporary file is removed.
struct TableWriter {
    table: Table,
    tmp: PathBuf,
    path: PathBuf,
    /// `None` once finished.
    writer: Option<ArrowWriter<File>>,
    rows: u64,
    time_min: Option<i64>,
    time_max: Option<i64>,
}

impl TableWriter {
    fn create(table: Table, path: &Path) -> Result<Self, Error> {
        let tmp = fsutil::tmp_path(path);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let writer = ArrowWriter::try_new(file, table.schema(), Some(writer_props(table)))
            .map_err(Error::parquet)?;
        Ok(TableWriter {
            table,
            tmp,
            path: path.to_owned(),
            writer: Some(writer),
            rows: 0,
            time_min: None,
            time_max: None,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        if let Some(col) = batch.column_by_name("time") {
            if let Some(t) = col.as_any().downcast_ref::<TimestampMicrosecondArray>() {
                if let Some(min) = arrow::compute::min(t) {
                    self.time_min = Some(self.time_min.map_or(min, |m| m.min(min)));
                }
                if let Some(max) = arrow::compute::max(t) {
                    self.time_max = Some(self.time_max.map_or(max, |m| m.max(max)));
                }
            }
        }
        self.rows += batch.num_rows() as u64;
        let Some(writer) = self.writer.as_mut() else {
            return Err(Error::Parquet(format!(
                "{} is already closed",
                self.tmp.display()
            )));
        };
        writer.write(batch).map_err(Error::parquet)?;
        // Bound the memory of the row group being built: close it early when its encoded data is large.
        if writer.in_progress_size() >= ROW_GROUP_BYTES {
            writer.flush().map_err(Error::parquet)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<TableInfo, Error> {
        let Some(writer) = self.writer.take() else {
            return Err(Error::Parquet(format!(
                "{} is already closed",
                self.tmp.display()
            )));
        };
        let file = writer.into_inner().map_err(Error::parquet)?;
        file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        fsutil::commit(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(TableInfo {
            file: self.table.file_name(),
            rows: self.rows,
            time_min: self.time_min.map(us_to_rfc3339),
            time_max: self.time_max.map(us_to_rfc3339),
        })
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            if let Err(e) = fs::remove_file(&self.tmp) {
                tracing::debug!(file = %self.tmp.display(), error = %e, "Could not remove an unfinished table file.");
            }
        }
    }
}

/// Merges sorted parts of `table` into `out` (a Parquet file), durably.
pub(crate) fn merge_parts(table: Table, parts: &[PathBuf], out: &Path) -> Result<TableInfo, Error> {
    let mut w = TableWriter::create(table, out)?;
    merge_into(&mut w, parts)?;
    w.finish()
}

/// Writes the rows of sorted parts into `w`, merged.
fn merge_into(w: &mut TableWriter, parts: &[PathBuf]) -> Result<(), Error> {
    let table = w.table;
    let conv = sort_converter(table);
    let mut cursors = Vec::new();
    for p in parts {
        if let Some(c) = Cursor::open(p, &conv, table)? {
            cursors.push(c);
        }
    }
    let mut heap: BinaryHeap<Reverse<(OwnedRow, usize)>> = cursors
        .iter()
        .enumerate()
        .map(|(i, c)| Reverse((c.head(), i)))
        .collect();
    while let Some(Reverse((_, i))) = heap.pop() {
        let c = &mut cursors[i];
        let end = match heap.peek() {
            Some(Reverse((next, j))) => c.upper_bound(next, *j < i),
            None => c.batch.num_rows(),
        };
        w.write(&c.batch.slice(c.pos, end - c.pos))?;
        c.pos = end;
        if c.pos == c.batch.num_rows() && !c.advance(&conv, table)? {
            continue;
        }
        heap.push(Reverse((c.head(), i)));
    }
    Ok(())
}

/// A table written straight to its Parquet file while its rows arrive task by task: every row of a task
/// before any row of a later task (in the sort order), in any order of time. A task's rows are kept until
/// the next task starts, then written in time order (stably); a task larger than the memory budget is
/// spilled to sorted parts and merged from them. No other part or merge is needed.
pub(crate) struct TaskStream {
    writer: TableWriter,
    task: Option<String>,
    pending: Vec<RecordBatch>,
    pending_bytes: usize,
    spill_bytes: usize,
    parts_dir: PathBuf,
    parts: Vec<PathBuf>,
    next_part: u64,
}

impl TaskStream {
    /// A stream writing `table` into `out`, spilling a large task into `parts_dir` beyond `spill_bytes`.
    pub(crate) fn create(
        table: Table,
        out: &Path,
        parts_dir: &Path,
        spill_bytes: usize,
    ) -> Result<Self, Error> {
        Ok(TaskStream {
            writer: TableWriter::create(table, out)?,
            task: None,
            pending: Vec::new(),
            pending_bytes: 0,
            spill_bytes,
            parts_dir: parts_dir.to_owned(),
            parts: Vec::new(),
            next_part: 0,
        })
    }

    /// Takes a batch whose rows come task by task (a task's rows together), in the tasks' sort order, none
    /// before the last batch's task.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let table = self.writer.table;
        let tasks = batch
            .column_by_name("task")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| Error::Arrow(format!("a batch of {table} without its task column")))?;
        let mut start = 0;
        while start < tasks.len() {
            let task = tasks.value(start);
            let mut end = start + 1;
            while end < tasks.len() && tasks.value(end) == task {
                end += 1;
            }
            match self.task.as_deref() {
                Some(current) if current == task => {}
                Some(current) if current > task => {
                    return Err(Error::OutOfOrder {
                        table,
                        task: task.to_owned(),
                        after: current.to_owned(),
                    })
                }
                _ => {
                    self.finish_task()?;
                    self.task = Some(task.to_owned());
                }
            }
            let run = batch.slice(start, end - start);
            self.pending_bytes += batch_bytes(&run);
            self.pending.push(run);
            if self.pending_bytes >= self.spill_bytes {
                self.spill()?;
            }
            start = end;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), Error> {
        let table = self.writer.table;
        let path =
            self.parts_dir
                .join(format!("task-{:08}-{}.arrow", self.next_part, table.name()));
        self.next_part += 1;
        write_sorted_part(table, &self.pending, &path)?;
        self.parts.push(path);
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Writes the current task's rows in time order.
    fn finish_task(&mut self) -> Result<(), Error> {
        if !self.parts.is_empty() {
            if !self.pending.is_empty() {
                self.spill()?;
            }
            merge_into(&mut self.writer, &self.parts)?;
            for p in self.parts.drain(..) {
                fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
            return Ok(());
        }
        let times: Vec<&TimestampMicrosecondArray> = self
            .pending
            .iter()
            .map(|b| {
                b.column_by_name("time")
                    .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                Error::Arrow(format!("a batch of {} without its time", self.writer.table))
            })?;
        // Rows already in time order (one key's pages) are written as they are.
        let mut last = i64::MIN;
        let in_order = times.iter().all(|t| {
            t.values().iter().all(|&v| {
                let ok = last <= v;
                last = v;
                ok
            })
        });
        if in_order {
            for b in &self.pending {
                self.writer.write(b)?;
            }
        } else {
            let mut order: Vec<(usize, usize)> = times
                .iter()
                .enumerate()
                .flat_map(|(b, t)| (0..t.len()).map(move |i| (b, i)))
                .collect();
            order.sort_by_key(|&(b, i)| times[b].value(i));
            let refs: Vec<&RecordBatch> = self.pending.iter().collect();
            for chunk in order.chunks(PART_BATCH_ROWS) {
                self.writer
                    .write(&interleave_record_batch(&refs, chunk).map_err(Error::arrow)?)?;
            }
        }
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Writes the last task and closes the file durably.
    pub(crate) fn finish(mut self) -> Result<TableInfo, Error> {
        self.finish_task()?;
        self.writer.finish()
    }
}

/// Writes one table from in-memory batches (sorted here), durably.
pub(crate) fn write_table(
    table: Table,
    batches: &[RecordBatch],
    out: &Path,
) -> Result<TableInfo, Error> {
    let conv = sort_converter(table);
    let rows: Vec<Rows> = batches
        .iter()
        .map(|b| sort_rows(&conv, table, b))
        .collect::<Result<_, _>>()?;
    let mut order: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .flat_map(|(b, r)| (0..r.num_rows()).map(move |i| (b, i)))
        .collect();
    order.sort_by(|a, b| rows[a.0].row(a.1).cmp(&rows[b.0].row(b.1)));
    let mut w = TableWriter::create(table, out)?;
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    for chunk in order.chunks(PART_BATCH_ROWS) {
        w.write(&interleave_record_batch(&refs, chunk).map_err(Error::arrow)?)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use wotemu_contract::table::{LogLine, Records};

    fn logs(rows: &[(i64, &str)]) -> RecordBatch {
        let rows: Vec<LogLine> = rows
            .iter()
            .map(|(t, l)| LogLine {
                task: "t".into(),
                node: "n".into(),
                time: *t,
                stream: "stdout".into(),
                line: (*l).into(),
            })
            .collect();
        LogLine::to_batch(&rows)
    }

    /// Equal keys keep their arrival order even when a later part's head sorts first.
    #[test]
    fn regression_merge_is_stable_across_parts() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = PartSink::new(dir.path().join("parts"), usize::MAX, 0).unwrap();
        sink.push(Table::Logs, logs(&[(5, "a1"), (5, "a2")]));
        let first = sink.spill().unwrap();
        sink.push(Table::Logs, logs(&[(5, "b2"), (3, "b1")]));
        let second = sink.spill().unwrap();
        let files: Vec<PathBuf> = first
            .iter()
            .chain(&second)
            .map(|p| dir.path().join("parts").join(&p.file))
            .collect();
        let out = dir.path().join("logs.parquet");
        let info = merge_parts(Table::Logs, &files, &out).unwrap();
        assert_eq!(info.rows, 4);
        let batches = crate::dataset::read_table(dir.path(), Table::Logs).unwrap();
        let lines: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("line")
                    .unwrap()
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(lines, ["b1", "a1", "a2", "b2"]);
    }
}
