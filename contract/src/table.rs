//! The tables of a run dataset.
//!
//! Each table is one Parquet file `<name>.parquet` in the run directory, sorted by `(task, time)` (the `tasks`
//! table by `task`), with `time` stored as `Timestamp(µs, UTC)`. The schemas below are the columns that must
//! exist; readers keep any further column they find. Nullable columns are null where the source cannot tell.
//!
//! The same schemas travel inside Redis stream entries (see [`crate::entry`]), so an agent builds a
//! [`RecordBatch`] with [`Records::to_batch`] and the collector writes it without per-record work.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// A table of the run dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// One row per packet seen on a task's interfaces.
    Packets,
    /// One row per WoT interaction (consumed or exposed).
    Interactions,
    /// One row per subscription event.
    Events,
    /// One row per CPU/memory sample of a task.
    System,
    /// One row per task (replica).
    Tasks,
    /// Lines of the tasks' output.
    Logs,
    /// App-defined metrics.
    App,
}

impl Table {
    /// Every table, in the order the dataset lists them.
    pub const ALL: [Table; 7] = [
        Table::Packets,
        Table::Interactions,
        Table::Events,
        Table::System,
        Table::Tasks,
        Table::Logs,
        Table::App,
    ];

    /// The table's name (also its file stem and its name in stream entries).
    pub fn name(self) -> &'static str {
        match self {
            Table::Packets => "packets",
            Table::Interactions => "interactions",
            Table::Events => "events",
            Table::System => "system",
            Table::Tasks => "tasks",
            Table::Logs => "logs",
            Table::App => "app",
        }
    }

    /// File name of the table inside a run directory.
    pub fn file_name(self) -> String {
        format!("{}.parquet", self.name())
    }

    /// The columns the table is sorted by.
    pub fn sort_key(self) -> &'static [&'static str] {
        match self {
            Table::Tasks => &["task"],
            _ => &["task", "time"],
        }
    }

    /// The Arrow schema of the table.
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<Vec<SchemaRef>> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| {
            Table::ALL
                .iter()
                .map(|t| Arc::new(t.build_schema()))
                .collect()
        });
        all[self as usize].clone()
    }

    fn build_schema(self) -> Schema {
        let mut fields = vec![utf8("task", false), utf8("node", false)];
        match self {
            Table::Packets => fields.extend([
                utf8("iface", false),
                time_field("time", false),
                Field::new("len", DataType::UInt32, false),
                utf8("src", false),
                utf8("dst", false),
                utf8("transport", false),
                Field::new("srcport", DataType::UInt16, true),
                Field::new("dstport", DataType::UInt16, true),
                utf8("proto", false),
            ]),
            Table::Interactions => fields.extend([
                time_field("time", false),
                utf8("thing", false),
                utf8("name", false),
                utf8("verb", false),
                utf8("side", false),
                Field::new("latency_ms", DataType::Float64, true),
                Field::new("ok", DataType::Boolean, false),
                utf8("error_type", true),
                utf8("error_message", true),
                utf8("host", true),
            ]),
            Table::Events => fields.extend([
                time_field("time", false),
                utf8("thing", false),
                utf8("name", false),
                utf8("subscription", false),
                utf8("kind", false),
                utf8("item", true),
            ]),
            Table::System => fields.extend([
                time_field("time", false),
                Field::new("cpu_percent", DataType::Float64, true),
                Field::new("cpu_limit_percent", DataType::Float64, true),
                Field::new("mem_bytes", DataType::UInt64, true),
                Field::new("mem_limit_bytes", DataType::UInt64, true),
                Field::new("cpu_throttled_us", DataType::UInt64, true),
                Field::new("oom_kills", DataType::UInt64, true),
            ]),
            Table::Tasks => fields.extend([
                utf8("service", false),
                Field::new("slot", DataType::UInt32, true),
                utf8("hostname", true),
                utf8("container_id", true),
                utf8("networks", true),
                utf8("ip_addresses", true),
                utf8("cpu_model", true),
                Field::new("cpu_count", DataType::UInt32, true),
                Field::new("mem_total_bytes", DataType::UInt64, true),
                time_field("started_at", true),
                time_field("stopped_at", true),
                utf8("state", false),
                utf8("exit_error", true),
                Field::new("restarts", DataType::UInt32, true),
                utf8("python_version", true),
                utf8("platform", true),
                utf8("env", true),
            ]),
            Table::Logs => fields.extend([
                time_field("time", false),
                utf8("stream", false),
                utf8("line", false),
            ]),
            Table::App => fields.extend([
                time_field("time", false),
                utf8("key", false),
                utf8("value", false),
            ]),
        }
        Schema::new(fields)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A table name that is not one of [`Table::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown table `{0}` (known tables: packets, interactions, events, system, tasks, logs, app)"
)]
pub struct UnknownTable(pub String);

impl FromStr for Table {
    type Err = UnknownTable;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Table::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownTable(s.to_owned()))
    }
}

/// The Arrow type of every `time` column: microseconds since the UNIX epoch, UTC.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn time_field(name: &str, nullable: bool) -> Field {
    Field::new(name, time_type(), nullable)
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// Typed records of one table, turned into an Arrow [`RecordBatch`] of that table's schema.
pub trait Records: Sized {
    /// The table these records belong to.
    const TABLE: Table;

    /// Builds a batch with the table's schema from the records.
    fn to_batch(rows: &[Self]) -> RecordBatch;
}

fn batch(table: Table, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(table.schema(), columns).expect("columns built to the table's schema")
}

fn strs<'a, T: 'a>(rows: &'a [T], f: impl Fn(&'a T) -> &'a str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
}

fn opt_strs<'a, T: 'a>(rows: &'a [T], f: impl Fn(&'a T) -> Option<&'a str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

fn times<T>(rows: &[T], f: impl Fn(&T) -> i64) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"))
}

fn opt_times<T>(rows: &[T], f: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(
        rows.iter()
            .map(f)
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

fn opt_f64<T>(rows: &[T], f: impl Fn(&T) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Float64Array>())
}

fn opt_u64<T>(rows: &[T], f: impl Fn(&T) -> Option<u64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<UInt64Array>())
}

fn opt_u32<T>(rows: &[T], f: impl Fn(&T) -> Option<u32>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<UInt32Array>())
}

/// A packet seen on an interface of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    pub task: String,
    pub node: String,
    pub iface: String,
    /// Microseconds since the UNIX epoch.
    pub time: i64,
    /// Length of the packet on the wire, in bytes.
    pub len: u32,
    pub src: String,
    pub dst: String,
    /// `tcp`, `udp`, `icmp` or `other`.
    pub transport: String,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
    /// Application protocol (`http`, `ws`, `coap`, `mqtt`) or the transport name when unknown.
    pub proto: String,
}

impl Records for Packet {
    const TABLE: Table = Table::Packets;

    fn to_batch(rows: &[Self]) -> RecordBatch {
        batch(
            Self::TABLE,
            vec![
                strs(rows, |r| &r.task),
                strs(rows, |r| &r.node),
                strs(rows, |r| &r.iface),
                times(rows, |r| r.time),
                Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.len))),
                strs(rows, |r| &r.src),
                strs(rows, |r| &r.dst),
                strs(rows, |r| &r.transport),
                Arc::new(rows.iter().map(|r| r.srcport).collect::<UInt16Array>()),
                Arc::new(rows.iter().map(|r| r.dstport).collect::<UInt16Array>()),
                strs(rows, |r| &r.proto),
            ],
        )
    }
}

/// One WoT interaction on a consumed or exposed thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub task: String,
    pub node: String,
    pub time: i64,
    pub thing: String,
    pub name: String,
    /// `readproperty`, `writeproperty`, `invokeaction`, `subscribeevent`, `observeproperty`, …
    pub verb: String,
    /// `consumed` or `exposed`.
    pub side: String,
    pub latency_ms: Option<f64>,
    pub ok: bool,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// The servient host of a consumed thing.
    pub host: Option<String>,
}

impl Records for Interaction {
    const TABLE: Table = Table::Interactions;

    fn to_batch(rows: &[Self]) -> RecordBatch {
        batch(
            Self::TABLE,
            vec![
                strs(rows, |r| &r.task),
                strs(rows, |r| &r.node),
                times(rows, |r| r.time),
                strs(rows, |r| &r.thing),
                strs(rows, |r| &r.name),
                strs(rows, |r| &r.verb),
                strs(rows, |r| &r.side),
                opt_f64(rows, |r| r.latency_ms),
                Arc::new(rows.iter().map(|r| Some(r.ok)).collect::<BooleanArray>()),
                opt_strs(rows, |r| r.error_type.as_deref()),
                opt_strs(rows, |r| r.error_message.as_deref()),
                opt_strs(rows, |r| r.host.as_deref()),
            ],
        )
    }
}

/// An event of a subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub task: String,
    pub node: String,
    pub time: i64,
    pub thing: String,
    pub name: String,
    pub subscription: String,
    /// `next`, `error`, `completed`, `subscribe` or `finally`.
    pub kind: String,
    /// The event's item as JSON text.
    pub item: Option<String>,
}

impl Records for Event {
    const TABLE: Table = Table::Events;

    fn to_batch(rows: &[Self]) -> RecordBatch {
        batch(
            Self::TABLE,
            vec![
                strs(rows, |r| &r.task),
                strs(rows, |r| &r.node),
                times(rows, |r| r.time),
                strs(rows, |r| &r.thing),
                strs(rows, |r| &r.name),
                strs(rows, |r| &r.subscription),
                strs(rows, |r| &r.kind),
                opt_strs(rows, |r| r.item.as_deref()),
            ],
        )
    }
}

/// A CPU and memory sample of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemSample {
    pub task: String,
    pub node: String,
    pub time: i64,
    /// CPU usage in percent of one core (200 = two cores busy).
    pub cpu_percent: Option<f64>,
    /// The CPU limit in percent of one core, if any.
    pub cpu_limit_percent: Option<f64>,
    pub mem_bytes: Option<u64>,
    pub mem_limit_bytes: Option<u64>,
    /// Cumulative time the task was throttled by its CPU limit.
    pub cpu_throttled_us: Option<u64>,
    /// Cumulative OOM kills in the task's cgroup.
    pub oom_kills: Option<u64>,
}

impl Records for SystemSample {
    const TABLE: Table = Table::System;

    fn to_batch(rows: &[Self]) -> RecordBatch {
        batch(
            Self::TABLE,
            vec![
                strs(rows, |r| &r.task),
                strs(rows, |r| &r.node),
                times(rows, |r| r.time),
                opt_f64(rows, |r| r.cpu_percent),
                opt_f64(rows, |r| r.cpu_limit_percent),
                opt_u64(rows, |r| r.mem_bytes),
                opt_u64(rows, |r| r.mem_limit_bytes),
                opt_u64(rows, |r| r.cpu_throttled_us),
                opt_u64(rows, |r| r.oom_kills),
            ],
        )
    }
}

/// One task (replica) of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub task: String,
    pub node: String,
    pub service: String,
    pub slot: Option<u32>,
    pub hostname: Option<String>,
    pub container_id: Option<String>,
    /// Comma-separated network names.
    pub networks: Option<String>,
    /// Comma-separated addresses.
    pub ip_addresses: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_count: Option<u32>,
    pub mem_total_bytes: Option<u64>,
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
    /// `running`, `complete`, `failed`, `shutdown`, `unknown`, …
    pub state: String,
    pub exit_error: Option<String>,
    pub restarts: Option<u32>,
    pub python_version: Option<String>,
    pub platform: Option<String>,
    /// The task's environment as a JSON object, secret values redacted.
    pub env: Option<String>,
}

impl Records for TaskRow {
    const TABLE: Table = Table::Tasks;

    fn to_batch(rows: &[Self]) -> RecordBatch {
        batch(
            Self::TABLE,
            vec![
                strs(rows, |r| &r.task),
                strs(rows, |r| &r.node),
                strs(rows, |r| &r.service),
                opt_u32(rows, |r| r.slot),
                opt_strs(rows, |r| r.hostname.as_deref()),
                opt_strs(rows, |r| r.container_id.as_deref()),
                opt_strs(rows, |r| r.networks.as_deref()),
                opt_strs(rows, |r| r.ip_addresses.as_deref()),
                opt_strs(rows, |r| r.cpu_model.as_deref()),
                opt_u32(rows, |r| r.cpu_count),
                opt_u64(rows, |r| r.mem_total_bytes),
                opt_times(rows, |r| r.started_at),
                opt_times(rows, |r| r.stopped_at),
                strs(rows, |r| &r.state),
                opt_strs(rows, |r| r.exit_error.as_deref()),
                opt_u32(rows, |r| r.restarts),
                opt_strs(rows, |r| r.python_version.as_deref()),
                opt_strs(rows, |r| r.platform.as_deref()),
                opt_strs(rows, |r| r.env.as_deref()),
            ],
        )
    }
}

/// A line of a task's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub task: String,
    pub node: String,
    pub time: i64,
    /// `stdout`, `stderr` or `wotemu` (the agent's own messages).
    pub stream: String,
    pub line: String,
}

impl Records for LogLine {
    const TABLE: Table = Table::Logs;

    fn to_batch(rows: &[Self]) -> RecordBatch {
        batch(
            Self::TABLE,
            vec![
                strs(rows, |r| &r.task),
                strs(rows, |r| &r.node),
                times(rows, |r| r.time),
                strs(rows, |r| &r.stream),
                strs(rows, |r| &r.line),
            ],
        )
    }
}

/// An app-defined metric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppValue {
    pub task: String,
    pub node: String,
    pub time: i64,
    pub key: String,
    /// The value as JSON text.
    pub value: String,
}

impl Records for AppValue {
    const TABLE: Table = Table::App;

    fn to_batch(rows: &[Self]) -> RecordBatch {
        batch(
            Self::TABLE,
            vec![
                strs(rows, |r| &r.task),
                strs(rows, |r| &r.node),
                times(rows, |r| r.time),
                strs(rows, |r| &r.key),
                strs(rows, |r| &r.value),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Table::ALL {
            assert_eq!(t.name().parse::<Table>().unwrap(), t);
            assert_eq!(t.schema().field(0).name(), "task");
        }
        let err = "packet".parse::<Table>().unwrap_err();
        assert!(err.to_string().contains("unknown table `packet`"));
    }

    #[test]
    fn every_table_but_tasks_has_time() {
        for t in Table::ALL {
            let has_time = t.schema().field_with_name("time").is_ok();
            assert_eq!(has_time, t != Table::Tasks, "{t}");
            for k in t.sort_key() {
                assert!(t.schema().field_with_name(k).is_ok());
            }
        }
    }

    #[test]
    fn records_build_batches_of_the_schema() {
        let p = Packet {
            task: "s_a.1.x".into(),
            node: "a".into(),
            iface: "eth0".into(),
            time: 1,
            len: 60,
            src: "10.0.0.1".into(),
            dst: "10.0.0.2".into(),
            transport: "tcp".into(),
            srcport: Some(80),
            dstport: None,
            proto: "http".into(),
        };
        let b = Packet::to_batch(&[p.clone(), p]);
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema(), Table::Packets.schema());
        assert_eq!(TaskRow::to_batch(&[TaskRow::default()]).num_rows(), 1);
    }
}
