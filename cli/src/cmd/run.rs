//! `wotemu run` and `wotemu clean`: a whole emulation on this host, with network namespaces.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wotemu_collector::{CollectOptions, Progress};
use wotemu_contract::keys::StackKeys;
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_reporter::{Report, ReportOptions};
use wotemu_topology::model::{AppSource, Topology};

use crate::cli::{CleanArgs, PsArgs, RunArgs, StopArgs};
use crate::lab::{self, State};
use crate::output::{self, Bar};

/// A replica (or broker) of the run.
struct Replica {
    task: String,
    node: String,
    ns: String,
    /// (network, interface name inside, address).
    links: Vec<(String, String, String)>,
    cgroups: Vec<PathBuf>,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    child: Option<Child>,
    restarts: u32,
    broker: bool,
    started: Instant,
}

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let ms = wotemu_topology::units::parse_duration_ms(s)
        .or_else(|_| {
            s.trim()
                .parse::<f64>()
                .map(|v| v * 1000.0)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            anyhow::anyhow!("--duration {s:?} is not a duration ({e}); write e.g. 60s, 2m or 90")
        })?;
    Ok(Duration::from_millis(ms as u64))
}

fn ifname(net: &str, k: usize) -> String {
    let ok = !net.is_empty()
        && net.len() <= 15
        && net
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && net != "lo";
    if ok {
        net.to_owned()
    } else {
        format!("net{k}")
    }
}

fn venv() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("WOTEMU_VENV").or_else(|| std::env::var_os("VIRTUAL_ENV")) {
        return Some(PathBuf::from(v));
    }
    // A checkout: target/<profile>/wotemu → <repo>/.venv; else ./.venv.
    let exe = std::env::current_exe().ok()?;
    for dir in exe.ancestors().skip(1).take(4) {
        if dir.join(".venv/bin/python").exists() {
            return Some(dir.join(".venv"));
        }
    }
    Path::new(".venv/bin/python")
        .exists()
        .then(|| PathBuf::from(".venv"))
}

fn stack_name(topology: &Topology, file: &Path) -> String {
    let raw = topology.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wotemu".into())
    });
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s.trim_matches('_').to_owned()
}

/// Blocks SIGINT/SIGTERM here and returns a channel that receives them.
pub(crate) fn signals() -> mpsc::Receiver<i32> {
    // SAFETY: sigset manipulation on a local set; the mask is inherited by threads started afterwards.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: sigwait on the blocked set.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 && tx.send(sig).is_err() {
            return;
        }
    });
    rx
}

/// Starts `program` inside the replica's network namespace, with its own hostname (the task name) and its
/// own `/etc/hosts` (`/etc/netns/<ns>/hosts`, as `ip netns exec` would show it), in its cgroups. Unlike
/// `ip netns exec`, /sys is left as it is, so the agent reads its cgroup under /sys/fs/cgroup.
fn spawn_in(
    ns: &str,
    hostname: &str,
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    cgroups: &[PathBuf],
    log: &Path,
) -> anyhow::Result<Child> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;

    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let netns = std::fs::File::open(Path::new("/run/netns").join(ns))
        .with_context(|| format!("opening the network namespace {ns}"))?;
    let hosts = Path::new("/etc/netns").join(ns).join("hosts");
    let hosts_src = CString::new(hosts.to_string_lossy().as_bytes())?;
    let hosts_dst = CString::new("/etc/hosts")?;
    let root = CString::new("/")?;
    let host = hostname.as_bytes().to_vec();
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env);
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let procs: Vec<PathBuf> = cgroups.iter().map(|d| d.join("cgroup.procs")).collect();
    let fd = netns.as_raw_fd();
    // SAFETY: between fork and exec only system calls and writes to already-opened paths; every buffer was
    // prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for p in &procs {
                std::fs::write(p, b"0")?;
            }
            let check = |r: libc::c_int| {
                if r == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            check(libc::setns(fd, libc::CLONE_NEWNET))?;
            check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS))?;
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                hosts_src.as_ptr(),
                hosts_dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            check(libc::sethostname(host.as_ptr().cast(), host.len()))?;
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    cmd.process_group(0);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {} in {ns}", program.display()))?;
    drop(netns);
    Ok(child)
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("wotemu run needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces and cgroups; run it with sudo");
    }
    let duration = parse_duration(&args.duration)?;
    let loaded = super::load_topology(&args.topology)?;
    let t = &loaded.topology;
    let topo_dir = args
        .topology
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let stack = stack_name(t, &args.topology);
    if !t.services.is_empty() {
        let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
        output::warn(&format!(
            "linked services ({}) are Docker containers: they run in the Swarm stack (`wotemu compose`), not in `wotemu run`, which leaves them out",
            names.join(", ")
        ));
    }
    let run_id = {
        let mut seed = now_us() as u64 ^ (u64::from(std::process::id()) * 2_654_435_761);
        loop {
            let id = format!("{:04x}", seed & 0xffff);
            if !Path::new(lab::STATE_ROOT).join(&id).exists()
                && !Path::new("/run/netns").join(format!("wtm-{id}")).exists()
            {
                break id;
            }
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) >> 7;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let ts = us_to_rfc3339(now_us())
            .replace([':', '-'], "")
            .chars()
            .take(15)
            .collect::<String>();
        PathBuf::from("runs").join(format!("{stack}-{ts}"))
    });
    if out.join("manifest.json").exists() {
        bail!(
            "{} already holds a run dataset; choose another --out or remove it",
            out.display()
        );
    }
    if args.detach {
        return detach(&out);
    }
    let exe = std::env::current_exe().context("locating the wotemu binary")?;
    let venv = venv();
    if venv.is_none() {
        output::warn("no Python venv with WoTPy found (set WOTEMU_VENV or run scripts/setup.sh); apps may not load");
    }
    let sigs = signals();
    let mut state = State {
        run_id: run_id.clone(),
        stack: stack.clone(),
        pid: std::process::id(),
        run_dir: std::path::absolute(&out).unwrap_or(out.clone()),
        ..Default::default()
    };
    state
        .save()
        .context("writing the run's state under /run/wotemu")?;
    let result = run_lab(
        &args,
        t,
        &loaded.text,
        &topo_dir,
        &stack,
        &mut state,
        &exe,
        venv.as_deref(),
        duration,
        &sigs,
        &out,
    );
    let problems = if args.keep {
        output::say(&format!(
            "Kept the lab of run {run_id} (--keep); remove it with `wotemu clean`"
        ));
        Vec::new()
    } else {
        state.teardown()
    };
    for p in &problems {
        output::warn(&format!("clean-up: {p}; run `wotemu clean`"));
    }
    result.map(|()| ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn run_lab(
    args: &RunArgs,
    t: &Topology,
    topology_text: &str,
    topo_dir: &Path,
    stack: &str,
    state: &mut State,
    exe: &Path,
    venv: Option<&Path>,
    duration: Duration,
    sigs: &mpsc::Receiver<i32>,
    out: &Path,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let run_id = state.run_id.clone();
    let logs = state.dir().join("logs");
    std::fs::create_dir_all(&logs)?;

    // Redis, unless one is given: on a unix socket every namespace can reach (they share the filesystem).
    let redis_url = match &args.redis_url {
        Some(u) => u.clone(),
        None => {
            let sock = state.dir().join("redis.sock");
            let child = Command::new("redis-server")
                .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocketperm", "777"])
                .arg("--unixsocket")
                .arg(&sock)
                .arg("--dir")
                .arg(state.dir())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .context("starting redis-server (install it: apt-get install redis-server, or scripts/setup.sh)")?;
            state.pids.push(child.id());
            state.save()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !sock.exists() {
                if Instant::now() > deadline {
                    bail!("redis-server did not create its socket {}", sock.display());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            format!("unix://{}", sock.display())
        }
    };
    let mut conn = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match redis::Client::open(redis_url.as_str()).and_then(|c| c.get_connection()) {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => {
                    return Err(e).context("connecting to Redis")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    };
    let keys = StackKeys::new(stack);
    let _: () = redis::pipe()
        .cmd("SET")
        .arg(keys.topology())
        .arg(topology_text)
        .ignore()
        .cmd("HSET")
        .arg(keys.meta())
        .arg("stack")
        .arg(stack)
        .arg("started_at")
        .arg(us_to_rfc3339(now_us()))
        .arg("wotemu_version")
        .arg(env!("CARGO_PKG_VERSION"))
        .arg("engine")
        .arg("netns")
        .ignore()
        .query(&mut conn)
        .context("writing the run's metadata into Redis")?;

    // Networks: the lab namespace and a bridge per network.
    let lab = state.lab_ns();
    state.add_ns(&lab)?;
    let nets: BTreeMap<&str, usize> = t
        .networks
        .iter()
        .enumerate()
        .map(|(k, n)| (n.name.as_str(), k))
        .collect();
    for k in nets.values() {
        lab::ip(&[
            "-n",
            &lab,
            "link",
            "add",
            &format!("br{k}"),
            "type",
            "bridge",
        ])?;
        lab::ip(&["-n", &lab, "link", "set", &format!("br{k}"), "up"])?;
    }
    state.bridge_netfilter_off();
    // A gateway per network (namespace `wtm-R-g<k>`, address 10.77.k.1, `gw_<net>` as in the Swarm stack)
    // running `wotemu gateway` with the network's conditions; nodes route their WoT traffic through it.
    let p = t.ports;
    let service_ports = [p.http, p.ws, p.mqtt, p.catalogue, p.coap]
        .map(|x| x.to_string())
        .join(",");
    let mut gateways: Vec<(String, Child, PathBuf, PathBuf)> = Vec::new();
    for n in &t.networks {
        let k = nets[n.name.as_str()];
        let ns = format!("wtm-{run_id}-g{k}");
        state.add_ns(&ns)?;
        let inside = ifname(&n.name, k);
        let peer = format!("g{k}");
        lab::plug(
            &lab,
            &format!("br{k}"),
            &peer,
            &ns,
            &inside,
            &format!("10.77.{k}.1/24"),
        )?;
        let ready = state.dir().join(format!("gw-{k}.ready"));
        let stats = state.dir().join(format!("gw-{k}.json"));
        let log = std::fs::File::create(logs.join(format!("gw_{}.log", n.name)))?;
        let spec = wotemu_topology::compose::gateway_conditions(n);
        if let Ok(sp) = wotemu_gateway::Spec::from_json(&spec) {
            let (b, why) = wotemu_gateway::Backend::choose(&sp);
            output::say(&format!(
                "Network {}: {} ({why}).",
                n.name,
                match b {
                    wotemu_gateway::Backend::Kernel => "kernel netem + tbf",
                    wotemu_gateway::Backend::Userspace => "userspace shaper",
                }
            ));
        }
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(exe)
            .args(["-q", "gateway", "--network", &n.name, "--conditions", &spec])
            .args(["--ports", &service_ports])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--stats-file")
            .arg(&stats)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting a gateway")?;
        state.pids.push(child.id());
        state.save()?;
        gateways.push((n.name.clone(), child, ready, stats));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for (name, child, ready, _) in gateways.iter_mut() {
        while !ready.exists() {
            if let Some(st) = child.try_wait()? {
                bail!(
                    "the gateway of network {name} exited ({st}); its log: {}",
                    logs.join(format!("gw_{name}.log")).display()
                );
            }
            if Instant::now() > deadline {
                bail!("the gateway of network {name} was not ready after 15 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // Replicas and brokers.
    let mut replicas: Vec<Replica> = Vec::new();
    // (network, address, names)
    let mut hosts: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut index = 0usize;
    let mut per_net_count: BTreeMap<String, usize> = BTreeMap::new();
    let mut peer = 0usize;
    let mut add_replica = |node: &str,
                           slot: u32,
                           networks: &[String],
                           broker: bool,
                           replicas: &mut Vec<Replica>,
                           state: &mut State|
     -> anyhow::Result<()> {
        let ns = format!("wtm-{run_id}-{index}");
        index += 1;
        state.add_ns_ipv6(&ns, true)?;
        let task = format!("{stack}_{node}.{slot}.{run_id}");
        let mut links = Vec::new();
        for net in networks {
            let k = nets[net.as_str()];
            let i = per_net_count.entry(net.clone()).or_insert(0);
            *i += 1;
            let addr = format!("10.77.{k}.{}", *i + 1);
            let inside = ifname(net, k);
            let p = format!("p{peer}");
            peer += 1;
            lab::plug(
                &lab,
                &format!("br{k}"),
                &p,
                &ns,
                &inside,
                &format!("{addr}/24"),
            )?;
            hosts.push((
                net.clone(),
                addr.clone(),
                vec![format!("{node}.{net}"), node.to_owned(), task.clone()],
            ));
            links.push((net.clone(), inside, addr));
        }
        replicas.push(Replica {
            task,
            node: node.to_owned(),
            ns,
            links,
            cgroups: Vec::new(),
            args: Vec::new(),
            env: BTreeMap::new(),
            child: None,
            restarts: 0,
            broker,
            started: Instant::now(),
        });
        Ok(())
    };
    for b in &t.brokers {
        add_replica(&b.name, 1, &b.networks, true, &mut replicas, state)?;
    }
    for n in &t.nodes {
        for slot in 1..=n.scale {
            add_replica(
                &n.name,
                slot,
                &n.all_networks(),
                false,
                &mut replicas,
                state,
            )?;
        }
    }
    // Routes: each replica's WoT traffic in each of its networks goes through that network's gateway.
    for r in &replicas {
        for (j, (net, _, _)) in r.links.iter().enumerate() {
            let k = nets[net.as_str()];
            let route = wotemu_gateway::route::Route {
                subnet: format!("10.77.{k}.0/24"),
                gateway: format!("10.77.{k}.1"),
                index: j as u8,
                tcp_ports: vec![p.http, p.ws, p.mqtt, p.catalogue],
                udp_ports: vec![p.coap],
            };
            wotemu_gateway::probe::in_netns(&r.ns, move || wotemu_gateway::route::install(&route))
                .join()
                .map_err(|_| anyhow::anyhow!("the routing thread panicked"))?
                .with_context(|| format!("routing {} through the gateway of {net}", r.task))?;
        }
    }
    for n in &t.networks {
        let k = nets[n.name.as_str()];
        hosts.push((n.name.clone(), format!("10.77.{k}.1"), vec![n.gateway()]));
    }
    // Names, as in the Swarm stack. A node on several networks has an address on each; as Docker's DNS does,
    // each replica resolves a name to an address on a network it shares (those lines come first), so the
    // hostnames in things' descriptions are reachable from every replica that can reach the node at all.
    for r in &replicas {
        let mine: Vec<&str> = r.links.iter().map(|l| l.0.as_str()).collect();
        let mut lines: Vec<&(String, String, Vec<String>)> = hosts.iter().collect();
        lines.sort_by_key(|(net, _, _)| !mine.contains(&net.as_str()));
        let text: String = std::iter::once("127.0.0.1 localhost\n".to_owned())
            .chain(
                lines
                    .iter()
                    .map(|(_, a, names)| format!("{a} {}\n", names.join(" "))),
            )
            .collect();
        let dir = Path::new("/etc/netns").join(&r.ns);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("hosts"), text)?;
        std::fs::write(dir.join("hostname"), format!("{}\n", r.task))?;
    }

    // Commands, environments and cgroups.
    for r in replicas.iter_mut() {
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("WOTEMU_STACK", stack.to_owned()),
            ("WOTEMU_TASK", r.task.clone()),
            ("WOTEMU_NODE", r.node.clone()),
            ("SERVICE_NAME", format!("{stack}_{}", r.node)),
            ("REDIS_URL", redis_url.clone()),
            ("PORT_CATALOGUE", p.catalogue.to_string()),
            ("PORT_HTTP", p.http.to_string()),
            ("PORT_WS", p.ws.to_string()),
            ("PORT_COAP", p.coap.to_string()),
            ("PORT_MQTT", p.mqtt.to_string()),
            (
                "WOTEMU_NETWORKS",
                r.links
                    .iter()
                    .map(|l| l.0.clone())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "WOTEMU_SPOOL_DIR",
                state.dir().join("spool").to_string_lossy().into_owned(),
            ),
            ("HOSTNAME", r.task.clone()),
        ] {
            env.insert(k.to_owned(), v);
        }
        // Things' forms carry the replica's hostname (its task name), which every replica resolves to an
        // address it can reach.
        env.insert("WOTEMU_SERVIENT_HOST".into(), r.task.clone());
        if let Some(v) = venv {
            env.insert("WOTEMU_VENV".into(), v.to_string_lossy().into_owned());
        }
        if r.broker {
            let conf = state.dir().join(format!("mosquitto-{}.conf", r.node));
            std::fs::write(
                &conf,
                format!("listener {} 0.0.0.0\nallow_anonymous true\n", p.mqtt),
            )?;
            r.args = vec!["-c".into(), conf.to_string_lossy().into_owned()];
            continue;
        }
        let node = t.nodes.iter().find(|n| n.name == r.node).expect("a node");
        if let Some(host) = node.broker_host() {
            env.insert("MQTT_BROKER_HOST".into(), host);
        }
        let app = match &node.app.source {
            AppSource::File(f) if Path::new(f).is_relative() => {
                std::path::absolute(topo_dir.join(f))
                    .unwrap_or_else(|_| topo_dir.join(f))
                    .to_string_lossy()
                    .into_owned()
            }
            other => other.path(),
        };
        let mut a = node.app.agent_args(app);
        for l in &r.links {
            a.extend(["--capture-iface".into(), l.1.clone()]);
        }
        r.args = a;
        r.env = env;
        let cpus = node.resources.cpu_limit.as_ref().map(|c| c.value);
        let mem = node.resources.mem_limit.as_ref().map(|m| m.bytes);
        r.cgroups = lab::make_cgroups(state, &r.task, cpus, mem)?;
    }

    // Register every replica now: a replica stopped before its agent registers itself still shows in the
    // dataset (state unknown), and a run stopped at once still has a stack to collect. Agents overwrite it.
    for r in replicas.iter().filter(|r| !r.broker) {
        register(&mut conn, &keys, stack, r)?;
    }

    // Start: brokers first, then the nodes.
    let mosquitto = which("mosquitto");
    for r in replicas.iter_mut() {
        let log = logs.join(format!("{}.log", r.task));
        let child = if r.broker {
            let Some(m) = &mosquitto else {
                bail!("the topology has brokers but mosquitto is not installed (apt-get install mosquitto, or scripts/setup.sh)");
            };
            spawn_in(&r.ns, &r.task, m, &r.args, &r.env, &[], &log)?
        } else {
            spawn_in(&r.ns, &r.task, exe, &r.args, &r.env, &r.cgroups, &log)?
        };
        state.pids.push(child.id());
        r.child = Some(child);
        r.started = Instant::now();
    }
    state.save()?;
    let nodes = replicas.iter().filter(|r| !r.broker).count();
    output::say(&format!(
        "Running {stack} (run {run_id}): {nodes} replicas on {} networks for {:?}; Ctrl-C stops early. Logs: {}",
        t.networks.len(), duration, logs.display()
    ));

    // Run: supervise (restart crashed apps), show status, stop on time or signal.
    let tty = std::io::stderr().is_terminal() && !output::quiet();
    let deadline = Instant::now() + duration;
    let mut stopped_by = None;
    let mut restarts = 0u32;
    // Live totals the agents keep (interactions, errors) and the rate over the last seconds.
    let mut rate_window: std::collections::VecDeque<(Instant, u64)> = Default::default();
    while Instant::now() < deadline {
        match sigs.recv_timeout(
            Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now())),
        ) {
            Ok(sig) => {
                stopped_by = Some(sig);
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        for r in replicas.iter_mut().filter(|r| !r.broker) {
            let exited = r.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                // Swarm's restart policy: start the replica again (a new task name per attempt), after a delay.
                if r.started.elapsed() < Duration::from_secs(1) {
                    continue;
                }
                r.restarts += 1;
                restarts += 1;
                let base = r
                    .task
                    .rsplit_once('.')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or(r.task.clone());
                r.task = format!("{base}.{run_id}r{}", r.restarts);
                r.env.insert("WOTEMU_TASK".into(), r.task.clone());
                r.env.insert("HOSTNAME".into(), r.task.clone());
                register(&mut conn, &keys, stack, r)?;
                output::warn(&format!(
                    "{} exited ({status}); restarting it as {}",
                    r.node, r.task
                ));
                let log = logs.join(format!("{}.log", r.task));
                let child = spawn_in(&r.ns, &r.task, exe, &r.args, &r.env, &r.cgroups, &log)?;
                state.pids.push(child.id());
                state.save()?;
                r.child = Some(child);
                r.started = Instant::now();
            }
        }
        if tty {
            let running = replicas
                .iter_mut()
                .filter(|r| !r.broker)
                .filter_map(|r| r.child.as_mut())
                .filter_map(|c| c.try_wait().ok())
                .filter(Option::is_none)
                .count();
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
            let (total, errors): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
                .arg(keys.live())
                .arg("interactions")
                .arg("errors")
                .query(&mut conn)
                .unwrap_or((None, None));
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
                (total - n0.min(total)) as f64 / now.duration_since(t0).as_secs_f64()
            } else {
                0.0
            };
            output::status(&format!(
                "{:>4.0}s left of {:.0}s · {running}/{nodes} replicas running · {total} interactions ({rate:.1}/s) · {} errors · {restarts} restarts",
                left,
                duration.as_secs_f64(),
                errors.unwrap_or(0)
            ));
        }
    }
    if tty {
        output::status_end();
    }
    if let Some(sig) = stopped_by {
        output::say(&format!("Stopping early (signal {sig})."));
    }

    // Stop gracefully: SIGTERM, then wait (SIGKILL after 15 s).
    let stop_started = Instant::now();
    for r in replicas.iter().filter(|r| !r.broker) {
        if let Some(c) = &r.child {
            // SAFETY: kill(2) of our own child (`ip netns exec` became the agent).
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
    }
    let kill_at = Instant::now() + Duration::from_secs(15);
    for r in replicas.iter_mut().filter(|r| !r.broker) {
        if let Some(c) = r.child.as_mut() {
            loop {
                if c.try_wait()?.is_some() {
                    break;
                }
                if Instant::now() > kill_at || sigs.try_recv().is_ok() {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // Restart counts into the snapshot (the agents wrote their own state).
    for r in replicas.iter().filter(|r| !r.broker && r.restarts > 0) {
        let _: redis::RedisResult<()> = redis::cmd("HSET")
            .arg(keys.meta())
            .arg(format!("restarts:{}", r.node))
            .arg(r.restarts)
            .query(&mut conn);
    }
    let _: () = redis::cmd("HSET")
        .arg(keys.meta())
        .arg("stopped_at")
        .arg(us_to_rfc3339(now_us()))
        .query(&mut conn)?;

    // Gateways: stop them so they write their final counters.
    for (_, child, _, _) in gateways.iter() {
        // SAFETY: kill(2) of our own child (`ip netns exec` became the gateway).
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    let gw_deadline = Instant::now() + Duration::from_secs(3);
    for (_, child, _, _) in gateways.iter_mut() {
        while child.try_wait()?.is_none() && Instant::now() < gw_deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let gateway_stats: BTreeMap<String, serde_json::Value> = gateways
        .iter()
        .filter_map(|(name, _, _, stats)| {
            let v = serde_json::from_slice(&std::fs::read(stats).ok()?).ok()?;
            Some((name.clone(), v))
        })
        .collect();

    // Collect and report.
    let bar = Bar::new();
    let opts = CollectOptions::new(&redis_url, stack, out);
    let summary = wotemu_collector::collect(&opts, &bar)
        .with_context(|| format!("collecting the run into {}", out.display()))?;
    bar.finish();
    let _ = summary;
    // What each gateway did (backend, packets forwarded, lost, dropped, timing), beside the dataset.
    std::fs::write(
        out.join("gateways.json"),
        serde_json::to_vec_pretty(&gateway_stats)?,
    )
    .context("writing gateways.json")?;
    let site = out.join("site");
    if !args.no_report {
        let report =
            Report::load(ReportOptions::new(out, &site)).context("reading the run dataset")?;
        report
            .render()
            .with_context(|| format!("writing the report into {}", site.display()))?;
    }
    output::say(&format!(
        "Done in {:.1} s (stop, collect and report: {:.1} s).\n  dataset: {}\n  report:  {}",
        started.elapsed().as_secs_f64(),
        stop_started.elapsed().as_secs_f64(),
        out.display(),
        if args.no_report {
            "(--no-report)".to_owned()
        } else {
            site.join("index.html").display().to_string()
        }
    ));
    Ok(())
}

/// Writes a replica's entry of the task registry (what the runner knows; the agent adds its facts).
fn register(
    conn: &mut redis::Connection,
    keys: &StackKeys,
    stack: &str,
    r: &Replica,
) -> anyhow::Result<()> {
    let name = wotemu_contract::task::TaskName::parse(&r.task);
    let info = wotemu_contract::task::TaskInfo {
        task: r.task.clone(),
        node: r.node.clone(),
        service: format!("{stack}_{}", r.node),
        slot: name.slot,
        hostname: Some(r.task.clone()),
        networks: r.links.iter().map(|l| l.0.clone()).collect(),
        ip_addresses: r.links.iter().map(|l| l.2.clone()).collect(),
        started_at: Some(us_to_rfc3339(now_us())),
        ..Default::default()
    };
    let _: () = redis::cmd("HSET")
        .arg(keys.tasks())
        .arg(&r.task)
        .arg(serde_json::to_string(&info)?)
        .query(conn)
        .with_context(|| format!("registering task {} in Redis", r.task))?;
    Ok(())
}

/// Starts this same command in the background (its own session), with an explicit --out, and returns.
fn detach(out: &Path) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the wotemu binary")?;
    let mut argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "-D" && a != "--detach")
        .collect();
    if !argv
        .iter()
        .any(|a| a == "--out" || a == "-o" || a.starts_with("--out="))
    {
        argv.extend(["--out".into(), out.to_string_lossy().into_owned()]);
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let log_path = out.with_extension("log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.args(&argv)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("WOTEMU_COLOR", "never");
    // SAFETY: setsid(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting the run in the background")?;
    output::say(&format!(
        "Started in the background (pid {}).\n  log:  {}\n  stop: wotemu stop --run {}",
        child.id(),
        log_path.display(),
        out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn ps(args: PsArgs) -> anyhow::Result<ExitCode> {
    let runs = lab::runs();
    if args.json {
        let v: Vec<_> = runs
            .iter()
            .map(|(s, alive)| serde_json::json!({"run_id": s.run_id, "stack": s.stack, "pid": s.pid, "running": alive, "run_dir": s.run_dir, "namespaces": s.namespaces.len()}))
            .collect();
        output::json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        output::say("No runs.");
    }
    for (s, alive) in &runs {
        output::say(&format!(
            "{}  {:<20} {:<8} pid {:<8} {} namespaces  {}",
            s.run_id,
            s.stack,
            if *alive {
                "running"
            } else {
                "LEFT (wotemu clean)"
            },
            s.pid,
            s.namespaces.len(),
            s.run_dir.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stop(args: StopArgs) -> anyhow::Result<ExitCode> {
    let Some(run) = args.run else {
        if args.stack.is_some() {
            return super::swarm::stop(args);
        }
        bail!("say what to stop: --run RUN_DIR (a `wotemu run -D`, see `wotemu ps`) or --compose-file FILE --stack NAME (a Swarm stack)");
    };
    let want = std::path::absolute(&run).unwrap_or(run.clone());
    let Some((s, alive)) = lab::runs().into_iter().find(|(s, _)| s.run_dir == want) else {
        bail!("no run writes to {} (see `wotemu ps`)", run.display());
    };
    if !alive {
        bail!(
            "the run {} is not running any more; `wotemu clean` removes what it left",
            s.run_id
        );
    }
    // SAFETY: kill(2) of the run's own process, as Ctrl-C would.
    unsafe { libc::kill(s.pid as i32, libc::SIGINT) };
    output::say(&format!(
        "Stopping run {} ({}); collecting and reporting…",
        s.run_id, s.stack
    ));
    let deadline = Instant::now() + Duration::from_secs(600);
    while Path::new(&format!("/proc/{}", s.pid)).exists() {
        if Instant::now() > deadline {
            bail!("the run {} did not end within 10 minutes", s.run_id);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !s.run_dir.join("manifest.json").exists() {
        bail!(
            "the run {} ended without writing its dataset to {}; its output is in {}",
            s.run_id,
            s.run_dir.display(),
            s.run_dir.with_extension("log").display()
        );
    }
    output::say(&format!(
        "Stopped. Dataset: {}; report: {}",
        s.run_dir.display(),
        s.run_dir.join("site/index.html").display()
    ));
    Ok(ExitCode::SUCCESS)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

pub(crate) fn clean(args: CleanArgs) -> anyhow::Result<ExitCode> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("wotemu clean needs root, as wotemu run does");
    }
    let mut removed = 0;
    let mut known = Vec::new();
    let mut problems = Vec::new();
    for (s, alive) in lab::runs() {
        known.push(s.lab_ns());
        if alive && !args.force {
            output::say(&format!(
                "run {} ({}) is still running (pid {}); stop it with Ctrl-C, or use --force",
                s.run_id, s.stack, s.pid
            ));
            continue;
        }
        problems.extend(s.teardown());
        removed += 1;
        output::say(&format!("removed run {} ({})", s.run_id, s.stack));
    }
    for ns in lab::orphan_namespaces(&known) {
        let _ = lab::ip(&["netns", "del", &ns]);
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&ns));
        output::say(&format!("removed orphan namespace {ns}"));
        removed += 1;
    }
    lab::remove_cgroup_parents();
    for what in wotemu_gateway::cleanup::clean_orphans() {
        output::say(&format!("removed the {what}"));
        removed += 1;
    }
    for p in &problems {
        output::warn(p);
    }
    if removed == 0 {
        output::say("Nothing to clean.");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
