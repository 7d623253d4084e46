//! Errors of building a report.

use std::path::PathBuf;

/// Why a report cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} is not a run dataset: {reason}", path.display())]
    NotADataset { path: PathBuf, reason: String },
    #[error("cannot read table `{table}` of the dataset")]
    Table {
        table: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Compare(String),
    #[error("cannot render page {page}: {message}")]
    Template { page: String, message: String },
}
