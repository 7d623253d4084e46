//! The validated topology: every name normalised and checked, every reference resolved, every value parsed.
//! Only [`crate::validate`] builds it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::placement::Placement;

/// A validated topology. Lists are sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    pub name: Option<String>,
    /// The seed of the gateways' random decisions (`seed:`), if the file sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub ports: Ports,
    pub images: Images,
    /// An external Redis (`redis://…`) every part of the run uses instead of a Redis of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_redis: Option<String>,
    /// The service name of the stack's own Redis when not `redis` (0.6's `TopologyRedis(host=…)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_host: Option<String>,
    /// An external Docker API proxy (`tcp://host:2375/`) the Swarm stack's agents use instead of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_docker_proxy: Option<String>,
    pub networks: Vec<Network>,
    pub brokers: Vec<Broker>,
    pub services: Vec<Service>,
    pub nodes: Vec<Node>,
    /// Timed events, in time order of their first occurrence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scenario: Vec<ScenarioEvent>,
}

/// One event of a scenario. (It deserialises too, for the Swarm stack's `scenario` service, which takes the
/// events `wotemu compose` validated.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioEvent {
    pub at_ms: f64,
    /// Undone after this long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<f64>,
    /// Repeated every this long …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<f64>,
    /// … this many times (`None`: until the end of the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    pub action: Action,
}

/// What a scenario event does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "do")]
pub enum Action {
    Kill {
        target: Target,
    },
    Pause {
        target: Target,
    },
    Resume {
        target: Target,
    },
    Partition {
        network: String,
    },
    Disconnect {
        node: String,
        network: String,
    },
    Conditions {
        network: String,
        conditions: Conditions,
    },
    Restart {
        target: Target,
    },
    /// The node runs `replicas` replicas from then on: the highest slots leave, free slots join.
    Scale {
        node: String,
        replicas: u32,
    },
    /// That share of the node's running replicas leaves and is replaced (same slots, new tasks).
    Churn {
        node: String,
        share_pct: f64,
    },
    Stress {
        target: Target,
        /// % of one core.
        #[serde(skip_serializing_if = "Option::is_none")]
        cpu_pct: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        memory_bytes: Option<u64>,
    },
}

/// The replicas of a node an event acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub node: String,
    /// One replica (1-based), or all of them / a share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    /// A share of the replicas, 0–100 %.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_pct: Option<f64>,
}

impl Target {
    /// The slots (1-based) this target names among `scale` replicas.
    pub fn slots(&self, scale: u32) -> Vec<u32> {
        match (self.slot, self.share_pct) {
            (Some(s), _) => vec![s],
            (None, Some(p)) => {
                let n = ((f64::from(scale) * p / 100.0).round() as u32).clamp(1, scale.max(1));
                (1..=n).collect()
            }
            (None, None) => (1..=scale).collect(),
        }
    }

    /// `reader`, `reader.2` or `50% of reader`.
    pub fn label(&self) -> String {
        match (self.slot, self.share_pct) {
            (Some(s), _) => format!("{}.{s}", self.node),
            (None, Some(p)) => format!("{p}% of {}", self.node),
            (None, None) => self.node.clone(),
        }
    }
}

impl Action {
    /// What it acts on, for people and the timeline's `target`: `node reader.2`, `network 3g`.
    pub fn target(&self) -> String {
        match self {
            Action::Kill { target }
            | Action::Pause { target }
            | Action::Resume { target }
            | Action::Restart { target }
            | Action::Stress { target, .. } => format!("node {}", target.label()),
            Action::Partition { network } | Action::Conditions { network, .. } => {
                format!("network {network}")
            }
            Action::Disconnect { node, network } => format!("node {node} on network {network}"),
            Action::Scale { node, .. } => format!("node {node}"),
            Action::Churn { node, share_pct } => format!("node {share_pct}% of {node}"),
        }
    }

    /// The action's name (`kill`, `partition`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Kill { .. } => "kill",
            Action::Pause { .. } => "pause",
            Action::Resume { .. } => "resume",
            Action::Partition { .. } => "partition",
            Action::Disconnect { .. } => "disconnect",
            Action::Conditions { .. } => "conditions",
            Action::Restart { .. } => "restart",
            Action::Stress { .. } => "stress",
            Action::Scale { .. } => "scale",
            Action::Churn { .. } => "churn",
        }
    }
}

impl Topology {
    /// The services that have a `placement` (nodes, brokers, and gateways as `gw_<network>`), sorted.
    pub fn placed(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !n.placement.is_empty())
            .map(|n| n.name.clone())
            .chain(
                self.brokers
                    .iter()
                    .filter(|b| !b.placement.is_empty())
                    .map(|b| b.name.clone()),
            )
            .chain(
                self.networks
                    .iter()
                    .filter(|n| !n.placement_gw.is_empty())
                    .map(Network::gateway),
            )
            .collect();
        out.sort();
        out
    }

    /// What it holds, for people: `3 nodes (8 replicas), 2 networks, 1 broker, 0 services`.
    pub fn summary(&self) -> String {
        let n = |k: usize, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
        format!(
            "{} ({} replicas), {}, {}, {}",
            n(self.nodes.len(), "node"),
            self.replicas(),
            n(self.networks.len(), "network"),
            n(self.brokers.len(), "broker"),
            n(self.services.len(), "service")
        )
    }

    /// The stack name of this topology read from `file`: its `name`, else the file's stem, made
    /// Docker-safe (lower case, `a-z 0-9 - _`; `wotemu` when nothing is left).
    pub fn stack_name(&self, file: &std::path::Path) -> String {
        let raw = self.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "wotemu".into())
        });
        let s: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let s = s.trim_matches('_').to_owned();
        if s.is_empty() {
            "wotemu".into()
        } else {
            s
        }
    }

    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }
    pub fn broker(&self, name: &str) -> Option<&Broker> {
        self.brokers.iter().find(|n| n.name == name)
    }
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    /// Total replicas of nodes.
    pub fn replicas(&self) -> u32 {
        self.nodes.iter().map(|n| n.scale).sum()
    }

    /// The most replicas a node has at any time of the run: its scale, or more when a scenario scales it up.
    pub fn max_replicas(&self, node: &str) -> u32 {
        let scale = self.node(node).map_or(0, |n| n.scale);
        self.scenario
            .iter()
            .filter_map(|e| match &e.action {
                Action::Scale { node: n, replicas } if n == node => Some(*replicas),
                _ => None,
            })
            .fold(scale, u32::max)
    }
}

/// Ports of the WoT servers in every node (0.6 defaults), as the environment contract defines them.
pub use wotemu_contract::ports::Ports;

/// Container images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Images {
    pub wotemu: String,
    pub redis: String,
    pub docker_api_proxy: String,
    /// The image of nodes running the builtin camera or detector (the wotemu image plus OpenCV).
    pub vision: String,
}

impl Default for Images {
    fn default() -> Self {
        let v = env!("CARGO_PKG_VERSION");
        Images {
            wotemu: format!("wotemu/wotemu:{v}"),
            redis: format!("wotemu/redis:{v}"),
            docker_api_proxy: format!("wotemu/docker-api-proxy:{v}"),
            vision: format!("wotemu/wotemu-vision:{v}"),
        }
    }
}

impl Images {
    /// Names this project's images (`wotemu/…`) under another prefix, as `docker/build.sh` pushed them with
    /// `WOTEMU_IMAGE_PREFIX` (`127.0.0.1:5000/wotemu` gives `127.0.0.1:5000/wotemu/wotemu:0.1.0`); images the
    /// topology named otherwise are kept.
    pub fn with_prefix(&mut self, prefix: &str) {
        let prefix = prefix.trim().trim_end_matches('/');
        for image in [
            &mut self.wotemu,
            &mut self.redis,
            &mut self.docker_api_proxy,
            &mut self.vision,
        ] {
            if let Some(rest) = image.strip_prefix("wotemu/") {
                *image = format!("{prefix}/{rest}");
            }
        }
    }
}

/// A network preset of WoTemu 0.6 (`wotemu.enums.NetworkConditions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Gprs,
    Edge,
    Regular3g,
    Fast3g,
    Lte,
    Wifi,
    Cable,
}

impl Preset {
    pub const ALL: [Preset; 7] = [
        Preset::Gprs,
        Preset::Edge,
        Preset::Regular3g,
        Preset::Fast3g,
        Preset::Lte,
        Preset::Wifi,
        Preset::Cable,
    ];

    /// The name used in topology files.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Gprs => "gprs",
            Preset::Edge => "edge",
            Preset::Regular3g => "regular_3g",
            Preset::Fast3g => "fast_3g",
            Preset::Lte => "lte",
            Preset::Wifi => "wifi",
            Preset::Cable => "cable",
        }
    }

    /// Reads a preset name, in any case, with `-` or `_` (`REGULAR_3G`, `regular-3g`, `3g`).
    pub fn parse(s: &str) -> Option<Preset> {
        let k = s.trim().to_ascii_lowercase().replace('-', "_");
        let k = k.strip_prefix("networkconditions.").unwrap_or(&k);
        match k {
            "3g" => return Some(Preset::Regular3g),
            "4g" => return Some(Preset::Lte),
            _ => {}
        }
        Preset::ALL.into_iter().find(|p| p.name() == k)
    }

    /// The exact parameters of 0.6: one-way delay ± jitter (ms) and rate.
    pub fn conditions(self) -> Conditions {
        let (latency, jitter, rate) = match self {
            Preset::Gprs => (700.0, 100.0, 50_000),
            Preset::Edge => (700.0, 100.0, 100_000),
            Preset::Regular3g => (300.0, 150.0, 1_500_000),
            Preset::Fast3g => (150.0, 50.0, 4_000_000),
            Preset::Lte => (40.0, 10.0, 15_000_000),
            Preset::Wifi => (25.0, 5.0, 50_000_000),
            Preset::Cable => (5.0, 5.0, 100_000_000),
        };
        Conditions {
            latency_ms: latency,
            jitter_ms: jitter,
            rate_bps: Some(rate),
            ..Conditions::default()
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a gateway applies to the traffic it forwards. Rates in bits/s; percentages 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Conditions {
    /// One-way delay, ms (each direction is delayed once, so RTT ≈ 2×latency).
    pub latency_ms: f64,
    /// Standard deviation of the delay (normal distribution), ms.
    pub jitter_ms: f64,
    /// Rate towards the network's nodes; `None` is unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<u64>,
    /// Rate of traffic from the network's nodes, when it is limited separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_up_bps: Option<u64>,
    pub loss_pct: f64,
    pub duplicate_pct: f64,
    pub corrupt_pct: f64,
    pub reorder_pct: f64,
    /// Delay of what the network's nodes send (towards WoT servers' ports, as `rate_up`), when it differs
    /// from `latency_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_up_ms: Option<f64>,
    /// Jitter of what the nodes send, when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_up_ms: Option<f64>,
    /// Loss of what the nodes send, when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_up_pct: Option<f64>,
    /// Loss in bursts (netem's `gemodel`) instead of `loss_pct`'s independent losses, in each direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_gilbert: Option<Gilbert>,
    /// The shape of the delay around `latency_ms`, `jitter_ms` its spread (netem's `distribution`).
    #[serde(default, skip_serializing_if = "Distribution::is_normal")]
    pub distribution: Distribution,
    /// How much each packet's jitter follows the previous one's, % (netem's delay correlation: the uniform
    /// draw behind the delay is this share of the last one's).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub correlation_pct: f64,
    /// How much may wait for the rate in each direction; beyond it packets are dropped (the rate limit's
    /// overflow). `None`: WoTemu 0.6's, 20 ms of the rate (its tbf's `latency 20ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueLimit>,
    /// How the nodes share the rate: one line for all (`fifo`, WoTemu 0.6's), or a queue and an equal share
    /// each (`per-node`, as a cellular cell schedules its users).
    #[serde(default, skip_serializing_if = "Fairness::is_fifo")]
    pub fairness: Fairness,
}

/// How the nodes of a network share its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fairness {
    /// One queue for everyone: a bulk flow delays the others (bufferbloat).
    #[default]
    Fifo,
    /// A queue per node, served in turns: each gets an equal share of the rate.
    PerNode,
}

impl Fairness {
    pub fn parse(s: &str) -> Result<Fairness, String> {
        match s {
            "fifo" => Ok(Fairness::Fifo),
            "per-node" => Ok(Fairness::PerNode),
            _ => Err(format!("unknown fairness `{s}`: give fifo or per-node")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fairness::Fifo => "fifo",
            Fairness::PerNode => "per-node",
        }
    }

    pub fn is_fifo(&self) -> bool {
        *self == Fairness::Fifo
    }
}

/// A queue's limit: packets, or the time its bytes take at the rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueLimit {
    Packets(u32),
    Ms(f64),
}

impl QueueLimit {
    /// `100` (packets) or a duration (`200ms`).
    pub fn parse(s: &str) -> Result<QueueLimit, String> {
        let s = s.trim();
        let packets = s
            .strip_suffix("packets")
            .or_else(|| s.strip_suffix('p'))
            .unwrap_or(s);
        if let Ok(n) = packets.trim().parse::<u32>() {
            return match n {
                0 => Err("a queue of 0 packets drops everything; give at least 1".into()),
                n => Ok(QueueLimit::Packets(n)),
            };
        }
        match crate::units::parse_duration_ms(s) {
            Ok(ms) if ms > 0.0 && ms.is_finite() => Ok(QueueLimit::Ms(ms)),
            _ => Err(format!(
                "`{s}` is not a queue limit: give packets (`100`) or a duration (`200ms`)"
            )),
        }
    }

    /// As a person writes it: `100 packets`, `200ms`.
    pub fn describe(&self) -> String {
        match self {
            QueueLimit::Packets(n) => format!("{n} packets"),
            QueueLimit::Ms(ms) => crate::units::format_ms(*ms),
        }
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// The shape of delays around the latency (netem's): `normal` (jitter the standard deviation), `pareto` and
/// `paretonormal` (netem's tables, jitter their scale), `uniform` (latency ± jitter, netem without a table),
/// `ping`: the network's measured delays ([`PingDelays`]), which set latency and jitter themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    #[default]
    Normal,
    Pareto,
    Paretonormal,
    Uniform,
    Ping,
}

impl Distribution {
    pub const ALL: [Distribution; 5] = [
        Distribution::Normal,
        Distribution::Pareto,
        Distribution::Paretonormal,
        Distribution::Uniform,
        Distribution::Ping,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Distribution::Normal => "normal",
            Distribution::Pareto => "pareto",
            Distribution::Paretonormal => "paretonormal",
            Distribution::Uniform => "uniform",
            Distribution::Ping => "ping",
        }
    }

    pub fn parse(s: &str) -> Option<Distribution> {
        Distribution::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn is_normal(&self) -> bool {
        *self == Distribution::Normal
    }

    /// What to say when `s` is not a distribution.
    pub fn unknown(s: &str) -> String {
        format!(
            "unknown distribution `{s}`; distributions: normal, pareto, paretonormal, uniform, or delays measured by ping ({{ping: FILE}})"
        )
    }
}

/// A network's delays drawn from a measured ping output (as Fogify does): each direction's delay is half a
/// round trip of the file's, drawn from its quantiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingDelays {
    /// The file as the topology names it.
    pub file: String,
    /// One-way delays, ms, at evenly spaced quantiles from the least (first) to the greatest (last).
    #[serde(skip)]
    pub quantiles_ms: Vec<f64>,
}

impl PingDelays {
    /// The delays' mean and standard deviation, ms (the network's configured latency and jitter).
    pub fn mean_sd(&self) -> (f64, f64) {
        quantiles_mean_sd(&self.quantiles_ms)
    }
}

/// The mean and standard deviation of delays given by evenly spaced quantiles, ms.
pub fn quantiles_mean_sd(quantiles: &[f64]) -> (f64, f64) {
    let n = quantiles.len().max(1) as f64;
    let mean = quantiles.iter().sum::<f64>() / n;
    let sd = (quantiles.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, sd)
}

/// Gilbert–Elliott loss, as netem's `loss gemodel p r 1-h 1-k`: a good and a bad state; each packet moves
/// the chain good → bad with `p_pct` and bad → good with `r_pct`, then is lost with `h_pct` in the bad state
/// and `k_pct` in the good one (netem's third and fourth figures). `p: 1%, r: 25%, h: 100%, k: 0%` loses
/// 3.8 % of packets in bursts of 4 on average.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Gilbert {
    pub p_pct: f64,
    pub r_pct: f64,
    pub h_pct: f64,
    pub k_pct: f64,
}

impl Gilbert {
    /// `P,R[,H[,K]]` (percentages; H 100 % and K 0 % by default), as `--loss gilbert:1%,25%` gives it.
    pub fn parse(s: &str) -> Result<Gilbert, String> {
        let v: Vec<f64> = s
            .split(',')
            .map(|x| crate::units::parse_percent(x.trim()))
            .collect::<Result<_, _>>()?;
        match v[..] {
            [p_pct, r_pct] => Ok(Gilbert { p_pct, r_pct, h_pct: 100.0, k_pct: 0.0 }),
            [p_pct, r_pct, h_pct] => Ok(Gilbert { p_pct, r_pct, h_pct, k_pct: 0.0 }),
            [p_pct, r_pct, h_pct, k_pct] => Ok(Gilbert { p_pct, r_pct, h_pct, k_pct }),
            _ => Err(format!(
                "`gilbert:{s}`: give P,R[,H[,K]] — from good to bad, back, loss when bad, loss when good (e.g. gilbert:1%,25%)"
            )),
        }
    }

    /// The long-run share of packets lost, %.
    pub fn mean_loss_pct(&self) -> f64 {
        let (p, r) = (self.p_pct, self.r_pct);
        if p + r <= 0.0 {
            return self.k_pct;
        }
        (p * self.h_pct + r * self.k_pct) / (p + r)
    }

    /// The mean length of a burst of losses, when every packet of the bad state and none of the good one
    /// is lost (`h` 100 %, `k` 0 %): the bad state's mean stay, 1 / r.
    pub fn mean_burst(&self) -> Option<f64> {
        (self.h_pct >= 100.0 && self.k_pct <= 0.0 && self.r_pct > 0.0).then(|| 100.0 / self.r_pct)
    }

    /// Losses of `loss_pct` on average, each packet's fate following the last one's by `correlation_pct`: a
    /// lost packet is followed by a loss with p + ρ(1 − p), a delivered one with p(1 − ρ). (netem's own
    /// `loss P C%` correlates the uniform numbers instead, which loses less than P; this chain keeps P and
    /// maps exactly onto netem's `gemodel`.)
    pub fn correlated(loss_pct: f64, correlation_pct: f64) -> Gilbert {
        let (p, rho) = (loss_pct / 100.0, correlation_pct / 100.0);
        Gilbert {
            p_pct: 100.0 * p * (1.0 - rho),
            r_pct: 100.0 * (1.0 - p) * (1.0 - rho),
            h_pct: 100.0,
            k_pct: 0.0,
        }
    }
}

impl Conditions {
    /// One direction's (delay ms, jitter ms, loss %): `up` (what the nodes send) takes the `_up` figures
    /// that are set, the other direction the network's own; with Gilbert–Elliott loss, its long-run mean.
    pub fn one_way(&self, up: bool) -> (f64, f64, f64) {
        if up {
            (
                self.latency_up_ms.unwrap_or(self.latency_ms),
                self.jitter_up_ms.unwrap_or(self.jitter_ms),
                self.loss_gilbert
                    .map(|g| g.mean_loss_pct())
                    .or(self.loss_up_pct)
                    .unwrap_or(self.loss_pct),
            )
        } else {
            let loss = self.loss_gilbert.map(|g| g.mean_loss_pct());
            (
                self.latency_ms,
                self.jitter_ms,
                loss.unwrap_or(self.loss_pct),
            )
        }
    }

    /// Makes the loss in force (a percentage, or a chain's mean) follow the last packet's by
    /// `correlation_pct` ([`Gilbert::correlated`]), its average kept.
    pub fn correlate_loss(&mut self, correlation_pct: f64) {
        let mean = self
            .loss_gilbert
            .map_or(self.loss_pct, |g| g.mean_loss_pct());
        self.loss_gilbert = Some(Gilbert::correlated(mean, correlation_pct));
        self.loss_pct = 0.0;
    }

    /// Whether a figure differs per direction beyond `rate_up` (`latency_up`, `jitter_up`, `loss_up`).
    pub fn asymmetric(&self) -> bool {
        self.latency_up_ms.is_some() || self.jitter_up_ms.is_some() || self.loss_up_pct.is_some()
    }

    /// The percentages beyond 0.6's dict, with their names in topology files, gateway JSON and netem.
    pub fn percentages(&self) -> [(&'static str, f64); 4] {
        [
            ("loss", self.loss_pct),
            ("duplicate", self.duplicate_pct),
            ("corrupt", self.corrupt_pct),
            ("reorder", self.reorder_pct),
        ]
    }
}

/// Conditions as a person changes them on a command line (`wotemu net set`, `wotemu fidelity`): a preset,
/// then each figure given, in the topology's units (`300ms`, `1.5mbit`, `1%`).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ConditionsEdit {
    /// Start from a preset (gprs, edge, regular_3g, fast_3g, lte, wifi, cable); the options below override.
    #[cfg_attr(feature = "clap", arg(long = "conditions", value_name = "PRESET"))]
    pub preset: Option<String>,
    /// One-way delay (e.g. 50ms).
    #[cfg_attr(feature = "clap", arg(long))]
    pub delay: Option<String>,
    /// Spread of the delay: the standard deviation of a normal distribution, the scale of the others.
    #[cfg_attr(feature = "clap", arg(long))]
    pub jitter: Option<String>,
    /// Rate (e.g. 10mbit).
    #[cfg_attr(feature = "clap", arg(long))]
    pub rate: Option<String>,
    /// Rate towards services, when it differs.
    #[cfg_attr(feature = "clap", arg(long))]
    pub rate_up: Option<String>,
    /// Packet loss (e.g. 1%), or losses in bursts (gilbert:P,R[,H[,K]], e.g. gilbert:1%,25%).
    #[cfg_attr(feature = "clap", arg(long))]
    pub loss: Option<String>,
    #[cfg_attr(feature = "clap", arg(long))]
    pub duplicate: Option<String>,
    #[cfg_attr(feature = "clap", arg(long))]
    pub corrupt: Option<String>,
    #[cfg_attr(feature = "clap", arg(long))]
    pub reorder: Option<String>,
    /// The delay's shape: normal, pareto, paretonormal (netem's tables), uniform (delay ± jitter), or
    /// ping:FILE (delays measured by ping: Linux `ping` output, or a round trip in ms per line).
    #[cfg_attr(feature = "clap", arg(long))]
    pub distribution: Option<String>,
    /// How much each packet's jitter follows the previous one's (e.g. 25%).
    #[cfg_attr(feature = "clap", arg(long))]
    pub correlation: Option<String>,
    /// How much each packet's loss follows the last one's (e.g. 50%), the average loss kept.
    #[cfg_attr(feature = "clap", arg(long))]
    pub loss_correlation: Option<String>,
    /// How much may wait for the rate in each direction: packets (`100`) or a duration (`200ms`).
    #[cfg_attr(feature = "clap", arg(long))]
    pub queue: Option<String>,
    /// How the nodes share the rate: fifo (one line) or per-node (an equal share each).
    #[cfg_attr(feature = "clap", arg(long))]
    pub fairness: Option<String>,
}

/// A value of a [`ConditionsEdit`] that cannot be used: the flag (`delay`, `conditions`, …) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--{flag}: {message}")]
pub struct EditError {
    pub flag: &'static str,
    pub message: String,
}

impl ConditionsEdit {
    /// The file of `--distribution ping:FILE` (delays measured by ping), which the caller reads.
    pub fn ping_file(&self) -> Option<&str> {
        self.distribution.as_deref()?.strip_prefix("ping:")
    }

    /// `base` (or the preset's conditions, when one is given) with each figure given.
    pub fn apply(&self, base: Conditions) -> Result<Conditions, EditError> {
        use crate::units;
        let mut c = match &self.preset {
            Some(p) => Preset::parse(p)
                .ok_or_else(|| EditError {
                    flag: "conditions",
                    message: format!(
                        "unknown preset `{p}`; presets: {}",
                        Preset::ALL.map(|p| p.name()).join(", ")
                    ),
                })?
                .conditions(),
            None => base,
        };
        let err = |flag: &'static str| move |message: String| EditError { flag, message };
        if let Some(v) = &self.delay {
            c.latency_ms = units::parse_duration_ms(v).map_err(err("delay"))?;
        }
        if let Some(v) = &self.jitter {
            c.jitter_ms = units::parse_duration_ms(v).map_err(err("jitter"))?;
        }
        if let Some(v) = &self.rate {
            c.rate_bps = Some(units::parse_rate_bps(v).map_err(err("rate"))?);
        }
        if let Some(v) = &self.rate_up {
            c.rate_up_bps = Some(units::parse_rate_bps(v).map_err(err("rate-up"))?);
        }
        // `--loss gilbert:P,R[,H[,K]]`: losses in bursts (see [`Gilbert`]).
        let gilbert = self
            .loss
            .as_deref()
            .and_then(|v| v.strip_prefix("gilbert:"));
        if let Some(g) = gilbert {
            c.loss_gilbert = Some(Gilbert::parse(g).map_err(err("loss"))?);
            c.loss_pct = 0.0;
        } else if self.loss.is_some() {
            c.loss_gilbert = None;
        }
        if let Some(v) = &self.distribution {
            // `ping:FILE` brings measured delays (the caller reads them); `ping` returns to the network's own.
            c.distribution = match self.ping_file() {
                Some(_) => Distribution::Ping,
                None => Distribution::parse(v).ok_or_else(|| EditError {
                    flag: "distribution",
                    message: format!(
                        "{}; measured delays: ping:FILE (or `ping`: the network's own)",
                        Distribution::unknown(v)
                    ),
                })?,
            };
        }
        if let Some(v) = &self.queue {
            c.queue = Some(QueueLimit::parse(v).map_err(err("queue"))?);
        }
        if let Some(v) = &self.fairness {
            c.fairness = Fairness::parse(v).map_err(err("fairness"))?;
        }
        let loss = if gilbert.is_some() { &None } else { &self.loss };
        for (flag, v, dst) in [
            ("correlation", &self.correlation, &mut c.correlation_pct),
            ("loss", loss, &mut c.loss_pct),
            ("duplicate", &self.duplicate, &mut c.duplicate_pct),
            ("corrupt", &self.corrupt, &mut c.corrupt_pct),
            ("reorder", &self.reorder, &mut c.reorder_pct),
        ] {
            if let Some(v) = v {
                *dst = units::parse_percent(v).map_err(err(flag))?;
            }
        }
        if let Some(v) = &self.loss_correlation {
            let rho = units::parse_percent(v).map_err(err("loss-correlation"))?;
            if c.loss_gilbert.is_some() && self.loss.is_some() {
                return Err(EditError {
                    flag: "loss-correlation",
                    message: "give it with a percentage --loss, not a gilbert model".into(),
                });
            }
            c.correlate_loss(rho);
        }
        Ok(c)
    }
}

/// A change of conditions at a time of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleStep {
    /// Start, ms from the start of the run.
    pub at_ms: f64,
    /// Length, ms; after it the network's own conditions return. `None`: until the next step or the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    pub conditions: Conditions,
}

/// Conditions over time from a trace file ([`crate::trace`] reads it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The file as the topology names it.
    pub file: String,
    pub format: TraceFormat,
    /// Interpolate between rows (else each row holds until the next).
    pub linear: bool,
    /// Start again after the last row.
    pub looped: bool,
    /// mahimahi: the window delivery opportunities are counted in, ms.
    pub bin_ms: f64,
    /// The rows, read from the file when the topology is loaded from a file (empty before).
    pub points: Vec<TracePoint>,
}

/// The format of a trace file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    Csv,
    Mahimahi,
}

/// One row of a trace: from `at_ms`, the figures it gives (the others keep the network's own).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct TracePoint {
    pub at_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_up_bps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_pct: Option<f64>,
}

/// A network and its gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub name: String,
    /// The preset the conditions started from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    pub conditions: Conditions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduleStep>,
    /// Conditions replayed from a trace file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose_net: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose_gw: Option<serde_json::Value>,
    /// Where the gateway runs (Swarm).
    #[serde(skip_serializing_if = "Placement::is_empty")]
    pub placement_gw: Placement,
    /// The delays of `distribution: {ping: FILE}` ([`crate::ping`] reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping: Option<PingDelays>,
}

impl Network {
    /// The gateway's service name, `gw_<network>`.
    pub fn gateway(&self) -> String {
        format!("gw_{}", self.name)
    }
}

/// An MQTT broker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Broker {
    pub name: String,
    pub networks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose: Option<serde_json::Value>,
    /// Where the broker runs (Swarm).
    #[serde(skip_serializing_if = "Placement::is_empty")]
    pub placement: Placement,
}

/// An extra container linked to nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    pub image: String,
    pub options: BTreeMap<String, serde_json::Value>,
}

/// A builtin app of the one list in [`wotemu_contract::apps::BUILTINS`] (0.6's `BuiltinApps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BuiltinApp(pub wotemu_contract::apps::Builtin);

impl Serialize for BuiltinApp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name)
    }
}

impl BuiltinApp {
    /// The short name (`reader`).
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The `--path` value 0.6 uses (`wotemu_reader`).
    pub fn path(self) -> String {
        self.0.path()
    }

    /// Whether this version ships the app.
    pub fn available(self) -> bool {
        self.0.available
    }

    /// Reads `reader` or `wotemu_reader`.
    pub fn parse(s: &str) -> Option<BuiltinApp> {
        wotemu_contract::apps::builtin(s).map(BuiltinApp)
    }

    /// Every builtin app.
    pub fn all() -> impl Iterator<Item = BuiltinApp> {
        wotemu_contract::apps::BUILTINS.into_iter().map(BuiltinApp)
    }
}

/// Where a node's app comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AppSource {
    Builtin(BuiltinApp),
    Url(String),
    /// A file on the host (relative to the topology's folder, or absolute), shipped to the node.
    File(String),
    /// An absolute path inside the node's own image (0.6's recommended `Node(image=…, app=NodeApp(path=
    /// "/apps/my_app.py"))`): not on the host, so it is not shipped; Swarm only.
    Image(String),
}

impl AppSource {
    /// The `--path` argument of the agent.
    pub fn path(&self) -> String {
        match self {
            AppSource::Builtin(b) => b.path(),
            AppSource::Url(s) | AppSource::File(s) | AppSource::Image(s) => s.clone(),
        }
    }
}

/// A node's application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    pub source: AppSource,
    pub http: bool,
    pub ws: bool,
    pub mqtt: bool,
    pub coap: bool,
    pub params: BTreeMap<String, String>,
}

impl App {
    /// The `wotemu agent` arguments that run this app from `path` (the app source's path, possibly resolved):
    /// `agent --path PATH [--func-param NAME VALUE]… [--enable-http|ws|mqtt|coap]…`.
    pub fn agent_args(&self, path: String) -> Vec<String> {
        let mut args = vec!["agent".to_owned(), "--path".to_owned(), path];
        for (k, v) in &self.params {
            args.extend(["--func-param".to_owned(), k.clone(), v.clone()]);
        }
        for (on, flag) in [
            (self.http, "--enable-http"),
            (self.ws, "--enable-ws"),
            (self.mqtt, "--enable-mqtt"),
            (self.coap, "--enable-coap"),
        ] {
            if on {
                args.push(flag.to_owned());
            }
        }
        args
    }
}

/// Resources of each replica. Limits keep the user's text for the compose file, and their parsed value.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<Cpus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_reservation: Option<Cpus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_cpu_speed: Option<f64>,
}

/// A number of CPUs as written and as a number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cpus {
    pub text: String,
    pub value: f64,
}

/// A memory size as written and in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub text: String,
    pub bytes: u64,
}

/// A node: an app run in `scale` replicas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    pub app: App,
    pub networks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    /// The network the broker is reached on (set whenever `broker` is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub resources: Resources,
    pub scale: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose: Option<serde_json::Value>,
    /// Where the replicas run (Swarm).
    #[serde(skip_serializing_if = "Placement::is_empty")]
    pub placement: Placement,
    pub services: Vec<String>,
}

impl Node {
    /// `<broker>.<network>`, the host name MQTT apps connect to.
    pub fn broker_host(&self) -> Option<String> {
        Some(format!(
            "{}.{}",
            self.broker.as_ref()?,
            self.broker_network.as_ref()?
        ))
    }

    /// Every network the node joins: its own and its broker's, sorted, without duplicates.
    pub fn all_networks(&self) -> Vec<String> {
        let mut v = self.networks.clone();
        v.extend(self.broker_network.clone());
        v.sort();
        v.dedup();
        v
    }
}

/// The private network between a linked service and a node, `srvnet_<service>_<node>`.
pub fn service_network(service: &str, node: &str) -> String {
    format!("srvnet_{service}_{node}")
}

#[cfg(test)]
mod edit_tests {
    use super::*;

    #[test]
    fn an_edit_takes_a_preset_then_each_figure() {
        let e = ConditionsEdit {
            preset: Some("gprs".into()),
            delay: Some("700ms".into()),
            loss: Some("2%".into()),
            ..Default::default()
        };
        let c = e.apply(Conditions::default()).unwrap();
        assert_eq!(c.latency_ms, 700.0);
        assert_eq!(c.loss_pct, 2.0);
        assert_eq!(c.rate_bps, Preset::Gprs.conditions().rate_bps);
        let bad = ConditionsEdit {
            rate: Some("fast".into()),
            ..Default::default()
        };
        assert_eq!(bad.apply(c).unwrap_err().flag, "rate");
        let unknown = ConditionsEdit {
            preset: Some("5g".into()),
            ..Default::default()
        };
        assert!(unknown
            .apply(c)
            .unwrap_err()
            .to_string()
            .contains("presets: gprs"));
    }
}
