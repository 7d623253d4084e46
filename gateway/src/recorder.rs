//! A gateway's recorder: `wotemu gateway --record` ships what it applied like an agent ships what its node
//! did — its windows (the `network` table) and its changes of conditions (`timeline` events of kind
//! `conditions`) through the producer library ([`wotemu_ship`]: seq-numbered entries, the spool while Redis
//! is down, `produced` counts) — registers its task, keeps `wotemu:<stack>:net` current for `wotemu net show`
//! ([`GatewayState`]), and takes live changes from `wotemu:<stack>:net:<network>:set` (`wotemu net set`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wotemu_contract::keys::StackKeys;
use wotemu_contract::net::GatewayState;
use wotemu_contract::task::TaskInfo;
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_ship::{Drained, ProducerConfig, Shipper};
use wotemu_topology::model::Conditions;

use crate::account::{self, Source};
use crate::userspace::Report;
use crate::{Change, Hooks, Spec};

/// Where a gateway's records go.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Its task, Redis and spool (from the node's environment contract).
    pub producer: ProducerConfig,
    pub network: String,
    pub backend: crate::Backend,
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
    pub fn start(cfg: RecorderConfig) -> Result<Recorder, wotemu_ship::Error> {
        let p = &cfg.producer;
        p.check()?;
        let (shipper, flusher) = wotemu_ship::start_shipping(
            p.shipper(Duration::from_secs(1), 4096),
            &p.spool_dir,
            64 << 20,
        )?;
        let keys = StackKeys::new(&p.stack);
        let start_us = now_us();
        let schedule_us = cfg.schedule_from_us.unwrap_or(start_us);
        let info = TaskInfo {
            networks: vec![cfg.network.clone()],
            ip_addresses: wotemu_sys::facts::ip_addresses()
                .into_iter()
                .map(|(_, a)| a)
                .collect(),
            extra: [(
                "gateway".to_owned(),
                serde_json::json!({"backend": cfg.backend, "reason": cfg.reason}),
            )]
            .into(),
            ..wotemu_ship::recorder_info(&p.stack, &p.task, start_us)
        };
        let node = info.node.clone();
        wotemu_ship::register(&shipper, &keys, &info);
        let live = Arc::new(Mutex::new(VecDeque::new()));
        let stop_live = Arc::new(AtomicBool::new(false));
        let live_thread = {
            let (url, key) = (p.redis_url.clone(), keys.net_set(&cfg.network));
            let (live, stop) = (Arc::clone(&live), Arc::clone(&stop_live));
            std::thread::Builder::new()
                .name("live-changes".into())
                .spawn(move || live_changes(&url, &key, &live, &stop))
                .map_err(|source| wotemu_ship::Error::Thread {
                    what: "live changes",
                    source,
                })?
        };
        Ok(Recorder {
            src: Source {
                task: cfg.producer.task,
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
        wotemu_ship::final_report(&self.shipper, &self.keys, &self.info, error);
        self.shipper.close();
        if let Some(t) = self.live_thread.take() {
            if t.join().is_err() {
                tracing::error!("The thread taking live changes panicked.");
            }
        }
        wotemu_ship::drained(self.flusher.take())
    }
}

impl Hooks for Recorder {
    fn tick(&mut self, r: &Report) {
        let now = now_us();
        let window_s = (now - self.last_tick_us).max(0) as f64 / 1e6;
        let mut rows = account::window_rows(&self.src, &self.prev, r, now, window_s);
        let state = GatewayState::new(
            &self.src.network,
            &self.src.task,
            &self.src.reason,
            account::conditions_json(&r.conditions),
            us_to_rfc3339(now),
            rows.clone(),
        );
        self.shipper.push_many(&mut rows);
        self.shipper.hset(
            self.keys.net(),
            self.src.network.clone(),
            serde_json::to_string(&state).expect("a gateway's state serializes"),
        );
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
            Ok(Some((_, json))) => match Spec::live_conditions(&json) {
                Ok(c) => live.lock().expect("live changes lock").push_back(c),
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
