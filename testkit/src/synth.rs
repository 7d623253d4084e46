//! Synthetic records of every table, reproducible from a seed, with the shapes real runs have: packet sizes
//! from ACKs to full frames, a protocol mix on the WoT ports, log-normal latencies with some errors,
//! once-a-second system samples, and times slightly out of order (as concurrent producers deliver them).

use arrow::array::RecordBatch;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wotemu_contract::table::{
    AppValue, Event, Interaction, LogLine, NetworkSample, Packet, Records, SystemSample, Table,
    TaskRow, TimelineEvent,
};

/// One synthetic task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// `<stack>_<node>.<slot>.<id>`
    pub task: String,
    pub node: String,
    pub slot: u32,
    /// The task's address: packets go between the addresses of the tasks of a generator.
    pub ip: String,
}

/// A generator of synthetic records.
pub struct Synth {
    rng: SmallRng,
    stack: String,
    ips: Vec<String>,
}

const VERBS: [&str; 4] = [
    "readproperty",
    "writeproperty",
    "invokeaction",
    "subscribeevent",
];
const PROTOS: [(&str, u16); 5] = [
    ("http", 80),
    ("ws", 81),
    ("coap", 5683),
    ("mqtt", 1883),
    ("http", 9090),
];

impl Synth {
    /// A generator for `stack`, reproducible from `seed`.
    pub fn new(seed: u64, stack: &str) -> Synth {
        Synth {
            rng: SmallRng::seed_from_u64(seed),
            stack: stack.to_owned(),
            ips: Vec::new(),
        }
    }

    /// Tasks for `(node, replicas)` pairs, with Swarm-shaped names.
    pub fn tasks(&mut self, nodes: &[(&str, u32)]) -> Vec<TaskSpec> {
        let mut out = Vec::new();
        for (node, replicas) in nodes {
            for slot in 1..=*replicas {
                let id: String = (0..10)
                    .map(|_| {
                        char::from(
                            b"abcdefghijklmnopqrstuvwxyz0123456789"[self.rng.random_range(0..36)],
                        )
                    })
                    .collect();
                let ip = format!("10.0.{}.{}", self.ips.len() / 200, self.ips.len() % 200 + 2);
                self.ips.push(ip.clone());
                out.push(TaskSpec {
                    task: format!("{}_{node}.{slot}.{id}", self.stack),
                    node: (*node).into(),
                    slot,
                    ip,
                });
            }
        }
        out
    }

    fn jitter_time(&mut self, start_us: i64, i: usize, step_us: i64) -> i64 {
        // Mostly increasing, with a few records a little late.
        start_us + i as i64 * step_us
            - if self.rng.random_bool(0.05) {
                self.rng.random_range(0..step_us * 3 + 1)
            } else {
                0
            }
    }

    /// A peer of `own`: another task's address, or now and then one outside the run (a gateway, the DNS).
    fn peer(&mut self, own: &str) -> String {
        let others: Vec<&String> = self.ips.iter().filter(|ip| *ip != own).collect();
        if others.is_empty() || self.rng.random_bool(0.05) {
            format!("10.0.250.{}", self.rng.random_range(2..10))
        } else {
            others[self.rng.random_range(0..others.len())].clone()
        }
    }

    /// `n` packets from `start_us`, one every `step_us` on average.
    pub fn packets(&mut self, t: &TaskSpec, start_us: i64, step_us: i64, n: usize) -> Vec<Packet> {
        (0..n)
            .map(|i| {
                let (transport, proto, port) = match self.rng.random_range(0..20) {
                    0 => ("icmp", "icmp".to_owned(), None),
                    1 => ("udp", "udp".to_owned(), Some(53)),
                    2..=4 => ("udp", "coap".to_owned(), Some(5683)),
                    _ => {
                        let (p, port) = PROTOS[self.rng.random_range(0..PROTOS.len())];
                        ("tcp", p.to_owned(), Some(port))
                    }
                };
                let outbound = self.rng.random_bool(0.5);
                let eph = self.rng.random_range(32768..61000);
                let len = if self.rng.random_bool(0.4) {
                    66
                } else {
                    self.rng.random_range(60..1514)
                };
                let (srcport, dstport) = match port {
                    Some(p) if outbound => (Some(eph), Some(p)),
                    Some(p) => (Some(p), Some(eph)),
                    None => (None, None),
                };
                let peer = self.peer(&t.ip);
                let (src, dst) = if outbound {
                    (t.ip.clone(), peer)
                } else {
                    (peer, t.ip.clone())
                };
                Packet {
                    task: t.task.clone(),
                    node: t.node.clone(),
                    iface: if self.rng.random_bool(0.9) {
                        "eth0".into()
                    } else {
                        "eth1".into()
                    },
                    time: self.jitter_time(start_us, i, step_us),
                    len,
                    src,
                    dst,
                    transport: transport.into(),
                    srcport,
                    dstport,
                    proto,
                    layer: None,
                }
            })
            .collect()
    }

    /// `n` interactions; about 3% fail.
    pub fn interactions(
        &mut self,
        t: &TaskSpec,
        start_us: i64,
        step_us: i64,
        n: usize,
    ) -> Vec<Interaction> {
        (0..n)
            .map(|i| {
                let ok = !self.rng.random_bool(0.03);
                let consumed = self.rng.random_bool(0.7);
                // Log-normal-ish latency around 300 ms.
                let z: f64 = (0..6).map(|_| self.rng.random::<f64>()).sum::<f64>() - 3.0;
                let latency = (5.7 + 0.5 * z).exp();
                Interaction {
                    task: t.task.clone(),
                    node: t.node.clone(),
                    time: self.jitter_time(start_us, i, step_us),
                    thing: format!("urn:wotemu:thing:{}", self.rng.random_range(0..4)),
                    name: ["temperature", "humidity", "reset", "alarm"]
                        [self.rng.random_range(0..4)]
                    .into(),
                    verb: VERBS[self.rng.random_range(0..VERBS.len())].into(),
                    side: if consumed {
                        "consumed".into()
                    } else {
                        "exposed".into()
                    },
                    latency_ms: consumed.then_some(latency),
                    ok,
                    error_type: (!ok).then(|| "TimeoutError".to_owned()),
                    error_message: (!ok).then(|| format!("no reply after {latency:.0} ms")),
                    host: consumed.then(|| "server.3g".to_owned()),
                    result: None,
                }
            })
            .collect()
    }

    /// `n` subscription events.
    pub fn events(&mut self, t: &TaskSpec, start_us: i64, step_us: i64, n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                task: t.task.clone(),
                node: t.node.clone(),
                time: self.jitter_time(start_us, i, step_us),
                thing: "urn:wotemu:clock".into(),
                name: "tick".into(),
                subscription: format!("sub-{}", i % 3),
                kind: if i % 50 == 0 {
                    "subscribe".into()
                } else {
                    "next".into()
                },
                item: Some(format!("{{\"tick\":{i}}}")),
            })
            .collect()
    }

    /// `n` system samples, one per second.
    pub fn system(&mut self, t: &TaskSpec, start_us: i64, n: usize) -> Vec<SystemSample> {
        (0..n)
            .map(|i| SystemSample {
                task: t.task.clone(),
                node: t.node.clone(),
                time: start_us + i as i64 * 1_000_000,
                cpu_percent: Some(self.rng.random_range(0.0..80.0)),
                cpu_limit_percent: Some(100.0),
                mem_bytes: Some(self.rng.random_range(40_000_000..150_000_000)),
                mem_limit_bytes: Some(157_286_400),
                cpu_throttled_us: Some(i as u64 * 1000),
                oom_kills: Some(0),
            })
            .collect()
    }

    /// `n` log lines.
    pub fn logs(&mut self, t: &TaskSpec, start_us: i64, step_us: i64, n: usize) -> Vec<LogLine> {
        (0..n)
            .map(|i| LogLine {
                task: t.task.clone(),
                node: t.node.clone(),
                time: start_us + i as i64 * step_us,
                stream: if i % 7 == 0 {
                    "stderr".into()
                } else {
                    "stdout".into()
                },
                line: format!("INFO:app:reading properties (round {i})"),
            })
            .collect()
    }

    /// `n` app values.
    pub fn app(&mut self, t: &TaskSpec, start_us: i64, step_us: i64, n: usize) -> Vec<AppValue> {
        (0..n)
            .map(|i| AppValue {
                task: t.task.clone(),
                node: t.node.clone(),
                time: start_us + i as i64 * step_us,
                key: "queue_len".into(),
                value: self.rng.random_range(0..100).to_string(),
            })
            .collect()
    }

    /// `n` timeline events: outages of a gateway, each with its end.
    pub fn timeline(
        &mut self,
        t: &TaskSpec,
        start_us: i64,
        step_us: i64,
        n: usize,
    ) -> Vec<TimelineEvent> {
        (0..n)
            .map(|i| TimelineEvent {
                task: t.task.clone(),
                node: t.node.clone(),
                time: start_us + i as i64 * step_us,
                planned: None,
                kind: "outage".into(),
                target: "gateway 3g".into(),
                outcome: if i % 2 == 0 { "start" } else { "end" }.into(),
                error: None,
                detail: (i % 2 == 1).then(|| format!("{{\"packets_dropped\":{i}}}")),
            })
            .collect()
    }

    /// Gateway windows: one per `step_us`, alternating directions, a 100 ms network.
    pub fn network(
        &mut self,
        t: &TaskSpec,
        start_us: i64,
        step_us: i64,
        n: usize,
    ) -> Vec<NetworkSample> {
        (0..n)
            .map(|i| NetworkSample {
                task: t.task.clone(),
                node: t.node.clone(),
                time: start_us + i as i64 * step_us,
                network: "3g".into(),
                direction: if i % 2 == 0 { "up" } else { "down" }.into(),
                backend: "userspace".into(),
                reason: "the kernel has no sch_netem".into(),
                window_s: 1.0,
                received: 100 + i as u64 % 7,
                forwarded: 100,
                bytes: 100_000,
                lost: i as u64 % 7,
                dropped_rate: 0,
                dropped_overflow: 0,
                duplicated: 0,
                corrupted: 0,
                reordered: 0,
                delay_mean_ms: Some(100.0 + (i % 10) as f64),
                delay_p50_ms: Some(100.0),
                delay_p99_ms: Some(120.0),
                rate_bps: 800_000.0,
                queue_packets: Some(3),
                lateness_p50_us: Some(50.0),
                lateness_p99_us: Some(400.0),
                cfg_latency_ms: 100.0,
                cfg_jitter_ms: 10.0,
                cfg_rate_bps: Some(1_000_000),
                cfg_loss_pct: 5.0,
                cfg_duplicate_pct: 0.0,
            })
            .collect()
    }

    /// A batch of `n` records of `table` (`tasks` gives one row whatever `n`).
    pub fn batch(&mut self, table: Table, t: &TaskSpec, start_us: i64, n: usize) -> RecordBatch {
        match table {
            Table::Packets => Packet::to_batch(&self.packets(t, start_us, 1_000, n)),
            Table::Interactions => {
                Interaction::to_batch(&self.interactions(t, start_us, 100_000, n))
            }
            Table::Events => Event::to_batch(&self.events(t, start_us, 500_000, n)),
            Table::System => SystemSample::to_batch(&self.system(t, start_us, n)),
            Table::Logs => LogLine::to_batch(&self.logs(t, start_us, 200_000, n)),
            Table::App => AppValue::to_batch(&self.app(t, start_us, 1_000_000, n)),
            Table::Timeline => TimelineEvent::to_batch(&self.timeline(t, start_us, 1_000_000, n)),
            Table::Network => NetworkSample::to_batch(&self.network(t, start_us, 500_000, n)),
            Table::Tasks => TaskRow::to_batch(&[TaskRow {
                task: t.task.clone(),
                node: t.node.clone(),
                service: format!("{}_{}", self.stack, t.node),
                slot: Some(t.slot),
                state: "running".into(),
                ..Default::default()
            }]),
        }
    }
}
