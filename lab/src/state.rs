//! The state file of a run, `/run/wotemu/<run>/state.json`: who runs it, where its dataset goes and how far
//! it got. `wotemu ps`, `wotemu stop --run` and `wotemu clean` read it; what to remove after a crash is in
//! the run's clean-up record ([`wotemu_sys::cleanup`]), not here.
//!
//! Written with [`wotemu_sys::fs::replace`] (a crash leaves the old or the new file, never half of one).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Building the lab.
    #[default]
    Starting,
    /// Every replica was started.
    Running,
    /// Stopping the replicas and gateways.
    Stopping,
    /// Collecting the dataset and writing the report.
    Collecting,
    /// The collection failed; the run's data is kept for `wotemu clean` to salvage.
    Salvage,
}

/// What a run is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    pub run_id: String,
    pub stack: String,
    /// The `wotemu run` process.
    pub pid: u32,
    /// Its start time (clock ticks after boot), to tell it from a later process with the same pid.
    pub pid_start: u64,
    /// Where the dataset goes.
    pub run_dir: PathBuf,
    pub phase: Phase,
    /// Replicas (and brokers) and networks of the run.
    pub replicas: usize,
    pub networks: usize,
    /// The run's own Redis: its URL and the folder of its data.
    pub redis_url: Option<String>,
    pub redis_dir: Option<PathBuf>,
    /// The agents' spools.
    pub spool_dir: Option<PathBuf>,
    /// The last time the runner said it was alive (RFC 3339), every few seconds while the run goes on: a
    /// crashed run stopped being recorded about then.
    pub heartbeat_at: Option<String>,
}

impl RunState {
    /// The folder of run `run_id` under `root`.
    pub fn dir_of(root: &Path, run_id: &str) -> PathBuf {
        root.join(run_id)
    }

    /// This run's state folder under the default root.
    pub fn dir(&self) -> PathBuf {
        Self::dir_of(&wotemu_sys::state_root(), &self.run_id)
    }

    /// Writes the state file.
    pub fn save(&self) -> Result<(), Error> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        let bytes = serde_json::to_vec_pretty(self).expect("the state serialises");
        wotemu_sys::fs::replace(&dir.join("state.json"), &bytes).map_err(|source| Error::Io {
            what: format!("writing {}/state.json", dir.display()),
            source,
        })
    }

    /// Whether the `wotemu run` process of this state still runs.
    pub fn alive(&self) -> bool {
        wotemu_sys::process::is(self.pid, self.pid_start)
    }

    /// The lab namespace of the run (`wtm-<run>`).
    pub fn lab_ns(&self) -> String {
        format!("wtm-{}", self.run_id)
    }
}

/// Every run with a state file: (state, whether its process is alive).
pub fn runs() -> Vec<(RunState, bool)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(wotemu_sys::state_root()) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path().join("state.json");
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        match serde_json::from_slice::<RunState>(&bytes) {
            Ok(s) => {
                let alive = s.alive();
                out.push((s, alive));
            }
            Err(e) => tracing::warn!(file = %p.display(), error = %e, "Unreadable run state."),
        }
    }
    out.sort_by(|a, b| a.0.run_id.cmp(&b.0.run_id));
    out
}

/// `wotemu ps`: every run of this host as a JSON array (`run_id`, `stack`, `pid`, `running`, `phase`,
/// `run_dir`, `replicas`, `networks`).
pub fn list_json(runs: &[(RunState, bool)]) -> serde_json::Value {
    runs.iter()
        .map(|(s, alive)| {
            serde_json::json!({"run_id": s.run_id, "stack": s.stack, "pid": s.pid, "running": alive,
                "phase": s.phase, "run_dir": s.run_dir, "replicas": s.replicas, "networks": s.networks})
        })
        .collect()
}

/// `wotemu ps` for people: a line per run (a run whose process is gone says `wotemu clean` saves it).
pub fn describe(runs: &[(RunState, bool)]) -> String {
    if runs.is_empty() {
        return "No runs.".into();
    }
    runs.iter()
        .map(|(s, alive)| {
            format!(
                "{}  {:<20} {:<10} pid {:<8} {} replicas  {}",
                s.run_id,
                s.stack,
                if *alive {
                    format!("{:?}", s.phase).to_lowercase()
                } else {
                    "LEFT (wotemu clean)".to_owned()
                },
                s.pid,
                s.replicas,
                s.run_dir.display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A run id not used by any run or namespace on this host (4 hex digits).
pub fn new_run_id() -> String {
    let mut seed = wotemu_sys::monotonic_ns() ^ (u64::from(std::process::id()) * 2_654_435_761);
    loop {
        let id = format!("{:04x}", seed & 0xffff);
        if !wotemu_sys::state_root().join(&id).exists()
            && !wotemu_sys::netns::exists(&format!("wtm-{id}"))
        {
            return id;
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) >> 7;
    }
}

/// Namespaces named like a run's (`wtm-XXXX`, `wtm-XXXX-*`, `wtm-fXXXX…`) that no known run or record owns.
/// Only with the default state root: the runs of another root (a test's own, `WOTEMU_STATE_DIR`) cannot
/// see each other's, so none of their namespaces is an orphan to them.
pub fn orphan_namespaces(known: &[String]) -> Vec<String> {
    if wotemu_sys::state_root() != Path::new(wotemu_sys::DEFAULT_STATE_ROOT) {
        return Vec::new();
    }
    let Ok(rd) = std::fs::read_dir(wotemu_sys::netns::NETNS_DIR) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("wtm-")
                && !known
                    .iter()
                    .any(|k| n == k || n.starts_with(&format!("{k}-")))
        })
        .collect()
}
