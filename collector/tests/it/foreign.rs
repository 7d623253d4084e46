//! Datasets touched by other tools: tables written back by pandas, pyarrow or Polars (Snappy, gzip, Brotli
//! pages; large strings; dictionary columns) read as the dataset's own; a missing column or a damaged file is
//! an error naming the file, never a panic.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{BrotliLevel, Compression, GzipLevel};
use parquet::file::properties::WriterProperties;
use wotemu_collector::dataset::{info, read_table};
use wotemu_collector::{collect_quiet, CollectOptions, Error};
use wotemu_contract::Table;
use wotemu_testkit::compare::concat;
use wotemu_testkit::load::load_synthetic;
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

/// A dataset of a synthetic stack of two tasks.
fn dataset() -> tempfile::TempDir {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(5, "foreign");
    let tasks = synth.tasks(&[("node", 2)]);
    load_synthetic(&mut conn, &mut synth, "foreign", &tasks, 300, 100, true);
    let out = tempfile::tempdir().unwrap();
    collect_quiet(&CollectOptions::new(&redis.url(), "foreign", out.path())).unwrap();
    out
}

/// What pandas' `to_parquet` makes of a table: strings as large strings, the first string column as a
/// dictionary, every column nullable, pages compressed with `compression`.
fn write_back(dir: &Path, table: Table, compression: Compression) {
    let batch = concat(table, &read_table(dir, table).unwrap());
    let mut dictionary_done = false;
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let to = match f.data_type() {
                DataType::Utf8 if !dictionary_done => {
                    dictionary_done = true;
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
                }
                DataType::Utf8 => DataType::LargeUtf8,
                other => other.clone(),
            };
            let c = arrow::compute::cast(c, &to).unwrap();
            (Field::new(f.name(), to, true), c)
        })
        .unzip();
    let foreign = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let file = std::fs::File::create(dir.join(table.file_name())).unwrap();
    let props = WriterProperties::builder()
        .set_compression(compression)
        .build();
    let mut w = ArrowWriter::try_new(file, foreign.schema(), Some(props)).unwrap();
    w.write(&foreign).unwrap();
    w.close().unwrap();
}

#[test]
fn tables_written_back_by_other_tools_read_as_the_datasets_own() {
    let ds = dataset();
    let dir = ds.path();
    let before = info(dir).unwrap();
    assert!(before.tasks.len() >= 2, "{:?}", before.tasks);
    for compression in [
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::BROTLI(BrotliLevel::default()),
        Compression::UNCOMPRESSED,
    ] {
        for table in [Table::Tasks, Table::Logs] {
            let want = concat(table, &read_table(dir, table).unwrap());
            write_back(dir, table, compression);
            let got = concat(table, &read_table(dir, table).unwrap());
            assert_eq!(got.schema(), table.schema(), "{compression:?} {table:?}");
            assert_eq!(got, want, "{compression:?} {table:?}");
        }
        let after = info(dir).unwrap();
        assert_eq!(after.tasks, before.tasks, "{compression:?}");
        assert_eq!(
            after.tables[&Table::Logs].rows,
            before.tables[&Table::Logs].rows
        );
    }
}

#[test]
fn a_missing_column_or_a_damaged_file_is_named_not_a_panic() {
    let ds = dataset();
    let dir = ds.path();
    // Without the required column `task`.
    let batch = concat(Table::Tasks, &read_table(dir, Table::Tasks).unwrap());
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| batch.schema().field(i).name() != "task")
        .collect();
    let without = batch.project(&keep).unwrap();
    assert!(without.column_by_name("task").is_none());
    let file = std::fs::File::create(dir.join(Table::Tasks.file_name())).unwrap();
    let mut w = ArrowWriter::try_new(file, without.schema(), None).unwrap();
    w.write(&without).unwrap();
    w.close().unwrap();
    for err in [
        read_table(dir, Table::Tasks).unwrap_err(),
        info(dir).map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Schema { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("tasks.parquet") && msg.contains("no column `task`"),
            "{msg}"
        );
    }
    // A truncated file.
    let logs = dir.join(Table::Logs.file_name());
    let bytes = std::fs::read(&logs).unwrap();
    std::fs::write(&logs, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_table(dir, Table::Logs).unwrap_err();
    assert!(matches!(err, Error::BadFile { .. }), "{err:?}");
    assert!(err.to_string().contains("logs.parquet"), "{err}");
}
