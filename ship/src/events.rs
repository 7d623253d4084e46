//! A producer that only has `timeline` events to tell — the one-host runner (outages and restarts of a run's
//! parts, the scenario's steps) and the Swarm stack's `scenario` service: its rows are shipped like an
//! agent's (a [`Shipper`]: seq-numbered entries, the spool while Redis is down, `produced` counts), its task
//! registered at start and its final report (snapshot) written last, which is what `wotemu stop` and the
//! collector wait for.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wotemu_contract::keys::StackKeys;
use wotemu_contract::table::TimelineEvent;
use wotemu_contract::task::TaskInfo;
use wotemu_contract::time_util::now_us;

use crate::shipper::{Drained, Shipper};
use crate::{Error, ProducerConfig};

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
    pub fn start(cfg: &ProducerConfig, extra: serde_json::Value) -> Result<EventRecorder, Error> {
        let mut info = crate::recorder_info(&cfg.stack, &cfg.task, now_us());
        info.extra = [(info.node.clone(), extra)].into();
        EventRecorder::start_as(cfg, info)
    }

    /// Registers the task with the facts `info` and starts shipping.
    pub fn start_as(cfg: &ProducerConfig, info: TaskInfo) -> Result<EventRecorder, Error> {
        cfg.check()?;
        let (shipper, flusher) = crate::start_shipping(
            cfg.shipper(Duration::from_millis(500), 1024),
            &cfg.spool_dir,
            16 << 20,
        )?;
        let keys = StackKeys::new(&cfg.stack);
        crate::register(&shipper, &keys, &info);
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

    /// Records an event of this task now: `kind` on `target` with its `outcome`, planned for `planned`
    /// (µs since the epoch) when it was, with an `error` and a JSON `detail` (none when null).
    pub fn record(
        &self,
        kind: &str,
        target: &str,
        outcome: &str,
        error: Option<String>,
        detail: serde_json::Value,
        planned: Option<i64>,
    ) {
        tracing::info!(kind, target, outcome, error = ?error, %detail, "Run event.");
        self.push(TimelineEvent {
            task: self.info.task.clone(),
            node: self.info.node.clone(),
            time: now_us(),
            planned,
            kind: kind.into(),
            target: target.into(),
            outcome: outcome.into(),
            error,
            detail: (!detail.is_null()).then(|| detail.to_string()),
        });
    }

    /// Writes the final report (its snapshot) after the last events, then waits for the shipper.
    pub fn finish(mut self, error: Option<String>) -> Drained {
        crate::final_report(&self.shipper, &self.keys, &self.info, error);
        self.shipper.close();
        crate::drained(self.flusher.take())
    }
}
