//! The collector's errors.

use std::path::Path;

/// What can go wrong while collecting or reading a dataset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Redis at {url} {what}: give the password in the URL (redis://:PASSWORD@HOST:PORT); for a Swarm \
         stack made by `wotemu compose`, it is in the file NAME.redis-password beside the compose file, which \
         `wotemu stop` and `--stack` find by themselves"
    )]
    Auth { url: String, what: &'static str },
    #[error("cannot reach Redis at {url}: {source}")]
    Connect {
        url: String,
        source: redis::RedisError,
    },
    #[error("Redis command {command} failed: {source}")]
    Redis {
        command: String,
        source: redis::RedisError,
    },
    #[error("{path}: {source}{}", if source.raw_os_error() == Some(libc::ENOSPC) { "; free some space (or choose another --out) and run the same command again: what Redis holds was not trimmed past what is on disk" } else { "" })]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Arrow: {0}")]
    Arrow(String),
    #[error("Parquet: {0}")]
    Parquet(String),
    /// A table file another tool wrote (or damaged) that the dataset's schema cannot read.
    #[error("{path}: {problem}; the dataset's tables are described in ARCHITECTURE.md (\"The run dataset\"): write the file back with that column and type, or restore it")]
    Schema { path: String, problem: String },
    #[error("{path}: not a readable Parquet file ({message}); restore it from the run, or collect the run again")]
    BadFile { path: String, message: String },
    #[error("invalid stack name: {0}")]
    StackName(#[from] wotemu_contract::keys::NameError),
    #[error(
        "{path} is not a collector checkpoint ({reason}); remove the folder {work} to start over"
    )]
    Checkpoint {
        path: String,
        work: String,
        reason: String,
    },
    #[error(
        "the checkpoint in {work} is for stack `{found}`, not `{expected}`; use another --out"
    )]
    OtherStack {
        work: String,
        found: String,
        expected: String,
    },
    #[error("{dir} already holds a complete dataset and stack `{stack}` has {pending} new entries in Redis; collect them into another --out")]
    DatasetExists {
        dir: String,
        stack: String,
        pending: u64,
    },
    #[error("no data for stack `{stack}` in Redis at {url} (no registered task and no stream under `wotemu:{stack}:`); check --stack and --redis-url")]
    NoSuchStack { stack: String, url: String },
    #[error("no WoTemu 0.6 data in Redis at {url} (no key `wotemu:system:*`, `wotemu:packet:*`, `wotemu:thing:*`, `wotemu:info:*` or `wotemu:snapshot`)")]
    NoLegacyData { url: String },
    #[error(transparent)]
    Manifest(#[from] wotemu_contract::manifest::ManifestError),
    #[error("{path} is not a run dataset: {reason}")]
    NotADataset { path: String, reason: String },
    #[error("rows of task `{task}` reached the {table} table after task `{after}`'s, out of order (a bug: please report it)")]
    OutOfOrder {
        table: wotemu_contract::Table,
        task: String,
        after: String,
    },
    #[error(
        "Redis answered XRANGE on {key} with something that is not a list of entries: {reply}"
    )]
    Malformed { key: String, reply: String },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn arrow(e: arrow::error::ArrowError) -> Error {
        Error::Arrow(e.to_string())
    }

    pub(crate) fn parquet(e: parquet::errors::ParquetError) -> Error {
        Error::Parquet(e.to_string())
    }

    pub(crate) fn redis(command: &str) -> impl FnOnce(redis::RedisError) -> Error + '_ {
        move |source| Error::Redis {
            command: command.to_owned(),
            source,
        }
    }
}
