//! Salvaging a run that did not end normally — its runner was killed, or its collection failed — so that what
//! it recorded becomes a dataset: its agents are asked to stop (each ships what it holds and writes its final
//! report), and its Redis is reached, or started again on the run's append-only file; then it is collected
//! (with the agents' and the runner's spools) into the run's directory, marked incomplete ([`collect`]), and
//! the run is removed ([`crate::clean`]).

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use wotemu_sys::cleanup::Item;

use crate::host;
use crate::state::{self, Phase, RunState};
use crate::Error;

/// A run being salvaged: where its data can be read from now.
pub struct Salvage {
    pub state: RunState,
    /// The Redis holding the run's records.
    pub redis_url: String,
    /// The agents' spools.
    pub spool_dir: Option<PathBuf>,
    /// Why the run is incomplete, in a sentence.
    pub reason: String,
    /// When the run stopped being recorded, if known (RFC 3339).
    pub at: Option<String>,
    /// A Redis started for the salvage (stopped by [`Salvage::finish`]).
    redis: Option<Child>,
    /// The lock that keeps a second salvage of the same run away while this one lasts.
    _lock: std::fs::File,
}

/// Runs that can be salvaged: their runner is gone, their Redis data is kept, and their run directory has
/// no dataset yet.
pub fn salvageable() -> Vec<RunState> {
    state::runs()
        .into_iter()
        .filter(|(s, alive)| {
            !alive
                && s.redis_dir.as_ref().is_some_and(|d| d.exists())
                && !s.run_dir.join("manifest.json").exists()
        })
        .map(|(s, _)| s)
        .collect()
}

/// Agents of the run still running (from its clean-up record): their pids.
fn agents_of(run_id: &str) -> Vec<u32> {
    let label = format!("run {run_id}");
    wotemu_sys::cleanup::list(&wotemu_sys::cleanup::dir())
        .into_iter()
        .filter(|r| r.header.label == label)
        .flat_map(|r| r.items)
        .filter_map(|i| match i {
            Item::Process { pid, start } if wotemu_sys::process::is(pid, start) => Some(pid),
            _ => None,
        })
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|arg| arg == b"agent"))
                .unwrap_or(false)
        })
        .collect()
}

/// Gets a crashed run's data ready to collect.
pub fn prepare(state: RunState) -> Result<Salvage, Error> {
    let _span = tracing::info_span!("salvage", run = %state.run_id).entered();
    // One salvage at a time per run (`wotemu clean` and a `wotemu run` starting may both try).
    let lock_path = state.dir().join("salvage.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::Io {
            what: format!("opening {}", lock_path.display()),
            source,
        })?;
    // SAFETY: flock(2) on a descriptor we own.
    if unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&lock),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    } != 0
    {
        return Err(Error::Busy(format!(
            "run {} is being saved by another process",
            state.run_id
        )));
    }
    // Agents still running ship what they hold and write their final report when asked to stop.
    let agents = agents_of(&state.run_id);
    for &pid in &agents {
        wotemu_sys::process::signal(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while agents.iter().any(|&p| wotemu_sys::process::alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (reason, at) = match state.phase {
        Phase::Salvage => (
            format!(
                "the collection of run {} failed; its records were kept and collected later",
                state.run_id
            ),
            None,
        ),
        _ => (
            format!(
                "the runner (pid {}) of run {} ended without writing its dataset (it was killed or crashed)",
                state.pid, state.run_id
            ),
            state.heartbeat_at.clone(),
        ),
    };
    let ping = |url: &str| {
        redis::Client::open(url)
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    };
    let own = state.redis_url.clone().filter(|u| ping(u));
    let (redis_url, redis) = match own {
        Some(u) => (u, None),
        None => {
            let dir = state.redis_dir.clone().ok_or_else(|| {
                Error::Plan(format!(
                    "run {} used a Redis of its own that is gone, and it kept no data",
                    state.run_id
                ))
            })?;
            let socket = state.dir().join("salvage.sock");
            let child = host::spawn_redis(&socket, &dir)?;
            let url = format!("unix://{}", socket.display());
            let deadline = Instant::now() + Duration::from_secs(30);
            while !ping(&url) {
                if Instant::now() > deadline {
                    return Err(Error::Timeout {
                        what: format!("Redis on the data of run {}", state.run_id),
                        secs: 30,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (url, Some(child))
        }
    };
    tracing::info!(agents = agents.len(), %redis_url, "Ready to salvage.");
    Ok(Salvage {
        spool_dir: state.spool_dir.clone(),
        state,
        redis_url,
        reason,
        at,
        redis,
        _lock: lock,
    })
}

/// Waits until another process's salvage of the run ends (it holds the run's lock); true when that salvage
/// wrote the run's dataset.
pub fn wait_for_other(state: &RunState) -> bool {
    let lock_path = state.dir().join("salvage.lock");
    if let Ok(lock) = std::fs::File::open(&lock_path) {
        // SAFETY: flock(2) on a descriptor we own; blocks until the other salvage releases the lock (it does
        // on exit, whatever the way).
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_SH) };
    }
    state.run_dir.join("manifest.json").exists()
}

/// Salvages a crashed run: gets its data ready ([`prepare`]) and collects it into its run directory, a
/// dataset marked incomplete with why and when.
pub fn collect(
    state: RunState,
    progress: &dyn wotemu_collector::Progress,
) -> Result<wotemu_collector::CollectSummary, Error> {
    let run_dir = state.run_dir.clone();
    let sv = prepare(state).map_err(|e| {
        e.context(format!(
            "getting the records of the crashed run ready for {}",
            run_dir.display()
        ))
    })?;
    let mut opts = wotemu_collector::CollectOptions::new(&sv.redis_url, &sv.state.stack, &run_dir);
    opts.spool_dir = sv.spool_dir.clone();
    opts.incomplete = Some(wotemu_contract::manifest::Incomplete {
        reason: sv.reason.clone(),
        at: sv.at.clone(),
    });
    let collected = wotemu_collector::collect(&opts, progress);
    sv.finish();
    collected.map_err(|e| Error::Collect {
        what: format!("collecting the crashed run into {}", run_dir.display()),
        source: e,
    })
}

impl Salvage {
    /// Stops the Redis started for the salvage.
    pub fn finish(mut self) {
        if let Some(mut c) = self.redis.take() {
            wotemu_sys::process::signal(c.id(), libc::SIGTERM);
            if let Err(e) = c.wait() {
                tracing::debug!(error = %e, "Salvage Redis already reaped.");
            }
        }
    }
}
