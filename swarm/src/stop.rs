//! `wotemu stop --compose-file FILE --stack NAME`: the end of a Swarm run, as WoTemu 0.6 did it, through the
//! Docker API (bollard): snapshot every task into the stack's Redis, remove the stack's services except
//! Redis, let the agents ship their last data, and collect the run dataset. Redis stays up, so `wotemu report
//! --stack NAME` can read the store later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bollard::models::{Service, Task};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    LogsOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;
use wotemu_collector::Progress;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::task::TaskSnapshot;
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_topology::compose::LABEL;

use crate::cli::StopArgs;
use crate::output::{self, Bar};

/// The label `docker stack deploy` puts on a stack's services.
const STACK_LABEL: &str = "com.docker.stack.namespace";
/// The key under `TaskSnapshot.extra` holding what Docker said of the task.
const DOCKER_KEY: &str = "docker";
/// Most bytes of a task's logs kept in the snapshot (the newest are kept).
const MAX_LOG_BYTES: usize = 4 << 20;

/// What Docker says of one task at stop.
#[derive(Debug, Clone, Serialize)]
struct DockerTask {
    task_id: String,
    /// `<service>.<slot>.<task id>`: the task's name, which is its container's name and its hostname.
    name: String,
    service: String,
    service_id: String,
    /// Whether the task runs a wotemu agent (a node of the topology), which writes a snapshot of its own.
    agent: bool,
    state: String,
    desired_state: String,
    message: Option<String>,
    err: Option<String>,
    exit_code: Option<i64>,
    container_id: Option<String>,
    node_id: Option<String>,
    created_at: Option<String>,
    timestamp: Option<String>,
    #[serde(skip)]
    logs: Option<String>,
}

impl DockerTask {
    fn of(t: &Task, services: &HashMap<String, &Service>) -> Option<DockerTask> {
        let id = t.id.clone()?;
        let service_id = t.service_id.clone()?;
        let svc = services.get(&service_id)?;
        let spec = svc.spec.as_ref()?;
        let service = spec.name.clone()?;
        let agent = has_label(svc, &format!("{LABEL}.node"));
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
            created_at: t.created_at.clone(),
            timestamp: status.timestamp,
            logs: None,
        })
    }

    fn terminal(&self) -> bool {
        matches!(
            self.state.as_str(),
            "complete" | "failed" | "shutdown" | "rejected" | "orphaned" | "remove"
        )
    }

    /// The task's snapshot: what its agent wrote (if it ran one and it got that far), completed by Docker's
    /// view (container, error, logs), which is kept whole under `docker`.
    fn merge(&self, agent: Option<TaskSnapshot>, removed: bool) -> TaskSnapshot {
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
            extra: BTreeMap::new(),
        });
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

/// The `--json` output.
#[derive(Serialize)]
struct StopReport {
    stack: String,
    tasks: usize,
    failed_tasks: Vec<String>,
    removed_services: Vec<String>,
    kept_services: Vec<String>,
    agents_finished: usize,
    agents_waited_for: usize,
    dataset: PathBuf,
    records: u64,
    problems: usize,
    /// Seconds spent on each step: snapshot (tasks and logs), remove, wait (agents), collect.
    seconds: BTreeMap<&'static str, f64>,
}

fn docker_client() -> anyhow::Result<(Docker, String)> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let docker = Docker::connect_with_defaults()
        .map_err(|e| anyhow!("cannot reach the Docker engine at {host}: {e}; is dockerd running (and DOCKER_HOST right)?"))?;
    Ok((docker.with_timeout(Duration::from_secs(30)), host))
}

pub(crate) fn stop(args: StopArgs) -> anyhow::Result<ExitCode> {
    let stack = args.stack.clone().expect("called with --stack");
    wotemu_contract::keys::check_name(&stack)
        .map_err(|e| anyhow!("--stack {stack:?} is not a stack name: {e}"))?;
    let compose = match &args.compose_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the compose file {}", f.display()))?,
        ),
        None => None,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&stack));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the Docker API client")?;
    let (docker, host) = docker_client()?;
    rt.block_on(docker.ping()).map_err(|e| {
        anyhow!("cannot reach the Docker engine at {host}: {e}; is dockerd running (and DOCKER_HOST right)?")
    })?;

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
                anyhow!("the Docker engine at {host} is not a Swarm manager ({text}); run wotemu stop on a manager of the Swarm the stack was deployed to")
            } else {
                anyhow!("listing the services of stack `{stack}`: {text}")
            }
        })?;
    if services.is_empty() {
        bail!("no stack named `{stack}` is deployed on this Swarm (`docker stack ls` lists the stacks; the name is the one given to `docker stack deploy`)");
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
    let keys = StackKeys::new(&stack);
    let redacted = wotemu_contract::redact::redact_url(&args.redis_url);
    let client = redis::Client::open(args.redis_url.as_str())
        .with_context(|| format!("--redis-url {redacted} is not a Redis URL"))?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .with_context(|| {
            format!("cannot reach the stack's Redis at {redacted}; the compose file publishes it on port 6379 of the Swarm's hosts (give --redis-url)")
        })?;

    let mut seconds = BTreeMap::new();
    let mut step = Instant::now();
    let mut lap = |name: &'static str| {
        seconds.insert(name, step.elapsed().as_secs_f64());
        step = Instant::now();
    };
    // 1. The snapshot of every task, with its logs.
    let names: Vec<String> = services.iter().map(name_of).collect();
    let mut task_filters = HashMap::new();
    task_filters.insert("service", names.clone());
    let tasks = rt
        .block_on(
            docker.list_tasks(Some(
                ListTasksOptionsBuilder::new()
                    .filters(&task_filters)
                    .build(),
            )),
        )
        .with_context(|| format!("listing the tasks of stack `{stack}`"))?;
    let mut snap: Vec<DockerTask> = tasks
        .iter()
        .filter_map(|t| DockerTask::of(t, &by_id))
        .collect();
    snap.sort_by(|a, b| a.name.cmp(&b.name));
    let bar = Bar::new();
    bar.start("Reading task logs", Some(snap.len() as u64));
    for t in &mut snap {
        t.logs = Some(rt.block_on(task_logs(&docker, &t.task_id)));
        bar.advance(1);
    }
    bar.finish();
    let started_at = snap.iter().filter_map(|t| t.created_at.clone()).min();
    write_snapshots(
        &mut conn,
        &keys,
        &snap,
        &BTreeSet::new(),
        compose.as_deref(),
        started_at,
    )?;

    lap("snapshot");
    // 2. Remove every service but Redis.
    let (keep, remove): (Vec<&Service>, Vec<&Service>) = services.iter().partition(|s| is_redis(s));
    let removed_ids: BTreeSet<String> = remove.iter().filter_map(|s| s.id.clone()).collect();
    for s in &remove {
        let name = name_of(s);
        if let Err(e) = rt.block_on(docker.delete_service(&name)) {
            // Already gone is fine (someone else removed it meanwhile).
            if !e.to_string().contains("not found") {
                return Err(anyhow!("removing service {name}: {e}"));
            }
        }
    }

    lap("remove");
    // 3. Wait for the agents to ship their last data: each running agent writes its own snapshot last.
    let waited: Vec<&DockerTask> = snap
        .iter()
        .filter(|t| t.agent && t.state == "running")
        .collect();
    let deadline = Instant::now() + Duration::from_secs_f64(args.wait.max(0.0));
    bar.start(
        "Waiting for the agents to finish",
        Some(waited.len() as u64),
    );
    let mut finished = 0usize;
    loop {
        let done = agents_done(&mut conn, &keys, &waited)?;
        bar.advance(done.saturating_sub(finished) as u64);
        let local = rt.block_on(local_containers(&docker, &removed_ids))?;
        finished = done;
        if (done == waited.len() && local == 0) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bar.finish();
    if finished < waited.len() {
        output::warn(&format!(
            "{} of {} agents had not finished after {} s; their last data may be missing (a longer --wait helps)",
            waited.len() - finished,
            waited.len(),
            args.wait
        ));
    }
    // Merge Docker's view into what the agents wrote at their end.
    write_snapshots(&mut conn, &keys, &snap, &removed_ids, None, None)?;
    redis::cmd("HSET")
        .arg(keys.meta())
        .arg("stopped_at")
        .arg(us_to_rfc3339(now_us()))
        .query::<()>(&mut conn)
        .context("writing the stop time to Redis")?;

    lap("wait");
    // 4. Collect.
    let mut opts = wotemu_collector::CollectOptions::new(&args.redis_url, &stack, &out);
    // Keep the store as it is: `wotemu report --stack` reads it again (0.6's workflow).
    opts.trim = false;
    let summary = wotemu_collector::collect(&opts, &bar)
        .with_context(|| format!("collecting stack `{stack}` into {}", out.display()))?;
    lap("collect");
    let failed: Vec<String> = snap
        .iter()
        .filter(|t| matches!(t.state.as_str(), "failed" | "rejected"))
        .map(|t| t.name.clone())
        .collect();
    let removed_names: Vec<String> = remove.iter().map(|s| name_of(s)).collect();
    let kept_names: Vec<String> = keep.iter().map(|s| name_of(s)).collect();
    if args.json {
        output::json(&StopReport {
            stack: stack.clone(),
            tasks: snap.len(),
            failed_tasks: failed,
            removed_services: removed_names,
            kept_services: kept_names.clone(),
            agents_finished: finished,
            agents_waited_for: waited.len(),
            dataset: out.clone(),
            records: summary.records,
            problems: summary.manifest.problems.len(),
            seconds,
        })?;
    } else {
        output::say(&format!(
            "Stopped stack `{stack}`: {} tasks recorded ({} failed), {} services removed, {finished}/{} agents finished ({:.1} s).",
            snap.len(),
            failed.len(),
            removed_names.len(),
            waited.len(),
            seconds.values().sum::<f64>()
        ));
        output::say(&format!(
            "Dataset: {} ({} records). Report: wotemu report --dataset {} --out {}/site",
            out.display(),
            summary.records,
            out.display(),
            out.display()
        ));
        output::say(&format!(
            "Redis ({}) is still up for `wotemu report --stack {stack}`; remove it when done: docker stack rm {stack}",
            kept_names.join(", ")
        ));
    }
    if !summary.manifest.problems.is_empty() {
        output::warn(&format!(
            "{} entries could not be read and were left out; see `problems` in {}",
            summary.manifest.problems.len(),
            out.join("manifest.json").display()
        ));
        return Ok(ExitCode::from(super::EXIT_PARTIAL));
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the service or its containers carry `label` (the compose file's `labels:` are the containers').
fn has_label(s: &Service, label: &str) -> bool {
    let Some(spec) = s.spec.as_ref() else {
        return false;
    };
    let container = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.labels.as_ref());
    [spec.labels.as_ref(), container]
        .into_iter()
        .flatten()
        .any(|l| l.contains_key(label))
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
fn keep_tail(text: &mut String, max: usize) {
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
) -> anyhow::Result<()> {
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let existing: Vec<Option<String>> = if names.is_empty() {
        Vec::new()
    } else {
        redis::cmd("HMGET")
            .arg(keys.snapshot())
            .arg(&names)
            .query(conn)
            .context("reading the snapshots from Redis")?
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
    pipe.query::<()>(conn)
        .context("writing the task snapshots to Redis")?;
    Ok(())
}

/// How many of the `tasks` have ended their agent: the agent's last act is writing its own snapshot, which
/// replaces the entry `wotemu stop` wrote (that one has a `docker` part).
fn agents_done(
    conn: &mut redis::Connection,
    keys: &StackKeys,
    tasks: &[&DockerTask],
) -> anyhow::Result<usize> {
    if tasks.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let entries: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(keys.snapshot())
        .arg(&names)
        .query(conn)
        .context("reading the snapshots from Redis")?;
    Ok(entries
        .into_iter()
        .flatten()
        .filter_map(|j| serde_json::from_str::<TaskSnapshot>(&j).ok())
        .filter(|s| !s.extra.contains_key(DOCKER_KEY))
        .count())
}

/// How many containers of the removed services still run on this engine (those on other hosts of the Swarm
/// are not visible here; the agents' snapshots cover them).
async fn local_containers(docker: &Docker, services: &BTreeSet<String>) -> anyhow::Result<usize> {
    let mut filters = HashMap::new();
    filters.insert("label", vec!["com.docker.swarm.service.id".to_owned()]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .filters(&filters)
                .build(),
        ))
        .await
        .context("listing containers")?;
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
    use super::keep_tail;

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
