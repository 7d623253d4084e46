//! Errors of the agent.

use std::path::PathBuf;

/// Why the agent could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the task name `{0}` is not valid: it must not contain `:`, `*`, `?`, `[`, `]` or white space")]
    TaskName(String),
    #[error("the Redis URL `{url}` is not valid: {message}")]
    RedisUrl { url: String, message: String },
    #[error("cannot use the spool directory {path}: {source}")]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare the embedded Python: {0}")]
    Python(String),
    #[error("the app cannot be loaded: {0}")]
    AppLoad(String),
    #[error("emulated CPU speed: {0}")]
    CpuSpeed(String),
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}
