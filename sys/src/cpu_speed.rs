//! Emulated CPU speed (0.6's `target_cpu_speed`): sysbench's CPU benchmark, its calibration against CFS
//! quotas, and the quota that gives a target speed.
//!
//! The benchmark is `sysbench cpu`'s: one *event* verifies which numbers from 3 to `max_prime` (10,000 by
//! default) are prime by trial division up to their square root; the speed is events per second on one
//! thread. A [`Calibration`] measures it at several CFS quotas (fractions of one CPU), fits a line of speed
//! against quota by least squares, and inverts it: the quota for a target speed. It knows the host it was
//! measured on (CPU model, core count), so a cached one is redone when either changes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// sysbench's default `--cpu-max-prime`.
pub const MAX_PRIME: u64 = 10_000;
/// The CFS period quotas are written against, µs (the kernel's default).
pub const PERIOD_US: u64 = 100_000;
/// The quotas (fractions of one CPU) a calibration measures at.
pub const QUOTAS: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 1.0];
/// Bump when the method changes: older cached calibrations are then redone.
pub const METHOD_VERSION: u32 = 1;

/// One event of sysbench's CPU test: counts the primes up to `max_prime` as sysbench does (trial division
/// by every `l` from 2 to `sqrt(c)`).
pub fn event(max_prime: u64) -> u64 {
    let mut n = 0u64;
    let mut c = 3u64;
    while c < max_prime {
        let t = (c as f64).sqrt();
        let mut l = 2u64;
        while (l as f64) <= t {
            if c % l == 0 {
                break;
            }
            l += 1;
        }
        if (l as f64) > t {
            n += 1;
        }
        c += 1;
    }
    n
}

/// Events per second of [`event`] on the calling thread, run for `duration` (wall clock, as sysbench).
pub fn measure(duration: Duration, max_prime: u64) -> f64 {
    let start = Instant::now();
    let mut events = 0u64;
    let mut check = 0u64;
    while start.elapsed() < duration {
        check = check.wrapping_add(std::hint::black_box(event(std::hint::black_box(max_prime))));
        events += 1;
    }
    std::hint::black_box(check);
    events as f64 / start.elapsed().as_secs_f64()
}

/// The speed measured at one quota.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Fraction of one CPU (CFS quota / period).
    pub quota: f64,
    /// Events per second.
    pub speed: f64,
}

/// A host's CPU speed against CFS quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub method_version: u32,
    pub cpu_model: String,
    pub cores: u32,
    pub max_prime: u64,
    /// Seconds the benchmark ran at each quota.
    pub seconds_per_point: f64,
    pub points: Vec<Point>,
    /// speed = slope × quota + intercept (least squares over `points`).
    pub slope: f64,
    pub intercept: f64,
    /// Events per second of one unthrottled CPU (the fitted line at quota 1).
    pub host_speed: f64,
    /// When it was measured (RFC 3339) and how long it took, seconds.
    pub measured_at: String,
    pub took_seconds: f64,
}

/// A target the host cannot give.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a target CPU speed of {target} events/s is above what this host gives ({host:.0} events/s on one CPU, sysbench's CPU test with primes up to {max_prime})")]
pub struct TooFast {
    pub target: f64,
    pub host: f64,
    pub max_prime: u64,
}

/// The points (sorted by quota) up to where the speed stops following the quota: a host (or a container whose
/// parent cgroup is) limited below one CPU gives no more beyond its limit, and those points would flatten the
/// line. A top point is left out while it is less than halfway from its neighbour's speed to the speed
/// proportional scaling would give; at least two points stay.
fn linear_part(points: &[Point]) -> &[Point] {
    let mut n = points.len();
    while n > 2 {
        let (lo, hi) = (points[n - 2], points[n - 1]);
        if lo.quota <= 0.0 || lo.speed <= 0.0 {
            break;
        }
        let proportional = lo.speed * hi.quota / lo.quota;
        if hi.speed - lo.speed >= 0.5 * (proportional - lo.speed) {
            break;
        }
        n -= 1;
    }
    &points[..n]
}

/// Least-squares line through the points: (slope, intercept).
pub fn fit(points: &[Point]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.is_empty() {
        return (0.0, 0.0);
    }
    let mx = points.iter().map(|p| p.quota).sum::<f64>() / n;
    let my = points.iter().map(|p| p.speed).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.quota - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.quota - mx) * (p.speed - my)).sum();
    if sxx == 0.0 {
        return (my / mx.max(f64::MIN_POSITIVE), 0.0);
    }
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

impl Calibration {
    /// A calibration from measured points on the host `(cpu_model, cores)`.
    pub fn from_points(
        cpu_model: &str,
        cores: u32,
        max_prime: u64,
        seconds_per_point: f64,
        points: Vec<Point>,
        measured_at: String,
        took_seconds: f64,
    ) -> Calibration {
        let linear = linear_part(&points);
        let (slope, intercept) = fit(linear);
        // The line at one full CPU: steadier than the one point measured there; on a host with less than one
        // CPU (a Swarm worker limited to half a CPU) the line stops at the cap, and the cap is what a task gets.
        let host_speed = if linear.len() < points.len() {
            points.iter().map(|p| p.speed).fold(0.0, f64::max)
        } else {
            slope + intercept
        };
        Calibration {
            method_version: METHOD_VERSION,
            cpu_model: cpu_model.to_owned(),
            cores,
            max_prime,
            seconds_per_point,
            points,
            slope,
            intercept,
            host_speed,
            measured_at,
            took_seconds,
        }
    }

    /// Whether this calibration was measured on a host like `(cpu_model, cores)` with the current method.
    pub fn is_for(&self, cpu_model: &str, cores: u32, max_prime: u64) -> bool {
        self.method_version == METHOD_VERSION
            && self.cpu_model == cpu_model
            && self.cores == cores
            && self.max_prime == max_prime
    }

    /// The quota (fraction of one CPU, at least 1 %) that gives `target` events/s; an error when the host
    /// cannot give it.
    pub fn quota_for(&self, target: f64) -> Result<f64, TooFast> {
        if target > self.host_speed || self.slope <= 0.0 {
            return Err(TooFast {
                target,
                host: self.host_speed,
                max_prime: self.max_prime,
            });
        }
        Ok(((target - self.intercept) / self.slope).clamp(0.01, 1.0))
    }
}

/// Runs a calibration: `set_quota(q)` limits what `measure_at()` measures to `q` of one CPU, then
/// `measure_at()` returns events per second. Quotas are visited from the highest down.
pub fn calibrate<E>(
    cpu_model: &str,
    cores: u32,
    max_prime: u64,
    seconds_per_point: f64,
    mut set_quota: impl FnMut(f64) -> Result<(), E>,
    mut measure_at: impl FnMut() -> Result<f64, E>,
) -> Result<Calibration, E> {
    let start = Instant::now();
    let mut points = Vec::new();
    for &q in QUOTAS.iter().rev() {
        set_quota(q)?;
        points.push(Point {
            quota: q,
            speed: measure_at()?,
        });
    }
    points.reverse();
    Ok(Calibration::from_points(
        cpu_model,
        cores,
        max_prime,
        seconds_per_point,
        points,
        String::new(),
        start.elapsed().as_secs_f64(),
    ))
}

/// The cgroup (v1 `cpu` controller, or the v2 unified one) this process is in, as a folder of this
/// mount namespace's `/sys/fs/cgroup`, and whether it is v2.
pub fn own_cpu_cgroup() -> Option<(PathBuf, bool)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let root = Path::new("/sys/fs/cgroup");
    let v2 = root.join("cgroup.controllers").exists();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if v2 && controllers.is_empty() {
            // With a cgroup namespace the path may be `/` for the container's own cgroup.
            return Some((root.join(rel), true));
        }
        if !v2 && controllers.split(',').any(|c| c == "cpu") {
            let base = root.join("cpu");
            let base = base.canonicalize().unwrap_or(base);
            let full = base.join(rel);
            // Inside a container the controller's root is the container's own cgroup.
            let dir = if full.exists() { full } else { base };
            return Some((dir, false));
        }
    }
    None
}

/// Sets the CFS quota of the cgroup folder `dir` to `quota` of one CPU (`None`: unlimited).
pub fn set_quota(dir: &Path, v2: bool, quota: Option<f64>) -> std::io::Result<()> {
    let us = quota.map(|q| ((q * PERIOD_US as f64).round() as u64).max(1000));
    if v2 {
        let v = match us {
            Some(us) => format!("{us} {PERIOD_US}"),
            None => format!("max {PERIOD_US}"),
        };
        std::fs::write(dir.join("cpu.max"), v)
    } else {
        std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
        let v = us.map(|u| u.to_string()).unwrap_or_else(|| "-1".into());
        std::fs::write(dir.join("cpu.cfs_quota_us"), v)
    }
}

/// The CFS quota of the cgroup folder `dir`, as a fraction of one CPU (`None`: unlimited or unreadable).
pub fn quota_of(dir: &Path, v2: bool) -> Option<f64> {
    if v2 {
        let text = std::fs::read_to_string(dir.join("cpu.max")).ok()?;
        let mut it = text.split_whitespace();
        let q: f64 = it.next()?.parse().ok()?;
        let p: f64 = it.next()?.parse().ok()?;
        Some(q / p)
    } else {
        let q: f64 = std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let p: f64 = std::fs::read_to_string(dir.join("cpu.cfs_period_us"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (q > 0.0).then_some(q / p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_counts_the_primes_as_sysbench_does() {
        // sysbench counts c in [3, max_prime) for which no l in [2, sqrt(c)] divides c: the odd primes,
        // and 4 is not counted (2 divides it). π(10000) = 1229, minus the prime 2.
        assert_eq!(event(10_000), 1228);
        assert_eq!(event(10), 3); // 3, 5, 7
    }

    #[test]
    fn measuring_gives_a_positive_rate() {
        let s = measure(Duration::from_millis(200), MAX_PRIME);
        assert!(s > 10.0, "{s}");
    }

    #[test]
    fn a_host_below_one_cpu_is_fitted_up_to_its_cap() {
        // Half a CPU: the speed follows the quota up to 0.5, then stays.
        let points: Vec<Point> = QUOTAS
            .iter()
            .map(|&q| Point {
                quota: q,
                speed: 1000.0 * q.min(0.5),
            })
            .collect();
        let c = Calibration::from_points("cpu", 2, MAX_PRIME, 1.0, points, String::new(), 5.0);
        assert!((c.slope - 1000.0).abs() < 1e-6, "{c:?}");
        assert!((c.host_speed - 500.0).abs() < 1e-6, "{c:?}");
        assert!((c.quota_for(300.0).unwrap() - 0.3).abs() < 1e-9);
        assert!(c.quota_for(600.0).is_err(), "above the cap");
        // Noise on an uncapped host keeps every point.
        let noisy = [
            (0.1, 98.0),
            (0.25, 255.0),
            (0.5, 490.0),
            (0.75, 760.0),
            (1.0, 985.0),
        ]
        .map(|(quota, speed)| Point { quota, speed });
        assert_eq!(linear_part(&noisy).len(), 5);
    }

    #[test]
    fn the_fit_inverts_to_the_quota_of_a_target() {
        let points: Vec<Point> = QUOTAS
            .iter()
            .map(|&q| Point {
                quota: q,
                speed: 1000.0 * q + 5.0,
            })
            .collect();
        let c = Calibration::from_points("cpu", 2, MAX_PRIME, 1.0, points, String::new(), 5.0);
        assert!((c.slope - 1000.0).abs() < 1e-9 && (c.intercept - 5.0).abs() < 1e-9);
        assert!((c.host_speed - 1005.0).abs() < 1e-9);
        assert!((c.quota_for(505.0).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(c.quota_for(1.0).unwrap(), 0.01);
        let e = c.quota_for(2000.0).unwrap_err();
        assert!((e.host - 1005.0).abs() < 1e-9);
        assert!(e.to_string().contains("1005 events/s"), "{e}");
        assert!(c.is_for("cpu", 2, MAX_PRIME));
        assert!(!c.is_for("cpu", 4, MAX_PRIME));
        assert!(!c.is_for("other", 2, MAX_PRIME));
    }

    #[test]
    fn calibrate_visits_every_quota_and_fits() {
        let at = std::cell::Cell::new(0.0);
        let c = calibrate::<()>(
            "cpu",
            2,
            MAX_PRIME,
            0.0,
            |q| {
                at.set(q);
                Ok(())
            },
            || Ok(800.0 * at.get()),
        );
        let c = c.unwrap();
        assert_eq!(c.points.len(), QUOTAS.len());
        assert_eq!(c.points[0].quota, 0.1);
        assert!((c.slope - 800.0).abs() < 1e-9);
        assert!((c.quota_for(400.0).unwrap() - 0.5).abs() < 1e-9);
    }
}
