//! The records of a part of a Swarm stack that only has events to tell — the stack's `scenario` service:
//! `timeline` rows shipped like an agent's (a [`Shipper`]: seq-numbered entries, the spool while Redis is
//! down, `produced` counts), its task registered at start and its final report (snapshot) written last,
//! which is what `wotemu stop` waits for.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wotemu_contract::keys::StackKeys;
use wotemu_contract::table::TimelineEvent;
use wotemu_contract::task::{TaskInfo, TaskSnapshot};
use wotemu_contract::time_util::{now_us, us_to_rfc3339};

use crate::shipper::{Drained, Shipper, ShipperConfig};
use crate::Error;

/// Ships one task's timeline events.
pub struct EventRecorder {
    keys: StackKeys,
    shipper: Arc<Shipper>,
    flusher: Option<JoinHandle<Drained>>,
    info: TaskInfo,
}

impl EventRecorder {
    /// Registers the task `cfg.task` (with `extra` in its task info, under the node's name) and starts
    /// shipping.
    pub fn start(
        cfg: &crate::AgentConfig,
        extra: serde_json::Value,
    ) -> Result<EventRecorder, Error> {
        redis::Client::open(cfg.redis_url.as_str()).map_err(|e| Error::RedisUrl {
            url: wotemu_contract::redact::redact_url(&cfg.redis_url),
            message: e.to_string(),
        })?;
        let (shipper, flusher) = crate::start_shipping(
            ShipperConfig {
                redis_url: cfg.redis_url.clone(),
                stack: cfg.stack.clone(),
                task: cfg.task.clone(),
                flush_every: Duration::from_millis(500),
                batch_rows: 1024,
                max_buffered_rows: 100_000,
                drain_timeout: Duration::from_secs(10),
            },
            &cfg.spool_dir,
            16 << 20,
        )?;
        let keys = StackKeys::new(&cfg.stack);
        let mut info = crate::recorder_info(&cfg.stack, &cfg.task, now_us());
        info.extra = [(info.node.clone(), extra)].into();
        shipper.hset(
            keys.tasks(),
            cfg.task.clone(),
            serde_json::to_string(&info).expect("task info serializes"),
        );
        Ok(EventRecorder {
            keys,
            shipper,
            flusher: Some(flusher),
            info,
        })
    }

    /// The task's node name (what its events' `node` is).
    pub fn node(&self) -> &str {
        &self.info.node
    }

    /// The task's name.
    pub fn task(&self) -> &str {
        &self.info.task
    }

    /// Queues one event (shipped within half a second, or spooled).
    pub fn push(&self, e: TimelineEvent) {
        self.shipper.push(e);
    }

    /// Writes the final report (its snapshot) after the last events, then waits for the shipper.
    pub fn finish(mut self, error: Option<String>) -> Drained {
        final_report(&self.shipper, &self.keys, &self.info, error);
        self.shipper.close();
        drained(self.flusher.take())
    }
}

/// Writes a recording task's final report (its snapshot: shut down, or failed with `error`) — its last
/// shipment, which `wotemu stop` waits for.
pub(crate) fn final_report(
    shipper: &Shipper,
    keys: &StackKeys,
    info: &TaskInfo,
    error: Option<String>,
) {
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
pub(crate) fn drained(flusher: Option<JoinHandle<Drained>>) -> Drained {
    flusher
        .and_then(|f| f.join().ok())
        .unwrap_or_else(|| Drained {
            left_in_spool: u64::MAX,
            spool_path: PathBuf::new(),
        })
}
