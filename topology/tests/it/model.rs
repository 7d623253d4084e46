//! The validated model: presets, conditions, schedules, defaults, warnings.

use std::path::Path;

use wotemu_topology::model::{AppSource, BuiltinApp, Distribution, Preset};
use wotemu_topology::{from_yaml_str, Kind};

use crate::common::examples;

#[test]
fn presets_have_the_exact_parameters_of_06() {
    let expected = [
        (Preset::Gprs, 700.0, 100.0, 50_000),
        (Preset::Edge, 700.0, 100.0, 100_000),
        (Preset::Regular3g, 300.0, 150.0, 1_500_000),
        (Preset::Fast3g, 150.0, 50.0, 4_000_000),
        (Preset::Lte, 40.0, 10.0, 15_000_000),
        (Preset::Wifi, 25.0, 5.0, 50_000_000),
        (Preset::Cable, 5.0, 5.0, 100_000_000),
    ];
    for (p, latency, jitter, rate) in expected {
        let c = p.conditions();
        assert_eq!(
            (c.latency_ms, c.jitter_ms, c.rate_bps),
            (latency, jitter, Some(rate)),
            "{p}"
        );
        assert_eq!(Preset::parse(p.name()), Some(p));
        assert_eq!(Preset::parse(&p.name().to_ascii_uppercase()), Some(p));
    }
}

#[test]
fn new_conditions_and_schedule_resolve() {
    let t = wotemu_topology::load(&examples().join("conditions.yml"))
        .unwrap()
        .topology;
    let rural = t.network("rural").unwrap();
    let c = rural.conditions;
    assert_eq!(
        (c.latency_ms, c.jitter_ms, c.rate_bps),
        (40.0, 10.0, Some(15_000_000))
    );
    assert_eq!(c.rate_up_bps, Some(2_000_000));
    assert_eq!(
        (c.loss_pct, c.duplicate_pct, c.corrupt_pct, c.reorder_pct),
        (1.0, 0.2, 0.1, 5.0)
    );
    assert_eq!(rural.schedule.len(), 2);
    let gprs = &rural.schedule[0];
    assert_eq!(
        (gprs.at_ms, gprs.for_ms, gprs.preset),
        (60_000.0, Some(30_000.0), Some(Preset::Gprs))
    );
    assert_eq!(gprs.conditions.latency_ms, 700.0);
    let lossy = &rural.schedule[1];
    // Fields not given keep the network's own values.
    assert_eq!(
        (lossy.conditions.loss_pct, lossy.conditions.latency_ms),
        (10.0, 40.0)
    );
    let lab = t.network("lab").unwrap();
    assert_eq!(
        (
            lab.preset,
            lab.conditions.latency_ms,
            lab.conditions.jitter_ms
        ),
        (None, 2.0, 0.5)
    );
}

#[test]
fn netem_of_06_replaces_the_preset() {
    let text = "networks:\n  n:\n    conditions: lte\n    netem: {latency: 120, jitter: 20, rate: 2mbit}\nnodes:\n  a: {app: {path: clock}, networks: [n]}\n";
    let t = from_yaml_str(Path::new("t.yml"), text).unwrap().topology;
    let c = t.networks[0].conditions;
    assert_eq!(
        (c.latency_ms, c.jitter_ms, c.rate_bps),
        (120.0, 20.0, Some(2_000_000))
    );
}

#[test]
fn names_are_normalised_as_06_does() {
    let text = "networks:\n  FieldNet: {conditions: wifi}\nnodes:\n  TempSensor:\n    app: {path: wotemu_clock}\n    networks: [FieldNet]\n";
    let t = from_yaml_str(Path::new("t.yml"), text).unwrap().topology;
    assert_eq!(t.networks[0].name, "field_net");
    assert_eq!(t.nodes[0].name, "temp_sensor");
    assert_eq!(t.nodes[0].networks, ["field_net"]);
    assert_eq!(
        t.nodes[0].app.source,
        AppSource::Builtin(BuiltinApp::parse("clock").unwrap())
    );
    assert_eq!(t.nodes[0].scale, 1);
}

#[test]
fn warnings_of_06_are_kept() {
    let text = "networks:\n  a: {conditions: wifi}\n  b: {conditions: lte}\n  c: {conditions: lte}\nbrokers:\n  broker: {networks: [b, a]}\nnodes:\n  w:\n    app: {path: worker, mqtt: true}\n    networks: [a]\n    broker: broker\n  x:\n    app: {path: clock}\n    networks: [a]\n    broker: broker\n";
    let v = from_yaml_str(Path::new("t.yml"), text).unwrap();
    let kinds: Vec<Kind> = v.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::BrokerNetworkChosen,
            Kind::BrokerNetworkChosen,
            Kind::BrokerWithoutMqtt,
            Kind::UnusedNetwork
        ]
    );
    // The first of the broker's networks, as 0.6.
    assert_eq!(
        v.topology.node("w").unwrap().broker_host().as_deref(),
        Some("broker.b")
    );
}

/// An absolute app path that is not on this host is a file inside the image, as 0.6 composed it: the stack's
/// image with a warning (the file must be in it), a node's own image without one.
#[test]
fn an_absolute_app_path_not_on_the_host_is_a_file_in_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yml");
    std::fs::write(
        &file,
        "networks:\n  wifi: {conditions: wifi}\nnodes:\n  gauge:\n    app: {path: /apps/gauge.py}\n    networks: [wifi]\n  own:\n    image: me/own:1\n    app: {path: /srv/own.py}\n    networks: [wifi]\n",
    )
    .unwrap();
    let v = wotemu_topology::load(&file).unwrap();
    let warned: Vec<&str> = v
        .warnings
        .iter()
        .filter(|w| w.kind == Kind::MissingAppFile)
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("`/apps/gauge.py` is not on this host")
            && warned[0].contains("must exist there"),
        "{warned:?}"
    );
    for (node, path) in [("gauge", "/apps/gauge.py"), ("own", "/srv/own.py")] {
        assert_eq!(
            v.topology.node(node).unwrap().app.source,
            wotemu_topology::model::AppSource::Image(path.into())
        );
    }
    let compose = wotemu_topology::compose::to_yaml(&v.topology, "t.yml");
    assert!(compose.contains("/apps/gauge.py"), "{compose}");
}

#[test]
fn errors_are_all_reported_at_once() {
    let text = "networks:\n  a: {conditions: wiifi}\nnodes:\n  x:\n    app: {path: clock, mqtt: true}\n    networks: [b]\n    resources: {mem_limit: 1Q}\n    scale: 0\n";
    let e = from_yaml_str(Path::new("t.yml"), text).unwrap_err();
    let kinds: Vec<Kind> = e.diagnostics().iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::UnknownPreset,
            Kind::UnknownNetwork,
            Kind::MqttWithoutBroker,
            Kind::BadValue,
            Kind::BadValue
        ]
    );
}

#[test]
fn show_round_trips_through_the_json_schema_types() {
    // The schema names every top-level section and is valid JSON.
    let schema = wotemu_topology::json_schema();
    let props = schema["properties"].as_object().unwrap();
    for k in [
        "networks", "nodes", "brokers", "services", "ports", "images",
    ] {
        assert!(props.contains_key(k), "schema lacks {k}");
    }
    let t = wotemu_topology::load(&examples().join("mixed.yml"))
        .unwrap()
        .topology;
    let yaml = wotemu_topology::to_yaml(&t);
    assert!(yaml.contains("name: caller"), "{yaml}");
}

/// A 0.6 Python file as a string, loaded through a real file (so app files are checked).
fn python_topology(text: &str) -> wotemu_topology::Topology {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.py");
    std::fs::write(&path, text).unwrap();
    wotemu_topology::load(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .topology
}

#[test]
fn the_rest_of_the_06_topology_api_is_supported() {
    let t = python_topology(
        r#"
from wotemu.config import ConfigVars, DEFAULT_CONFIG_VARS
from wotemu.enums import NETEM_CONDITIONS, NetworkConditions
from wotemu.topology.models import (Broker, BuiltinApps, Network, Node, NodeApp, Topology,
                                    TopologyDockerProxy, TopologyRedis)

assert ConfigVars.REDIS_URL.value == "REDIS_URL"

def topology():
    cloud = Network(name="cloud", netem=NETEM_CONDITIONS[NetworkConditions.FAST_3G])
    pumba = Network(name="pumba", netem=["delay --time 15 --jitter 10 --distribution normal",
                                         "rate --rate 50mbit", "loss --percent 2"])
    spare = Broker(name="spare", networks=[pumba])
    node = Node(name="cloud", app=NodeApp(path=BuiltinApps.CLOCK, http=True), networks=[cloud, pumba])
    return Topology(nodes=[node], brokers=[spare],
                    redis=TopologyRedis(enabled=False, redis_url="redis://10.0.0.5:6379"),
                    docker_proxy=TopologyDockerProxy(enabled=False, host="proxy.example"))
"#,
    );
    // A node named after its network.
    assert_eq!(t.nodes[0].name, "cloud");
    assert!(t.network("cloud").is_some());
    let c = t.network("cloud").unwrap().conditions;
    assert_eq!(
        (c.latency_ms, c.jitter_ms, c.rate_bps),
        (150.0, 50.0, Some(4_000_000))
    );
    let p = t.network("pumba").unwrap().conditions;
    assert_eq!(
        (p.latency_ms, p.jitter_ms, p.rate_bps, p.loss_pct),
        (15.0, 10.0, Some(50_000_000), 2.0)
    );
    assert!(
        t.broker("spare").is_some(),
        "a broker given to Topology(brokers=…)"
    );
    assert_eq!(t.external_redis.as_deref(), Some("redis://10.0.0.5:6379"));
    assert_eq!(
        t.external_docker_proxy.as_deref(),
        Some("tcp://proxy.example:2375/")
    );
    // The stack uses them: no Redis or proxy service, every wotemu container gets their URLs.
    let compose = wotemu_topology::compose::compose(&t);
    let services = compose["services"].as_object().unwrap();
    assert!(!services.contains_key("redis") && !services.contains_key("docker_api_proxy"));
    assert!(compose.get("secrets").is_none());
    for (name, svc) in services {
        let env = &svc["environment"];
        assert_eq!(env["REDIS_URL"], "redis://10.0.0.5:6379", "{name}");
        assert_eq!(
            env["DOCKER_PROXY_URL"], "tcp://proxy.example:2375/",
            "{name}"
        );
        assert!(env.get("REDIS_PASSWORD_FILE").is_none(), "{name}");
        let deps = svc["depends_on"].as_array().cloned().unwrap_or_default();
        assert!(
            !deps.iter().any(|d| d == "redis" || d == "docker_api_proxy"),
            "{name}: {deps:?}"
        );
    }
}

#[test]
fn bad_06_netem_arguments_and_redis_settings_are_errors_at_their_line() {
    for (body, expect) in [
        (
            r#"Network(name="n", netem=["jitter --time 5"])"#,
            "unknown command `jitter`",
        ),
        (
            r#"Network(name="n", netem=["delay --time 5 --distribution pareto"])"#,
            "--distribution normal",
        ),
        (
            r#"Network(name="n", netem=["{not json"])"#,
            "not valid JSON",
        ),
        ("TopologyRedis(enabled=False)", "explicit Redis URL"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.py");
        std::fs::write(
            &path,
            format!("from wotemu.topology.models import *\n\ndef topology():\n    x = {body}\n    return None\n"),
        )
        .unwrap();
        let e = wotemu_topology::load(&path).unwrap_err().to_string();
        assert!(e.contains(expect), "{body}: {e}");
        assert!(e.contains("t.py:4"), "{body}: {e}");
    }
}

#[test]
fn an_external_redis_url_with_credentials_is_refused() {
    let e = from_yaml_str(
        Path::new("t.yml"),
        "redis: {url: 'redis://:secret@10.0.0.5'}\nnetworks: {n: {conditions: wifi}}\nnodes:\n  a: {app: {path: clock}, networks: [n]}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("credentials") && e.contains("t.yml:1"), "{e}");
    assert!(!e.contains("secret"), "the password is not repeated: {e}");
}

#[test]
fn the_stacks_redis_can_be_named_as_06_allowed() {
    let text = |redis: &str| {
        format!("redis: {redis}\nnetworks: {{n: {{conditions: wifi}}}}\nnodes:\n  a: {{app: {{path: clock}}, networks: [n]}}\n  b: {{app: {{path: clock}}, networks: [n]}}\n")
    };
    let t = from_yaml_str(Path::new("t.yml"), &text("{host: Store}"))
        .unwrap()
        .topology;
    assert_eq!(t.redis_host.as_deref(), Some("store"));
    let doc = wotemu_topology::compose::compose(&t);
    let services = doc["services"].as_object().unwrap();
    assert!(services.contains_key("store") && !services.contains_key("redis"));
    for name in ["a", "b"] {
        assert_eq!(services[name]["environment"]["REDIS_URL"], "redis://store");
        let deps = services[name]["depends_on"].as_array().unwrap();
        assert!(deps.iter().any(|d| d == "store") && !deps.iter().any(|d| d == "redis"));
    }
    // The stop command finds it by its label.
    assert!(services["store"]["labels"]
        .as_object()
        .is_some_and(|l| l.keys().any(|k| k.ends_with(".redis"))));

    for (redis, expect) in [
        ("{host: a}", "`a` already is"),
        ("{host: gw_x}", "reserved"),
        ("{host: 'bad name'}", "cannot name the stack's Redis"),
        ("{host: s, url: 'redis://x'}", "both `url`"),
        ("{}", "neither `url` nor `host`"),
    ] {
        let e = from_yaml_str(Path::new("t.yml"), &text(redis))
            .unwrap_err()
            .to_string();
        assert!(e.contains(expect) && e.contains("t.yml:1"), "{redis}: {e}");
    }
}

/// Bursty loss in YAML: `loss: {gilbert: {p, r[, h, k]}}` (h 100 % and k 0 % by default), per direction
/// figures beside it, and what is refused: a missing figure, a percentage out of range (at its line), an
/// unknown model, and `loss_up` with bursts.
#[test]
fn bursty_loss_and_asymmetric_figures_resolve_and_are_checked() {
    let doc = |net: &str| {
        format!("networks:\n  radio: {net}\nnodes:\n  x:\n    app: {{path: clock}}\n    networks: [radio]\n")
    };
    let t = from_yaml_str(
        Path::new("t.yml"),
        &doc("{latency: 20ms, latency_up: 80ms, jitter_up: 4ms, loss: {gilbert: {p: 1%, r: 25%}}}"),
    )
    .unwrap()
    .topology;
    let c = t.network("radio").unwrap().conditions;
    let g = c.loss_gilbert.expect("a Gilbert–Elliott loss");
    assert_eq!(
        (g.p_pct, g.r_pct, g.h_pct, g.k_pct),
        (1.0, 25.0, 100.0, 0.0)
    );
    assert!((g.mean_loss_pct() - 100.0 / 26.0).abs() < 1e-9);
    assert_eq!(g.mean_burst(), Some(4.0));
    assert_eq!(
        (c.latency_up_ms, c.jitter_up_ms, c.loss_pct),
        (Some(80.0), Some(4.0), 0.0)
    );
    assert_eq!(c.one_way(true).0, 80.0);
    assert_eq!(c.one_way(false).0, 20.0);
    let refused = |net: &str| {
        let e = from_yaml_str(Path::new("t.yml"), &doc(net)).unwrap_err();
        let d = e.diagnostics().first().cloned();
        (e.to_string(), d)
    };
    // Correlated losses keep their average and come in runs: a Gilbert–Elliott chain.
    let t = from_yaml_str(
        Path::new("t.yml"),
        &doc("{loss: 2%, loss_correlation: 50%}"),
    )
    .unwrap()
    .topology;
    let g = t
        .network("radio")
        .unwrap()
        .conditions
        .loss_gilbert
        .expect("a chain");
    assert!((g.mean_loss_pct() - 2.0).abs() < 1e-9, "{g:?}");
    assert!(
        (g.mean_burst().unwrap() - 1.0 / (0.98 * 0.5)).abs() < 1e-9,
        "{g:?}"
    );
    let (text, d) = refused("{loss: {gilbert: {p: 1%, r: 25%}}, loss_correlation: 20%}");
    assert_eq!(
        d.expect("a problem").path,
        "networks.radio.loss_correlation",
        "{text}"
    );
    let (text, _) = refused("{loss: {gilbert: {p: 1%}}}");
    assert!(text.contains("missing field `r`"), "{text}");
    let (text, _) = refused("{loss: {bursts: {p: 1%}}}");
    assert!(text.contains("unknown field `bursts`"), "{text}");
    let (text, d) = refused("{loss: {gilbert: {p: 1%, r: 250%}}}");
    let d = d.expect("a located problem");
    assert_eq!(d.path, "networks.radio.loss.gilbert.r", "{text}");
    assert_eq!(d.location.map(|l| l.line), Some(2), "{text}");
    let (text, d) = refused("{loss: {gilbert: {p: 1%, r: 25%}}, loss_up: 2%}");
    assert_eq!(
        d.expect("a problem").path,
        "networks.radio.loss_up",
        "{text}"
    );
    assert!(text.contains("leave out `loss_up`"), "{text}");
}

/// Delay distributions: a named one and its correlation, delays measured by ping (which set the network's
/// latency and jitter, and what a schedule step inherits of them), their compose JSON, and what is refused
/// at its line: an unknown name, ping beside explicit latency, ping in a step, an unreadable or short file.
#[test]
fn delay_distributions_resolve_compose_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut ping = String::from("PING edge (10.0.0.1) 56(84) bytes of data.\n");
    for i in 0..100 {
        ping.push_str(&format!(
            "64 bytes from 10.0.0.1: icmp_seq={i} ttl=64 time={} ms\n",
            40 + i % 20
        ));
    }
    std::fs::write(dir.path().join("edge.ping"), ping).unwrap();
    let load = |nets: &str| {
        let path = dir.path().join("t.yml");
        std::fs::write(
            &path,
            format!(
                "networks:\n{nets}nodes:\n  x:\n    app: {{path: clock}}\n    networks: [radio]\n"
            ),
        )
        .unwrap();
        wotemu_topology::load(&path)
    };
    let t =
        load("  radio: {latency: 100ms, jitter: 20ms, distribution: pareto, correlation: 25%}\n")
            .unwrap()
            .topology;
    let c = t.network("radio").unwrap().conditions;
    assert_eq!(c.distribution, Distribution::Pareto);
    assert_eq!(c.correlation_pct, 25.0);
    let json = wotemu_topology::compose::conditions_json(t.network("radio").unwrap());
    assert_eq!(
        (json["distribution"].as_str(), json["correlation"].as_f64()),
        (Some("pareto"), Some(25.0))
    );

    let t = load("  radio:\n    distribution: {ping: edge.ping}\n    schedule: [{at: 10s, loss: 5%}, {at: 20s, latency: 300ms}]\n")
        .unwrap()
        .topology;
    let net = t.network("radio").unwrap();
    let c = net.conditions;
    assert_eq!(c.distribution, Distribution::Ping);
    // RTTs 40–59 ms: one way 20–29.5 ms, mean 24.75.
    assert!((c.latency_ms - 24.75).abs() < 0.05, "{}", c.latency_ms);
    assert!((c.jitter_ms - 2.88).abs() < 0.1, "{}", c.jitter_ms);
    assert_eq!(
        net.schedule[0].conditions.latency_ms, c.latency_ms,
        "a step inherits the measured latency"
    );
    assert_eq!(net.schedule[0].conditions.jitter_ms, c.jitter_ms);
    assert_eq!(
        net.schedule[1].conditions.latency_ms, 300.0,
        "a step's own latency stays"
    );
    let q = &net.ping.as_ref().unwrap().quantiles_ms;
    assert_eq!(
        (q.len(), q[0], q[q.len() - 1]),
        (wotemu_topology::ping::QUANTILES, 20.0, 29.5)
    );
    let json = wotemu_topology::compose::conditions_json(net);
    assert_eq!(json["distribution"], "ping");
    assert_eq!(
        json["ping"].as_array().map(Vec::len),
        Some(wotemu_topology::ping::QUANTILES)
    );
    // A 0.6-style Python file gives them to `Network` as keywords, with the same result.
    let py = dir.path().join("t.py");
    let py_text = r#"from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, Topology


def topology():
    radio = Network(name="radio", distribution={"ping": "edge.ping"}, correlation="10%",
                    schedule=[{"at": "10s", "loss": "5%"}, {"at": "20s", "latency": "300ms"}])
    return Topology(nodes=[Node(name="x", app=NodeApp(path=BuiltinApps.CLOCK), networks=[radio])])
"#;
    std::fs::write(&py, py_text).unwrap();
    let p = wotemu_topology::load(&py).unwrap().topology;
    let pnet = p.network("radio").unwrap();
    assert_eq!(pnet.ping, net.ping);
    assert_eq!(pnet.conditions.correlation_pct, 10.0);
    assert_eq!(
        (
            pnet.conditions.latency_ms,
            pnet.schedule[0].conditions.jitter_ms
        ),
        (c.latency_ms, c.jitter_ms)
    );

    let refused = |nets: &str| {
        let e = load(nets).unwrap_err();
        let d = e.diagnostics().first().cloned().expect("a located problem");
        (e.to_string(), d)
    };
    let (text, d) = refused("  radio: {latency: 10ms, distribution: lognormal}\n");
    assert_eq!(
        (d.path.as_str(), d.location.map(|l| l.line)),
        ("networks.radio.distribution", Some(2)),
        "{text}"
    );
    assert!(text.contains("pareto, paretonormal, uniform"), "{text}");
    let (text, _) = refused("  radio: {latency: 10ms, distribution: {ping: edge.ping}}\n");
    assert!(text.contains("leave out `latency`"), "{text}");
    let (text, d) = refused(
        "  radio:\n    latency: 10ms\n    schedule: [{at: 1s, distribution: {ping: edge.ping}}]\n",
    );
    assert_eq!(
        d.path, "networks.radio.schedule[0].distribution.ping",
        "{text}"
    );
    assert!(text.contains("belong to a network"), "{text}");
    let (text, _) = refused("  radio: {distribution: {ping: missing.ping}}\n");
    assert!(
        text.contains("cannot read the ping file `missing.ping`"),
        "{text}"
    );
    std::fs::write(dir.path().join("short.ping"), "12\n13\n").unwrap();
    let (text, _) = refused("  radio: {distribution: {ping: short.ping}}\n");
    assert!(
        text.contains("short.ping:0: it holds 2 round trips"),
        "{text}"
    );
}

/// Queue limits (packets or a duration) and fairness (fifo or per-node), in the gateway's JSON; refused at
/// their line when they are not one of those, or (a queue) where no rate makes one.
#[test]
fn queue_limits_resolve_compose_and_are_checked() {
    use wotemu_topology::model::QueueLimit;
    let doc = |net: &str| {
        format!("networks:\n  radio: {net}\nnodes:\n  x:\n    app: {{path: clock}}\n    networks: [radio]\n")
    };
    for (net, want, key) in [
        (
            "{conditions: lte, queue: 100}",
            QueueLimit::Packets(100),
            "queue_packets",
        ),
        (
            "{rate: 1mbit, queue: 250ms}",
            QueueLimit::Ms(250.0),
            "queue_ms",
        ),
    ] {
        let t = from_yaml_str(Path::new("t.yml"), &doc(net))
            .unwrap()
            .topology;
        let n = t.network("radio").unwrap();
        assert_eq!(n.conditions.queue, Some(want), "{net}");
        let json = wotemu_topology::compose::conditions_json(n);
        assert!(json[key].is_number(), "{net}: {json}");
    }
    let t = from_yaml_str(
        Path::new("t.yml"),
        &doc("{conditions: lte, fairness: per-node}"),
    )
    .unwrap()
    .topology;
    let n = t.network("radio").unwrap();
    assert_eq!(
        n.conditions.fairness,
        wotemu_topology::model::Fairness::PerNode
    );
    assert_eq!(
        wotemu_topology::compose::conditions_json(n)["fairness"],
        "per-node"
    );
    let e = from_yaml_str(
        Path::new("t.yml"),
        &doc("{conditions: lte, fairness: fair}"),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("give fifo or per-node") && e.to_string().contains("t.yml:2"),
        "{e}"
    );
    for (net, expect) in [
        ("{rate: 1mbit, queue: 0}", "drops everything"),
        (
            "{rate: 1mbit, queue: lots}",
            "give packets (`100`) or a duration",
        ),
        (
            "{latency: 10ms, queue: 100}",
            "a queue limit without a rate",
        ),
    ] {
        let e = from_yaml_str(Path::new("t.yml"), &doc(net)).unwrap_err();
        let d = e.diagnostics().first().cloned().expect("a located problem");
        assert_eq!(d.path, "networks.radio.queue", "{net}: {e}");
        assert_eq!(d.location.map(|l| l.line), Some(2), "{net}: {e}");
        assert!(e.to_string().contains(expect), "{net}: {e}");
    }
}
