//! The collector's checkpoint: what has been durably consumed.
//!
//! # Format
//! `<run>/.wotemu-collect/checkpoint.json`, JSON, written with [`crate::fsutil::write_atomic`] (temporary file,
//! fsync, rename, fsync of the folder). It holds the stack name, the last consumed entry id of every stream, the
//! committed parts, the sequence numbers seen per task, the accounting and the problems found so far.
//!
//! # Invariants
//! 1. Every entry with an id at or below a stream's position has its records in a listed part (or was a
//!    duplicate or rejected, and counted as such); no entry above it has.
//! 2. A part is listed only after it is durable under its final name; the checkpoint naming it is written
//!    after; Redis is trimmed up to a position only after the checkpoint holding that position is durable.
//! 3. Files in the parts folder that the checkpoint does not list are orphans of a crash and are deleted on
//!    start; entries above the positions are read again.
//!
//! So a collector killed at any moment and started again reads every entry exactly once into the dataset.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use wotemu_contract::manifest::{Problem, TaskAccounting};

use crate::error::Error;
use crate::fsutil;
use crate::seq::SeqTracker;
use crate::sink::PartMeta;

/// The version of the checkpoint format.
pub(crate) const CHECKPOINT_VERSION: u32 = 1;

/// The collector's durable state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub(crate) version: u32,
    pub(crate) stack: String,
    /// Stream key → id of the last entry consumed.
    pub(crate) streams: BTreeMap<String, String>,
    pub(crate) parts: Vec<PartMeta>,
    pub(crate) next_part: u64,
    pub(crate) seqs: BTreeMap<String, SeqTracker>,
    pub(crate) accounting: BTreeMap<String, TaskAccounting>,
    pub(crate) problems: Vec<Problem>,
    /// When the first collection attempt started (RFC 3339).
    pub(crate) started_at: Option<String>,
    /// Whether the logs kept in the stop snapshot (Swarm) are already in a listed part.
    #[serde(default)]
    pub(crate) snapshot_logs: bool,
    /// Task → table → the largest cumulative `produced` count seen in its entries.
    #[serde(default)]
    pub(crate) produced: BTreeMap<String, BTreeMap<String, u64>>,
    /// Whether the spools of the run (entries its agents never replayed) are already in a listed part.
    #[serde(default)]
    pub(crate) spools_read: bool,
}

impl Checkpoint {
    pub(crate) fn new(stack: &str) -> Self {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            stack: stack.to_owned(),
            started_at: Some(wotemu_contract::time_util::us_to_rfc3339(
                wotemu_contract::time_util::now_us(),
            )),
            ..Default::default()
        }
    }

    /// Loads the checkpoint of a work folder, if there is one.
    pub(crate) fn load(work: &Path) -> Result<Option<Checkpoint>, Error> {
        let path = work.join("checkpoint.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let bad = |reason: String| Error::Checkpoint {
            path: path.display().to_string(),
            work: work.display().to_string(),
            reason,
        };
        let c: Checkpoint = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if c.version != CHECKPOINT_VERSION {
            return Err(bad(format!(
                "version {} (this wotemu writes {CHECKPOINT_VERSION})",
                c.version
            )));
        }
        Ok(Some(c))
    }

    /// Writes the checkpoint durably.
    pub(crate) fn save(&self, work: &Path) -> Result<(), Error> {
        let path = work.join("checkpoint.json");
        let bytes = serde_json::to_vec(self).expect("checkpoint serializes");
        fsutil::write_atomic(&path, &bytes).map_err(|e| Error::io(&path, e))
    }
}
