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

/// Declares every table once: the [`Table`] variant, its name, sort key and Arrow schema, and the record
/// struct that fills it with its [`Records::to_batch`]. Columns are `name: kind`, where the kind says the Rust
/// type, the Arrow type and whether the column is nullable (`opt_*`), so the schema and the struct cannot
/// drift apart.
macro_rules! tables {
    ($(
        $(#[$tmeta:meta])*
        $variant:ident = $name:literal, sorted by [$($key:literal),+],
        $(#[$smeta:meta])*
        struct $record:ident {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident ),+ $(,)?
        }
    )+) => {
        /// A table of the run dataset.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum Table {
            $( $(#[$tmeta])* $variant, )+
        }

        impl Table {
            /// Every table, in the order the dataset lists them.
            pub const ALL: [Table; [$($name),+].len()] = [$(Table::$variant),+];

            /// The table's name (also its file stem and its name in stream entries).
            pub fn name(self) -> &'static str {
                match self { $(Table::$variant => $name,)+ }
            }

            /// The columns the table is sorted by.
            pub fn sort_key(self) -> &'static [&'static str] {
                match self { $(Table::$variant => &[$($key),+],)+ }
            }

            fn build_schema(self) -> Schema {
                match self {
                    $(Table::$variant => Schema::new(vec![
                        $( column!($kind, stringify!($field)), )+
                    ]),)+
                }
            }
        }

        $(
            $(#[$smeta])*
            #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
            pub struct $record {
                $( $(#[$fmeta])* pub $field: rust_type!($kind), )+
            }

            impl Records for $record {
                const TABLE: Table = Table::$variant;

                fn to_batch(rows: &[Self]) -> RecordBatch {
                    batch(
                        Self::TABLE,
                        vec![ $( array!($kind, rows, $field), )+ ],
                    )
                }
            }
        )+
    };
}

/// The Rust type of a column kind.
macro_rules! rust_type {
    (str) => { String };
    (opt_str) => { Option<String> };
    (time) => { i64 };
    (opt_time) => { Option<i64> };
    (u16) => { u16 };
    (opt_u16) => { Option<u16> };
    (u32) => { u32 };
    (opt_u32) => { Option<u32> };
    (u64) => { u64 };
    (opt_u64) => { Option<u64> };
    (f64) => { f64 };
    (opt_f64) => { Option<f64> };
    (bool) => { bool };
}

/// The Arrow field of a column kind.
macro_rules! column {
    (str, $n:expr) => {
        Field::new($n, DataType::Utf8, false)
    };
    (opt_str, $n:expr) => {
        Field::new($n, DataType::Utf8, true)
    };
    (time, $n:expr) => {
        Field::new($n, time_type(), false)
    };
    (opt_time, $n:expr) => {
        Field::new($n, time_type(), true)
    };
    (u16, $n:expr) => {
        Field::new($n, DataType::UInt16, false)
    };
    (opt_u16, $n:expr) => {
        Field::new($n, DataType::UInt16, true)
    };
    (u32, $n:expr) => {
        Field::new($n, DataType::UInt32, false)
    };
    (opt_u32, $n:expr) => {
        Field::new($n, DataType::UInt32, true)
    };
    (u64, $n:expr) => {
        Field::new($n, DataType::UInt64, false)
    };
    (opt_u64, $n:expr) => {
        Field::new($n, DataType::UInt64, true)
    };
    (f64, $n:expr) => {
        Field::new($n, DataType::Float64, false)
    };
    (opt_f64, $n:expr) => {
        Field::new($n, DataType::Float64, true)
    };
    (bool, $n:expr) => {
        Field::new($n, DataType::Boolean, false)
    };
}

/// The Arrow array of a column kind, from the records.
macro_rules! array {
    (str, $rows:ident, $f:ident) => {
        Arc::new(StringArray::from_iter_values(
            $rows.iter().map(|r| r.$f.as_str()),
        )) as ArrayRef
    };
    (opt_str, $rows:ident, $f:ident) => {
        Arc::new(
            $rows
                .iter()
                .map(|r| r.$f.as_deref())
                .collect::<StringArray>(),
        ) as ArrayRef
    };
    (time, $rows:ident, $f:ident) => {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values($rows.iter().map(|r| r.$f))
                .with_timezone("UTC"),
        ) as ArrayRef
    };
    (opt_time, $rows:ident, $f:ident) => {
        Arc::new(
            $rows
                .iter()
                .map(|r| r.$f)
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ) as ArrayRef
    };
    (u16, $rows:ident, $f:ident) => {
        Arc::new(UInt16Array::from_iter_values($rows.iter().map(|r| r.$f))) as ArrayRef
    };
    (opt_u16, $rows:ident, $f:ident) => {
        Arc::new($rows.iter().map(|r| r.$f).collect::<UInt16Array>()) as ArrayRef
    };
    (u32, $rows:ident, $f:ident) => {
        Arc::new(UInt32Array::from_iter_values($rows.iter().map(|r| r.$f))) as ArrayRef
    };
    (opt_u32, $rows:ident, $f:ident) => {
        Arc::new($rows.iter().map(|r| r.$f).collect::<UInt32Array>()) as ArrayRef
    };
    (u64, $rows:ident, $f:ident) => {
        Arc::new(UInt64Array::from_iter_values($rows.iter().map(|r| r.$f))) as ArrayRef
    };
    (opt_u64, $rows:ident, $f:ident) => {
        Arc::new($rows.iter().map(|r| r.$f).collect::<UInt64Array>()) as ArrayRef
    };
    (f64, $rows:ident, $f:ident) => {
        Arc::new(Float64Array::from_iter_values($rows.iter().map(|r| r.$f))) as ArrayRef
    };
    (opt_f64, $rows:ident, $f:ident) => {
        Arc::new($rows.iter().map(|r| r.$f).collect::<Float64Array>()) as ArrayRef
    };
    (bool, $rows:ident, $f:ident) => {
        Arc::new($rows.iter().map(|r| Some(r.$f)).collect::<BooleanArray>()) as ArrayRef
    };
}

tables! {
    /// One row per packet seen on a task's interfaces.
    Packets = "packets", sorted by ["task", "time"],
    /// A packet seen on an interface of a task.
    struct Packet {
        task: str,
        node: str,
        iface: str,
        /// Microseconds since the UNIX epoch.
        time: time,
        /// Length of the packet on the wire, in bytes.
        len: u32,
        src: str,
        dst: str,
        /// `tcp`, `udp`, `icmp` or `other`.
        transport: str,
        srcport: opt_u16,
        dstport: opt_u16,
        /// Application protocol (`http`, `ws`, `coap`, `mqtt`) or the transport name when unknown.
        proto: str,
        /// The highest protocol layer the capture named (0.6 imports: tshark's, e.g. `json`,
        /// `data-text-lines`); wotemu's agent leaves it empty.
        layer: opt_str,
    }

    /// One row per WoT interaction (consumed or exposed).
    Interactions = "interactions", sorted by ["task", "time"],
    /// One WoT interaction on a consumed or exposed thing.
    struct Interaction {
        task: str,
        node: str,
        time: time,
        thing: str,
        name: str,
        /// `readproperty`, `writeproperty`, `invokeaction`, `subscribeevent`, `observeproperty`, …
        verb: str,
        /// `consumed` or `exposed`.
        side: str,
        latency_ms: opt_f64,
        ok: bool,
        error_type: opt_str,
        error_message: opt_str,
        /// The servient host of a consumed thing.
        host: opt_str,
        /// The interaction's result as JSON (0.6 imports, which recorded it); wotemu's agent leaves it empty.
        result: opt_str,
    }

    /// One row per subscription event.
    Events = "events", sorted by ["task", "time"],
    /// An event of a subscription.
    struct Event {
        task: str,
        node: str,
        time: time,
        thing: str,
        name: str,
        subscription: str,
        /// `next`, `error`, `completed`, `subscribe` or `finally`.
        kind: str,
        /// The event's item as JSON text (for `error`: `{"type", "message"}`).
        item: opt_str,
    }

    /// One row per CPU/memory sample of a task.
    System = "system", sorted by ["task", "time"],
    /// A CPU and memory sample of a task.
    struct SystemSample {
        task: str,
        node: str,
        time: time,
        /// CPU usage in percent of one core (200 = two cores busy).
        cpu_percent: opt_f64,
        /// The CPU limit in percent of one core, if any.
        cpu_limit_percent: opt_f64,
        mem_bytes: opt_u64,
        mem_limit_bytes: opt_u64,
        /// Cumulative time the task was throttled by its CPU limit.
        cpu_throttled_us: opt_u64,
        /// Cumulative OOM kills in the task's cgroup.
        oom_kills: opt_u64,
    }

    /// One row per task (replica).
    Tasks = "tasks", sorted by ["task"],
    /// One task (replica) of the run.
    struct TaskRow {
        task: str,
        node: str,
        service: str,
        slot: opt_u32,
        /// The host the task ran on (Swarm: its node's `wotemu.host` label, else the node's host name; empty
        /// in one-host runs).
        host: opt_str,
        hostname: opt_str,
        container_id: opt_str,
        /// Comma-separated network names.
        networks: opt_str,
        /// Comma-separated addresses.
        ip_addresses: opt_str,
        cpu_model: opt_str,
        cpu_count: opt_u32,
        mem_total_bytes: opt_u64,
        started_at: opt_time,
        stopped_at: opt_time,
        /// `running`, `complete`, `failed`, `shutdown`, `unknown`, …
        state: str,
        exit_error: opt_str,
        restarts: opt_u32,
        python_version: opt_str,
        platform: opt_str,
        /// The task's environment as a JSON object, secret values redacted.
        env: opt_str,
        /// Emulated CPU speed (`target_cpu_speed`), sysbench CPU events/s on one thread: the target.
        cpu_speed_target: opt_f64,
        /// The host's calibrated speed on one unthrottled CPU.
        cpu_speed_host: opt_f64,
        /// The CFS quota applied, as a fraction of one CPU.
        cpu_quota: opt_f64,
        /// The speed the task measured at start, under that quota.
        cpu_speed_measured: opt_f64,
        /// Every other fact known of the task, as a JSON object (the stack's view in Swarm: node and
        /// service ids, network subnets; 0.6's info and Docker task fields).
        facts: opt_str,
    }

    /// Lines of the tasks' output.
    Logs = "logs", sorted by ["task", "time"],
    /// A line of a task's output.
    struct LogLine {
        task: str,
        node: str,
        time: time,
        /// `stdout`, `stderr` or `wotemu` (the agent's own messages); `docker` in Swarm snapshots.
        stream: str,
        line: str,
    }

    /// What happened to the run as a whole: outages of its parts (a gateway, Redis, a broker) and their
    /// restarts, restarts of replicas, condition changes, scenario events.
    Timeline = "timeline", sorted by ["task", "time"],
    /// One event of the run's timeline.
    struct TimelineEvent {
        /// The task that recorded it (the runner's own, `<stack>_runner.1.<run>`, in one-host runs).
        task: str,
        node: str,
        /// When it happened.
        time: time,
        /// When it was planned, for planned events (a schedule step, a scenario event).
        planned: opt_time,
        /// `outage`, `restart`, `conditions`, `scenario`, …
        kind: str,
        /// What it concerns: `gateway 3g`, `redis`, `broker mqtt`, `node reader.2`, `network 3g`.
        target: str,
        /// `start`, `end`, `done`, `failed`, …
        outcome: str,
        error: opt_str,
        /// Details as a JSON object (what was lost, the old and new conditions, …).
        detail: opt_str,
    }

    /// What each network's gateway applied, per time window and direction.
    Network = "network", sorted by ["task", "time"],
    /// One window of a gateway's shaping in one direction: what it received, forwarded and dropped, the
    /// delay it applied and how late its releases were, next to the conditions configured at the time.
    struct NetworkSample {
        /// The gateway's task (`<stack>_gw_<network>.1.<id>`).
        task: str,
        /// The gateway's node name (`gw_<network>`).
        node: str,
        /// The end of the window.
        time: time,
        network: str,
        /// `up` (to a service port), `down` (the rest), or `both` (the kernel backend, which does not tell
        /// them apart).
        direction: str,
        /// `userspace` or `kernel`.
        backend: str,
        /// Why this backend (`the kernel has no sch_netem`, …).
        reason: str,
        /// The window's length in seconds.
        window_s: f64,
        received: u64,
        forwarded: u64,
        /// Bytes forwarded.
        bytes: u64,
        /// Dropped by the configured loss.
        lost: u64,
        /// Dropped by the rate limit: its queue was full (the network's `queue` limit, else 20 ms of the
        /// rate, 0.6's tbf `latency 20ms`): the emulated link was saturated.
        dropped_rate: u64,
        /// Dropped because the shaper could not keep up: its delay line was full, or — counted in the
        /// `down` row — the kernel's queue to it overflowed. Any is a sign of an overloaded host.
        dropped_overflow: u64,
        duplicated: u64,
        corrupted: u64,
        reordered: u64,
        /// The delay the gateway applied to packets forwarded in the window (arrival to leaving the delay
        /// line, its lateness included; the rate limit's queue apart), in ms.
        delay_mean_ms: opt_f64,
        delay_p50_ms: opt_f64,
        delay_p99_ms: opt_f64,
        /// Achieved rate: bits forwarded per second in the window.
        rate_bps: f64,
        /// Packets waiting in the gateway at the end of the window.
        queue_packets: opt_u64,
        /// How late the shaper released packets after their planned time (µs): its health under load.
        lateness_p50_us: opt_f64,
        lateness_p99_us: opt_f64,
        /// The conditions in force at the end of the window (the rate is this direction's).
        cfg_latency_ms: f64,
        cfg_jitter_ms: f64,
        cfg_rate_bps: opt_u64,
        cfg_loss_pct: f64,
        cfg_duplicate_pct: f64,
    }

    /// App-defined metrics.
    App = "app", sorted by ["task", "time"],
    /// An app-defined metric value.
    struct AppValue {
        task: str,
        node: str,
        time: time,
        key: str,
        /// The value as JSON text.
        value: str,
    }
}

impl Table {
    /// File name of the table inside a run directory.
    pub fn file_name(self) -> String {
        format!("{}.parquet", self.name())
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
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A table name that is not one of [`Table::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown table `{0}` (known tables: {known})", known = Table::ALL.map(Table::name).join(", "))]
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
    fn every_record_type_fills_its_whole_schema() {
        fn check<R: Records + Default + Serialize>() -> Table {
            let batch = R::to_batch(&[R::default(), R::default()]);
            assert_eq!(batch.schema(), R::TABLE.schema());
            let v = serde_json::to_value(R::default()).unwrap();
            let mut fields: Vec<&String> = v.as_object().unwrap().keys().collect();
            let schema = R::TABLE.schema();
            let mut columns: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
            fields.sort();
            columns.sort();
            assert_eq!(fields, columns, "{}", R::TABLE);
            R::TABLE
        }
        let mut seen = vec![
            check::<Packet>(),
            check::<Interaction>(),
            check::<Event>(),
            check::<SystemSample>(),
            check::<TaskRow>(),
            check::<LogLine>(),
            check::<AppValue>(),
            check::<TimelineEvent>(),
            check::<NetworkSample>(),
        ];
        seen.sort();
        assert_eq!(seen, Table::ALL.to_vec());
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
            layer: None,
        };
        let b = Packet::to_batch(&[p.clone(), p]);
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema(), Table::Packets.schema());
        assert_eq!(TaskRow::to_batch(&[TaskRow::default()]).num_rows(), 1);
    }
}
