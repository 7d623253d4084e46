//! CPU and memory of the task's cgroup (v2, or v1 where that is what the host has), sampled periodically.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the task's cgroup files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// The unified hierarchy: one directory.
    V2(PathBuf),
    /// v1: the cpu, cpuacct and memory controllers' directories (cpu and cpuacct are often one mount).
    V1 {
        cpu: PathBuf,
        cpuacct: PathBuf,
        memory: PathBuf,
    },
}

impl Cgroup {
    /// The cgroup of this process, from /proc/self/cgroup and the mounts under /sys/fs/cgroup.
    pub fn of_self() -> Option<Cgroup> {
        let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        Self::from_proc(&text, Path::new("/sys/fs/cgroup"))
    }

    /// Reads a /proc/<pid>/cgroup text against a cgroup mount root.
    pub fn from_proc(text: &str, root: &Path) -> Option<Cgroup> {
        let mut cpu = None;
        let mut cpuacct = None;
        let mut memory = None;
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            if id == "0" && controllers.is_empty() && root.join("cgroup.controllers").exists() {
                return Some(Cgroup::V2(root.join(rel)));
            }
            for c in controllers.split(',') {
                let mut dir = root.join(controllers).join(rel);
                if !dir.exists() && root.join(controllers).exists() {
                    // A container without a cgroup namespace (cgroup v1): /proc/self/cgroup names the
                    // host's path, while the container sees its own cgroup at the mount's root.
                    dir = root.join(controllers);
                }
                match c {
                    "cpu" => cpu = Some(dir),
                    "cpuacct" => cpuacct = Some(dir),
                    "memory" => memory = Some(dir),
                    _ => {}
                }
            }
        }
        let cpu = cpu.or_else(|| cpuacct.clone())?;
        Some(Cgroup::V1 {
            cpuacct: cpuacct.unwrap_or_else(|| cpu.clone()),
            cpu,
            memory: memory?,
        })
    }
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn read_keyed(p: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(p).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// One reading of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    /// Cumulative CPU time, µs.
    pub cpu_usage_us: Option<u64>,
    pub cpu_limit_percent: Option<f64>,
    pub cpu_throttled_us: Option<u64>,
    pub mem_bytes: Option<u64>,
    pub mem_limit_bytes: Option<u64>,
    pub oom_kills: Option<u64>,
}

impl Cgroup {
    /// Reads the counters (each is None where the files do not tell).
    pub fn read(&self) -> Reading {
        match self {
            Cgroup::V2(d) => {
                let cpu_limit_percent =
                    std::fs::read_to_string(d.join("cpu.max"))
                        .ok()
                        .and_then(|s| {
                            let mut it = s.split_whitespace();
                            let (q, p) = (it.next()?, it.next()?);
                            let (q, p): (f64, f64) = (q.parse().ok()?, p.parse().ok()?);
                            Some(q / p * 100.0)
                        });
                let limit = std::fs::read_to_string(d.join("memory.max"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                Reading {
                    cpu_usage_us: read_keyed(&d.join("cpu.stat"), "usage_usec"),
                    cpu_limit_percent,
                    cpu_throttled_us: read_keyed(&d.join("cpu.stat"), "throttled_usec"),
                    mem_bytes: read_u64(&d.join("memory.current")),
                    mem_limit_bytes: limit,
                    oom_kills: read_keyed(&d.join("memory.events"), "oom_kill"),
                }
            }
            Cgroup::V1 {
                cpu,
                cpuacct,
                memory,
            } => {
                let quota = std::fs::read_to_string(cpu.join("cpu.cfs_quota_us"))
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok());
                let period = read_u64(&cpu.join("cpu.cfs_period_us"));
                let cpu_limit_percent = match (quota, period) {
                    (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64 * 100.0),
                    _ => None,
                };
                // v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages).
                let limit =
                    read_u64(&memory.join("memory.limit_in_bytes")).filter(|&l| l < 1 << 60);
                Reading {
                    cpu_usage_us: read_u64(&cpuacct.join("cpuacct.usage")).map(|ns| ns / 1000),
                    cpu_limit_percent,
                    cpu_throttled_us: read_keyed(&cpu.join("cpu.stat"), "throttled_time")
                        .map(|ns| ns / 1000),
                    mem_bytes: read_u64(&memory.join("memory.usage_in_bytes")),
                    mem_limit_bytes: limit,
                    oom_kills: read_keyed(&memory.join("memory.oom_control"), "oom_kill"),
                }
            }
        }
    }
}

/// Turns successive readings into samples (CPU % from the usage delta over wall time).
pub struct Sampler {
    cgroup: Option<Cgroup>,
    last: Option<(Instant, u64)>,
}

/// A sample: CPU % of one core (None on the first reading), and the rest of the reading.
pub type Sample = (Option<f64>, Reading);

impl Sampler {
    pub fn new(cgroup: Option<Cgroup>) -> Sampler {
        Sampler { cgroup, last: None }
    }

    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    pub fn sample(&mut self) -> Sample {
        let Some(cg) = &self.cgroup else {
            return (None, Reading::default());
        };
        let r = cg.read();
        let now = Instant::now();
        let pct = match (self.last, r.cpu_usage_us) {
            (Some((t, u)), Some(u2)) => {
                let wall = now.duration_since(t).as_micros() as f64;
                (wall > 0.0).then(|| u2.saturating_sub(u) as f64 / wall * 100.0)
            }
            _ => None,
        };
        if let Some(u) = r.cpu_usage_us {
            self.last = Some((now, u));
        }
        (pct, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_files_are_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory").unwrap();
        let d = root.path().join("wotemu/run/a");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\nthrottled_usec 42\n",
        )
        .unwrap();
        std::fs::write(d.join("cpu.max"), "50000 100000\n").unwrap();
        std::fs::write(d.join("memory.current"), "1048576\n").unwrap();
        std::fs::write(d.join("memory.max"), "max\n").unwrap();
        std::fs::write(
            d.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        let cg = Cgroup::from_proc("0::/wotemu/run/a\n", root.path()).unwrap();
        assert_eq!(cg, Cgroup::V2(d.clone()));
        let r = cg.read();
        assert_eq!(r.cpu_usage_us, Some(1500));
        assert_eq!(r.cpu_throttled_us, Some(42));
        assert_eq!(r.cpu_limit_percent, Some(50.0));
        assert_eq!(r.mem_bytes, Some(1 << 20));
        assert_eq!(r.mem_limit_bytes, None, "max means no limit");
        assert_eq!(r.oom_kills, Some(1));
    }

    #[test]
    fn v1_files_are_read() {
        let root = tempfile::tempdir().unwrap();
        let cpu = root.path().join("cpu,cpuacct/docker/abc");
        let mem = root.path().join("memory/docker/abc");
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::write(cpu.join("cpuacct.usage"), "2000000\n").unwrap();
        std::fs::write(cpu.join("cpu.cfs_quota_us"), "-1\n").unwrap();
        std::fs::write(cpu.join("cpu.cfs_period_us"), "100000\n").unwrap();
        std::fs::write(mem.join("memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "157286400\n").unwrap();
        let proc = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n";
        let cg = Cgroup::from_proc(proc, root.path()).unwrap();
        let r = cg.read();
        assert_eq!(r.cpu_usage_us, Some(2000));
        assert_eq!(r.cpu_limit_percent, None);
        assert_eq!(r.mem_limit_bytes, Some(150 << 20));
        assert_eq!(r.mem_bytes, Some(4096));
    }

    #[test]
    fn v1_inside_a_container_reads_the_mount_root() {
        // Docker on cgroup v1 without a cgroup namespace: the host path is named, the container's own cgroup
        // is mounted at the controller's root.
        let root = tempfile::tempdir().unwrap();
        let mem = root.path().join("memory");
        std::fs::create_dir_all(root.path().join("cpu,cpuacct")).unwrap();
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "157286400\n").unwrap();
        let proc = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n";
        let cg = Cgroup::from_proc(proc, root.path()).unwrap();
        assert_eq!(cg.read().mem_limit_bytes, Some(150 << 20));
    }

    #[test]
    fn this_process_is_sampled() {
        let mut s = Sampler::new(Cgroup::of_self());
        assert!(s.cgroup().is_some(), "no cgroup found for this process");
        let (first, _) = s.sample();
        assert_eq!(first, None, "no CPU % before a second reading");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let (pct, r) = s.sample();
        // Every Linux process is in a cgroup (v1 or v2); the test's premise is that it is found.
        assert!(s.cgroup().is_some(), "no cgroup found for this process");
        assert!(r.mem_bytes.is_some_and(|m| m > 0), "{r:?}");
        assert!(pct.is_some_and(|p| p >= 0.0), "{pct:?}");
    }
}
