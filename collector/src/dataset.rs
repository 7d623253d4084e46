//! Reading a run dataset: its manifest, its tables, a summary for `wotemu dataset info`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use wotemu_contract::manifest::{TaskAccounting, MANIFEST_FILE};
use wotemu_contract::{Manifest, Table};

use crate::error::Error;

/// A summary of a run dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetInfo {
    pub path: String,
    pub stack: String,
    pub schema_version: u32,
    pub source: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub tables: BTreeMap<Table, TableSummary>,
    pub tasks: Vec<String>,
    pub accounting: TaskAccounting,
    pub problems: usize,
    /// Why the dataset is incomplete, when it is.
    pub incomplete: Option<wotemu_contract::manifest::Incomplete>,
    /// What was lost, one sentence each (empty: everything produced is in the dataset).
    pub losses: Vec<String>,
}

/// One table of [`DatasetInfo`].
#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub rows: u64,
    pub bytes: u64,
    pub time_min: Option<String>,
    pub time_max: Option<String>,
}

/// Opens a dataset's manifest, with a clear error when the folder is not a dataset.
pub fn open(dir: &Path) -> Result<Manifest, Error> {
    if !dir.join(MANIFEST_FILE).exists() {
        let reason = if dir.join(crate::WORK_DIR).exists() {
            "its collection was interrupted; run `wotemu collect` again with the same --out to finish it".to_owned()
        } else if !dir.exists() {
            "the folder does not exist".to_owned()
        } else {
            format!("there is no {MANIFEST_FILE} in it")
        };
        return Err(Error::NotADataset {
            path: dir.display().to_string(),
            reason,
        });
    }
    Ok(Manifest::read(dir)?)
}

/// Summarises a dataset from its manifest and the Parquet footers (the data itself is not read).
impl DatasetInfo {
    /// `wotemu dataset info` for people: the tables, the tasks and both sides of the accounting.
    pub fn describe(&self) -> String {
        let mut out = vec![
            format!(
                "Dataset {} (stack `{}`, from {})",
                self.path, self.stack, self.source
            ),
            format!(
                "  span: {} → {}",
                self.started_at.as_deref().unwrap_or("?"),
                self.stopped_at.as_deref().unwrap_or("?")
            ),
            format!("  {:<14}{:>12}{:>12}  time span", "table", "rows", "bytes"),
        ];
        for (t, s) in &self.tables {
            let span = match (&s.time_min, &s.time_max) {
                (Some(a), Some(b)) => format!("{a} → {b}"),
                _ => String::new(),
            };
            out.push(format!(
                "  {:<14}{:>12}{:>12}  {span}",
                t.name(),
                s.rows,
                s.bytes
            ));
        }
        out.push(format!("  tasks ({}):", self.tasks.len()));
        out.extend(self.tasks.iter().map(|t| format!("    {t}")));
        let a = &self.accounting;
        out.push(format!(
            "  produced: {} records = {} in the dataset + {} dropped by their producers + {} rejected + {} missing{}",
            a.records_produced,
            a.records_written,
            a.records_dropped_by_agent,
            a.records_rejected,
            a.records_missing,
            if a.balanced() { "" } else { "  (DOES NOT BALANCE)" }
        ));
        out.push(format!(
            "  collection: {} records read = {} written + {} duplicates skipped; {} batches missing",
            a.records_read, a.records_written, a.records_duplicate, a.seq_missing
        ));
        if let Some(i) = &self.incomplete {
            out.push(format!(
                "  INCOMPLETE: {}{}",
                i.reason,
                i.at.as_deref()
                    .map(|t| format!(" (last recorded {t})"))
                    .unwrap_or_default()
            ));
        }
        out.extend(self.losses.iter().map(|l| format!("  lost: {l}")));
        if self.problems > 0 {
            out.push(format!("  problems: {} (see manifest.json)", self.problems));
        }
        out.join("\n")
    }
}

pub fn info(dir: &Path) -> Result<DatasetInfo, Error> {
    let m = open(dir)?;
    let mut tables = BTreeMap::new();
    for table in Table::ALL {
        let path = dir.join(table.file_name());
        let (rows, bytes) = match File::open(&path) {
            Ok(f) => {
                let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
                let builder =
                    ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| Error::BadFile {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                (builder.metadata().file_metadata().num_rows() as u64, bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, 0),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let t = m.tables.get(&table);
        tables.insert(
            table,
            TableSummary {
                rows,
                bytes,
                time_min: t.and_then(|t| t.time_min.clone()),
                time_max: t.and_then(|t| t.time_max.clone()),
            },
        );
    }
    let mut tasks: Vec<String> = m.accounting.tasks.keys().cloned().collect();
    for b in read_table(dir, Table::Tasks)? {
        // `read_table` gives the contract's schema: `task` is there, as UTF-8.
        if let Some(col) = b
            .column_by_name("task")
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>())
        {
            tasks.extend(col.iter().flatten().map(str::to_owned));
        }
    }
    tasks.sort();
    tasks.dedup();
    let losses = m.losses();
    Ok(DatasetInfo {
        losses,
        incomplete: m.incomplete.clone(),
        path: dir.display().to_string(),
        stack: m.stack,
        schema_version: m.schema_version,
        source: m.source.kind,
        started_at: m.started_at,
        stopped_at: m.stopped_at,
        tables,
        tasks,
        accounting: m.accounting.totals,
        problems: m.problems.len(),
    })
}

/// Reads a whole table (an absent file reads as no batches), in the dataset's schema whoever wrote the file:
/// what pandas, pyarrow or Polars write back (Snappy, gzip, Brotli or zstd pages; large strings, dictionary
/// columns, other integer widths or time units) is cast to the contract's types; a missing nullable column
/// reads as nulls; a missing required column, a type that cannot be cast or a damaged file is an error that
/// names the file and the column. For tests, tools and small tables.
pub fn read_table(dir: &Path, table: Table) -> Result<Vec<RecordBatch>, Error> {
    let path = dir.join(table.file_name());
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let bad = |e: &dyn std::fmt::Display| Error::BadFile {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(&e))?
        .build()
        .map_err(|e| bad(&e))?;
    let schema = table.schema();
    reader
        .map(|b| conform(&path, &schema, b.map_err(|e| bad(&e))?))
        .collect()
}

/// `batch` in `schema`: each column found by name and cast to the schema's type.
fn conform(
    path: &Path,
    schema: &arrow::datatypes::SchemaRef,
    batch: RecordBatch,
) -> Result<RecordBatch, Error> {
    let problem = |problem: String| Error::Schema {
        path: path.display().to_string(),
        problem,
    };
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match batch.column_by_name(field.name()) {
            Some(c) if c.data_type() == field.data_type() => c.clone(),
            Some(c) => arrow::compute::cast(c, field.data_type()).map_err(|e| {
                problem(format!(
                    "column `{}` is {} where the dataset has {} ({e})",
                    field.name(),
                    c.data_type(),
                    field.data_type()
                ))
            })?,
            None if field.is_nullable() => {
                arrow::array::new_null_array(field.data_type(), batch.num_rows())
            }
            None => return Err(problem(format!("no column `{}`", field.name()))),
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(problem(format!(
                "column `{}` has {} empty values where the dataset allows none",
                field.name(),
                column.null_count()
            )));
        }
        columns.push(column);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| problem(e.to_string()))
}
