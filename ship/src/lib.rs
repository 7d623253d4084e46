//! The one way records reach Redis.
//!
//! Every producer of a run — the node agents, the recording gateways, the one-host runner (its timeline of
//! outages and restarts) and the Swarm stack's scenario service — writes through this crate, so all of them
//! follow the same protocol ([`wotemu_contract::entry`]): each batch is one stream entry of one table with
//! the producer's next sequence number and its table's cumulative `produced` count; while Redis does not
//! answer, entries wait in a durable spool on disk ([`spool`]) and are replayed in order; the producer's task
//! is registered at its start ([`register`]) and its final report (its snapshot) is written last
//! ([`final_report`]), which is how `wotemu stop` and the collector know it ended.
//!
//! - [`shipper`]: the buffers and the flusher thread ([`Shipper`]);
//! - [`spool`]: the spool file;
//! - [`events`]: a producer that only has `timeline` events to tell ([`EventRecorder`]: the runner, the
//!   scenario service);
//! - [`ProducerConfig`]: who the producer is and where its records go, from the environment contract of a
//!   node (`REDIS_URL`, `REDIS_PASSWORD_FILE`, `WOTEMU_STACK`, `WOTEMU_TASK`, `WOTEMU_SPOOL_DIR`).
//!
//! This crate must never drop a record without counting it, reuse a batch sequence number, or write a
//! secret to Redis (task facts go through [`wotemu_contract::redact`] before they get here).

pub mod events;
pub mod shipper;
pub mod spool;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use wotemu_contract::keys::StackKeys;
use wotemu_contract::task::{TaskInfo, TaskName, TaskSnapshot};
use wotemu_contract::time_util::{now_us, us_to_rfc3339};

pub use events::EventRecorder;
pub use shipper::{Drained, Shipper, ShipperConfig};
pub use spool::Spool;

/// Why a producer could not start.
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
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Who a producer is and where its records go.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Redis URL (with the stack's password, when it has one: it never reaches Redis, the dataset or a log).
    pub redis_url: String,
    pub stack: String,
    /// The producer's task (`<stack>_<service>.<slot>.<id>`): its stream and registry entry.
    pub task: String,
    /// Where batches wait while Redis does not answer.
    pub spool_dir: PathBuf,
}

impl ProducerConfig {
    /// The producer part of a node's environment contract (`env` is usually `std::env::vars()`):
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`) with the password of `REDIS_PASSWORD_FILE` (a Swarm
    /// secret: never in the environment itself), `WOTEMU_STACK` (default `wotemu`), `WOTEMU_TASK` (else the
    /// host name, as in a Swarm task), `WOTEMU_SPOOL_DIR` (default `$TMPDIR/wotemu-spool`).
    pub fn from_env(env: &BTreeMap<String, String>) -> ProducerConfig {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let stack = get("WOTEMU_STACK").unwrap_or_else(|| "wotemu".into());
        let task = get("WOTEMU_TASK")
            .or_else(|| get("HOSTNAME"))
            .or_else(wotemu_sys::facts::hostname)
            .unwrap_or_else(|| format!("{stack}_agent.1.{}", std::process::id()));
        let url = get("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        let redis_url = match get("REDIS_PASSWORD_FILE").map(|f| std::fs::read_to_string(&f)) {
            Some(Ok(pw)) => wotemu_contract::redact::with_password(&url, pw.trim()),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "REDIS_PASSWORD_FILE cannot be read; connecting without a password.");
                url
            }
            None => url,
        };
        ProducerConfig {
            redis_url,
            stack,
            task,
            spool_dir: get("WOTEMU_SPOOL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("wotemu-spool")),
        }
    }

    /// Checks the task name and the Redis URL before anything starts.
    pub fn check(&self) -> Result<(), Error> {
        if wotemu_contract::keys::check_name(&self.task).is_err() {
            return Err(Error::TaskName(self.task.clone()));
        }
        redis::Client::open(self.redis_url.as_str()).map_err(|e| Error::RedisUrl {
            url: wotemu_contract::redact::redact_url(&self.redis_url),
            message: e.to_string(),
        })?;
        Ok(())
    }

    /// A shipper's settings for this producer.
    pub fn shipper(&self, flush_every: std::time::Duration, batch_rows: usize) -> ShipperConfig {
        ShipperConfig {
            redis_url: self.redis_url.clone(),
            stack: self.stack.clone(),
            task: self.task.clone(),
            flush_every,
            batch_rows,
            max_buffered_rows: 100_000,
            drain_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// A shipper for `cfg.task` with its spool in `spool_dir` (at most `spool_max_bytes`), flushing on a
/// thread of its own.
pub fn start_shipping(
    cfg: ShipperConfig,
    spool_dir: &Path,
    spool_max_bytes: u64,
) -> Result<(Arc<Shipper>, JoinHandle<Drained>), Error> {
    let spool =
        Spool::open(spool_dir, &cfg.task, spool_max_bytes).map_err(|source| Error::Spool {
            path: spool_dir.to_owned(),
            source,
        })?;
    let shipper = Shipper::new(cfg);
    let flusher = shipper.spawn(spool).map_err(|source| Error::Thread {
        what: "shipper",
        source,
    })?;
    Ok((shipper, flusher))
}

/// The facts of a task that records without an app (a gateway's recorder, the runner, the stack's scenario
/// service): who and where it is, from its task name; each adds its own.
pub fn recorder_info(stack: &str, task: &str, started_us: i64) -> TaskInfo {
    let name = TaskName::parse(task);
    TaskInfo {
        task: task.to_owned(),
        node: name.node(Some(stack)).to_owned(),
        service: name.service.to_owned(),
        slot: name.slot,
        hostname: wotemu_sys::facts::hostname(),
        container_id: wotemu_sys::facts::container_id(),
        started_at: Some(us_to_rfc3339(started_us)),
        ..Default::default()
    }
}

/// Registers a producer's task (`wotemu:<stack>:tasks`), through its shipper: retried until Redis takes it.
pub fn register(shipper: &Shipper, keys: &StackKeys, info: &TaskInfo) {
    shipper.hset(
        keys.tasks(),
        info.task.clone(),
        serde_json::to_string(info).expect("task info serializes"),
    );
}

/// Writes a producer's final report (its snapshot: `shutdown`, or `failed` with `error`) — its last
/// shipment, which `wotemu stop` and the collector wait for.
pub fn final_report(shipper: &Shipper, keys: &StackKeys, info: &TaskInfo, error: Option<String>) {
    let snapshot = TaskSnapshot {
        state: if error.is_some() {
            "failed"
        } else {
            "shutdown"
        }
        .into(),
        exit_error: error,
        started_at: info.started_at.clone(),
        stopped_at: Some(us_to_rfc3339(now_us())),
        container_id: info.container_id.clone(),
        ..Default::default()
    };
    shipper.hset(
        keys.snapshot(),
        info.task.clone(),
        serde_json::to_string(&snapshot).expect("snapshot serializes"),
    );
}

/// What a closed shipper's flusher left behind, once it ended.
pub fn drained(flusher: Option<JoinHandle<Drained>>) -> Drained {
    flusher
        .and_then(|f| f.join().ok())
        .unwrap_or_else(|| Drained {
            left_in_spool: u64::MAX,
            spool_path: PathBuf::new(),
        })
}
