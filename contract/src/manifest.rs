//! `manifest.json`: the description of a run dataset.
//!
//! A run dataset is a directory holding `manifest.json` and one `<table>.parquet` per table. The manifest is
//! written last (atomically), so a directory with a manifest is a complete dataset. Unknown fields are kept
//! when a manifest is read and written again.
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "stack": "quickstart",
//!   "wotemu_version": "0.1.0",
//!   "started_at": "2026-11-24T10:00:00Z",
//!   "stopped_at": "2026-11-24T10:01:00Z",
//!   "collected_at": "2026-11-24T10:01:02Z",
//!   "source": { "kind": "redis-streams", "redis_url": "redis://127.0.0.1:6379" },
//!   "topology": "...", "compose": "...",
//!   "host": { "hostname": "lab", "os": "linux", "kernel": "6.1", "cpu_model": "…", "cpu_count": 2, "mem_total_bytes": 25000000000 },
//!   "tables": { "packets": { "file": "packets.parquet", "rows": 600000, "time_min": "…", "time_max": "…" } },
//!   "accounting": { "totals": { … }, "tasks": { "quickstart_reader.1.x": { … } } },
//!   "problems": [ { "stream": "wotemu:quickstart:stream:…", "id": "1700000000000-0", "error": "…" } ]
//! }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::table::Table;

/// The file name of the manifest inside a run directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The manifest of a run dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub stack: String,
    pub wotemu_version: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub collected_at: Option<String>,
    #[serde(default)]
    pub source: Source,
    /// The topology text that produced the run.
    #[serde(default)]
    pub topology: Option<String>,
    /// The compose text that produced the run (Swarm engine).
    #[serde(default)]
    pub compose: Option<String>,
    /// The seed of the gateways' random decisions (loss, jitter, duplication, corruption, reordering): each
    /// network's generator is derived from it and the network's name (`wotemu run --seed N` reproduces them).
    /// `None` for runs from before seeds and for 0.6 imports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default)]
    pub host: HostFacts,
    #[serde(default)]
    pub tables: BTreeMap<Table, TableInfo>,
    #[serde(default)]
    pub accounting: Accounting,
    /// Entries or records that could not be read, each with where it was.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// Set when the dataset holds what could be saved of a run that did not end normally (its runner
    /// crashed, its collection failed): why, and when the run stopped being recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Why a dataset is incomplete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Incomplete {
    /// What happened, in a sentence (`the runner was killed at 2026-11-29T10:00:12Z`).
    pub reason: String,
    /// When (UTC RFC 3339), if known.
    pub at: Option<String>,
}

/// Where the data came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Source {
    /// `redis-streams` (wotemu) or `legacy-0.6` (a WoTemu 0.6 store).
    pub kind: String,
    /// The Redis URL, password redacted.
    pub redis_url: Option<String>,
}

/// Facts about the machine that collected the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostFacts {
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_count: Option<u32>,
    pub mem_total_bytes: Option<u64>,
}

impl HostFacts {
    /// Reads the facts of this machine (Linux `/proc`; fields stay empty where it cannot tell).
    pub fn probe() -> HostFacts {
        let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
        let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned());
        let mem_total_bytes = read("/proc/meminfo").and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb * 1024)
        });
        HostFacts {
            hostname: read("/proc/sys/kernel/hostname"),
            os: Some(std::env::consts::OS.to_owned()),
            kernel: read("/proc/sys/kernel/osrelease"),
            cpu_model,
            cpu_count: std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u32),
            mem_total_bytes,
        }
    }
}

/// One table of the dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableInfo {
    pub file: String,
    pub rows: u64,
    pub time_min: Option<String>,
    pub time_max: Option<String>,
}

/// What the producers (agents, the runner) produced and what became of it, per task and in total.
///
/// Two equations hold for every task and in total:
/// - collection: `records_read = records_written + records_duplicate` (what the collector read);
/// - production: `records_produced = records_written + records_dropped_by_agent + records_rejected +
///   records_missing` — every record produced is in the dataset, or was counted as dropped by its producer
///   (full buffers or spool), or rejected by the collector (an entry it could not decode), or is missing
///   (a batch that never reached Redis: `seq_missing` says how many batches).
///
/// `records_produced` is known from entries' cumulative `produced` counts (agents of this version send them;
/// for older ones and 0.6 imports it is `records_written + records_dropped_by_agent + records_rejected`).
/// A producer that ended without its final report (`without_final_report`: killed) may have held records
/// in memory that no count includes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Accounting {
    pub totals: TaskAccounting,
    pub tasks: BTreeMap<String, TaskAccounting>,
}

/// Counters of one task (or the totals).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskAccounting {
    pub entries_read: u64,
    pub entries_duplicate: u64,
    pub entries_rejected: u64,
    pub records_read: u64,
    pub records_written: u64,
    pub records_duplicate: u64,
    pub records_rejected: u64,
    pub records_dropped_by_agent: u64,
    pub seq_missing: u64,
    /// Records the producer made, kept or dropped (from the entries' cumulative `produced` counts).
    pub records_produced: u64,
    /// Records produced that are neither in the dataset nor counted as dropped or rejected.
    pub records_missing: u64,
    /// Tasks (in totals: how many) whose producer ended without its final report (killed).
    pub without_final_report: u64,
    /// Columns sent by the agent that this version's schema does not have (name → times seen).
    pub ignored_columns: BTreeMap<String, u64>,
}

impl TaskAccounting {
    /// Adds another task's counters to these.
    pub fn add(&mut self, o: &TaskAccounting) {
        self.entries_read += o.entries_read;
        self.entries_duplicate += o.entries_duplicate;
        self.entries_rejected += o.entries_rejected;
        self.records_read += o.records_read;
        self.records_written += o.records_written;
        self.records_duplicate += o.records_duplicate;
        self.records_rejected += o.records_rejected;
        self.records_dropped_by_agent += o.records_dropped_by_agent;
        self.seq_missing += o.seq_missing;
        self.records_produced += o.records_produced;
        self.records_missing += o.records_missing;
        self.without_final_report += o.without_final_report;
        for (k, v) in &o.ignored_columns {
            *self.ignored_columns.entry(k.clone()).or_default() += v;
        }
    }

    /// Whether both equations hold.
    pub fn balanced(&self) -> bool {
        self.records_read == self.records_written + self.records_duplicate
            && self.records_produced
                == self.records_written
                    + self.records_dropped_by_agent
                    + self.records_rejected
                    + self.records_missing
    }
}

/// Something that could not be read, with its location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Problem {
    /// The Redis key (stream or 0.6 key).
    pub stream: String,
    /// The stream entry id or the sorted-set member's position.
    pub id: String,
    pub error: String,
}

/// Why a manifest cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a wotemu manifest: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path} has schema version {found}, newer than this wotemu reads ({supported}); upgrade wotemu")]
    TooNew {
        path: String,
        found: u32,
        supported: u32,
    },
}

impl Manifest {
    /// The engine that made the run, for people: `0.6 import`, `swarm` or `one host`.
    pub fn engine(&self) -> &'static str {
        if self.source.kind.contains("legacy") {
            "0.6 import"
        } else if self.compose.is_some() {
            "swarm"
        } else {
            "one host"
        }
    }

    /// Reads `manifest.json` from a run directory.
    pub fn read(run_dir: &Path) -> Result<Manifest, ManifestError> {
        let path = run_dir.join(MANIFEST_FILE);
        let p = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: p.clone(),
            source,
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|source| ManifestError::Json {
            path: p.clone(),
            source,
        })?;
        if m.schema_version > crate::DATASET_SCHEMA_VERSION {
            return Err(ManifestError::TooNew {
                path: p,
                found: m.schema_version,
                supported: crate::DATASET_SCHEMA_VERSION,
            });
        }
        Ok(m)
    }

    /// What was produced but is not in the dataset, one sentence each; empty when everything is.
    ///
    /// A dataset with losses is still usable; commands that write one exit with code 3 when this is not
    /// empty, so scripts can tell.
    pub fn losses(&self) -> Vec<String> {
        let t = &self.accounting.totals;
        let mut out = Vec::new();
        if !self.problems.is_empty() {
            out.push(format!(
                "{} entries could not be read and were left out ({} records); each is listed under `problems`",
                self.problems.len(),
                t.records_rejected
            ));
        }
        if t.records_dropped_by_agent > 0 {
            out.push(format!(
                "agents reported {} records they could not keep (buffers or spool full)",
                t.records_dropped_by_agent
            ));
        }
        if t.seq_missing > 0 || t.records_missing > 0 {
            let tasks: Vec<&str> = self
                .accounting
                .tasks
                .iter()
                .filter(|(_, a)| a.seq_missing > 0 || a.records_missing > 0)
                .map(|(t, _)| t.as_str())
                .collect();
            out.push(format!(
                "{} records in {} batches never reached Redis (gaps in sequence numbers), of tasks {}",
                t.records_missing,
                t.seq_missing,
                tasks.join(", ")
            ));
        }
        if t.without_final_report > 0 {
            let tasks: Vec<&str> = self
                .accounting
                .tasks
                .iter()
                .filter(|(_, a)| a.without_final_report > 0)
                .map(|(t, _)| t.as_str())
                .collect();
            out.push(format!(
                "{} tasks ended without their final report (killed): records they held in memory, at most one flush interval, are in no count: {}",
                t.without_final_report,
                tasks.join(", ")
            ));
        }
        if !t.balanced() {
            out.push(format!(
                "the accounting does not balance: {} records produced, {} read, {} written, {} duplicates, {} dropped by their producers, {} rejected, {} missing",
                t.records_produced,
                t.records_read,
                t.records_written,
                t.records_duplicate,
                t.records_dropped_by_agent,
                t.records_rejected,
                t.records_missing
            ));
        }
        if let Some(i) = &self.incomplete {
            out.push(format!("the dataset is incomplete: {}", i.reason));
        }
        out
    }

    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_kept() {
        let text = r#"{"schema_version":1,"stack":"s","wotemu_version":"9","started_at":null,
            "stopped_at":null,"collected_at":null,"fidelity":{"rtt":3},
            "tables":{"packets":{"file":"packets.parquet","rows":3}}}"#;
        let m: Manifest = serde_json::from_str(text).unwrap();
        assert_eq!(m.tables[&Table::Packets].rows, 3);
        let again: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(again["fidelity"]["rtt"], 3);
    }

    #[test]
    fn losses_name_every_kind_of_loss() {
        let mut m = Manifest::default();
        assert!(m.losses().is_empty());
        let t = &mut m.accounting.totals;
        t.records_dropped_by_agent = 3;
        t.seq_missing = 1;
        t.records_missing = 7;
        t.records_produced = 10;
        t.records_read = 2;
        m.problems.push(Problem::default());
        m.incomplete = Some(Incomplete {
            reason: "the runner was killed".into(),
            at: None,
        });
        let l = m.losses();
        assert_eq!(l.len(), 5, "{l:?}");
        assert!(l[1].contains("3 records"));
        assert!(l[2].contains("7 records in 1 batches"), "{}", l[2]);
        assert!(l[3].contains("does not balance"));
        assert!(l[4].contains("runner was killed"));
    }

    #[test]
    fn accounting_adds_and_balances() {
        let mut a = TaskAccounting {
            records_read: 5,
            records_written: 4,
            records_duplicate: 1,
            records_produced: 6,
            records_dropped_by_agent: 1,
            records_missing: 1,
            ..Default::default()
        };
        assert!(a.balanced());
        a.records_produced = 7;
        assert!(!a.balanced(), "a record of the producers' count is nowhere");
        a.records_produced = 6;
        let b = a.clone();
        a.add(&b);
        assert_eq!(a.records_read, 10);
        assert!(a.balanced());
    }
}
