//! `wotemu doctor`: what this host has and lacks for a run, each missing piece with what it affects and the
//! command that fixes it.
//!
//! Probes that need the kernel (veth, bridge, tbf, netem, NFQUEUE) run in a throwaway network namespace
//! (`wotemu_sys::netns::in_throwaway`): everything they create goes with it, even if the process dies.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Missing or failing, but runs work without it (another backend, an optional feature).
    Warn,
    /// Runs of the engine it belongs to cannot work.
    Missing,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `one host`, `gateway`, `apps`, `swarm` or `report`.
    pub area: &'static str,
    pub name: &'static str,
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What it affects when it is not ok.
    pub affects: &'static str,
    /// The command (or step) that fixes it.
    pub fix: &'static str,
}

fn check(
    area: &'static str,
    name: &'static str,
    ok: bool,
    bad: Status,
    found: String,
    affects: &'static str,
    fix: &'static str,
) -> Check {
    Check {
        area,
        name,
        status: if ok { Status::Ok } else { bad },
        found,
        affects,
        fix,
    }
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(cmd).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// What the kernel can do for a run: (veth, bridge, tbf, netem, nfqueue); `None` when no namespace could
/// be made (not root).
fn kernel_probes() -> Option<[bool; 5]> {
    wotemu_sys::netns::in_throwaway(|| {
        let ip = |args: &[&str]| run("ip", args).is_some();
        let veth = ip(&[
            "link", "add", "wtmd0", "type", "veth", "peer", "name", "wtmd1",
        ]);
        let bridge = ip(&["link", "add", "wtmdbr", "type", "bridge"]);
        ip(&["link", "set", "lo", "up"]);
        let tc = |qdisc: &[&str]| {
            let mut a = vec!["qdisc", "replace", "dev", "lo", "root"];
            a.extend_from_slice(qdisc);
            run("tc", &a).is_some()
        };
        let tbf = tc(&["tbf", "rate", "1mbit", "burst", "32kbit", "latency", "50ms"]);
        let netem = tc(&["netem", "delay", "1ms"]);
        let nfqueue = run(
            "iptables",
            &[
                "-t",
                "mangle",
                "-A",
                "OUTPUT",
                "-j",
                "NFQUEUE",
                "--queue-num",
                "7",
                "--queue-bypass",
            ],
        )
        .is_some();
        [veth, bridge, tbf, netem, nfqueue]
    })
}

/// The Python of the apps' venv, found as `wotemu run` finds it.
fn python_of(venv: Option<&Path>) -> Option<PathBuf> {
    venv.map(|v| v.join("bin/python")).filter(|p| p.exists())
}

/// Every check, for a run whose apps' venv is `venv` (as `wotemu run` would find it).
pub fn checks(venv: Option<&Path>, version: &str) -> Vec<Check> {
    use Status::{Missing, Warn};
    let mut out = Vec::new();
    let root = wotemu_sys::is_root();
    out.push(check(
        "one host",
        "root",
        root,
        Missing,
        if root {
            "running as root".into()
        } else {
            "not root".into()
        },
        "wotemu run (namespaces, cgroups, routes) and the kernel checks below",
        "run it with sudo",
    ));
    let ip = crate::host::which("ip");
    out.push(check(
        "one host",
        "iproute2 (ip, tc)",
        ip.is_some() && crate::host::which("tc").is_some(),
        Missing,
        ip.map_or("ip not found".into(), |p| p.display().to_string()),
        "wotemu run: namespaces, veths, bridges and qdiscs are made with ip and tc",
        "apt-get install iproute2",
    ));
    out.push(check(
        "one host",
        "iptables",
        crate::host::which("iptables").is_some(),
        Missing,
        crate::host::which("iptables").map_or("not found".into(), |p| p.display().to_string()),
        "node routing through the gateways (mangle marks) and the userspace shaper (NFQUEUE)",
        "apt-get install iptables",
    ));
    let probes = if root { kernel_probes() } else { None };
    let probe = |i: usize| probes.map(|p| p[i]);
    let said = |v: Option<bool>, yes: &str, no: &str| match v {
        Some(true) => yes.to_owned(),
        Some(false) => no.to_owned(),
        None => "not checked (needs root)".to_owned(),
    };
    out.push(check(
        "one host",
        "network namespaces",
        probes.is_some() || !root,
        Missing,
        if !root {
            "not checked (needs root)".into()
        } else if probes.is_some() {
            "a namespace could be made".into()
        } else {
            "unshare(CLONE_NEWNET) failed".into()
        },
        "wotemu run: one namespace per replica",
        "a kernel with CONFIG_NET_NS (every distribution kernel); in a container, run it --privileged",
    ));
    for (i, name, affects, fix) in [
        (
            0,
            "veth",
            "wotemu run: each replica's link to its networks",
            "modprobe veth",
        ),
        (
            1,
            "bridge",
            "wotemu run: one bridge per network",
            "modprobe bridge",
        ),
    ] {
        out.push(check(
            "one host",
            name,
            probe(i).unwrap_or(true),
            Missing,
            said(probe(i), "works", "cannot be created"),
            affects,
            fix,
        ));
    }
    let limits = crate::limits::Limits::read();
    out.push(check(
        "one host",
        "host limits at scale",
        limits.max_replicas() >= 1000,
        Warn,
        crate::limits::describe(&limits),
        "how many replicas one wotemu run holds (process ids, open files, the neighbour table, conntrack); a run beyond them is refused before anything is built, naming the limit and the value it needs",
        "raise the limit wotemu run names: sudo sysctl -w kernel.pid_max=… / net.ipv4.neigh.default.gc_thresh3=… / net.netfilter.nf_conntrack_max=…, or ulimit -Hn …",
    ));
    let netem = probe(3).unwrap_or_else(wotemu_gateway::kernel::has_netem);
    let nfqueue = probe(4);
    out.push(check(
        "gateway",
        "sch_netem and tbf (the kernel backend)",
        netem && probe(2).unwrap_or(true),
        Warn,
        format!(
            "netem: {}, tbf: {}",
            if netem { "yes" } else { "no" },
            said(probe(2), "yes", "no")
        ),
        "gateways use WoTemu 0.6's qdiscs when the kernel has them; without them they use wotemu's userspace shaper (same semantics)",
        "modprobe sch_netem sch_tbf (Debian: apt-get install linux-modules-extra-$(uname -r) where they are not built in)",
    ));
    out.push(check(
        "gateway",
        "NFQUEUE (the userspace backend)",
        nfqueue.unwrap_or(true),
        if netem { Warn } else { Missing },
        said(nfqueue, "works", "iptables -j NFQUEUE failed"),
        "gateways without sch_netem shape traffic in userspace through NFQUEUE",
        "modprobe nfnetlink_queue xt_NFQUEUE",
    ));
    out.push(Check {
        area: "gateway",
        name: "backend runs will use",
        status: if netem || nfqueue != Some(false) {
            Status::Ok
        } else {
            Missing
        },
        found: if netem {
            "kernel (netem + tbf), userspace for rate_up".into()
        } else {
            "userspace shaper (NFQUEUE): this kernel has no sch_netem".into()
        },
        affects: "how network conditions are applied (`wotemu fidelity` measures either)",
        fix: "nothing to do: either backend emulates the same conditions",
    });
    out.extend(cgroup_checks());
    out.extend(program_checks(venv));
    out.extend(docker_checks(version));
    by_area(out)
}

/// The cgroup controllers runs limit replicas with, and the bridge's netfilter.
fn cgroup_checks() -> Vec<Check> {
    use Status::{Missing, Warn};
    let mut out = Vec::new();
    let v2 = crate::cgroups::version() == crate::cgroups::Version::V2;
    let controllers: Vec<(&str, bool)> = if v2 {
        let list = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
        ["cpu", "memory"]
            .into_iter()
            .map(|c| (c, list.split_whitespace().any(|x| x == c)))
            // v2's freezer is part of the core (cgroup.freeze), not a controller.
            .chain([("freezer", true)])
            .collect()
    } else {
        ["cpu", "memory", "freezer"]
            .into_iter()
            .map(|c| (c, Path::new("/sys/fs/cgroup").join(c).exists()))
            .collect()
    };
    let missing: Vec<&str> = controllers
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(c, _)| *c)
        .collect();
    out.push(check(
        "one host",
        "cgroups",
        missing.is_empty(),
        Missing,
        format!(
            "{} with {}",
            if v2 { "v2" } else { "v1" },
            controllers
                .iter()
                .map(|(c, ok)| format!("{c} {}", if *ok { "✓" } else { "✗" }))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "CPU and memory limits, emulated CPU speed, per-replica CPU and memory samples",
        "enable the controllers (kernel command line cgroup_enable=memory; systemd: they are on by default)",
    ));
    out.push(check(
        "one host",
        "IPv6",
        Path::new("/proc/net/if_inet6").exists(),
        Warn,
        if Path::new("/proc/net/if_inet6").exists() {
            "available".into()
        } else {
            "disabled".into()
        },
        "nothing of wotemu (its networks are IPv4); only apps that use IPv6 themselves",
        "boot without ipv6.disable=1",
    ));
    let brnf = Path::new("/proc/sys/net/bridge").exists();
    out.push(check(
        "one host",
        "br_netfilter",
        true,
        Warn,
        if brnf {
            "loaded: runs turn bridge-nf-call-* off in their own namespace".into()
        } else {
            "not loaded: bridged frames skip iptables".into()
        },
        "nothing: either way bridged replica traffic is not filtered by the host's iptables",
        "nothing to do",
    ));
    out
}

/// The programs a run starts: Redis, Mosquitto, the apps' Python with WoTPy, sysbench, Chromium.
fn program_checks(venv: Option<&Path>) -> Vec<Check> {
    use Status::{Missing, Warn};
    let mut out = Vec::new();
    let redis = crate::host::which("redis-server");
    out.push(check(
        "one host",
        "redis-server",
        redis.is_some(),
        Missing,
        redis.map_or("not found".into(), |p| p.display().to_string()),
        "wotemu run starts a Redis of its own (unless --redis-url); tests use it too",
        "apt-get install redis-server",
    ));
    let mosquitto = crate::host::which("mosquitto");
    out.push(check(
        "one host",
        "mosquitto",
        mosquitto.is_some(),
        Warn,
        mosquitto.map_or("not found".into(), |p| p.display().to_string()),
        "topologies with MQTT brokers",
        "apt-get install mosquitto",
    ));
    let python = python_of(venv);
    let wotpy = python.as_ref().and_then(|p| {
        run(
            &p.to_string_lossy(),
            &[
                "-c",
                "import importlib.metadata as m, sys, wotpy; print(m.version('wotpy') + ', Python ' + sys.version.split()[0])",
            ],
        )
    });
    out.push(check(
        "apps",
        "Python with WoTPy",
        wotpy.is_some(),
        Missing,
        match (&python, &wotpy) {
            (None, _) if venv.is_some() => format!(
                "{} has no bin/python",
                venv.map(Path::display).map(|d| d.to_string()).unwrap_or_default()
            ),
            (None, _) => "no venv found (WOTEMU_VENV, VIRTUAL_ENV, the checkout's .venv, ./.venv, ~/.local/share/wotemu/venv)".into(),
            (Some(p), None) => format!("{} cannot import wotpy", p.display()),
            (Some(p), Some(v)) => format!("{} (WoTPy {v})", p.display()),
        },
        "every app: agents run them in this Python",
        "wotemu venv --create (an installed wotemu: ~/.local/share/wotemu/venv); in a checkout, scripts/setup.sh (.venv)",
    ));
    let sysbench = crate::host::which("sysbench");
    out.push(check(
        "apps",
        "sysbench",
        sysbench.is_some(),
        Warn,
        sysbench.map_or("not found".into(), |p| p.display().to_string()),
        "checking emulated CPU speed (`target_cpu_speed`) by hand; wotemu measures with its own copy of the test",
        "apt-get install sysbench",
    ));
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|c| crate::host::which(c));
    out.push(check(
        "report",
        "Chromium",
        chromium.is_some(),
        Warn,
        chromium.map_or("not found".into(), |p| p.display().to_string()),
        "only the tests that open reports in a headless browser; reports themselves need none",
        "apt-get install chromium",
    ));
    out
}

/// Docker, swarm mode and the images a stack runs.
fn docker_checks(version: &str) -> Vec<Check> {
    use Status::Warn;
    let mut out = Vec::new();
    let docker = run("docker", &["version", "--format", "{{.Server.Version}}"]);
    out.push(check(
        "swarm",
        "Docker engine",
        docker.is_some(),
        Warn,
        docker
            .clone()
            .map_or("not reachable (docker version)".into(), |v| {
                format!("engine {v}")
            }),
        "the Swarm path (wotemu compose → docker stack deploy); one-host runs do not need Docker",
        "apt-get install docker.io && systemctl start docker",
    ));
    let compose = run("docker", &["compose", "version", "--short"])
        .or_else(|| run("docker-compose", &["version", "--short"]));
    out.push(check(
        "swarm",
        "docker compose",
        compose.is_some(),
        Warn,
        compose.map_or("not found".into(), |v| format!("compose {v}")),
        "checking compose files by hand (docker stack deploy does not need it)",
        "apt-get install docker-compose",
    ));
    let (state, manager) = if docker.is_some() {
        (
            run("docker", &["info", "--format", "{{.Swarm.LocalNodeState}}"]).unwrap_or_default(),
            run(
                "docker",
                &["info", "--format", "{{.Swarm.ControlAvailable}}"],
            )
            .as_deref()
                == Some("true"),
        )
    } else {
        (String::new(), false)
    };
    out.push(check(
        "swarm",
        "Swarm manager",
        manager,
        Warn,
        if docker.is_none() {
            "no engine".into()
        } else if manager {
            format!("swarm {state}, this node is a manager")
        } else {
            format!(
                "swarm {}",
                if state.is_empty() { "unknown" } else { &state }
            )
        },
        "docker stack deploy, wotemu stop --stack and wotemu sweep --swarm run on a manager",
        "docker swarm init (or join this node as a manager)",
    ));
    let image = format!("wotemu/wotemu:{version}");
    let has_image = docker.is_some()
        && run(
            "docker",
            &["image", "inspect", "--format", "{{.Id}}", &image],
        )
        .is_some();
    out.push(check(
        "swarm",
        "wotemu images",
        has_image,
        Warn,
        if has_image {
            format!("{image} present")
        } else {
            format!("{image} not on this engine")
        },
        "every service of a stack runs them (each Swarm node needs them)",
        "docker/build.sh (see docker/README.md; push them to a registry for several hosts)",
    ));
    out
}

/// The checks grouped by area, in the order people read them.
fn by_area(mut checks: Vec<Check>) -> Vec<Check> {
    let rank = |a: &str| {
        ["one host", "gateway", "apps", "report", "swarm"]
            .iter()
            .position(|x| *x == a)
    };
    checks.sort_by_key(|c| rank(c.area));
    checks
}

/// Whether every check that one-host runs need passed.
/// `wotemu doctor` for people: the checks by area, what each missing piece affects and its fix, and whether
/// this host can run `wotemu run`.
pub fn describe(checks: &[Check]) -> String {
    let mut text = String::new();
    let mut area = "";
    for c in checks {
        if c.area != area {
            area = c.area;
            text.push_str(&format!("\n{area}\n"));
        }
        let mark = match c.status {
            Status::Ok => "ok     ",
            Status::Warn => "warn   ",
            Status::Missing => "MISSING",
        };
        text.push_str(&format!("  {mark} {:<40} {}\n", c.name, c.found));
        if c.status != Status::Ok {
            text.push_str(&format!(
                "          affects: {}\n          fix: {}\n",
                c.affects, c.fix
            ));
        }
    }
    text.push_str(if ready_for_runs(checks) {
        "\nThis host can run `wotemu run`.\n"
    } else {
        "\nThis host cannot run `wotemu run` yet: fix what is MISSING above.\n"
    });
    text
}

pub fn ready_for_runs(checks: &[Check]) -> bool {
    !checks
        .iter()
        .any(|c| c.status == Status::Missing && matches!(c.area, "one host" | "gateway" | "apps"))
}
