//! Ending a Swarm stack, as WoTemu 0.6's `wotemu stop` did, through the Docker API (bollard): snapshot every
//! task into the stack's Redis, remove the stack's services except Redis, let the agents ship their last data,
//! and collect the run dataset. Redis stays up, so `wotemu report --stack NAME` can read the store later.
//!
//! The Docker calls are at the edge ([`stop`]); the decisions — what a task's snapshot says
//! ([`DockerTask::merge`]), whether the agents are done ([`agents_done`]), what is kept of a log
//! ([`keep_tail`]) — are plain functions tested without an engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{Service, Task};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    LogsOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;
use wotemu_collector::{CollectOptions, CollectSummary, Progress};
use wotemu_contract::keys::StackKeys;
use wotemu_contract::task::TaskSnapshot;
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_contract::LABEL;

use crate::engine::{engine, STACK_LABEL};
use crate::Error;

/// The key under `TaskSnapshot.extra` holding what Docker said of the task.
const DOCKER_KEY: &str = "docker";
/// Most bytes of a task's logs kept in the snapshot (the newest are kept).
const MAX_LOG_BYTES: usize = 4 << 20;

/// What Docker says of one task at stop.
#[derive(Debug, Clone, Serialize)]
pub struct DockerTask {
    pub task_id: String,
    /// `<service>.<slot>.<task id>`: the task's name, which is its container's name and its hostname.
    pub name: String,
    pub service: String,
    pub service_id: String,
    /// Whether the task runs a wotemu agent (a node of the topology), which writes a snapshot of its own.
    pub agent: bool,
    pub state: String,
    pub desired_state: String,
    pub message: Option<String>,
    pub err: Option<String>,
    pub exit_code: Option<i64>,
    pub container_id: Option<String>,
    pub node_id: Option<String>,
    /// The Swarm host the task was placed on: its node's `wotemu.host` label, else the node's host name.
    pub host: Option<String>,
    pub created_at: Option<String>,
    pub timestamp: Option<String>,
    #[serde(skip)]
    pub logs: Option<String>,
}

impl DockerTask {
    /// Docker's task `t` of one of `services` (by id).
    pub fn of(t: &Task, services: &HashMap<String, &Service>) -> Option<DockerTask> {
        let id = t.id.clone()?;
        let service_id = t.service_id.clone()?;
        let svc = services.get(&service_id)?;
        let spec = svc.spec.as_ref()?;
        let service = spec.name.clone()?;
        // Agents, gateways that record what they apply (`wotemu gateway --record`) and the scenario service:
        // each writes its own snapshot after its last shipment.
        let records = spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .map(|c| {
                c.command
                    .iter()
                    .chain(c.args.iter())
                    .flatten()
                    .any(|a| a == "--record")
            })
            .unwrap_or(false);
        // The scenario service ships its events the same way.
        let agent = has_label(svc, &format!("{LABEL}.node"))
            || has_label(svc, &format!("{LABEL}.scenario"))
            || (has_label(svc, &format!("{LABEL}.gw")) && records);
        // Swarm names a task `<service>.<slot>.<id>` (replicated) or `<service>.<node id>.<id>` (global).
        let middle = t
            .slot
            .map(|s| s.to_string())
            .or_else(|| t.node_id.clone())
            .unwrap_or_default();
        let status = t.status.clone().unwrap_or_default();
        let container = status.container_status.clone().unwrap_or_default();
        Some(DockerTask {
            name: format!("{service}.{middle}.{id}"),
            task_id: id,
            service,
            service_id,
            agent,
            state: status
                .state
                .map_or_else(|| "unknown".into(), |s| s.to_string()),
            desired_state: t
                .desired_state
                .map_or_else(|| "unknown".into(), |s| s.to_string()),
            message: status.message.filter(|m| !m.is_empty()),
            err: status.err.filter(|m| !m.is_empty()),
            exit_code: container.exit_code,
            container_id: container.container_id.filter(|c| !c.is_empty()),
            node_id: t.node_id.clone(),
            host: None,
            created_at: t.created_at.clone(),
            timestamp: status.timestamp,
            logs: None,
        })
    }

    /// Whether the task has ended.
    pub fn terminal(&self) -> bool {
        matches!(
            self.state.as_str(),
            "complete" | "failed" | "shutdown" | "rejected" | "orphaned" | "remove"
        )
    }

    /// The task's snapshot: what its agent wrote (if it ran one and it got that far), completed by Docker's
    /// view (container, error, logs), which is kept whole under `docker`.
    pub fn merge(&self, agent: Option<TaskSnapshot>, removed: bool) -> TaskSnapshot {
        let docker_error = self.err.as_ref().map(|e| match self.exit_code {
            Some(code) if code != 0 && !e.contains("exit") => format!("{e} (exit code {code})"),
            _ => e.clone(),
        });
        // A task that still ran when `wotemu stop` removed its service ended then.
        let (state, stopped_at) = if removed && !self.terminal() {
            ("shutdown".to_owned(), Some(us_to_rfc3339(now_us())))
        } else {
            (
                self.state.clone(),
                self.terminal().then(|| self.timestamp.clone()).flatten(),
            )
        };
        let from_agent = agent.is_some();
        let mut s = agent.unwrap_or_else(|| TaskSnapshot {
            state,
            exit_error: None,
            started_at: self.created_at.clone(),
            stopped_at,
            container_id: None,
            restarts: None,
            logs: None,
            host: None,
            extra: BTreeMap::new(),
        });
        if s.host.is_none() {
            s.host = self.host.clone();
        }
        if s.exit_error.is_none() {
            s.exit_error = docker_error;
        }
        if s.container_id.is_none() {
            s.container_id = self.container_id.clone();
        }
        if s.started_at.is_none() {
            s.started_at = self.created_at.clone();
        }
        if self.logs.is_some() {
            s.logs = self.logs.clone();
        }
        let mut docker = serde_json::to_value(self).expect("serialisable");
        docker["agent_snapshot"] = serde_json::Value::Bool(from_agent);
        s.extra.insert(DOCKER_KEY.into(), docker);
        s
    }
}

/// What to stop.
#[derive(Debug, Clone)]
pub struct StopOptions {
    pub stack: String,
    /// The compose text the stack was deployed from (kept in Redis and the dataset).
    pub compose: Option<String>,
    /// The stack's Redis.
    pub redis_url: String,
    /// The dataset folder.
    pub out: PathBuf,
    /// How long to wait for the agents' last data.
    pub wait: Duration,
}

impl StopOptions {
    /// The stop of `stack` from the command line: its compose file read (when given), its Redis URL with the
    /// stack's password (from the file the compose file names, else from its deployed secret), its dataset
    /// in `out` (default `runs/<stack>`).
    pub fn new(
        stack: &str,
        compose_file: Option<&std::path::Path>,
        redis_url: &str,
        out: Option<PathBuf>,
        wait: Duration,
    ) -> Result<StopOptions, Error> {
        let compose = match compose_file {
            Some(f) => Some(std::fs::read_to_string(f).map_err(|source| Error::Io {
                what: format!("reading the compose file {}", f.display()),
                source,
            })?),
            None => None,
        };
        let redis_url = crate::password::stop_redis_url(
            redis_url,
            stack,
            compose_file.zip(compose.as_deref()),
        )?;
        Ok(StopOptions {
            out: out.unwrap_or_else(|| PathBuf::from("runs").join(stack)),
            stack: stack.to_owned(),
            compose,
            redis_url,
            wait,
        })
    }
}

/// What [`stop`] did.
#[derive(Debug, Serialize)]
pub struct Stopped {
    pub stack: String,
    /// Every task of the stack, as Docker saw it.
    pub tasks: Vec<DockerTask>,
    pub failed_tasks: Vec<String>,
    pub removed_services: Vec<String>,
    pub kept_services: Vec<String>,
    pub agents_finished: usize,
    pub agents_waited_for: usize,
    /// Seconds spent on each step: snapshot (tasks and logs), remove, wait (agents), collect.
    pub seconds: BTreeMap<&'static str, f64>,
    /// The collection.
    #[serde(skip)]
    pub collected: Option<CollectSummary>,
    /// What did not go as it should but did not stop the stop.
    pub warnings: Vec<String>,
}

impl Stopped {
    /// What `wotemu stop --json` prints: the stop's figures and where the dataset went (`out`).
    pub fn summary(&self, out: &std::path::Path) -> serde_json::Value {
        let collected = self.collected.as_ref();
        serde_json::json!({
            "stack": self.stack,
            "tasks": self.tasks.len(),
            "failed_tasks": self.failed_tasks,
            "removed_services": self.removed_services,
            "kept_services": self.kept_services,
            "agents_finished": self.agents_finished,
            "agents_waited_for": self.agents_waited_for,
            "dataset": out,
            "records": collected.map(|c| c.records),
            "problems": collected.map(|c| c.manifest.problems.len()),
            "seconds": self.seconds,
        })
    }

    /// What `wotemu stop` says to people.
    pub fn describe(&self, out: &std::path::Path) -> String {
        let stack = &self.stack;
        let records = self.collected.as_ref().map_or(0, |c| c.records);
        format!(
            "Stopped stack `{stack}`: {} tasks recorded ({} failed), {} services removed, {}/{} agents finished ({:.1} s).\n\
             Dataset: {} ({records} records). Report: wotemu report --dataset {} --out {}/site\n\
             Redis ({}) is still up for `wotemu report --stack {stack}`; remove it when done: docker stack rm {stack}",
            self.tasks.len(),
            self.failed_tasks.len(),
            self.removed_services.len(),
            self.agents_finished,
            self.agents_waited_for,
            self.seconds.values().sum::<f64>(),
            out.display(),
            out.display(),
            out.display(),
            self.kept_services.join(", ")
        )
    }
}

/// Collects `stack` from the Redis at `redis_url` into `out`, leaving Redis as it is: `wotemu report --stack` and the end of `wotemu stop` (0.6's workflow reads
/// the store again).
pub fn collect_kept(
    redis_url: &str,
    stack: &str,
    out: &Path,
    progress: &dyn Progress,
) -> Result<CollectSummary, Error> {
    let mut copts = CollectOptions::new(redis_url, stack, out);
    copts.trim = false;
    Ok(wotemu_collector::collect(&copts, progress)?)
}

/// Ends the stack: snapshot (with logs) into Redis, remove every service but Redis, wait for the agents'
/// last data, then collect the dataset without trimming Redis (0.6's `wotemu report --stack` reads it again).
pub fn stop(opts: &StopOptions, progress: &dyn Progress) -> Result<Stopped, Error> {
    let stack = &opts.stack;
    wotemu_contract::keys::check_name(stack)
        .map_err(|e| Error::Usage(format!("--stack {stack:?} is not a stack name: {e}")))?;
    let _span = tracing::info_span!("swarm_stop", stack = %stack).entered();
    let (rt, docker, host) = engine()?;

    // The stack's services.
    let mut filters = HashMap::new();
    filters.insert("label", vec![format!("{STACK_LABEL}={stack}")]);
    let services = rt
        .block_on(docker.list_services(Some(
            ListServicesOptionsBuilder::new().filters(&filters).build(),
        )))
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("not a swarm manager") {
                Error::NotManager {
                    host: host.clone(),
                    message: text,
                }
            } else {
                Error::Docker {
                    what: format!("listing the services of stack `{stack}`"),
                    message: text,
                }
            }
        })?;
    if services.is_empty() {
        return Err(Error::NoStack(stack.clone()));
    }
    let by_id: HashMap<String, &Service> = services
        .iter()
        .filter_map(|s| Some((s.id.clone()?, s)))
        .collect();
    let redis_name = format!("{stack}_redis");
    let is_redis = |s: &Service| {
        has_label(s, &format!("{LABEL}.redis"))
            || s.spec.as_ref().and_then(|sp| sp.name.as_deref()) == Some(redis_name.as_str())
    };
    let name_of = |s: &Service| {
        s.spec
            .as_ref()
            .and_then(|sp| sp.name.clone())
            .unwrap_or_default()
    };

    // Redis, before anything is changed: without it, nothing can be recorded.
    let keys = StackKeys::new(stack);
    let redacted = wotemu_contract::redact::redact_url(&opts.redis_url);
    let client = redis::Client::open(opts.redis_url.as_str())
        .map_err(|e| Error::Usage(format!("--redis-url {redacted} is not a Redis URL: {e}")))?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .map_err(|source| Error::RedisUnreachable {
            url: redacted.clone(),
            source,
        })?;

    let mut seconds = BTreeMap::new();
    let mut step = Instant::now();
    let mut lap = |name: &'static str| {
        seconds.insert(name, step.elapsed().as_secs_f64());
        step = Instant::now();
    };
    // 1. The snapshot of every task, with its logs.
    let names: Vec<String> = services.iter().map(name_of).collect();
    let nodes = rt.block_on(crate::hosts::swarm_nodes(&docker));
    let (hosts, down) = (
        crate::hosts::host_names(&nodes),
        crate::hosts::down_hosts(&nodes),
    );
    let on_down_host = |t: &DockerTask| {
        down.iter()
            .any(|d| t.node_id.as_deref() == Some(d.node_id.as_str()))
    };
    let listed = || list_snap(&rt, &docker, stack, &names, &by_id, &hosts);
    let mut snap = listed()?;
    progress.start("Reading task logs", Some(snap.len() as u64));
    read_logs(&rt, &docker, &mut snap, &on_down_host, progress);
    // A task Docker started while the logs were read (a replacement) gets its entry and logs too, and every
    // entry Docker's newer state.
    let again = listed()?;
    let mut fresh: Vec<DockerTask> = Vec::new();
    for mut t in again {
        match snap.iter_mut().find(|s| s.task_id == t.task_id) {
            Some(s) => {
                t.logs = s.logs.take();
                *s = t;
            }
            None => fresh.push(t),
        }
    }
    read_logs(&rt, &docker, &mut fresh, &on_down_host, progress);
    progress.finish();
    snap.extend(fresh);
    snap.sort_by(|a, b| a.name.cmp(&b.name));
    let mut warnings = record_host_outages(opts, &down, &snap);
    let started_at = snap.iter().filter_map(|t| t.created_at.clone()).min();
    write_snapshots(
        &mut conn,
        &keys,
        &snap,
        &BTreeSet::new(),
        opts.compose.as_deref(),
        started_at,
    )?;

    // The run's seed, which compose put on the stack's Redis, for the manifest.
    let seed = services.iter().find(|s| is_redis(s));
    if let Some(seed) = seed.and_then(|s| label_value(s, wotemu_topology::compose::SEED_LABEL)) {
        redis::cmd("HSET")
            .arg(keys.meta())
            .arg("seed")
            .arg(seed)
            .query::<()>(&mut conn)
            .map_err(|source| Error::Redis {
                what: "writing the run's seed".into(),
                source,
            })?;
    }
    lap("snapshot");
    // 2. Remove every service but Redis.
    let (keep, remove): (Vec<&Service>, Vec<&Service>) = services.iter().partition(|s| is_redis(s));
    let removed_ids: BTreeSet<String> = remove.iter().filter_map(|s| s.id.clone()).collect();
    for s in &remove {
        let name = name_of(s);
        if let Err(e) = rt.block_on(docker.delete_service(&name)) {
            // Already gone is fine (someone else removed it meanwhile).
            if !e.to_string().contains("not found") {
                return Err(Error::Docker {
                    what: format!("removing service {name}"),
                    message: e.to_string(),
                });
            }
        }
    }

    lap("remove");
    // 3. Wait for the agents to ship their last data: each running agent writes its own snapshot last (but
    // those of a host that is down never will).
    let waited: Vec<&DockerTask> = snap
        .iter()
        .filter(|t| t.agent && t.state == "running" && !on_down_host(t))
        .collect();
    let deadline = Instant::now() + opts.wait;
    progress.start(
        "Waiting for the agents to finish",
        Some(waited.len() as u64),
    );
    let mut finished = 0usize;
    loop {
        let done = agents_done(&mut conn, &keys, &waited)?;
        progress.advance(done.saturating_sub(finished) as u64);
        let local = rt.block_on(local_containers(&docker, &removed_ids))?;
        finished = done;
        if (done == waited.len() && local == 0) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    progress.finish();
    if finished < waited.len() {
        warnings.push(format!(
            "{} of {} agents had not finished after {:.0} s; their last data may be missing (a longer --wait helps)",
            waited.len() - finished,
            waited.len(),
            opts.wait.as_secs_f64()
        ));
    }
    // Merge Docker's view into what the agents wrote at their end.
    write_snapshots(&mut conn, &keys, &snap, &removed_ids, None, None)?;
    redis::cmd("HSET")
        .arg(keys.meta())
        .arg("stopped_at")
        .arg(us_to_rfc3339(now_us()))
        .query::<()>(&mut conn)
        .map_err(|source| Error::Redis {
            what: "writing the stop time".into(),
            source,
        })?;

    lap("wait");
    // 4. Collect, keeping the store as it is: `wotemu report --stack` reads it again (0.6's workflow).
    let summary = collect_kept(&opts.redis_url, stack, &opts.out, progress)?;
    lap("collect");
    let failed_tasks: Vec<String> = snap
        .iter()
        .filter(|t| matches!(t.state.as_str(), "failed" | "rejected"))
        .map(|t| t.name.clone())
        .collect();
    Ok(Stopped {
        stack: stack.clone(),
        failed_tasks,
        removed_services: remove.iter().map(|s| name_of(s)).collect(),
        kept_services: keep.iter().map(|s| name_of(s)).collect(),
        agents_finished: finished,
        agents_waited_for: waited.len(),
        tasks: snap,
        seconds,
        collected: Some(summary),
        warnings,
    })
}

/// Records each host that is down as an `outage` of the run (`target` `host <name>`, from when the manager
/// last changed its node, with the stack's tasks it held that had not ended: lost, their unshipped data
/// missing from the dataset), as a producer of its own (`<stack>_stop.1.<µs>`); a warning per host.
fn record_host_outages(
    opts: &StopOptions,
    down: &[crate::hosts::DownHost],
    snap: &[DockerTask],
) -> Vec<String> {
    if down.is_empty() {
        return Vec::new();
    }
    let producer = wotemu_ship::ProducerConfig {
        redis_url: opts.redis_url.clone(),
        stack: opts.stack.clone(),
        task: format!("{}_stop.1.{}", opts.stack, now_us()),
        spool_dir: std::env::temp_dir().join("wotemu-spool"),
    };
    let recorder = match wotemu_ship::EventRecorder::start(
        &producer,
        serde_json::json!({"hosts_down": down.len()}),
    ) {
        Ok(r) => r,
        Err(e) => return vec![format!("the hosts' outages could not be recorded: {e}")],
    };
    let mut warnings = Vec::new();
    for d in down {
        let lost: Vec<&str> = snap
            .iter()
            .filter(|t| t.node_id.as_deref() == Some(d.node_id.as_str()) && !t.terminal())
            .map(|t| t.name.as_str())
            .collect();
        warnings.push(format!(
            "host {} is {}: {} tasks of the stack were lost with it ({}); what they had not shipped is missing",
            d.name,
            d.state,
            lost.len(),
            lost.join(", ")
        ));
        recorder.push(wotemu_contract::table::TimelineEvent {
            task: recorder.task().to_owned(),
            node: recorder.node().to_owned(),
            time: d
                .since
                .as_deref()
                .and_then(wotemu_contract::time_util::rfc3339_to_us)
                .unwrap_or_else(now_us),
            planned: None,
            kind: "outage".into(),
            target: format!("host {}", d.name),
            outcome: "start".into(),
            error: Some(format!("the Swarm node is {}", d.state)),
            detail: Some(
                serde_json::json!({"node_id": d.node_id, "state": d.state, "tasks": lost})
                    .to_string(),
            ),
        });
    }
    let drained = recorder.finish(None);
    if drained.left_in_spool > 0 {
        warnings.push(format!(
            "the hosts' outages wait in {}: Redis did not take them",
            drained.spool_path.display()
        ));
    }
    warnings
}

/// Whether the service or its containers carry `label` (the compose file's `labels:` are the containers').
pub fn has_label(s: &Service, label: &str) -> bool {
    label_value(s, label).is_some()
}

/// The value of a service's label (on the service or its containers).
pub fn label_value<'a>(s: &'a Service, label: &str) -> Option<&'a str> {
    let spec = s.spec.as_ref()?;
    let container = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.labels.as_ref());
    [spec.labels.as_ref(), container]
        .into_iter()
        .flatten()
        .find_map(|l| l.get(label))
        .map(String::as_str)
}

/// Docker's tasks of the stack's services (`names`), as snapshot entries with their hosts, by name.
fn list_snap(
    rt: &tokio::runtime::Runtime,
    docker: &Docker,
    stack: &str,
    names: &[String],
    by_id: &HashMap<String, &Service>,
    hosts: &HashMap<String, String>,
) -> Result<Vec<DockerTask>, Error> {
    let mut task_filters = HashMap::new();
    task_filters.insert("service", names.to_vec());
    let tasks = rt
        .block_on(
            docker.list_tasks(Some(
                ListTasksOptionsBuilder::new()
                    .filters(&task_filters)
                    .build(),
            )),
        )
        .map_err(|e| Error::Docker {
            what: format!("listing the tasks of stack `{stack}`"),
            message: e.to_string(),
        })?;
    let mut snap: Vec<DockerTask> = tasks
        .iter()
        .filter_map(|t| DockerTask::of(t, by_id))
        .collect();
    for t in &mut snap {
        t.host = t.node_id.as_ref().and_then(|id| hosts.get(id).cloned());
    }
    snap.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(snap)
}

/// Reads each task's logs but those on a host that is down (the manager would wait for it).
fn read_logs(
    rt: &tokio::runtime::Runtime,
    docker: &Docker,
    snap: &mut [DockerTask],
    on_down_host: &dyn Fn(&DockerTask) -> bool,
    progress: &dyn Progress,
) {
    for t in snap {
        if !on_down_host(t) {
            t.logs = Some(rt.block_on(task_logs(docker, &t.task_id)));
        }
        progress.advance(1);
    }
}

/// A task's output with Docker's timestamps (`2026-11-25T17:00:00.123456789Z line`), the newest
/// `MAX_LOG_BYTES`; empty when the engine has none.
async fn task_logs(docker: &Docker, task_id: &str) -> String {
    let opts = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .build();
    let mut stream = docker.task_logs(task_id, Some(opts));
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => {
                text.push_str(&chunk.to_string());
                // Trimmed now and then, not at every chunk.
                if text.len() > 2 * MAX_LOG_BYTES {
                    keep_tail(&mut text, MAX_LOG_BYTES);
                }
            }
            Err(e) => {
                tracing::debug!(task = task_id, error = %e, "the task's logs ended early");
                break;
            }
        }
    }
    keep_tail(&mut text, MAX_LOG_BYTES);
    text
}

/// Keeps the last whole lines of `text` that fit in `max` bytes (cut at a line start, never inside a
/// character).
pub fn keep_tail(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let cut = text[cut..].find('\n').map_or(cut, |i| cut + i + 1);
    text.drain(..cut);
}

/// Writes each task's snapshot (Docker's view merged into the agent's own), and the compose text.
fn write_snapshots(
    conn: &mut redis::Connection,
    keys: &StackKeys,
    tasks: &[DockerTask],
    removed: &BTreeSet<String>,
    compose: Option<&str>,
    started_at: Option<String>,
) -> Result<(), Error> {
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let existing: Vec<Option<String>> = if names.is_empty() {
        Vec::new()
    } else {
        redis::cmd("HMGET")
            .arg(keys.snapshot())
            .arg(&names)
            .query(conn)
            .map_err(|source| Error::Redis {
                what: "reading the snapshots".into(),
                source,
            })?
    };
    let mut pipe = redis::pipe();
    for (t, old) in tasks.iter().zip(existing) {
        let agent = old
            .and_then(|j| serde_json::from_str::<TaskSnapshot>(&j).ok())
            .and_then(|mut s| match s.extra.remove(DOCKER_KEY) {
                // Written by the agent alone.
                None => Some(s),
                // Merged before: keep the agent's part if there was one, else start again from Docker's.
                Some(d) => (d["agent_snapshot"] == true).then_some(s),
            });
        let merged = t.merge(agent, removed.contains(&t.service_id));
        pipe.cmd("HSET")
            .arg(keys.snapshot())
            .arg(&t.name)
            .arg(serde_json::to_string(&merged).expect("serialisable"))
            .ignore();
    }
    if let Some(c) = compose {
        pipe.cmd("SET").arg(keys.compose()).arg(c).ignore();
    }
    if let Some(s) = started_at {
        pipe.cmd("HSETNX")
            .arg(keys.meta())
            .arg("started_at")
            .arg(s)
            .ignore();
    }
    pipe.query::<()>(conn).map_err(|source| Error::Redis {
        what: "writing the task snapshots".into(),
        source,
    })
}

/// How many of the `tasks` have ended their agent: the agent's last act is writing its own snapshot, which
/// replaces the entry `wotemu stop` wrote (that one has a `docker` part).
fn agents_done(
    conn: &mut redis::Connection,
    keys: &StackKeys,
    tasks: &[&DockerTask],
) -> Result<usize, Error> {
    if tasks.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let entries: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(keys.snapshot())
        .arg(&names)
        .query(conn)
        .map_err(|source| Error::Redis {
            what: "reading the snapshots".into(),
            source,
        })?;
    Ok(count_agents_done(&entries))
}

/// How many of these snapshot entries an agent wrote itself (its last act): those without Docker's part.
pub fn count_agents_done(entries: &[Option<String>]) -> usize {
    entries
        .iter()
        .flatten()
        .filter_map(|j| serde_json::from_str::<TaskSnapshot>(j).ok())
        .filter(|s| !s.extra.contains_key(DOCKER_KEY))
        .count()
}

/// How many containers of the removed services still run on this engine (those on other hosts of the Swarm
/// are not visible here; the agents' snapshots cover them).
async fn local_containers(docker: &Docker, services: &BTreeSet<String>) -> Result<usize, Error> {
    let mut filters = HashMap::new();
    filters.insert("label", vec!["com.docker.swarm.service.id".to_owned()]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| Error::Docker {
            what: "listing containers".into(),
            message: e.to_string(),
        })?;
    Ok(list
        .iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get("com.docker.swarm.service.id"))
                .is_some_and(|id| services.contains(id))
        })
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: &str, agent: bool) -> DockerTask {
        DockerTask {
            task_id: "t1".into(),
            name: "s_reader.1.t1".into(),
            service: "s_reader".into(),
            service_id: "svc".into(),
            agent,
            state: state.into(),
            desired_state: "running".into(),
            message: None,
            err: Some("task: non-zero exit (1)".into()),
            exit_code: Some(1),
            container_id: Some("c0ffee".into()),
            node_id: Some("n1".into()),
            host: Some("worker-1".into()),
            created_at: Some("2026-11-29T10:00:00Z".into()),
            timestamp: Some("2026-11-29T10:01:00Z".into()),
            logs: Some("line\n".into()),
        }
    }

    #[test]
    fn the_agents_error_wins_and_dockers_view_is_kept() {
        let agent = TaskSnapshot {
            state: "failed".into(),
            exit_error: Some("ValueError: boom".into()),
            ..Default::default()
        };
        let s = task("failed", true).merge(Some(agent), false);
        assert_eq!(s.exit_error.as_deref(), Some("ValueError: boom"));
        assert_eq!(s.container_id.as_deref(), Some("c0ffee"));
        assert_eq!(s.logs.as_deref(), Some("line\n"));
        assert_eq!(
            s.host.as_deref(),
            Some("worker-1"),
            "the host Docker placed it on"
        );
        assert_eq!(s.extra[DOCKER_KEY]["agent_snapshot"], true);
        // Without an agent's snapshot, Docker's error (with the exit code) and start time are used.
        let s = task("failed", false).merge(None, false);
        assert_eq!(s.exit_error.as_deref(), Some("task: non-zero exit (1)"));
        assert_eq!(s.started_at.as_deref(), Some("2026-11-29T10:00:00Z"));
        assert_eq!(s.stopped_at.as_deref(), Some("2026-11-29T10:01:00Z"));
    }

    #[test]
    fn a_task_still_running_when_its_service_is_removed_is_shut_down() {
        let s = task("running", false).merge(None, true);
        assert_eq!(s.state, "shutdown");
        assert!(s.stopped_at.is_some());
        let s = task("running", false).merge(None, false);
        assert_eq!(s.state, "running");
        assert!(s.stopped_at.is_none());
    }

    #[test]
    fn only_the_agents_own_snapshots_count_as_done() {
        let mine = serde_json::to_string(&TaskSnapshot {
            state: "shutdown".into(),
            ..Default::default()
        })
        .unwrap();
        let merged = serde_json::to_string(&task("running", true).merge(None, false)).unwrap();
        let entries = vec![
            Some(mine.clone()),
            Some(merged),
            None,
            Some(mine),
            Some("not json".into()),
        ];
        assert_eq!(count_agents_done(&entries), 2);
    }

    #[test]
    fn the_tail_is_whole_lines_and_never_splits_a_character() {
        let mut t = "aé\nbé\ncé\n".to_owned();
        keep_tail(&mut t, 6);
        assert_eq!(t, "cé\n");
        let mut t = "éééé".to_owned(); // no line break: cut at a character boundary
        keep_tail(&mut t, 3);
        assert_eq!(t, "é");
        let mut t = "short\n".to_owned();
        keep_tail(&mut t, 100);
        assert_eq!(t, "short\n");
    }
}
