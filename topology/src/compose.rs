//! The Docker Swarm stack of a topology (`wotemu compose`): the same services, networks, replicas,
//! resources, placement, dependencies, environment contract and labels as WoTemu 0.6, with these
//! deliberate differences (also listed in the README):
//!
//! - deterministic: keys and lists are sorted, so the same topology gives byte-identical output;
//! - capabilities are the minimal explicit list each container needs instead of `ALL`;
//! - the Docker socket is mounted only into `docker_api_proxy` (0.6 mounted it everywhere); nodes read the
//!   stack through the read-only proxy, as 0.6 already did;
//! - gateways get `net.ipv4.ip_forward=1` as a sysctl instead of relying on privileges;
//! - images are this project's, and the commands are `wotemu` subcommands (`agent`, `gateway`, `broker`);
//! - the environment adds `WOTEMU_STACK` and `WOTEMU_TASK`, which the agents use for the Redis stream layout
//!   (`wotemu:<stack>:…`); the Redis image is configured by wotemu (no persistence to disk, no eviction);
//! - plain scalars that YAML 1.1 would read as booleans (`no`, `on`, …) are quoted;
//! - every service uses `endpoint_mode: dnsrr`: names resolve to the tasks' own addresses, so WoT traffic
//!   can be routed through a gateway (a virtual IP is balanced by IPVS in the sender, which routing via the
//!   gateway would bypass), and kernels without IPVS work; so Redis is published in host mode on the
//!   manager (where `wotemu stop` runs) instead of through the routing mesh;
//! - the agents and brokers set up their routes themselves (`--route-via gw_<net>`, one per network);
//! - nodes serving CoAP get IPv6 back (`net.ipv6.conf.all.disable_ipv6: 0`), since WoTPy's CoAP server binds
//!   `::` and Docker disables IPv6 in containers;
//! - an app file on the host is shipped as a Swarm config (`app_<node>`), mounted at
//!   `/opt/wotemu/apps/<node>/<file>`, so the images need not contain the user's code (0.6 required it in the
//!   image or a volume); a path inside a node's own image (0.6's way) is used as it is;
//! - the stack's Redis requires a password (0.6's was open to anyone who reached the manager): a Docker
//!   secret `redis_password` made from a file `wotemu compose` writes beside the compose file (mode 0600),
//!   granted to Redis, the nodes and the gateways, which read it from `REDIS_PASSWORD_FILE` — never from an
//!   environment variable, a command line or a log.

use serde_json::{json, Map, Value};

use crate::model::{
    service_network, AppSource, Broker, Network, Node, Placement, Service, Topology,
};
use crate::units;

/// The compose file format version (as 0.6).
pub const COMPOSE_VERSION: &str = "3.7";
/// Label prefix of 0.6, kept so tools that look for these labels keep working.
pub use wotemu_contract::LABEL;
const PROXY: &str = "docker_api_proxy";
const REDIS: &str = "redis";
/// The service that carries out a topology's scenario in a Swarm stack.
pub const SCENARIO: &str = "scenario";
/// Its executor on the other hosts (global on the workers).
pub const SCENARIO_EXEC: &str = "scenario_exec";
pub use wotemu_contract::keys::{PASSWORD_FILE_LABEL, PASSWORD_IN_CONTAINER, PASSWORD_SECRET};

/// Where app files are in the container (each node's in a directory of its own).
pub const APPS_DIR: &str = "/opt/wotemu/apps";

/// What the compose document depends on besides the topology.
#[derive(Debug, Clone)]
pub struct ComposeOptions {
    /// The host port Redis is published on (the collector and `wotemu stop` reach the store there).
    pub redis_port: u16,
    /// The topology's directory as seen from the compose file (app files are relative to it); `.` when the
    /// compose file is written beside the topology.
    pub topology_dir: String,
    /// The file of the stack's Redis password, as seen from the compose file.
    pub password_file: String,
    /// The same file's absolute path, written as a label of the secret when known.
    pub password_file_abs: Option<String>,
}

impl Default for ComposeOptions {
    fn default() -> Self {
        ComposeOptions {
            redis_port: 6379,
            topology_dir: ".".into(),
            password_file: "./redis-password".into(),
            password_file_abs: None,
        }
    }
}

/// The addresses a Swarm overlay network `net` needs at most: a task address per replica of every node and
/// broker on it (with the most replicas a scenario scales a node to), a virtual IP per such service, the
/// gateway, the Redis, the proxy and the scenario service, and a load-balancer endpoint per Swarm host (up
/// to 32 hosts counted).
pub fn overlay_addresses(t: &Topology, net: &str) -> u32 {
    let nodes = t
        .nodes
        .iter()
        .filter(|n| n.all_networks().iter().any(|x| x == net))
        .map(|n| t.max_replicas(&n.name) + 1)
        .sum::<u32>();
    let brokers = t
        .brokers
        .iter()
        .filter(|b| b.networks.iter().any(|x| x == net))
        .count() as u32
        * 2;
    nodes + brokers + 4 + 32
}

/// The subnet of the `k`-th network when it needs more than a /24 holds: `10.(128+k).0.0/16`.
fn large_subnet(addresses: u32, k: usize) -> Option<String> {
    (addresses > 250).then(|| format!("10.{}.0.0/16", 128 + k.min(127)))
}

/// The compose document of a topology, written beside it, with Redis on port 6379.
pub fn compose(t: &Topology) -> Value {
    compose_with(t, &ComposeOptions::default())
}

/// The compose document of a topology.
pub fn compose_with(t: &Topology, opts: &ComposeOptions) -> Value {
    let mut services = Map::new();
    let mut configs = Map::new();
    let mut networks = Map::new();
    let all_nets: Vec<String> = t.networks.iter().map(|n| n.name.clone()).collect();

    services.insert(
        PROXY.into(),
        json!({
            "image": t.images.docker_api_proxy,
            "environment": {"CONTAINERS": "1", "NETWORKS": "1", "NODES": "1", "SERVICES": "1", "TASKS": "1"},
            "volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"],
            "deploy": {"endpoint_mode": "dnsrr", "placement": {"constraints": ["node.role == manager"]}},
            "networks": all_nets,
            "labels": {format!("{LABEL}.docker_api_proxy"): ""},
        }),
    );
    services.insert(
        REDIS.into(),
        json!({
            "image": t.images.redis,
            // Published on the manager itself (host mode), where `wotemu stop` runs: no routing mesh.
            "ports": [{"target": 6379, "published": opts.redis_port, "protocol": "tcp", "mode": "host"}],
            "deploy": {"endpoint_mode": "dnsrr", "placement": {"constraints": ["node.role == manager"]}},
            "environment": {"REDIS_PASSWORD_FILE": PASSWORD_IN_CONTAINER},
            "secrets": [PASSWORD_SECRET],
            "networks": all_nets,
            "labels": redis_labels(t),
        }),
    );

    for net in &t.networks {
        services.insert(net.gateway(), gateway_service(t, net));
        networks.insert(net.name.clone(), overlay_network(t, net));
    }

    for node in &t.nodes {
        services.insert(node.name.clone(), node_service(t, node, opts, &mut configs));
        for s in &node.services {
            networks.insert(
                service_network(s, &node.name),
                json!({
                    "driver": "overlay",
                    "attachable": true,
                    "name": service_network(s, &node.name),
                    "labels": {format!("{LABEL}.servicenet"): ""},
                }),
            );
        }
    }

    for b in &t.brokers {
        services.insert(b.name.clone(), broker_service(t, b));
    }

    if !t.scenario.is_empty() {
        services.insert(SCENARIO.into(), scenario_service(t, &all_nets));
        services.insert(SCENARIO_EXEC.into(), scenario_exec_service(t, &all_nets));
    }

    for s in &t.services {
        services.insert(s.name.clone(), extra_service(t, s));
    }

    let mut doc = json!({
        "version": COMPOSE_VERSION,
        "services": services,
        "networks": networks,
    });
    if !configs.is_empty() {
        doc["configs"] = Value::Object(configs);
    }
    let mut secret = json!({"file": opts.password_file});
    if let Some(abs) = &opts.password_file_abs {
        secret["labels"] = json!({ PASSWORD_FILE_LABEL: abs });
    }
    doc["secrets"] = json!({ PASSWORD_SECRET: secret });
    if let Some(url) = &t.external_redis {
        use_external(&mut doc, REDIS, "REDIS_URL", url);
        // An external Redis has no password of the stack's.
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("secrets");
        }
        for svc in services_mut(&mut doc) {
            svc.remove("secrets");
            if let Some(Value::Object(env)) = svc.get_mut("environment") {
                env.remove("REDIS_PASSWORD_FILE");
            }
        }
    }
    if let Some(host) = &t.redis_host {
        rename_service(
            &mut doc,
            REDIS,
            host,
            "REDIS_URL",
            &format!("redis://{host}"),
        );
    }
    if let Some(url) = &t.external_docker_proxy {
        use_external(&mut doc, PROXY, "DOCKER_PROXY_URL", url);
    }
    sort_lists_at(&mut doc);
    doc
}

/// The stack's Redis's labels: its role, and the run's seed (which `wotemu stop` puts in the manifest).
fn redis_labels(t: &Topology) -> Value {
    let mut m = Map::new();
    m.insert(format!("{LABEL}.redis"), json!(""));
    if let Some(seed) = t.seed {
        m.insert(SEED_LABEL.into(), json!(seed.to_string()));
    }
    Value::Object(m)
}

/// The label of the stack's Redis service that holds the run's seed.
pub const SEED_LABEL: &str = "wotemu.seed";

/// A network's gateway service.
fn gateway_service(t: &Topology, net: &Network) -> Value {
    let mut gw = json!({
        "image": t.images.wotemu,
        "command": ["gateway", "--network", net.name, "--conditions", gateway_conditions(net, t.seed), "--record"],
        "cap_add": ["NET_ADMIN", "NET_RAW"],
        "deploy": {"endpoint_mode": "dnsrr"},
        "sysctls": {"net.ipv4.ip_forward": 1},
        "depends_on": [PROXY, REDIS],
        "environment": common_env(t),
        "secrets": [PASSWORD_SECRET],
        "hostname": "{{.Task.Name}}",
        "labels": {format!("{LABEL}.gw"): ""},
        "networks": [net.name],
    });
    place(&mut gw, &net.placement_gw);
    if let Some(extra) = &net.compose_gw {
        merge(&mut gw, extra);
    }
    gw
}

/// A network's overlay network.
fn overlay_network(t: &Topology, net: &Network) -> Value {
    let mut n = json!({
        "driver": "overlay",
        "attachable": true,
        "name": net.name,
        "labels": {format!("{LABEL}.net"): ""},
    });
    // Docker gives an overlay network a /24 from its default pool: past 250 addresses its tasks could
    // not start. Such a network gets a /16 of its own (the network's `compose` extras can set another).
    let k = t
        .networks
        .iter()
        .position(|x| x.name == net.name)
        .unwrap_or(0);
    if let Some(subnet) = large_subnet(overlay_addresses(t, &net.name), k) {
        n["ipam"] = json!({"config": [{"subnet": subnet}]});
    }
    if let Some(extra) = &net.compose_net {
        merge(&mut n, extra);
    }
    n
}

/// A broker's service (Mosquitto behind `wotemu broker`, routed via its networks' gateways).
fn broker_service(t: &Topology, b: &Broker) -> Value {
    let mut deps: Vec<String> = b.networks.iter().map(|n| format!("gw_{n}")).collect();
    deps.extend([PROXY.to_owned(), REDIS.to_owned()]);
    deps.sort();
    let mut nets = b.networks.clone();
    nets.sort();
    let mut command = vec![
        "broker".to_owned(),
        "--port".into(),
        t.ports.mqtt.to_string(),
    ];
    command.extend(route_args(&nets));
    let mut svc = json!({
        "image": t.images.wotemu,
        "command": command,
        "cap_add": ["NET_ADMIN", "NET_RAW"],
        "deploy": {"endpoint_mode": "dnsrr"},
        "depends_on": deps,
        "environment": common_env(t),
        "secrets": [PASSWORD_SECRET],
        "hostname": "{{.Task.Name}}",
        "labels": {format!("{LABEL}.broker"): ""},
        "networks": nets,
    });
    place(&mut svc, &b.placement);
    if let Some(extra) = &b.compose {
        merge(&mut svc, extra);
    }
    svc
}

/// The scenario's executor on every worker host: the scenario service (on a manager) reaches the containers
/// of its own engine only, and asks the executor of another host, through the stack's Redis, to kill, pause,
/// resume or exec in that host's containers.
fn scenario_exec_service(t: &Topology, all_nets: &[String]) -> Value {
    json!({
        "image": t.images.wotemu,
        "command": ["scenario-exec"],
        "volumes": ["/var/run/docker.sock:/var/run/docker.sock"],
        "deploy": {
            "mode": "global",
            "endpoint_mode": "dnsrr",
            "placement": {"constraints": ["node.role == worker"]},
            "restart_policy": {"condition": "on-failure"},
        },
        "depends_on": [REDIS],
        "environment": common_env(t),
        "secrets": [PASSWORD_SECRET],
        // No `{{.Task.Name}}` host name: a global task's name (`<service>.<node id>.<task id>`) is longer
        // than a host name may be.
        "labels": {format!("{LABEL}.scenario_exec"): ""},
        "networks": all_nets,
    })
}

/// The scenario's service.
fn scenario_service(t: &Topology, all_nets: &[String]) -> Value {
    // On a manager (service scale needs one), with the Docker socket: it kills, pauses, restarts and
    // execs in the stack's containers and scales its services. It listens on nothing; it is on the
    // stack's networks only to reach Redis.
    let mut command = vec![
        "scenario".to_owned(),
        "--events".into(),
        serde_json::to_string(&t.scenario).expect("events serialise"),
    ];
    command.extend(t.nodes.iter().map(|n| format!("--node={}", n.name)));
    json!({
        "image": t.images.wotemu,
        "command": command,
        "volumes": ["/var/run/docker.sock:/var/run/docker.sock"],
        "deploy": {
            "endpoint_mode": "dnsrr",
            "placement": {"constraints": ["node.role == manager"]},
            // Started again after a crash, it goes on from the run's start it recorded.
            "restart_policy": {"condition": "on-failure"},
        },
        "depends_on": [REDIS],
        "environment": common_env(t),
        "secrets": [PASSWORD_SECRET],
        "hostname": "{{.Task.Name}}",
        "labels": {format!("{LABEL}.scenario"): ""},
        "networks": all_nets,
    })
}

/// An extra container of the topology (0.6's `services`), on the private networks of the nodes it links.
fn extra_service(t: &Topology, s: &Service) -> Value {
    let mut nets: Vec<String> = t
        .nodes
        .iter()
        .filter(|n| n.services.contains(&s.name))
        .map(|n| service_network(&s.name, &n.name))
        .collect();
    nets.sort();
    let mut svc = json!({
        "image": s.image,
        "labels": {format!("{LABEL}.service"): ""},
        "networks": nets,
    });
    let obj = svc.as_object_mut().expect("object");
    for (k, v) in &s.options {
        match k.as_str() {
            // Docker SDK style options of 0.6 that belong under `deploy`.
            "restart_policy" | "resources" | "placement" | "replicas" | "mode"
            | "update_config" => {
                let deploy = obj.entry("deploy").or_insert_with(|| json!({}));
                merge(deploy, &json!({ k: restart_policy_keys(k, v) }));
            }
            _ => {
                if let Some(existing) = obj.get_mut(k) {
                    merge(existing, v);
                } else {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
    }
    svc
}

fn services_mut(doc: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    doc.get_mut("services")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|s| s.values_mut())
        .filter_map(Value::as_object_mut)
}

/// Replaces the stack's own service `name` by an external one at `url` (0.6's `TopologyRedis(enabled=False)`,
/// `TopologyDockerProxy(enabled=False)`): the service goes, nothing depends on it, `var` points at `url`.
fn use_external(doc: &mut Value, name: &str, var: &str, url: &str) {
    if let Some(s) = doc.get_mut("services").and_then(Value::as_object_mut) {
        s.remove(name);
    }
    for svc in services_mut(doc) {
        if let Some(Value::Array(deps)) = svc.get_mut("depends_on") {
            deps.retain(|d| d != name);
        }
        if let Some(Value::Object(env)) = svc.get_mut("environment") {
            if env.contains_key(var) {
                env.insert(var.into(), Value::String(url.into()));
            }
        }
    }
}

/// Renames the stack's own service `from` to `to` (0.6's `TopologyRedis(host=…)`): what depends on it follows,
/// and `var` points at `url`.
fn rename_service(doc: &mut Value, from: &str, to: &str, var: &str, url: &str) {
    if let Some(s) = doc.get_mut("services").and_then(Value::as_object_mut) {
        if let Some(svc) = s.remove(from) {
            s.insert(to.into(), svc);
        }
    }
    for svc in services_mut(doc) {
        if let Some(Value::Array(deps)) = svc.get_mut("depends_on") {
            for d in deps.iter_mut().filter(|d| *d == from) {
                *d = Value::String(to.into());
            }
            deps.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        if let Some(Value::Object(env)) = svc.get_mut("environment") {
            if env.contains_key(var) {
                env.insert(var.into(), Value::String(url.into()));
            }
        }
    }
}

/// How the files `to_yaml` writes begin.
pub const HEADER_START: &str = "# Generated by wotemu ";

/// The compose document as YAML text, with a header saying where it came from.
pub fn to_yaml(t: &Topology, source: &str) -> String {
    to_yaml_with(t, source, &ComposeOptions::default())
}

/// [`to_yaml`] with options.
pub fn to_yaml_with(t: &Topology, source: &str, opts: &ComposeOptions) -> String {
    let body = quote_yaml11_words(
        &serde_yaml::to_string(&compose_with(t, opts))
            .expect("a JSON value always serialises to YAML"),
    );
    format!(
        "# Generated by wotemu {} from {source}; do not edit: change the topology and run `wotemu compose` again.\n# Deploy: docker stack deploy -c <this file> <stack>\n{body}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Quotes plain scalars that YAML 1.1 readers (Docker's compose loader among them) take for booleans or
/// null, such as `no` or `on`, which serde_yaml (YAML 1.2) leaves plain.
fn quote_yaml11_words(text: &str) -> String {
    // (`true`/`false` are booleans in YAML 1.2 too, so serde_yaml already quotes such strings.)
    const WORDS: [&str; 16] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        let split = line.rfind(": ").map(|i| i + 2).or_else(|| {
            line.trim_start()
                .starts_with("- ")
                .then(|| line.rfind("- ").map(|i| i + 2))
                .flatten()
        });
        match split {
            Some(i) if WORDS.contains(&&line[i..]) => {
                out.push_str(&line[..i]);
                out.push('\'');
                out.push_str(&line[i..]);
                out.push('\'');
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `--route-via gw_<net>` for each network: the agent or broker routes its WoT traffic through the gateways.
fn route_args(nets: &[String]) -> Vec<String> {
    nets.iter()
        .flat_map(|n| ["--route-via".to_owned(), format!("gw_{n}")])
        .collect()
}

fn node_service(
    t: &Topology,
    node: &Node,
    opts: &ComposeOptions,
    configs: &mut Map<String, Value>,
) -> Value {
    let mut svc_configs = Vec::new();
    let path = match &node.app.source {
        crate::model::AppSource::File(f) => {
            let file_name = std::path::Path::new(f)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "app.py".into());
            let host = if std::path::Path::new(f).is_absolute() || opts.topology_dir == "." {
                f.clone()
            } else {
                format!("{}/{f}", opts.topology_dir.trim_end_matches('/'))
            };
            let name = format!("app_{}", node.name);
            configs.insert(name.clone(), json!({"file": host}));
            let target = format!("{APPS_DIR}/{}/{file_name}", node.name);
            svc_configs.push(json!({"source": name, "target": target, "mode": 0o444}));
            target
        }
        other => other.path(),
    };
    let mut command = node.app.agent_args(path);
    let mut all = node.all_networks();
    all.sort();
    command.extend(route_args(&all));
    let mut env = common_env(t);
    if let (true, Some(host)) = (node.app.mqtt, node.broker_host()) {
        env.insert("MQTT_BROKER_HOST".into(), json!(host));
    }
    if let Some(speed) = node.resources.target_cpu_speed {
        env.insert("TARGET_CPU_SPEED".into(), json!(speed.to_string()));
    }
    let mut caps = vec!["NET_ADMIN", "NET_RAW"];
    if node.resources.target_cpu_speed.is_some() {
        // Writing the container's own CFS quota needs a writable cgroup.
        caps.push("SYS_ADMIN");
    }
    let mut deps: Vec<String> = node
        .all_networks()
        .iter()
        .map(|n| format!("gw_{n}"))
        .collect();
    deps.extend([PROXY.to_owned(), REDIS.to_owned()]);
    deps.sort();
    let mut nets = node.all_networks();
    nets.extend(node.services.iter().map(|s| service_network(s, &node.name)));
    nets.sort();

    let mut deploy = json!({"replicas": node.scale, "endpoint_mode": "dnsrr"});
    let r = &node.resources;
    let mut limits = Map::new();
    let mut reservations = Map::new();
    if let Some(c) = &r.cpu_limit {
        limits.insert("cpus".into(), json!(c.text));
    }
    if let Some(m) = &r.mem_limit {
        limits.insert("memory".into(), json!(m.text));
    }
    if let Some(c) = &r.cpu_reservation {
        reservations.insert("cpus".into(), json!(c.text));
    }
    if let Some(m) = &r.mem_reservation {
        reservations.insert("memory".into(), json!(m.text));
    }
    if !limits.is_empty() || !reservations.is_empty() {
        let mut res = Map::new();
        if !limits.is_empty() {
            res.insert("limits".into(), Value::Object(limits));
        }
        if !reservations.is_empty() {
            res.insert("reservations".into(), Value::Object(reservations));
        }
        deploy["resources"] = Value::Object(res);
    }
    let mut svc = json!({
        "image": node.image.as_deref().unwrap_or(match &node.app.source {
            // OpenCV and the sample photographs are in an image of their own.
            AppSource::Builtin(b) if matches!(b.0.name, "camera" | "detector") => &t.images.vision,
            _ => &t.images.wotemu,
        }),
        "command": command,
        "cap_add": caps,
        "deploy": deploy,
        "depends_on": deps,
        "environment": env,
        "secrets": [PASSWORD_SECRET],
        "hostname": "{{.Task.Name}}",
        "labels": {format!("{LABEL}.node"): ""},
        "networks": nets,
    });
    if !svc_configs.is_empty() {
        svc["configs"] = Value::Array(svc_configs);
    }
    if node.app.coap {
        // Docker turns IPv6 off in containers; WoTPy's CoAP server binds `::`.
        svc["sysctls"] = json!({"net.ipv6.conf.all.disable_ipv6": 0});
    }
    place(&mut svc, &node.placement);
    if let Some(extra) = &node.compose {
        merge(&mut svc, extra);
    }
    svc
}

/// The environment contract of every wotemu container (0.6's variables plus the stack and task names).
fn common_env(t: &Topology) -> Map<String, Value> {
    let p = t.ports;
    let mut m = Map::new();
    for (k, v) in [
        ("DOCKER_PROXY_URL", format!("tcp://{PROXY}:2375/")),
        ("NODE_HOSTNAME", "{{.Node.Hostname}}".into()),
        ("NODE_ID", "{{.Node.ID}}".into()),
        ("SERVICE_ID", "{{.Service.ID}}".into()),
        ("SERVICE_NAME", "{{.Service.Name}}".into()),
        ("PORT_CATALOGUE", p.catalogue.to_string()),
        ("PORT_HTTP", p.http.to_string()),
        ("PORT_WS", p.ws.to_string()),
        ("PORT_COAP", p.coap.to_string()),
        ("PORT_MQTT", p.mqtt.to_string()),
        ("REDIS_URL", format!("redis://{REDIS}")),
        ("REDIS_PASSWORD_FILE", PASSWORD_IN_CONTAINER.to_owned()),
        (
            "WOTEMU_STACK",
            r#"{{index .Service.Labels "com.docker.stack.namespace"}}"#.into(),
        ),
        ("WOTEMU_TASK", "{{.Task.Name}}".into()),
    ] {
        m.insert(k.into(), Value::String(v));
    }
    m
}

/// The gateway's conditions as compact JSON: 0.6's `latency`, `jitter`, `rate` plus the new fields and the
/// schedule; `wotemu gateway --conditions` reads it.
///
/// With a run's `seed`, the JSON carries the network's own (see [`network_seed`]).
pub fn gateway_conditions(net: &Network, seed: Option<u64>) -> String {
    let mut v = conditions_json(net);
    if let (Some(s), Some(m)) = (seed, v.as_object_mut()) {
        m.insert("seed".into(), json!(network_seed(s, &net.name)));
    }
    serde_json::to_string(&v).expect("serialisable")
}

/// The seed of one network's gateway, derived from the run's: the same run seed gives each network the same
/// generator every time, and different networks different ones (FNV-1a of the name, mixed by SplitMix64).
pub fn network_seed(run_seed: u64, network: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in network.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = (run_seed ^ h).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for a run that names none: from the clock and the process.
pub fn draw_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    network_seed(now ^ u64::from(std::process::id()), "draw") >> 11
}

/// One set of conditions as the gateway's JSON object: 0.6's `latency`, `jitter`, `rate`, then `rate_up` and the
/// percentages that are set.
pub fn conditions_object(c: &crate::model::Conditions) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("latency".into(), json!(c.latency_ms));
    m.insert("jitter".into(), json!(c.jitter_ms));
    if let Some(r) = c.rate_bps {
        m.insert("rate".into(), json!(units::format_rate(r)));
    }
    if let Some(r) = c.rate_up_bps {
        m.insert("rate_up".into(), json!(units::format_rate(r)));
    }
    for (k, v) in c.percentages() {
        if v > 0.0 {
            m.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [
        ("latency_up", c.latency_up_ms),
        ("jitter_up", c.jitter_up_ms),
        ("loss_up", c.loss_up_pct),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(g) = c.loss_gilbert {
        m.insert(
            "loss_gilbert".into(),
            json!([g.p_pct, g.r_pct, g.h_pct, g.k_pct]),
        );
    }
    if !c.distribution.is_normal() {
        m.insert("distribution".into(), json!(c.distribution.name()));
    }
    if c.correlation_pct > 0.0 {
        m.insert("correlation".into(), json!(c.correlation_pct));
    }
    if !c.fairness.is_fifo() {
        m.insert("fairness".into(), json!(c.fairness.name()));
    }
    match c.queue {
        Some(crate::model::QueueLimit::Packets(n)) => {
            m.insert("queue_packets".into(), json!(n));
        }
        Some(crate::model::QueueLimit::Ms(ms)) => {
            m.insert("queue_ms".into(), json!(ms));
        }
        None => {}
    }
    m
}

/// The gateway's conditions as a JSON value.
pub fn conditions_json(net: &Network) -> Value {
    let c = conditions_object;
    let mut out = c(&net.conditions);
    if !net.schedule.is_empty() {
        let steps: Vec<Value> = net
            .schedule
            .iter()
            .map(|s| {
                let mut m = c(&s.conditions);
                m.insert("at".into(), json!(s.at_ms));
                if let Some(f) = s.for_ms {
                    m.insert("for".into(), json!(f));
                }
                Value::Object(m)
            })
            .collect();
        out.insert("schedule".into(), Value::Array(steps));
    }
    if let Some(t) = &net.trace {
        out.insert("trace".into(), trace_json(t));
    }
    if let Some(p) = net.ping.as_ref().filter(|p| !p.quantiles_ms.is_empty()) {
        out.insert("ping".into(), json!(p.quantiles_ms));
    }
    Value::Object(out)
}

/// A trace as the gateway reads it: compact rows `[ms, latency, jitter, rate, rate_up, loss]` (null: the
/// network's own value), so that a long trace fits the gateway's command line.
pub fn trace_json(t: &crate::model::Trace) -> Value {
    json!({
        "file": t.file,
        "interpolate": if t.linear { "linear" } else { "step" },
        "loop": t.looped,
        "points": trace_points_json(&t.points),
    })
}

/// A trace's rows as the gateway reads them: `[at_ms, latency_ms, jitter_ms, rate_bps, rate_up_bps,
/// loss_pct]` each, `null` where the row keeps the network's own figure.
pub fn trace_points_json(points: &[crate::model::TracePoint]) -> Value {
    points
        .iter()
        .map(|p| {
            json!([
                p.at_ms,
                p.latency_ms,
                p.jitter_ms,
                p.rate_bps,
                p.rate_up_bps,
                p.loss_pct
            ])
        })
        .collect()
}

/// Docker SDK `RestartPolicy` keys (`Condition`, `MaxAttempts`, nanosecond `Delay`) → compose keys.
fn restart_policy_keys(k: &str, v: &Value) -> Value {
    if k == "placement" {
        return placement_keys(v);
    }
    if k != "restart_policy" {
        return v.clone();
    }
    let Some(obj) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (key, val) in obj {
        let (name, val) = match key.as_str() {
            "Condition" => ("condition", val.clone()),
            "MaxAttempts" => ("max_attempts", val.clone()),
            "Delay" | "Window" => (
                if key == "Delay" { "delay" } else { "window" },
                val.as_u64()
                    .map(|ns| json!(format!("{}ms", ns / 1_000_000)))
                    .unwrap_or_else(|| val.clone()),
            ),
            other => {
                out.insert(other.to_owned(), val.clone());
                continue;
            }
        };
        out.insert(name.to_owned(), val);
    }
    Value::Object(out)
}

/// A Docker SDK `Placement` (`{Constraints, Preferences: [{Spread: {SpreadDescriptor}}]}`, as
/// 0.6 files pass to a service) as compose writes it; compose's own keys are kept.
fn placement_keys(v: &Value) -> Value {
    let Some(obj) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (key, val) in obj {
        match key.as_str() {
            "Constraints" => {
                out.insert("constraints".into(), val.clone());
            }
            "Preferences" => {
                let prefs = val
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| match p.pointer("/Spread/SpreadDescriptor") {
                        Some(d) => json!({ "spread": d }),
                        None => p.clone(),
                    })
                    .collect();
                out.insert("preferences".into(), Value::Array(prefs));
            }
            other => {
                out.insert(other.to_owned(), val.clone());
            }
        }
    }
    Value::Object(out)
}

/// Writes a topology's `placement:` into a service's `deploy` (compose arguments merge over it).
fn place(svc: &mut Value, p: &Placement) {
    if !p.is_empty() {
        merge(svc, &json!({"deploy": {"placement": p.to_compose()}}));
    }
}

/// Deep merge of compose arguments (0.6 merges `args_compose*` the same way): mappings merge key by key,
/// lists get the new items appended (without duplicates), other values are replaced.
pub fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(e)) => {
            for v in e {
                if !b.contains(v) {
                    b.push(v.clone());
                }
            }
        }
        (b, e) => *b = e.clone(),
    }
}

/// Lists whose order has no meaning are sorted so that output does not depend on input order.
fn sort_lists_at(doc: &mut Value) {
    if let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) {
        for svc in services.values_mut() {
            for key in ["networks", "depends_on", "cap_add"] {
                if let Some(Value::Array(a)) = svc.get_mut(key) {
                    sort_values(a);
                }
            }
        }
    }
}

fn sort_values(a: &mut Vec<Value>) {
    a.sort_by_key(Value::to_string);
    a.dedup();
}
