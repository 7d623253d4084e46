//! The wotemu node agent.
//!
//! `wotemu agent` runs in every emulated node (a container or a network namespace). It registers the task,
//! hosts the node's WoTPy app in embedded Python ([`python`]), records every interaction and subscription
//! event, samples the task's cgroup ([`system`]), counts packets ([`packets`]), and ships everything to the
//! task's Redis stream in batches through the producer library ([`wotemu_ship`]), which spools to disk while
//! Redis is unreachable.
//! On SIGTERM or SIGINT it stops the app, ships what is left and marks the task stopped.
//!
//! This crate must never drop a record without counting it (full buffers and a full spool are reported in
//! the next entry's `dropped`), reuse a batch sequence number, or let a secret of the environment reach
//! Redis ([`wotemu_contract::redact`]).

pub mod config;
mod cpu;
mod error;
pub mod packets;
pub mod python;
pub mod stack;
pub mod system;
pub mod zygote;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wotemu_contract::keys::StackKeys;
use wotemu_contract::redact::redact_env;
use wotemu_contract::table::{Packet, SystemSample, Table};
use wotemu_contract::task::{TaskInfo, TaskSnapshot};
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_sys::facts;

pub use config::{AgentConfig, Ports};
/// An agent runs in every emulated replica (forked from the zygote in one-host runs): mimalloc's arenas are
/// committed as they are used there, not at once (`MIMALLOC_ARENA_EAGER_COMMIT=0`: ~10 MB less resident per
/// agent, measured with `--bench run`). mimalloc reads its options before `main`, so a binary whose command
/// line runs an agent (`agent` or `zygote` among its first four arguments) executes itself again once, with
/// the option set (a value the user set is kept). Returns (doing nothing) for any other command line, or when
/// executing again failed: the agent then runs with what it has.
pub fn lean_allocator_for_agents() {
    let agent = std::env::args_os()
        .skip(1)
        .take(4)
        .any(|a| a == "agent" || a == "zygote");
    if agent {
        let err = wotemu_sys::process::reexec_with("MIMALLOC_ARENA_EAGER_COMMIT", "0");
        tracing::debug!(error = ?err, "The agent runs without re-executing for lean allocator options.");
    }
}

pub use error::Error;

use crate::python::RecorderState;
use wotemu_ship::{Shipper, ShipperConfig};

/// How a run of the agent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The task's final state: `shutdown` (stopped by a signal) or `failed`.
    pub state: String,
    /// The app's error (`Type: message`), when it failed.
    pub error: Option<String>,
    /// The Python traceback, when it failed.
    pub traceback: Option<String>,
    /// Whether the app could not be loaded at all.
    pub load_error: bool,
    /// Records shipped to Redis.
    pub shipped_records: u64,
    /// Records dropped (and reported as such).
    pub dropped_records: u64,
    /// Entries left in the spool because Redis never came back before the drain timeout.
    pub left_in_spool: u64,
    pub spool_path: std::path::PathBuf,
}

impl Outcome {
    /// What the person running the agent should know of how it ended (batches left in the spool, records
    /// dropped).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.left_in_spool > 0 {
            out.push(format!(
                "Redis was unreachable until the end: {} batches wait in {}; they are shipped when an agent of this task runs again with the same spool",
                self.left_in_spool,
                self.spool_path.display()
            ));
        }
        if self.dropped_records > 0 {
            out.push(format!(
                "{} records were dropped (full buffers or spool); the dataset reports them per task",
                self.dropped_records
            ));
        }
        out
    }

    /// Why the app of `task` failed, when it did.
    pub fn failure(&self, task: &str) -> Option<String> {
        match (&self.state[..], &self.error) {
            ("failed", Some(e)) if self.load_error => {
                Some(format!("the app of task {task} cannot be loaded: {e}"))
            }
            ("failed", Some(e)) => Some(format!(
                "the app of task {task} failed: {e}\n{}",
                self.traceback.clone().unwrap_or_default()
            )),
            _ => None,
        }
    }
}

/// A stop signal threads can wait on.
#[derive(Default)]
struct Stop {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    /// Waits up to `d`; true when stopping.
    fn wait(&self, d: Duration) -> bool {
        let g = self.flag.lock().expect("stop lock");
        let (g, _) = self
            .cv
            .wait_timeout_while(g, d, |s| !*s)
            .expect("stop lock");
        *g
    }

    fn is_set(&self) -> bool {
        *self.flag.lock().expect("stop lock")
    }

    fn set(&self) {
        *self.flag.lock().expect("stop lock") = true;
        self.cv.notify_all();
    }
}

/// Starts a thread of the agent inside the caller's span (the task's), so its logs name the task.
fn spawn<F: FnOnce() + Send + 'static>(name: &'static str, f: F) -> Result<JoinHandle<()>, Error> {
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(format!("wotemu-{name}"))
        .spawn(move || span.in_scope(f))
        .map_err(|source| Error::Thread { what: name, source })
}

/// The task's facts for the registry (completed by the stack's view of the task in Swarm).
pub fn task_info(
    cfg: &AgentConfig,
    python_version: Option<String>,
    view: Option<&stack::TaskView>,
) -> TaskInfo {
    let addrs = facts::ip_addresses();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut extra = BTreeMap::new();
    // How its Python started: forked from the one-host runner's zygote, or on its own.
    extra.insert(
        "python_start".to_owned(),
        serde_json::json!(if zygote::forked() { "zygote" } else { "own" }),
    );
    let mut networks = cfg.networks.clone();
    let mut container_id = facts::container_id();
    if let Some(v) = view {
        if networks.is_empty() {
            networks = v.networks.iter().map(|a| a.network.clone()).collect();
        }
        container_id = container_id.or_else(|| v.container_id.clone());
        let cidrs: BTreeMap<&str, &str> = v
            .networks
            .iter()
            .filter_map(|a| Some((a.network.as_str(), a.subnet.as_deref()?)))
            .collect();
        extra.insert("networks_cidr".to_owned(), serde_json::json!(cidrs));
        for (k, val) in [("node_id", &v.node_id), ("service_id", &v.service_id)] {
            if let Some(x) = val {
                extra.insert(k.to_owned(), serde_json::json!(x));
            }
        }
    }
    TaskInfo {
        task: cfg.task.clone(),
        node: cfg.node.clone(),
        service: cfg.service.clone(),
        slot: cfg.slot,
        hostname: facts::hostname(),
        container_id,
        networks,
        ip_addresses: addrs.into_iter().map(|(_, a)| a).collect(),
        cpu_model: facts::cpu_model(),
        cpu_count: facts::cpu_count(),
        mem_total_bytes: facts::mem_total_bytes(),
        started_at: Some(us_to_rfc3339(now_us())),
        python_version,
        platform: facts::platform(),
        env: redact_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        cpu_speed: None,
        extra,
    }
}

/// The stack's view of this task, when the agent runs in a Swarm stack (`DOCKER_PROXY_URL` set and a task
/// name with an id); a warning when the proxy does not answer in time.
fn stack_view(cfg: &AgentConfig) -> (Option<stack::TaskView>, Option<String>) {
    let (Some(url), Some(id)) = (
        cfg.docker_proxy_url.as_deref(),
        wotemu_contract::task::TaskName::parse(&cfg.task).id,
    ) else {
        return (None, None);
    };
    match stack::task_view(url, id, Duration::from_secs(15)) {
        Ok(v) => (Some(v), None),
        Err(e) => (
            None,
            Some(format!(
                "the stack's Docker API proxy did not answer ({e}); networks are named by interface"
            )),
        ),
    }
}

/// Runs the agent until SIGTERM/SIGINT or until the app fails.
pub fn run(cfg: AgentConfig) -> Result<Outcome, Error> {
    let _span = tracing::info_span!("task", task = %cfg.task).entered();
    cfg.producer().check()?;
    let sigset = wotemu_sys::signals::block_stop_signals();
    let keys = StackKeys::new(&cfg.stack);
    let (shipper, flusher) = wotemu_ship::start_shipping(
        ShipperConfig {
            redis_url: cfg.redis_url.clone(),
            stack: cfg.stack.clone(),
            task: cfg.task.clone(),
            flush_every: cfg.flush_every,
            batch_rows: cfg.batch_rows,
            max_buffered_rows: cfg.max_buffered_rows,
            drain_timeout: cfg.drain_timeout,
        },
        &cfg.spool_dir,
        cfg.spool_max_bytes,
    )?;
    // The CPU limit is in place (and measured) before the app starts.
    let cpu_speed = cpu::apply(&cfg)?;
    let (view, view_warning) = stack_view(&cfg);
    let mut info = task_info(&cfg, python::python_version(), view.as_ref());
    info.cpu_speed = cpu_speed;
    wotemu_ship::register(&shipper, &keys, &info);
    let state = RecorderState::new(Arc::clone(&shipper), &cfg.task, &cfg.node);
    state.log(
        "wotemu",
        &format!(
            "wotemu agent {} starting app {}",
            env!("CARGO_PKG_VERSION"),
            cfg.app
        ),
    );

    if let Some(w) = &view_warning {
        tracing::warn!("{w}");
        state.log("wotemu", w);
    }

    let stop = Arc::new(Stop::default());
    let mut threads = Vec::new();
    {
        let (stop, shipper, cfg) = (Arc::clone(&stop), Arc::clone(&shipper), cfg.clone());
        threads.push(spawn("sampler", move || {
            sample_loop(&cfg, &shipper, &stop)
        })?);
    }
    if cfg.capture {
        match packets::Capture::open(&cfg.capture_ifaces, capture_poll(&cfg)) {
            Ok(mut cap) => {
                if let Some(v) = &view {
                    cap.name_interfaces(&v.iface_networks(&facts::ip_addresses()));
                }
                let (stop, shipper, cfg) = (Arc::clone(&stop), Arc::clone(&shipper), cfg.clone());
                threads.push(spawn("capture", move || {
                    capture_loop(cap, &cfg, &shipper, &stop)
                })?);
            }
            Err(e) => {
                let msg = format!("packets are not counted: cannot open an AF_PACKET socket ({e}); the agent needs CAP_NET_RAW");
                tracing::warn!("{msg}");
                state.log("wotemu", &msg);
            }
        }
    }
    {
        let state = Arc::clone(&state);
        // Detached: it waits for a signal for the rest of the process.
        spawn("signals", move || loop {
            let sig = sigset.wait();
            tracing::info!(signal = sig, "Stopping the app.");
            state.request_stop();
        })?;
    }

    let result = python::run_app(&cfg, Arc::clone(&state));
    stop.set();
    for t in threads {
        if t.join().is_err() {
            tracing::error!(
                "A thread of the agent panicked; what it held is counted as lost by the collector."
            );
        }
    }
    let (snapshot_state, error, traceback, load_error) = match &result {
        Ok(()) => ("shutdown".to_owned(), None, None, false),
        Err(f) => {
            for line in f.traceback.lines() {
                state.log("stderr", line);
            }
            state.log("wotemu", &format!("the app failed: {}", f.summary));
            (
                "failed".to_owned(),
                Some(f.summary.clone()),
                Some(f.traceback.clone()),
                f.load_error,
            )
        }
    };
    let snapshot = TaskSnapshot {
        state: snapshot_state.clone(),
        exit_error: error.clone(),
        started_at: info.started_at.clone(),
        stopped_at: Some(us_to_rfc3339(now_us())),
        container_id: info.container_id.clone(),
        restarts: None,
        logs: None,
        host: None,
        extra: Default::default(),
    };
    shipper.hset(
        keys.snapshot(),
        cfg.task.clone(),
        serde_json::to_string(&snapshot).expect("snapshot serializes"),
    );
    shipper.close();
    let drained = flusher.join().unwrap_or_else(|_| wotemu_ship::Drained {
        left_in_spool: u64::MAX,
        spool_path: cfg.spool_dir.clone(),
    });
    Ok(Outcome {
        state: snapshot_state,
        error,
        traceback,
        load_error,
        shipped_records: shipper.stats.shipped_records.load(Ordering::Relaxed),
        dropped_records: shipper.stats.dropped_records.load(Ordering::Relaxed),
        left_in_spool: drained.left_in_spool,
        spool_path: drained.spool_path,
    })
}

fn sample_loop(cfg: &AgentConfig, shipper: &Shipper, stop: &Stop) {
    let mut sampler = system::Sampler::new(system::Cgroup::of_self());
    let mut sample = || {
        let (cpu, r) = sampler.sample();
        shipper.push(SystemSample {
            task: cfg.task.clone(),
            node: cfg.node.clone(),
            time: now_us(),
            cpu_percent: cpu,
            cpu_limit_percent: r.cpu_limit_percent,
            mem_bytes: r.mem_bytes,
            mem_limit_bytes: r.mem_limit_bytes,
            cpu_throttled_us: r.cpu_throttled_us,
            oom_kills: r.oom_kills,
        });
    };
    let mut next = Instant::now();
    loop {
        sample();
        next += cfg.sample_every;
        let wait = next.saturating_duration_since(Instant::now());
        if stop.is_set() || stop.wait(wait) {
            // One last sample at the end, so the run's last second is covered.
            sample();
            return;
        }
    }
}

/// How long the capture waits for a packet, and hands what it counted to the shipper: a fifth of the
/// shipper's period, from 200 ms (shipping every second) to a second (every 5 s, at a thousand replicas),
/// as an idle agent wakes for it 1 to 5 times a second.
fn capture_poll(cfg: &AgentConfig) -> Duration {
    (cfg.flush_every / 5).clamp(packets::POLL, Duration::from_secs(1))
}

fn capture_loop(mut cap: packets::Capture, cfg: &AgentConfig, shipper: &Shipper, stop: &Stop) {
    let poll = capture_poll(cfg);
    let mut last_flush = Instant::now();
    let mut pending: Vec<Packet> = Vec::with_capacity(1024);
    // Addresses and names repeat: format each once.
    let mut ips: std::collections::HashMap<std::net::IpAddr, String> =
        std::collections::HashMap::new();
    while !stop.is_set() {
        let now = now_us();
        let read = cap.recv_batch(|seen| {
            let mut text = |ip: std::net::IpAddr| {
                if ips.len() > 65_536 {
                    ips.clear();
                }
                ips.entry(ip).or_insert_with(|| ip.to_string()).clone()
            };
            pending.push(Packet {
                task: cfg.task.clone(),
                node: cfg.node.clone(),
                iface: seen.iface,
                time: now,
                len: seen.len,
                src: text(seen.parsed.src),
                dst: text(seen.parsed.dst),
                transport: seen.parsed.transport.to_owned(),
                srcport: seen.parsed.srcport,
                dstport: seen.parsed.dstport,
                proto: packets::proto_of(&seen.parsed, &cfg.ports),
                layer: None,
            });
        });
        if let Err(e) = read {
            tracing::warn!(error = %e, "packet capture stopped");
            break;
        }
        if pending.len() >= 1024 || last_flush.elapsed() >= poll {
            shipper.push_many(&mut pending);
            shipper.count_dropped(Table::Packets, cap.kernel_drops());
            last_flush = Instant::now();
        }
    }
    shipper.push_many(&mut pending);
    shipper.count_dropped(Table::Packets, cap.kernel_drops());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capture_polls_a_fifth_of_the_shippers_period_from_200_ms_to_a_second() {
        let mut cfg = AgentConfig::from_env(&Default::default(), "clock");
        for (flush_ms, poll_ms) in [
            (100, 200),
            (1000, 200),
            (3000, 600),
            (5000, 1000),
            (60_000, 1000),
        ] {
            cfg.flush_every = Duration::from_millis(flush_ms);
            assert_eq!(
                capture_poll(&cfg),
                Duration::from_millis(poll_ms),
                "{flush_ms} ms"
            );
        }
    }
}
