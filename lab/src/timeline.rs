//! The runner's own records: the run's timeline (outages of its parts, restarts, the scenario's steps), written
//! through the producer library like any agent's records ([`wotemu_ship::EventRecorder`]: its own stream
//! `wotemu:<stack>:stream:<stack>_runner.1.<run>`, batches seq-numbered with their `produced` counts, a
//! spool in the run's spool folder while Redis is down — so a crashed runner's last events are salvaged with
//! the agents' spools), its task registered when the run's Redis is up and its final report written last.

use wotemu_ship::{EventRecorder, ProducerConfig};

use crate::plan::RunPlan;
use crate::Error;

/// The node name of the runner's records.
pub const RUNNER_NODE: &str = "runner";

/// The runner's task name in a run.
pub fn runner_task(stack: &str, run_id: &str) -> String {
    format!("{stack}_{RUNNER_NODE}.1.{run_id}")
}

/// Registers the runner's task in the run's Redis and starts shipping its events.
pub(crate) fn start(plan: &RunPlan) -> Result<EventRecorder, Error> {
    let producer = ProducerConfig {
        redis_url: plan.redis.url(),
        stack: plan.stack.clone(),
        task: runner_task(&plan.stack, &plan.run_id),
        spool_dir: plan.state_dir.join("spool"),
    };
    EventRecorder::start(&producer, serde_json::json!({"engine": "one host"}))
        .map_err(|e| Error::Plan(format!("the runner's timeline cannot be recorded: {e}")))
}
