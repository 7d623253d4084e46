//! The one-host lab of `wotemu run`: network namespaces, bridges, veths, shaping, cgroups — and their removal.
//!
//! Layout of a run `R` (4 hex digits):
//! - `wtm-R`: the lab namespace holding one bridge per network (`br0`, `br1`, …). Bridges live there, not in
//!   the host's namespace, so the host's firewall never sees the emulated traffic and deleting the namespace
//!   removes every bridge and every veth end at once.
//! - `wtm-R-<i>`: one namespace per replica (and per broker), with one veth per network, named after the
//!   network inside (`3g`), its peer `p<j>` on the network's bridge in the lab namespace. Network `k` is
//!   10.77.k.0/24; the replica's address ends in its index + 2.
//! - `/etc/netns/wtm-R-<i>/hosts`: names as in the Swarm stack (`server.3g`, `server`, the task name), which
//!   `ip netns exec` shows as `/etc/hosts` to the processes inside.
//! - cgroups `wotemu/R/<task>` (v1: under the cpu and memory controllers; v2: under the unified root) with the
//!   node's limits; agents join theirs before they start.
//! - `/run/wotemu/R/`: the state file (`state.json`, what to remove) and Redis' socket.
//!
//! Everything is removed by [`State::teardown`] on exit, and by `wotemu clean` after a crash.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Where runs keep their state.
pub(crate) const STATE_ROOT: &str = "/run/wotemu";

/// What a run created, for its teardown (also after a crash).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) run_id: String,
    pub(crate) stack: String,
    /// The `wotemu run` process.
    pub(crate) pid: u32,
    pub(crate) namespaces: Vec<String>,
    pub(crate) cgroups: Vec<PathBuf>,
    /// Processes started (agents, brokers, Redis).
    pub(crate) pids: Vec<u32>,
    pub(crate) run_dir: PathBuf,
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
) -> anyhow::Result<()> {
    ip(&[
        "-n", lab, "link", "add", peer, "type", "veth", "peer", "name", inside, "netns", ns,
    ])?;
    ip(&["-n", lab, "link", "set", peer, "master", bridge, "up"])?;
    ip(&["-n", ns, "addr", "add", cidr, "dev", inside])?;
    ip(&["-n", ns, "link", "set", inside, "up"])
}

pub(crate) fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (install iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl State {
    pub(crate) fn dir(&self) -> PathBuf {
        Path::new(STATE_ROOT).join(&self.run_id)
    }

    pub(crate) fn save(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.dir())?;
        let tmp = self.dir().join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, self.dir().join("state.json"))?;
        Ok(())
    }

    pub(crate) fn lab_ns(&self) -> String {
        format!("wtm-{}", self.run_id)
    }

    /// Creates a namespace (recorded first, so a crash in between still removes it).
    pub(crate) fn add_ns(&mut self, name: &str) -> anyhow::Result<()> {
        self.add_ns_ipv6(name, false)
    }

    /// Creates a namespace; with `ipv6`, its interfaces get IPv6 link-local addresses (apps that bind `::`,
    /// such as CoAP's, need one) but send no router solicitations and skip duplicate address detection, so
    /// the emulated traffic stays the apps'. Without, IPv6 is off.
    pub(crate) fn add_ns_ipv6(&mut self, name: &str, ipv6: bool) -> anyhow::Result<()> {
        self.namespaces.push(name.to_owned());
        self.save()?;
        ip(&["netns", "add", name])?;
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        let settings: &[&str] = if ipv6 {
            &[
                "net.ipv6.conf.default.accept_ra=0",
                "net.ipv6.conf.default.router_solicitations=0",
                "net.ipv6.conf.default.dad_transmits=0",
                "net.ipv6.conf.all.accept_ra=0",
            ]
        } else {
            &[
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]
        };
        let out = Command::new("ip")
            .args(["netns", "exec", name, "sysctl", "-q", "-w"])
            .args(settings)
            .output();
        if !out.is_ok_and(|o| o.status.success()) {
            tracing::debug!(ns = name, "could not set the IPv6 sysctls");
        }
        Ok(())
    }

    /// Bridged frames in the lab namespace skip iptables (when br_netfilter is loaded, as Docker does): the
    /// bridges only switch; shaping happens in the gateways. Saves a netfilter pass per frame.
    pub(crate) fn bridge_netfilter_off(&self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.lab_ns(), "sysctl", "-q", "-w"])
            .args([
                "net.bridge.bridge-nf-call-iptables=0",
                "net.bridge.bridge-nf-call-ip6tables=0",
                "net.bridge.bridge-nf-call-arptables=0",
            ])
            .stderr(std::process::Stdio::null())
            .output();
    }

    /// Removes everything the run created; never fails (what cannot be removed is reported).
    pub(crate) fn teardown(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for &pid in &self.pids {
            // SAFETY: kill(2); a pid that is gone or reused by another program is checked first.
            if process_is_ours(pid) {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        for ns in self.namespaces.iter().rev() {
            // Processes still inside (a broker, a stray app child) would keep the namespace alive.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill(2) of a process inside the run's own namespace.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
            if Path::new("/run/netns").join(ns).exists() {
                if let Err(e) = ip(&["netns", "del", ns]) {
                    problems.push(e.to_string());
                }
            }
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(ns));
        }
        for cg in self.cgroups.iter().rev() {
            remove_cgroup(cg, &mut problems);
        }
        remove_cgroup_parents();
        let _ = std::fs::remove_dir_all(self.dir());
        problems
    }
}

/// Removes the shared `wotemu` cgroup parents when no run uses them (an `rmdir` fails while one does; two
/// runs ending together may both see the other's directory, so `wotemu clean` tries again).
pub(crate) fn remove_cgroup_parents() {
    for parent in [
        "/sys/fs/cgroup/cpu/wotemu",
        "/sys/fs/cgroup/cpuacct/wotemu",
        "/sys/fs/cgroup/memory/wotemu",
        "/sys/fs/cgroup/wotemu",
    ] {
        let _ = std::fs::remove_dir(parent);
    }
}

/// Whether `pid` runs a program a run starts (wotemu, redis-server, mosquitto, ip).
fn process_is_ours(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let c = String::from_utf8_lossy(&c);
            ["wotemu", "redis-server", "mosquitto"]
                .iter()
                .any(|p| c.contains(p))
        })
        .unwrap_or(false)
}

fn remove_cgroup(dir: &Path, problems: &mut Vec<String>) {
    if !dir.exists() {
        return;
    }
    // Move stragglers out (to the parent) so the directory can go.
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) of a process in the run's own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    problems.push(format!("cannot remove the cgroup {}", dir.display()));
}

/// The cgroup hierarchy of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CgroupVersion {
    V1,
    V2,
}

pub(crate) fn cgroup_version() -> CgroupVersion {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    }
}

/// Creates the cgroups of a task with its limits; returns the directories (first: where `cgroup.procs` is
/// written for each controller).
pub(crate) fn make_cgroups(
    state: &mut State,
    task: &str,
    cpus: Option<f64>,
    mem: Option<u64>,
) -> anyhow::Result<Vec<PathBuf>> {
    let rel = Path::new("wotemu").join(&state.run_id).join(task);
    let mut dirs = Vec::new();
    match cgroup_version() {
        CgroupVersion::V2 => {
            let root = Path::new("/sys/fs/cgroup");
            // Delegate cpu and memory down to the task's level.
            let mut at = root.to_path_buf();
            for part in rel.parent().expect("has parents").components() {
                let _ = std::fs::write(at.join("cgroup.subtree_control"), "+cpu +memory");
                at = at.join(part);
                std::fs::create_dir_all(&at)
                    .with_context(|| format!("creating {}", at.display()))?;
                if !state.cgroups.contains(&at) && at != root.join("wotemu") {
                    state.cgroups.push(at.clone());
                }
            }
            let _ = std::fs::write(at.join("cgroup.subtree_control"), "+cpu +memory");
            let dir = root.join(&rel);
            state.cgroups.push(dir.clone());
            state.save()?;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            if let Some(c) = cpus {
                std::fs::write(
                    dir.join("cpu.max"),
                    format!("{} 100000", (c * 100_000.0) as u64),
                )?;
            }
            if let Some(m) = mem {
                std::fs::write(dir.join("memory.max"), m.to_string())?;
            }
            dirs.push(dir);
        }
        CgroupVersion::V1 => {
            // cpuacct (CPU usage) is its own hierarchy on some hosts, mounted with cpu on others.
            for controller in ["cpu", "cpuacct", "memory"] {
                let base = Path::new("/sys/fs/cgroup").join(controller);
                if !base.exists() {
                    continue;
                }
                let base = base.canonicalize().unwrap_or(base);
                let run = base.join("wotemu").join(&state.run_id);
                let dir = base.join(&rel);
                if dirs.contains(&dir) {
                    continue;
                }
                if !state.cgroups.contains(&run) {
                    state.cgroups.push(run.clone());
                }
                state.cgroups.push(dir.clone());
                state.save()?;
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                match controller {
                    "cpu" => {
                        if let Some(c) = cpus {
                            std::fs::write(dir.join("cpu.cfs_period_us"), "100000")?;
                            std::fs::write(
                                dir.join("cpu.cfs_quota_us"),
                                ((c * 100_000.0) as u64).to_string(),
                            )?;
                        }
                    }
                    "cpuacct" => {}
                    _ => {
                        if let Some(m) = mem {
                            std::fs::write(dir.join("memory.limit_in_bytes"), m.to_string())?;
                        }
                    }
                }
                dirs.push(dir);
            }
        }
    }
    // Parents first in the list would block removal: keep children before parents for teardown order.
    state.cgroups.sort_by_key(|p| p.components().count());
    state.save()?;
    Ok(dirs)
}

/// Runs that left state behind: (state, whether its `wotemu run` process is still alive).
pub(crate) fn runs() -> Vec<(State, bool)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(STATE_ROOT) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path().join("state.json");
        if let Some(s) = std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice::<State>(&b).ok())
        {
            let alive = std::fs::read(format!("/proc/{}/cmdline", s.pid))
                .map(|c| String::from_utf8_lossy(&c).contains("wotemu"))
                .unwrap_or(false);
            out.push((s, alive));
        }
    }
    out
}

/// Namespaces named like a run's whose run is not known (state lost): `wtm-XXXX` and `wtm-XXXX-*`.
pub(crate) fn orphan_namespaces(known: &[String]) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("wtm-")
                && !known
                    .iter()
                    .any(|k| n == k || n.starts_with(&format!("{k}-")))
        })
        .collect()
}
