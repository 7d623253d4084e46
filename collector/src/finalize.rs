//! The last step of both collections (Redis streams and the 0.6 import): the parts of each table merged into
//! its Parquet file, the `tasks` table written, the manifest completed and written last (its presence means
//! the dataset is complete), then the work folder removed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wotemu_contract::manifest::{Manifest, TableInfo, MANIFEST_FILE};
use wotemu_contract::table::{Records, TaskRow};
use wotemu_contract::time_util::{now_us, rfc3339_to_us, us_to_rfc3339};
use wotemu_contract::Table;

use crate::error::Error;
use crate::failpoint;
use crate::sink::{merge_parts, write_table, PartMeta};
use crate::Progress;

pub(crate) type TableInfos = BTreeMap<Table, TableInfo>;

/// What a collection hands over to be written as a dataset.
pub(crate) struct Finish<'a> {
    /// The run directory.
    pub(crate) out: &'a Path,
    /// The work folder (its `parts/` hold the spilled parts; removed at the end).
    pub(crate) work: &'a Path,
    pub(crate) parts: &'a [PartMeta],
    /// Tables already written (no part of theirs is merged).
    pub(crate) written: TableInfos,
    pub(crate) tasks: Vec<TaskRow>,
    /// The manifest without its `tables` (filled here), times filled from the data when missing.
    pub(crate) manifest: Manifest,
}

/// Writes the dataset; returns its manifest.
pub(crate) fn finalize(f: Finish<'_>, progress: &dyn Progress) -> Result<Manifest, Error> {
    progress.start("Writing dataset", Some(Table::ALL.len() as u64));
    let mut tables = merge_all(f.parts, &f.work.join("parts"), f.out, f.written, progress)?;
    let info = write_table(
        Table::Tasks,
        &[TaskRow::to_batch(&f.tasks)],
        &f.out.join(Table::Tasks.file_name()),
    )?;
    tables.insert(Table::Tasks, info);
    progress.advance(1);
    progress.finish();
    let mut manifest = f.manifest;
    if manifest.started_at.is_none() {
        manifest.started_at = earliest(&tables);
    }
    if manifest.stopped_at.is_none() {
        manifest.stopped_at = latest(&tables);
    }
    manifest.tables = tables;
    manifest.collected_at = Some(us_to_rfc3339(now_us()));
    write_manifest(f.out, &manifest)?;
    failpoint::hit("manifest-written");
    fs::remove_dir_all(f.work).map_err(|e| Error::io(f.work, e))?;
    Ok(manifest)
}

/// Merges the parts of every table but `tasks` and those `written` into its Parquet file, two tables at a
/// time (one per core of a small machine; each merge holds one batch per part).
fn merge_all(
    parts: &[PartMeta],
    dir: &Path,
    out: &Path,
    written: TableInfos,
    progress: &dyn Progress,
) -> Result<TableInfos, Error> {
    let todo: Vec<Table> = Table::ALL
        .into_iter()
        .filter(|t| *t != Table::Tasks && !written.contains_key(t))
        .collect();
    progress.advance(written.len() as u64);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 2);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&table) = todo.get(i) else { break };
                let files: Vec<PathBuf> = parts
                    .iter()
                    .filter(|p| p.table == table)
                    .map(|p| dir.join(&p.file))
                    .collect();
                let started = Instant::now();
                let _span = tracing::debug_span!("merge", %table).entered();
                let r = merge_parts(table, &files, &out.join(table.file_name()));
                tracing::debug!(
                    parts = files.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    peak_rss_kib = crate::fsutil::peak_rss_kib(),
                    "Merged a table."
                );
                failpoint::hit("table-merged");
                progress.advance(1);
                results.lock().expect("results").push((table, r));
            });
        }
    });
    let mut tables = written;
    for (table, r) in results.into_inner().expect("results") {
        tables.insert(table, r?);
    }
    Ok(tables)
}

/// The earliest `time_min` of the tables.
fn earliest(tables: &TableInfos) -> Option<String> {
    tables
        .values()
        .filter_map(|t| t.time_min.as_deref().and_then(rfc3339_to_us))
        .min()
        .map(us_to_rfc3339)
}

/// The latest `time_max` of the tables.
fn latest(tables: &TableInfos) -> Option<String> {
    tables
        .values()
        .filter_map(|t| t.time_max.as_deref().and_then(rfc3339_to_us))
        .max()
        .map(us_to_rfc3339)
}

/// Writes `manifest.json` durably; the dataset is complete once it exists.
pub(crate) fn write_manifest(out: &Path, manifest: &Manifest) -> Result<(), Error> {
    let path = out.join(MANIFEST_FILE);
    crate::fsutil::write_atomic(&path, manifest.to_json().as_bytes())
        .map_err(|e| Error::io(&path, e))
}
