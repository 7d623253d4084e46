//! The userspace shaper: forwarded packets are queued to this process with NFQUEUE (an iptables rule in
//! the gateway's namespace), held for their delay, rate-limited, dropped, corrupted or duplicated as the
//! [`Shaper`] decides, and released with a verdict. Used when the kernel has no `sch_netem`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cleanup::Undo;
use crate::nfqueue::{kernel_drops, Queue, Verdict};
use crate::shaper::{classify, Pkt, Shaper, Stats};
use crate::spec::Spec;
use crate::sys;
use crate::Error;

/// A verdict to send: packet id, verdict, changed bytes.
type PendingVerdict = (u32, Verdict, Option<Box<[u8]>>);

/// Chain in the mangle table that sends forwarded packets to the queue.
const CHAIN: &str = "WOTEMU_GW";

/// Options of the userspace shaper.
#[derive(Debug, Clone)]
pub struct Options {
    pub queue_num: u16,
    /// Service ports: packets to them are "up" (for `rate_up`).
    pub ports: Vec<u16>,
    pub seed: u64,
    /// Measure each window's delay and lateness per direction (the gateway's own accounting).
    pub windows: bool,
    /// How far into the schedule and trace to start (ms).
    pub elapsed_ms: f64,
}

/// What the shaper did, and how late it released packets relative to their planned time.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub stats: Stats,
    /// Packets the kernel dropped because the queue or socket buffer was full.
    pub kernel_dropped: u64,
    pub lateness_p50_us: f64,
    pub lateness_p99_us: f64,
    pub lateness_max_us: f64,
    pub cpu_s: f64,
    /// The conditions in force.
    pub conditions: wotemu_topology::model::Conditions,
    /// The window since the previous report, per direction (index: [`Dir`](crate::shaper::Dir) as usize).
    pub windows: [Window; 2],
}

/// What one direction's packets met in a window.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Window {
    /// Packets forwarded in the window that were measured.
    pub measured: u64,
    /// The delay applied (arrival to leaving the delay line), ms.
    pub delay_mean_ms: Option<f64>,
    pub delay_p50_ms: Option<f64>,
    pub delay_p99_ms: Option<f64>,
    pub lateness_p50_us: Option<f64>,
    pub lateness_p99_us: Option<f64>,
    /// Packets waiting at the end of the window.
    pub queue_packets: u64,
}

/// The window histograms of one direction.
#[derive(Default)]
struct WindowHist {
    delay: Histogram,
    delay_sum_us: u64,
    lateness: Histogram,
}

impl WindowHist {
    fn take(&mut self, queue_packets: usize) -> Window {
        let n = self.delay.n;
        let w = Window {
            measured: n,
            delay_mean_ms: (n > 0).then(|| self.delay_sum_us as f64 / n as f64 / 1000.0),
            delay_p50_ms: (n > 0).then(|| self.delay.quantile(0.5) / 1000.0),
            delay_p99_ms: (n > 0).then(|| self.delay.quantile(0.99) / 1000.0),
            lateness_p50_us: (self.lateness.n > 0).then(|| self.lateness.quantile(0.5)),
            lateness_p99_us: (self.lateness.n > 0).then(|| self.lateness.quantile(0.99)),
            queue_packets: queue_packets as u64,
        };
        self.delay.clear();
        self.lateness.clear();
        self.delay_sum_us = 0;
        w
    }
}

/// A log-linear histogram of microseconds (1 µs resolution below 1 ms, 1% above).
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 1000 + 1200],
            n: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        if us < 1000 {
            us as usize
        } else {
            // 1000 * 1.01^k
            let k = ((us as f64 / 1000.0).ln() / 1.01f64.ln()) as usize;
            (1000 + k).min(2199)
        }
    }

    fn value(b: usize) -> f64 {
        if b < 1000 {
            b as f64
        } else {
            1000.0 * 1.01f64.powi((b - 1000) as i32)
        }
    }

    fn clear(&mut self) {
        if self.n > 0 {
            self.counts.iter_mut().for_each(|c| *c = 0);
            self.n = 0;
            self.max = 0;
        }
    }

    pub fn record(&mut self, us: u64) {
        self.counts[Self::bucket(us)] += 1;
        self.n += 1;
        self.max = self.max.max(us);
    }

    pub fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let target = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Self::value(b);
            }
        }
        self.max as f64
    }
}

fn install_rules(queue_num: u16, rec: &mut Undo) -> Result<(), Error> {
    // Idempotent: a chain left by an earlier gateway is emptied and reused; the jump is added once.
    rec.push(&["iptables", "-w", "-t", "mangle", "-X", CHAIN]);
    rec.push(&["iptables", "-w", "-t", "mangle", "-F", CHAIN]);
    rec.push(&[
        "iptables", "-w", "-t", "mangle", "-D", "FORWARD", "-j", CHAIN,
    ]);
    if sys::iptables(&["-t", "mangle", "-N", CHAIN]).is_err() {
        sys::iptables(&["-t", "mangle", "-F", CHAIN])?;
    }
    if sys::iptables(&["-t", "mangle", "-C", "FORWARD", "-j", CHAIN]).is_err() {
        sys::iptables(&["-t", "mangle", "-A", "FORWARD", "-j", CHAIN])?;
    }
    sys::iptables(&[
        "-t",
        "mangle",
        "-A",
        CHAIN,
        "-j",
        "NFQUEUE",
        "--queue-num",
        &queue_num.to_string(),
    ])?;
    Ok(())
}

struct Injector {
    fd: std::os::fd::OwnedFd,
}

impl Injector {
    fn open() -> Option<Injector> {
        use std::os::fd::FromRawFd;
        // SAFETY: socket(2); owned from here on.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor.
        Some(Injector {
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Sends a copy of an IPv4 packet (its header included) as the gateway would forward it.
    fn send(&self, data: &[u8]) -> bool {
        use std::os::fd::AsRawFd;
        if data.len() < 20 || data[0] >> 4 != 4 {
            return false;
        }
        // SAFETY: zeroed sockaddr_in is valid; sendto(2) of a borrowed buffer.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_addr.s_addr = u32::from_ne_bytes([data[16], data[17], data[18], data[19]]);
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                0,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
        r >= 0
    }
}

/// Runs the userspace shaper in the current network namespace until `stop` is set. `on_ready` is called once
/// packets are queued to it; `on_tick` about once a second with the counters so far.
pub fn run(
    spec: &Spec,
    opts: &Options,
    stop: &AtomicBool,
    hooks: &mut impl crate::Hooks,
) -> Result<Report, Error> {
    // SAFETY: prctl(2): wake-ups within a microsecond rather than the default 50 µs slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64) };
    let needs_data = spec
        .all_conditions()
        .iter()
        .any(|c| c.duplicate_pct > 0.0 || c.corrupt_pct > 0.0);
    let copy_range = if needs_data { 65535 } else { 128 };
    let mut queue = Queue::open(opts.queue_num, copy_range, 262_144, 64)
        .map_err(|e| Error::Queue(format!("binding NFQUEUE {}: {e}", opts.queue_num)))?;
    let mut rec = Undo::new("gateway");
    install_rules(opts.queue_num, &mut rec)?;
    if let Err(e) = sys::sysctl("net.ipv4.ip_forward", "1") {
        // Read-only /proc/sys in a container whose forwarding is set by `sysctls:` is fine.
        tracing::debug!(error = %e, "ip_forward not set here.");
    }
    let injector = if needs_data { Injector::open() } else { None };
    // The schedule's and trace's times count from here (earlier for a gateway that takes over).
    let start = sys::monotonic_ns().saturating_sub((opts.elapsed_ms * 1e6) as u64);
    hooks.ready(start);
    let mut next_change = spec.next_change(opts.elapsed_ms);
    let mut shaper = Shaper::new(spec.at(opts.elapsed_ms), opts.seed).with_ping(spec.ping.clone());
    let mut hist = Histogram::default();
    let mut win: [WindowHist; 2] = Default::default();
    let (base_q, base_u) = kernel_drops(opts.queue_num).unwrap_or((0, 0));
    let cpu0 = sys::process_cpu_s();
    let mut next_tick = start + 1_000_000_000;
    let report = |shaper: &Shaper, hist: &Histogram, win: &mut [WindowHist; 2]| {
        let (q, u) = kernel_drops(opts.queue_num).unwrap_or((base_q, base_u));
        let queued = shaper.backlog_by_dir();
        Report {
            stats: shaper.stats,
            kernel_dropped: (q - base_q) + (u - base_u),
            lateness_p50_us: hist.quantile(0.5),
            lateness_p99_us: hist.quantile(0.99),
            lateness_max_us: hist.max as f64,
            cpu_s: sys::process_cpu_s() - cpu0,
            conditions: shaper.conditions(),
            windows: [win[0].take(queued[0]), win[1].take(queued[1])],
        }
    };
    let mut err = None;
    while !stop.load(Ordering::Relaxed) {
        let now = sys::monotonic_ns();
        let t_ms = (now - start) as f64 / 1e6;
        while let Some((at, sched)) = next_change.filter(|(at, _)| t_ms >= *at) {
            let c = spec.at(at);
            let old = shaper.conditions();
            if c != old {
                tracing::debug!(?c, "conditions change");
                shaper.set_conditions(c);
                hooks.changed(crate::Change::planned(at, sched), &old, &c);
            }
            next_change = spec.next_change(at);
        }
        if let Some(c) = hooks.live() {
            let old = shaper.conditions();
            tracing::info!(?c, "conditions changed live");
            shaper.set_conditions(c);
            hooks.changed(crate::Change::Live, &old, &c);
        }
        // Take in what has arrived (a few batches at most, so releases stay on time).
        if let Err(e) = take_in(&mut queue, &mut shaper, now, &opts.ports, needs_data) {
            err = Some(e);
            break;
        }
        let now = sys::monotonic_ns();
        let mut verdicts: Vec<PendingVerdict> = Vec::new();
        shaper.poll(now, |p, ok| {
            if ok {
                let late = p.left_ns.saturating_sub(p.due_ns) / 1000;
                hist.record(late);
                if opts.windows && p.id.is_some() {
                    let w = &mut win[p.dir as usize];
                    let held = p.left_ns.saturating_sub(p.arrived_ns) / 1000;
                    w.delay.record(held);
                    w.delay_sum_us += held;
                    w.lateness.record(late);
                }
            }
            match p.id {
                Some(id) => verdicts.push((
                    id,
                    if ok { Verdict::Accept } else { Verdict::Drop },
                    p.data.filter(|_| p.corrupted),
                )),
                None => {
                    if ok {
                        if let (Some(inj), Some(d)) = (&injector, &p.data) {
                            inj.send(d);
                        }
                    }
                }
            }
        });
        send_verdicts(&mut queue, verdicts, shaper.backlog())?;
        queue.flush().map_err(queue_err)?;
        if now >= next_tick {
            hooks.tick(&report(&shaper, &hist, &mut win));
            next_tick = now + 1_000_000_000;
        }
        // Sleep until the next release, the next packet, a change of conditions or a tick.
        let mut wake = next_tick;
        if let Some(n) = shaper.next_ns() {
            wake = wake.min(n);
        }
        if let Some((c, _)) = next_change {
            wake = wake.min(start + (c.max(0.0) * 1e6) as u64);
        }
        wake = wake.min(sys::monotonic_ns() + 200_000_000);
        wait_until(queue.raw_fd(), wake);
    }
    // Packets still held are dropped by the kernel when the queue closes (the network goes away).
    let r = report(&shaper, &hist, &mut win);
    rec.undo();
    match err {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

/// Takes in what the queue holds, a few batches at most (so releases stay on time); packets the shaper
/// drops on arrival get their verdict at once.
fn take_in(
    queue: &mut Queue,
    shaper: &mut Shaper,
    now: u64,
    ports: &[u16],
    needs_data: bool,
) -> Result<(), Error> {
    for _ in 0..8 {
        let mut admitted_drop = Vec::new();
        let got = queue.recv_batch(|p| {
            let dir = classify(p.payload, ports);
            let data = (needs_data && p.payload.len() as u32 == p.len).then(|| p.payload.into());
            let pk = Pkt {
                id: Some(p.id),
                len: p.len,
                dir,
                peer: crate::shaper::peer(p.payload, dir),
                data,
                corrupted: false,
                arrived_ns: 0,
                due_ns: 0,
                left_ns: 0,
            };
            if !shaper.admit(now, pk) {
                admitted_drop.push(p.id);
            }
        });
        let got = got.map_err(|e| Error::Queue(format!("receiving from NFQUEUE: {e}")))?;
        for id in admitted_drop {
            queue.verdict(id, Verdict::Drop, None).map_err(queue_err)?;
        }
        if got == 0 {
            break;
        }
    }
    Ok(())
}

/// Sends the verdicts of a round. Everything taken in so far leaves now, unchanged: one batch verdict
/// covers it (the usual case of an unshaped or idle network). Otherwise one verdict per packet.
fn send_verdicts(
    queue: &mut Queue,
    verdicts: Vec<PendingVerdict>,
    backlog: usize,
) -> Result<(), Error> {
    let all_plain_accepts = verdicts
        .iter()
        .all(|(_, v, d)| *v == Verdict::Accept && d.is_none());
    match verdicts.iter().map(|v| v.0).max() {
        Some(max_id) if all_plain_accepts && backlog == 0 && verdicts.len() > 1 => {
            queue
                .verdict_batch(max_id, Verdict::Accept)
                .map_err(queue_err)?;
        }
        _ => {
            for (id, v, data) in verdicts {
                queue.verdict(id, v, data.as_deref()).map_err(queue_err)?;
            }
        }
    }
    Ok(())
}

/// Sleeps until `wake` (`CLOCK_MONOTONIC` ns) or until the queue has packets.
fn wait_until(fd: i32, wake: u64) {
    let now = sys::monotonic_ns();
    if wake > now {
        let d = wake - now;
        let ts = libc::timespec {
            tv_sec: (d / 1_000_000_000) as i64,
            tv_nsec: (d % 1_000_000_000) as i64,
        };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: ppoll(2) on one live descriptor with a local timeout.
        unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    }
}

fn queue_err(e: std::io::Error) -> Error {
    Error::Queue(format!("sending verdicts: {e}"))
}
