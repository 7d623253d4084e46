//! Errors of the agent.

/// Why the agent could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Producer(#[from] wotemu_ship::Error),
    #[error("cannot prepare the embedded Python: {0}")]
    Python(String),
    #[error("the app cannot be loaded: {0}")]
    AppLoad(String),
    /// A command-line value the agent cannot use.
    #[error("{0}")]
    Config(String),
    #[error("emulated CPU speed: {0}")]
    CpuSpeed(String),
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}
