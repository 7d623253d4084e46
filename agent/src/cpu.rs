//! Emulated CPU speed (`TARGET_CPU_SPEED`, 0.6's `target_cpu_speed`) inside the agent.
//!
//! - One-host runs: the runner calibrated the host and put the node in a cgroup with the right CFS quota;
//!   it says so with `WOTEMU_CPU_QUOTA` and `WOTEMU_CPU_SPEED_HOST`. The agent only measures the speed it
//!   gets at start.
//! - Swarm: the node sets its own limit, as 0.6 did. The first agent of the stack on a Docker host
//!   calibrates it (sysbench's CPU test at five CFS quotas of its own cgroup) under a lock, and keeps the
//!   fit in the stack's Redis (`wotemu:<stack>:benchmark:<host>`), where the other agents of that host
//!   find it; then each sets its own cgroup's quota to the one the fit gives for its target. A target above
//!   the host's speed stops the agent with an error that says the host's figure.

use std::time::{Duration, Instant};

use redis::Commands;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::task::CpuSpeed;
use wotemu_sys::cpu_speed::{self, Calibration, MAX_PRIME};

use crate::config::AgentConfig;
use crate::error::Error;

/// Seconds the speed is measured at start (and at each calibration quota): 20 CFS periods.
const MEASURE_SECS: f64 = 2.0;

fn err(what: impl std::fmt::Display) -> Error {
    Error::CpuSpeed(what.to_string())
}

/// Applies the node's emulated CPU speed, if it has one, and returns what the dataset records of it.
pub(crate) fn apply(cfg: &AgentConfig) -> Result<Option<CpuSpeed>, Error> {
    let Some(target) = cfg.cpu_speed.target else {
        return Ok(None);
    };
    let (host, quota) = match (cfg.cpu_speed.host, cfg.cpu_speed.quota) {
        (Some(h), Some(q)) => (h, q),
        _ => self_limit(cfg, target)?,
    };
    // The best of two halves: what else starts with the node (a stack's other containers) only ever slows
    // a measurement down, and one half usually misses it.
    let half = Duration::from_secs_f64(MEASURE_SECS / 2.0);
    let measured = cpu_speed::measure(half, MAX_PRIME).max(cpu_speed::measure(half, MAX_PRIME));
    tracing::info!(
        target,
        host,
        quota,
        measured,
        "Emulated CPU speed: {measured:.1} events/s measured for a target of {target}."
    );
    Ok(Some(CpuSpeed {
        target,
        host,
        quota,
        measured: Some(measured),
    }))
}

/// Swarm: calibrates this Docker host (or reads its calibration from Redis) and limits this container.
fn self_limit(cfg: &AgentConfig, target: f64) -> Result<(f64, f64), Error> {
    let (dir, v2) = cpu_speed::own_cpu_cgroup()
        .ok_or_else(|| err("this container's cgroup cannot be found in /proc/self/cgroup"))?;
    writable(&dir, v2)?;
    let (model, cores) = host_cpu();
    let host = cfg
        .node_hostname
        .clone()
        .or_else(wotemu_sys::facts::hostname)
        .unwrap_or_else(|| "host".into());
    let keys = StackKeys::new(&cfg.stack);
    let key = keys.benchmark(&host);
    let lock = format!("{key}:lock");
    let mut conn = redis::Client::open(cfg.redis_url.as_str())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(10)))
        .map_err(|e| err(format!("Redis: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let calibration = loop {
        let cached: Option<String> = conn.get(&key).map_err(|e| err(format!("Redis: {e}")))?;
        if let Some(c) = cached
            .and_then(|t| serde_json::from_str::<Calibration>(&t).ok())
            .filter(|c| c.is_for(&model, cores, MAX_PRIME))
        {
            break c;
        }
        let mine: bool = redis::cmd("SET")
            .arg(&lock)
            .arg(&cfg.task)
            .arg("NX")
            .arg("EX")
            .arg(60)
            .query::<Option<String>>(&mut conn)
            .map_err(|e| err(format!("Redis: {e}")))?
            .is_some();
        if mine {
            let c = cpu_speed::calibrate(
                &model,
                cores,
                MAX_PRIME,
                MEASURE_SECS,
                |q| {
                    match cpu_speed::set_quota(&dir, v2, Some(q)) {
                        // Above the limit of a parent cgroup (a host of less than one CPU): unlimited here, the
                        // parent bounds it, and the fit stops at that limit.
                        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                            cpu_speed::set_quota(&dir, v2, None)
                        }
                        r => r,
                    }
                    .map_err(|e| err(format!("setting the CPU quota of {}: {e}", dir.display())))
                },
                || {
                    Ok(cpu_speed::measure(
                        Duration::from_secs_f64(MEASURE_SECS),
                        MAX_PRIME,
                    ))
                },
            );
            let c = match c {
                Ok(mut c) => {
                    c.measured_at = wotemu_contract::time_util::us_to_rfc3339(
                        wotemu_contract::time_util::now_us(),
                    );
                    c
                }
                Err(e) => {
                    let _released: redis::RedisResult<()> = conn.del(&lock);
                    return Err(e);
                }
            };
            let text = serde_json::to_string(&c).expect("a calibration serialises");
            let () = conn
                .set(&key, text)
                .map_err(|e| err(format!("Redis: {e}")))?;
            let () = conn.del(&lock).map_err(|e| err(format!("Redis: {e}")))?;
            break c;
        }
        if Instant::now() > deadline {
            return Err(err(format!(
                "waited 120 s in vain for another replica to calibrate this host ({key})"
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let quota = calibration.quota_for(target).map_err(err)?;
    cpu_speed::set_quota(&dir, v2, Some(quota))
        .map_err(|e| err(format!("setting the CPU quota of {}: {e}", dir.display())))?;
    Ok((calibration.host_speed, quota))
}

/// Makes this container's cgroup writable (Docker mounts it read-only; `SYS_ADMIN`, which `wotemu compose`
/// grants to nodes with a target speed, allows remounting it).
fn writable(dir: &std::path::Path, v2: bool) -> Result<(), Error> {
    let file = if v2 { "cpu.max" } else { "cpu.cfs_quota_us" };
    let probe = || {
        let current = std::fs::read_to_string(dir.join(file))?;
        std::fs::write(dir.join(file), current.trim())
    };
    let Err(first) = probe() else {
        return Ok(());
    };
    // Docker bind-mounts the container's own cgroup read-only: a bind remount changes that mount's flag only
    // (the cgroup file system itself is read-write).
    for mount in [
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup",
    ] {
        if !std::path::Path::new(mount).exists() {
            continue;
        }
        let remounted = std::process::Command::new("mount")
            .args(["-o", "remount,bind,rw", mount])
            .output();
        tracing::debug!(mount, ?remounted, "Remounting the cgroup read-write.");
    }
    probe().map_err(|e| {
        err(format!(
            "the container's CPU quota ({}) cannot be written ({first}; after remounting: {e}): emulated CPU speed needs the SYS_ADMIN capability that `wotemu compose` grants",
            dir.join(file).display()
        ))
    })
}

fn host_cpu() -> (String, u32) {
    (
        wotemu_sys::facts::cpu_model().unwrap_or_else(|| "unknown".into()),
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
    )
}
