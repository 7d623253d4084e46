//! The host's limits a one-host run meets at scale, checked before anything is built: a run that would hit
//! one fails at once, naming the limit, what the run needs and how to raise it — never half-way, with
//! hundreds of namespaces built. `wotemu doctor` reports the same limits and how many replicas they allow.
//!
//! What a run costs, measured on this project's runs (debug and release builds alike): each agent runs 6
//! threads, holds 13 file descriptors and one connection to the run's Redis; each gateway 5 threads and two
//! connections; the run's `redis-server` 6 threads and a descriptor per connection (it lowers its
//! `maxclients` to its open-files limit less 32). Every replica's namespace resolves its gateway's address and
//! each gateway resolves every replica of its network: the kernel's neighbour table — one for all
//! namespaces, capped by `net.ipv4.neigh.default.gc_thresh3` — holds two entries per replica and network.
//! Each flow a replica opens through its gateway is a conntrack entry where the conntrack module is loaded
//! (`nf_conntrack_max`, also shared by all namespaces). wotemu uses no inotify watches.

use crate::plan::RunPlan;

/// Threads of one agent (its app's Python included).
pub const THREADS_PER_AGENT: u64 = 6;
/// Threads of one gateway.
pub const THREADS_PER_GATEWAY: u64 = 5;
/// Conntrack entries reserved per replica (its flows to and through the gateway).
pub const CONNTRACK_PER_REPLICA: u64 = 16;
/// What the run's other processes (runner, Redis, brokers' extra threads) need on top.
const MARGIN: u64 = 64;

/// What a run needs of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Need {
    pub replicas: u64,
    pub threads: u64,
    /// Open files of the runner (and so of the run's Redis, which inherits its limit).
    pub files: u64,
    pub neighbours: u64,
    pub conntrack: u64,
}

impl Need {
    /// What `replicas` replicas spread over `memberships` network links and `networks` networks need.
    pub fn of(replicas: u64, memberships: u64, networks: u64) -> Need {
        Need {
            replicas,
            threads: replicas * THREADS_PER_AGENT + networks * THREADS_PER_GATEWAY + MARGIN,
            files: replicas + 2 * networks + 32 + MARGIN,
            neighbours: 2 * memberships + MARGIN,
            conntrack: replicas * CONNTRACK_PER_REPLICA,
        }
    }

    /// What a plan needs: every replica it may ever run (a scenario's scale included).
    pub fn of_plan(plan: &RunPlan) -> Need {
        let memberships: usize = plan.replicas.iter().map(|r| r.links.len()).sum();
        Need::of(
            plan.replicas.len() as u64,
            memberships as u64,
            plan.networks.len() as u64,
        )
    }
}

/// The host's limits (and what is in use now where that counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// `kernel.pid_max` (every thread takes an id).
    pub pid_max: u64,
    /// `kernel.threads-max`.
    pub threads_max: u64,
    /// Threads running now (`/proc/loadavg`).
    pub threads_now: u64,
    /// This process's open-files limit (soft, hard).
    pub nofile_soft: u64,
    pub nofile_hard: u64,
    /// `net.ipv4.neigh.default.gc_thresh3`.
    pub gc_thresh3: u64,
    /// `net.netfilter.nf_conntrack_max` and the entries in use, when the module is loaded.
    pub conntrack: Option<(u64, u64)>,
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Limits {
    /// This host's limits, now.
    pub fn read() -> Limits {
        let threads_now = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok())
            .unwrap_or(0);
        let (nofile_soft, nofile_hard) = nofile();
        let conntrack = read_u64("/proc/sys/net/netfilter/nf_conntrack_max").map(|max| {
            (
                max,
                read_u64("/proc/sys/net/netfilter/nf_conntrack_count").unwrap_or(0),
            )
        });
        Limits {
            pid_max: read_u64("/proc/sys/kernel/pid_max").unwrap_or(32_768),
            threads_max: read_u64("/proc/sys/kernel/threads-max").unwrap_or(u64::MAX),
            threads_now,
            nofile_soft,
            nofile_hard,
            gc_thresh3: read_u64("/proc/sys/net/ipv4/neigh/default/gc_thresh3").unwrap_or(1024),
            conntrack,
        }
    }

    /// Threads free for a run.
    fn threads_free(&self) -> u64 {
        self.pid_max
            .min(self.threads_max)
            .saturating_sub(self.threads_now)
    }

    /// The most replicas (each on one network, one network per 100 replicas) these limits allow.
    pub fn max_replicas(&self) -> u64 {
        let mut lo = 0u64;
        let mut hi = 1_000_000u64;
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let nets = mid.div_ceil(100).max(1);
            if problems(&Need::of(mid, mid, nets), self).is_empty() {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}

/// This process's RLIMIT_NOFILE (soft, hard).
fn nofile() -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return (1024, 1024);
    }
    (r.rlim_cur, r.rlim_max)
}

/// Raises this process's soft open-files limit to `want` (within the hard limit) — what the run's Redis
/// inherits; the old soft limit.
pub fn raise_nofile(want: u64) -> u64 {
    let (soft, hard) = nofile();
    if soft < want {
        let r = libc::rlimit {
            rlim_cur: want.min(hard),
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "The open-files limit could not be raised."
            );
        }
    }
    soft
}

/// Each limit `need` would hit: what it is, what the run needs, how to raise it.
pub fn problems(need: &Need, l: &Limits) -> Vec<String> {
    let mut out = Vec::new();
    let n = need.replicas;
    if need.threads > l.threads_free() {
        let (name, value, key) = if l.pid_max <= l.threads_max {
            ("kernel.pid_max", l.pid_max, "kernel.pid_max")
        } else {
            ("kernel.threads-max", l.threads_max, "kernel.threads-max")
        };
        out.push(format!(
            "process ids: {n} replicas need about {} threads ({THREADS_PER_AGENT} per agent) and {} are free ({name} is {value}, {} threads run now); raise it: sudo sysctl -w {key}={}",
            need.threads,
            l.threads_free(),
            l.threads_now,
            (l.threads_now + need.threads).next_power_of_two().max(value * 2)
        ));
    }
    if need.files > l.nofile_hard {
        out.push(format!(
            "open files: {n} replicas need about {} descriptors in the run's Redis (one connection per agent) and the hard limit (RLIMIT_NOFILE) is {}; raise it: ulimit -Hn {} in the shell that runs wotemu (or LimitNOFILE= for a service)",
            need.files,
            l.nofile_hard,
            need.files.next_power_of_two()
        ));
    }
    if need.neighbours > l.gc_thresh3 {
        let v = need.neighbours.next_power_of_two();
        out.push(format!(
            "neighbour table: {n} replicas need about {} ARP entries (two per replica and network, one table for all namespaces) and net.ipv4.neigh.default.gc_thresh3 is {}; raise it: sudo sysctl -w net.ipv4.neigh.default.gc_thresh1={} net.ipv4.neigh.default.gc_thresh2={} net.ipv4.neigh.default.gc_thresh3={v}",
            need.neighbours,
            l.gc_thresh3,
            v / 4,
            v / 2,
        ));
    }
    if let Some((max, used)) = l.conntrack {
        if need.conntrack > max.saturating_sub(used) {
            out.push(format!(
                "connection tracking: {n} replicas may need {} conntrack entries ({CONNTRACK_PER_REPLICA} each) and {} of net.netfilter.nf_conntrack_max = {max} are free; raise it: sudo sysctl -w net.netfilter.nf_conntrack_max={}",
                need.conntrack,
                max.saturating_sub(used),
                (used + need.conntrack).next_power_of_two().max(max * 2)
            ));
        }
    }
    out
}

/// Checks a plan against this host's limits before anything is built, and raises the soft open-files limit
/// to what it needs (the hard limit allowing). `Err` names every limit the run would hit.
pub fn check(plan: &RunPlan) -> Result<(), crate::Error> {
    check_with(&Need::of_plan(plan), &Limits::read())
}

/// [`check`] with given limits.
pub fn check_with(need: &Need, limits: &Limits) -> Result<(), crate::Error> {
    let p = problems(need, limits);
    if !p.is_empty() {
        return Err(crate::Error::Plan(format!(
            "this host's limits are too low for {} replicas (nothing was built):\n  - {}",
            need.replicas,
            p.join("\n  - ")
        )));
    }
    raise_nofile(need.files);
    Ok(())
}

/// The limits for `wotemu doctor`: what each is, and how many replicas they allow.
pub fn describe(l: &Limits) -> String {
    let conntrack = match l.conntrack {
        Some((max, used)) => format!("nf_conntrack_max {max} ({used} in use)"),
        None => "no conntrack module".into(),
    };
    format!(
        "about {} replicas: pid_max {}, threads-max {} ({} threads now), open files {} soft / {} hard, gc_thresh3 {}, {conntrack}",
        l.max_replicas(),
        l.pid_max,
        l.threads_max,
        l.threads_now,
        l.nofile_soft,
        l.nofile_hard,
        l.gc_thresh3
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roomy() -> Limits {
        Limits {
            pid_max: 4_194_304,
            threads_max: 4_194_304,
            threads_now: 500,
            nofile_soft: 1024,
            nofile_hard: 1_048_576,
            gc_thresh3: 65_536,
            conntrack: Some((262_144, 100)),
        }
    }

    #[test]
    fn each_limit_is_named_with_its_fix() {
        let need = Need::of(1000, 1000, 1);
        assert!(problems(&need, &roomy()).is_empty());
        // This machine's default pid_max (32,768) holds 1,000 replicas' 6,000 threads; 6,000 replicas not.
        let l = Limits {
            pid_max: 32_768,
            ..roomy()
        };
        assert!(problems(&need, &l).is_empty());
        let p = problems(&Need::of(6000, 6000, 6), &l);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("process ids: 6000 replicas need about 36094 threads"),
            "{}",
            p[0]
        );
        assert!(
            p[0].contains("sudo sysctl -w kernel.pid_max=65536"),
            "{}",
            p[0]
        );
        // The kernel's default neighbour table (1,024 entries) is too small for 1,000 replicas.
        let l = Limits {
            gc_thresh3: 1024,
            ..roomy()
        };
        let p = problems(&need, &l);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("gc_thresh3=4096"), "{}", p[0]);
        // A hard open-files limit of 1,024 (a common default) stops it too.
        let l = Limits {
            nofile_hard: 1024,
            ..roomy()
        };
        let p = problems(&need, &l);
        assert!(
            p[0].starts_with("open files: 1000 replicas need about 1098"),
            "{p:?}"
        );
        // Conntrack counts only where the module is loaded.
        let l = Limits {
            conntrack: Some((8192, 0)),
            ..roomy()
        };
        assert_eq!(problems(&need, &l).len(), 1);
        let l = Limits {
            conntrack: None,
            ..roomy()
        };
        assert!(problems(&need, &l).is_empty());
        assert!(check_with(
            &need,
            &Limits {
                gc_thresh3: 1024,
                ..roomy()
            }
        )
        .unwrap_err()
        .to_string()
        .contains("nothing was built"));
    }

    #[test]
    fn the_most_replicas_the_limits_allow() {
        let l = Limits {
            gc_thresh3: 1024,
            ..roomy()
        };
        // 2 × n + 64 ≤ 1024.
        assert_eq!(l.max_replicas(), 480);
        assert!(roomy().max_replicas() >= 10_000);
    }
}
