//! The userspace shaper's model, independent of how packets arrive: netem's semantics (delay with jitter of
//! netem's distributions, optionally correlated, loss, duplication, corruption, reordering; packets leave in order of their send time) followed,
//! as in WoTemu 0.6's `netem` + child `tbf`, by a token bucket per direction.
//!
//! Times are nanoseconds on any monotonic clock the caller chooses.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wotemu_topology::model::{Conditions, Fairness, QueueLimit};

use crate::dist;

/// Token bucket size, as WoTemu 0.6's `tbf burst 100kbit`.
pub const BURST_BYTES: f64 = 100_000.0 / 8.0;
/// How long a packet may wait for tokens, as 0.6's `tbf latency 20ms`; more is dropped (unless the
/// conditions give their own `queue`).
pub const RATE_LATENCY_NS: u64 = 20_000_000;
/// Packets waiting in the delay line at most (netem's default limit is 1000; this is larger so that high
/// rates with long delays are not cut by the line itself).
pub const DELAY_LIMIT: usize = 200_000;

/// Which way a packet goes relative to the network's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Towards a service port (requests, publications): limited by `rate_up` when set.
    Up = 0,
    /// From a service port, or anything else: limited by `rate`.
    Down = 1,
}

/// A packet in the shaper.
#[derive(Debug, Clone)]
pub struct Pkt {
    /// The queue's packet id; `None` for a duplicate, which is injected instead of accepted.
    pub id: Option<u32>,
    pub len: u32,
    pub dir: Dir,
    /// The node it comes from (up) or goes to (down): its IPv4 address (see [`peer`]); with `fairness:
    /// per-node`, each node's packets wait in their own queue and share the rate equally.
    pub peer: u32,
    /// The packet's bytes, when they are needed (duplication, corruption).
    pub data: Option<Box<[u8]>>,
    /// Whether `data` was changed (a verdict must carry it).
    pub corrupted: bool,
    /// When it arrived (set by [`Shaper::admit`]).
    pub arrived_ns: u64,
    /// When it was meant to leave the delay line.
    pub due_ns: u64,
    /// When it left the delay line (its lateness is this minus `due_ns`).
    pub left_ns: u64,
}

#[derive(Debug)]
struct Timed(u64, u64, Pkt);

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

/// One node's packets waiting for the rate (with `fairness: fifo`, every packet, in one flow).
#[derive(Debug, Default)]
struct Flow {
    q: VecDeque<Pkt>,
    bytes: u64,
    /// Deficit round robin: the bytes the flow may still send in its turn.
    deficit: u64,
}

/// What a flow may send per turn beyond its deficit (an Ethernet frame).
const QUANTUM: u64 = 1514;

#[derive(Debug)]
struct Bucket {
    /// Bytes per second; `None`: not limited.
    rate: Option<f64>,
    tokens: f64,
    last_ns: u64,
    /// The packets waiting, per node (`fairness: per-node`) or all in flow 0 (`fifo`).
    flows: std::collections::BTreeMap<u32, Flow>,
    /// The flows with packets, in round-robin order; the first one's turn is on.
    active: VecDeque<u32>,
    /// Whether the first flow's turn has not started yet (its quantum not yet given).
    fresh_turn: bool,
    queued: usize,
    /// The queue's limit (`None`: 0.6's), per node when the rate is shared per node.
    limit: Option<QueueLimit>,
    per_node: bool,
}

impl Bucket {
    fn new(rate: Option<u64>) -> Bucket {
        Bucket {
            rate: rate.map(|r| r as f64 / 8.0),
            tokens: BURST_BYTES,
            last_ns: 0,
            flows: Default::default(),
            active: VecDeque::new(),
            fresh_turn: true,
            queued: 0,
            limit: None,
            per_node: false,
        }
    }

    fn key(&self, p: &Pkt) -> u32 {
        if self.per_node {
            p.peer
        } else {
            0
        }
    }

    /// Whether `p` finds its queue full: the limit in packets, or in the bytes the rate sends in its time
    /// (WoTemu 0.6's 20 ms by default) beyond a full bucket, as tbf's `latency`.
    fn full(&self, p: &Pkt) -> bool {
        let (n, queued) = self
            .flows
            .get(&self.key(p))
            .map_or((0, 0), |f| (f.q.len(), f.bytes));
        let bytes = |ms: f64| {
            self.rate
                .map(|r| (r * ms / 1e3 + BURST_BYTES) as u64)
                .unwrap_or(u64::MAX)
        };
        let len = u64::from(p.len);
        match self.limit {
            Some(QueueLimit::Packets(max)) => n >= max as usize,
            Some(QueueLimit::Ms(ms)) => queued + len > bytes(ms),
            None => queued + len > bytes(RATE_LATENCY_NS as f64 / 1e6),
        }
    }

    fn push(&mut self, p: Pkt) {
        let k = self.key(&p);
        let f = self.flows.entry(k).or_default();
        if f.q.is_empty() {
            self.active.push_back(k);
        }
        f.bytes += u64::from(p.len);
        self.queued += 1;
        f.q.push_back(p);
    }

    /// The size of the packet that goes next, if any waits.
    fn next_len(&self) -> Option<u32> {
        let k = self.active.front()?;
        self.flows.get(k)?.q.front().map(|p| p.len)
    }

    /// The next packet the tokens let go, flows taking turns (deficit round robin: each turn gives a flow
    /// a quantum of bytes, so each node gets an equal share of the rate whatever its packets' sizes).
    fn pop_ready(&mut self) -> Option<Pkt> {
        loop {
            let k = *self.active.front()?;
            let f = self.flows.get_mut(&k)?;
            let len = u64::from(f.q.front()?.len);
            if f.deficit < len {
                if self.fresh_turn {
                    f.deficit += QUANTUM.max(len);
                    self.fresh_turn = false;
                } else {
                    self.active.rotate_left(1);
                    self.fresh_turn = true;
                }
                continue;
            }
            // A packet larger than the bucket still goes when the bucket is full.
            if self.tokens < (len as f64).min(BURST_BYTES) {
                return None;
            }
            self.tokens -= len as f64;
            f.deficit -= len;
            let p = f.q.pop_front()?;
            f.bytes -= len;
            self.queued -= 1;
            if f.q.is_empty() {
                self.flows.remove(&k);
                self.active.pop_front();
                self.fresh_turn = true;
            }
            return Some(p);
        }
    }

    fn refill(&mut self, now: u64) {
        if let Some(r) = self.rate {
            let dt = now.saturating_sub(self.last_ns) as f64 / 1e9;
            self.tokens = (self.tokens + dt * r).min(BURST_BYTES);
        }
        self.last_ns = now;
    }
}

/// Counters, for the gateway's report and the fidelity check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub received: u64,
    pub forwarded: u64,
    pub bytes_forwarded: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub reordered: u64,
    /// Dropped because the delay line was full.
    pub dropped_delay_full: u64,
    /// Dropped because the rate limit's queue was full (its `queue` limit, else 20 ms of the rate).
    pub dropped_rate: u64,
    /// The same per direction (index: [`Dir`] as usize).
    pub by_dir: [DirStats; 2],
}

impl Stats {
    /// Counts `p` as forwarded, in all and in its direction.
    fn count_forwarded(&mut self, p: &Pkt) {
        self.forwarded += 1;
        self.bytes_forwarded += u64::from(p.len);
        let ds = &mut self.by_dir[p.dir as usize];
        ds.forwarded += 1;
        ds.bytes_forwarded += u64::from(p.len);
    }
}

/// The counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirStats {
    pub received: u64,
    pub forwarded: u64,
    pub bytes_forwarded: u64,
    pub lost: u64,
    /// Dropped because the rate limit's queue was full (its `queue` limit, else 20 ms of the rate).
    pub dropped_rate: u64,
    /// Dropped because the delay line was full (the shaper could not keep up).
    pub dropped_overflow: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub reordered: u64,
}

/// The shaper.
pub struct Shaper {
    c: Conditions,
    rng: SmallRng,
    seq: u64,
    line: BinaryHeap<Reverse<Timed>>,
    /// One bucket per direction; when `rate_up` is not set both directions share `buckets[1]`, as traffic
    /// shares 0.6's single `tbf`.
    buckets: [Bucket; 2],
    /// Gilbert–Elliott loss: whether each direction's chain is in its bad state.
    bad: [bool; 2],
    /// Each direction's last uniform draw behind a delay (for `correlation`).
    corr: [dist::Correlated; 2],
    /// The delay distribution's table, when it has one.
    table: Option<&'static [i16]>,
    /// The network's delays measured by ping (`distribution: {ping: FILE}`).
    ping: Option<std::sync::Arc<dist::Measured>>,
    pub stats: Stats,
}

impl Shaper {
    pub fn new(c: Conditions, seed: u64) -> Shaper {
        let mut s = Shaper {
            c,
            rng: SmallRng::seed_from_u64(seed),
            seq: 0,
            line: BinaryHeap::new(),
            buckets: [Bucket::new(None), Bucket::new(None)],
            bad: [false; 2],
            corr: Default::default(),
            table: None,
            ping: None,
            stats: Stats::default(),
        };
        s.set_conditions(c);
        s
    }

    pub fn conditions(&self) -> Conditions {
        self.c
    }

    /// With the network's delays measured by ping, for `distribution: ping`.
    pub fn with_ping(mut self, ping: Option<std::sync::Arc<dist::Measured>>) -> Shaper {
        self.ping = ping;
        self
    }

    /// Changes the conditions; packets already waiting keep their times.
    pub fn set_conditions(&mut self, mut c: Conditions) {
        // The spec's checks load the table first: a distribution whose table is missing never gets here,
        // and measured delays come with the spec that asks for them (a live change cannot bring them).
        match dist::Shape::of(c.distribution, self.ping.as_deref()) {
            Ok(shape) => self.table = shape.table,
            Err(e) => {
                tracing::error!(error = %e, "Keeping the {} distribution.", self.c.distribution.name());
                c.distribution = self.c.distribution;
            }
        }
        self.c = c;
        self.buckets[1].rate = c.rate_bps.map(|r| r as f64 / 8.0);
        self.buckets[0].rate = c.rate_up_bps.map(|r| r as f64 / 8.0);
        for b in &mut self.buckets {
            b.limit = c.queue;
            // Packets already waiting stay in their flow; new ones go by the new rule.
            b.per_node = c.fairness == Fairness::PerNode;
        }
    }

    /// Whether packets' bytes are needed (to copy or change them).
    pub fn needs_data(&self) -> bool {
        self.c.duplicate_pct > 0.0 || self.c.corrupt_pct > 0.0
    }

    fn chance(&mut self, pct: f64) -> bool {
        pct > 0.0 && self.rng.random::<f64>() * 100.0 < pct
    }

    fn delay_ns(&mut self, dir: Dir) -> u64 {
        let (latency, jitter, _) = self.c.one_way(dir == Dir::Up);
        if self.chance(self.c.reorder_pct) && latency > 0.0 {
            // netem's reorder: this packet goes at once, ahead of those delayed.
            self.stats.reordered += 1;
            self.stats.by_dir[dir as usize].reordered += 1;
            return 0;
        }
        let u = if jitter > 0.0 {
            let fresh = self.rng.random::<f64>();
            self.corr[dir as usize].next(fresh, self.c.correlation_pct)
        } else {
            0.0
        };
        let shape = dist::Shape {
            distribution: self.c.distribution,
            table: self.table,
            ping: self.ping.as_deref(),
        };
        (shape.delay_ms(latency, jitter, u) * 1e6) as u64
    }

    /// Takes a packet in at `now`. Returns `false` when it is dropped at once (loss or a full delay line):
    /// the caller drops it.
    pub fn admit(&mut self, now: u64, mut p: Pkt) -> bool {
        let d = p.dir as usize;
        p.arrived_ns = now;
        self.stats.received += 1;
        self.stats.by_dir[d].received += 1;
        let lost = match self.c.loss_gilbert {
            Some(g) => self.gilbert_lost(d, g),
            None => self.chance(self.c.one_way(p.dir == Dir::Up).2),
        };
        if lost {
            self.stats.lost += 1;
            self.stats.by_dir[d].lost += 1;
            return false;
        }
        if self.line.len() >= DELAY_LIMIT {
            self.stats.dropped_delay_full += 1;
            self.stats.by_dir[d].dropped_overflow += 1;
            return false;
        }
        let dup = self.chance(self.c.duplicate_pct) && p.data.is_some();
        if self.chance(self.c.corrupt_pct) {
            if let Some(d) = p.data.as_mut().filter(|d| !d.is_empty()) {
                // netem corrupts one random bit of the packet.
                let bit = self.rng.random_range(0..d.len() * 8);
                d[bit / 8] ^= 1 << (bit % 8);
                p.corrupted = true;
                self.stats.corrupted += 1;
                self.stats.by_dir[p.dir as usize].corrupted += 1;
            }
        }
        if dup {
            self.stats.duplicated += 1;
            self.stats.by_dir[d].duplicated += 1;
            let mut copy = p.clone();
            copy.id = None;
            self.push(now, copy);
        }
        self.push(now, p);
        true
    }

    /// netem's Gilbert–Elliott step for one packet of direction `d`: the chain moves (good → bad with p,
    /// bad → good with r), then the packet is lost with the loss of the state it was in (h bad, k good).
    fn gilbert_lost(&mut self, d: usize, g: wotemu_topology::model::Gilbert) -> bool {
        if self.bad[d] {
            if self.chance(g.r_pct) {
                self.bad[d] = false;
            }
            self.chance(g.h_pct)
        } else {
            if self.chance(g.p_pct) {
                self.bad[d] = true;
            }
            self.chance(g.k_pct)
        }
    }

    fn push(&mut self, now: u64, mut p: Pkt) {
        let d = self.delay_ns(p.dir);
        p.due_ns = now + d;
        self.seq += 1;
        self.line.push(Reverse(Timed(p.due_ns, self.seq, p)));
    }

    fn bucket(&self, dir: Dir) -> usize {
        if self.buckets[0].rate.is_some() && dir == Dir::Up {
            0
        } else {
            1
        }
    }

    /// Moves what is due at `now` along; calls `emit(packet, true)` for packets to forward and
    /// `emit(packet, false)` for packets dropped by the rate limit.
    pub fn poll(&mut self, now: u64, mut emit: impl FnMut(Pkt, bool)) {
        while let Some(Reverse(t)) = self.line.peek() {
            if t.0 > now {
                break;
            }
            let Reverse(Timed(_, _, mut p)) = self.line.pop().expect("peeked");
            p.left_ns = now;
            let b = self.bucket(p.dir);
            let bucket = &mut self.buckets[b];
            if bucket.rate.is_none() {
                self.stats.count_forwarded(&p);
                emit(p, true);
                continue;
            }
            if bucket.full(&p) {
                self.stats.dropped_rate += 1;
                self.stats.by_dir[p.dir as usize].dropped_rate += 1;
                emit(p, false);
                continue;
            }
            bucket.push(p);
        }
        for b in 0..2 {
            let bucket = &mut self.buckets[b];
            bucket.refill(now);
            while let Some(p) = bucket.pop_ready() {
                self.stats.count_forwarded(&p);
                emit(p, true);
            }
        }
    }

    /// When [`Shaper::poll`] next has something to do.
    pub fn next_ns(&self) -> Option<u64> {
        let mut next = self.line.peek().map(|Reverse(t)| t.0);
        for b in &self.buckets {
            if let (Some(r), Some(len)) = (b.rate, b.next_len()) {
                let need = f64::from(len).min(BURST_BYTES) - b.tokens;
                let at = b.last_ns + ((need.max(0.0) / r) * 1e9).ceil() as u64;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        next
    }

    /// The tokens (bytes) of each bucket now, for invariant checks.
    #[cfg(test)]
    fn tokens(&self) -> [f64; 2] {
        [self.buckets[0].tokens, self.buckets[1].tokens]
    }

    /// Packets waiting per direction: (up, down).
    pub fn backlog_by_dir(&self) -> [usize; 2] {
        let mut n = [0usize; 2];
        for Reverse(t) in self.line.iter() {
            n[t.2.dir as usize] += 1;
        }
        for b in &self.buckets {
            for p in b.flows.values().flat_map(|f| &f.q) {
                n[p.dir as usize] += 1;
            }
        }
        n
    }

    /// Packets waiting.
    pub fn backlog(&self) -> usize {
        self.line.len() + self.buckets.iter().map(|b| b.queued).sum::<usize>()
    }
}

/// The node of an IP packet: its source when it goes up, its destination when it goes down (IPv4: the
/// address; IPv6: the address's last 32 bits); 0 when the header is too short.
pub fn peer(ip: &[u8], dir: Dir) -> u32 {
    let at = match (ip.first().map(|b| b >> 4), dir) {
        (Some(4), Dir::Up) => 12,
        (Some(4), Dir::Down) => 16,
        (Some(6), Dir::Up) => 20,
        (Some(6), Dir::Down) => 36,
        _ => return 0,
    };
    ip.get(at..at + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The direction of an IP packet: towards one of `ports` is up; anything else is down.
pub fn classify(ip: &[u8], ports: &[u16]) -> Dir {
    let (proto, l4) = match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => {
            let ihl = ((ip[0] & 0x0f) as usize) * 4;
            (ip[9], ihl)
        }
        Some(6) if ip.len() >= 40 => (ip[6], 40),
        _ => return Dir::Down,
    };
    if (proto == 6 || proto == 17) && ip.len() >= l4 + 4 {
        let dport = u16::from_be_bytes([ip[l4 + 2], ip[l4 + 3]]);
        if ports.contains(&dport) {
            return Dir::Up;
        }
    }
    Dir::Down
}

#[cfg(test)]
mod tests {
    use super::*;
    use wotemu_topology::model::Distribution;

    fn pkt(id: u32, len: u32) -> Pkt {
        Pkt {
            id: Some(id),
            len,
            dir: Dir::Down,
            peer: 0,
            data: Some(vec![0u8; len as usize].into()),
            corrupted: false,
            arrived_ns: 0,
            due_ns: 0,
            left_ns: 0,
        }
    }

    fn run(s: &mut Shaper, n: u32, gap_ns: u64, len: u32) -> Vec<(u64, Pkt)> {
        let mut out = Vec::new();
        let mut now = 0;
        for i in 0..n {
            now = i as u64 * gap_ns;
            s.admit(now, pkt(i, len));
            s.poll(now, |p, ok| {
                if ok {
                    out.push((now, p))
                }
            });
        }
        while let Some(t) = s.next_ns() {
            now = t.max(now);
            s.poll(now, |p, ok| {
                if ok {
                    out.push((now, p))
                }
            });
        }
        out
    }

    /// A queue limit (packets, or the time its bytes take at the rate) drops a packet exactly when the
    /// queue it arrives at is full, and only then; twice the rate offered loses about half.
    #[test]
    fn a_queue_limit_drops_exactly_when_the_queue_is_full() {
        for limit in [QueueLimit::Packets(10), QueueLimit::Ms(100.0)] {
            let c = Conditions {
                rate_bps: Some(800_000),
                queue: Some(limit),
                ..Default::default()
            };
            let mut s = Shaper::new(c, 1);
            let mut drops = 0;
            // 1000-byte packets every 5 ms: 200 kB/s offered to 100 kB/s.
            for i in 0..1000u32 {
                let now = u64::from(i) * 5_000_000;
                while let Some(t) = s.next_ns().filter(|t| *t < now) {
                    s.poll(t, |_, _| {});
                }
                let (n, bytes) = s.buckets[1]
                    .flows
                    .get(&0)
                    .map_or((0, 0), |f| (f.q.len(), f.bytes));
                let full = match limit {
                    QueueLimit::Packets(max) => n >= max as usize,
                    QueueLimit::Ms(ms) => {
                        bytes + 1000 > (100_000.0 * ms / 1e3 + BURST_BYTES) as u64
                    }
                };
                s.admit(now, pkt(i, 1000));
                let mut dropped = false;
                s.poll(now, |_, ok| dropped |= !ok);
                assert_eq!(
                    dropped, full,
                    "{limit:?}: packet {i} with {n} packets ({bytes} B) queued"
                );
                drops += u32::from(dropped);
            }
            assert!(
                (450..=550).contains(&drops),
                "{limit:?}: {drops} of 1000 dropped"
            );
            assert_eq!(u64::from(drops), s.stats.dropped_rate);
        }
    }

    /// Two nodes on a 100 kB/s link: a bulk one offering 300 kB/s and a second one. `fifo`: one line, so
    /// the rate goes in proportion to what each offers and the second waits behind the bulk (the queue's
    /// 200 ms); `per-node`: each gets half (or what it asks, when less) and the small flow does not wait.
    #[test]
    fn fairness_shares_the_rate_per_node_or_in_one_line() {
        let offered = |c: Conditions, small_gap_ns: u64| {
            let mut s = Shaper::new(c, 1);
            let (mut bytes, mut wait_ms, mut all2) = ([0u64; 3], Vec::new(), 0u64);
            // Poisson arrivals (evenly spaced ones lock onto the bucket's departures).
            let mut rng = SmallRng::seed_from_u64(5);
            let mut arrivals: Vec<(u64, u32)> = Vec::new();
            for (peer, gap) in [(1, 3_333_333.0), (2, small_gap_ns as f64)] {
                let mut t = 0.0;
                while t < 10e9 {
                    t += -gap * (1.0 - rng.random::<f64>()).ln();
                    arrivals.push((t as u64, peer));
                }
            }
            arrivals.sort();
            let asked = arrivals.iter().filter(|a| a.1 == 2).count() as u64 * 1000;
            let mut take = |p: Pkt, ok: bool, now: u64| {
                if ok {
                    // The shares over the 10 s offered; all of the second flow's, after them too.
                    if now < 10_000_000_000 {
                        bytes[p.peer as usize] += u64::from(p.len);
                    }
                    all2 += u64::from(p.peer == 2) * u64::from(p.len);
                    if p.peer == 2 && now > 1_000_000_000 {
                        wait_ms.push((now - p.arrived_ns) as f64 / 1e6);
                    }
                }
            };
            for (i, (at, peer)) in arrivals.into_iter().enumerate() {
                while let Some(t) = s.next_ns().filter(|t| *t < at) {
                    s.poll(t, |p, ok| take(p, ok, t));
                }
                let mut p = pkt(i as u32, 1000);
                p.peer = peer;
                s.admit(at, p);
                s.poll(at, |p, ok| take(p, ok, at));
            }
            while let Some(t) = s.next_ns() {
                s.poll(t, |p, ok| take(p, ok, t));
            }
            wait_ms.sort_by(f64::total_cmp);
            let median = wait_ms[wait_ms.len() / 2];
            let all_delivered = all2 == asked;
            (
                bytes[1] as f64 / 10.0,
                bytes[2] as f64 / 10.0,
                median,
                all_delivered,
            )
        };
        let mut c = Conditions {
            rate_bps: Some(800_000),
            queue: Some(QueueLimit::Ms(200.0)),
            ..Default::default()
        };
        // Both saturating (the second offers 120 kB/s).
        let (bulk, other, wait, _) = offered(c, 8_333_333);
        assert!(
            (bulk / (bulk + other) - 300.0 / 420.0).abs() < 0.05,
            "fifo: {bulk} / {other}"
        );
        assert!(
            wait > 150.0,
            "fifo: the second flow waits behind the bulk: {wait} ms"
        );
        c.fairness = Fairness::PerNode;
        let (bulk, other, ..) = offered(c, 8_333_333);
        for got in [bulk, other] {
            assert!(
                (got - 50_000.0).abs() < 2_500.0,
                "per-node: {bulk} / {other}"
            );
        }
        // A small flow (10 kB/s) beside the bulk one: it gets all it asks, after one bulk packet at most.
        let (bulk, other, wait, all) = offered(c, 100_000_000);
        assert!(all && bulk > 85_000.0, "{bulk} / {other}");
        assert!(
            wait < 30.0,
            "per-node: the small flow waits for the packet in service at most (10 ms each), not behind the bulk: {wait} ms"
        );
    }

    #[test]
    fn constant_delay_keeps_order() {
        let c = Conditions {
            latency_ms: 10.0,
            ..Default::default()
        };
        let mut s = Shaper::new(c, 1);
        let out = run(&mut s, 100, 1_000_000, 100);
        assert_eq!(out.len(), 100);
        for (i, (t, p)) in out.iter().enumerate() {
            assert_eq!(p.id, Some(i as u32));
            assert_eq!(*t, i as u64 * 1_000_000 + 10_000_000);
        }
    }

    #[test]
    fn jitter_has_the_configured_spread() {
        let c = Conditions {
            latency_ms: 100.0,
            jitter_ms: 20.0,
            ..Default::default()
        };
        let mut s = Shaper::new(c, 7);
        let out = run(&mut s, 20_000, 10_000, 100);
        let d: Vec<f64> = out
            .iter()
            .map(|(t, p)| (*t - p.id.unwrap() as u64 * 10_000) as f64 / 1e6)
            .collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        assert!((mean - 100.0).abs() < 0.5, "mean {mean}");
        assert!((sd - 20.0).abs() < 0.5, "sd {sd}");
    }

    /// The delays applied with each distribution have the quantiles of its table (netem's files for pareto
    /// and paretonormal), and correlation ties each delay to the last one without moving the median.
    #[test]
    fn delays_follow_the_configured_distribution_and_correlation() {
        let applied = |c: Conditions, ping: Option<std::sync::Arc<dist::Measured>>| {
            let mut s = Shaper::new(c, 11).with_ping(ping);
            let out = run(&mut s, 40_000, 10_000, 100);
            out.iter()
                .map(|(t, p)| (*t - p.id.unwrap() as u64 * 10_000) as f64 / 1e6)
                .collect::<Vec<f64>>()
        };
        let quantile = |d: &[f64], p: f64| {
            let mut v = d.to_vec();
            v.sort_by(f64::total_cmp);
            v[((v.len() - 1) as f64 * p) as usize]
        };
        let ping = std::sync::Arc::new(dist::Measured::new(
            (0..=500)
                .map(|i| 30.0 + (f64::from(i) / 50.0).powi(3))
                .collect(),
        ));
        for d in Distribution::ALL {
            let c = Conditions {
                latency_ms: 100.0,
                jitter_ms: 20.0,
                distribution: d,
                ..Default::default()
            };
            // Measured delays (skewed: a long tail), shifted to the latency and scaled to the jitter.
            let ping = (d == Distribution::Ping).then(|| ping.clone());
            let got = applied(c, ping.clone());
            let shape = dist::Shape::of(d, ping.as_deref()).unwrap();
            for p in [0.1, 0.5, 0.9, 0.99] {
                let want = shape.delay_ms(100.0, 20.0, p);
                let q = quantile(&got, p);
                assert!((q - want).abs() <= 0.02 * want, "{d:?} p{p}: {q} vs {want}");
            }
        }
        let mut c = Conditions {
            latency_ms: 100.0,
            jitter_ms: 20.0,
            distribution: Distribution::Pareto,
            ..Default::default()
        };
        let steps =
            |d: &[f64]| d.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / d.len() as f64;
        let free = applied(c, None);
        c.correlation_pct = 75.0;
        let tied = applied(c, None);
        assert!(
            steps(&tied) < steps(&free) / 2.0,
            "{} vs {}",
            steps(&tied),
            steps(&free)
        );
    }

    #[test]
    fn loss_duplicate_corrupt_rates() {
        let c = Conditions {
            loss_pct: 10.0,
            duplicate_pct: 5.0,
            corrupt_pct: 2.0,
            ..Default::default()
        };
        let mut s = Shaper::new(c, 3);
        let out = run(&mut s, 100_000, 1000, 100);
        let st = s.stats;
        assert_eq!(st.received, 100_000);
        assert!((st.lost as f64 - 10_000.0).abs() < 400.0, "{st:?}");
        assert!((st.duplicated as f64 - 4_500.0).abs() < 300.0, "{st:?}");
        assert!((st.corrupted as f64 - 1_800.0).abs() < 200.0, "{st:?}");
        assert_eq!(out.len() as u64, st.received - st.lost + st.duplicated);
        let flipped = out
            .iter()
            .filter(|(_, p)| p.data.as_ref().unwrap().iter().any(|&b| b != 0))
            .count() as u64;
        // A corrupted packet that was then duplicated is corrupted twice over in the output.
        assert!(flipped >= st.corrupted, "{flipped} {st:?}");
        assert!(out.iter().filter(|(_, p)| p.corrupted).count() as u64 >= st.corrupted);
    }

    #[test]
    fn rate_limits_throughput_and_drops_the_excess() {
        // 1 Mbit/s; offered 2 Mbit/s of 1000-byte packets for 2 s.
        let c = Conditions {
            rate_bps: Some(1_000_000),
            ..Default::default()
        };
        let mut s = Shaper::new(c, 1);
        let out = run(&mut s, 500, 4_000_000, 1000);
        let bytes: u64 = out.iter().map(|(_, p)| p.len as u64).sum();
        let last = out.last().unwrap().0 as f64 / 1e9;
        let rate = (bytes as f64 - BURST_BYTES) * 8.0 / last;
        assert!((rate - 1_000_000.0).abs() < 20_000.0, "rate {rate}");
        assert!(s.stats.dropped_rate > 200, "{:?}", s.stats);
        assert_eq!(s.stats.dropped_rate + s.stats.forwarded, 500);
    }

    #[test]
    fn separate_up_rate() {
        let c = Conditions {
            rate_bps: Some(8_000_000),
            rate_up_bps: Some(800_000),
            ..Default::default()
        };
        let mut s = Shaper::new(c, 1);
        let mut now = 0;
        let (mut up, mut down) = (0u64, 0u64);
        for i in 0..2000u32 {
            now = i as u64 * 1_000_000; // 1000 pkt/s each way, 1000 B: 8 Mbit/s offered each way
            let mut a = pkt(i, 1000);
            a.dir = Dir::Up;
            s.admit(now, a);
            s.admit(now, pkt(i, 1000));
            s.poll(now, |p, ok| {
                if ok {
                    if p.dir == Dir::Up {
                        up += 1
                    } else {
                        down += 1
                    }
                }
            });
        }
        let secs = now as f64 / 1e9;
        let up_rate = up as f64 * 8000.0 / secs;
        let down_rate = down as f64 * 8000.0 / secs;
        assert!((up_rate - 800_000.0).abs() < 80_000.0, "up {up_rate}");
        assert!(down_rate > 7_000_000.0, "down {down_rate}");
    }

    #[test]
    fn reorder_sends_some_at_once() {
        let c = Conditions {
            latency_ms: 50.0,
            reorder_pct: 25.0,
            ..Default::default()
        };
        let mut s = Shaper::new(c, 9);
        let out = run(&mut s, 10_000, 100_000, 100);
        let r = s.stats.reordered as f64 / 10_000.0;
        assert!((r - 0.25).abs() < 0.02, "{r}");
        let out_of_order = out.windows(2).filter(|w| w[1].1.id < w[0].1.id).count();
        assert!(out_of_order > 1000);
    }

    #[test]
    fn classify_by_destination_port() {
        let mut ip = vec![0u8; 28];
        ip[0] = 0x45;
        ip[9] = 17;
        ip[22..24].copy_from_slice(&5683u16.to_be_bytes());
        assert_eq!(classify(&ip, &[80, 5683]), Dir::Up);
        ip[20..22].copy_from_slice(&5683u16.to_be_bytes());
        ip[22..24].copy_from_slice(&40000u16.to_be_bytes());
        assert_eq!(classify(&ip, &[80, 5683]), Dir::Down);
        assert_eq!(classify(&[0x45, 0], &[80]), Dir::Down);
        assert_eq!(classify(&[], &[80]), Dir::Down);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Random traffic: (gap before the packet in µs, length, up?) and poll gaps.
    fn traffic() -> impl Strategy<Value = Vec<(u64, u32, bool)>> {
        prop::collection::vec((0u64..5_000, 40u32..3000, any::<bool>()), 1..400)
    }

    /// `latency_up`, `jitter_up` and `loss_up` shape what the nodes send (up); the other direction keeps
    /// the network's own figures.
    #[test]
    fn each_direction_gets_its_own_delay_and_loss() {
        let c = Conditions {
            latency_ms: 10.0,
            latency_up_ms: Some(100.0),
            loss_up_pct: Some(50.0),
            ..Conditions::default()
        };
        let mut s = Shaper::new(c, 1);
        let now = 1_000_000_000u64;
        for i in 0..2_000u32 {
            let p = Pkt {
                id: Some(i),
                len: 100,
                dir: if i % 2 == 0 { Dir::Up } else { Dir::Down },
                peer: 0,
                data: None,
                corrupted: false,
                arrived_ns: 0,
                due_ns: 0,
                left_ns: 0,
            };
            s.admit(now, p);
        }
        let mut delays = [Vec::new(), Vec::new()];
        s.poll(now + 10_000_000_000, |p, _| {
            delays[p.dir as usize].push(p.due_ns - p.arrived_ns)
        });
        let (up, down) = (&delays[Dir::Up as usize], &delays[Dir::Down as usize]);
        assert!(up.iter().all(|&d| d == 100_000_000), "up delays: {up:?}");
        assert!(
            down.iter().all(|&d| d == 10_000_000),
            "down delays: {down:?}"
        );
        assert_eq!(down.len(), 1_000, "the down direction lost packets");
        assert!(
            (400..600).contains(&up.len()),
            "{} of 1000 up packets passed a 50 % loss",
            up.len()
        );
        assert_eq!(
            s.stats.by_dir[Dir::Up as usize].lost as usize,
            1_000 - up.len()
        );
    }

    /// Gilbert–Elliott loss loses in bursts: with p 2 %, r 25 % (h 100 %, k 0 %) 7.4 % of packets are lost,
    /// in runs of 4 on average, where independent losses of the same share come one by one.
    #[test]
    fn gilbert_loss_comes_in_bursts() {
        let runs = |c: Conditions| {
            let mut s = Shaper::new(c, 3);
            let (mut lost, mut runs, mut prev) = (0u32, 0u32, false);
            for i in 0..40_000u32 {
                let p = Pkt {
                    id: Some(i),
                    len: 100,
                    dir: Dir::Down,
                    peer: 0,
                    data: None,
                    corrupted: false,
                    arrived_ns: 0,
                    due_ns: 0,
                    left_ns: 0,
                };
                let gone = !s.admit(1_000, p);
                lost += u32::from(gone);
                runs += u32::from(gone && !prev);
                prev = gone;
            }
            (
                f64::from(lost) / 400.0,
                f64::from(lost) / f64::from(runs.max(1)),
            )
        };
        let g = wotemu_topology::model::Gilbert {
            p_pct: 2.0,
            r_pct: 25.0,
            h_pct: 100.0,
            k_pct: 0.0,
        };
        let (share, burst) = runs(Conditions {
            loss_gilbert: Some(g),
            ..Conditions::default()
        });
        assert!(
            (share - g.mean_loss_pct()).abs() < 1.5,
            "{share} % lost, not {}",
            g.mean_loss_pct()
        );
        assert!((3.4..4.6).contains(&burst), "bursts of {burst}");
        let (share, burst) = runs(Conditions {
            loss_pct: g.mean_loss_pct(),
            ..Conditions::default()
        });
        assert!((share - g.mean_loss_pct()).abs() < 1.5, "{share} %");
        assert!(burst < 1.2, "independent losses in runs of {burst}");
    }

    /// The same seed and the same packets give the same decisions (loss, delay with jitter, reordering,
    /// duplication, which bit is corrupted); another seed gives other ones.
    #[test]
    fn a_seed_repeats_every_random_decision() {
        let c = Conditions {
            latency_ms: 20.0,
            jitter_ms: 5.0,
            loss_pct: 10.0,
            duplicate_pct: 5.0,
            corrupt_pct: 5.0,
            reorder_pct: 5.0,
            ..Conditions::default()
        };
        let decisions = |seed: u64| {
            let mut s = Shaper::new(c, seed);
            let mut out = Vec::new();
            let mut now = 1_000_000u64;
            for i in 0..2_000u32 {
                now += 1_000_000;
                let p = Pkt {
                    id: Some(i),
                    len: 100,
                    dir: if i % 2 == 0 { Dir::Up } else { Dir::Down },
                    peer: 0,
                    data: Some(vec![0u8; 100].into_boxed_slice()),
                    corrupted: false,
                    arrived_ns: 0,
                    due_ns: 0,
                    left_ns: 0,
                };
                out.push(format!("{i} admitted {}", s.admit(now, p)));
                s.poll(now, |p, ok| {
                    out.push(format!("{:?} due {} {:?} {ok}", p.id, p.due_ns, p.data))
                });
            }
            out
        };
        let a = decisions(7);
        assert!(
            a.iter().any(|d| d.ends_with("admitted false")),
            "nothing lost"
        );
        assert_eq!(a, decisions(7), "the same seed decided otherwise");
        assert_ne!(a, decisions(8), "another seed decided the same");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// No packet leaves before its time; buckets never hold more than their burst; every packet taken in
        /// is forwarded, dropped (and counted) or still waiting; a rate-limited direction never sends more
        /// than its burst plus its rate over any stretch of time.
        #[test]
        fn the_shaper_keeps_its_invariants(
            pkts in traffic(),
            latency in 0.0f64..50.0,
            jitter in 0.0f64..20.0,
            loss in 0.0f64..30.0,
            reorder in 0.0f64..30.0,
            rate_kbit in 64u64..20_000,
            rate_up in proptest::option::of(64u64..20_000),
            seed in any::<u64>(),
        ) {
            let c = Conditions {
                latency_ms: latency,
                jitter_ms: jitter,
                rate_bps: Some(rate_kbit * 1000),
                rate_up_bps: rate_up.map(|r| r * 1000),
                loss_pct: loss,
                reorder_pct: reorder,
                ..Conditions::default()
            };
            let mut s = Shaper::new(c, seed);
            let mut now = 1_000_000u64;
            // (time, len, bucket) of every forwarded packet.
            let mut sent: Vec<(u64, u32, usize)> = Vec::new();
            let mut dropped = 0u64;
            let bucket_of = |dir: Dir| if rate_up.is_some() && dir == Dir::Up { 0 } else { 1 };
            let check = |s: &mut Shaper, now: u64, sent: &mut Vec<(u64, u32, usize)>, dropped: &mut u64| -> Result<(), TestCaseError> {
                let mut out = Vec::new();
                s.poll(now, |p, ok| out.push((p, ok)));
                for (p, ok) in out {
                    prop_assert!(p.left_ns >= p.due_ns, "left at {} before its time {}", p.left_ns, p.due_ns);
                    prop_assert!(now >= p.due_ns);
                    if ok {
                        sent.push((now, p.len, bucket_of(p.dir)));
                    } else {
                        *dropped += 1;
                    }
                }
                for t in s.tokens() {
                    prop_assert!(t <= BURST_BYTES + 1e-6, "tokens {t} above the burst");
                }
                Ok(())
            };
            for (gap_us, len, up) in pkts {
                now += gap_us * 1000;
                check(&mut s, now, &mut sent, &mut dropped)?;
                let p = Pkt {
                    id: Some(1),
                    len,
                    dir: if up { Dir::Up } else { Dir::Down },
                peer: 0,
                    data: None,
                    corrupted: false,
                    arrived_ns: 0,
                    due_ns: 0,
                    left_ns: 0,
                };
                if !s.admit(now, p) {
                    dropped += 1;
                }
            }
            // Drain.
            for _ in 0..100_000 {
                match s.next_ns() {
                    Some(t) => {
                        now = now.max(t);
                        check(&mut s, now, &mut sent, &mut dropped)?;
                    }
                    None => break,
                }
            }
            prop_assert_eq!(s.backlog(), 0);
            let st = s.stats;
            prop_assert_eq!(st.received, st.forwarded + st.lost + st.dropped_rate + st.dropped_delay_full);
            prop_assert_eq!(st.forwarded as usize, sent.len());
            prop_assert_eq!(st.lost + st.dropped_rate + st.dropped_delay_full, dropped);
            // The per-direction counters add up to the totals, and balance on their own.
            let sum = |f: fn(&DirStats) -> u64| st.by_dir.iter().map(f).sum::<u64>();
            prop_assert_eq!(sum(|d| d.received), st.received);
            prop_assert_eq!(sum(|d| d.forwarded), st.forwarded);
            prop_assert_eq!(sum(|d| d.bytes_forwarded), st.bytes_forwarded);
            prop_assert_eq!(sum(|d| d.lost), st.lost);
            prop_assert_eq!(sum(|d| d.dropped_rate), st.dropped_rate);
            prop_assert_eq!(sum(|d| d.dropped_overflow), st.dropped_delay_full);
            prop_assert_eq!(sum(|d| d.reordered), st.reordered);
            for d in st.by_dir {
                prop_assert_eq!(d.received, d.forwarded + d.lost + d.dropped_rate + d.dropped_overflow);
            }
            // Over any stretch [t_i, t_j], a bucket sends at most its burst + rate × stretch + one packet.
            for b in 0..2 {
                let rate = if b == 0 { rate_up } else { Some(rate_kbit) };
                let Some(rate) = rate else { continue };
                let bytes_per_ns = rate as f64 * 1000.0 / 8.0 / 1e9;
                let mine: Vec<&(u64, u32, usize)> = sent.iter().filter(|x| x.2 == b).collect();
                for i in 0..mine.len() {
                    let mut total = 0.0;
                    for j in i..mine.len() {
                        total += f64::from(mine[j].1);
                        let allowed = BURST_BYTES + bytes_per_ns * (mine[j].0 - mine[i].0) as f64 + 3000.0;
                        prop_assert!(total <= allowed, "bucket {b}: {total} bytes in {} ns (allowed {allowed})", mine[j].0 - mine[i].0);
                    }
                }
            }
        }
    }
}
