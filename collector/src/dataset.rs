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
pub fn info(dir: &Path) -> Result<DatasetInfo, Error> {
    let m = open(dir)?;
    let mut tables = BTreeMap::new();
    for table in Table::ALL {
        let path = dir.join(table.file_name());
        let (rows, bytes) = match File::open(&path) {
            Ok(f) => {
                let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
                let builder =
                    ParquetRecordBatchReaderBuilder::try_new(f).map_err(Error::parquet)?;
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
        let col = b.column_by_name("task").expect("tasks.task");
        let col = col
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("utf8 task");
        tasks.extend(col.iter().flatten().map(str::to_owned));
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

/// Reads a whole table (an absent file reads as no batches). For tests and small tables.
pub fn read_table(dir: &Path, table: Table) -> Result<Vec<RecordBatch>, Error> {
    let path = dir.join(table.file_name());
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(Error::parquet)?
        .build()
        .map_err(Error::parquet)?;
    reader.map(|b| b.map_err(Error::arrow)).collect()
}
