//! The runner's own records: the run's timeline (outages of its parts, restarts), shipped to the run's Redis
//! as a producer like any agent — its own stream `wotemu:<stack>:stream:<stack>_runner.1.<run>`, batches
//! seq-numbered, each carrying the cumulative `produced` count — so the collector writes them into the
//! `timeline` table with the same accounting. While Redis is down (the runner restarts it) they wait in
//! memory.

use wotemu_contract::keys::StackKeys;
use wotemu_contract::table::{Records, TimelineEvent};
use wotemu_contract::task::{TaskInfo, TaskName, TaskSnapshot};
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_contract::{StreamEntry, Table};

/// The node name of the runner's records.
pub const RUNNER_NODE: &str = "runner";

/// Timeline events waiting to be shipped.
pub(crate) struct RunnerLog {
    task: String,
    keys: StackKeys,
    next_seq: u64,
    produced: u64,
    pending: Vec<TimelineEvent>,
    registered: bool,
}

impl RunnerLog {
    pub(crate) fn new(stack: &str, run_id: &str) -> RunnerLog {
        RunnerLog {
            task: format!("{stack}_{RUNNER_NODE}.1.{run_id}"),
            keys: StackKeys::new(stack),
            next_seq: 1,
            produced: 0,
            pending: Vec::new(),
            registered: false,
        }
    }

    /// Records an event now.
    pub(crate) fn record(
        &mut self,
        kind: &str,
        target: &str,
        outcome: &str,
        error: Option<String>,
        detail: serde_json::Value,
    ) {
        self.record_planned(kind, target, outcome, error, detail, None);
    }

    /// Records an event now that was planned for `planned` (µs since the epoch).
    pub(crate) fn record_planned(
        &mut self,
        kind: &str,
        target: &str,
        outcome: &str,
        error: Option<String>,
        detail: serde_json::Value,
        planned: Option<i64>,
    ) {
        tracing::info!(kind, target, outcome, error = ?error, %detail, "Run event.");
        self.produced += 1;
        self.pending.push(TimelineEvent {
            task: self.task.clone(),
            node: RUNNER_NODE.into(),
            time: now_us(),
            planned,
            kind: kind.into(),
            target: target.into(),
            outcome: outcome.into(),
            error,
            detail: (!detail.is_null()).then(|| detail.to_string()),
        });
    }

    /// Ships what waits (and registers the runner's task once); on failure it waits for the next try.
    pub(crate) fn flush(&mut self, conn: &mut redis::Connection) -> redis::RedisResult<()> {
        if !self.registered {
            let name = TaskName::parse(&self.task);
            let info = TaskInfo {
                task: self.task.clone(),
                node: RUNNER_NODE.into(),
                service: name.service.to_owned(),
                slot: name.slot,
                hostname: crate::host::hostname(),
                started_at: Some(us_to_rfc3339(now_us())),
                ..Default::default()
            };
            redis::cmd("HSET")
                .arg(self.keys.tasks())
                .arg(&self.task)
                .arg(serde_json::to_string(&info).expect("task info serialises"))
                .query::<()>(conn)?;
            self.registered = true;
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut entry = StreamEntry::new(
            self.next_seq,
            TimelineEvent::to_batch(&self.pending),
            Table::Timeline,
        );
        entry.produced = Some(self.produced);
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.keys.stream(&self.task)).arg("*");
        for (k, v) in entry.encode() {
            cmd.arg(k).arg(v);
        }
        cmd.query::<String>(conn)?;
        self.next_seq += 1;
        self.pending.clear();
        Ok(())
    }

    /// The runner's final report (its snapshot), written after its last shipment.
    pub(crate) fn finish(&mut self, conn: &mut redis::Connection) -> redis::RedisResult<()> {
        self.flush(conn)?;
        let snap = TaskSnapshot {
            state: "shutdown".into(),
            stopped_at: Some(us_to_rfc3339(now_us())),
            ..Default::default()
        };
        redis::cmd("HSET")
            .arg(self.keys.snapshot())
            .arg(&self.task)
            .arg(serde_json::to_string(&snap).expect("snapshot serialises"))
            .query(conn)
    }
}
