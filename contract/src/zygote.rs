//! The one-host runner's requests to the zygote (`wotemu zygote`, which forks replicas' agents) and its
//! answers: a JSON document per line on the zygote's stdin and stdout.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A replica's agent to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The replica's network namespace (`/run/netns/<ns>`).
    pub ns: String,
    /// Its hostname: the task name.
    pub hostname: String,
    /// The command line after the program's name (`agent --path … `).
    pub args: Vec<String>,
    /// Variables set on top of the zygote's environment (the runner's).
    pub env: BTreeMap<String, String>,
    /// Its cgroups, a folder per controller.
    pub cgroups: Vec<PathBuf>,
    /// Where its stdout and stderr go (appended).
    pub log: PathBuf,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Forked: the new process's pid (a child of the zygote's parent).
    Pid(u32),
    /// Not forked, and why; the runner starts the agent itself.
    Error(String),
}

/// The first line the zygote writes, once its imports are done.
pub const READY: &str = "ready";
