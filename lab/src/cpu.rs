//! Emulated CPU speed in one-host runs: this host's calibration (measured once, cached in a file, redone
//! when the CPU model or core count changes) and the quota each node with a `target_cpu_speed` gets.
//!
//! The benchmark runs in a child process (`wotemu cpu-speed --measure SECONDS`) placed in a cgroup of its
//! own, `wotemu/calibrate-<pid>`, whose CFS quota is set to each of [`cpu_speed::QUOTAS`] in turn; the cgroup is
//! removed afterwards (and by `wotemu clean` if the runner was killed meanwhile).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use wotemu_sys::cpu_speed::{self, Calibration, MAX_PRIME};
use wotemu_topology::Topology;

use crate::Error;

/// Seconds the benchmark runs at each quota (5 quotas: about 10 s in all): 20 CFS periods, so that where a
/// measurement starts in a period moves the figure by at most about 5 %.
pub const SECONDS_PER_POINT: f64 = 2.0;
/// Where the calibration is kept unless `WOTEMU_CPU_CALIBRATION` names another file.
pub const DEFAULT_CACHE: &str = "/var/lib/wotemu/cpu-speed.json";

/// What a node with a `target_cpu_speed` gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpeed {
    pub target: f64,
    /// Fraction of one CPU.
    pub quota: f64,
    /// The host's speed on one unthrottled CPU, events/s.
    pub host_speed: f64,
}

/// The calibration file: `WOTEMU_CPU_CALIBRATION`, else [`DEFAULT_CACHE`].
pub fn cache_path() -> PathBuf {
    std::env::var_os("WOTEMU_CPU_CALIBRATION")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE))
}

/// This host's CPU model and core count.
pub fn host_cpu() -> (String, u32) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    (model, cores)
}

/// The cached calibration, if it was measured on a host like this one.
pub fn cached(path: &Path) -> Option<Calibration> {
    let text = std::fs::read_to_string(path).ok()?;
    let c: Calibration = serde_json::from_str(&text).ok()?;
    let (model, cores) = host_cpu();
    c.is_for(&model, cores, MAX_PRIME).then_some(c)
}

/// How the calibration was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cached,
    Measured,
}

/// `wotemu cpu-speed --json`: the calibration with where it came from and its file.
pub fn calibration_json(c: &Calibration, source: Source) -> serde_json::Value {
    let mut v = serde_json::to_value(c).expect("a calibration serializes");
    v["source"] = serde_json::json!(match source {
        Source::Cached => "cached",
        Source::Measured => "measured",
    });
    v["file"] = serde_json::json!(cache_path());
    v
}

/// `wotemu cpu-speed` for people: the CPU, its speed, the fit and its points, when it was measured.
pub fn describe(c: &Calibration, source: Source) -> String {
    let mut lines = vec![
        format!("CPU:          {} ({} cores)", c.cpu_model, c.cores),
        format!(
            "Speed:        {:.1} events/s on one CPU (sysbench cpu, --cpu-max-prime={}, one thread)",
            c.host_speed, c.max_prime
        ),
        format!(
            "Fit:          speed = {:.1} × quota {} {:.1}",
            c.slope,
            if c.intercept < 0.0 { "-" } else { "+" },
            c.intercept.abs()
        ),
    ];
    lines.extend(c.points.iter().map(|p| {
        format!(
            "  quota {:>5.1} % of a CPU: {:>9.1} events/s",
            p.quota * 100.0,
            p.speed
        )
    }));
    lines.push(format!(
        "Measured:     {} in {:.1} s ({})",
        c.measured_at,
        c.took_seconds,
        match source {
            Source::Cached => "cached, reused",
            Source::Measured => "measured now",
        }
    ));
    lines.push(format!("File:         {}", cache_path().display()));
    lines.join("\n")
}

/// This host's calibration: the cached one when it fits the host (and `fresh` is false), else a new one,
/// measured with `measure_cmd` (a command that runs `wotemu cpu-speed --measure SECONDS`) and cached.
pub fn host_calibration(
    fresh: bool,
    measure_cmd: &dyn Fn(f64) -> Command,
) -> Result<(Calibration, Source), Error> {
    let path = cache_path();
    if !fresh {
        if let Some(c) = cached(&path) {
            return Ok((c, Source::Cached));
        }
    }
    let c = measure_host(measure_cmd)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
    }
    let text = serde_json::to_string_pretty(&c).expect("a calibration serialises");
    wotemu_sys::fs::write_atomic(&path, text.as_bytes()).map_err(|source| Error::Io {
        what: format!("writing the CPU calibration {}", path.display()),
        source,
    })?;
    Ok((c, Source::Measured))
}

/// The temporary cgroup a calibration measures in; removed when dropped.
struct CalibrationCgroup {
    dir: PathBuf,
    v2: bool,
}

impl CalibrationCgroup {
    fn new() -> Result<CalibrationCgroup, Error> {
        let name = format!("calibrate-{}", std::process::id());
        let v2 = crate::cgroups::version() == crate::cgroups::Version::V2;
        let dir = if v2 {
            let top = Path::new("/sys/fs/cgroup/wotemu");
            std::fs::create_dir_all(top).map_err(|source| Error::Io {
                what: format!("creating {}", top.display()),
                source,
            })?;
            if let Err(e) = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu") {
                tracing::debug!(error = %e, "cpu controller not delegated at the root.");
            }
            if let Err(e) = std::fs::write(top.join("cgroup.subtree_control"), "+cpu") {
                tracing::debug!(error = %e, "cpu controller not delegated to wotemu/.");
            }
            top.join(name)
        } else {
            let base = Path::new("/sys/fs/cgroup/cpu");
            let base = base.canonicalize().unwrap_or_else(|_| base.to_owned());
            base.join("wotemu").join(name)
        };
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!(
                "creating the cgroup {} (emulated CPU speed needs root and the cgroup cpu controller)",
                dir.display()
            ),
            source,
        })?;
        Ok(CalibrationCgroup { dir, v2 })
    }
}

impl Drop for CalibrationCgroup {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            tracing::warn!(cgroup = %self.dir.display(), error = %e, "Could not remove the calibration cgroup.");
        }
        // The shared `wotemu` parents go too, unless a run uses them.
        crate::cgroups::remove_parents();
    }
}

/// Measures one point: the child benchmark joins the cgroup, then runs.
fn measure_in(cg: &CalibrationCgroup, cmd: &mut Command) -> Result<f64, Error> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| Error::Io {
            what: "starting the CPU benchmark".into(),
            source,
        })?;
    let joined = std::fs::write(cg.dir.join("cgroup.procs"), child.id().to_string());
    let mut stdin = child.stdin.take().expect("piped");
    let go = joined.and_then(|_| stdin.write_all(b"go\n"));
    drop(stdin);
    if let Err(source) = go {
        // SAFETY: kill(2) on our own child, which waits for its go.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _reaped = child.wait();
        return Err(Error::Io {
            what: format!("placing the CPU benchmark in {}", cg.dir.display()),
            source,
        });
    }
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
    let status = child.wait().map_err(|source| Error::Io {
        what: "waiting for the CPU benchmark".into(),
        source,
    })?;
    read.map_err(|source| Error::Io {
        what: "reading the CPU benchmark's result".into(),
        source,
    })?;
    line.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| status.success() && *v > 0.0)
        .ok_or_else(|| Error::Plan(format!("the CPU benchmark failed ({status}): {line:?}")))
}

/// Measures this host's calibration (about [`SECONDS_PER_POINT`] × 5 s).
pub fn measure_host(measure_cmd: &dyn Fn(f64) -> Command) -> Result<Calibration, Error> {
    if !wotemu_sys::is_root() {
        return Err(Error::NotRoot {
            what: "calibrating the CPU speed",
        });
    }
    let cg = CalibrationCgroup::new()?;
    let (model, cores) = host_cpu();
    let mut c = cpu_speed::calibrate(
        &model,
        cores,
        MAX_PRIME,
        SECONDS_PER_POINT,
        |q| {
            cpu_speed::set_quota(&cg.dir, cg.v2, Some(q)).map_err(|source| Error::Io {
                what: format!("setting the CPU quota of {}", cg.dir.display()),
                source,
            })
        },
        || measure_in(&cg, &mut measure_cmd(SECONDS_PER_POINT)),
    )?;
    c.measured_at = wotemu_contract::time_util::us_to_rfc3339(wotemu_contract::time_util::now_us());
    Ok(c)
}

/// Runs the benchmark of one point in this process once stdin says go (the child side of
/// [`measure_host`]): returns events/s.
pub fn measure_when_told(seconds: f64) -> std::io::Result<f64> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(cpu_speed::measure(
        Duration::from_secs_f64(seconds.clamp(0.05, 60.0)),
        MAX_PRIME,
    ))
}

/// The quota of every node with a `target_cpu_speed`, from the calibration; a located error for a target
/// the host cannot give.
pub fn plan_speeds(t: &Topology, c: &Calibration) -> Result<BTreeMap<String, NodeSpeed>, Error> {
    let mut out = BTreeMap::new();
    let mut too_fast = Vec::new();
    for n in &t.nodes {
        let Some(target) = n.resources.target_cpu_speed else {
            continue;
        };
        match c.quota_for(target) {
            Ok(quota) => {
                out.insert(
                    n.name.clone(),
                    NodeSpeed {
                        target,
                        quota,
                        host_speed: c.host_speed,
                    },
                );
            }
            Err(e) => too_fast.push(format!("node `{}`: {e}", n.name)),
        }
    }
    if too_fast.is_empty() {
        Ok(out)
    } else {
        Err(Error::Plan(format!(
            "{}; lower `target_cpu_speed` to at most {:.0} (`wotemu cpu-speed` prints this host's calibration)",
            too_fast.join("; "),
            c.host_speed
        )))
    }
}

/// Whether any node of the topology asks for an emulated CPU speed.
pub fn wanted(t: &Topology) -> bool {
    t.nodes
        .iter()
        .any(|n| n.resources.target_cpu_speed.is_some())
}
