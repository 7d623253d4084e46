//! `wotemu scenario`: the Swarm stack's `scenario` service, which carries out the topology's scenario
//! through the Docker API — the same timeline as the one-host runner ([`wotemu_topology::scenario`]):
//!
//! - `kill` → the task's container is SIGKILLed (Swarm's restart policy starts a new task); `restart` and
//!   `churn` → SIGTERM (the agent ends its app and ships what it holds; Swarm starts a new task);
//! - `pause`/`resume` → `docker pause`/`unpause` (the cgroup freezer); paused containers are resumed when
//!   the service is stopped, so that their agents can ship their last data;
//! - `stress` → `docker exec wotemu stress-load` in the task's container (its cgroup), which ends by itself
//!   after the event's `for`;
//! - `disconnect` → `docker exec iptables` in the task's container: everything to and from its address on
//!   that network is dropped, until the undo deletes the two rules;
//! - `partition` / `conditions` → a live change of the network's gateway (`wotemu:<stack>:net:<net>:set`),
//!   computed as on one host ([`wotemu_topology::scenario::network_change`]);
//! - `scale` → the service's replica count (`docker service update`).
//!
//! Times count from the moment every node's replicas are running (or 5 minutes after the service started,
//! whichever comes first), kept in Redis (`wotemu:<stack>:scenario`) with every step done: a restarted
//! service goes on from there. The service runs on a manager and acts on the containers of its own engine
//! directly; a container on another host is acted on by that host's executor ([`crate::host_exec`], the
//! stack's `scenario_exec` service), asked through the stack's Redis.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::models::TaskState;
use bollard::query_parameters::{
    InspectServiceOptions, ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};
use bollard::Docker;
use serde_json::Value;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::time_util::now_us;
use wotemu_topology::model::{Action, ScenarioEvent, Target};
use wotemu_topology::scenario::{self, Step};

use crate::host_exec::{self, Op};
use crate::Error;

/// What the service is asked to do.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub stack: String,
    pub redis_url: String,
    pub events: Vec<ScenarioEvent>,
    /// The topology's nodes (their services are `<stack>_<node>`), whose replicas are awaited before the
    /// scenario's time starts.
    pub nodes: Vec<String>,
    /// Longest wait for the nodes' replicas.
    pub start_timeout: Duration,
}

/// One step done (or failed), for the timeline.
#[derive(Debug, Clone)]
pub struct StepDone {
    /// When it was planned, µs since the epoch.
    pub planned_us: i64,
    /// The event's target (`node reader.2`, `network 3g`).
    pub target: String,
    /// `start`, `end` or `done`.
    pub outcome: &'static str,
    pub error: Option<String>,
    /// `detail`: action, event, occurrence, tasks, late_ms (as on one host).
    pub detail: Value,
}

/// A running task of a node's service.
#[derive(Debug, Clone)]
struct Replica {
    slot: u32,
    /// `<service>.<slot>.<task id>`.
    task: String,
    container: String,
    /// The Swarm node (host) it runs on.
    node: Option<String>,
}

const WINDOW_MS: f64 = 10_000.0;

/// `wotemu scenario`, the stack's scenario service: records its steps as the producer its environment
/// names ([`wotemu_ship::ProducerConfig::from_env`]: its task registered at start, its final report last,
/// which `wotemu stop` waits for) while it carries them out ([`run`]) until `stop` is set.
pub fn serve(
    events: Vec<ScenarioEvent>,
    nodes: Vec<String>,
    start_timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let _span = tracing::info_span!("scenario", events = events.len()).entered();
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let producer = wotemu_ship::ProducerConfig::from_env(&env);
    let recorder = wotemu_ship::EventRecorder::start(
        &producer,
        serde_json::json!({"events": events.len(), "engine": "swarm"}),
    )
    .map_err(|e| Error::Usage(format!("starting the scenario's recorder: {e}")))?;
    let cfg = ScenarioConfig {
        stack: producer.stack.clone(),
        redis_url: producer.redis_url.clone(),
        events,
        nodes,
        start_timeout,
    };
    tracing::info!(events = cfg.events.len(), stack = %cfg.stack, "The scenario starts.");
    let result = run(&cfg, stop, &mut |d| {
        recorder.record(
            "scenario",
            &d.target,
            d.outcome,
            d.error,
            d.detail,
            Some(d.planned_us),
        )
    });
    let drained = recorder.finish(result.as_ref().err().map(|e| e.to_string()));
    if drained.left_in_spool > 0 {
        tracing::warn!(
            left = drained.left_in_spool,
            spool = %drained.spool_path.display(),
            "Events left in the spool: Redis could not take them."
        );
    }
    result
}

/// Carries out the scenario until `stop` is set; each step goes to `record` as it is done.
pub fn run(
    cfg: &ScenarioConfig,
    stop: &AtomicBool,
    record: &mut dyn FnMut(StepDone),
) -> Result<(), Error> {
    let (rt, docker, _) = crate::engine::engine()?;
    let keys = StackKeys::new(&cfg.stack);
    let mut ex = Executor {
        cfg,
        rt,
        docker,
        keys,
        redis: None,
        saved: BTreeMap::new(),
        paused: BTreeMap::new(),
        own_node: std::env::var("NODE_ID")
            .ok()
            .filter(|n| !n.is_empty() && !n.contains("{{")),
        stressed: BTreeMap::new(),
    };
    let start_us = ex.start(stop)?;
    tracing::info!(start_us, "The scenario's time runs.");
    let mut from = 0.0;
    'windows: while !stop.load(Ordering::SeqCst) {
        let steps = scenario::steps_in(&cfg.events, from, from + WINDOW_MS, f64::INFINITY);
        for st in steps {
            let field = done_field(&st);
            if ex.done(&field) {
                continue;
            }
            let planned = start_us + (st.at_ms * 1000.0) as i64;
            // Wait for its time, a tenth of a second at a time (a stop ends the wait).
            loop {
                if stop.load(Ordering::SeqCst) {
                    break 'windows;
                }
                let left = planned - now_us();
                if left <= 0 {
                    break;
                }
                std::thread::sleep(Duration::from_micros(left.min(100_000) as u64));
            }
            record(ex.step(&st, planned));
            ex.mark_done(&field);
        }
        from += WINDOW_MS;
        if from > scenario_end(&cfg.events) {
            // Nothing more will happen: wait for the stop.
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // Paused replicas are resumed, so that their agents can end and ship.
    for (_, replicas) in std::mem::take(&mut ex.paused) {
        for r in replicas {
            if let Err(e) = ex.on(&r, Op::Unpause) {
                tracing::debug!(task = %r.task, error = %e, "A paused replica could not be resumed at stop.");
            }
        }
    }
    Ok(())
}

/// The last time any step can happen (infinite for events repeating without end).
fn scenario_end(events: &[ScenarioEvent]) -> f64 {
    events
        .iter()
        .map(|e| match (e.every_ms, e.count) {
            (Some(_), None) => f64::INFINITY,
            (Some(ev), Some(c)) => e.at_ms + ev * f64::from(c) + e.for_ms.unwrap_or(0.0),
            (None, _) => e.at_ms + e.for_ms.unwrap_or(0.0),
        })
        .fold(0.0, f64::max)
}

/// The progress hash's field of a step.
fn done_field(st: &Step) -> String {
    format!(
        "{}:{}{}",
        st.event,
        st.occurrence,
        if st.undo { ":undo" } else { "" }
    )
}

struct Executor<'a> {
    cfg: &'a ScenarioConfig,
    rt: tokio::runtime::Runtime,
    docker: Docker,
    keys: StackKeys,
    redis: Option<redis::Connection>,
    /// What `partition`/`conditions`/`scale` steps replaced, for their undo.
    saved: BTreeMap<String, Value>,
    /// (event, occurrence) → the replicas it paused.
    paused: BTreeMap<(usize, u32), Vec<Replica>>,
    /// The Swarm node this service runs on (`NODE_ID`): containers of other nodes are acted on by their
    /// host's executor.
    own_node: Option<String>,
    /// (event, occurrence) → the tasks it loaded.
    stressed: BTreeMap<(usize, u32), Vec<String>>,
}

impl Executor<'_> {
    /// Does `op` to a replica's container: through this engine, or through the executor of the replica's host
    /// when it runs on another.
    fn on(&mut self, r: &Replica, op: Op) -> Result<Option<String>, String> {
        match &r.node {
            Some(node) if self.own_node.as_deref().is_some_and(|own| own != node) => {
                let node = node.clone();
                // Connected (or reconnected) by a cheap command first.
                self.redis::<String>(&redis::cmd("PING"))?;
                let conn = self.redis.as_mut().expect("connected");
                let result = host_exec::call(conn, &self.keys, &node, &r.container, op);
                if result.as_ref().is_err_and(|e| e.starts_with("Redis:")) {
                    self.redis = None;
                }
                result
            }
            _ => self
                .rt
                .block_on(host_exec::perform(&self.docker, &r.container, &op)),
        }
    }

    /// A Redis command, reconnecting once when the connection broke.
    fn redis<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, String> {
        for _ in 0..2 {
            if self.redis.is_none() {
                let c = redis::Client::open(self.cfg.redis_url.as_str())
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
                    .map_err(|e| format!("Redis: {e}"))?;
                self.redis = Some(c);
            }
            match cmd.query(self.redis.as_mut().expect("connected")) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_connection_dropped() || e.is_io_error() => self.redis = None,
                Err(e) => return Err(format!("Redis: {e}")),
            }
        }
        Err("Redis did not answer".into())
    }

    /// The time the scenario counts from: the one recorded, or now once every node's replicas run.
    fn start(&mut self, stop: &AtomicBool) -> Result<i64, Error> {
        let key = self.keys.scenario();
        let redis_err = |what: &str, e: String| Error::Docker {
            what: what.into(),
            message: e,
        };
        let deadline = std::time::Instant::now() + self.cfg.start_timeout;
        // Swarm starts the stack's services together: Redis may not answer yet.
        let recorded: Option<i64> = loop {
            match self.redis(redis::cmd("HGET").arg(&key).arg("start")) {
                Ok(v) => break v,
                Err(e) if std::time::Instant::now() >= deadline || stop.load(Ordering::SeqCst) => {
                    return Err(redis_err("reading the scenario's start", e))
                }
                Err(e) => {
                    tracing::debug!(error = %e, "Redis does not answer yet.");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        };
        if let Some(t) = recorded {
            tracing::info!("Started again: the scenario goes on from its recorded start.");
            return Ok(t);
        }
        while std::time::Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
            let mut all = true;
            for node in &self.cfg.nodes {
                let service = format!("{}_{node}", self.cfg.stack);
                let want = self.replicas_of(&service).unwrap_or(0);
                if (self.running(&service)?.len() as u64) < want {
                    all = false;
                    break;
                }
            }
            if all {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let _: bool = self
            .redis(redis::cmd("HSETNX").arg(&key).arg("start").arg(now_us()))
            .map_err(|e| redis_err("recording the scenario's start", e))?;
        self.redis(redis::cmd("HGET").arg(&key).arg("start"))
            .map_err(|e| redis_err("reading the scenario's start", e))
    }

    fn done(&mut self, field: &str) -> bool {
        let key = self.keys.scenario();
        self.redis::<bool>(redis::cmd("HEXISTS").arg(key).arg(field))
            .unwrap_or(false)
    }

    fn mark_done(&mut self, field: &str) {
        let key = self.keys.scenario();
        if let Err(e) = self.redis::<()>(redis::cmd("HSET").arg(key).arg(field).arg(now_us())) {
            tracing::warn!(field, error = %e, "A step done could not be recorded in Redis.");
        }
    }

    /// The replica count of a service.
    fn replicas_of(&self, service: &str) -> Option<u64> {
        let s = self
            .rt
            .block_on(
                self.docker
                    .inspect_service(service, None::<InspectServiceOptions>),
            )
            .ok()?;
        let r = s.spec?.mode?.replicated?.replicas?;
        u64::try_from(r).ok()
    }

    /// The running tasks of a service, by slot (the newest task of a slot).
    fn running(&self, service: &str) -> Result<Vec<Replica>, Error> {
        let mut filters = HashMap::new();
        filters.insert("service", vec![service.to_owned()]);
        filters.insert("desired-state", vec!["running".to_owned()]);
        let tasks = self
            .rt
            .block_on(self.docker.list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            )))
            .map_err(|e| Error::Docker {
                what: format!("listing the tasks of {service}"),
                message: e.to_string(),
            })?;
        let mut by_slot: BTreeMap<u32, (String, Replica)> = BTreeMap::new();
        for t in tasks {
            let status = t.status.clone().unwrap_or_default();
            if status.state != Some(TaskState::RUNNING) {
                continue;
            }
            let (Some(id), Some(slot), Some(container)) = (
                t.id.clone(),
                t.slot,
                status.container_status.and_then(|c| c.container_id),
            ) else {
                continue;
            };
            let created = t.created_at.clone().unwrap_or_default();
            let r = Replica {
                slot: slot as u32,
                task: format!("{service}.{slot}.{id}"),
                container,
                node: t.node_id.clone(),
            };
            match by_slot.get(&(slot as u32)) {
                Some((c, _)) if *c >= created => {}
                _ => {
                    by_slot.insert(slot as u32, (created, r));
                }
            }
        }
        Ok(by_slot.into_values().map(|(_, r)| r).collect())
    }

    /// The running replicas a target names (by slot, share or all, among those running now).
    fn targeted(&self, target: &Target) -> Result<Vec<Replica>, String> {
        let service = format!("{}_{}", self.cfg.stack, target.node);
        let running = self.running(&service).map_err(|e| e.to_string())?;
        let slots = target.slots(running.len() as u32);
        let out: Vec<Replica> = match target.slot {
            Some(s) => running.into_iter().filter(|r| r.slot == s).collect(),
            None => running.into_iter().take(slots.len()).collect(),
        };
        if out.is_empty() {
            return Err(format!("no running replica of {}", target.label()));
        }
        Ok(out)
    }

    /// Sets a service's replica count.
    fn scale(&self, service: &str, replicas: u64) -> Result<(), String> {
        let s = self
            .rt
            .block_on(
                self.docker
                    .inspect_service(service, None::<InspectServiceOptions>),
            )
            .map_err(|e| e.to_string())?;
        let version = s
            .version
            .and_then(|v| v.index)
            .ok_or("the service has no version")?;
        let mut spec = s.spec.ok_or("the service has no spec")?;
        let replicated = spec
            .mode
            .as_mut()
            .and_then(|m| m.replicated.as_mut())
            .ok_or("the service is not replicated")?;
        replicated.replicas = Some(replicas as i64);
        self.rt
            .block_on(
                self.docker.update_service(
                    service,
                    spec,
                    UpdateServiceOptionsBuilder::new()
                        .version(version as i32)
                        .build(),
                    None,
                ),
            )
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Does one step: what it touched, or why it failed.
    fn act(
        &mut self,
        ev: &ScenarioEvent,
        st: &Step,
        touched: &mut Vec<String>,
    ) -> Result<(), String> {
        let _span =
            tracing::info_span!("scenario_step", event = st.event, undo = st.undo).entered();
        let key = (st.event, st.occurrence);
        match &ev.action {
            Action::Kill { target } | Action::Restart { target } => {
                let signal = if matches!(ev.action, Action::Kill { .. }) {
                    "SIGKILL"
                } else {
                    "SIGTERM"
                };
                for r in self.targeted(target)? {
                    self.on(
                        &r,
                        Op::Signal {
                            signal: signal.into(),
                        },
                    )?;
                    touched.push(r.task);
                }
                Ok(())
            }
            Action::Pause { target } if st.undo => {
                for r in self.paused.remove(&key).unwrap_or_default() {
                    self.on(&r, Op::Unpause)?;
                    touched.push(r.task);
                }
                if touched.is_empty() {
                    return Err(format!("no paused replica of {}", target.label()));
                }
                Ok(())
            }
            Action::Pause { target } => {
                let mut done = Vec::new();
                let mut result = Ok(());
                for r in self.targeted(target)? {
                    match self.on(&r, Op::Pause) {
                        Ok(_) => {
                            touched.push(r.task.clone());
                            done.push(r);
                        }
                        Err(e) => result = Err(e),
                    }
                }
                self.paused.insert(key, done);
                result
            }
            Action::Resume { target } => self.resume(target, touched),
            Action::Stress { .. } if st.undo => {
                // The loads end by themselves after the event's `for`.
                touched.extend(self.stressed.remove(&key).unwrap_or_default());
                Ok(())
            }
            Action::Stress {
                target,
                cpu_pct,
                memory_bytes,
            } => {
                // The load ends by itself after the event's `for` (an exec cannot be killed from here).
                let mut cmd = vec!["wotemu".to_owned()];
                cmd.extend(scenario::stress_args(*cpu_pct, *memory_bytes, ev.for_ms));
                let mut loaded = Vec::new();
                for r in self.targeted(target)? {
                    self.on(
                        &r,
                        Op::Exec {
                            cmd: cmd.clone(),
                            wait: false,
                        },
                    )?;
                    touched.push(r.task.clone());
                    loaded.push(r.task);
                }
                self.stressed.insert(key, loaded);
                Ok(())
            }
            Action::Partition { network } | Action::Conditions { network, .. } => {
                let current: Option<String> =
                    self.redis(redis::cmd("HGET").arg(self.keys.net()).arg(network))?;
                let current = current
                    .and_then(|j| serde_json::from_str::<Value>(&j).ok())
                    .map(|v| v["conditions"].clone())
                    .filter(Value::is_object);
                let new = scenario::network_change(ev, st.event, st.undo, current, &mut self.saved)
                    .expect("a network's event")?;
                touched.push(format!("gateway {network}"));
                self.redis::<()>(
                    redis::cmd("RPUSH")
                        .arg(self.keys.net_set(network))
                        .arg(new.to_string()),
                )
            }
            Action::Disconnect { node, network } => {
                self.disconnect(node, network, st.undo, touched)
            }
            Action::Scale { node, replicas } => {
                let service = format!("{}_{node}", self.cfg.stack);
                let saved_key = format!("{}:{}:scale", st.event, st.occurrence);
                let want = if st.undo {
                    self.saved
                        .remove(&saved_key)
                        .and_then(|v| v.as_u64())
                        .ok_or("the count to go back to was not recorded")?
                } else {
                    let now = self
                        .replicas_of(&service)
                        .ok_or_else(|| format!("no service {service}"))?;
                    self.saved.insert(saved_key, Value::from(now));
                    u64::from(*replicas)
                };
                self.scale(&service, want)?;
                touched.push(format!("{service} → {want} replicas"));
                Ok(())
            }
            Action::Churn { node, share_pct } => self.churn(node, *share_pct, st, touched),
        }
    }

    /// An explicit `resume`: paused replicas do not run, so they are looked for among the service's tasks.
    fn resume(&mut self, target: &Target, touched: &mut Vec<String>) -> Result<(), String> {
        // Paused replicas do not run: look among the containers of the service's tasks.
        let service = format!("{}_{}", self.cfg.stack, target.node);
        let running = self.running(&service).map_err(|e| e.to_string())?;
        let slots = target.slots(running.len() as u32);
        for r in running.into_iter().filter(|r| slots.contains(&r.slot)) {
            if self.on(&r, Op::Unpause).is_ok() {
                touched.push(r.task);
            }
        }
        self.paused.retain(|_, v| {
            v.retain(|r| !touched.contains(&r.task));
            !v.is_empty()
        });
        if touched.is_empty() {
            return Err(format!("no paused replica of {}", target.label()));
        }
        Ok(())
    }

    /// A `disconnect` (or its undo): drops in each of the node's containers for its address on the network.
    fn disconnect(
        &mut self,
        node: &str,
        network: &str,
        undo: bool,
        touched: &mut Vec<String>,
    ) -> Result<(), String> {
        let op = if undo { "-D" } else { "-I" };
        let service = format!("{}_{node}", self.cfg.stack);
        let running = self.running(&service).map_err(|e| e.to_string())?;
        if running.is_empty() {
            return Err(format!("no running replica of {node}"));
        }
        for r in running {
            let addr = self
                .on(
                    &r,
                    Op::Address {
                        network: network.to_owned(),
                    },
                )?
                .unwrap_or_default();
            for (chain, dir) in [("INPUT", "-d"), ("OUTPUT", "-s")] {
                self.on(
                    &r,
                    Op::Exec {
                        cmd: ["iptables", "-w", op, chain, dir, &addr, "-j", "DROP"]
                            .map(String::from)
                            .into(),
                        wait: true,
                    },
                )?;
            }
            touched.push(r.task);
        }
        Ok(())
    }

    /// A `churn` step: that share of the node's replicas stops (Swarm replaces them).
    fn churn(
        &mut self,
        node: &str,
        share_pct: f64,
        st: &Step,
        touched: &mut Vec<String>,
    ) -> Result<(), String> {
        let service = format!("{}_{node}", self.cfg.stack);
        let running = self.running(&service).map_err(|e| e.to_string())?;
        if running.is_empty() {
            return Err(format!("no running replica of {node}"));
        }
        let n =
            ((running.len() as f64 * share_pct / 100.0).round() as usize).clamp(1, running.len());
        // A different set each time: the window moves along the slots.
        let first = (st.occurrence as usize - 1) * n % running.len();
        for k in 0..n {
            let r = &running[(first + k) % running.len()];
            self.on(
                r,
                Op::Signal {
                    signal: "SIGTERM".into(),
                },
            )?;
            touched.push(r.task.clone());
        }
        Ok(())
    }

    /// Does one step and says how it went.
    fn step(&mut self, st: &Step, planned_us: i64) -> StepDone {
        let ev = self.cfg.events[st.event].clone();
        let mut touched = Vec::new();
        let began = now_us();
        let result = self.act(&ev, st, &mut touched);
        // How late it began, and how long it took (a step on another host includes the trip to its executor).
        let late_ms = (began - planned_us) as f64 / 1000.0;
        let took_ms = (now_us() - began) as f64 / 1000.0;
        let what = scenario::action_word(&ev, st.undo);
        if let Err(e) = &result {
            tracing::warn!(action = what, target = %ev.action.target(), error = %e, "A scenario step failed.");
        }
        StepDone {
            planned_us,
            target: ev.action.target(),
            outcome: scenario::outcome(&ev, st.undo),
            error: result.err(),
            detail: serde_json::json!({
                "action": what,
                "event": st.event,
                "occurrence": st.occurrence,
                "tasks": touched,
                "late_ms": late_ms,
                "took_ms": took_ms,
                "engine": "swarm",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_fields_and_the_last_step() {
        let st = Step {
            at_ms: 0.0,
            event: 2,
            undo: true,
            occurrence: 3,
        };
        assert_eq!(done_field(&st), "2:3:undo");
        let ev =
            |at: f64, for_ms: Option<f64>, every: Option<f64>, count: Option<u32>| ScenarioEvent {
                at_ms: at,
                for_ms,
                every_ms: every,
                count,
                action: Action::Partition {
                    network: "3g".into(),
                },
            };
        assert_eq!(
            scenario_end(&[ev(5000.0, Some(1000.0), None, None)]),
            6000.0
        );
        assert_eq!(
            scenario_end(&[ev(0.0, None, Some(1000.0), Some(3))]),
            3000.0
        );
        assert!(scenario_end(&[ev(0.0, None, Some(1000.0), None)]).is_infinite());
    }
}
