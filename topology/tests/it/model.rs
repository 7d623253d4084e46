//! The validated model: presets, conditions, schedules, defaults, warnings.

use std::path::Path;

use wotemu_topology::model::{AppSource, BuiltinApp, Preset};
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
