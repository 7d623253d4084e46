//! The topology as written by users: YAML, or the JSON the 0.6 Python loader hands over.
//!
//! These types only describe the shape (with `deny_unknown_fields`, so a typo is an error); every value is
//! checked and resolved by [`crate::validate`] into [`crate::model::Topology`]. The JSON Schema printed by
//! `wotemu schema topology` is derived from them.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    /// Format version of this file (1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// A default stack name for `wotemu run` (the file name otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The seed of the gateways' random decisions (loss, jitter, duplication, corruption, reordering), so a
    /// run can be reproduced; `wotemu run --seed` / `wotemu compose --seed` override it, and without either a
    /// seed is drawn (and kept in the run's manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The ports WoT servers listen on in every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<RawPorts>,
    /// Container images (Swarm engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<RawImages>,
    /// The stack's Redis: an external one (`url`, 0.6's `TopologyRedis(enabled=False, redis_url=…)`) instead
    /// of the stack's own, or the own one's service name (`host`, 0.6's `TopologyRedis(host=…)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RawRedis>,
    /// An external Docker API proxy instead of the stack's own (0.6's `TopologyDockerProxy(enabled=False,
    /// host=…)`; Swarm only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_proxy: Option<RawExternal>,
    /// Networks by name, each with its conditions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, RawNetwork>,
    /// MQTT brokers by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub brokers: BTreeMap<String, RawBroker>,
    /// Extra containers (databases, …) by name, linked to nodes with a node's `services`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, RawService>,
    /// Nodes by name: each runs one app in `scale` replicas.
    #[serde(default)]
    pub nodes: BTreeMap<String, RawNode>,
    /// Timed events of the run: faults, pauses, partitions, changes of conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenario: Vec<RawScenarioEvent>,
}

/// One event of a scenario: `at` a time of the run, one action, optionally undone after `for` and repeated
/// `every` interval (`count` times).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenarioEvent {
    /// When, from the start of the run (`10s`).
    pub at: Scalar,
    /// How long; then the action is undone (pause → resume, partition and disconnect → reconnected,
    /// conditions → the earlier ones).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Scalar>,
    /// Repeat every this long …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Scalar>,
    /// … this many times in all (default: until the end of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// SIGKILL the app of a node's replicas (`reader`, `reader.2`, `{node: reader, share: 50%}`); the
    /// runner restarts it as for any crash, under a new task name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<RawTarget>,
    /// Freeze the replicas (every process of the app stopped) until `resume` or the end of `for`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<RawTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<RawTarget>,
    /// Total loss on a network (`{network: 3g}`), undone by `for`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<RawPartition>,
    /// Cut one node's link to one network (`{node: server, network: 3g}`), undone by `for`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<RawDisconnect>,
    /// New conditions for a network (`{network: 3g, conditions: gprs, loss: 5%}`), as a schedule step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<RawScenarioConditions>,
    /// Replicas join or leave: the node runs this many replicas from then on (`{node: reader, replicas:
    /// 16}`); with `for`, it goes back to the count before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<RawScale>,
    /// A share of a node's replicas leaves and is replaced by new ones (`{node: reader, share: 20%, every:
    /// 30s}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<RawChurn>,
    /// CPU and/or memory load inside the cgroups of a node's replicas (`{node: worker, cpu: 90%}`,
    /// `{node: worker, memory: 120M}`), until the end of `for` (or of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<RawStress>,
    /// Stop the app of a node's replicas gracefully (SIGTERM); the runner starts it again under a new task
    /// name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RawTarget>,
}

/// Load inside a node's replicas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStress {
    /// The node (`worker`) or a replica (`worker.2`).
    pub node: String,
    /// Busy CPU, in % of one core (`90%`, `200%` for two cores), subject to the node's CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Scalar>,
    /// Memory allocated and touched (`120M`), counted by the node's memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Scalar>,
}

/// The replicas an event acts on: `node`, `node.slot`, or a node and a share of its replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawTarget {
    Name(String),
    Share {
        node: String,
        /// `50%` of the replicas (at least one), the first ones by slot.
        share: Scalar,
    },
}

/// A node's new number of replicas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScale {
    pub node: String,
    pub replicas: u32,
}

/// Replicas replaced: that share of a node's running replicas leaves (gracefully) and new ones join.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChurn {
    pub node: String,
    /// `20%` of the running replicas (at least one), a different set each time.
    pub share: Scalar,
    /// Repeat every this long (the event's own `every` does the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Scalar>,
}

/// A network to partition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPartition {
    pub network: String,
}

/// A node's link to a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDisconnect {
    pub node: String,
    pub network: String,
}

/// Ports of the WoT servers (0.6 `TopologyPorts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPorts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coap: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<u16>,
}

/// The stack's Redis: elsewhere (`url`) or its own under another name (`host`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://host:port` of an external Redis every part of the run uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The service name (and so the host name) of the stack's own Redis; default `redis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A service of the stack run elsewhere, by URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExternal {
    /// `redis://host:port` for Redis, `tcp://host:2375/` for the Docker API proxy.
    pub url: String,
}

/// Images of the stack's containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawImages {
    /// Image of nodes, gateways and brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wotemu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_api_proxy: Option<String>,
    /// Image of nodes running the builtin camera or detector (OpenCV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<String>,
}

/// Network conditions: a preset, changed by any of the explicit fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RawConditions {
    pub conditions: Option<String>,
    pub latency: Option<Scalar>,
    pub jitter: Option<Scalar>,
    pub rate: Option<Scalar>,
    pub rate_up: Option<Scalar>,
    pub loss: Option<RawLoss>,
    pub duplicate: Option<Scalar>,
    pub corrupt: Option<Scalar>,
    pub reorder: Option<Scalar>,
    pub latency_up: Option<Scalar>,
    pub jitter_up: Option<Scalar>,
    pub loss_up: Option<Scalar>,
    pub distribution: Option<RawDistribution>,
    pub correlation: Option<Scalar>,
    pub queue: Option<Scalar>,
    pub fairness: Option<String>,
    pub loss_correlation: Option<Scalar>,
}

/// Defines a struct with the condition fields (serde's `flatten` cannot be combined with
/// `deny_unknown_fields`, so they are written into each struct that has them).
macro_rules! with_conditions {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// A preset: gprs, edge, regular_3g, fast_3g, lte, wifi, cable.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<String>,
            /// One-way delay added by the gateway: milliseconds or a duration (`300ms`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub latency: Option<Scalar>,
            /// Spread of the delay: the standard deviation of a normal `distribution`, the scale of the others.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub jitter: Option<Scalar>,
            /// Rate towards the nodes of the network, in tc syntax (`1500kbit`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub rate: Option<Scalar>,
            /// Rate of traffic sent by the nodes of the network, when it differs (asymmetric links).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub rate_up: Option<Scalar>,
            /// Packet loss: a percentage (`1%`, each packet alike), or losses in bursts
            /// (`{gilbert: {p: 1%, r: 25%, h: 100%, k: 0%}}`, netem's Gilbert–Elliott model).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub loss: Option<RawLoss>,
            /// Packet duplication, percent.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub duplicate: Option<Scalar>,
            /// Packet corruption (one bit flipped), percent.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub corrupt: Option<Scalar>,
            /// Packets sent at once instead of delayed (reordering), percent; needs a latency.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub reorder: Option<Scalar>,
            /// One-way delay of what the nodes send, when it differs from `latency` (asymmetric links).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub latency_up: Option<Scalar>,
            /// Jitter of what the nodes send, when it differs from `jitter`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub jitter_up: Option<Scalar>,
            /// Loss of what the nodes send, when it differs from `loss`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub loss_up: Option<Scalar>,
            /// The delay's shape around `latency`: normal (default), pareto, paretonormal (netem's tables),
            /// uniform (latency ± jitter), or `{ping: FILE}`: delays measured by ping.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub distribution: Option<RawDistribution>,
            /// How much each packet's jitter follows the previous one's, percent (netem's correlation).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub correlation: Option<Scalar>,
            /// How much may wait for the rate in each direction, beyond which packets are dropped: packets
            /// (`100`) or a duration (`200ms`); by default 20 ms of the rate, as WoTemu 0.6.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub queue: Option<Scalar>,
            /// How the nodes share the rate: `fifo` (one line, WoTemu 0.6's) or `per-node` (an equal share
            /// each, as a cellular cell schedules its users).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub fairness: Option<String>,
            /// How much each packet's loss follows the last one's, percent: losses come in runs, the average
            /// `loss` kept (a Gilbert–Elliott chain: runs of 1 / ((1 − loss)(1 − correlation)) on average).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub loss_correlation: Option<Scalar>,
        }

        impl $name {
            /// The condition fields.
            pub fn raw_conditions(&self) -> RawConditions {
                RawConditions {
                    conditions: self.conditions.clone(),
                    latency: self.latency.clone(),
                    jitter: self.jitter.clone(),
                    rate: self.rate.clone(),
                    rate_up: self.rate_up.clone(),
                    loss: self.loss.clone(),
                    duplicate: self.duplicate.clone(),
                    corrupt: self.corrupt.clone(),
                    reorder: self.reorder.clone(),
                    latency_up: self.latency_up.clone(),
                    jitter_up: self.jitter_up.clone(),
                    loss_up: self.loss_up.clone(),
                    distribution: self.distribution.clone(),
                    correlation: self.correlation.clone(),
                    queue: self.queue.clone(),
                    fairness: self.fairness.clone(),
                    loss_correlation: self.loss_correlation.clone(),
                }
            }
        }
    };
}

with_conditions! {
    /// A network: its conditions, their changes over time, and compose arguments.
    pub struct RawNetwork {
        /// WoTemu 0.6's explicit parameters (`{latency: ms, jitter: ms, rate: "..."}`); they replace the preset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub netem: Option<BTreeMap<String, Scalar>>,
        /// Changes of conditions over time, from the start of the run.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub schedule: Vec<RawScheduleStep>,
        /// Conditions replayed from a trace file over time (instead of a schedule).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub trace: Option<RawTrace>,
        /// Compose keys merged into the network (0.6 `args_compose_net`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
        pub compose_net: Option<serde_json::Value>,
        /// Compose keys merged into the gateway service (0.6 `args_compose_gw`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
        pub compose_gw: Option<serde_json::Value>,
        /// Where the network's gateway runs in a Swarm stack.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub placement_gw: Option<RawPlacement>,
    }
}

with_conditions! {
    /// One change of conditions: from `at`, for `for` (or until the next step), the given conditions
    /// (a preset and/or explicit fields; fields not given keep the network's own values).
    pub struct RawScheduleStep {
        /// When it starts, from the start of the run (`60s`).
        pub at: Scalar,
        /// How long it lasts; then the network's own conditions return.
        #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
        pub duration: Option<Scalar>,
    }
}

/// A trace of conditions over time: a file name, or the file with how to replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawTrace {
    /// The file, relative to the topology's folder: a CSV (`.csv`) with a header naming any of `time`
    /// (seconds, or a duration such as `1.5s`), `delay`, `jitter` (ms or a duration), `rate`, `rate_up`
    /// (bit/s or `1.5mbit`), `loss` (% or `1%`); or a mahimahi packet-delivery trace (one millisecond
    /// timestamp per line, each a 1500-byte delivery opportunity), which sets `rate`.
    File(String),
    /// The file and how to replay it.
    Spec(RawTraceSpec),
}

/// How to replay a trace file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraceSpec {
    pub file: String,
    /// `step` (each row holds until the next; the default) or `linear` (interpolated every 100 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolate: Option<String>,
    /// Start again from the first row after the last one (default: false, the last row holds).
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub looped: Option<bool>,
    /// `csv` or `mahimahi` (default: by the file's extension, `.csv` is CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// For mahimahi traces: the window the delivery opportunities are counted in to give a rate (default
    /// `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<Scalar>,
}

/// An MQTT broker (Mosquitto).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBroker {
    /// The networks it is reachable on.
    pub networks: Vec<String>,
    /// Compose keys merged into the broker service (0.6 `args_compose`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub compose: Option<serde_json::Value>,
    /// Where the broker runs in a Swarm stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<RawPlacement>,
}

/// Where a service's tasks may run in a Swarm stack (`wotemu run` runs everything on its one host).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlacement {
    /// The host, as `wotemu swarm up` labels them (`manager`, `worker-1`, …): sugar for the constraint
    /// `node.labels.wotemu.host == worker-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Docker's placement constraints (`node.role == worker`, `node.labels.zone != edge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Docker's placement preferences (`{spread: node.labels.zone}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<RawPreference>,
}

/// A placement preference: spread the tasks evenly over a label's values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPreference {
    pub spread: String,
}

/// An extra container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub image: String,
    /// Compose service keys (`environment`, `command`, `deploy`, …); 0.6's `restart_policy` goes to `deploy`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, serde_json::Value>,
}

/// A node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub app: RawApp,
    /// The networks the node is on.
    pub networks: Vec<String>,
    /// The broker MQTT apps connect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    /// Which of the broker's networks to reach it on (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_network: Option<String>,
    /// The image (default: `images.wotemu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<RawResources>,
    /// Number of replicas (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// Compose keys merged into the node's service (0.6 `args_compose`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub compose: Option<serde_json::Value>,
    /// Where the node's replicas run in a Swarm stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<RawPlacement>,
    /// Extra containers (from `services`) linked to this node on a private network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// The application of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    /// A builtin app (`clock`, `error`, `reader`, `subscriber`, `worker`, `caller`, …, or 0.6's `wotemu_reader`
    /// form), an http(s) URL, or a file path inside the node.
    pub path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub http: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ws: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub mqtt: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub coap: bool,
    /// Keyword arguments of the app function (`--func-param`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Scalar>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Resources of each replica of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    /// CPUs (`0.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<Scalar>,
    /// Memory (`150M`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_reservation: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<Scalar>,
    /// Emulated CPU speed (sysbench events/s); excludes `cpu_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cpu_speed: Option<Scalar>,
}

/// A scalar written as a string or a number (`300`, `"300ms"`); kept as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(with = "StringOrNumber")]
pub struct Scalar(pub String);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StringOrNumber {
    S(String),
    N(f64),
    B(bool),
}

impl Scalar {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Scalar(s.to_owned())
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Numbers go back out as numbers, so `latency: 300` round-trips.
        if let Ok(i) = self.0.parse::<i64>() {
            return s.serialize_i64(i);
        }
        if self.0.contains('.') {
            if let Ok(f) = self.0.parse::<f64>() {
                if f.is_finite() {
                    return s.serialize_f64(f);
                }
            }
        }
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A network's loss: a percentage, or a model of bursts of losses.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawLoss {
    /// Each packet lost with this chance (`1%`).
    Percent(Scalar),
    /// Losses in bursts.
    Model(RawLossModel),
}

/// A loss model (one key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLossModel {
    /// Gilbert–Elliott (netem's `gemodel`): a good and a bad state.
    pub gilbert: RawGilbert,
}

/// Gilbert–Elliott loss: each packet moves the chain good → bad with `p` and bad → good with `r`, then is
/// lost with `h` in the bad state and `k` in the good one (netem's `loss gemodel p r 1-h 1-k`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGilbert {
    /// Chance of going from the good state to the bad one, per packet (`1%`).
    pub p: Scalar,
    /// Chance of going back from the bad state to the good one, per packet (`25%`).
    pub r: Scalar,
    /// Loss in the bad state (default 100 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<Scalar>,
    /// Loss in the good state (default 0 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<Scalar>,
}

impl<'de> Deserialize<'de> for RawLoss {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLoss;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage (`1%`) or `{gilbert: {p: 1%, r: 25%}}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLoss, E> {
                Scalar::deserialize(v.into_deserializer()).map(RawLoss::Percent)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawLoss, E> {
                Scalar::deserialize(v.into_deserializer()).map(RawLoss::Percent)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawLoss, E> {
                Scalar::deserialize(v.into_deserializer()).map(RawLoss::Percent)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawLoss, E> {
                Scalar::deserialize(v.into_deserializer()).map(RawLoss::Percent)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawLoss, E> {
                Scalar::deserialize(v.into_deserializer()).map(RawLoss::Percent)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawLoss, A::Error> {
                RawLossModel::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawLoss::Model)
            }
        }
        d.deserialize_any(V)
    }
}

/// A delay distribution: a name, or `{ping: FILE}` (Linux `ping` output, or one round trip in ms per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a distribution name (normal, pareto, paretonormal, uniform) or `{ping: FILE}`"
)]
pub enum RawDistribution {
    Name(String),
    Ping(RawPing),
}

/// Delays measured by ping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPing {
    /// The file, relative to the topology's folder.
    pub ping: String,
}

impl From<&str> for RawLoss {
    fn from(s: &str) -> Self {
        RawLoss::Percent(Scalar::from(s))
    }
}

with_conditions! {
    /// New conditions for a network (a preset and/or fields; the rest keep the network's own values).
    pub struct RawScenarioConditions {
        pub network: String,
    }
}
