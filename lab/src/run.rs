//! Executing a [`RunPlan`]: build the lab ([`Lab::build`]), supervise it ([`Lab::supervise`]), stop its
//! replicas and gateways ([`Lab::stop`]) so that the caller can collect from its Redis, and remove everything
//! ([`Lab::teardown`]). A `Lab` is created before anything is built, so that the caller tears down whatever
//! was built even when building fails half-way.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wotemu_contract::keys::StackKeys;
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_sys::cleanup::{Item, Record};

use crate::host::{self, Spawn};
use crate::plan::{RedisPlan, ReplicaPlan, Role, RunPlan};
use crate::state::{Phase, RunState};
use crate::Error;

/// What a run tells the person running it. Libraries do not print: the CLI implements this.
pub trait Observer {
    /// A line of progress.
    fn say(&self, msg: &str);
    /// Something went wrong but the run goes on.
    fn warn(&self, msg: &str);
    /// The live status (called about twice a second while the run is supervised).
    fn status(&self, _s: &Status) {}
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
}

/// A replica as it runs.
struct Running {
    child: Option<Child>,
    task: String,
    restarts: u32,
    cgroups: Vec<PathBuf>,
    started: Instant,
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The duration passed.
    Time,
    /// A signal (SIGINT, SIGTERM) asked to stop.
    Signal(i32),
}

/// A run being built, run, stopped and removed.
pub struct Lab {
    plan: RunPlan,
    exe: PathBuf,
    record: Option<Record>,
    state: RunState,
    conn: Option<redis::Connection>,
    keys: StackKeys,
    gateways: Vec<Child>,
    running: Vec<Running>,
    restarts: u32,
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
        Ok(Lab {
            plan,
            exe: exe.to_owned(),
            record: Some(record),
            state,
            conn: None,
            keys,
            gateways: Vec::new(),
            running: Vec::new(),
            restarts: 0,
        })
    }

    /// The plan this lab runs.
    pub fn plan(&self) -> &RunPlan {
        &self.plan
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

    /// Moves the run to `phase` in its state file.
    pub fn set_phase(&mut self, phase: Phase) -> Result<(), Error> {
        self.state.phase = phase;
        self.state.save()
    }

    /// Builds the lab and starts everything: Redis, the networks and their gateways, the replicas.
    pub fn build(&mut self, topology_text: &str, obs: &dyn Observer) -> Result<(), Error> {
        let _span = tracing::info_span!("build", run = %self.plan.run_id).entered();
        self.start_redis(topology_text)?;
        self.build_networks(obs)?;
        self.build_replicas()?;
        self.start_replicas()?;
        self.set_phase(Phase::Running)
    }

    fn start_redis(&mut self, topology_text: &str) -> Result<(), Error> {
        if let RedisPlan::Own { socket, dir } = self.plan.redis.clone() {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
            let mut cmd = Command::new("redis-server");
            cmd.args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocketperm",
                "777",
            ])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let child = cmd.spawn().map_err(|source| Error::Missing {
                program: "redis-server".into(),
                hint: format!(
                    "{source}; install it: apt-get install redis-server, or scripts/setup.sh"
                ),
            })?;
            host::record(self.rec(), Item::process(child.id()))?;
            wait_until("redis-server's socket", Duration::from_secs(10), || {
                Ok(socket.exists())
            })?;
        }
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
            .query::<()>(self.conn())
            .map_err(redis_err("writing the run's metadata"))
    }

    fn build_networks(&mut self, obs: &dyn Observer) -> Result<(), Error> {
        let lab = self.plan.lab_ns.clone();
        host::add_namespace(self.rec(), &lab, false)?;
        for n in self.plan.networks.clone() {
            host::add_bridge(&lab, &n.bridge)?;
        }
        host::bridge_netfilter_off(&lab);
        for n in self.plan.networks.clone() {
            host::add_namespace(self.rec(), &n.gateway_ns, false)?;
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
            let exe = self.exe.clone();
            let child =
                host::spawn_netns_exec(self.rec(), &n.gateway_ns, &exe, &n.gateway_args, &n.log)?;
            self.gateways.push(child);
        }
        let nets = self.plan.networks.clone();
        for (n, child) in nets.iter().zip(self.gateways.iter_mut()) {
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
            )?;
        }
        Ok(())
    }

    fn build_replicas(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        for r in &plan.replicas {
            host::add_namespace(self.rec(), &r.ns, true)?;
            for l in &r.links {
                host::plug(
                    &plan.lab_ns,
                    &l.bridge,
                    &l.peer,
                    &r.ns,
                    &l.ifname,
                    &format!("{}/{}", l.addr, l.prefix_len),
                )?;
            }
            for route in &r.routes {
                let route = route.clone();
                wotemu_sys::netns::run_in(&r.ns, move || {
                    wotemu_gateway::route::install(&route).map_err(Error::from)
                })
                .map_err(|e| Error::Context {
                    what: format!("routing {} through its gateway", r.task),
                    source: Box::new(e),
                })?;
            }
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
            });
        }
        // Register every replica now: a replica stopped before its agent registers itself still shows in the
        // dataset (state unknown), and a run stopped at once still has a stack to collect. Agents overwrite
        // their entry with their own facts.
        for r in plan.nodes() {
            self.register(r, &r.task)?;
        }
        Ok(())
    }

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
        for (i, r) in plan.replicas.iter().enumerate() {
            let program = match r.role {
                Role::Broker => mosquitto.clone().expect("found above"),
                Role::Node => self.exe.clone(),
            };
            let cgroups = self.running[i].cgroups.clone();
            let log = plan.log_of(&r.task);
            let child = host::spawn_in(
                self.rec(),
                &Spawn {
                    ns: &r.ns,
                    hostname: &r.task,
                    program: &program,
                    args: &r.args,
                    env: &r.env,
                    cgroups: &cgroups,
                    log: &log,
                },
            )?;
            self.running[i].child = Some(child);
            self.running[i].started = Instant::now();
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
    /// restart policy) under a new task name, and reports the live status.
    pub fn supervise(
        &mut self,
        duration: Duration,
        signals: &mpsc::Receiver<i32>,
        obs: &dyn Observer,
    ) -> Result<Ended, Error> {
        let _span = tracing::info_span!("supervise", run = %self.plan.run_id).entered();
        let plan = self.plan.clone();
        let nodes = plan.nodes().count();
        let deadline = Instant::now() + duration;
        let mut rate_window: VecDeque<(Instant, u64)> = VecDeque::new();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(Ended::Time);
            }
            match signals.recv_timeout(Duration::from_millis(500).min(deadline - now)) {
                Ok(sig) => return Ok(Ended::Signal(sig)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(Ended::Time),
            }
            for (i, r) in plan.replicas.iter().enumerate() {
                if r.role != Role::Node {
                    continue;
                }
                let exited = self.running[i]
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                let Some(status) = exited else { continue };
                // Swarm's restart policy: start the replica again (a new task name per attempt), not in a
                // tight loop.
                if self.running[i].started.elapsed() < Duration::from_secs(1) {
                    continue;
                }
                self.running[i].restarts += 1;
                self.restarts += 1;
                let task = r.restart_name(&plan.run_id, self.running[i].restarts);
                self.register(r, &task)?;
                obs.warn(&format!(
                    "{} exited ({status}); restarting it as {task}",
                    r.node
                ));
                let env = r.env_for(&task);
                let log = plan.log_of(&task);
                let cgroups = self.running[i].cgroups.clone();
                let exe = self.exe.clone();
                let child = host::spawn_in(
                    self.rec(),
                    &Spawn {
                        ns: &r.ns,
                        hostname: &task,
                        program: &exe,
                        args: &r.args,
                        env: &env,
                        cgroups: &cgroups,
                        log: &log,
                    },
                )?;
                let run = &mut self.running[i];
                run.child = Some(child);
                run.task = task;
                run.started = Instant::now();
            }
            let running = self
                .running
                .iter_mut()
                .zip(&plan.replicas)
                .filter(|(_, r)| r.role == Role::Node)
                .filter_map(|(x, _)| x.child.as_mut())
                .filter_map(|c| c.try_wait().ok())
                .filter(Option::is_none)
                .count();
            let live = self.keys.live();
            let (total, errors): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
                .arg(live)
                .arg("interactions")
                .arg("errors")
                .query(self.conn())
                .unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "Live totals unreadable.");
                    (None, None)
                });
            let total = total.unwrap_or(0);
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
            obs.status(&Status {
                left_s: deadline.saturating_duration_since(now).as_secs_f64(),
                total_s: duration.as_secs_f64(),
                running,
                nodes,
                interactions: total,
                rate,
                errors: errors.unwrap_or(0),
                restarts: self.restarts,
            });
        }
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
        let plan = self.plan.clone();
        for (r, run) in plan.replicas.iter().zip(&self.running) {
            if r.role == Role::Node {
                if let Some(c) = &run.child {
                    wotemu_sys::process::signal(c.id(), libc::SIGTERM);
                }
            }
        }
        let kill_at = Instant::now() + Duration::from_secs(15);
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
        // Restart counts into the metadata (the agents wrote their own state).
        let meta = self.keys.meta();
        let restarts: Vec<(String, u32)> = plan
            .replicas
            .iter()
            .zip(&self.running)
            .filter(|(_, x)| x.restarts > 0)
            .map(|(r, x)| (r.node.clone(), x.restarts))
            .collect();
        for (node, n) in restarts {
            redis::cmd("HSET")
                .arg(&meta)
                .arg(format!("restarts:{node}"))
                .arg(n)
                .query::<()>(self.conn())
                .map_err(redis_err("writing the restart counts"))?;
        }
        redis::cmd("HSET")
            .arg(&meta)
            .arg("stopped_at")
            .arg(us_to_rfc3339(now_us()))
            .query::<()>(self.conn())
            .map_err(redis_err("writing the stop time"))?;

        // Gateways: stop them so they write their final counters.
        for g in &self.gateways {
            wotemu_sys::process::signal(g.id(), libc::SIGTERM);
        }
        let gw_deadline = Instant::now() + Duration::from_secs(3);
        for g in self.gateways.iter_mut() {
            while matches!(g.try_wait(), Ok(None)) && Instant::now() < gw_deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let mut stats = BTreeMap::new();
        for n in &plan.networks {
            match std::fs::read(&n.stats_file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => {
                    stats.insert(n.name.clone(), v);
                }
                Err(e) => {
                    tracing::warn!(network = %n.name, error = %e, "No counters from the gateway.")
                }
            }
        }
        self.set_phase(Phase::Collecting)?;
        Ok(stats)
    }

    /// Removes everything the run created (processes, namespaces, cgroups, its state) and returns what could
    /// not be removed. With `keep`, leaves the lab as it is (for `wotemu clean` later).
    pub fn teardown(mut self, keep: bool) -> Vec<String> {
        let Some(record) = self.record.take() else {
            return Vec::new();
        };
        if keep {
            return Vec::new();
        }
        drop(self.conn.take());
        let gateway_pids: Vec<u32> = self.gateways.iter().map(Child::id).collect();
        let mut problems = record.undo_all();
        // Reap what was killed.
        for g in self.gateways.iter_mut() {
            if let Err(e) = g.wait() {
                tracing::debug!(error = %e, "Gateway already reaped.");
            }
        }
        for r in self.running.iter_mut() {
            if let Some(c) = r.child.as_mut() {
                if let Err(e) = c.wait() {
                    tracing::debug!(error = %e, "Replica already reaped.");
                }
            }
        }
        // Gateways killed before they could undo their own rules left records whose namespaces are gone.
        for found in wotemu_sys::cleanup::list(Path::new(wotemu_sys::cleanup::DIR)) {
            if !found.alive && gateway_pids.contains(&found.header.owner) {
                problems.extend(wotemu_sys::cleanup::undo(&found));
            }
        }
        host::remove_cgroup_parents();
        problems
    }
}
