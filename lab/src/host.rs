//! What the runner does to the host: network namespaces, bridges and veths, cgroups with limits, and
//! processes started inside a replica's namespaces. Every creation is recorded in the run's clean-up record
//! first ([`wotemu_sys::cleanup`]).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use wotemu_sys::cleanup::{Item, Record};
use wotemu_sys::cmd::{ip, run, run_with_input};
use wotemu_sys::netns::ReplicaEntry;

use crate::Error;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Records an item before creating it (a record that cannot grow stops the run: nothing may be left
/// untracked).
pub(crate) fn record(rec: &mut Record, item: Item) -> Result<(), Error> {
    rec.push(item)
        .map_err(io("writing the run's clean-up record"))
}

/// Creates a network namespace without IPv6 (the lab's, a gateway's, the fidelity check's; replicas' are
/// made by [`build_replica_networks`], with IPv6).
pub(crate) fn add_namespace(rec: &mut Record, name: &str) -> Result<(), Error> {
    record(
        rec,
        Item::Namespace {
            name: name.to_owned(),
        },
    )?;
    ip(&["netns", "add", name])?;
    ip(&["-n", name, "link", "set", "lo", "up"])?;
    let args = [
        "netns",
        "exec",
        name,
        "sysctl",
        "-q",
        "-w",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ];
    if let Err(e) = run("ip", &args) {
        // A kernel without IPv6 has none of these; the namespace works without them.
        tracing::debug!(ns = name, error = %e, "Could not set the IPv6 sysctls.");
    }
    Ok(())
}

/// The IPv6 settings of a replica's namespace: its interfaces get IPv6 link-local addresses (apps that bind
/// `::`, such as CoAP's, need one) but send no router solicitations and skip duplicate address detection, so
/// that the emulated traffic stays the apps'. Written by a thread inside the namespace.
const REPLICA_IPV6: [&str; 4] = [
    "ipv6/conf/default/accept_ra",
    "ipv6/conf/default/router_solicitations",
    "ipv6/conf/default/dad_transmits",
    "ipv6/conf/all/accept_ra",
];

/// Builds the network side of a run's replicas in a few processes, not a dozen per replica (100 replicas took
/// 2.7 s that way): every namespace is put in the clean-up record, then created with one `ip -batch`; a
/// thread in each writes its IPv6 settings ([`REPLICA_IPV6`]); one `ip -batch` in the lab
/// namespace makes every veth pair and puts it on its bridge; then in each namespace one `ip -batch` brings up
/// the loopback and the links with their addresses and adds the routing's rules and tables
/// ([`wotemu_gateway::route::fresh_ip_lines`]), and one `iptables-restore` its marks
/// ([`wotemu_gateway::route::install_fresh_rules`]).
pub(crate) fn build_replica_networks(
    rec: &mut Record,
    lab: &str,
    replicas: &[crate::plan::ReplicaPlan],
) -> Result<(), Error> {
    if replicas.is_empty() {
        return Ok(());
    }
    let mut add = String::new();
    for r in replicas {
        record(rec, Item::Namespace { name: r.ns.clone() })?;
        add.push_str(&format!("netns add {}\n", r.ns));
    }
    wotemu_sys::cmd::ip_batch(&add)?;
    let mut veths = String::new();
    for r in replicas {
        wotemu_sys::netns::run_in(&r.ns, || -> Result<(), Error> {
            for key in REPLICA_IPV6 {
                if let Err(e) = std::fs::write(Path::new("/proc/sys/net").join(key), "0") {
                    // A kernel without IPv6 has none of these; the namespace works without them.
                    tracing::debug!(ns = %r.ns, key, error = %e, "Could not set an IPv6 sysctl.");
                }
            }
            Ok(())
        })?;
        for l in &r.links {
            veths.push_str(&veth_lines(&l.peer, &l.ifname, &r.ns, &l.bridge));
        }
    }
    if !veths.is_empty() {
        ip_batch_in(lab, &veths)?;
    }
    for r in replicas {
        let mut lines = String::from("link set lo up\n");
        for l in &r.links {
            lines.push_str(&link_lines(
                &l.ifname,
                &format!("{}/{}", l.addr, l.prefix_len),
            ));
        }
        for route in &r.routes {
            lines.push_str(&wotemu_gateway::route::fresh_ip_lines(route));
        }
        wotemu_sys::netns::run_in(&r.ns, || -> Result<(), Error> {
            wotemu_sys::cmd::ip_batch(&lines)?;
            if !r.routes.is_empty() {
                wotemu_gateway::route::install_fresh_rules(&r.routes)?;
            }
            Ok(())
        })
        .map_err(|e| Error::Context {
            what: format!("setting up the network of {}", r.task),
            source: Box::new(e),
        })?;
    }
    Ok(())
}

/// Creates a bridge in the lab namespace; bridged frames skip iptables there (when br_netfilter is loaded,
/// as Docker does): the bridges only switch, shaping happens in the gateways.
pub(crate) fn add_bridge(lab: &str, bridge: &str) -> Result<(), Error> {
    ip(&["-n", lab, "link", "add", bridge, "type", "bridge"])?;
    ip(&["-n", lab, "link", "set", bridge, "up"])?;
    Ok(())
}

/// Turns off netfilter on the lab namespace's bridges (saves a netfilter pass per frame).
pub(crate) fn bridge_netfilter_off(lab: &str) {
    let r = run(
        "ip",
        &[
            "netns",
            "exec",
            lab,
            "sysctl",
            "-q",
            "-w",
            "net.bridge.bridge-nf-call-iptables=0",
            "net.bridge.bridge-nf-call-ip6tables=0",
            "net.bridge.bridge-nf-call-arptables=0",
        ],
    );
    if let Err(e) = r {
        // Without br_netfilter loaded these do not exist, and bridged frames skip iptables anyway.
        tracing::debug!(ns = lab, error = %e, "Bridge netfilter settings not applied.");
    }
}

/// `ip -batch` lines, for the lab namespace, of a veth pair: `peer` on `bridge` and up, `inside` moved into
/// `ns`.
fn veth_lines(peer: &str, inside: &str, ns: &str, bridge: &str) -> String {
    format!(
        "link add {peer} type veth peer name {inside} netns {ns}\nlink set {peer} master {bridge} up\n"
    )
}

/// `ip -batch` lines, for the namespace holding `dev`, giving it the address `cidr` and bringing it up.
fn link_lines(dev: &str, cidr: &str) -> String {
    format!("addr add {cidr} dev {dev}\nlink set {dev} up\n")
}

/// Runs `ip -n <ns> -batch -` with `lines`.
fn ip_batch_in(ns: &str, lines: &str) -> Result<(), Error> {
    run_with_input("ip", &["-n", ns, "-batch", "-"], Some(lines))?;
    Ok(())
}

/// Plugs namespace `ns` into `bridge` of the lab namespace `lab`: a veth pair, `peer` on the bridge and
/// `inside` in `ns` with the address `cidr`, both up.
pub(crate) fn plug(
    lab: &str,
    bridge: &str,
    peer: &str,
    ns: &str,
    inside: &str,
    cidr: &str,
) -> Result<(), Error> {
    ip_batch_in(lab, &veth_lines(peer, inside, ns, bridge))?;
    ip_batch_in(ns, &link_lines(inside, cidr))
}

/// Writes a namespace's `/etc/netns/<ns>/hosts` and `hostname` (what processes inside see as `/etc/...`).
pub(crate) fn write_etc(ns: &str, hosts: &str, hostname: &str) -> Result<(), Error> {
    let dir = Path::new("/etc/netns").join(ns);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    std::fs::write(dir.join("hosts"), hosts)
        .map_err(io(format!("writing {}/hosts", dir.display())))?;
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))
        .map_err(io(format!("writing {}/hostname", dir.display())))?;
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    std::fs::write(path, value).map_err(io(format!("writing {value} to {}", path.display())))
}

/// Creates the cgroups of a task of run `run_id` with its limits; returns the folders whose
/// `cgroup.procs` the task's process joins (one per controller on cgroup v1, one on v2).
pub(crate) fn make_cgroups(
    rec: &mut Record,
    run_id: &str,
    task: &str,
    cpus: Option<f64>,
    mem: Option<u64>,
) -> Result<Vec<PathBuf>, Error> {
    let mut dirs = Vec::new();
    let quota = cpus.map(|c| ((c * 100_000.0) as u64).max(1000));
    match crate::cgroups::version() {
        crate::cgroups::Version::V2 => {
            let root = Path::new("/sys/fs/cgroup");
            let top = root.join("wotemu");
            let run_dir = top.join(run_id);
            // Delegate cpu and memory down to the task's level.
            for (parent, child) in [(root, &top), (top.as_path(), &run_dir)] {
                if let Err(e) =
                    std::fs::write(parent.join("cgroup.subtree_control"), "+cpu +memory")
                {
                    tracing::debug!(cgroup = %parent.display(), error = %e, "Controllers not delegated.");
                }
                if !child.exists() {
                    if child == &run_dir {
                        record(
                            rec,
                            Item::Cgroup {
                                path: run_dir.clone(),
                            },
                        )?;
                    }
                    std::fs::create_dir_all(child)
                        .map_err(io(format!("creating {}", child.display())))?;
                }
            }
            if let Err(e) = std::fs::write(run_dir.join("cgroup.subtree_control"), "+cpu +memory") {
                tracing::debug!(cgroup = %run_dir.display(), error = %e, "Controllers not delegated.");
            }
            let dir = run_dir.join(task);
            record(rec, Item::Cgroup { path: dir.clone() })?;
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            if let Some(q) = quota {
                write(&dir.join("cpu.max"), &format!("{q} 100000"))?;
            }
            if let Some(m) = mem {
                write(&dir.join("memory.max"), &m.to_string())?;
            }
            dirs.push(dir);
        }
        crate::cgroups::Version::V1 => {
            // cpuacct (CPU usage) is its own hierarchy on some hosts, mounted with cpu on others.
            for controller in ["cpu", "cpuacct", "memory"] {
                let base = Path::new("/sys/fs/cgroup").join(controller);
                if !base.exists() {
                    continue;
                }
                let base = base.canonicalize().unwrap_or(base);
                let run_dir = base.join("wotemu").join(run_id);
                let dir = run_dir.join(task);
                if dirs.contains(&dir) {
                    continue;
                }
                if !run_dir.exists() {
                    record(
                        rec,
                        Item::Cgroup {
                            path: run_dir.clone(),
                        },
                    )?;
                }
                record(rec, Item::Cgroup { path: dir.clone() })?;
                std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
                match controller {
                    "cpu" => {
                        if let Some(q) = quota {
                            write(&dir.join("cpu.cfs_period_us"), "100000")?;
                            write(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
                        }
                    }
                    "memory" => {
                        if let Some(m) = mem {
                            write(&dir.join("memory.limit_in_bytes"), &m.to_string())?;
                        }
                    }
                    _ => {}
                }
                dirs.push(dir);
            }
        }
    }
    Ok(dirs)
}

/// A program to start inside a replica.
pub(crate) struct Spawn<'a> {
    pub(crate) ns: &'a str,
    pub(crate) hostname: &'a str,
    pub(crate) program: &'a Path,
    pub(crate) args: &'a [String],
    pub(crate) env: &'a BTreeMap<String, String>,
    pub(crate) cgroups: &'a [PathBuf],
    pub(crate) log: &'a Path,
}

/// Starts a program inside the replica's network namespace, with its own hostname (the task name) and its
/// own `/etc/hosts`, in its cgroups, in a process group of its own ([`ReplicaEntry::enter`]). The process is
/// recorded before it starts running anything.
pub(crate) fn spawn_in(rec: &mut Record, s: &Spawn<'_>) -> Result<Proc, Error> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.log)
        .map_err(io(format!("opening the log {}", s.log.display())))?;
    let err = out
        .try_clone()
        .map_err(io(format!("opening the log {}", s.log.display())))?;
    let entry = ReplicaEntry::prepare(s.ns, s.hostname, s.cgroups)
        .map_err(io(format!("preparing a process for {}", s.ns)))?;
    let mut cmd = Command::new(s.program);
    cmd.args(s.args)
        .envs(s.env)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: between fork and exec only system calls and writes to already-opened paths; every buffer was
    // prepared before the fork.
    unsafe {
        cmd.pre_exec(move || entry.enter());
    }
    cmd.process_group(0);
    let child = cmd
        .spawn()
        .map_err(io(format!("starting {} in {}", s.program.display(), s.ns)))?;
    record(rec, Item::process(child.id()))?;
    Ok(Proc::from(child))
}

/// A child process of the runner, by pid: started by `std::process::Command`, or forked by the zygote on
/// the runner's behalf (its parent is the runner all the same, so the runner waits for it).
#[derive(Debug)]
pub(crate) struct Proc {
    pid: u32,
}

impl From<std::process::Child> for Proc {
    fn from(c: std::process::Child) -> Self {
        // Dropping a Child neither kills nor waits for it; its standard streams are not pipes here.
        Proc { pid: c.id() }
    }
}

impl Proc {
    /// A child of this process known by its pid.
    pub(crate) fn of_pid(pid: u32) -> Self {
        Proc { pid }
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    fn waitpid(&self, flags: libc::c_int) -> std::io::Result<Option<std::process::ExitStatus>> {
        use std::os::unix::process::ExitStatusExt;
        let mut status = 0;
        loop {
            // SAFETY: waitpid(2) on our own child, writing into a local.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, flags) };
            if r == 0 {
                return Ok(None);
            }
            if r > 0 {
                return Ok(Some(std::process::ExitStatus::from_raw(status)));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Its exit status, if it has exited (it is then reaped).
    pub(crate) fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.waitpid(libc::WNOHANG)
    }

    /// Waits for it to exit.
    pub(crate) fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.waitpid(0)?
            .ok_or_else(|| std::io::Error::other("waitpid returned no status"))
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) -> std::io::Result<()> {
        if wotemu_sys::process::signal(self.pid, libc::SIGKILL) {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// Starts `program` in the named namespace with `ip netns exec` (a gateway: it needs the namespace's own
/// /sys for its sysctls), in a process group of its own, output to `log`.
/// Starts `program` with `args` (no terminal, its own process group) and moves it into `cgroups` (each
/// controller's folder), recording it for teardown; a process that cannot be moved is killed.
pub(crate) fn spawn_in_cgroups(
    rec: &mut Record,
    program: &Path,
    args: &[String],
    cgroups: &[PathBuf],
) -> Result<Child, Error> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(io(format!("starting {}", program.display())))?;
    record(rec, Item::process(child.id()))?;
    for cg in cgroups {
        let procs = cg.join("cgroup.procs");
        if let Err(e) = std::fs::write(&procs, child.id().to_string()) {
            if let Err(k) = child.kill().and_then(|()| child.wait().map(drop)) {
                tracing::debug!(error = %k, "The load had already ended.");
            }
            return Err(Error::Io {
                what: format!("moving a load into {}", procs.display()),
                source: e,
            });
        }
    }
    Ok(child)
}

pub(crate) fn spawn_netns_exec(
    rec: &mut Record,
    ns: &str,
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    log: &Path,
) -> Result<Child, Error> {
    let log_file = std::fs::File::create(log).map_err(io(format!("creating {}", log.display())))?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .process_group(0);
    // SAFETY: only an async-signal-safe mask change between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            wotemu_sys::signals::unblock_all();
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(io(format!("starting {} in {ns}", program.display())))?;
    record(rec, Item::process(child.id()))?;
    Ok(child)
}

/// Starts a `redis-server` on a unix socket every namespace reaches, with its data in `dir`: an append-only
/// file fsynced every second (what it acknowledged survives the server being killed and restarted, or the
/// runner crashing), no snapshots. In a process group of its own.
pub fn spawn_redis(socket: &Path, dir: &Path) -> Result<Child, Error> {
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        "0",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--unixsocketperm",
        "777",
    ])
    .arg("--unixsocket")
    .arg(socket)
    .arg("--dir")
    .arg(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .process_group(0);
    // SAFETY: only an async-signal-safe mask change between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            wotemu_sys::signals::unblock_all();
            Ok(())
        });
    }
    cmd.spawn().map_err(|source| Error::Missing {
        program: "redis-server".into(),
        hint: format!("{source}; install it: apt-get install redis-server, or scripts/setup.sh"),
    })
}

/// Packets the userspace gateway's queue rule matched in namespace `ns` since the rule was (re)made: taken by
/// the gateway, or dropped by the kernel while no gateway read the queue. `None` without the rule (the
/// kernel backend shapes without a process).
pub fn queued_packets(ns: &str) -> Option<u64> {
    let out = wotemu_sys::cmd::output(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "iptables",
            "-w",
            "-t",
            "mangle",
            "-L",
            "WOTEMU_GW",
            "-v",
            "-x",
            "-n",
        ],
    )
    .ok()?;
    out.lines()
        .find(|l| l.contains("NFQUEUE"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
}

/// Whether a program is on the PATH (or in /usr/sbin, /sbin); its path.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}
