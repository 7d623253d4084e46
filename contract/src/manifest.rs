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
    #[serde(default)]
    pub host: HostFacts,
    #[serde(default)]
    pub tables: BTreeMap<Table, TableInfo>,
    #[serde(default)]
    pub accounting: Accounting,
    /// Entries or records that could not be read, each with where it was.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
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

/// What the collector read, wrote, skipped and what the agents reported as lost, per task and in total.
///
/// The accounting rule: for every task, `records_read = records_written + records_duplicate`; entries that
/// could not be decoded are `entries_rejected` (with `records_rejected` when their count was readable);
/// `records_dropped_by_agent` are records the agent could not keep (spool full) and `seq_missing` batches
/// that never reached Redis.
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
        for (k, v) in &o.ignored_columns {
            *self.ignored_columns.entry(k.clone()).or_default() += v;
        }
    }

    /// Whether the accounting rule holds.
    pub fn balanced(&self) -> bool {
        self.records_read == self.records_written + self.records_duplicate
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
        if t.seq_missing > 0 {
            out.push(format!(
                "{} batches never reached Redis (gaps in sequence numbers)",
                t.seq_missing
            ));
        }
        if !t.balanced() {
            out.push(format!(
                "the accounting does not balance: {} records read, {} written, {} duplicates",
                t.records_read, t.records_written, t.records_duplicate
            ));
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
        m.accounting.totals.records_dropped_by_agent = 3;
        m.accounting.totals.seq_missing = 1;
        m.problems.push(Problem::default());
        m.accounting.totals.records_read = 2;
        let l = m.losses();
        assert_eq!(l.len(), 4, "{l:?}");
        assert!(l[1].contains("3 records"));
        assert!(l[3].contains("does not balance"));
    }

    #[test]
    fn accounting_adds_and_balances() {
        let mut a = TaskAccounting {
            records_read: 5,
            records_written: 4,
            records_duplicate: 1,
            ..Default::default()
        };
        assert!(a.balanced());
        let b = a.clone();
        a.add(&b);
        assert_eq!(a.records_read, 10);
        assert!(a.balanced());
    }
}
