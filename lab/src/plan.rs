//! The plan of a one-host run: everything `wotemu run` will build, computed from a validated topology
//! without touching the host, so that unit tests check it without root.
//!
//! Layout of a run `R` (4 hex digits):
//! - `wtm-R`: the lab namespace, holding one bridge `br<k>` per network `k`. Bridges live there, not in the
//!   host's namespace, so the host's firewall never sees the emulated traffic, and deleting the namespace
//!   removes every bridge and every veth end at once.
//! - network `k` is `10.(64+k).0.0/16`; its gateway, in namespace `wtm-R-g<k>`, is `.0.1` (`gw_<net>` in
//!   the hosts files), and replica `j` of the network (in order of the plan) is the `j+2`-th address.
//! - `wtm-R-<i>`: one namespace per replica (and per broker) with one veth per network, named after the
//!   network inside (`3g`), its peer `p<n>` on the network's bridge in the lab namespace.
//! - `/etc/netns/wtm-R-<i>/hosts`: names as in the Swarm stack (`server.3g`, `server`, the task name);
//!   each replica lists first the addresses on networks it shares, as Docker's DNS answers with the address
//!   on the asker's network.
//! - cgroups `wotemu/R/<task>` with the node's limits (made by the executor, whichever cgroup version).
//! - `/run/wotemu/R/`: the run's state, logs, spool, and Redis' socket and data.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use wotemu_gateway::route::Route;
use wotemu_topology::model::{AppSource, Topology};

use crate::Error;

/// The first network's second octet (`10.64.0.0/16`).
const FIRST_NET: u8 = 64;
/// The most networks a run can have (`10.64` … `10.253`).
pub const MAX_NETWORKS: usize = 190;
/// The most replicas (and brokers) one network can hold: a Linux bridge has at most 1,024 ports
/// (`BR_MAX_PORTS`) of which port 0 is never used, and one is the gateway's. (Its /16 would hold 65,532.)
pub const MAX_PER_NETWORK: usize = 1_022;

/// Where an app's Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisPlan {
    /// A `redis-server` of the run's own, on a unix socket every namespace reaches (they share the
    /// filesystem), with its append-only file in the run's state folder.
    Own { socket: PathBuf, dir: PathBuf },
    /// One given with `--redis-url`.
    External(String),
}

impl RedisPlan {
    /// The URL agents and the collector use.
    pub fn url(&self) -> String {
        match self {
            RedisPlan::Own { socket, .. } => format!("unix://{}", socket.display()),
            RedisPlan::External(u) => u.clone(),
        }
    }
}

/// One network of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct NetPlan {
    pub name: String,
    pub index: usize,
    /// The bridge in the lab namespace.
    pub bridge: String,
    /// `10.(64+k).0.0/16`.
    pub subnet: String,
    pub prefix_len: u8,
    /// The gateway's namespace, interface, bridge-side peer and address.
    pub gateway_ns: String,
    pub gateway_if: String,
    pub gateway_peer: String,
    pub gateway_addr: Ipv4Addr,
    /// The conditions as JSON, as `wotemu compose` writes them for the gateway.
    pub conditions: String,
    /// `wotemu gateway` arguments (after the binary).
    pub gateway_args: Vec<String>,
    /// The gateway's environment beyond the runner's: where it records (`--record`).
    pub gateway_env: Vec<(String, String)>,
    /// Written by the gateway once it shapes.
    pub ready_file: PathBuf,
    /// The gateway's counters.
    pub stats_file: PathBuf,
    pub log: PathBuf,
}

/// One interface of a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    pub network: String,
    /// The interface inside the replica (the network's name when it is a valid interface name).
    pub ifname: String,
    /// Its peer on the bridge, in the lab namespace.
    pub peer: String,
    pub bridge: String,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

/// What runs in a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A node: `wotemu agent` hosting its app.
    Node,
    /// An MQTT broker: mosquitto with the config file of the plan.
    Broker,
}

/// One replica (or broker) of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaPlan {
    /// The Swarm-style task name `<stack>_<node>.<slot>.<run>` (restarts get `…<run>r<n>`).
    pub task: String,
    pub node: String,
    pub slot: u32,
    pub role: Role,
    pub ns: String,
    pub links: Vec<LinkPlan>,
    /// Index into [`RunPlan::hosts_files`].
    pub hosts: usize,
    /// Program arguments (after `wotemu`, or mosquitto's).
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// CPU limit in cores, memory limit in bytes.
    pub cpus: Option<f64>,
    pub mem: Option<u64>,
    /// WoT traffic of each network through its gateway.
    pub routes: Vec<Route>,
    /// A broker's mosquitto configuration: (file, text).
    pub broker_conf: Option<(PathBuf, String)>,
    /// A replica beyond the node's scale, built for a scenario's `scale` event: it starts when the node is
    /// scaled up to it (its namespace, addresses and names exist from the start).
    pub joins_later: bool,
}

impl ReplicaPlan {
    /// The task name of the `n`-th restart (Swarm gives every attempt a new task id).
    pub fn restart_name(&self, run_id: &str, n: u32) -> String {
        let base = self
            .task
            .rsplit_once('.')
            .map(|(b, _)| b)
            .unwrap_or(&self.task);
        format!("{base}.{run_id}r{n}")
    }

    /// The environment with another task name (for a restart).
    pub fn env_for(&self, task: &str) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        for k in ["WOTEMU_TASK", "HOSTNAME", "WOTEMU_SERVIENT_HOST"] {
            env.insert(k.into(), task.to_owned());
        }
        env
    }
}

/// Everything a run builds.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub run_id: String,
    pub stack: String,
    /// `/run/wotemu/<run>`.
    pub state_dir: PathBuf,
    pub lab_ns: String,
    pub redis: RedisPlan,
    pub networks: Vec<NetPlan>,
    /// Brokers first, then the nodes' replicas in topology order.
    pub replicas: Vec<ReplicaPlan>,
    /// Distinct hosts files (replicas on the same networks share one text).
    pub hosts_files: Vec<String>,
    /// The topology's scenario (timed events the runner does).
    pub scenario: Vec<wotemu_topology::model::ScenarioEvent>,
    /// The run's seed (see [`PlanOptions::seed`]).
    pub seed: Option<u64>,
}

/// What a plan is made from besides the topology.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub run_id: String,
    pub stack: String,
    /// Use this Redis instead of one of the run's own.
    pub redis_url: Option<String>,
    /// The folder of the topology file (relative app paths are relative to it).
    pub topology_dir: PathBuf,
    /// The Python venv apps run in (WoTPy), if known.
    pub venv: Option<PathBuf>,
    /// Where state lives (default [`wotemu_sys::state_root`]).
    pub state_root: PathBuf,
    /// Nodes with a `target_cpu_speed`: the quota that gives it (fraction of one CPU) and the host's
    /// calibrated speed (events/s), from [`crate::cpu::plan_speeds`].
    pub cpu_speeds: BTreeMap<String, crate::cpu::NodeSpeed>,
    /// The run's seed: each gateway's random decisions come from a generator derived from it and the
    /// network's name (`None`: the gateways seed from the clock).
    pub seed: Option<u64>,
}

impl PlanOptions {
    pub fn new(run_id: &str, stack: &str) -> PlanOptions {
        PlanOptions {
            run_id: run_id.to_owned(),
            stack: stack.to_owned(),
            redis_url: None,
            topology_dir: PathBuf::new(),
            venv: None,
            state_root: wotemu_sys::state_root(),
            cpu_speeds: BTreeMap::new(),
            seed: None,
        }
    }
}

/// The interface name of network `k` inside namespaces: the network's name when valid, else `net<k>`.
pub fn ifname(net: &str, k: usize) -> String {
    let ok = !net.is_empty()
        && net.len() <= 15
        && net
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && net != "lo";
    if ok {
        net.to_owned()
    } else {
        format!("net{k}")
    }
}

/// Address number `n` (0 = network, 1 = gateway) of network `k`.
fn address(k: usize, n: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, FIRST_NET + k as u8, (n >> 8) as u8, (n & 0xff) as u8)
}

/// The stack name of a topology ([`Topology::stack_name`]).
pub fn stack_name(topology: &Topology, file: &Path) -> String {
    topology.stack_name(file)
}

impl RunPlan {
    /// Plans a run of `t`. Fails before anything is built when the topology does not fit one host's
    /// address plan.
    pub fn new(t: &Topology, opts: &PlanOptions) -> Result<RunPlan, Error> {
        let run_id = &opts.run_id;
        let stack = &opts.stack;
        let state_dir = opts.state_root.join(run_id);
        let lab_ns = format!("wtm-{run_id}");
        if t.networks.len() > MAX_NETWORKS {
            return Err(Error::Plan(format!(
                "the topology has {} networks; a one-host run holds at most {MAX_NETWORKS} (use the Swarm engine, `wotemu compose`)",
                t.networks.len()
            )));
        }
        let redis = match &opts.redis_url {
            Some(u) => RedisPlan::External(u.clone()),
            None => RedisPlan::Own {
                socket: state_dir.join("redis.sock"),
                dir: state_dir.join("redis"),
            },
        };
        let p = t.ports;
        let service_ports = [p.http, p.ws, p.mqtt, p.catalogue, p.coap]
            .map(|x| x.to_string())
            .join(",");
        let logs = state_dir.join("logs");
        let networks: Vec<NetPlan> = t
            .networks
            .iter()
            .enumerate()
            .map(|(k, n)| {
                let gateway_addr = address(k, 1);
                let ready_file = state_dir.join(format!("gw-{k}.ready"));
                let stats_file = state_dir.join(format!("gw-{k}.json"));
                let conditions = wotemu_topology::compose::gateway_conditions(n, opts.seed);
                let gateway_args = vec![
                    "-q".into(),
                    "gateway".into(),
                    "--network".into(),
                    n.name.clone(),
                    "--conditions".into(),
                    conditions.clone(),
                    "--ports".into(),
                    service_ports.clone(),
                    "--ready-file".into(),
                    ready_file.to_string_lossy().into_owned(),
                    "--stats-file".into(),
                    stats_file.to_string_lossy().into_owned(),
                    "--record".into(),
                ];
                let gateway_env = vec![
                    ("REDIS_URL".to_owned(), redis.url()),
                    ("WOTEMU_STACK".to_owned(), stack.clone()),
                    (
                        "WOTEMU_TASK".to_owned(),
                        format!("{stack}_{}.1.{run_id}", n.gateway()),
                    ),
                    (
                        "WOTEMU_SPOOL_DIR".to_owned(),
                        state_dir.join("spool").to_string_lossy().into_owned(),
                    ),
                ];
                NetPlan {
                    name: n.name.clone(),
                    index: k,
                    bridge: format!("br{k}"),
                    subnet: format!("{}/16", address(k, 0)),
                    prefix_len: 16,
                    gateway_ns: format!("{lab_ns}-g{k}"),
                    gateway_if: ifname(&n.name, k),
                    gateway_peer: format!("g{k}"),
                    gateway_addr,
                    conditions,
                    gateway_args,
                    gateway_env,
                    ready_file,
                    stats_file,
                    log: logs.join(format!("gw_{}.log", n.name)),
                }
            })
            .collect();
        let net_index: BTreeMap<&str, usize> = networks
            .iter()
            .map(|n| (n.name.as_str(), n.index))
            .collect();

        // Replicas and brokers, with their links.
        let mut replicas = Vec::new();
        let mut per_net = vec![0usize; networks.len()];
        let mut peer = 0usize;
        let mut add = |node: &str,
                       slot: u32,
                       nets: &[String],
                       role: Role,
                       joins_later: bool|
         -> Result<(), Error> {
            let i = replicas.len();
            let task = format!("{stack}_{node}.{slot}.{run_id}");
            let mut links = Vec::new();
            for net in nets {
                let k = net_index[net.as_str()];
                per_net[k] += 1;
                if per_net[k] > MAX_PER_NETWORK {
                    return Err(Error::Plan(format!(
                        "network `{net}` has more than {MAX_PER_NETWORK} replicas (with the scale a scenario asks for): a one-host network is a Linux bridge, which has at most 1,023 ports, one of them the gateway's; spread the nodes over more networks, or run the topology on a Swarm"
                    )));
                }
                links.push(LinkPlan {
                    network: net.clone(),
                    ifname: ifname(net, k),
                    peer: format!("p{peer}"),
                    bridge: networks[k].bridge.clone(),
                    addr: address(k, per_net[k] + 1),
                    prefix_len: 16,
                });
                peer += 1;
            }
            replicas.push(ReplicaPlan {
                task,
                node: node.to_owned(),
                slot,
                role,
                ns: format!("{lab_ns}-{i}"),
                links,
                hosts: 0,
                args: Vec::new(),
                env: BTreeMap::new(),
                cpus: None,
                mem: None,
                routes: Vec::new(),
                broker_conf: None,
                joins_later,
            });
            Ok(())
        };
        for b in &t.brokers {
            add(&b.name, 1, &b.networks, Role::Broker, false)?;
        }
        for n in &t.nodes {
            for slot in 1..=t.max_replicas(&n.name) {
                add(&n.name, slot, &n.all_networks(), Role::Node, slot > n.scale)?;
            }
        }

        // Names as in the Swarm stack: (network, address, names).
        let mut names: Vec<(&str, Ipv4Addr, Vec<String>)> = Vec::new();
        for r in &replicas {
            for l in &r.links {
                names.push((
                    &l.network,
                    l.addr,
                    vec![
                        format!("{}.{}", r.node, l.network),
                        r.node.clone(),
                        r.task.clone(),
                    ],
                ));
            }
        }
        for (n, tn) in networks.iter().zip(&t.networks) {
            names.push((&n.name, n.gateway_addr, vec![tn.gateway()]));
        }
        let mut hosts_files: Vec<String> = Vec::new();
        let mut by_nets: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        let hosts_of: Vec<usize> = replicas
            .iter()
            .map(|r| {
                let mine: Vec<String> = r.links.iter().map(|l| l.network.clone()).collect();
                *by_nets.entry(mine.clone()).or_insert_with(|| {
                    let mut lines: Vec<&(&str, Ipv4Addr, Vec<String>)> = names.iter().collect();
                    // Stable: entries on the replica's own networks first, then the rest, in plan order.
                    lines.sort_by_key(|(net, _, _)| !mine.iter().any(|m| m == net));
                    let text: String = std::iter::once("127.0.0.1 localhost\n".to_owned())
                        .chain(
                            lines
                                .iter()
                                .map(|(_, a, n)| format!("{a} {}\n", n.join(" "))),
                        )
                        .collect();
                    hosts_files.push(text);
                    hosts_files.len() - 1
                })
            })
            .collect();

        // Commands, environments, limits, routes.
        let redis_url = redis.url();
        for (r, hosts) in replicas.iter_mut().zip(hosts_of) {
            r.hosts = hosts;
            r.routes = r
                .links
                .iter()
                .enumerate()
                .map(|(j, l)| {
                    let n = &networks[net_index[l.network.as_str()]];
                    Route {
                        subnet: n.subnet.clone(),
                        gateway: n.gateway_addr.to_string(),
                        index: j as u8,
                        tcp_ports: vec![p.http, p.ws, p.mqtt, p.catalogue],
                        udp_ports: vec![p.coap],
                    }
                })
                .collect();
            let mut env = BTreeMap::new();
            for (k, v) in [
                ("WOTEMU_STACK", stack.clone()),
                ("WOTEMU_TASK", r.task.clone()),
                ("WOTEMU_NODE", r.node.clone()),
                ("SERVICE_NAME", format!("{stack}_{}", r.node)),
                ("REDIS_URL", redis_url.clone()),
                ("PORT_CATALOGUE", p.catalogue.to_string()),
                ("PORT_HTTP", p.http.to_string()),
                ("PORT_WS", p.ws.to_string()),
                ("PORT_COAP", p.coap.to_string()),
                ("PORT_MQTT", p.mqtt.to_string()),
                (
                    "WOTEMU_NETWORKS",
                    r.links
                        .iter()
                        .map(|l| l.network.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                (
                    "WOTEMU_SPOOL_DIR",
                    state_dir.join("spool").to_string_lossy().into_owned(),
                ),
                ("HOSTNAME", r.task.clone()),
                // Things' forms carry the replica's task name, which every replica resolves to an address
                // it can reach.
                ("WOTEMU_SERVIENT_HOST", r.task.clone()),
            ] {
                env.insert(k.to_owned(), v);
            }
            if let Some(v) = &opts.venv {
                env.insert("WOTEMU_VENV".into(), v.to_string_lossy().into_owned());
            }
            if r.role == Role::Broker {
                let conf = state_dir.join(format!("mosquitto-{}.conf", r.node));
                r.args = vec!["-c".into(), conf.to_string_lossy().into_owned()];
                r.broker_conf = Some((
                    conf,
                    format!("listener {} 0.0.0.0\nallow_anonymous true\n", p.mqtt),
                ));
                r.env = env;
                continue;
            }
            let node = t
                .node(&r.node)
                .expect("replicas are planned from the nodes");
            if let Some(host) = node.broker_host() {
                env.insert("MQTT_BROKER_HOST".into(), host);
            }
            let app = match &node.app.source {
                AppSource::File(f) if Path::new(f).is_relative() => {
                    std::path::absolute(opts.topology_dir.join(f))
                        .unwrap_or_else(|_| opts.topology_dir.join(f))
                        .to_string_lossy()
                        .into_owned()
                }
                AppSource::Image(f) => {
                    return Err(Error::Plan(format!(
                        "node `{}` runs `{f}`, a file inside {}, not on this host: a one-host run takes apps \
                         from host files; copy the app beside the topology and give that path, or deploy the \
                         stack to Docker Swarm (`wotemu compose`)",
                        node.name,
                        node.image
                            .as_deref()
                            .map_or("the stack's image".to_owned(), |i| format!("its own image `{i}`"))
                    )))
                }
                other => other.path(),
            };
            let mut args = node.app.agent_args(app);
            for l in &r.links {
                args.extend(["--capture-iface".into(), l.ifname.clone()]);
            }
            // Agents ship and sample their cgroup every second up to 100 replicas, then a second more per
            // 100 (at most 5 s, WoTemu 0.6's sampling period): each flush and sample wakes the agent (and its
            // packet capture, a fifth as often as it ships), and a flush writes to the run's Redis, which all
            // replicas share with the host's cores.
            let total: u32 = t.nodes.iter().map(|n| t.max_replicas(&n.name)).sum();
            if total > 100 {
                let every = total.div_ceil(100).min(5).to_string();
                args.extend([
                    "--flush-every".into(),
                    every.clone(),
                    "--sample-every".into(),
                    every,
                ]);
            }
            r.args = args;
            r.env = env;
            r.cpus = node.resources.cpu_limit.as_ref().map(|c| c.value);
            if let Some(target) = node.resources.target_cpu_speed {
                let Some(speed) = opts.cpu_speeds.get(&node.name) else {
                    return Err(Error::Plan(format!(
                        "node `{}` has a target_cpu_speed but the host's CPU speed was not calibrated",
                        node.name
                    )));
                };
                r.cpus = Some(speed.quota);
                for (k, v) in [
                    ("TARGET_CPU_SPEED", target.to_string()),
                    ("WOTEMU_CPU_SPEED_HOST", format!("{:.3}", speed.host_speed)),
                    ("WOTEMU_CPU_QUOTA", format!("{:.6}", speed.quota)),
                ] {
                    r.env.insert(k.into(), v);
                }
            }
            r.mem = node.resources.mem_limit.as_ref().map(|m| m.bytes);
        }
        Ok(RunPlan {
            run_id: run_id.clone(),
            stack: stack.clone(),
            state_dir,
            lab_ns,
            redis,
            networks,
            replicas,
            hosts_files,
            scenario: t.scenario.clone(),
            seed: opts.seed,
        })
    }

    /// The folder of the run's logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    /// The log file of a task.
    pub fn log_of(&self, task: &str) -> PathBuf {
        self.logs_dir().join(format!("{task}.log"))
    }

    /// The nodes' replicas (not the brokers).
    pub fn nodes(&self) -> impl Iterator<Item = &ReplicaPlan> {
        self.replicas.iter().filter(|r| r.role == Role::Node)
    }

    /// The node replicas that start with the run (not those a scenario's `scale` adds later).
    pub fn initial_nodes(&self) -> impl Iterator<Item = &ReplicaPlan> {
        self.nodes().filter(|r| !r.joins_later)
    }

    /// The order replicas start in: the brokers, then the first replica of every node, then the other replicas
    /// (each group in the plan's order). A scaled-up node's replicas are usually the clients of a node of one
    /// replica (the quickstart's 99 readers of one server): started first, the server is up while the clients
    /// start, instead of after them (a second and more at 100 replicas, clients retrying all along).
    pub fn start_order(&self) -> Vec<usize> {
        let replicas = &self.replicas;
        let mut order: Vec<usize> = (0..replicas.len()).collect();
        order.sort_by_key(|&i| (replicas[i].role != Role::Broker, replicas[i].slot > 1));
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(text: &str) -> Topology {
        wotemu_topology::from_yaml_str(Path::new("t.yml"), text)
            .unwrap()
            .topology
    }

    fn quickstart() -> Topology {
        wotemu_topology::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.yml"),
        )
        .unwrap()
        .topology
    }

    #[test]
    fn a_node_of_one_replica_starts_before_the_others_replicas() {
        let t = topology(
            "networks:\n  net: {}\nbrokers:\n  mq:\n    networks: [net]\nnodes:\n  a_reader:\n    app: {path: reader}\n    networks: [net]\n    scale: 3\n  server:\n    app: {path: clock}\n    networks: [net]\n",
        );
        let p = RunPlan::new(&t, &PlanOptions::new("ab12", "s")).unwrap();
        let started: Vec<(&str, u32)> = p
            .start_order()
            .into_iter()
            .map(|i| (p.replicas[i].node.as_str(), p.replicas[i].slot))
            .collect();
        assert_eq!(
            started,
            [
                ("mq", 1),
                ("a_reader", 1),
                ("server", 1),
                ("a_reader", 2),
                ("a_reader", 3)
            ]
        );
    }

    #[test]
    fn agents_ship_and_sample_less_often_past_100_replicas() {
        let every = |scale: u32| {
            let t = topology(&format!(
                "networks:\n  net: {{}}\nnodes:\n  server:\n    app: {{path: clock}}\n    networks: [net]\n  reader:\n    app: {{path: reader}}\n    networks: [net]\n    scale: {scale}\n"
            ));
            let p = RunPlan::new(&t, &PlanOptions::new("ab12", "s")).unwrap();
            let args = &p.replicas.last().unwrap().args;
            let flag = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .map(|i| args[i + 1].clone())
            };
            (flag("--flush-every"), flag("--sample-every"))
        };
        assert_eq!(every(99), (None, None));
        let three = Some("3".to_owned());
        assert_eq!(every(250), (three.clone(), three));
        let five = Some("5".to_owned());
        assert_eq!(every(999), (five.clone(), five));
    }

    /// The run's seed reaches each gateway as its network's own (none: the gateway seeds from the clock).
    #[test]
    fn each_gateway_gets_its_networks_seed() {
        let conditions_of = |p: &RunPlan| -> serde_json::Value {
            let a = &p.networks[0].gateway_args;
            let i = a.iter().position(|x| x == "--conditions").unwrap();
            serde_json::from_str(&a[i + 1]).unwrap()
        };
        let mut o = PlanOptions::new("ab12", "quickstart");
        assert!(conditions_of(&RunPlan::new(&quickstart(), &o).unwrap())["seed"].is_null());
        o.seed = Some(42);
        let p = RunPlan::new(&quickstart(), &o).unwrap();
        let want = wotemu_topology::compose::network_seed(42, &p.networks[0].name);
        assert_eq!(conditions_of(&p)["seed"], want);
        assert_ne!(want, wotemu_topology::compose::network_seed(42, "another"));
    }

    #[test]
    fn the_quickstart_gets_its_names_addresses_routes_and_limits() {
        let mut o = PlanOptions::new("ab12", "quickstart");
        o.topology_dir = PathBuf::from("/topo");
        let p = RunPlan::new(&quickstart(), &o).unwrap();
        assert_eq!(p.lab_ns, "wtm-ab12");
        assert_eq!(p.networks.len(), 1);
        let n = &p.networks[0];
        assert_eq!(
            (n.name.as_str(), n.subnet.as_str(), n.gateway_addr),
            ("3g", "10.64.0.0/16", Ipv4Addr::new(10, 64, 0, 1))
        );
        assert_eq!(n.gateway_ns, "wtm-ab12-g0");
        assert!(n.conditions.contains("\"latency\":300"), "{}", n.conditions);
        let tasks: Vec<&str> = p.replicas.iter().map(|r| r.task.as_str()).collect();
        assert_eq!(
            tasks,
            [
                "quickstart_reader.1.ab12",
                "quickstart_reader.2.ab12",
                "quickstart_reader.3.ab12",
                "quickstart_reader.4.ab12",
                "quickstart_server.1.ab12"
            ]
        );
        let addrs: Vec<Ipv4Addr> = p.replicas.iter().map(|r| r.links[0].addr).collect();
        assert_eq!(addrs[0], Ipv4Addr::new(10, 64, 0, 2));
        assert_eq!(addrs[4], Ipv4Addr::new(10, 64, 0, 6));
        let reader = &p.replicas[0];
        assert_eq!(reader.mem, Some(150 * 1024 * 1024));
        assert_eq!(
            reader.env["REDIS_URL"],
            "unix:///run/wotemu/ab12/redis.sock"
        );
        assert_eq!(reader.env["WOTEMU_TASK"], "quickstart_reader.1.ab12");
        assert_eq!(reader.routes[0].gateway, "10.64.0.1");
        assert_eq!(reader.routes[0].subnet, "10.64.0.0/16");
        assert!(reader
            .args
            .windows(2)
            .any(|w| w == ["--capture-iface", "3g"]));
        // The server's app file is resolved against the topology's folder.
        let server = &p.replicas[4];
        assert!(
            server
                .args
                .contains(&"/topo/apps/quickstart_server.py".to_owned()),
            "{:?}",
            server.args
        );
        // Everybody shares one hosts file: every name, the gateway's too.
        assert_eq!(p.hosts_files.len(), 1);
        let hosts = &p.hosts_files[0];
        assert!(
            hosts.contains("10.64.0.6 server.3g server quickstart_server.1.ab12\n"),
            "{hosts}"
        );
        assert!(hosts.contains("10.64.0.1 gw_3g\n"), "{hosts}");
        let r = &p.replicas[1];
        assert_eq!(r.restart_name("ab12", 2), "quickstart_reader.2.ab12r2");
        assert_eq!(r.env_for("x")["WOTEMU_TASK"], "x");
    }

    #[test]
    fn a_replica_on_two_networks_resolves_names_on_its_own_networks_first() {
        let t = topology(
            "networks: {a: {}, b: {}}\nbrokers: {mq: {networks: [a, b]}}\nnodes:\n  x: {app: {path: clock, mqtt: true}, networks: [a], broker: mq}\n  y: {app: {path: clock}, networks: [b]}\n",
        );
        let p = RunPlan::new(&t, &PlanOptions::new("0001", "s")).unwrap();
        assert_eq!(p.replicas[0].role, Role::Broker);
        assert_eq!(p.replicas[0].links.len(), 2);
        let y = p.replicas.iter().find(|r| r.node == "y").unwrap();
        let hosts = &p.hosts_files[y.hosts];
        let first_broker = hosts.lines().position(|l| l.contains(" mq.")).unwrap();
        assert!(
            hosts.lines().nth(first_broker).unwrap().contains("mq.b"),
            "{hosts}"
        );
        let x = p.replicas.iter().find(|r| r.node == "x").unwrap();
        assert_eq!(x.env["MQTT_BROKER_HOST"], "mq.a");
        let conf = &p.replicas[0].broker_conf.as_ref().unwrap().1;
        assert!(conf.starts_with("listener 1883 "), "{conf}");
    }

    #[test]
    fn addresses_go_past_one_octet() {
        let t = topology(
            "networks: {lan: {}}\nnodes:\n  r: {app: {path: clock}, networks: [lan], scale: 300}\n",
        );
        let p = RunPlan::new(&t, &PlanOptions::new("0001", "s")).unwrap();
        let last = p.replicas.last().unwrap();
        assert_eq!(last.links[0].addr, Ipv4Addr::new(10, 64, 1, 45));
        let all: std::collections::BTreeSet<Ipv4Addr> =
            p.replicas.iter().map(|r| r.links[0].addr).collect();
        assert_eq!(all.len(), 300, "every address is distinct");
    }

    #[test]
    fn a_network_beyond_a_bridges_ports_is_refused_before_anything_is_built() {
        let t = topology(
            "networks: {lan: {}}\nnodes:\n  r: {app: {path: clock}, networks: [lan], scale: 1022}\n",
        );
        assert!(RunPlan::new(&t, &PlanOptions::new("0001", "s")).is_ok());
        let t = topology(
            "networks: {lan: {}}\nnodes:\n  r: {app: {path: clock}, networks: [lan], scale: 1023}\n",
        );
        let e = RunPlan::new(&t, &PlanOptions::new("0001", "s"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("more than 1022 replicas") && e.contains("1,023 ports"),
            "{e}"
        );
    }

    #[test]
    fn an_external_redis_is_used_as_given() {
        let mut o = PlanOptions::new("0001", "s");
        o.redis_url = Some("redis://10.0.0.9:6379".into());
        let p = RunPlan::new(&quickstart(), &o).unwrap();
        assert_eq!(p.redis.url(), "redis://10.0.0.9:6379");
        assert_eq!(p.replicas[0].env["REDIS_URL"], "redis://10.0.0.9:6379");
    }

    #[test]
    fn stack_names_are_docker_safe() {
        let mut t = quickstart();
        t.name = Some("Demo Run".into());
        assert_eq!(stack_name(&t, Path::new("x/quickstart.yml")), "demo_run");
        t.name = None;
        assert_eq!(stack_name(&t, Path::new("x/My-Demo.yml")), "my-demo");
        assert_eq!(stack_name(&t, Path::new("__.yml")), "wotemu");
    }
}
