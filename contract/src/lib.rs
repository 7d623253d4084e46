//! The wotemu data contract.
//!
//! Every other crate of wotemu depends on this one and it depends on no other crate of ours. It defines:
//!
//! - [`apps`]: the builtin apps, one list for validation, compose, the Python shim and the agent;
//! - [`table`]: the tables of a run dataset, their Arrow schemas and the typed records that fill them;
//! - [`keys`]: the Redis key layout of a stack (`wotemu:<stack>:…`);
//! - [`entry`]: the wire format of a Redis stream entry (a batch of records of one table, Arrow IPC);
//! - [`task`]: the task registry and stop snapshot documents stored in Redis;
//! - [`manifest`]: `manifest.json`, the description of a run dataset;
//! - [`net`]: a recording gateway's state now (`wotemu net show` / `set`);
//! - [`redact`]: the rule that keeps secrets out of Redis, the dataset and the report;
//! - [`spool`]: the format of the agents' spools of entries waiting for Redis;
//! - [`zygote`]: the one-host runner's requests to the zygote that forks replicas' agents, and its answers.
//!
//! Readers of this contract are forward compatible: unknown manifest fields and unknown dataset columns are
//! kept, missing optional tables read as empty.
//!
//! This crate must never do I/O beyond encoding and decoding, depend on another crate of wotemu, or declare a
//! table's columns twice (each table is declared once, in [`table`], schema and record struct together).

pub mod apps;
pub mod entry;
pub mod keys;
pub mod manifest;
pub mod net;
pub mod ports;
pub mod redact;
pub mod spool;
pub mod table;
pub mod task;
pub mod time_util;
pub mod zygote;

pub use entry::{EntryError, StreamEntry};
pub use manifest::Manifest;
pub use table::Table;

/// The prefix of the Docker labels of a stack's services (`<LABEL>.node`, `.redis`, `.gw`, … as in WoTemu 0.6).
pub const LABEL: &str = "org.fundacionctic.wotemu";

/// The version of the run dataset layout written by this crate (`manifest.json` `schema_version`).
pub const DATASET_SCHEMA_VERSION: u32 = 1;

/// The version of the stream entry format (`v` field of every stream entry) written by this crate.
pub const ENTRY_FORMAT_VERSION: u32 = 1;
