//! Executing a [`RunPlan`]: build the lab ([`Lab::build`]), supervise it ([`Lab::supervise`]), stop its
//! replicas and gateways ([`Lab::stop`]) so that the caller can collect from its Redis, and remove everything
//! ([`Lab::teardown`]). A `Lab` is created before anything is built, so that the caller tears down whatever
//! was built even when building fails half-way.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wotemu_contract::keys::StackKeys;
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_sys::cleanup::{Item, Record};

use crate::host::{self, Proc, Spawn};
use crate::plan::{RedisPlan, ReplicaPlan, Role, RunPlan};
use crate::state::{Phase, RunState};
use crate::zygote::{self, Zygote};
use crate::Error;

/// What a run tells the person running it. Libraries do not print: the CLI implements this.
pub trait Observer {
    /// A line of progress.
    fn say(&self, msg: &str);
    /// Something went wrong but the run goes on.
    fn warn(&self, msg: &str);
    /// The live status (called about twice a second while the run is supervised).
    fn status(&self, _s: &Status) {}
    /// The run is no longer supervised: no more status.
    fn status_done(&self) {}
}

/// The live status of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub left_s: f64,
    pub total_s: f64,
    /// Node replicas running, of all.
    pub running: usize,
    pub nodes: usize,
    /// Interactions and errors so far (the agents' live totals), interactions per second lately.
    pub interactions: u64,
    pub rate: f64,
    pub errors: u64,
    pub restarts: u32,
    /// Parts of the run that are down right now (`gateway 3g`, `redis`), being restarted.
    pub down: Vec<String>,
    /// Outages so far (parts that died and were restarted).
    pub outages: u32,
}

impl Status {
    /// The status line for people.
    pub fn line(&self) -> String {
        let down = if self.down.is_empty() {
            String::new()
        } else {
            format!(" · DOWN: {}", self.down.join(", "))
        };
        format!(
            "{:>4.0}s left of {:.0}s · {}/{} replicas running · {} interactions ({:.1}/s) · {} errors · {} restarts · {} outages{down}",
            self.left_s, self.total_s, self.running, self.nodes, self.interactions, self.rate, self.errors, self.restarts, self.outages
        )
    }
}

/// A replica as it runs.
struct Running {
    child: Option<Proc>,
    task: String,
    restarts: u32,
    cgroups: Vec<PathBuf>,
    started: Instant,
    /// It exited too soon after starting: restarted once a second has passed.
    pending_restart: bool,
    /// Not part of the run now: it has not joined yet (a scenario scales the node up to it) or it left (scaled
    /// down, or replaced by churn); it is not restarted when its agent exits.
    left: bool,
    /// A new task starts in its place once the old one has exited (`churn`, or a `scale` up that came while
    /// it was still leaving).
    rejoin: Option<&'static str>,
    /// Tasks this slot has had after its first (restarts and churn), for the next task's name.
    generation: u32,
    /// Whether its first task has started (a replica that joins later has not).
    ever_started: bool,
    /// A broker that died: since when (its outage ends once it is restarted).
    down_since: Option<Instant>,
}

/// Which supervised part.
#[derive(Debug, Clone, Copy)]
enum PartId {
    Redis,
    Gateway(usize),
}

/// The exit status of a child that has exited (it is then forgotten).
fn exited(child: &mut Option<Proc>) -> Option<String> {
    let status = child.as_mut()?.try_wait().ok()??;
    *child = None;
    Some(status.to_string())
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The duration passed.
    Time,
    /// A signal (SIGINT, SIGTERM) asked to stop.
    Signal(i32),
}

/// A part of the run that the runner keeps alive (a gateway, Redis, a broker): its process, and since when
/// it is down.
struct Part {
    name: String,
    child: Option<Proc>,
    down_since: Option<(Instant, u64)>,
    /// Every pid it had (for the clean-up records of dead gateways).
    pids: Vec<u32>,
    /// When it first started (µs since the epoch): a restarted gateway continues its schedule from there.
    first_start_us: Option<i64>,
}

/// A run being built, run, stopped and removed.
pub struct Lab {
    plan: RunPlan,
    exe: PathBuf,
    record: Option<Record>,
    state: RunState,
    conn: Option<redis::Connection>,
    keys: StackKeys,
    redis: Part,
    /// One per network, in plan order.
    gateways: Vec<Part>,
    /// Counters of gateways that died, per network (a restarted gateway counts from zero).
    earlier_stats: BTreeMap<String, Vec<serde_json::Value>>,
    running: Vec<Running>,
    restarts: u32,
    outages: u32,
    /// The runner's timeline (started once the run's Redis is up).
    log: Option<wotemu_ship::EventRecorder>,
    last_heartbeat: Instant,
    /// The load processes of the scenario's `stress` steps under way, by (event, occurrence).
    stressors: BTreeMap<(usize, u32), Vec<Child>>,
    /// Forks the replicas' agents with Python imported (none when disabled or when it could not start).
    zygote: Option<Zygote>,
}

fn redis_err(what: &str) -> impl FnOnce(redis::RedisError) -> Error + '_ {
    move |source| Error::Redis {
        what: what.to_owned(),
        source,
    }
}

fn wait_until(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if done()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

impl Lab {
    /// Registers the run (state file and clean-up record) without building anything yet.
    pub fn new(plan: RunPlan, exe: &Path, run_dir: &Path) -> Result<Lab, Error> {
        if !wotemu_sys::is_root() {
            return Err(Error::NotRoot { what: "wotemu run" });
        }
        let pid = std::process::id();
        let state = RunState {
            run_id: plan.run_id.clone(),
            stack: plan.stack.clone(),
            pid,
            pid_start: wotemu_sys::process::start_time(pid).unwrap_or(0),
            run_dir: std::path::absolute(run_dir).unwrap_or(run_dir.to_owned()),
            phase: Phase::Starting,
            replicas: plan.replicas.len(),
            networks: plan.networks.len(),
            redis_url: Some(plan.redis.url()),
            redis_dir: match &plan.redis {
                RedisPlan::Own { dir, .. } => Some(dir.clone()),
                RedisPlan::External(_) => None,
            },
            spool_dir: Some(plan.state_dir.join("spool")),
            heartbeat_at: Some(us_to_rfc3339(now_us())),
        };
        let mut record =
            Record::create(&format!("run {}", plan.run_id)).map_err(|source| Error::Io {
                what: "creating the run's clean-up record".into(),
                source,
            })?;
        // The state folder goes last (removed after everything inside the lab).
        host::record(
            &mut record,
            Item::Path {
                path: plan.state_dir.clone(),
            },
        )?;
        state.save()?;
        std::fs::create_dir_all(plan.logs_dir()).map_err(|source| Error::Io {
            what: format!("creating {}", plan.logs_dir().display()),
            source,
        })?;
        let keys = StackKeys::new(&plan.stack);
        let part = |name: String| Part {
            name,
            child: None,
            down_since: None,
            pids: Vec::new(),
            first_start_us: None,
        };
        let gateways = plan
            .networks
            .iter()
            .map(|n| part(format!("gateway {}", n.name)))
            .collect();
        Ok(Lab {
            log: None,
            stressors: BTreeMap::new(),
            zygote: None,
            exe: exe.to_owned(),
            record: Some(record),
            state,
            conn: None,
            keys,
            redis: part("redis".into()),
            gateways,
            earlier_stats: BTreeMap::new(),
            running: Vec::new(),
            restarts: 0,
            outages: 0,
            plan,
            last_heartbeat: Instant::now(),
        })
    }

    /// The plan this lab runs.
    pub fn plan(&self) -> &RunPlan {
        &self.plan
    }

    /// Collects the stopped run ([`Lab::stop`]) into the dataset `out` (its Redis and the run's spools) and
    /// writes what each gateway did beside it (`gateways.json`: backend, packets forwarded, lost, dropped,
    /// timing, from `gateway_stats`).
    pub fn collect(
        &self,
        out: &Path,
        gateway_stats: &BTreeMap<String, serde_json::Value>,
        progress: &dyn wotemu_collector::Progress,
    ) -> Result<wotemu_collector::CollectSummary, Error> {
        let mut opts =
            wotemu_collector::CollectOptions::new(&self.redis_url(), &self.plan.stack, out);
        opts.spool_dir = Some(self.plan.state_dir.join("spool"));
        let summary =
            wotemu_collector::collect(&opts, progress).map_err(|source| Error::Collect {
                what: format!("collecting the run into {}", out.display()),
                source,
            })?;
        let json = serde_json::to_vec_pretty(gateway_stats).expect("gateway counters serialize");
        wotemu_sys::fs::write_atomic(&out.join("gateways.json"), &json).map_err(|source| {
            Error::Io {
                what: format!("writing {}", out.join("gateways.json").display()),
                source,
            }
        })?;
        Ok(summary)
    }

    /// The URL of the run's Redis (agents and the collector use it).
    pub fn redis_url(&self) -> String {
        self.plan.redis.url()
    }

    fn rec(&mut self) -> &mut Record {
        self.record
            .as_mut()
            .expect("the record lives until teardown")
    }

    fn conn(&mut self) -> &mut redis::Connection {
        self.conn.as_mut().expect("Redis is connected by build")
    }

    /// The connection to the run's Redis, connecting again when it was lost; `None` while Redis is down.
    fn try_conn(&mut self) -> Option<&mut redis::Connection> {
        if self.conn.is_none() {
            let url = self.plan.redis.url();
            self.conn = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .ok();
        }
        self.conn.as_mut()
    }

    /// Runs `f` on the connection; a failure drops the connection (the next call connects again).
    fn with_redis<T>(
        &mut self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let conn = self.try_conn()?;
        match f(conn) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "Redis call failed; connecting again next time.");
                self.conn = None;
                None
            }
        }
    }

    /// Records a timeline event of the runner now (`planned`: when it was due, µs since the epoch).
    fn record(
        &self,
        kind: &str,
        target: &str,
        outcome: &str,
        error: Option<String>,
        detail: serde_json::Value,
        planned: Option<i64>,
    ) {
        match &self.log {
            Some(log) => log.record(kind, target, outcome, error, detail, planned),
            None => tracing::warn!(
                kind,
                target,
                outcome,
                "A run event before the run's Redis was up; not recorded."
            ),
        }
    }

    /// Moves the run to `phase` in its state file.
    pub fn set_phase(&mut self, phase: Phase) -> Result<(), Error> {
        self.state.phase = phase;
        self.state.save()
    }

    /// Builds the lab and starts everything: Redis, the networks and their gateways, the replicas.
    pub fn build(&mut self, topology_text: &str, obs: &dyn Observer) -> Result<(), Error> {
        let _span = tracing::info_span!("build", run = %self.plan.run_id).entered();
        self.start_redis(topology_text)?;
        self.launch_zygote();
        self.build_networks(obs)?;
        self.build_replicas()?;
        self.start_replicas()?;
        self.set_phase(Phase::Running)
    }

    /// Starts the run's own `redis-server` (append-only file in the run's state, fsync every second, so a
    /// restarted or salvaged Redis has every record it acknowledged) and waits for its socket.
    fn spawn_redis(&mut self) -> Result<(), Error> {
        let RedisPlan::Own { socket, dir } = self.plan.redis.clone() else {
            return Ok(());
        };
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        // A socket left by a dead server would look ready.
        if let Err(e) = std::fs::remove_file(&socket) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(error = %e, "Old Redis socket not removed.");
            }
        }
        let child = crate::host::spawn_redis(&socket, &dir)?;
        host::record(self.rec(), Item::process(child.id()))?;
        self.redis.pids.push(child.id());
        self.redis.child = Some(Proc::from(child));
        wait_until("redis-server's socket", Duration::from_secs(10), || {
            Ok(socket.exists())
        })
    }

    fn start_redis(&mut self, topology_text: &str) -> Result<(), Error> {
        self.spawn_redis()?;
        let url = self.plan.redis.url();
        let mut conn = None;
        wait_until(
            "a connection to Redis",
            Duration::from_secs(10),
            || match redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
                Ok(c) => {
                    conn = Some(c);
                    Ok(true)
                }
                Err(_) => Ok(false),
            },
        )?;
        self.conn = conn;
        self.log = Some(crate::timeline::start(&self.plan)?);
        let (keys, stack) = (self.keys.clone(), self.plan.stack.clone());
        redis::pipe()
            .cmd("SET")
            .arg(keys.topology())
            .arg(topology_text)
            .ignore()
            .cmd("HSET")
            .arg(keys.meta())
            .arg("stack")
            .arg(&stack)
            .arg("started_at")
            .arg(us_to_rfc3339(now_us()))
            .arg("wotemu_version")
            .arg(env!("CARGO_PKG_VERSION"))
            .arg("engine")
            .arg("netns")
            .ignore()
            .cmd("HSET")
            .arg(keys.meta())
            .arg("seed")
            .arg(self.plan.seed.map(|s| s.to_string()).unwrap_or_default())
            .ignore()
            .query::<()>(self.conn())
            .map_err(redis_err("writing the run's metadata"))
    }

    fn build_networks(&mut self, obs: &dyn Observer) -> Result<(), Error> {
        let lab = self.plan.lab_ns.clone();
        host::add_namespace(self.rec(), &lab)?;
        for n in self.plan.networks.clone() {
            host::add_bridge(&lab, &n.bridge)?;
        }
        host::bridge_netfilter_off(&lab);
        for n in self.plan.networks.clone() {
            host::add_namespace(self.rec(), &n.gateway_ns)?;
            host::plug(
                &lab,
                &n.bridge,
                &n.gateway_peer,
                &n.gateway_ns,
                &n.gateway_if,
                &format!("{}/{}", n.gateway_addr, n.prefix_len),
            )?;
            if let Ok(sp) = wotemu_gateway::Spec::from_json(&n.conditions) {
                let (b, why) = wotemu_gateway::Backend::choose(&sp);
                obs.say(&format!(
                    "Network {}: {} ({why}).",
                    n.name,
                    match b {
                        wotemu_gateway::Backend::Kernel => "kernel netem + tbf",
                        wotemu_gateway::Backend::Userspace => "userspace shaper",
                    }
                ));
            }
            self.spawn_gateway(n.index)?;
        }
        for k in 0..self.plan.networks.len() {
            self.wait_gateway(k)?;
        }
        Ok(())
    }

    fn spawn_gateway(&mut self, k: usize) -> Result<(), Error> {
        let n = self.plan.networks[k].clone();
        if let Err(e) = std::fs::remove_file(&n.ready_file) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(error = %e, "Old ready file not removed.");
            }
        }
        let exe = self.exe.clone();
        // A restarted gateway's schedule (and trace) go on from where the first one's were, not from zero.
        let mut args = n.gateway_args.clone();
        match self.gateways[k].first_start_us {
            Some(t) => args.extend(["--schedule-from-us".to_owned(), t.to_string()]),
            None => self.gateways[k].first_start_us = Some(now_us()),
        }
        let child = host::spawn_netns_exec(
            self.rec(),
            &n.gateway_ns,
            &exe,
            &args,
            &n.gateway_env,
            &n.log,
        )?;
        self.gateways[k].pids.push(child.id());
        self.gateways[k].child = Some(Proc::from(child));
        Ok(())
    }

    fn wait_gateway(&mut self, k: usize) -> Result<(), Error> {
        let n = self.plan.networks[k].clone();
        let child = self.gateways[k].child.as_mut().expect("spawned");
        wait_until(
            &format!("the gateway of network {}", n.name),
            Duration::from_secs(15),
            || {
                if let Some(status) = child.try_wait().map_err(|source| Error::Io {
                    what: "waiting for a gateway".into(),
                    source,
                })? {
                    return Err(Error::GatewayExited {
                        network: n.name.clone(),
                        status: status.to_string(),
                        log: n.log.clone(),
                    });
                }
                Ok(n.ready_file.exists())
            },
        )
    }

    fn build_replicas(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        host::build_replica_networks(self.rec(), &plan.lab_ns, &plan.replicas)?;
        for r in &plan.replicas {
            host::write_etc(&r.ns, &plan.hosts_files[r.hosts], &r.task)?;
            let cgroups = match r.role {
                Role::Broker => {
                    if let Some((file, text)) = &r.broker_conf {
                        std::fs::write(file, text).map_err(|source| Error::Io {
                            what: format!("writing {}", file.display()),
                            source,
                        })?;
                    }
                    Vec::new()
                }
                Role::Node => {
                    let run_id = plan.run_id.clone();
                    host::make_cgroups(self.rec(), &run_id, &r.task, r.cpus, r.mem)?
                }
            };
            self.running.push(Running {
                child: None,
                task: r.task.clone(),
                restarts: 0,
                cgroups,
                started: Instant::now(),
                pending_restart: false,
                left: r.joins_later,
                rejoin: None,
                generation: 0,
                ever_started: false,
                down_since: None,
            });
        }
        // Register every replica now: a replica stopped before its agent registers itself still shows in the
        // dataset (state unknown), and a run stopped at once still has a stack to collect. Agents overwrite
        // their entry with their own facts. (A replica that joins later registers when it joins.)
        for r in plan.initial_nodes() {
            self.register(r, &r.task)?;
        }
        Ok(())
    }

    /// Launches the zygote, which imports Python and WoTPy while the lab is built (the first fork waits
    /// for it). One that cannot start leaves every agent to start Python on its own.
    fn launch_zygote(&mut self) {
        if !zygote::enabled() {
            return;
        }
        let plan = self.plan.clone();
        let Some(r) = plan.nodes().next() else {
            return;
        };
        // The logs folder was made with the lab (`Lab::new`).
        let log = plan.logs_dir().join("zygote.log");
        let exe = self.exe.clone();
        match Zygote::launch(self.rec(), &exe, &plan.state_dir, &r.env, &log) {
            Ok(z) => self.zygote = Some(z),
            Err(e) => {
                tracing::warn!(error = %e, "Every agent starts Python on its own.");
            }
        }
    }

    /// Starts every replica that does not join later, in [`RunPlan::start_order`].
    fn start_replicas(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        let mosquitto = if plan.replicas.iter().any(|r| r.role == Role::Broker) {
            Some(host::which("mosquitto").ok_or_else(|| Error::Missing {
                program: "mosquitto".into(),
                hint: "the topology has brokers; install it: apt-get install mosquitto, or scripts/setup.sh"
                    .into(),
            })?)
        } else {
            None
        };
        for i in plan.start_order() {
            let r = &plan.replicas[i];
            if r.joins_later {
                continue;
            }
            let program = match r.role {
                Role::Broker => mosquitto.clone().expect("found above"),
                Role::Node => self.exe.clone(),
            };
            self.spawn_task(i, r, r.task.clone(), &program, &r.env)?;
            self.running[i].ever_started = true;
        }
        Ok(())
    }

    /// Writes a replica's entry of the task registry (what the runner knows; the agent adds its facts).
    fn register(&mut self, r: &ReplicaPlan, task: &str) -> Result<(), Error> {
        let name = wotemu_contract::task::TaskName::parse(task);
        let info = wotemu_contract::task::TaskInfo {
            task: task.to_owned(),
            node: r.node.clone(),
            service: format!("{}_{}", self.plan.stack, r.node),
            slot: name.slot,
            hostname: Some(task.to_owned()),
            networks: r.links.iter().map(|l| l.network.clone()).collect(),
            ip_addresses: r.links.iter().map(|l| l.addr.to_string()).collect(),
            started_at: Some(us_to_rfc3339(now_us())),
            ..Default::default()
        };
        let key = self.keys.tasks();
        redis::cmd("HSET")
            .arg(key)
            .arg(task)
            .arg(serde_json::to_string(&info).expect("task info serialises"))
            .query::<()>(self.conn())
            .map_err(redis_err("registering a task"))
    }

    /// Supervises the run until `duration` passes or a signal arrives: restarts crashed apps (Swarm's
    /// restart policy) under a new task name, restarts Redis, gateways and brokers that die (each outage is
    /// a timeline event: start, end, what was lost), ships the timeline, and reports the live status.
    pub fn supervise(
        &mut self,
        duration: Duration,
        signals: &mpsc::Receiver<i32>,
        obs: &dyn Observer,
    ) -> Result<Ended, Error> {
        let _span = tracing::info_span!("supervise", run = %self.plan.run_id).entered();
        let start = Instant::now();
        let start_us = now_us();
        let deadline = start + duration;
        let mut rate_window: VecDeque<(Instant, u64)> = VecDeque::new();
        let mut last_live = (0u64, 0u64);
        let steps =
            wotemu_topology::scenario::steps(&self.plan.scenario, duration.as_secs_f64() * 1000.0);
        let mut next_step = 0usize;
        let mut saved: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        loop {
            let now = Instant::now();
            // The scenario's steps that are due, before anything else.
            while let Some(st) = steps.get(next_step) {
                let due = start + Duration::from_secs_f64(st.at_ms / 1000.0);
                if Instant::now() < due {
                    break;
                }
                self.scenario_step(st, start_us, &mut saved, obs);
                next_step += 1;
            }
            if now >= deadline {
                return Ok(Ended::Time);
            }
            let mut wait = Duration::from_millis(250).min(deadline - now);
            if let Some(st) = steps.get(next_step) {
                let due = start + Duration::from_secs_f64(st.at_ms / 1000.0);
                wait = wait.min(due.saturating_duration_since(Instant::now()));
            }
            match signals.recv_timeout(wait) {
                Ok(sig) => return Ok(Ended::Signal(sig)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(Ended::Time),
            }
            self.keep_alive(obs)?;
            if self.last_heartbeat.elapsed() > Duration::from_secs(2) {
                self.state.heartbeat_at = Some(us_to_rfc3339(now_us()));
                self.state.save()?;
                self.last_heartbeat = Instant::now();
            }
            let running = self
                .running
                .iter_mut()
                .zip(&self.plan.replicas)
                .filter(|(_, r)| r.role == Role::Node)
                .filter_map(|(x, _)| x.child.as_mut())
                .filter_map(|c| c.try_wait().ok())
                .filter(Option::is_none)
                .count();
            let live = self.keys.live();
            let (total, errors) = self
                .with_redis(|c| {
                    redis::cmd("HMGET")
                        .arg(&live)
                        .arg("interactions")
                        .arg("errors")
                        .query::<(Option<u64>, Option<u64>)>(c)
                })
                .map(|(t, e)| (t.unwrap_or(0), e.unwrap_or(0)))
                .unwrap_or(last_live);
            last_live = (total, errors);
            let now = Instant::now();
            rate_window.push_back((now, total));
            while rate_window.len() > 2
                && now.duration_since(rate_window[0].0) > Duration::from_secs(5)
            {
                rate_window.pop_front();
            }
            let (t0, n0) = rate_window[0];
            let rate = if now > t0 {
                total.saturating_sub(n0) as f64 / now.duration_since(t0).as_secs_f64()
            } else {
                0.0
            };
            let down = std::iter::once(&self.redis)
                .chain(&self.gateways)
                .filter(|p| p.down_since.is_some())
                .map(|p| p.name.clone())
                .collect();
            let nodes = self
                .running
                .iter()
                .zip(&self.plan.replicas)
                .filter(|(x, r)| r.role == Role::Node && !x.left)
                .count();
            obs.status(&Status {
                left_s: deadline.saturating_duration_since(now).as_secs_f64(),
                total_s: duration.as_secs_f64(),
                running,
                nodes,
                interactions: total,
                rate,
                errors,
                restarts: self.restarts,
                down,
                outages: self.outages,
            });
        }
    }

    /// One round of supervision: every part that died is restarted (and its outage recorded).
    fn keep_alive(&mut self, obs: &dyn Observer) -> Result<(), Error> {
        // Redis first: the others report to it.
        if exited(&mut self.redis.child).is_some() || self.redis.down_since.is_some() {
            self.revive_redis(obs)?;
        }
        for k in 0..self.gateways.len() {
            if self.gateways[k].down_since.is_some() {
                self.revive_gateway(k, obs)?;
            } else if let Some(status) = exited(&mut self.gateways[k].child) {
                self.outage_start(PartId::Gateway(k), &status, obs);
                self.revive_gateway(k, obs)?;
            }
        }
        let plan = self.plan.clone();
        for (i, r) in plan.replicas.iter().enumerate() {
            if self.running[i].left {
                // It left on purpose: reap it, and start its replacement if churn asked for one.
                let gone =
                    self.running[i].child.is_none() || exited(&mut self.running[i].child).is_some();
                if gone {
                    self.running[i].child = None;
                    if let Some(why) = self.running[i].rejoin.take() {
                        self.join(i, r, why, obs)?;
                    }
                }
                continue;
            }
            let Some(status) = exited(&mut self.running[i].child) else {
                continue;
            };
            if r.role == Role::Broker {
                self.broker_down(i, r, &status, obs);
            }
            // Not in a tight loop: Swarm's restart policy waits too.
            if self.running[i].started.elapsed() < Duration::from_secs(1) {
                self.running[i].child = None;
                self.running[i].pending_restart = true;
                continue;
            }
            self.restart_replica(i, r, &status, obs)?;
        }
        for (i, r) in plan.replicas.iter().enumerate() {
            if self.running[i].pending_restart
                && !self.running[i].left
                && self.running[i].started.elapsed() >= Duration::from_secs(1)
            {
                self.running[i].pending_restart = false;
                self.restart_replica(i, r, "exited", obs)?;
            }
        }
        Ok(())
    }

    fn restart_replica(
        &mut self,
        i: usize,
        r: &ReplicaPlan,
        status: &str,
        obs: &dyn Observer,
    ) -> Result<(), Error> {
        let plan = self.plan.clone();
        let (task, program, env) = match r.role {
            Role::Node => {
                self.running[i].restarts += 1;
                self.running[i].generation += 1;
                self.restarts += 1;
                let task = r.restart_name(&plan.run_id, self.running[i].generation);
                let env = r.env_for(&task);
                (task, self.exe.clone(), env)
            }
            // A broker keeps its name: it is a part of the run, not a task of the dataset.
            Role::Broker => {
                let program = host::which("mosquitto").ok_or_else(|| Error::Missing {
                    program: "mosquitto".into(),
                    hint: "apt-get install mosquitto".into(),
                })?;
                (r.task.clone(), program, r.env.clone())
            }
        };
        let what = match r.role {
            Role::Node => format!("node {}.{}", r.node, r.slot),
            Role::Broker => format!("broker {}", r.node),
        };
        obs.warn(&format!(
            "{what} exited ({status}); restarting it as {task}"
        ));
        self.record(
            "restart",
            &what,
            "restarted",
            Some(status.to_owned()),
            serde_json::json!({"previous_task": self.running[i].task, "task": task}),
            None,
        );
        if r.role == Role::Node {
            // The registry is best effort here: the agent registers itself once it runs.
            if let Err(e) = self.register(r, &task) {
                tracing::warn!(error = %e, task = %task, "Restarted task not registered yet.");
            }
        }
        self.spawn_task(i, r, task, &program, &env)?;
        if let Some(since) = self.running[i].down_since.take() {
            // A broker's outage, like the run's Redis's and gateways': from its death to its restart.
            let down_s = since.elapsed().as_secs_f64();
            obs.warn(&format!("{what} is back after {down_s:.1} s"));
            self.record(
                "outage",
                &what,
                "end",
                None,
                serde_json::json!({"down_s": (down_s * 1000.0).round() / 1000.0}),
                None,
            );
        }
        Ok(())
    }

    /// A broker died: its outage starts (once, however long its restart waits).
    fn broker_down(&mut self, i: usize, r: &ReplicaPlan, status: &str, obs: &dyn Observer) {
        if self.running[i].down_since.is_some() {
            return;
        }
        self.outages += 1;
        self.running[i].down_since = Some(Instant::now());
        let what = format!("broker {}", r.node);
        obs.warn(&format!("{what} died ({status})"));
        self.record(
            "outage",
            &what,
            "start",
            Some(status.to_owned()),
            serde_json::Value::Null,
            None,
        );
    }

    /// Starts `task` (a new task of replica `i`) in the replica's namespace and cgroups.
    fn spawn_task(
        &mut self,
        i: usize,
        r: &ReplicaPlan,
        task: String,
        program: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let log = self.plan.log_of(&task);
        let cgroups = self.running[i].cgroups.clone();
        let spawn = Spawn {
            ns: &r.ns,
            hostname: &task,
            program,
            args: &r.args,
            env,
            cgroups: &cgroups,
            log: &log,
        };
        let rec = self.record.as_mut().expect("the run is built");
        let forked = match self.zygote.as_mut() {
            Some(z) if program == self.exe => match z.spawn(rec, &spawn) {
                Ok(p) => Some(p),
                Err(e) => {
                    // A zygote that failed once is not asked again: a late answer would be taken for the
                    // next request's.
                    tracing::warn!(error = %e, task = %task, "The zygote did not fork the agent; this and later agents start on their own.");
                    if let Some(z) = self.zygote.take() {
                        z.stop();
                    }
                    None
                }
            },
            _ => None,
        };
        let child = match forked {
            Some(p) => p,
            None => host::spawn_in(rec, &spawn)?,
        };
        let run = &mut self.running[i];
        run.child = Some(child);
        run.task = task;
        run.started = Instant::now();
        Ok(())
    }

    /// Starts a task in replica `i`'s slot (a scale up, or churn's replacement): its first task under the
    /// planned name, later ones under a new name, as Swarm gives every task its own id. `why` is `scale` or
    /// `churn`, for the timeline.
    fn join(
        &mut self,
        i: usize,
        r: &ReplicaPlan,
        why: &str,
        obs: &dyn Observer,
    ) -> Result<(), Error> {
        let plan = self.plan.clone();
        let task = if self.running[i].ever_started {
            self.running[i].generation += 1;
            r.restart_name(&plan.run_id, self.running[i].generation)
        } else {
            r.task.clone()
        };
        let env = r.env_for(&task);
        if let Err(e) = self.register(r, &task) {
            tracing::warn!(error = %e, task = %task, "Joining task not registered yet.");
        }
        self.record(
            "join",
            &format!("node {}.{}", r.node, r.slot),
            why,
            None,
            serde_json::json!({"previous_task": self.running[i].ever_started.then(|| self.running[i].task.clone()), "task": task}),
            None,
        );
        obs.say(&format!("scenario: {task} joins ({why})"));
        let exe = self.exe.clone();
        self.spawn_task(i, r, task, &exe, &env)?;
        let run = &mut self.running[i];
        run.left = false;
        run.ever_started = true;
        run.pending_restart = false;
        Ok(())
    }

    /// Replica `i` leaves the run: its agent is asked to stop (SIGTERM: it ends its app and ships what it
    /// holds), and it is not restarted. Returns whether the signal was sent.
    fn leave(&mut self, i: usize) -> bool {
        let run = &mut self.running[i];
        run.left = true;
        run.pending_restart = false;
        match &run.child {
            Some(c) => {
                // A paused replica takes the signal once it runs again.
                wotemu_sys::process::signal_group(c.id(), libc::SIGCONT);
                wotemu_sys::process::signal(c.id(), libc::SIGTERM)
            }
            None => false,
        }
    }

    /// The node's replicas (indices in the plan) that are part of the run now, by slot.
    fn active(&self, node: &str) -> Vec<usize> {
        (0..self.plan.replicas.len())
            .filter(|&i| {
                let r = &self.plan.replicas[i];
                r.role == Role::Node && r.node == node && !self.running[i].left
            })
            .collect()
    }

    fn part(&mut self, id: PartId) -> &mut Part {
        match id {
            PartId::Redis => &mut self.redis,
            PartId::Gateway(k) => &mut self.gateways[k],
        }
    }

    fn outage_start(&mut self, id: PartId, status: &str, obs: &dyn Observer) {
        self.outages += 1;
        let part = self.part(id);
        part.down_since = Some((Instant::now(), now_us() as u64));
        let name = part.name.clone();
        obs.warn(&format!("{name} died ({status}); restarting it"));
        self.record(
            "outage",
            &name,
            "start",
            Some(status.to_owned()),
            serde_json::Value::Null,
            None,
        );
    }

    fn outage_end(&mut self, id: PartId, detail: serde_json::Value, obs: &dyn Observer) {
        let part = self.part(id);
        let Some((since, _)) = part.down_since.take() else {
            return;
        };
        let name = part.name.clone();
        let down_s = since.elapsed().as_secs_f64();
        let mut detail = detail;
        if detail.is_null() {
            detail = serde_json::json!({});
        }
        detail["down_s"] = serde_json::json!((down_s * 1000.0).round() / 1000.0);
        obs.warn(&format!("{name} is back after {down_s:.1} s"));
        self.record("outage", &name, "end", None, detail, None);
    }

    /// Restarts the run's own Redis on its data (agents spool meanwhile and replay when it answers).
    fn revive_redis(&mut self, obs: &dyn Observer) -> Result<(), Error> {
        if !matches!(self.plan.redis, RedisPlan::Own { .. }) {
            return Ok(());
        }
        if self.redis.down_since.is_none() {
            self.outage_start(PartId::Redis, "redis-server exited", obs);
            self.conn = None;
        }
        self.spawn_redis()?;
        if self.try_conn().is_some() {
            self.outage_end(PartId::Redis, serde_json::Value::Null, obs);
        }
        Ok(())
    }

    /// Restarts a network's gateway; packets the network's traffic sent while it was down are counted as
    /// dropped (the queue had no reader: the kernel dropped them).
    fn revive_gateway(&mut self, k: usize, obs: &dyn Observer) -> Result<(), Error> {
        let n = self.plan.networks[k].clone();
        let previous: Option<serde_json::Value> = std::fs::read(&n.stats_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let received = previous
            .as_ref()
            .and_then(|v| v["stats"]["received"].as_u64())
            .unwrap_or(0);
        let queued = crate::host::queued_packets(&n.gateway_ns);
        if let Some(p) = previous {
            self.earlier_stats
                .entry(n.name.clone())
                .or_default()
                .push(p);
        }
        self.spawn_gateway(k)?;
        self.wait_gateway(k)?;
        let dropped = queued.map(|q| q.saturating_sub(received));
        self.outage_end(
            PartId::Gateway(k),
            serde_json::json!({"packets_dropped": dropped, "note": "packets queued to the gateway while it was down, counted up to its last counters (at most one second stale)"}),
            obs,
        );
        Ok(())
    }

    /// Stops the apps (SIGTERM, SIGKILL after 15 s or a second signal), records the stop time and the
    /// restarts, then stops the gateways so that they write their counters. Redis keeps running for the
    /// collection. Returns each network's gateway counters.
    pub fn stop(
        &mut self,
        signals: &mpsc::Receiver<i32>,
    ) -> Result<BTreeMap<String, serde_json::Value>, Error> {
        let _span = tracing::info_span!("stop", run = %self.plan.run_id).entered();
        self.set_phase(Phase::Stopping)?;
        // Loads a scenario left running end with the run.
        for (_, children) in std::mem::take(&mut self.stressors) {
            for mut c in children {
                if let Err(e) = c.kill().and_then(|()| c.wait().map(drop)) {
                    tracing::debug!(error = %e, "A stress load had ended.");
                }
            }
        }
        let plan = self.plan.clone();
        for (r, run) in plan.replicas.iter().zip(&self.running) {
            if r.role == Role::Node {
                if let Some(c) = &run.child {
                    // A replica a scenario left paused takes the signal once it runs again.
                    wotemu_sys::process::signal_group(c.id(), libc::SIGCONT);
                    wotemu_sys::process::signal(c.id(), libc::SIGTERM);
                }
            }
        }
        // An agent stops its app, then ships what is left (its own drain gives Redis up to 10 s): on a loaded
        // host (a sweep beside other runs) that took longer than 15 s once, and the agent was killed before its
        // final report. 30 s leaves room for both; only a hung agent waits that long.
        let kill_at = Instant::now() + Duration::from_secs(30);
        for (r, run) in plan.replicas.iter().zip(self.running.iter_mut()) {
            let Some(c) = run.child.as_mut().filter(|_| r.role == Role::Node) else {
                continue;
            };
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(task = %run.task, error = %e, "Cannot wait for an agent.");
                        break;
                    }
                }
                if Instant::now() > kill_at || signals.try_recv().is_ok() {
                    if let Err(e) = c.kill().and_then(|()| c.wait().map(drop)) {
                        tracing::warn!(task = %run.task, error = %e, "Cannot kill an agent.");
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Redis must be there for what follows (a dead one is restarted on its data).
        let silent = Quiet;
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.try_conn().is_none() || self.redis.down_since.is_some() {
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: "the run's Redis, to record the stop".into(),
                    secs: 15,
                });
            }
            self.keep_alive(&silent)?;
            std::thread::sleep(Duration::from_millis(100));
        }
        // Restart counts into the metadata (the agents wrote their own state), and the stop time.
        let meta = self.keys.meta();
        let mut pipe = redis::pipe();
        for (r, x) in plan.replicas.iter().zip(&self.running) {
            if x.restarts > 0 {
                pipe.cmd("HSET")
                    .arg(&meta)
                    .arg(format!("restarts:{}", r.node))
                    .arg(x.restarts)
                    .ignore();
            }
        }
        pipe.cmd("HSET")
            .arg(&meta)
            .arg("stopped_at")
            .arg(us_to_rfc3339(now_us()))
            .ignore();
        pipe.query::<()>(self.conn())
            .map_err(redis_err("writing the stop time"))?;

        // Gateways: stop them so they write their final counters.
        for g in &self.gateways {
            if let Some(c) = &g.child {
                wotemu_sys::process::signal(c.id(), libc::SIGTERM);
            }
        }
        // Each ships its last window and its final report first (its recorder drains within a second or two).
        let gw_deadline = Instant::now() + Duration::from_secs(10);
        for g in self.gateways.iter_mut() {
            if let Some(c) = g.child.as_mut() {
                while matches!(c.try_wait(), Ok(None)) && Instant::now() < gw_deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let mut stats = BTreeMap::new();
        for n in &plan.networks {
            match std::fs::read(&n.stats_file)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
                }) {
                Ok(mut v) => {
                    // A gateway that was restarted counted from zero: its earlier lives are kept apart.
                    if let Some(earlier) = self.earlier_stats.get(&n.name) {
                        v["earlier"] = serde_json::json!(earlier);
                    }
                    stats.insert(n.name.clone(), v);
                }
                Err(e) => {
                    tracing::warn!(network = %n.name, error = %e, "No counters from the gateway.")
                }
            }
        }
        // The runner's own last report, after its last events.
        if let Some(log) = self.log.take() {
            let drained = log.finish(None);
            if drained.left_in_spool > 0 {
                tracing::warn!(
                    entries = drained.left_in_spool,
                    spool = %drained.spool_path.display(),
                    "Redis did not take every event of the runner's timeline; they wait in the spool for the collector."
                );
            }
        }
        self.set_phase(Phase::Collecting)?;
        Ok(stats)
    }

    /// Does one step of the scenario and records it (kind `scenario`, its planned time, what it did, and an
    /// error when it failed). A failed step does not end the run.
    fn scenario_step(
        &mut self,
        st: &wotemu_topology::scenario::Step,
        start_us: i64,
        saved: &mut BTreeMap<String, serde_json::Value>,
        obs: &dyn Observer,
    ) {
        let _span =
            tracing::info_span!("scenario_step", event = st.event, undo = st.undo).entered();
        let ev = self.plan.scenario[st.event].clone();
        let planned = start_us + (st.at_ms * 1000.0) as i64;
        let mut touched: Vec<String> = Vec::new();
        let began = now_us();
        let result = self.scenario_action(&ev, st, saved, &mut touched, obs);
        // How late it began, and how long it took.
        let late_ms = (began - planned) as f64 / 1000.0;
        let took_ms = (now_us() - began) as f64 / 1000.0;
        let what = wotemu_topology::scenario::action_word(&ev, st.undo);
        if let Err(e) = &result {
            obs.warn(&format!(
                "scenario: {what} {} failed: {e}",
                ev.action.target()
            ));
        }
        self.record(
            "scenario",
            &ev.action.target(),
            wotemu_topology::scenario::outcome(&ev, st.undo),
            result.err(),
            serde_json::json!({
                "action": what,
                "event": st.event,
                "occurrence": st.occurrence,
                "tasks": touched,
                "late_ms": late_ms,
                "took_ms": took_ms,
            }),
            Some(planned),
        );
    }

    /// Carries out one scenario step's action; the replicas' tasks it touched go to `touched`.
    fn scenario_action(
        &mut self,
        ev: &wotemu_topology::model::ScenarioEvent,
        st: &wotemu_topology::scenario::Step,
        saved: &mut BTreeMap<String, serde_json::Value>,
        touched: &mut Vec<String>,
        obs: &dyn Observer,
    ) -> Result<(), String> {
        use wotemu_topology::model::Action;
        match &ev.action {
            Action::Stress { .. } if st.undo => {
                for mut c in self
                    .stressors
                    .remove(&(st.event, st.occurrence))
                    .unwrap_or_default()
                {
                    if let Err(e) = c.kill().and_then(|()| c.wait().map(drop)) {
                        tracing::debug!(error = %e, "A stress load had ended.");
                    }
                    touched.push(format!("pid {}", c.id()));
                }
                Ok(())
            }
            Action::Stress {
                target,
                cpu_pct,
                memory_bytes,
            } => self.stress_step(target, *cpu_pct, *memory_bytes, st, touched),
            Action::Kill { target }
            | Action::Pause { target }
            | Action::Resume { target }
            | Action::Restart { target } => {
                for i in self.targeted(target) {
                    let Some(c) = &self.running[i].child else {
                        continue;
                    };
                    let sent = match (&ev.action, st.undo) {
                        // The agent stops its app and ships what it holds; the runner starts it again.
                        (Action::Restart { .. }, _) => {
                            wotemu_sys::process::signal(c.id(), libc::SIGTERM)
                        }
                        // The whole process group: the agent and anything its app started.
                        (Action::Kill { .. }, _) => {
                            wotemu_sys::process::signal_group(c.id(), libc::SIGKILL)
                        }
                        (Action::Pause { .. }, false) => {
                            wotemu_sys::process::signal_group(c.id(), libc::SIGSTOP)
                        }
                        _ => wotemu_sys::process::signal_group(c.id(), libc::SIGCONT),
                    };
                    if sent {
                        touched.push(self.running[i].task.clone());
                    }
                }
                if touched.is_empty() {
                    Err(format!("no running replica of {}", target.label()))
                } else {
                    Ok(())
                }
            }
            Action::Partition { network } | Action::Conditions { network, .. } => {
                let current = self.net_conditions(network);
                let keys = self.keys.clone();
                match wotemu_topology::scenario::network_change(
                    ev, st.event, st.undo, current, saved,
                )
                .expect("a network's event")
                {
                    Err(e) => Err(e),
                    Ok(c) => {
                        touched.push(format!("gateway {network}"));
                        self.with_redis(|conn| {
                            redis::cmd("RPUSH")
                                .arg(keys.net_set(network))
                                .arg(c.to_string())
                                .query::<()>(conn)
                        })
                        .ok_or_else(|| "Redis did not answer".to_owned())
                    }
                }
            }
            Action::Scale { node, replicas } => {
                self.scale_step(node, *replicas, st, saved, touched, obs)
            }
            Action::Churn { node, share_pct } => {
                let active = self.active(node);
                if active.is_empty() {
                    Err(format!("no running replica of {node}"))
                } else {
                    let n = ((active.len() as f64 * share_pct / 100.0).round() as usize)
                        .clamp(1, active.len());
                    // A different set each time: the window moves along the slots.
                    let first = (st.occurrence as usize - 1) * n % active.len();
                    for k in 0..n {
                        let i = active[(first + k) % active.len()];
                        if self.leave(i) {
                            self.running[i].rejoin = Some("churn");
                            touched.push(self.running[i].task.clone());
                        }
                    }
                    Ok(())
                }
            }
            Action::Disconnect { node, network } => {
                self.disconnect_step(node, network, st.undo, touched)
            }
        }
    }

    /// A `stress` step: a load in each targeted replica's cgroups, kept until the step is undone.
    fn stress_step(
        &mut self,
        target: &wotemu_topology::model::Target,
        cpu_pct: Option<f64>,
        memory_bytes: Option<u64>,
        st: &wotemu_topology::scenario::Step,
        touched: &mut Vec<String>,
    ) -> Result<(), String> {
        let mut started = Vec::new();
        let mut err = None;
        for i in self.targeted(target) {
            let cgroups = self.running[i].cgroups.clone();
            let task = self.running[i].task.clone();
            let exe = self.exe.clone();
            match host::spawn_in_cgroups(
                self.rec(),
                &exe,
                &wotemu_topology::scenario::stress_args(cpu_pct, memory_bytes, None),
                &cgroups,
            ) {
                Ok(c) => {
                    started.push(c);
                    touched.push(task);
                }
                Err(e) => err = Some(e.to_string()),
            }
        }
        self.stressors.insert((st.event, st.occurrence), started);
        match err {
            Some(e) => Err(e),
            None if touched.is_empty() => Err(format!("no running replica of {}", target.label())),
            None => Ok(()),
        }
    }

    /// A `scale` step (or its undo): free slots join, or the highest slots leave.
    fn scale_step(
        &mut self,
        node: &str,
        replicas: u32,
        st: &wotemu_topology::scenario::Step,
        saved: &mut BTreeMap<String, serde_json::Value>,
        touched: &mut Vec<String>,
        obs: &dyn Observer,
    ) -> Result<(), String> {
        let key = format!("{}:{}:scale", st.event, st.occurrence);
        let active = self.active(node);
        let want = if st.undo {
            saved
                .remove(&key)
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
        } else {
            saved.insert(key, serde_json::json!(active.len()));
            Some(replicas as usize)
        };
        match want {
            None => Err("the count to go back to was not recorded".to_owned()),
            Some(want) if want > active.len() => {
                // The free slots with the lowest numbers join.
                let free: Vec<usize> = (0..self.plan.replicas.len())
                    .filter(|&i| {
                        let r = &self.plan.replicas[i];
                        r.role == Role::Node
                            && r.node == *node
                            && self.running[i].left
                            && self.running[i].rejoin.is_none()
                    })
                    .take(want - active.len())
                    .collect();
                let mut err = None;
                for i in free {
                    let r = self.plan.replicas[i].clone();
                    if self.running[i].child.is_some() {
                        // Its previous task is still ending: the new one starts after it.
                        self.running[i].rejoin = Some("scale");
                        touched.push(format!("{}.{} (once its task ended)", r.node, r.slot));
                        continue;
                    }
                    match self.join(i, &r, "scale", obs) {
                        Ok(()) => touched.push(self.running[i].task.clone()),
                        Err(e) => err = Some(e.to_string()),
                    }
                }
                err.map_or(Ok(()), Err)
            }
            Some(want) => {
                // The highest slots leave.
                for &i in active.iter().rev().take(active.len() - want) {
                    if self.leave(i) {
                        touched.push(self.running[i].task.clone());
                    }
                }
                Ok(())
            }
        }
    }

    /// A `disconnect` step (or its undo): the node's link on the network drops everything, both ways.
    fn disconnect_step(
        &self,
        node: &str,
        network: &str,
        undo: bool,
        touched: &mut Vec<String>,
    ) -> Result<(), String> {
        let op = if undo { "-D" } else { "-I" };
        let mut err = None;
        for (i, r) in self.plan.replicas.iter().enumerate() {
            if r.node != *node {
                continue;
            }
            let Some(l) = r.links.iter().find(|l| l.network == *network) else {
                continue;
            };
            for (chain, dir) in [("INPUT", "-i"), ("OUTPUT", "-o")] {
                if let Err(e) = wotemu_sys::cmd::run(
                    "ip",
                    &[
                        "netns", "exec", &r.ns, "iptables", "-w", op, chain, dir, &l.ifname, "-j",
                        "DROP",
                    ],
                ) {
                    err = Some(e.to_string());
                }
            }
            touched.push(self.running[i].task.clone());
        }
        match err {
            Some(e) => Err(e),
            None if touched.is_empty() => Err(format!("no replica of {node} is on {network}")),
            None => Ok(()),
        }
    }

    /// The replicas (indices in the plan) a scenario target names: the node's replicas, by slot or share.
    /// Only replicas that are part of the run now count (a `scale` may have added or removed some); they
    /// hold slots 1 to N, so a share is the first ones by slot.
    fn targeted(&self, target: &wotemu_topology::model::Target) -> Vec<usize> {
        let active = self.active(&target.node);
        let slots = target.slots(active.len() as u32);
        active
            .into_iter()
            .filter(|&i| slots.contains(&self.plan.replicas[i].slot))
            .collect()
    }

    /// The conditions a network's gateway says are in force (`wotemu:<stack>:net`).
    fn net_conditions(&mut self, network: &str) -> Option<serde_json::Value> {
        let key = self.keys.net();
        let json: Option<String> =
            self.with_redis(|c| redis::cmd("HGET").arg(&key).arg(network).query(c))?;
        let v: serde_json::Value = serde_json::from_str(&json?).ok()?;
        Some(v["conditions"].clone()).filter(|c| c.is_object())
    }

    /// Outages and restarts so far: (parts that died and were restarted, replica restarts).
    pub fn incidents(&self) -> (u32, u32) {
        (self.outages, self.restarts)
    }

    /// Removes what the run created (processes, namespaces, cgroups, records) and returns what could not be
    /// removed. [`Teardown::KeepData`] keeps the run's state folder (its Redis data, its agents' spools) so
    /// that `wotemu clean` can salvage it; [`Teardown::KeepAll`] leaves the lab running as it is.
    pub fn teardown(mut self, how: Teardown) -> Vec<String> {
        let Some(record) = self.record.take() else {
            return Vec::new();
        };
        if how == Teardown::KeepAll {
            return Vec::new();
        }
        drop(self.conn.take());
        if let Some(z) = self.zygote.take() {
            z.stop();
        }
        let gateway_pids: Vec<u32> = self.gateways.iter().flat_map(|g| g.pids.clone()).collect();
        let state_dir = self.plan.state_dir.clone();
        let mut problems = match how {
            Teardown::KeepData => {
                // Redis first, gracefully: its append-only file is complete then.
                if let Some(c) = &self.redis.child {
                    wotemu_sys::process::signal(c.id(), libc::SIGTERM);
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while wotemu_sys::process::alive(c.id()) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                if let Err(e) = self.set_phase(Phase::Salvage) {
                    tracing::warn!(error = %e, "The run's state was not marked for salvage.");
                }
                record.undo_all_but(&|i| matches!(i, Item::Path { path } if *path == state_dir))
            }
            _ => record.undo_all(),
        };
        // Reap what was killed.
        for c in std::iter::once(&mut self.redis)
            .chain(self.gateways.iter_mut())
            .filter_map(|p| p.child.as_mut())
            .chain(self.running.iter_mut().filter_map(|r| r.child.as_mut()))
        {
            if let Err(e) = c.wait() {
                tracing::debug!(error = %e, "Child already reaped.");
            }
        }
        // Gateways killed before they could undo their own rules left records whose namespaces are gone.
        for found in wotemu_sys::cleanup::list(&wotemu_sys::cleanup::dir()) {
            if !found.alive && gateway_pids.contains(&found.header.owner) {
                problems.extend(wotemu_sys::cleanup::undo(&found));
            }
        }
        crate::cgroups::remove_parents();
        problems
    }
}

/// How much of a run [`Lab::teardown`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// Everything.
    All,
    /// Everything but the run's data (its Redis, its spools): the collection failed, `wotemu clean` salvages.
    KeepData,
    /// Nothing (`--keep`): `wotemu clean` removes it later.
    KeepAll,
}

/// An observer that shows nothing (the stop's own supervision).
struct Quiet;

impl Observer for Quiet {
    fn say(&self, msg: &str) {
        tracing::info!(message = msg, "Run.");
    }
    fn warn(&self, msg: &str) {
        tracing::warn!(message = msg, "Run.");
    }
}
