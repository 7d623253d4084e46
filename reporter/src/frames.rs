//! Reading the dataset's tables lazily with Polars, and getting plain values out of result frames.

use std::path::Path;

use polars::prelude::*;
use wotemu_contract::table::Table;

use crate::error::Error;

/// A lazy scan of a table of the dataset in `dir`, or `None` when the file is missing (readers treat it as
/// empty).
pub fn scan(dir: &Path, table: Table) -> Result<Option<LazyFrame>, Error> {
    let path = dir.join(table.file_name());
    if !path.exists() {
        return Ok(None);
    }
    let lf = LazyFrame::scan_parquet(
        PlRefPath::new(path.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .map_err(|source| Error::Table {
        table: table.name(),
        source,
    })?;
    Ok(Some(lf))
}

/// Collects a lazy frame, naming the table on error.
pub(crate) fn collect(lf: LazyFrame, table: Table) -> Result<DataFrame, Error> {
    // The streaming engine reads the Parquet files in morsels: memory stays bounded by the result, not the
    // table (it falls back to the in-memory engine for what it cannot stream).
    lf.collect_with_engine(Engine::Streaming)
        .map_err(|source| Error::Table {
            table: table.name(),
            source,
        })
}

fn series<'a>(df: &'a DataFrame, name: &str) -> Option<&'a Series> {
    df.column(name).ok().map(|c| c.as_materialized_series())
}

/// A column as strings (any type is formatted; nulls are `None`).
pub(crate) fn strs(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let Some(s) = series(df, name) else {
        return vec![None; df.height()];
    };
    match s.cast(&DataType::String) {
        Ok(c) => c
            .str()
            .map(|ca| ca.into_iter().map(|v| v.map(str::to_owned)).collect())
            .unwrap_or_else(|_| vec![None; df.height()]),
        Err(_) => vec![None; df.height()],
    }
}

/// A column as i64 (timestamps as microseconds).
pub(crate) fn i64s(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let Some(s) = series(df, name) else {
        return vec![None; df.height()];
    };
    let s = if let DataType::Datetime(_, _) = s.dtype() {
        s.to_physical_repr().into_owned()
    } else {
        s.clone()
    };
    match s.cast(&DataType::Int64) {
        Ok(c) => c
            .i64()
            .map(|ca| ca.into_iter().collect())
            .unwrap_or_else(|_| vec![None; df.height()]),
        Err(_) => vec![None; df.height()],
    }
}

/// A column as f64.
pub(crate) fn f64s(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let Some(s) = series(df, name) else {
        return vec![None; df.height()];
    };
    match s.cast(&DataType::Float64) {
        Ok(c) => c
            .f64()
            .map(|ca| ca.into_iter().collect())
            .unwrap_or_else(|_| vec![None; df.height()]),
        Err(_) => vec![None; df.height()],
    }
}

/// `time` as microseconds since the epoch (Int64), for arithmetic on windows.
pub(crate) fn time_us() -> Expr {
    col("time").cast(DataType::Int64)
}
