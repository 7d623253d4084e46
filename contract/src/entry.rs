//! The wire format of a Redis stream entry.
//!
//! An agent appends its records to its task's stream, `wotemu:<stack>:stream:<task>`, in batches: one entry
//! holds records of one table. The fields of an entry are:
//!
//! | field | value |
//! | --- | --- |
//! | `v` | format version, decimal ([`crate::ENTRY_FORMAT_VERSION`]) |
//! | `seq` | the task's batch sequence number, decimal, starting at 1, one more for every batch the agent makes |
//! | `table` | the table name ([`Table::name`]) |
//! | `n` | the number of records in `data`, decimal |
//! | `dropped` | records of this table the agent had to drop since its previous entry (optional, default 0) |
//! | `produced` | records of this table the task had produced (kept or dropped) when the batch was cut, cumulative (optional; agents of this version always send it) |
//! | `data` | one Arrow IPC *stream* (schema message + one record batch) with the table's schema |
//!
//! Invariants the collector relies on:
//! - `seq` numbers of a task are unique per batch: an entry seen twice (an agent replaying its spool after a
//!   Redis outage) has the same `seq` and is skipped as a duplicate; a `seq` never seen is a lost batch.
//! - `produced` never decreases within a task and table: the largest one seen is what the task produced up to
//!   its last cut batch; what of it is neither written, counted dropped nor rejected never reached the dataset.
//! - `data` may lack nullable columns (they read as null) and may carry extra columns (ignored and counted);
//!   a missing required column or a column of another type rejects the entry.
//!
//! Example, as `redis-cli` shows it:
//!
//! ```text
//! XADD wotemu:demo:stream:demo_reader.1.k3x * v 1 seq 42 table interactions n 128 data <arrow ipc bytes>
//! ```

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use crate::table::Table;
use crate::ENTRY_FORMAT_VERSION;

/// A batch of records of one table, as carried by one stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// The task's batch sequence number (from 1).
    pub seq: u64,
    /// The table of the records.
    pub table: Table,
    /// Records of this table the agent dropped since its previous entry.
    pub dropped: u64,
    /// Records of this table the task had produced when this batch was cut (cumulative, dropped ones
    /// included): with it the collector can tell how many records never reached the dataset. `None` in
    /// entries of older agents.
    pub produced: Option<u64>,
    /// The records, with the table's schema.
    pub batch: RecordBatch,
}

/// Why an entry cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("field `{0}` is missing")]
    MissingField(&'static str),
    #[error("field `{field}` is not a number: {value:?}")]
    NotANumber { field: &'static str, value: String },
    #[error("format version {found} is not known to this wotemu (it reads version {supported}); collect with a newer wotemu")]
    UnknownVersion { found: u32, supported: u32 },
    #[error("table `{0}` is not known to this wotemu")]
    UnknownTable(String),
    #[error("the Arrow data cannot be decoded ({0}); the entry is truncated or corrupt")]
    Ipc(String),
    #[error("the Arrow data holds no record batch; the entry is truncated")]
    NoBatch,
    #[error("the entry declares {declared} records but holds {found}")]
    RowCount { declared: u64, found: u64 },
    #[error("column `{column}` of table `{table}` is {found} but must be {expected}")]
    ColumnType {
        table: Table,
        column: String,
        expected: String,
        found: String,
    },
    #[error("required column `{column}` of table `{table}` is missing")]
    MissingColumn { table: Table, column: String },
    #[error("the Redis reply is malformed: {0}")]
    Malformed(String),
}

/// An entry that could not be read, with what could be learnt of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct BadEntry {
    /// The entry's `seq`, if it could be read.
    pub seq: Option<u64>,
    /// The entry's declared record count, if it could be read.
    pub records: Option<u64>,
    /// What is wrong.
    pub error: EntryError,
}

/// A decoded entry, with the columns of `data` that the table does not define.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub entry: StreamEntry,
    /// Columns present in `data` but not in the table's schema (dropped, to be counted by the caller).
    pub ignored_columns: Vec<String>,
}

impl StreamEntry {
    /// Builds an entry; `batch` must have the table's schema.
    pub fn new(seq: u64, batch: RecordBatch, table: Table) -> Self {
        StreamEntry {
            seq,
            table,
            dropped: 0,
            produced: None,
            batch,
        }
    }

    /// The field/value pairs of the entry, in the order `XADD` receives them.
    pub fn encode(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut fields = vec![
            ("v", ENTRY_FORMAT_VERSION.to_string().into_bytes()),
            ("seq", self.seq.to_string().into_bytes()),
            ("table", self.table.name().as_bytes().to_vec()),
            ("n", self.batch.num_rows().to_string().into_bytes()),
        ];
        if self.dropped > 0 {
            fields.push(("dropped", self.dropped.to_string().into_bytes()));
        }
        if let Some(p) = self.produced {
            fields.push(("produced", p.to_string().into_bytes()));
        }
        fields.push(("data", encode_ipc(&self.batch)));
        fields
    }

    /// Reads an entry from its field/value pairs (in any order; unknown fields are ignored).
    pub fn decode<'a, I>(fields: I) -> Result<Decoded, BadEntry>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let (mut v, mut seq, mut table, mut n, mut dropped, mut produced, mut data) =
            (None, None, None, None, None, None, None);
        for (k, val) in fields {
            match k {
                "v" => v = Some(val),
                "seq" => seq = Some(val),
                "table" => table = Some(val),
                "n" => n = Some(val),
                "dropped" => dropped = Some(val),
                "produced" => produced = Some(val),
                "data" => data = Some(val),
                _ => {}
            }
        }
        let seq = seq.map(|s| number("seq", s)).transpose();
        let n = n.map(|s| number("n", s)).transpose();
        let header = (seq.clone().ok().flatten(), n.clone().ok().flatten());
        let bad = |error| BadEntry {
            seq: header.0,
            records: header.1,
            error,
        };

        let v = number("v", v.ok_or(EntryError::MissingField("v")).map_err(bad)?).map_err(bad)?;
        if v != u64::from(ENTRY_FORMAT_VERSION) {
            return Err(bad(EntryError::UnknownVersion {
                found: u32::try_from(v).unwrap_or(u32::MAX),
                supported: ENTRY_FORMAT_VERSION,
            }));
        }
        let seq = seq
            .map_err(bad)?
            .ok_or(EntryError::MissingField("seq"))
            .map_err(bad)?;
        let n = n
            .map_err(bad)?
            .ok_or(EntryError::MissingField("n"))
            .map_err(bad)?;
        let table_name = table
            .ok_or(EntryError::MissingField("table"))
            .map_err(bad)?;
        let table_name = String::from_utf8_lossy(table_name);
        let table: Table = table_name
            .parse()
            .map_err(|_| bad(EntryError::UnknownTable(table_name.into_owned())))?;
        let dropped = dropped
            .map(|d| number("dropped", d))
            .transpose()
            .map_err(bad)?
            .unwrap_or(0);
        let produced = produced
            .map(|p| number("produced", p))
            .transpose()
            .map_err(bad)?;
        let data = data.ok_or(EntryError::MissingField("data")).map_err(bad)?;
        let batch = decode_ipc(data).map_err(bad)?;
        if batch.num_rows() as u64 != n {
            return Err(bad(EntryError::RowCount {
                declared: n,
                found: batch.num_rows() as u64,
            }));
        }
        let (batch, ignored_columns) = align(batch, table).map_err(bad)?;
        Ok(Decoded {
            entry: StreamEntry {
                seq,
                table,
                dropped,
                produced,
                batch,
            },
            ignored_columns,
        })
    }
}

fn number(field: &'static str, raw: &[u8]) -> Result<u64, EntryError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| EntryError::NotANumber {
            field,
            value: String::from_utf8_lossy(raw).into_owned(),
        })
}

/// Encodes a batch as one Arrow IPC stream (schema, batch, end marker).
pub fn encode_ipc(batch: &RecordBatch) -> Vec<u8> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    {
        let mut w = StreamWriter::try_new(&mut buf, &batch.schema()).expect("writing to memory");
        w.write(batch).expect("writing to memory");
        w.finish().expect("writing to memory");
    }
    buf
}

fn decode_ipc(data: &[u8]) -> Result<RecordBatch, EntryError> {
    let mut reader = StreamReader::try_new(Cursor::new(data), None)
        .map_err(|e| EntryError::Ipc(e.to_string()))?;
    let first = reader
        .next()
        .ok_or(EntryError::NoBatch)?
        .map_err(|e| EntryError::Ipc(e.to_string()))?;
    // Further batches in one entry are allowed by the IPC format; concatenate them.
    let mut rest = Vec::new();
    for b in reader {
        rest.push(b.map_err(|e| EntryError::Ipc(e.to_string()))?);
    }
    if rest.is_empty() {
        return Ok(first);
    }
    let schema = first.schema();
    rest.insert(0, first);
    arrow::compute::concat_batches(&schema, &rest).map_err(|e| EntryError::Ipc(e.to_string()))
}

/// Aligns a batch to the table's schema: columns in schema order, missing nullable columns as nulls.
/// Returns the names of the columns the table does not define.
pub fn align(batch: RecordBatch, table: Table) -> Result<(RecordBatch, Vec<String>), EntryError> {
    let target: SchemaRef = table.schema();
    if batch.schema() == target {
        return Ok((batch, Vec::new()));
    }
    let source = batch.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        match source.index_of(field.name()) {
            Ok(i) => {
                let col = batch.column(i);
                if col.data_type() != field.data_type() {
                    return Err(EntryError::ColumnType {
                        table,
                        column: field.name().clone(),
                        expected: field.data_type().to_string(),
                        found: col.data_type().to_string(),
                    });
                }
                if !field.is_nullable() && col.null_count() > 0 {
                    return Err(EntryError::ColumnType {
                        table,
                        column: field.name().clone(),
                        expected: format!("{} without nulls", field.data_type()),
                        found: format!("{} with {} nulls", col.data_type(), col.null_count()),
                    });
                }
                columns.push(col.clone());
            }
            Err(_) if field.is_nullable() => {
                columns.push(new_null_array(field.data_type(), batch.num_rows()));
            }
            Err(_) => {
                return Err(EntryError::MissingColumn {
                    table,
                    column: field.name().clone(),
                });
            }
        }
    }
    let ignored = source
        .fields()
        .iter()
        .filter(|f| target.field_with_name(f.name()).is_err())
        .map(|f| f.name().clone())
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&target), columns)
        .map_err(|e| EntryError::Ipc(e.to_string()))?;
    Ok((batch, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{LogLine, Records};
    use arrow::array::{StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn logs(n: usize) -> RecordBatch {
        let rows: Vec<LogLine> = (0..n)
            .map(|i| LogLine {
                task: "t".into(),
                node: "n".into(),
                time: i as i64,
                stream: "stdout".into(),
                line: format!("line {i}"),
            })
            .collect();
        LogLine::to_batch(&rows)
    }

    fn fields<'a>(e: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
        e.iter().map(|(k, v)| (*k, v.as_slice())).collect()
    }

    #[test]
    fn round_trip() {
        let mut e = StreamEntry::new(7, logs(3), Table::Logs);
        e.dropped = 2;
        let enc = e.encode();
        let d = StreamEntry::decode(fields(&enc)).unwrap();
        assert_eq!(d.entry, e);
        assert!(d.ignored_columns.is_empty());
    }

    #[test]
    fn truncated_data_is_an_error_with_header() {
        let e = StreamEntry::new(9, logs(50), Table::Logs);
        let mut enc = e.encode();
        let data = &mut enc.last_mut().unwrap().1;
        data.truncate(data.len() / 2);
        let err = StreamEntry::decode(fields(&enc)).unwrap_err();
        assert_eq!(err.seq, Some(9));
        assert_eq!(err.records, Some(50));
        assert!(
            matches!(err.error, EntryError::Ipc(_) | EntryError::NoBatch),
            "{err}"
        );
    }

    #[test]
    fn unknown_version_and_table() {
        let e = StreamEntry::new(1, logs(1), Table::Logs);
        let mut enc = e.encode();
        enc[0].1 = b"9".to_vec();
        let err = StreamEntry::decode(fields(&enc)).unwrap_err();
        assert_eq!(
            err.error,
            EntryError::UnknownVersion {
                found: 9,
                supported: 1
            }
        );
        assert!(err.to_string().contains("collect with a newer wotemu"));

        let mut enc = e.encode();
        enc[2].1 = b"frames".to_vec();
        let err = StreamEntry::decode(fields(&enc)).unwrap_err();
        assert_eq!(err.error, EntryError::UnknownTable("frames".into()));
    }

    #[test]
    fn missing_and_garbled_fields() {
        let e = StreamEntry::new(1, logs(1), Table::Logs);
        let enc = e.encode();
        let without_seq: Vec<_> = fields(&enc)
            .into_iter()
            .filter(|(k, _)| *k != "seq")
            .collect();
        assert_eq!(
            StreamEntry::decode(without_seq).unwrap_err().error,
            EntryError::MissingField("seq")
        );
        let mut enc2 = enc.clone();
        enc2[3].1 = b"two".to_vec();
        let err = StreamEntry::decode(fields(&enc2)).unwrap_err();
        assert_eq!(
            err.error,
            EntryError::NotANumber {
                field: "n",
                value: "two".into()
            }
        );
        let mut enc3 = enc;
        enc3[3].1 = b"5".to_vec();
        let err = StreamEntry::decode(fields(&enc3)).unwrap_err();
        assert_eq!(
            err.error,
            EntryError::RowCount {
                declared: 5,
                found: 1
            }
        );
    }

    #[test]
    fn alignment_fills_nullable_and_reports_extra() {
        // An older agent without `node`? Not allowed: node is required.
        let schema = Arc::new(Schema::new(vec![
            Field::new("task", DataType::Utf8, false),
            Field::new("time", crate::table::time_type(), false),
            Field::new("thing", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("subscription", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("extra", DataType::Utf8, false),
        ]));
        let s = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
        let t = Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC")) as ArrayRef;
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                s("t"),
                t.clone(),
                s("th"),
                s("e"),
                s("sub"),
                s("next"),
                s("x"),
            ],
        )
        .unwrap();
        let err = align(b, Table::Events).unwrap_err();
        assert_eq!(
            err,
            EntryError::MissingColumn {
                table: Table::Events,
                column: "node".into()
            }
        );

        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.insert(1, Field::new("node", DataType::Utf8, false));
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                s("t"),
                s("n"),
                t,
                s("th"),
                s("e"),
                s("sub"),
                s("next"),
                s("x"),
            ],
        )
        .unwrap();
        let (aligned, ignored) = align(b, Table::Events).unwrap();
        assert_eq!(aligned.schema(), Table::Events.schema());
        assert_eq!(aligned.column_by_name("item").unwrap().null_count(), 1);
        assert_eq!(ignored, vec!["extra".to_string()]);
    }
}
