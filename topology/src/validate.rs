//! Raw → validated, collecting every problem in one pass.
//!
//! The rules are 0.6's (MQTT needs a broker, `broker_network` must be one of the broker's, `cpu_limit`
//! excludes `target_cpu_speed`, names are normalised with `inflection.underscore`), plus the checks 0.6
//! left to Docker (names valid after normalisation, unique across the stack, sizes and rates readable).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::error::{Diagnostic, Kind, Location};
use crate::model::*;
use crate::raw::*;
use crate::{names, units};

/// A step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, e.g. `nodes.reader.networks[1]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocPath(pub Vec<Seg>);

impl DocPath {
    pub(crate) fn key(&self, k: &str) -> DocPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        DocPath(v)
    }
    pub(crate) fn index(&self, i: usize) -> DocPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        DocPath(v)
    }
}

impl fmt::Display for DocPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    write!(f, ".{k}")?
                }
                Seg::Key(k) => write!(f, "[{k:?}]")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Finds where a path is in the source file.
pub trait Locate {
    /// Where the entry at `path` is written (its key, for a mapping entry).
    fn locate(&self, path: &DocPath) -> Option<Location>;

    /// Where the value at `path` is written (for a wrong value; defaults to [`Locate::locate`]).
    fn locate_value(&self, path: &DocPath) -> Option<Location> {
        self.locate(path)
    }
}

/// No source positions (a topology built in memory).
pub struct NoLocations;

impl Locate for NoLocations {
    fn locate(&self, _: &DocPath) -> Option<Location> {
        None
    }
}

/// A validated topology and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Validated {
    pub topology: Topology,
    pub warnings: Vec<Diagnostic>,
}

struct Problems<'a> {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    locate: &'a dyn Locate,
}

impl Problems<'_> {
    fn diag(&self, kind: Kind, at: &DocPath, message: String, hint: Option<String>) -> Diagnostic {
        Diagnostic {
            kind,
            path: at.to_string(),
            location: self.locate.locate(at),
            message,
            hint,
        }
    }
    fn error(
        &mut self,
        kind: Kind,
        at: &DocPath,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let d = self.diag(kind, at, message.into(), hint);
        self.errors.push(d);
    }
    fn warn(&mut self, kind: Kind, at: &DocPath, message: impl Into<String>, hint: Option<String>) {
        let d = self.diag(kind, at, message.into(), hint);
        self.warnings.push(d);
    }
}

/// Validates a raw topology. On failure, returns every error found (warnings are dropped then).
pub fn validate(raw: &RawTopology, locate: &dyn Locate) -> Result<Validated, Vec<Diagnostic>> {
    let mut p = Problems {
        errors: Vec::new(),
        warnings: Vec::new(),
        locate,
    };
    let root = DocPath::default();

    let Names {
        networks: net_names,
        brokers: broker_names,
        services: service_names,
        nodes: node_names,
    } = names(&mut p, raw);

    nodes_and_networks_present(&mut p, raw);

    let ports = ports(&mut p, raw.ports.as_ref());
    let images = images(raw.images.as_ref());
    let (redis_host, external_redis, external_docker_proxy) = redis_settings(&mut p, raw);

    // Networks.
    let mut networks = Vec::new();
    for (raw_name, net) in &raw.networks {
        let at = root.key("networks").key(raw_name);
        networks.push(network(&mut p, &at, net, net_names[raw_name].clone()));
    }

    let mut brokers = brokers(&mut p, raw, &broker_names, &net_names);
    let mut services = services(&mut p, raw, &service_names);

    // Nodes.
    let mut nodes = Vec::new();
    let mut linked: BTreeSet<String> = BTreeSet::new();
    for (raw_name, n) in &raw.nodes {
        let at = root.key("nodes").key(raw_name);
        let name = node_names[raw_name].clone();
        let mut nets = Vec::new();
        for (i, net) in n.networks.iter().enumerate() {
            nets.extend(network_named(
                &mut p,
                &at.key("networks").index(i),
                net,
                &net_names,
            ));
        }
        if n.networks.is_empty() {
            p.error(
                Kind::NoNetworks,
                &at.key("networks"),
                format!("node `{raw_name}` is on no network"),
                Some("list at least one network, e.g. `networks: [wifi]`".into()),
            );
        }
        dedup_keep_order(&mut nets);
        let app = app(&mut p, &at.key("app"), &n.app);

        let (broker, broker_network) = node_broker(&mut p, &at, raw_name, n, &brokers);

        let resources = resources(&mut p, &at.key("resources"), n.resources.as_ref());
        let scale = n.scale.unwrap_or(1);
        if scale == 0 {
            p.error(
                Kind::BadValue,
                &at.key("scale"),
                "`scale` must be at least 1",
                None,
            );
        }

        let svcs = node_services(&mut p, &at, n, &services, &mut linked);

        if let Some(img) = &n.image {
            if img.trim().is_empty() {
                p.error(Kind::BadValue, &at.key("image"), "`image` is empty", None);
            }
        }
        nodes.push(Node {
            name,
            app,
            networks: nets,
            broker,
            broker_network,
            image: n.image.as_ref().map(|s| s.trim().to_owned()),
            resources,
            scale,
            compose: compose_map(&mut p, &at.key("compose"), &n.compose),
            placement: placement(&mut p, &at.key("placement"), n.placement.as_ref()),
            services: svcs,
        });
    }
    unlinked_and_unused(
        &mut p,
        raw,
        &net_names,
        &service_names,
        &linked,
        (&networks, &brokers, &services, &nodes),
    );

    let scenario = scenario(&mut p, raw, &nodes, &networks);

    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    brokers.sort_by(|a, b| a.name.cmp(&b.name));
    services.sort_by(|a, b| a.name.cmp(&b.name));
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Validated {
        topology: Topology {
            name: raw.name.clone(),
            seed: raw.seed,
            ports,
            images,
            external_redis,
            redis_host,
            external_docker_proxy,
            networks,
            brokers,
            services,
            nodes,
            scenario,
        },
        warnings: p.warnings,
    })
}

/// A topology needs nodes, and networks for them.
fn nodes_and_networks_present(p: &mut Problems<'_>, raw: &RawTopology) {
    let root = DocPath::default();
    if raw.nodes.is_empty() {
        p.error(
            Kind::NoNodes,
            &root,
            "the topology has no nodes",
            Some("add at least one node under `nodes:` (see `wotemu schema topology`)".into()),
        );
    }
    if raw.networks.is_empty() && !raw.nodes.is_empty() {
        p.error(
            Kind::NoNetworks,
            &root,
            "the topology has no networks",
            Some(
                "add a network under `networks:`, e.g. `networks: {wifi: {conditions: wifi}}`"
                    .into(),
            ),
        );
    }
}

/// The extra containers (0.6's `services`), each with an image.
fn services(
    p: &mut Problems<'_>,
    raw: &RawTopology,
    service_names: &BTreeMap<String, String>,
) -> Vec<Service> {
    let root = DocPath::default();
    let mut services = Vec::new();
    for (raw_name, s) in &raw.services {
        let at = root.key("services").key(raw_name);
        if s.image.trim().is_empty() {
            p.error(
                Kind::BadValue,
                &at.key("image"),
                "the service has no image",
                Some("write e.g. `image: mongo:4`".into()),
            );
        }
        services.push(Service {
            name: service_names[raw_name].clone(),
            image: s.image.trim().to_owned(),
            options: s.options.clone(),
        });
    }
    services
}

/// The network `n` names (normalised), or an error at `at` naming the known ones.
fn network_named(
    p: &mut Problems<'_>,
    at: &DocPath,
    n: &str,
    net_names: &BTreeMap<String, String>,
) -> Option<String> {
    let norm = names::underscore(n);
    if net_names.values().any(|v| *v == norm) {
        return Some(norm);
    }
    let known: Vec<&str> = net_names.values().map(String::as_str).collect();
    p.error(
        Kind::UnknownNetwork,
        at,
        format!("unknown network `{n}`"),
        Some(hint_known("networks", &known, n)),
    );
    None
}

/// The brokers, each on at least one known network.
fn brokers(
    p: &mut Problems<'_>,
    raw: &RawTopology,
    broker_names: &BTreeMap<String, String>,
    net_names: &BTreeMap<String, String>,
) -> Vec<Broker> {
    let root = DocPath::default();
    let mut brokers = Vec::new();
    for (raw_name, b) in &raw.brokers {
        let at = root.key("brokers").key(raw_name);
        let mut nets = Vec::new();
        for (i, n) in b.networks.iter().enumerate() {
            nets.extend(network_named(p, &at.key("networks").index(i), n, net_names));
        }
        if b.networks.is_empty() {
            p.error(
                Kind::NoNetworks,
                &at.key("networks"),
                format!("broker `{raw_name}` is on no network"),
                Some("list at least one network, e.g. `networks: [wifi]`".into()),
            );
        }
        dedup_keep_order(&mut nets);
        brokers.push(Broker {
            name: broker_names[raw_name].clone(),
            networks: nets,
            compose: compose_map(p, &at.key("compose"), &b.compose),
            placement: placement(p, &at.key("placement"), b.placement.as_ref()),
        });
    }
    brokers
}

/// The stack's Redis (its own, by host name, or an external one by URL) and an external Docker API proxy.
fn redis_settings(
    p: &mut Problems<'_>,
    raw: &RawTopology,
) -> (Option<String>, Option<String>, Option<String>) {
    let root = DocPath::default();
    let redis_host = raw
        .redis
        .as_ref()
        .and_then(|r| r.host.as_deref())
        .and_then(|given| {
            let at = root.key("redis").key("host");
            let norm = names::underscore(given.trim());
            if let Err(why) = names::check(&norm) {
                p.error(
                    Kind::InvalidName,
                    &at,
                    format!("`{given}` cannot name the stack's Redis: {why}"),
                    Some(format!("rename it, e.g. `{}`", names::suggest(&norm))),
                );
                return None;
            }
            if norm == "docker_api_proxy" || norm.starts_with("gw_") || norm.starts_with("srvnet_") {
                p.error(
                    Kind::ReservedName,
                    &at,
                    format!("`{norm}` is reserved for wotemu's own services (docker_api_proxy, gw_*, srvnet_*)"),
                    Some("give Redis another host name".into()),
                );
                return None;
            }
            let taken = raw.nodes.keys().chain(raw.brokers.keys()).chain(raw.services.keys());
            if let Some(other) = taken.into_iter().find(|n| names::underscore(n) == norm) {
                p.error(
                    Kind::DuplicateName,
                    &at,
                    format!("the stack's Redis cannot be named `{norm}`: `{other}` already is"),
                    Some("give Redis another host name, or leave `host` out (the default is `redis`)".into()),
                );
                return None;
            }
            Some(norm)
        });
    if let Some(r) = raw
        .redis
        .as_ref()
        .filter(|r| r.url.is_some() == r.host.is_some())
    {
        let both = r.url.is_some();
        p.error(
            Kind::BadValue,
            &root.key("redis"),
            if both {
                "`redis` has both `url` (an external Redis) and `host` (the stack's own Redis's name)"
                    .to_owned()
            } else {
                "`redis` has neither `url` nor `host`".to_owned()
            },
            Some("give `url: redis://HOST:PORT` to use an external Redis, or `host: NAME` to name the stack's own".into()),
        );
    }
    let external_redis = raw.redis.as_ref().and_then(|r| r.url.as_ref()).map(|url| {
        let at = root.key("redis").key("url");
        let url = url.trim();
        if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
            p.error(
                Kind::BadValue,
                &at,
                format!("`{url}` is not a Redis URL"),
                Some("write it as `redis://HOST:PORT` (or `unix:///path/to/socket` for a one-host run)".into()),
            );
        } else if url.contains('@') {
            p.error(
                Kind::BadValue,
                &at,
                "the external Redis URL holds credentials, which would be written into the compose file and every node's environment",
                Some("give a Redis without a password on a private network, or leave `redis` out to use the stack's own Redis (password-protected)".into()),
            );
        }
        url.to_owned()
    });
    let external_docker_proxy = raw.docker_proxy.as_ref().map(|r| {
        let url = r.url.trim();
        if !url.starts_with("tcp://") {
            p.error(
                Kind::BadValue,
                &root.key("docker_proxy").key("url"),
                format!("`{url}` is not a Docker API URL"),
                Some("write it as `tcp://HOST:2375/`".into()),
            );
        }
        url.to_owned()
    });

    (redis_host, external_redis, external_docker_proxy)
}

/// One network: its conditions, schedule and trace.
fn network(p: &mut Problems<'_>, at: &DocPath, net: &RawNetwork, name: String) -> Network {
    let (preset, mut base) = conditions(p, at, &net.raw_conditions(), None);
    if let Some(netem) = &net.netem {
        base = netem_conditions(p, &at.key("netem"), netem, base);
    }
    let mut schedule = Vec::new();
    let mut last_end = -1.0_f64;
    for (i, step) in net.schedule.iter().enumerate() {
        let sat = at.key("schedule").index(i);
        let at_ms = duration(p, &sat.key("at"), &step.at);
        let for_ms = step
            .duration
            .as_ref()
            .map(|d| duration(p, &sat.key("for"), d));
        if let Some(0.0) = for_ms {
            p.error(
                Kind::BadValue,
                &sat.key("for"),
                "`for` must be more than 0",
                None,
            );
        }
        if at_ms < last_end {
            p.error(
                Kind::ScheduleOrder,
                &sat.key("at"),
                format!(
                    "schedule step {i} starts at {} but the previous one lasts until {}",
                    units::format_ms(at_ms),
                    units::format_ms(last_end)
                ),
                Some("list steps in time order without overlaps".into()),
            );
        }
        last_end = at_ms + for_ms.unwrap_or(0.0);
        let (step_preset, step_conditions) =
            conditions(p, &sat, &step.raw_conditions(), Some(base));
        schedule.push(ScheduleStep {
            at_ms,
            for_ms,
            preset: step_preset,
            conditions: step_conditions,
        });
    }
    let trace = net.trace.as_ref().map(|t| {
        let tat = at.key("trace");
        let spec = match t {
            crate::raw::RawTrace::File(f) => crate::raw::RawTraceSpec {
                file: f.clone(),
                ..Default::default()
            },
            crate::raw::RawTrace::Spec(s) => s.clone(),
        };
        if !schedule.is_empty() {
            p.error(
                Kind::BadValue,
                &tat,
                "a network has a schedule or a trace, not both",
                Some("put the schedule's changes into the trace file, or drop one".into()),
            );
        }
        let linear = match spec.interpolate.as_deref() {
            None | Some("step") => false,
            Some("linear") => true,
            Some(other) => {
                p.error(
                    Kind::BadValue,
                    &tat.key("interpolate"),
                    format!("`{other}` is not a way to interpolate"),
                    Some("write `step` (each row holds until the next) or `linear`".into()),
                );
                false
            }
        };
        let format = match spec.format.as_deref() {
            None => crate::trace::format_of(&spec.file),
            Some("mahimahi") => TraceFormat::Mahimahi,
            Some("csv") => TraceFormat::Csv,
            Some(other) => {
                p.error(
                    Kind::BadValue,
                    &tat.key("format"),
                    format!("`{other}` is not a trace format"),
                    Some("write `csv` or `mahimahi`".into()),
                );
                TraceFormat::Csv
            }
        };
        let bin_ms = spec
            .bin
            .as_ref()
            .map(|b| duration(p, &tat.key("bin"), b))
            .unwrap_or(1000.0);
        Trace {
            file: spec.file,
            format,
            linear,
            looped: spec.looped.unwrap_or(false),
            bin_ms,
            points: Vec::new(),
        }
    });
    let ping = match &net.distribution {
        Some(crate::raw::RawDistribution::Ping(f)) => Some(PingDelays {
            file: f.ping.clone(),
            quantiles_ms: Vec::new(),
        }),
        _ => None,
    };
    Network {
        name,
        preset,
        conditions: base,
        schedule,
        trace,
        ping,
        compose_net: compose_map(p, &at.key("compose_net"), &net.compose_net),
        compose_gw: compose_map(p, &at.key("compose_gw"), &net.compose_gw),
        placement_gw: placement(p, &at.key("placement_gw"), net.placement_gw.as_ref()),
    }
}

/// A node's broker and the broker's network it uses (0.6's rules).
fn node_broker(
    p: &mut Problems<'_>,
    at: &DocPath,
    raw_name: &str,
    n: &RawNode,
    brokers: &[Broker],
) -> (Option<String>, Option<String>) {
    let mut broker = None;
    let mut broker_network = None;
    if let Some(b) = &n.broker {
        let norm = names::underscore(b);
        match brokers.iter().find(|x| x.name == norm) {
            None => {
                let known: Vec<&str> = brokers.iter().map(|x| x.name.as_str()).collect();
                p.error(
                    Kind::UnknownBroker,
                    &at.key("broker"),
                    format!("unknown broker `{b}`"),
                    Some(hint_known("brokers", &known, b)),
                );
            }
            Some(br) => {
                broker = Some(br.name.clone());
                match &n.broker_network {
                    Some(bn) => {
                        let norm = names::underscore(bn);
                        if br.networks.contains(&norm) {
                            broker_network = Some(norm);
                        } else {
                            p.error(
                                Kind::BrokerNetworkNotOfBroker,
                                &at.key("broker_network"),
                                format!("broker `{}` is not on network `{bn}`", br.name),
                                Some(format!(
                                    "use one of the broker's networks: {}",
                                    br.networks.join(", ")
                                )),
                            );
                        }
                    }
                    None => {
                        if br.networks.len() > 1 {
                            p.warn(
                                Kind::BrokerNetworkChosen,
                                &at.key("broker"),
                                format!(
                                    "broker `{}` is on several networks and none was chosen; using `{}`",
                                    br.name, br.networks[0]
                                ),
                                Some("set `broker_network` to choose".into()),
                            );
                        }
                        broker_network = br.networks.first().cloned();
                    }
                }
            }
        }
        if !n.app.mqtt {
            p.warn(
                Kind::BrokerWithoutMqtt,
                &at.key("broker"),
                format!("node `{raw_name}` has a broker but its app does not enable MQTT"),
                Some("set `app.mqtt: true`, or remove `broker`".into()),
            );
        }
    } else if n.broker_network.is_some() {
        p.error(
            Kind::UnknownBroker,
            &at.key("broker_network"),
            "`broker_network` is set but the node has no `broker`",
            Some("set `broker` too, or remove `broker_network`".into()),
        );
    }
    if n.app.mqtt && n.broker.is_none() {
        p.error(
            Kind::MqttWithoutBroker,
            &at.key("app").key("mqtt"),
            format!("the app of node `{raw_name}` enables MQTT but the node has no broker"),
            Some(if brokers.is_empty() {
                "add a broker under `brokers:` and set the node's `broker`".into()
            } else {
                format!(
                    "set the node's `broker` to one of: {}",
                    brokers
                        .iter()
                        .map(|b| b.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        );
    }
    (broker, broker_network)
}

/// The services a node links (each known, once); every one linked goes into `linked`.
fn node_services(
    p: &mut Problems<'_>,
    at: &DocPath,
    n: &RawNode,
    services: &[Service],
    linked: &mut BTreeSet<String>,
) -> Vec<String> {
    let mut svcs = Vec::new();
    for (i, s) in n.services.iter().enumerate() {
        let norm = names::underscore(s);
        if services.iter().any(|x| x.name == norm) {
            if svcs.contains(&norm) {
                p.error(
                    Kind::DuplicateName,
                    &at.key("services").index(i),
                    format!("service `{s}` is linked twice"),
                    None,
                );
            }
            linked.insert(norm.clone());
            svcs.push(norm);
        } else {
            let known: Vec<&str> = services.iter().map(|x| x.name.as_str()).collect();
            p.error(
                Kind::UnknownService,
                &at.key("services").index(i),
                format!("unknown service `{s}`"),
                Some(hint_known("services", &known, s)),
            );
        }
    }
    svcs.sort();
    svcs
}

/// The normalised names of a topology's parts, by the name written.
struct Names {
    networks: BTreeMap<String, String>,
    brokers: BTreeMap<String, String>,
    services: BTreeMap<String, String>,
    nodes: BTreeMap<String, String>,
}

/// Every name normalised and checked, at once.
fn names(p: &mut Problems<'_>, raw: &RawTopology) -> Names {
    let root = DocPath::default();
    // Names: normalised and checked. Nodes, brokers and services are all services of the stack (one
    // namespace: compose's services, the one-host runner's host names); networks have a namespace of their
    // own (compose's networks, the runner's bridges), so a node may be named after its network, as in 0.6's
    // `surveillance_cloud` (node `cloud` on network `cloud`).
    let mut net_taken: BTreeMap<String, DocPath> = BTreeMap::new();
    let net_names = names_of(
        p,
        &root.key("networks"),
        raw.networks.keys(),
        &mut net_taken,
        "network",
    );
    let mut taken: BTreeMap<String, DocPath> = BTreeMap::new();
    let broker_names = names_of(
        p,
        &root.key("brokers"),
        raw.brokers.keys(),
        &mut taken,
        "broker",
    );
    let service_names = names_of(
        p,
        &root.key("services"),
        raw.services.keys(),
        &mut taken,
        "service",
    );
    let node_names = names_of(p, &root.key("nodes"), raw.nodes.keys(), &mut taken, "node");
    // A scenario is carried out in a Swarm stack by a service of that name.
    if !raw.scenario.is_empty() {
        if let Some(at) = taken.get(crate::compose::SCENARIO) {
            p.error(
                Kind::ReservedName,
                at,
                format!(
                    "`{}` is reserved for wotemu's own service when the topology has a scenario",
                    crate::compose::SCENARIO
                ),
                Some(format!("rename it, e.g. `my_{}`", crate::compose::SCENARIO)),
            );
        }
    }
    Names {
        networks: net_names,
        brokers: broker_names,
        services: service_names,
        nodes: node_names,
    }
}

/// Services no node links (an error) and networks nothing is on (a warning).
fn unlinked_and_unused(
    p: &mut Problems<'_>,
    raw: &RawTopology,
    net_names: &BTreeMap<String, String>,
    service_names: &BTreeMap<String, String>,
    linked: &BTreeSet<String>,
    (networks, brokers, services, nodes): (&[Network], &[Broker], &[Service], &[Node]),
) {
    let root = DocPath::default();
    for s in services {
        if !linked.contains(&s.name) {
            let raw_name = raw
                .services
                .keys()
                .find(|k| service_names.get(*k) == Some(&s.name))
                .cloned()
                .unwrap_or_default();
            p.error(
                Kind::ServiceNotLinked,
                &root.key("services").key(&raw_name),
                format!("service `{}` is not linked to any node", s.name),
                Some("add it to a node's `services` list".into()),
            );
        }
    }
    for net in networks {
        let used = nodes.iter().any(|n| n.all_networks().contains(&net.name))
            || brokers.iter().any(|b| b.networks.contains(&net.name));
        if !used {
            let raw_name = raw
                .networks
                .keys()
                .find(|k| net_names[*k] == net.name)
                .cloned()
                .unwrap_or_default();
            p.warn(
                Kind::UnusedNetwork,
                &root.key("networks").key(&raw_name),
                format!("network `{}` has no node or broker on it", net.name),
                Some("its gateway runs anyway; remove the network if it is not needed".into()),
            );
        }
    }
}

/// Checks the nodes' app files against the topology's folder `dir` (the only look at the host this crate
/// takes: whether a file exists). A host file that exists stays [`AppSource::File`]; an absolute path that
/// is not on the host becomes [`AppSource::Image`], a file inside the node's image (0.6's way of shipping
/// apps), with a warning when the node runs the stack's image (the file must be in it); a relative path
/// that does not exist is an error located at the node's `app.path`. Warnings go to `v.warnings`.
pub fn app_files(v: &mut Validated, dir: &std::path::Path, locate: &dyn Locate) -> Vec<Diagnostic> {
    let mut p = Problems {
        locate,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let root = DocPath::default();
    for node in &mut v.topology.nodes {
        let AppSource::File(f) = &node.app.source else {
            continue;
        };
        let path = std::path::Path::new(f);
        let on_host = if path.is_absolute() {
            path.to_owned()
        } else {
            dir.join(path)
        };
        if on_host.is_file() {
            continue;
        }
        let at = root.key("nodes").key(&node.name).key("app").key("path");
        if path.is_absolute() {
            if node.image.is_none() {
                p.warn(
                    Kind::MissingAppFile,
                    &at,
                    format!(
                        "the app file `{f}` is not on this host: it is used as a file inside the stack's image, \
                         as WoTemu 0.6 did, so it must exist there"
                    ),
                    Some("give the node an `image` that holds the file, or the path of a file on this host (which `wotemu compose` ships and `wotemu run` can use)".into()),
                );
            }
            node.app.source = AppSource::Image(f.clone());
        } else {
            p.error(
                Kind::MissingAppFile,
                &at,
                format!(
                    "the app file `{f}` does not exist (looked for `{}`, relative to the topology's folder)",
                    on_host.display()
                ),
                Some("give the path of an existing file relative to the topology file, an absolute path, or a builtin app".into()),
            );
        }
    }
    v.warnings.append(&mut p.warnings);
    p.errors
}

/// The most replicas a `scale` event may ask for.
const MAX_SCALE: u32 = 1000;

/// The scenario's events, checked against the nodes and networks: one action each, known targets, a slot
/// within the node's scale, a `for` only where there is something to undo.
fn scenario(
    p: &mut Problems<'_>,
    raw: &RawTopology,
    nodes: &[Node],
    networks: &[Network],
) -> Vec<ScenarioEvent> {
    let root = DocPath::default();
    let mut out = Vec::new();
    let node_of = |p: &mut Problems<'_>, at: &DocPath, name: &str| -> Option<String> {
        let norm = names::underscore(name);
        if nodes.iter().any(|n| n.name == norm) {
            return Some(norm);
        }
        let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        p.error(
            Kind::BadScenario,
            at,
            format!("unknown node `{name}`"),
            Some(hint_known("nodes", &known, name)),
        );
        None
    };
    let net_of = |p: &mut Problems<'_>, at: &DocPath, name: &str| -> Option<String> {
        let norm = names::underscore(name);
        if networks.iter().any(|n| n.name == norm) {
            return Some(norm);
        }
        let known: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
        p.error(
            Kind::BadScenario,
            at,
            format!("unknown network `{name}`"),
            Some(hint_known("networks", &known, name)),
        );
        None
    };
    // The most replicas a scale event gives a node (a replica that joins later can be a target).
    let scaled_to = |node: &str| -> u32 {
        raw.scenario
            .iter()
            .filter_map(|e| e.scale.as_ref())
            .filter(|s| names::underscore(&s.node) == node)
            .map(|s| s.replicas)
            .max()
            .unwrap_or(0)
    };
    let target = |p: &mut Problems<'_>, at: &DocPath, t: &RawTarget| -> Option<Target> {
        match t {
            RawTarget::Name(n) => {
                // `reader.2`: a replica; a node name itself may not contain a dot.
                if let Some((node, slot)) = n.rsplit_once('.') {
                    let node = node_of(p, at, node)?;
                    let scale = nodes
                        .iter()
                        .find(|x| x.name == node)
                        .map_or(1, |x| x.scale)
                        .max(scaled_to(&node));
                    match slot.parse::<u32>() {
                        Ok(s) if (1..=scale).contains(&s) => Some(Target {
                            node,
                            slot: Some(s),
                            share_pct: None,
                        }),
                        _ => {
                            p.error(
                                Kind::BadScenario,
                                at,
                                format!("`{n}`: node `{node}` has replicas 1 to {scale}"),
                                Some(
                                    "name a replica as `node.N`, N from 1 to the node's scale"
                                        .into(),
                                ),
                            );
                            None
                        }
                    }
                } else {
                    Some(Target {
                        node: node_of(p, at, n)?,
                        slot: None,
                        share_pct: None,
                    })
                }
            }
            RawTarget::Share { node, share } => {
                let node = node_of(p, &at.key("node"), node)?;
                let pct = percent(p, &at.key("share"), share);
                if !(pct > 0.0 && pct <= 100.0) {
                    p.error(
                        Kind::BadScenario,
                        &at.key("share"),
                        format!("a share must be more than 0 % and at most 100 %, not {pct} %"),
                        None,
                    );
                    return None;
                }
                Some(Target {
                    node,
                    slot: None,
                    share_pct: Some(pct),
                })
            }
        }
    };
    for (i, ev) in raw.scenario.iter().enumerate() {
        let at = root.key("scenario").index(i);
        let at_ms = duration(p, &at.key("at"), &ev.at);
        let for_ms = ev.duration.as_ref().map(|d| duration(p, &at.key("for"), d));
        let churn_every = ev.churn.as_ref().and_then(|c| c.every.as_ref());
        if churn_every.is_some() && ev.every.is_some() {
            p.error(
                Kind::BadScenario,
                &at.key("churn").key("every"),
                "`every` is given twice, in the event and in `churn`",
                Some("keep one of them".into()),
            );
        }
        let every_ms = match (&ev.every, churn_every) {
            (Some(d), _) => Some(duration(p, &at.key("every"), d)),
            (None, Some(d)) => Some(duration(p, &at.key("churn").key("every"), d)),
            (None, None) => None,
        };
        if every_ms.is_some_and(|e| e <= 0.0) {
            p.error(
                Kind::BadScenario,
                &at.key("every"),
                "`every` must be more than 0",
                None,
            );
        }
        if let (Some(f), Some(e)) = (for_ms, every_ms) {
            if f >= e {
                p.error(
                    Kind::BadScenario,
                    &at.key("for"),
                    format!(
                        "the event lasts {} but repeats every {}: the next would start before it is undone",
                        units::format_ms(f),
                        units::format_ms(e)
                    ),
                    Some("make `for` shorter than `every`".into()),
                );
            }
        }
        if ev.count.is_some() && every_ms.is_none() {
            p.error(
                Kind::BadScenario,
                &at.key("count"),
                "`count` repeats an event: it needs `every`",
                None,
            );
        }
        let mut actions: Vec<(&str, Option<Action>)> = Vec::new();
        if let Some(x) = &ev.scale {
            let sat = at.key("scale");
            let node = node_of(p, &sat.key("node"), &x.node);
            if x.replicas > MAX_SCALE {
                p.error(
                    Kind::BadScenario,
                    &sat.key("replicas"),
                    format!("at most {MAX_SCALE} replicas, not {}", x.replicas),
                    None,
                );
            }
            actions.push((
                "scale",
                node.map(|node| Action::Scale {
                    node,
                    replicas: x.replicas,
                }),
            ));
        }
        if let Some(x) = &ev.churn {
            let cat = at.key("churn");
            let node = node_of(p, &cat.key("node"), &x.node);
            let parsed = units::parse_percent(x.share.as_str()).is_ok();
            let pct = percent(p, &cat.key("share"), &x.share);
            let share_ok = parsed && pct > 0.0 && pct <= 100.0;
            if parsed && !share_ok {
                p.error(
                    Kind::BadScenario,
                    &cat.key("share"),
                    format!("a share must be more than 0 % and at most 100 %, not {pct} %"),
                    None,
                );
            }
            actions.push((
                "churn",
                node.filter(|_| share_ok).map(|node| Action::Churn {
                    node,
                    share_pct: pct,
                }),
            ));
        }
        if let Some(t) = &ev.kill {
            actions.push((
                "kill",
                target(p, &at.key("kill"), t).map(|target| Action::Kill { target }),
            ));
        }
        if let Some(t) = &ev.restart {
            actions.push((
                "restart",
                target(p, &at.key("restart"), t).map(|target| Action::Restart { target }),
            ));
        }
        if let Some(x) = &ev.stress {
            let sat = at.key("stress");
            let t = target(p, &sat.key("node"), &RawTarget::Name(x.node.clone()));
            let cpu = x.cpu.as_ref().map(|c| percent(p, &sat.key("cpu"), c));
            if cpu.is_some_and(|c| !(c > 0.0 && c <= 6400.0)) {
                p.error(
                    Kind::BadScenario,
                    &sat.key("cpu"),
                    "`cpu` is busy CPU in % of one core: more than 0 %, at most 6400 %",
                    None,
                );
            }
            let memory = x
                .memory
                .as_ref()
                .and_then(|m| match units::parse_mem_bytes(m.as_str()) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        p.error(Kind::BadScenario, &sat.key("memory"), e, None);
                        None
                    }
                });
            if cpu.is_none() && x.memory.is_none() {
                p.error(
                    Kind::BadScenario,
                    &sat,
                    "a stress needs `cpu` (e.g. 90%) or `memory` (e.g. 120M)",
                    None,
                );
            }
            actions.push((
                "stress",
                t.map(|target| Action::Stress {
                    target,
                    cpu_pct: cpu,
                    memory_bytes: memory,
                }),
            ));
        }
        if let Some(t) = &ev.pause {
            actions.push((
                "pause",
                target(p, &at.key("pause"), t).map(|target| Action::Pause { target }),
            ));
        }
        if let Some(t) = &ev.resume {
            actions.push((
                "resume",
                target(p, &at.key("resume"), t).map(|target| Action::Resume { target }),
            ));
        }
        if let Some(x) = &ev.partition {
            actions.push((
                "partition",
                net_of(p, &at.key("partition").key("network"), &x.network)
                    .map(|network| Action::Partition { network }),
            ));
        }
        if let Some(x) = &ev.disconnect {
            let dat = at.key("disconnect");
            let node = node_of(p, &dat.key("node"), &x.node);
            let net = net_of(p, &dat.key("network"), &x.network);
            let action = match (node, net) {
                (Some(node), Some(network)) => {
                    let on = nodes
                        .iter()
                        .find(|n| n.name == node)
                        .is_some_and(|n| n.networks.contains(&network));
                    if on {
                        Some(Action::Disconnect { node, network })
                    } else {
                        p.error(
                            Kind::BadScenario,
                            &dat,
                            format!("node `{node}` is not on network `{network}`"),
                            Some("name one of the node's networks".into()),
                        );
                        None
                    }
                }
                _ => None,
            };
            actions.push(("disconnect", action));
        }
        if let Some(x) = &ev.conditions {
            let cat = at.key("conditions");
            let action = net_of(p, &cat.key("network"), &x.network).map(|network| {
                let base = networks
                    .iter()
                    .find(|n| n.name == network)
                    .map(|n| n.conditions)
                    .unwrap_or_default();
                let (_, c) = conditions(p, &cat, &x.raw_conditions(), Some(base));
                Action::Conditions {
                    network,
                    conditions: c,
                }
            });
            actions.push(("conditions", action));
        }
        if actions.len() != 1 {
            if actions.len() > 1 {
                p.error(
                    Kind::BadScenario,
                    &at,
                    format!(
                        "an event does one thing, this one {}",
                        actions
                            .iter()
                            .map(|a| a.0)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    Some("split it into one event per action".into()),
                );
            } else {
                p.error(
                    Kind::BadScenario,
                    &at,
                    "the event has no action",
                    Some(
                        "give one of kill, restart, pause, resume, stress, partition, disconnect, conditions, scale, churn".into(),
                    ),
                );
            }
            continue;
        }
        let (name, action) = actions.pop().expect("one");
        let Some(action) = action else { continue };
        if for_ms.is_some()
            && matches!(
                action,
                Action::Kill { .. }
                    | Action::Resume { .. }
                    | Action::Restart { .. }
                    | Action::Churn { .. }
            )
        {
            p.error(
                Kind::BadScenario,
                &at.key("for"),
                format!("a `{name}` is not undone, so it takes no `for`"),
                Some("remove `for` (a killed app is restarted by the runner)".into()),
            );
        }
        out.push((
            i,
            ScenarioEvent {
                at_ms,
                for_ms,
                every_ms,
                count: ev.count,
                action,
            },
        ));
    }
    let events: Vec<ScenarioEvent> = out.iter().map(|(_, e)| e.clone()).collect();
    for (first, second, why) in crate::scenario::contradictions(&events) {
        p.error(
            Kind::BadScenario,
            &root.key("scenario").index(out[second].0),
            format!("contradicts scenario event {}: {why}", out[first].0),
            Some("move one of them out of the other's `for`, or shorten that `for`".into()),
        );
    }
    let mut out: Vec<ScenarioEvent> = out.into_iter().map(|(_, e)| e).collect();
    out.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    out
}

/// Reads the networks' trace files from the topology's folder `dir` into their rows; a missing file or a
/// wrong row is an error located at the network's `trace`, naming the line of the trace file.
pub fn trace_files(
    t: &mut Topology,
    dir: &std::path::Path,
    locate: &dyn Locate,
) -> Vec<Diagnostic> {
    let mut p = Problems {
        locate,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let root = DocPath::default();
    for net in &mut t.networks {
        let at = root
            .key("networks")
            .key(&net.name)
            .key("distribution")
            .key("ping");
        if let Some(before) = ping_file(&mut p, net, dir, &at) {
            let after = (net.conditions.latency_ms, net.conditions.jitter_ms);
            let steps = net.schedule.iter_mut().map(|s| &mut s.conditions);
            let changes = t.scenario.iter_mut().filter_map(|e| match &mut e.action {
                Action::Conditions {
                    network,
                    conditions,
                } if *network == net.name => Some(conditions),
                _ => None,
            });
            // What took the network's latency and jitter before its delays were read takes them now.
            for c in steps.chain(changes) {
                if c.latency_ms == before.0 {
                    c.latency_ms = after.0;
                }
                if c.jitter_ms == before.1 {
                    c.jitter_ms = after.1;
                }
            }
        }
        let Some(trace) = &mut net.trace else {
            continue;
        };
        let at = root.key("networks").key(&net.name).key("trace");
        let Some((path, text)) = read_beside(&mut p, &at, dir, &trace.file, "trace") else {
            continue;
        };
        match crate::trace::parse(&text, trace.format, trace.bin_ms) {
            Ok(points) => trace.points = points,
            Err(e) => p.error(
                Kind::BadTrace,
                &at,
                format!("{}:{}: {}", path.display(), e.line, e.message),
                Some(crate::trace::format_hint(trace.format).into()),
            ),
        }
    }
    p.errors
}

const RESERVED: [&str; 2] = ["redis", "docker_api_proxy"];

/// A file the topology names (a `what` file: trace, ping), relative to its folder: its path and text, or
/// the problem at `at`.
fn read_beside(
    p: &mut Problems<'_>,
    at: &DocPath,
    dir: &std::path::Path,
    file: &str,
    what: &str,
) -> Option<(std::path::PathBuf, String)> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some((path, text)),
        Err(e) => {
            p.error(
                Kind::BadTrace,
                at,
                format!(
                    "cannot read the {what} file `{file}` ({}): {e}",
                    path.display()
                ),
                Some("give a file relative to the topology's folder, or an absolute path".into()),
            );
            None
        }
    }
}

/// Reads a network's `distribution: {ping: FILE}`: its quantiles, and its latency and jitter (their mean
/// and spread). Returns the latency and jitter it had before, when it read them.
fn ping_file(
    p: &mut Problems<'_>,
    net: &mut Network,
    dir: &std::path::Path,
    at: &DocPath,
) -> Option<(f64, f64)> {
    let ping = net.ping.as_mut()?;
    let (path, text) = read_beside(p, at, dir, &ping.file, "ping")?;
    let rtts = crate::ping::parse(&text)
        .map_err(|e| {
            p.error(
                Kind::BadTrace,
                at,
                format!("{}:{}: {}", path.display(), e.line, e.message),
                Some("give the output of Linux `ping`, or one round trip in ms per line".into()),
            )
        })
        .ok()?;
    ping.quantiles_ms = crate::ping::one_way_quantiles(&rtts);
    let before = (net.conditions.latency_ms, net.conditions.jitter_ms);
    (net.conditions.latency_ms, net.conditions.jitter_ms) = ping.mean_sd();
    Some(before)
}

/// Normalises and checks the names of one kind; returns raw → normalised (invalid names map to themselves).
fn names_of<'a>(
    p: &mut Problems<'_>,
    at: &DocPath,
    raw: impl Iterator<Item = &'a String>,
    taken: &mut BTreeMap<String, DocPath>,
    what: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in raw {
        let here = at.key(name);
        let norm = names::underscore(name);
        if let Err(why) = names::check(&norm) {
            let shown = if norm == *name {
                format!("`{name}`")
            } else {
                format!("`{name}` (normalised to `{norm}`)")
            };
            p.error(
                Kind::InvalidName,
                &here,
                format!("{what} name {shown} cannot be used: {why}"),
                Some(format!("rename it, e.g. `{}`", names::suggest(&norm))),
            );
        } else if RESERVED.contains(&norm.as_str())
            || norm.starts_with("gw_")
            || norm.starts_with("srvnet_")
        {
            p.error(
                Kind::ReservedName,
                &here,
                format!("{what} name `{norm}` is reserved for wotemu's own services (redis, docker_api_proxy, gw_*, srvnet_*)"),
                Some(format!("rename it, e.g. `my_{norm}`")),
            );
        } else if let Some(prev) = taken.get(&norm) {
            p.error(
                Kind::DuplicateName,
                &here,
                format!("{what} name `{name}` is the same as `{prev}` after normalisation (`{norm}`)"),
                Some("names of brokers, services and nodes must be unique among them after normalisation (CamelCase → snake_case, - → _); a network may share a name with a node".into()),
            );
        } else {
            taken.insert(norm.clone(), here);
        }
        out.insert(name.clone(), norm);
    }
    out
}

fn hint_known(what: &str, known: &[&str], given: &str) -> String {
    if known.is_empty() {
        return format!("the topology defines no {what}; add `{given}` under `{what}:`");
    }
    let norm = names::underscore(given);
    let close = known
        .iter()
        .map(|k| (edit_distance(k, &norm), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min();
    match close {
        Some((_, c)) => format!("did you mean `{c}`? known {what}: {}", known.join(", ")),
        None => format!("known {what}: {}", known.join(", ")),
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn dedup_keep_order(v: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

fn ports(p: &mut Problems<'_>, raw: Option<&RawPorts>) -> Ports {
    let d = Ports::default();
    let Some(r) = raw else { return d };
    let at = DocPath::default().key("ports");
    let out = Ports {
        catalogue: r.catalogue.unwrap_or(d.catalogue),
        http: r.http.unwrap_or(d.http),
        ws: r.ws.unwrap_or(d.ws),
        coap: r.coap.unwrap_or(d.coap),
        mqtt: r.mqtt.unwrap_or(d.mqtt),
    };
    let all = [
        ("catalogue", out.catalogue),
        ("http", out.http),
        ("ws", out.ws),
        ("coap", out.coap),
        ("mqtt", out.mqtt),
    ];
    for (i, (k, v)) in all.iter().enumerate() {
        if *v == 0 {
            p.error(
                Kind::BadValue,
                &at.key(k),
                format!("port `{k}` must be from 1 to 65535"),
                None,
            );
        }
        // CoAP is UDP; the others are TCP and must differ from each other.
        if let Some((k2, _)) = all[..i]
            .iter()
            .find(|(k2, v2)| v2 == v && *k != "coap" && *k2 != "coap")
        {
            p.error(
                Kind::BadValue,
                &at.key(k),
                format!("port `{k}` is {v}, the same as port `{k2}`"),
                Some("each TCP server needs its own port".into()),
            );
        }
    }
    out
}

fn images(raw: Option<&RawImages>) -> Images {
    let d = Images::default();
    let Some(r) = raw else { return d };
    Images {
        wotemu: r.wotemu.clone().unwrap_or(d.wotemu),
        redis: r.redis.clone().unwrap_or(d.redis),
        docker_api_proxy: r.docker_api_proxy.clone().unwrap_or(d.docker_api_proxy),
        vision: r.vision.clone().unwrap_or(d.vision),
    }
}

fn duration(p: &mut Problems<'_>, at: &DocPath, s: &Scalar) -> f64 {
    units::parse_duration_ms(s.as_str()).unwrap_or_else(|e| {
        p.error(Kind::BadValue, at, e, None);
        0.0
    })
}

fn percent(p: &mut Problems<'_>, at: &DocPath, s: &Scalar) -> f64 {
    units::parse_percent(s.as_str()).unwrap_or_else(|e| {
        p.error(Kind::BadValue, at, e, None);
        0.0
    })
}

fn rate(p: &mut Problems<'_>, at: &DocPath, s: &Scalar) -> Option<u64> {
    match s.as_str().trim() {
        "none" | "unlimited" => return None,
        _ => {}
    }
    units::parse_rate_bps(s.as_str())
        .map(Some)
        .unwrap_or_else(|e| {
            p.error(Kind::BadValue, at, e, None);
            None
        })
}

/// Conditions from a preset (or `base`) changed by the explicit fields.
fn conditions(
    p: &mut Problems<'_>,
    at: &DocPath,
    raw: &RawConditions,
    base: Option<Conditions>,
) -> (Option<Preset>, Conditions) {
    let mut preset = None;
    let mut c = base.unwrap_or_default();
    if let Some(name) = &raw.conditions {
        match Preset::parse(name) {
            Some(pr) => {
                preset = Some(pr);
                c = pr.conditions();
            }
            None => p.error(
                Kind::UnknownPreset,
                &at.key("conditions"),
                format!("unknown network conditions `{name}`"),
                Some(format!(
                    "use one of: {}",
                    Preset::ALL
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ),
        }
    }
    if let Some(v) = &raw.latency {
        c.latency_ms = duration(p, &at.key("latency"), v);
    }
    if let Some(v) = &raw.jitter {
        c.jitter_ms = duration(p, &at.key("jitter"), v);
    }
    if let Some(v) = &raw.rate {
        c.rate_bps = rate(p, &at.key("rate"), v);
    }
    if let Some(v) = &raw.rate_up {
        c.rate_up_bps = rate(p, &at.key("rate_up"), v);
    }
    match &raw.loss {
        Some(crate::raw::RawLoss::Percent(v)) => {
            c.loss_pct = percent(p, &at.key("loss"), v);
            c.loss_gilbert = None;
        }
        Some(crate::raw::RawLoss::Model(m)) => {
            let here = at.key("loss").key("gilbert");
            let g = &m.gilbert;
            let or = |p: &mut Problems<'_>, k: &str, v: &Option<Scalar>, default: f64| {
                v.as_ref().map_or(default, |v| percent(p, &here.key(k), v))
            };
            c.loss_gilbert = Some(crate::model::Gilbert {
                p_pct: percent(p, &here.key("p"), &g.p),
                r_pct: percent(p, &here.key("r"), &g.r),
                h_pct: or(p, "h", &g.h, 100.0),
                k_pct: or(p, "k", &g.k, 0.0),
            });
            c.loss_pct = 0.0;
        }
        None => {}
    }
    if let Some(v) = &raw.duplicate {
        c.duplicate_pct = percent(p, &at.key("duplicate"), v);
    }
    if let Some(v) = &raw.corrupt {
        c.corrupt_pct = percent(p, &at.key("corrupt"), v);
    }
    if let Some(v) = &raw.reorder {
        c.reorder_pct = percent(p, &at.key("reorder"), v);
    }
    if let Some(v) = &raw.latency_up {
        c.latency_up_ms = Some(duration(p, &at.key("latency_up"), v));
    }
    if let Some(v) = &raw.jitter_up {
        c.jitter_up_ms = Some(duration(p, &at.key("jitter_up"), v));
    }
    if let Some(v) = &raw.loss_up {
        c.loss_up_pct = Some(percent(p, &at.key("loss_up"), v));
        if c.loss_gilbert.is_some() {
            p.error(
                Kind::BadValue,
                &at.key("loss_up"),
                "`loss_up` with a `gilbert` loss: the bursts apply to both directions, each with its own state",
                Some("leave out `loss_up`, or give `loss` as a percentage".into()),
            );
        }
    }
    match &raw.distribution {
        Some(crate::raw::RawDistribution::Name(d)) => {
            match crate::model::Distribution::parse(d).filter(|d| *d != Distribution::Ping) {
                Some(d) => c.distribution = d,
                None => p.error(
                    Kind::BadValue,
                    &at.key("distribution"),
                    crate::model::Distribution::unknown(d),
                    Some("leave it out for normal jitter".into()),
                ),
            }
        }
        // A network's own measured delays; they set its latency and jitter ([`trace_files`] reads them).
        Some(crate::raw::RawDistribution::Ping(_)) if base.is_some() => p.error(
            Kind::BadValue,
            &at.key("distribution").key("ping"),
            "delays measured by ping belong to a network, not to one change of its conditions",
            Some("give `distribution: {ping: FILE}` on the network; a change keeps its delays (shifted by `latency`, scaled by `jitter`)".into()),
        ),
        Some(crate::raw::RawDistribution::Ping(_)) => {
            c.distribution = Distribution::Ping;
            if raw.latency.is_some() || raw.jitter.is_some() {
                p.error(
                    Kind::BadValue,
                    &at.key("distribution").key("ping"),
                    "delays measured by ping set the network's latency and jitter themselves",
                    Some("leave out `latency` and `jitter` here (a schedule step may still change them)".into()),
                );
            }
        }
        None => {}
    }
    if let Some(v) = &raw.correlation {
        c.correlation_pct = percent(p, &at.key("correlation"), v);
    }
    if let Some(v) = &raw.fairness {
        match crate::model::Fairness::parse(v) {
            Ok(f) => c.fairness = f,
            Err(e) => p.error(
                Kind::BadValue,
                &at.key("fairness"),
                e,
                Some("leave it out for one line (fifo)".into()),
            ),
        }
    }
    if let Some(v) = &raw.queue {
        match crate::model::QueueLimit::parse(&v.0) {
            Ok(q) => c.queue = Some(q),
            Err(e) => p.error(
                Kind::BadValue,
                &at.key("queue"),
                e,
                Some("e.g. `queue: 100` or `queue: 200ms`".into()),
            ),
        }
        if c.rate_bps.is_none() && c.rate_up_bps.is_none() {
            p.error(
                Kind::BadValue,
                &at.key("queue"),
                "a queue limit without a rate: packets wait (and a queue forms) only where a rate limits them",
                Some("set `rate` (or a preset with one), or leave out `queue`".into()),
            );
        }
    }
    if let Some(v) = &raw.loss_correlation {
        let rho = percent(p, &at.key("loss_correlation"), v);
        if matches!(raw.loss, Some(crate::raw::RawLoss::Model(_))) {
            p.error(
                Kind::BadValue,
                &at.key("loss_correlation"),
                "`loss_correlation` with a `gilbert` loss: the model already says how losses follow each other",
                Some("give `loss` as a percentage, or leave out `loss_correlation`".into()),
            );
        } else if c.loss_up_pct.is_some() {
            p.error(
                Kind::BadValue,
                &at.key("loss_correlation"),
                "`loss_correlation` with `loss_up`: correlated losses apply to both directions alike",
                Some("leave out one of them".into()),
            );
        } else {
            c.correlate_loss(rho);
        }
    }
    if c.reorder_pct > 0.0 && c.latency_ms == 0.0 {
        p.error(
            Kind::ReorderWithoutLatency,
            &at.key("reorder"),
            "`reorder` needs a latency: packets are reordered by sending some without the delay",
            Some("set `latency` (or a preset) on this network".into()),
        );
    }
    (preset, c)
}

/// 0.6's `netem` dict: `latency`, `jitter` (ms) and `rate`; it replaces the preset's values.
fn netem_conditions(
    p: &mut Problems<'_>,
    at: &DocPath,
    netem: &BTreeMap<String, Scalar>,
    mut c: Conditions,
) -> Conditions {
    for (k, v) in netem {
        let here = at.key(k);
        match k.as_str() {
            "latency" | "delay" => c.latency_ms = duration(p, &here, v),
            "jitter" => c.jitter_ms = duration(p, &here, v),
            "rate" => c.rate_bps = rate(p, &here, v),
            "loss" => c.loss_pct = percent(p, &here, v),
            _ => p.error(
                Kind::BadValue,
                &here,
                format!("unknown netem parameter `{k}`"),
                Some("0.6 netem parameters are latency, jitter and rate; use the network's own fields for the others".into()),
            ),
        }
    }
    c
}

/// A service's `placement:`, each constraint and preference checked where it is written.
fn placement(p: &mut Problems<'_>, at: &DocPath, raw: Option<&RawPlacement>) -> Placement {
    let mut out = Placement::default();
    let Some(raw) = raw else { return out };
    if let Some(h) = &raw.host {
        match crate::placement::host_constraint(h) {
            Ok(c) => out.constraints.push(c),
            Err(b) => p.error(Kind::BadValue, &at.key("host"), b.message, Some(b.hint)),
        }
    }
    for (i, c) in raw.constraints.iter().enumerate() {
        match crate::placement::constraint(c) {
            Ok(c) if !out.constraints.contains(&c) => out.constraints.push(c),
            Ok(_) => {}
            Err(b) => p.error(
                Kind::BadValue,
                &at.key("constraints").index(i),
                b.message,
                Some(b.hint),
            ),
        }
    }
    for (i, pref) in raw.preferences.iter().enumerate() {
        match crate::placement::spread(&pref.spread) {
            Ok(s) => out.spread.push(s),
            Err(b) => p.error(
                Kind::BadValue,
                &at.key("preferences").index(i).key("spread"),
                b.message,
                Some(b.hint),
            ),
        }
    }
    out
}

/// The constraints written in compose arguments (`deploy: {placement: {constraints: [...]}}`), checked.
fn compose_constraints(p: &mut Problems<'_>, at: &DocPath, m: &serde_json::Value) {
    let at = at.key("deploy").key("placement").key("constraints");
    let Some(list) = m.pointer("/deploy/placement/constraints") else {
        return;
    };
    let Some(list) = list.as_array() else {
        p.error(
            Kind::BadValue,
            &at,
            "placement constraints must be a list",
            Some("e.g. `constraints: [node.role == worker]`".into()),
        );
        return;
    };
    for (i, c) in list.iter().enumerate() {
        let checked = match c.as_str() {
            Some(text) => crate::placement::constraint(text).map(|_| ()),
            None => Err(crate::placement::Bad {
                message: format!("{c} is not a constraint"),
                hint: "write each constraint as a string, e.g. `node.role == worker`".into(),
            }),
        };
        if let Err(b) = checked {
            p.error(Kind::BadValue, &at.index(i), b.message, Some(b.hint));
        }
    }
}

fn compose_map(
    p: &mut Problems<'_>,
    at: &DocPath,
    v: &Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    match v {
        None | Some(serde_json::Value::Null) => None,
        Some(m @ serde_json::Value::Object(_)) => {
            compose_constraints(p, at, m);
            Some(m.clone())
        }
        Some(_) => {
            p.error(
                Kind::BadValue,
                at,
                "compose arguments must be a mapping of compose keys",
                Some(
                    "e.g. `compose: {deploy: {placement: {constraints: [node.role == worker]}}}`"
                        .into(),
                ),
            );
            None
        }
    }
}

fn app(p: &mut Problems<'_>, at: &DocPath, raw: &RawApp) -> App {
    let path = raw.path.trim();
    let available = || {
        wotemu_contract::apps::available()
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let source = if path.is_empty() {
        p.error(
            Kind::BadValue,
            &at.key("path"),
            "the app has no `path`",
            Some(format!(
                "use a builtin app ({}), an http(s) URL, or a file path",
                available()
            )),
        );
        AppSource::File(String::new())
    } else if let Some(b) = BuiltinApp::parse(path) {
        if !b.available() {
            p.error(
                Kind::UnavailableApp,
                &at.key("path"),
                format!(
                    "the builtin app `{}` of WoTemu 0.6 is not available in this version of wotemu",
                    b.name()
                ),
                Some(format!(
                    "use another builtin ({}), or your own app file with `async def app(wot, conf, loop, **params)`",
                    available()
                )),
            );
        }
        AppSource::Builtin(b)
    } else if path.starts_with("http://") || path.starts_with("https://") {
        AppSource::Url(path.to_owned())
    } else if path.starts_with("wotemu_") {
        p.error(
            Kind::BadValue,
            &at.key("path"),
            format!("`{path}` is not a builtin app"),
            Some(format!(
                "builtin apps: {}",
                BuiltinApp::all()
                    .filter(|b| b.available())
                    .map(|b| b.path())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
        AppSource::File(path.to_owned())
    } else {
        AppSource::File(path.to_owned())
    };
    let mut params = BTreeMap::new();
    for (k, v) in &raw.params {
        if k.is_empty() || k.starts_with('-') || k.chars().any(char::is_whitespace) {
            p.error(
                Kind::BadValue,
                &at.key("params").key(k),
                format!("parameter name `{k}` is not a Python identifier"),
                Some("parameters are passed to `app(wot, conf, loop, **params)`".into()),
            );
        }
        params.insert(k.clone(), v.as_str().to_owned());
    }
    App {
        source,
        http: raw.http,
        ws: raw.ws,
        mqtt: raw.mqtt,
        coap: raw.coap,
        params,
    }
}

fn resources(p: &mut Problems<'_>, at: &DocPath, raw: Option<&RawResources>) -> Resources {
    let Some(r) = raw else {
        return Resources::default();
    };
    let cpus = |p: &mut Problems<'_>, k: &str, v: &Option<Scalar>| {
        v.as_ref()
            .and_then(|s| match units::parse_cpus(s.as_str()) {
                Ok(value) => Some(Cpus {
                    text: s.as_str().trim().to_owned(),
                    value,
                }),
                Err(e) => {
                    p.error(Kind::BadValue, &at.key(k), e, None);
                    None
                }
            })
    };
    let mem = |p: &mut Problems<'_>, k: &str, v: &Option<Scalar>| {
        v.as_ref()
            .and_then(|s| match units::parse_mem_bytes(s.as_str()) {
                Ok(bytes) => Some(Memory {
                    text: s.as_str().trim().to_owned(),
                    bytes,
                }),
                Err(e) => {
                    p.error(Kind::BadValue, &at.key(k), e, None);
                    None
                }
            })
    };
    let out = Resources {
        cpu_limit: cpus(p, "cpu_limit", &r.cpu_limit),
        mem_limit: mem(p, "mem_limit", &r.mem_limit),
        cpu_reservation: cpus(p, "cpu_reservation", &r.cpu_reservation),
        mem_reservation: mem(p, "mem_reservation", &r.mem_reservation),
        target_cpu_speed: r.target_cpu_speed.as_ref().and_then(|s| {
            match s.as_str().trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Some(v),
                _ => {
                    p.error(
                        Kind::BadValue,
                        &at.key("target_cpu_speed"),
                        format!("`{s}` is not a CPU speed; write a number more than 0 (sysbench events per second)"),
                        None,
                    );
                    None
                }
            }
        }),
    };
    if r.cpu_limit.is_some() && r.target_cpu_speed.is_some() {
        p.error(
            Kind::CpuLimitAndTargetSpeed,
            &at.key("target_cpu_speed"),
            "`cpu_limit` and `target_cpu_speed` cannot both be set",
            Some("`target_cpu_speed` computes its own CPU limit; keep one of the two".into()),
        );
    }
    if let (Some(l), Some(res)) = (&out.mem_limit, &out.mem_reservation) {
        if res.bytes > l.bytes {
            p.error(
                Kind::BadValue,
                &at.key("mem_reservation"),
                format!(
                    "`mem_reservation` ({}) is more than `mem_limit` ({})",
                    res.text, l.text
                ),
                None,
            );
        }
    }
    if let (Some(l), Some(res)) = (&out.cpu_limit, &out.cpu_reservation) {
        if res.value > l.value {
            p.error(
                Kind::BadValue,
                &at.key("cpu_reservation"),
                format!(
                    "`cpu_reservation` ({}) is more than `cpu_limit` ({})",
                    res.text, l.text
                ),
                None,
            );
        }
    }
    out
}
