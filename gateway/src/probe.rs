//! Measurements between two hosts of a lab: UDP round trips (with one-way loss, duplication and order
//! seen at the far end) and UDP throughput. Each side runs in a thread that has entered its host's
//! network namespace.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::sys;
use crate::Error;

const MAGIC: u32 = 0x5754_4d50; // "WTMP"
/// Probe payload size: small, so probes hardly load slow links.
pub const PROBE_BYTES: usize = 32;
/// IP + UDP header bytes.
pub const HEADERS: usize = 28;

fn big_buffers(s: &UdpSocket) {
    let big: libc::c_int = 16 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: setsockopt(2) with a pointer to a live c_int.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &big as *const _ as *const libc::c_void,
                4,
            )
        };
    }
}

/// Runs `f` in a thread inside the named network namespace.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> std::thread::JoinHandle<Result<T, Error>> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        sys::enter_netns(&ns)?;
        f()
    })
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Probe(format!("{what}: {e}"))
}

/// What the far end saw of a probe stream.
#[derive(Debug, Clone, Default)]
pub struct FarEnd {
    pub received: u64,
    pub unique: u64,
    pub duplicates: u64,
    /// Probes that arrived after a later one.
    pub out_of_order: u64,
    /// Probes whose bytes were changed on the way (and still delivered).
    pub damaged: u64,
    /// Runs of consecutive probes that never arrived (before the last that did): bursts of loss.
    pub loss_runs: u64,
    /// Probes missing within those runs.
    pub lost_in_runs: u64,
}

/// Round-trip results.
#[derive(Debug, Clone, Default)]
pub struct Rtt {
    pub sent: u64,
    /// Round trips, ms, one per echoed probe (first echo of each).
    pub rtts_ms: Vec<f64>,
    /// (sent at, CLOCK_MONOTONIC ns; round trip, ms) of the same echoes.
    pub samples: Vec<(u64, f64)>,
    pub far: FarEnd,
}

/// Echoes UDP probes on `port` until `stop`; counts what it sees.
pub fn echo_server(
    port: u16,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
) -> Result<FarEnd, Error> {
    let s = UdpSocket::bind(("0.0.0.0", port)).map_err(io("binding the echo socket"))?;
    big_buffers(&s);
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(io("socket timeout"))?;
    ready.store(true, Ordering::SeqCst);
    let mut far = FarEnd::default();
    let mut seen = HashSet::new();
    let mut max_seq: Option<u32> = None;
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = s.recv_from(&mut buf) else {
            continue;
        };
        far.received += 1;
        let p = &buf[..n];
        if n != PROBE_BYTES || u32::from_be_bytes(p[..4].try_into().unwrap()) != MAGIC || !intact(p)
        {
            far.damaged += 1;
            continue;
        }
        let seq = u32::from_be_bytes(p[4..8].try_into().unwrap());
        if !seen.insert(seq) {
            far.duplicates += 1;
        } else {
            far.unique += 1;
            if max_seq.is_some_and(|m| seq < m) {
                far.out_of_order += 1;
            }
            max_seq = Some(max_seq.map_or(seq, |m| m.max(seq)));
        }
        // An echo that cannot be sent is lost like one the network drops; the prober counts both.
        if let Err(e) = s.send_to(p, from) {
            tracing::debug!(error = %e, "An echo was not sent.");
        }
    }
    let mut missing = false;
    for seq in 0..=max_seq.unwrap_or(0) {
        let gone = !seen.contains(&seq);
        if gone {
            far.lost_in_runs += 1;
            far.loss_runs += u64::from(!missing);
        }
        missing = gone;
    }
    Ok(far)
}

fn fill(p: &mut [u8]) {
    let seq = u32::from_be_bytes(p[4..8].try_into().unwrap());
    for (i, b) in p[16..].iter_mut().enumerate() {
        *b = (seq as usize * 31 + i * 7) as u8;
    }
}

fn intact(p: &[u8]) -> bool {
    let mut q = p.to_vec();
    fill(&mut q);
    q == p
}

/// Sends `n` probes at `pps` to `to`, from this thread's namespace; waits `linger` after the last for
/// late echoes.
pub fn prober(to: SocketAddr, n: u64, pps: f64, linger: Duration) -> Result<Rtt, Error> {
    let s = UdpSocket::bind("0.0.0.0:0").map_err(io("binding the probe socket"))?;
    big_buffers(&s);
    s.set_nonblocking(true).map_err(io("socket mode"))?;
    let t0 = sys::monotonic_ns();
    let gap = (1e9 / pps) as u64;
    let mut out = Rtt::default();
    let mut echoed = HashSet::new();
    let mut buf = [0u8; 2048];
    let mut next = t0;
    let mut end = None;
    loop {
        let now = sys::monotonic_ns();
        if out.sent < n && now >= next {
            let mut p = [0u8; PROBE_BYTES];
            p[..4].copy_from_slice(&MAGIC.to_be_bytes());
            p[4..8].copy_from_slice(&(out.sent as u32).to_be_bytes());
            p[8..16].copy_from_slice(&now.to_be_bytes());
            fill(&mut p);
            s.send_to(&p, to).map_err(io("sending a probe"))?;
            out.sent += 1;
            next += gap;
            if out.sent == n {
                end = Some(now + linger.as_nanos() as u64);
            }
        }
        while let Ok((len, _)) = s.recv_from(&mut buf) {
            let now = sys::monotonic_ns();
            let p = &buf[..len];
            if len == PROBE_BYTES
                && u32::from_be_bytes(p[..4].try_into().unwrap()) == MAGIC
                && intact(p)
            {
                let seq = u32::from_be_bytes(p[4..8].try_into().unwrap());
                let sent = u64::from_be_bytes(p[8..16].try_into().unwrap());
                if echoed.insert(seq) {
                    out.rtts_ms.push((now - sent) as f64 / 1e6);
                    out.samples.push((sent, (now - sent) as f64 / 1e6));
                }
            }
        }
        let now = sys::monotonic_ns();
        if end.is_some_and(|e| now >= e) || (out.sent == n && echoed.len() as u64 == n) {
            break;
        }
        let wake = if out.sent < n {
            next
        } else {
            end.unwrap_or(now)
        };
        let wait_ms = (wake.saturating_sub(now) / 1_000_000).clamp(0, 50) as i32;
        let mut pfd = libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one live descriptor.
        unsafe { libc::poll(&mut pfd, 1, wait_ms.max(if wake > now { 1 } else { 0 })) };
    }
    Ok(out)
}

/// Throughput as the receiver saw it.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    pub sent_packets: u64,
    pub received_packets: u64,
    pub received_bytes: u64,
    /// IP-level rate over the steady part (after the first 20% of the arrivals), bit/s.
    pub rate_bps: f64,
    pub seconds: f64,
}

/// Receives a UDP flood on `port` until `stop` and 300 ms of silence; returns arrivals (ns, IP bytes).
pub fn sink(
    port: u16,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
) -> Result<Vec<(u64, u32)>, Error> {
    let s = UdpSocket::bind(("0.0.0.0", port)).map_err(io("binding the sink socket"))?;
    big_buffers(&s);
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .map_err(io("socket timeout"))?;
    ready.store(true, Ordering::SeqCst);
    let mut arrivals = Vec::new();
    // Up to 64 datagrams per system call (a receiver that costs little leaves the CPU to the path); the
    // first blocks up to the socket's read timeout.
    let mut batch = wotemu_sys::net::RecvBatch::new(64, 2048);
    loop {
        let n = batch
            .recv(s.as_raw_fd(), libc::MSG_WAITFORONE)
            .map_err(io("receiving the flood"))?;
        if n > 0 {
            let now = sys::monotonic_ns();
            for i in 0..n {
                arrivals.push((now, (batch.wire_len(i) + HEADERS) as u32));
            }
        } else if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    Ok(arrivals)
}

/// Sends a UDP flood from `from_port` (0: any) to `to` at `offered_bps` (IP level; `None`: as fast as it
/// can) for `secs`, in `size`-byte datagrams.
pub fn flood(
    from_port: u16,
    to: SocketAddr,
    offered_bps: Option<f64>,
    secs: f64,
    size: usize,
) -> Result<(u64, u64, u64), Error> {
    let s = UdpSocket::bind(("0.0.0.0", from_port)).map_err(io("binding the flood socket"))?;
    big_buffers(&s);
    s.connect(to).map_err(io("connecting the flood socket"))?;
    let payload = vec![0x5au8; size];
    let t0 = sys::monotonic_ns();
    let end = t0 + (secs * 1e9) as u64;
    let mut sent = 0u64;
    let mut attempts = 0u64;
    let gap = offered_bps.map(|r| ((size + HEADERS) as f64 * 8.0 / r * 1e9) as u64);
    loop {
        let now = sys::monotonic_ns();
        if now >= end {
            break;
        }
        match gap {
            Some(g) => {
                // Paced in steps of a quarter millisecond: what is due is sent, then a short sleep (a
                // busy wait would take the CPU the path being measured needs).
                let due = (now - t0) / g.max(1) + 1;
                while attempts < due {
                    attempts += 1;
                    // A datagram the socket refuses (ENOBUFS under load) was not offered to the path.
                    if s.send(&payload).is_ok() {
                        sent += 1;
                    }
                }
                std::thread::sleep(Duration::from_micros(250));
            }
            None => {
                // As fast as it can: 64 datagrams per system call.
                let mut iov = libc::iovec {
                    iov_base: payload.as_ptr() as *mut libc::c_void,
                    iov_len: payload.len(),
                };
                // SAFETY: zeroed mmsghdr are valid; each points at the one iovec, alive for the call.
                let mut msgs: Vec<libc::mmsghdr> =
                    (0..64).map(|_| unsafe { std::mem::zeroed() }).collect();
                for m in msgs.iter_mut() {
                    m.msg_hdr.msg_iov = &mut iov;
                    m.msg_hdr.msg_iovlen = 1;
                }
                // SAFETY: sendmmsg(2) on a connected socket with valid headers.
                let n = unsafe { libc::sendmmsg(s.as_raw_fd(), msgs.as_mut_ptr(), 64, 0) };
                if n > 0 {
                    sent += n as u64;
                }
            }
        }
    }
    Ok((sent, t0, sys::monotonic_ns()))
}

/// The rate (bit/s) of the arrivals within `[from_ns, to_ns)`.
pub fn window_rate(arrivals: &[(u64, u32)], from_ns: u64, to_ns: u64) -> f64 {
    if to_ns <= from_ns {
        return f64::NAN;
    }
    let bytes: u64 = arrivals
        .iter()
        .filter(|a| a.0 >= from_ns && a.0 < to_ns)
        .map(|a| a.1 as u64)
        .sum();
    bytes as f64 * 8.0 / ((to_ns - from_ns) as f64 / 1e9)
}
