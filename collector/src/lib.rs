//! The wotemu collector: turns what a stack left in Redis into a run dataset on disk.
//!
//! - [`collect()`]: drains the stack's streams (`wotemu:<stack>:stream:*`) into Parquet, crash-safely:
//!   killed at any moment and started again, the dataset has every record exactly once.
//! - [`legacy::import`]: reads a WoTemu 0.6 store (sorted sets) into the same dataset, never writing to it.
//! - [`dataset`]: reads a run dataset back (info, tables).
//!
//! Memory stays bounded whatever the data size: records are buffered up to a budget, spilled as sorted parts,
//! and merged into each table's Parquet file with one batch per part in memory (see [`sink`]).
//!
//! This crate must never lose a record without counting it (the accounting of `manifest.json` balances),
//! trim Redis before what it read is durable on disk, write to a 0.6 store, or leave a directory that looks
//! complete when it is not (`manifest.json` is written last).

pub mod checkpoint;
pub mod collect;
pub mod dataset;
mod error;
mod events;
mod failpoint;
mod finalize;
mod fsutil;
pub mod legacy;
mod resp;
mod scan;
mod seq;
pub mod sink;
mod source;
mod spools;

pub use collect::{collect, collect_quiet, CollectOptions, CollectSummary, WORK_DIR};
pub use error::Error;

/// Receives progress of long steps (the CLI shows a bar on a terminal).
pub trait Progress: Sync {
    /// A step starts; `total` units if known.
    fn start(&self, step: &str, total: Option<u64>);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The step is over.
    fn finish(&self);
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
