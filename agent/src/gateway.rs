//! A gateway's recorder: `wotemu gateway --record` ships what it applied like an agent ships what its node
//! did — its windows (the `network` table) and its changes of conditions (`timeline` events of kind
//! `conditions`) through a [`Shipper`] (seq-numbered entries, the spool while Redis is down, `produced`
//! counts) — registers its task, keeps `wotemu:<stack>:net` current for `wotemu net show`, and takes live
//! changes from `wotemu:<stack>:net:<network>:set` (`wotemu net set`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wotemu_contract::keys::StackKeys;
use wotemu_contract::task::TaskInfo;
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_gateway::account::{self, Source};
use wotemu_gateway::userspace::Report;
use wotemu_gateway::{Change, Hooks, Spec};
use wotemu_topology::model::Conditions;

use crate::shipper::{Drained, Shipper, ShipperConfig};
use crate::Error;

/// Where a gateway's records go.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub redis_url: String,
    pub stack: String,
    pub task: String,
    pub network: String,
    pub spool_dir: PathBuf,
    pub backend: wotemu_gateway::Backend,
    pub reason: String,
    /// When the schedule counts from, if not now (a restarted gateway).
    pub schedule_from_us: Option<i64>,
}

/// Ships a gateway's windows and changes; implements the gateway's [`Hooks`].
pub struct Recorder {
    src: Source,
    keys: StackKeys,
    shipper: Arc<Shipper>,
    flusher: Option<JoinHandle<Drained>>,
    prev: Report,
    last_tick_us: i64,
    start_us: i64,
    info: TaskInfo,
    live: Arc<Mutex<VecDeque<Conditions>>>,
    stop_live: Arc<AtomicBool>,
    live_thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Registers the gateway's task and starts shipping; the schedule's times count from now.
    pub fn start(cfg: RecorderConfig) -> Result<Recorder, Error> {
        redis::Client::open(cfg.redis_url.as_str()).map_err(|e| Error::RedisUrl {
            url: wotemu_contract::redact::redact_url(&cfg.redis_url),
            message: e.to_string(),
        })?;
        let (shipper, flusher) = crate::start_shipping(
            ShipperConfig {
                redis_url: cfg.redis_url.clone(),
                stack: cfg.stack.clone(),
                task: cfg.task.clone(),
                flush_every: Duration::from_secs(1),
                batch_rows: 4096,
                max_buffered_rows: 100_000,
                drain_timeout: Duration::from_secs(10),
            },
            &cfg.spool_dir,
            64 << 20,
        )?;
        let keys = StackKeys::new(&cfg.stack);
        let start_us = now_us();
        let schedule_us = cfg.schedule_from_us.unwrap_or(start_us);
        let info = TaskInfo {
            networks: vec![cfg.network.clone()],
            ip_addresses: crate::facts::ip_addresses()
                .into_iter()
                .map(|(_, a)| a)
                .collect(),
            extra: [(
                "gateway".to_owned(),
                serde_json::json!({"backend": cfg.backend, "reason": cfg.reason}),
            )]
            .into(),
            ..crate::recorder_info(&cfg.stack, &cfg.task, start_us)
        };
        let node = info.node.clone();
        shipper.hset(
            keys.tasks(),
            cfg.task.clone(),
            serde_json::to_string(&info).expect("task info serializes"),
        );
        let live = Arc::new(Mutex::new(VecDeque::new()));
        let stop_live = Arc::new(AtomicBool::new(false));
        let live_thread = {
            let (url, key) = (cfg.redis_url.clone(), keys.net_set(&cfg.network));
            let (live, stop) = (Arc::clone(&live), Arc::clone(&stop_live));
            std::thread::Builder::new()
                .name("live-changes".into())
                .spawn(move || live_changes(&url, &key, &live, &stop))
                .map_err(|source| Error::Thread {
                    what: "live changes",
                    source,
                })?
        };
        Ok(Recorder {
            src: Source {
                task: cfg.task,
                node,
                network: cfg.network,
                backend: cfg.backend,
                reason: cfg.reason,
            },
            keys,
            shipper,
            flusher: Some(flusher),
            prev: Report::default(),
            last_tick_us: start_us,
            start_us: schedule_us,
            info,
            live,
            stop_live,
            live_thread: Some(live_thread),
        })
    }

    /// Ships the last window and the gateway's final report (its snapshot), then waits for the shipper.
    pub fn finish(mut self, last: &Report, error: Option<String>) -> Drained {
        self.tick(last);
        self.stop_live.store(true, Ordering::SeqCst);
        crate::events::final_report(&self.shipper, &self.keys, &self.info, error);
        self.shipper.close();
        if let Some(t) = self.live_thread.take() {
            if t.join().is_err() {
                tracing::error!("The thread taking live changes panicked.");
            }
        }
        crate::events::drained(self.flusher.take())
    }
}

impl Hooks for Recorder {
    fn tick(&mut self, r: &Report) {
        let now = now_us();
        let window_s = (now - self.last_tick_us).max(0) as f64 / 1e6;
        let mut rows = account::window_rows(&self.src, &self.prev, r, now, window_s);
        let state = serde_json::json!({
            "network": self.src.network,
            "task": self.src.task,
            "backend": rows.first().map(|x| x.backend.clone()),
            "reason": self.src.reason,
            "conditions": account::conditions_json(&r.conditions),
            "updated_at": us_to_rfc3339(now),
            "window": rows,
        });
        self.shipper.push_many(&mut rows);
        self.shipper
            .hset(self.keys.net(), self.src.network.clone(), state.to_string());
        self.prev = r.clone();
        self.last_tick_us = now;
    }

    fn changed(&mut self, source: Change, old: &Conditions, new: &Conditions) {
        let planned = match source {
            // A trace's rows are in the `network` table's configured columns, window by window; an event
            // per row would bury the schedule's and people's changes.
            Change::Trace(_) => return,
            Change::Schedule(ms) => Some(self.start_us + (ms * 1000.0) as i64),
            Change::Live => None,
        };
        self.shipper.push(account::change_event(
            &self.src,
            now_us(),
            planned,
            old,
            new,
        ));
    }

    fn live(&mut self) -> Option<Conditions> {
        self.live.lock().expect("live changes lock").pop_front()
    }
}

/// Takes live changes from Redis (`BLPOP`, a second at a time) until `stop`; a change that is not valid
/// conditions JSON is logged and skipped (`wotemu net set` checks them before it sends them).
fn live_changes(url: &str, key: &str, live: &Mutex<VecDeque<Conditions>>, stop: &AtomicBool) {
    let mut conn: Option<redis::Connection> = None;
    while !stop.load(Ordering::SeqCst) {
        let Some(c) = conn.as_mut() else {
            match redis::Client::open(url)
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            {
                Ok(c) => conn = Some(c),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
            continue;
        };
        let got: redis::RedisResult<Option<(String, String)>> =
            redis::cmd("BLPOP").arg(key).arg(1).query(c);
        match got {
            Ok(Some((_, json))) => match Spec::from_json(&json) {
                Ok(spec) => live.lock().expect("live changes lock").push_back(spec.base),
                Err(e) => {
                    tracing::warn!(error = %e, "A live change of conditions is not valid; skipped.")
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "Live changes: Redis did not answer; reconnecting.");
                conn = None;
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}
