//! The fidelity check: configured vs measured figures between two hosts whose WoT traffic goes through a
//! gateway. The lab itself (namespaces, the gateway process) is built by the caller; this module plans the
//! measurements, runs them in the hosts' namespaces and judges them.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use wotemu_topology::model::{Conditions, Distribution, Fairness, QueueLimit};

use crate::dist::{Measured, Shape};

use crate::probe::{self, in_netns, HEADERS, PROBE_BYTES};
use crate::sys;
use crate::Error;

/// Two hosts of one network whose WoT traffic goes through its gateway.
#[derive(Debug, Clone)]
pub struct Lab {
    pub a_ns: String,
    pub a_addr: Ipv4Addr,
    pub b_ns: String,
    pub b_addr: Ipv4Addr,
    /// A UDP port routed through the gateway (a WoT port, e.g. CoAP's 5683).
    pub wot_port: u16,
    /// A UDP port that is not (the direct path).
    pub other_port: u16,
}

/// One figure of the check.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub configured: Option<f64>,
    pub measured: f64,
    /// Allowed difference (absolute, in `unit`); `None`: reported, not judged.
    pub tolerance: Option<f64>,
    pub pass: Option<bool>,
}

impl Figure {
    fn judged(name: &str, unit: &str, configured: f64, measured: f64, tol: f64) -> Figure {
        Figure {
            name: name.into(),
            unit: unit.into(),
            configured: Some(configured),
            measured,
            tolerance: Some(tol),
            pass: Some((measured - configured).abs() <= tol),
        }
    }

    fn info(name: &str, unit: &str, configured: Option<f64>, measured: f64) -> Figure {
        Figure {
            name: name.into(),
            unit: unit.into(),
            configured,
            measured,
            tolerance: None,
            pass: None,
        }
    }
}

/// The round-trip distribution that conditions imply (each direction delayed once, netem's model:
/// normal jitter cut at zero, reordered packets undelayed).
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub mean: f64,
    pub sd: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

pub fn expected_rtt(c: &Conditions, ping: Option<&Measured>) -> Expected {
    let mut rng = SmallRng::seed_from_u64(42);
    let shape = Shape::of(c.distribution, ping).unwrap_or(Shape {
        distribution: Distribution::Normal,
        table: None,
        ping: None,
    });
    let mut corr = [crate::dist::Correlated::default(); 2];
    // A round trip: the probe goes up (to the WoT port), its echo comes down; each delay drawn as the
    // shaper draws it (the same distribution, table and correlation).
    let mut one = |rng: &mut SmallRng, up: bool| -> f64 {
        let (latency, jitter, _) = c.one_way(up);
        if latency > 0.0 && c.reorder_pct > 0.0 && rng.random::<f64>() * 100.0 < c.reorder_pct {
            return 0.0;
        }
        let u = corr[usize::from(up)].next(rng.random(), c.correlation_pct);
        shape.delay_ms(latency, jitter, u)
    };
    let n = 200_000;
    let mut v: Vec<f64> = (0..n)
        .map(|_| one(&mut rng, true) + one(&mut rng, false))
        .collect();
    let mean = v.iter().sum::<f64>() / n as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    v.sort_by(f64::total_cmp);
    Expected {
        mean,
        sd,
        p50: v[n / 2],
        p90: v[n * 9 / 10],
        p99: v[n * 99 / 100],
    }
}

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    pub probes: u64,
    pub pps: f64,
    pub linger: Duration,
    pub flood_size: usize,
}

/// The least tolerance on the mean round trip: it crosses the shaper twice (and the lab's veths and bridge
/// four times); the userspace shaper on a 2-vCPU VM adds about 1.1 ms per round trip.
pub const RTT_FLOOR_MS: f64 = 1.5;

/// How far the measured mean round trip may be from `mean_ms`, the expected one: 5 %, at least
/// [`RTT_FLOOR_MS`]. The plan sizes its probes for it and the measurement judges by it.
fn mean_rtt_tolerance_ms(mean_ms: f64) -> f64 {
    (0.05 * mean_ms).max(RTT_FLOOR_MS)
}

pub fn plan(c: &Conditions, ping: Option<&Measured>) -> Plan {
    let e = expected_rtt(c, ping);
    let tol = mean_rtt_tolerance_ms(e.mean);
    let mut probes = ((4.0 * e.sd / tol).powi(2)).ceil() as u64;
    probes = probes.clamp(100, 3000);
    // Losses and the quantiles of a shaped distribution need many probes to be judged.
    if c.one_way(true).2 > 0.0
        || c.duplicate_pct > 0.0
        || c.corrupt_pct > 0.0
        || !c.distribution.is_normal()
    {
        probes = probes.max(2000);
    }
    // Probes and their echoes may share one bucket: together at most a fifth of the slowest rate, so
    // that they hardly ever wait for tokens (which would add to the delay being measured).
    let slowest = [c.rate_bps, c.rate_up_bps].into_iter().flatten().min();
    let bits = ((PROBE_BYTES + HEADERS) * 8) as f64;
    let pps = slowest
        .map(|r| (0.1 * r as f64 / bits).min(200.0))
        .unwrap_or(200.0);
    let flood_secs = 2.5;
    let flood_size = slowest
        .map(|r| ((r as f64 / 8.0 * flood_secs / 200.0) as usize).saturating_sub(HEADERS))
        .unwrap_or(1400)
        .clamp(100, 1400);
    Plan {
        probes,
        pps,
        linger: Duration::from_millis((e.p99 * 1.5 + 300.0) as u64),
        flood_size,
    }
}

fn rtt_run(lab: &Lab, port: u16, n: u64, pps: f64, linger: Duration) -> Result<probe::Rtt, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let server = {
        let (stop, ready) = (stop.clone(), ready.clone());
        in_netns(&lab.b_ns, move || probe::echo_server(port, stop, ready))
    };
    wait_ready(&ready, &server)?;
    let to = SocketAddr::from((lab.b_addr, port));
    let r = in_netns(&lab.a_ns, move || probe::prober(to, n, pps, linger))
        .join()
        .map_err(|_| Error::Probe("the prober thread panicked".into()));
    stop.store(true, Ordering::SeqCst);
    let far = server
        .join()
        .map_err(|_| Error::Probe("the echo thread panicked".into()))??;
    let mut r = r??;
    r.far = far;
    Ok(r)
}

fn wait_ready<T>(ready: &AtomicBool, h: &std::thread::JoinHandle<T>) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !ready.load(Ordering::SeqCst) {
        if h.is_finished() || std::time::Instant::now() > deadline {
            return Err(Error::Probe("the far end did not start".into()));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// A flood from (ns, port) to (ns, addr, port) at `offered` bit/s; returns the rate at the receiver while
/// the limit was saturated: after the token bucket's burst is spent and the delay line's spread has
/// passed, until the spread of the last packets begins.
#[allow(clippy::too_many_arguments)]
fn flood_run(
    src_ns: &str,
    src_port: u16,
    dst_ns: &str,
    dst: SocketAddr,
    c: &Conditions,
    rate: f64,
    offered: f64,
    size: usize,
) -> Result<f64, Error> {
    let spread_ns = (3.0 * c.jitter_ms * 1e6) as u64;
    let latency_ns = (c.latency_ms * 1e6) as u64;
    let burst_ns = (crate::shaper::BURST_BYTES * 8.0 / (offered - rate) * 1e9) as u64;
    let measure_ns = 2_500_000_000u64;
    let secs = (2 * spread_ns + burst_ns + measure_ns) as f64 / 1e9;
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let port = dst.port();
    let sink = {
        let (stop, ready) = (stop.clone(), ready.clone());
        in_netns(dst_ns, move || probe::sink(port, stop, ready))
    };
    wait_ready(&ready, &sink)?;
    let sent = in_netns(src_ns, move || {
        probe::flood(src_port, dst, Some(offered), secs, size)
    })
    .join()
    .map_err(|_| Error::Probe("the flood thread panicked".into()));
    stop.store(true, Ordering::SeqCst);
    let arrivals = sink
        .join()
        .map_err(|_| Error::Probe("the sink thread panicked".into()))??;
    let (_, t0, t1) = sent??;
    Ok(probe::window_rate(
        &arrivals,
        t0 + latency_ns + spread_ns + burst_ns,
        (t1 + latency_ns).saturating_sub(spread_ns),
    ))
}

fn stats(v: &mut [f64]) -> (f64, f64, f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (mean, sd, q(0.5), q(0.9), q(0.99))
}

/// Binomial tolerance for a percentage measured over `n` trials: 4σ (+ one trial).
fn pct_tol(p_pct: f64, n: u64) -> f64 {
    let p = p_pct / 100.0;
    let n = n.max(1) as f64;
    100.0 * (4.0 * (p * (1.0 - p) / n).sqrt() + 1.0 / n)
}

/// Measures `c` through the lab's gateway. `progress` is told each phase.
pub fn measure(
    lab: &Lab,
    c: &Conditions,
    ping: Option<&Measured>,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Figure>, Error> {
    let e = expected_rtt(c, ping);
    let p = plan(c, ping);
    let mut figs = Vec::new();

    progress(&format!(
        "round trips: {} probes at {:.0}/s to a WoT port",
        p.probes, p.pps
    ));
    let mut r = rtt_run(lab, lab.wot_port, p.probes, p.pps, p.linger)?;
    let (mean, sd, p50, p90, p99) = stats(&mut r.rtts_ms);
    figs.push(Figure::judged(
        "rtt_mean",
        "ms",
        e.mean,
        mean,
        mean_rtt_tolerance_ms(e.mean),
    ));
    figs.push(Figure::judged(
        "rtt_stddev",
        "ms",
        e.sd,
        sd,
        (0.2 * e.sd).max(1.0),
    ));
    // A distribution other than the normal one is judged by its shape: the quantiles within 10 % (at
    // least the round trip's floor) of those its table gives.
    let shaped = !c.distribution.is_normal() && c.jitter_ms.max(c.one_way(true).1) > 0.0;
    for (name, want, got) in [
        ("rtt_p50", e.p50, p50),
        ("rtt_p90", e.p90, p90),
        ("rtt_p99", e.p99, p99),
    ] {
        figs.push(match shaped {
            true => Figure::judged(name, "ms", want, got, (0.1 * want).max(RTT_FLOOR_MS)),
            false => Figure::info(name, "ms", Some(want), got),
        });
    }
    let sent = r.sent;
    let lost_pct = 100.0 * (1.0 - r.far.unique as f64 / sent.max(1) as f64);
    // The far end counts the probes, which go up (to the WoT port): their direction's loss.
    let exp_loss =
        100.0 * (1.0 - (1.0 - c.one_way(true).2 / 100.0) * (1.0 - c.corrupt_pct / 100.0));
    // Losses in bursts vary more than independent ones: the chain's correlation λ = 1 − p − r makes the
    // count's variance (1 + λ) / (1 − λ) times larger, as if fewer probes had been sent.
    let n_eff = match c.loss_gilbert {
        Some(g) => {
            let l = (1.0 - (g.p_pct + g.r_pct) / 100.0).clamp(-0.99, 0.99);
            (sent as f64 * (1.0 - l) / (1.0 + l)).max(1.0) as u64
        }
        None => sent,
    };
    figs.push(Figure::judged(
        "loss",
        "%",
        exp_loss,
        lost_pct,
        pct_tol(exp_loss, n_eff),
    ));
    if let Some(g) = c.loss_gilbert {
        // Bursts: the mean run of consecutive probes lost, judged (±50 %) where the model makes every
        // packet of the bad state a loss and none of the good one.
        let runs = r.far.loss_runs.max(1) as f64;
        let burst = r.far.lost_in_runs as f64 / runs;
        figs.push(match g.mean_burst() {
            Some(want) => Figure::judged("loss_burst_mean", "probes", want, burst, 0.5 * want),
            None => Figure::info("loss_burst_mean", "probes", None, burst),
        });
    }
    let dup_pct = 100.0 * r.far.duplicates as f64 / r.far.unique.max(1) as f64;
    figs.push(Figure::judged(
        "duplicate",
        "%",
        c.duplicate_pct,
        dup_pct,
        pct_tol(c.duplicate_pct, r.far.unique),
    ));
    figs.push(Figure::info(
        "out_of_order",
        "%",
        None,
        100.0 * r.far.out_of_order as f64 / r.far.unique.max(1) as f64,
    ));
    if r.far.damaged > 0 {
        figs.push(Figure::info(
            "damaged_delivered",
            "%",
            None,
            100.0 * r.far.damaged as f64 / sent.max(1) as f64,
        ));
    }

    progress("direct path: probes to a port that is not WoT's");
    let mut d = rtt_run(lab, lab.other_port, 50, 200.0, Duration::from_millis(300))?;
    let (dmean, ..) = stats(&mut d.rtts_ms);
    figs.push(Figure::judged("direct_rtt_mean", "ms", 0.0, dmean, 1.0));

    let loss_factor = |up: bool| (1.0 - c.one_way(up).2 / 100.0).max(0.05);
    // Up: from an ephemeral port to the service port; down: from the service port to a port of no service.
    let ways = [
        (
            "rate_up",
            "towards the service port (up)",
            c.rate_up_bps.or(c.rate_bps),
            (
                &lab.a_ns,
                0,
                &lab.b_ns,
                SocketAddr::from((lab.b_addr, lab.wot_port)),
            ),
        ),
        (
            "rate_down",
            "from the service port (down)",
            c.rate_bps,
            (
                &lab.b_ns,
                lab.wot_port,
                &lab.a_ns,
                SocketAddr::from((lab.a_addr, 40_000)),
            ),
        ),
    ];
    for (name, what, rate, (src_ns, src_port, dst_ns, dst)) in ways {
        let Some(rate) = rate else { continue };
        progress(&format!("throughput {what}"));
        let rate = rate as f64;
        let measured = flood_run(
            src_ns,
            src_port,
            dst_ns,
            dst,
            c,
            rate,
            rate * 3.0 / loss_factor(name == "rate_up"),
            p.flood_size,
        )?;
        figs.push(Figure::judged(name, "bit/s", rate, measured, 0.05 * rate));
    }
    if c.fairness == Fairness::PerNode || c.queue.is_some() {
        figs.extend(sharing(lab, c, p50, &p, &mut progress)?);
    }
    Ok(figs)
}

/// How long a full queue of the up direction takes to drain, ms: its limit (packets of `size` bytes, or a
/// time) plus the bucket's burst, at `rate` bit/s.
fn queue_delay_ms(c: &Conditions, rate: f64, size: usize) -> f64 {
    let burst_ms = crate::shaper::BURST_BYTES * 8.0 / rate * 1e3;
    match c.queue {
        Some(QueueLimit::Packets(n)) => f64::from(n) * ((size + HEADERS) * 8) as f64 / rate * 1e3,
        Some(QueueLimit::Ms(ms)) => ms + burst_ms,
        None => crate::shaper::RATE_LATENCY_NS as f64 / 1e6 + burst_ms,
    }
}

/// How the rate is shared, measured when the conditions give a queue limit or a share per node: two nodes
/// flooding up at once (3× and 1.2× the rate: `per-node` gives each half, `fifo` shares in proportion to
/// what each offers), then a small flow's round trips beside a bulk upload (`fifo`: they wait behind the
/// full queue, once per crossing of the congested bucket; `per-node`: behind one packet at most).
fn sharing(
    lab: &Lab,
    c: &Conditions,
    base_p50: f64,
    p: &Plan,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<Figure>, Error> {
    let Some(rate) = c.rate_up_bps.or(c.rate_bps).map(|r| r as f64) else {
        return Ok(Vec::new());
    };
    let per_node = c.fairness == Fairness::PerNode;
    let to = |ns: &str| {
        let addr = if ns == lab.a_ns {
            lab.a_addr
        } else {
            lab.b_addr
        };
        SocketAddr::from((addr, lab.wot_port))
    };
    progress("sharing: two nodes sending up at once, at 3× and 1.2× the rate");
    let (a, b) = std::thread::scope(|s| {
        let flood = |src: &'static str, factor: f64| {
            let (src_ns, dst_ns) = if src == "a" {
                (&lab.a_ns, &lab.b_ns)
            } else {
                (&lab.b_ns, &lab.a_ns)
            };
            let dst = to(dst_ns);
            s.spawn(move || flood_run(src_ns, 0, dst_ns, dst, c, rate, factor * rate, p.flood_size))
        };
        let (a, b) = (flood("a", 3.0), flood("b", 1.2));
        (a.join(), b.join())
    });
    let joined = |r: std::thread::Result<Result<f64, Error>>| {
        r.map_err(|_| Error::Probe("a flood thread panicked".into()))?
    };
    let (a, b) = (joined(a)?, joined(b)?);
    let mut figs = Vec::new();
    for (name, got, offered) in [("share_a", a, 3.0), ("share_b", b, 1.2)] {
        figs.push(match per_node {
            true => Figure::judged(name, "bit/s", rate / 2.0, got, 0.1 * rate / 2.0),
            false => Figure::info(name, "bit/s", Some(rate * offered / 4.2), got),
        });
    }

    progress("sharing: a small flow's round trips beside a bulk upload");
    // b probes a's WoT port while a floods b's: the probes go up beside the bulk; their echoes come down,
    // through the same bucket when the directions share one.
    let probes = (p.pps * 4.0).max(40.0) as u64;
    let secs = probes as f64 / p.pps + 1.5;
    let (bulk_dst, bulk_ns) = (to(&lab.b_ns), lab.a_ns.clone());
    let bulk = in_netns(&bulk_ns, move || {
        probe::flood(0, bulk_dst, Some(3.0 * rate), secs, 1200)
    });
    let swapped = Lab {
        a_ns: lab.b_ns.clone(),
        a_addr: lab.b_addr,
        b_ns: lab.a_ns.clone(),
        b_addr: lab.a_addr,
        ..lab.clone()
    };
    let mut r = rtt_run(&swapped, lab.wot_port, probes, p.pps, p.linger)?;
    bulk.join()
        .map_err(|_| Error::Probe("the bulk upload's thread panicked".into()))??;
    // The first quarter of the probes go while the bulk fills the queue.
    let skip = r.rtts_ms.len() / 4;
    let (_, _, p50, ..) = stats(&mut r.rtts_ms[skip..]);
    let crossings = if c.rate_up_bps.is_some() { 1.0 } else { 2.0 };
    let packet_ms = ((1200 + HEADERS) * 8) as f64 / rate * 1e3;
    let (want, tol) = match per_node {
        true => (0.0, 2.0 * crossings * packet_ms + RTT_FLOOR_MS),
        false => {
            let want = crossings * queue_delay_ms(c, rate, 1200);
            (want, 0.25 * want + RTT_FLOOR_MS)
        }
    };
    figs.push(Figure::judged(
        "bulk_rtt_rise",
        "ms",
        want,
        p50 - base_p50,
        tol,
    ));
    Ok(figs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round trip crosses each direction once: an asymmetric link's is the sum of its two delays.
    #[test]
    fn expected_rtt_of_an_asymmetric_link_is_up_plus_down() {
        let c = Conditions {
            latency_ms: 20.0,
            latency_up_ms: Some(80.0),
            ..Default::default()
        };
        let e = expected_rtt(&c, None);
        assert!((e.mean - 100.0).abs() < 0.01, "{e:?}");
    }

    #[test]
    fn expected_rtt_of_plain_delay() {
        let c = Conditions {
            latency_ms: 50.0,
            ..Default::default()
        };
        let e = expected_rtt(&c, None);
        assert_eq!(e.mean, 100.0);
        assert_eq!(e.sd, 0.0);
    }

    #[test]
    fn expected_rtt_with_jitter_is_two_cut_normals() {
        let c = Conditions {
            latency_ms: 300.0,
            jitter_ms: 150.0,
            ..Default::default()
        };
        let e = expected_rtt(&c, None);
        // Closed forms of Y = max(0, X), X ~ N(μ = 300, σ = 150), a = μ/σ = 2 (not the code's Monte Carlo):
        // E[Y] = μΦ(a) + σφ(a), E[Y²] = (μ² + σ²)Φ(a) + μσφ(a); a round trip is two independent Y.
        let (phi_cdf, phi_pdf) = (0.977_249_868, 0.053_990_967);
        let (mu, sigma) = (300.0, 150.0);
        let m1 = mu * phi_cdf + sigma * phi_pdf;
        let m2 = (mu * mu + sigma * sigma) * phi_cdf + mu * sigma * phi_pdf;
        let var = m2 - m1 * m1;
        assert!((e.mean - 2.0 * m1).abs() < 1.0, "{e:?} vs {}", 2.0 * m1);
        assert!(
            (e.sd - (2.0 * var).sqrt()).abs() < 1.0,
            "{e:?} vs {}",
            (2.0 * var).sqrt()
        );
        // The cut makes it narrower than two uncut normals would be.
        assert!(e.sd < 150.0 * 2f64.sqrt() - 3.0, "{e:?}");
    }

    #[test]
    fn reordered_packets_are_not_delayed() {
        let c = Conditions {
            latency_ms: 100.0,
            reorder_pct: 100.0,
            ..Default::default()
        };
        let e = expected_rtt(&c, None);
        assert_eq!((e.mean, e.p99), (0.0, 0.0));
    }

    #[test]
    fn plans_fit_slow_links() {
        let c = wotemu_topology::model::Preset::Gprs.conditions();
        let p = plan(&c, None);
        // 50 kbit/s: probes and echoes stay within half of it.
        assert!(p.pps * ((PROBE_BYTES + HEADERS) * 8) as f64 * 2.0 <= 10_000.0 + 1.0);
        assert!(p.flood_size >= 100);
        assert!(p.probes >= 100);
    }
}

/// A trace replay's measurement: what one pass measures (the lab restarts the gateway for each, so that
/// the trace starts again at its first row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracePass {
    /// A flood above the trace's rate from the service port (down): the receiver's rate per second.
    Throughput,
    /// 100 probes/s to the service port: when each step of the delay lands.
    Delay,
}

/// The passes a trace needs: throughput when it sets `rate`, delay when it sets `delay`.
pub fn trace_passes(spec: &crate::Spec) -> Vec<TracePass> {
    let Some(t) = &spec.trace else {
        return Vec::new();
    };
    let mut v = Vec::new();
    if t.points.iter().any(|p| p.rate_bps.is_some()) {
        v.push(TracePass::Throughput);
    }
    if t.points.iter().any(|p| p.latency_ms.is_some()) {
        v.push(TracePass::Delay);
    }
    v
}

/// One trace pass through a gateway that started replaying at `start_ns` (`CLOCK_MONOTONIC`), for `secs`.
///
/// Throughput: for each whole second after the first, the receiver's rate against the mean rate the trace
/// gives in that second; the tolerance is 10 %, plus, in a second whose rate fell, what the gateway may
/// still hold from before (the bucket's burst and 20 ms at the earlier rate). Delay: for each step of the
/// trace's delay larger than four times its jitter (and 5 ms), the first probe sent after the step whose
/// round trip (and the next four's median) is past the midpoint between the old and new round trip: it
/// must be within 50 ms of the step.
pub fn measure_trace(
    lab: &Lab,
    spec: &crate::Spec,
    pass: TracePass,
    start_ns: u64,
    secs: f64,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Figure>, Error> {
    match pass {
        TracePass::Throughput => trace_throughput(lab, spec, start_ns, secs, &mut progress),
        TracePass::Delay => trace_delay(lab, spec, start_ns, secs, &mut progress),
    }
}

/// The throughput pass of [`measure_trace`].
fn trace_throughput(
    lab: &Lab,
    spec: &crate::Spec,
    start_ns: u64,
    secs: f64,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<Figure>, Error> {
    let mut figs = Vec::new();
    progress(&format!(
        "trace throughput, {secs:.0} s flood from the service port"
    ));
    let max_rate = (0..(secs * 100.0) as usize)
        .filter_map(|i| spec.at(i as f64 * 10.0).rate_bps)
        .max()
        .unwrap_or(1_000_000) as f64;
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let dst = SocketAddr::from((lab.a_addr, 40_000));
    let sink = {
        let (stop, ready) = (stop.clone(), ready.clone());
        in_netns(&lab.a_ns, move || probe::sink(40_000, stop, ready))
    };
    wait_ready(&ready, &sink)?;
    let left = secs - (sys::monotonic_ns().saturating_sub(start_ns)) as f64 / 1e9;
    let (src_ns, port) = (lab.b_ns.clone(), lab.wot_port);
    let sent = in_netns(&src_ns, move || {
        probe::flood(port, dst, Some(max_rate * 1.5), left.max(1.0), 1200)
    })
    .join()
    .map_err(|_| Error::Probe("the flood thread panicked".into()));
    stop.store(true, Ordering::SeqCst);
    let arrivals = sink
        .join()
        .map_err(|_| Error::Probe("the sink thread panicked".into()))??;
    sent??;
    let mut worst: Option<(f64, f64, f64, u64)> = None;
    let (mut within, mut total) = (0, 0);
    let mean_rate = |from_ms: f64| {
        (0..100)
            .map(|i| spec.at(from_ms + i as f64 * 10.0).rate_bps.unwrap_or(0) as f64)
            .sum::<f64>()
            / 100.0
    };
    for k in 1..(secs.floor() as u64) {
        let from = start_ns + k * 1_000_000_000;
        let measured = probe::window_rate(&arrivals, from, from + 1_000_000_000);
        let expected = mean_rate(k as f64 * 1000.0);
        let before = mean_rate((k - 1) as f64 * 1000.0);
        let held = if before > expected {
            crate::shaper::BURST_BYTES * 8.0 + before * 0.020
        } else {
            0.0
        };
        let tol = 0.10 * expected + held;
        total += 1;
        if (measured - expected).abs() <= tol {
            within += 1;
        }
        let err = (measured - expected).abs() - tol;
        if worst.is_none_or(|w| err > w.2) {
            worst = Some((expected, measured, err, k));
        }
    }
    if let Some((expected, measured, _, k)) = worst {
        let mut f = Figure::judged(
            "trace_rate_worst_second",
            "bit/s",
            expected,
            measured,
            0.10 * expected,
        );
        f.pass = Some(within == total);
        f.name = format!("trace_rate_worst_second (s {k})");
        figs.push(f);
        figs.push(Figure::info(
            "trace_rate_seconds_within",
            "%",
            Some(100.0),
            100.0 * within as f64 / total.max(1) as f64,
        ));
    }
    Ok(figs)
}

/// The delay pass of [`measure_trace`].
fn trace_delay(
    lab: &Lab,
    spec: &crate::Spec,
    start_ns: u64,
    secs: f64,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<Figure>, Error> {
    let mut figs = Vec::new();
    progress(&format!(
        "trace delay steps, {secs:.0} s of probes at 100/s"
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let port = lab.wot_port;
    let server = {
        let (stop, ready) = (stop.clone(), ready.clone());
        in_netns(&lab.b_ns, move || probe::echo_server(port, stop, ready))
    };
    wait_ready(&ready, &server)?;
    let left = secs - (sys::monotonic_ns().saturating_sub(start_ns)) as f64 / 1e9;
    let n = (left.max(1.0) * 100.0) as u64;
    let to = SocketAddr::from((lab.b_addr, port));
    let r = in_netns(&lab.a_ns, move || {
        probe::prober(to, n, 100.0, Duration::from_secs(2))
    })
    .join()
    .map_err(|_| Error::Probe("the prober thread panicked".into()));
    stop.store(true, Ordering::SeqCst);
    server
        .join()
        .map_err(|_| Error::Probe("the echo thread panicked".into()))??;
    let mut samples = r??.samples;
    samples.sort_by_key(|s| s.0);
    let steps = delay_steps(spec, secs * 1000.0);
    let mut landed = Vec::new();
    for (t_ms, d0, d1) in steps {
        let at_ns = start_ns + (t_ms * 1e6) as u64;
        let threshold = 0.5 * d0 + 1.5 * d1;
        let up = d1 > d0;
        let from = at_ns.saturating_sub(((d0 + 100.0) * 1e6) as u64);
        let idx: Vec<usize> = (0..samples.len())
            .filter(|&i| samples[i].0 >= from)
            .collect();
        let found = idx.iter().find(|&&i| {
            let mut w: Vec<f64> = samples[i..(i + 5).min(samples.len())]
                .iter()
                .map(|s| s.1)
                .collect();
            w.sort_by(f64::total_cmp);
            let med = w[w.len() / 2];
            if up {
                med >= threshold
            } else {
                med <= threshold
            }
        });
        if let Some(&i) = found {
            landed.push(((samples[i].0 as f64 - at_ns as f64) / 1e6, t_ms));
        }
    }
    if let Some(&(err, t_ms)) = landed.iter().max_by(|a, b| a.0.abs().total_cmp(&b.0.abs())) {
        let mut f = Figure::judged("trace_delay_step_landing", "ms", 0.0, err, 50.0);
        f.name = format!(
            "trace_delay_step_landing (worst, step at {:.1} s)",
            t_ms / 1000.0
        );
        figs.push(f);
        figs.push(Figure::info(
            "trace_delay_steps_measured",
            "steps",
            None,
            landed.len() as f64,
        ));
    } else {
        figs.push(Figure::info(
            "trace_delay_steps_measured",
            "steps",
            None,
            0.0,
        ));
    }
    Ok(figs)
}

/// The steps of a trace's delay within `[1 s, until_ms)` large enough to see in round trips: (time, old,
/// new) one-way delays, at most 20.
fn delay_steps(spec: &crate::Spec, until_ms: f64) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    let mut t = 0.0;
    let mut prev = spec.at(0.0);
    while let Some((at, _)) = spec.next_change(t) {
        if at >= until_ms - 1000.0 || out.len() >= 20 {
            break;
        }
        let c = spec.at(at);
        let jitter = c.jitter_ms.max(prev.jitter_ms);
        if at >= 1000.0 && (c.latency_ms - prev.latency_ms).abs() > (4.0 * jitter).max(5.0) {
            out.push((at, prev.latency_ms, c.latency_ms));
        }
        prev = c;
        t = at;
    }
    out
}
