//! Compose output: snapshots of every example, YAML and Python forms agree, Docker accepts every output.

use std::process::Command;

use crate::common::{example_pairs, examples};

/// The compose document of a YAML topology given as text.
fn compose_text(text: &str) -> serde_json::Value {
    let t = wotemu_topology::from_yaml_str(std::path::Path::new("t.yml"), text)
        .unwrap()
        .topology;
    wotemu_topology::compose::compose(&t)
}

fn compose_of(path: &std::path::Path) -> String {
    let loaded = wotemu_topology::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    wotemu_topology::compose::to_yaml(&loaded.topology, "topology")
}

#[test]
fn snapshots_of_every_example() {
    for (stem, yaml, _) in example_pairs() {
        insta::assert_snapshot!(format!("compose_{stem}"), compose_of(&yaml));
    }
}

#[test]
fn python_and_yaml_forms_give_identical_compose() {
    for (stem, yaml, py) in example_pairs() {
        assert!(
            py.exists(),
            "example {stem} has no Python form {}",
            py.display()
        );
        let a = compose_of(&yaml);
        let b = compose_of(&py);
        assert!(
            a == b,
            "{stem}: YAML and Python forms differ:\n--- yaml\n{a}\n--- python\n{b}"
        );
    }
}

#[test]
fn output_is_deterministic() {
    let path = examples().join("mixed.py");
    let first = compose_of(&path);
    for _ in 0..3 {
        assert_eq!(compose_of(&path), first);
    }
}

/// Runs a docker CLI command that checks a compose file without deploying it.
fn docker_accepts(args: &[&str], file: &std::path::Path) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .arg(file)
        .args(if args[0] == "docker-compose" {
            vec!["config", "-q"]
        } else {
            vec![]
        })
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; install Docker (see scripts/setup.sh)",
                args[0]
            )
        });
    assert!(
        out.status.success(),
        "{} rejected {}:\n{}",
        args.join(" "),
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn docker_accepts_every_output() {
    let dir = tempfile::tempdir().unwrap();
    for (stem, yaml, _) in example_pairs() {
        let file = dir.path().join(format!("{stem}.yml"));
        std::fs::write(&file, compose_of(&yaml)).unwrap();
        docker_accepts(&["docker", "stack", "config", "-c"], &file);
        docker_accepts(&["docker-compose", "-f"], &file);
    }
}

#[test]
fn quickstart_matches_wotemu_06_structure() {
    let doc = wotemu_topology::compose::compose(
        &wotemu_topology::load(&examples().join("quickstart.py"))
            .unwrap()
            .topology,
    );
    let services = doc["services"].as_object().unwrap();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["docker_api_proxy", "gw_3g", "reader", "redis", "server"]
    );
    let reader = &services["reader"];
    assert_eq!(reader["deploy"]["replicas"], 4);
    assert_eq!(reader["deploy"]["resources"]["limits"]["memory"], "150M");
    assert_eq!(
        reader["depends_on"],
        serde_json::json!(["docker_api_proxy", "gw_3g", "redis"])
    );
    assert_eq!(reader["environment"]["REDIS_URL"], "redis://redis");
    assert_eq!(reader["hostname"], "{{.Task.Name}}");
    assert_eq!(
        reader["command"],
        serde_json::json!([
            "agent",
            "--path",
            "wotemu_reader",
            "--func-param",
            "servient_host",
            "server.3g",
            "--func-param",
            "thing_id",
            "urn:wotemu:quickstart:thing",
            "--route-via",
            "gw_3g"
        ])
    );
    assert_eq!(reader["deploy"]["endpoint_mode"], "dnsrr");
    // The server's app file travels as a Swarm config, mounted where its command looks.
    assert_eq!(
        doc["configs"]["app_server"]["file"],
        "apps/quickstart_server.py"
    );
    assert_eq!(
        services["server"]["configs"][0]["target"],
        services["server"]["command"][2]
    );
    let gw: serde_json::Value =
        serde_json::from_str(services["gw_3g"]["command"][4].as_str().unwrap()).unwrap();
    assert_eq!(
        gw,
        serde_json::json!({"latency": 300.0, "jitter": 150.0, "rate": "1500kbit"})
    );
    assert_eq!(doc["networks"]["3g"]["driver"], "overlay");
    assert_eq!(doc["networks"]["3g"]["name"], "3g");
    assert_eq!(doc["version"], "3.7");
}

#[test]
fn broker_network_and_linked_services_are_joined() {
    let doc = wotemu_topology::compose::compose(
        &wotemu_topology::load(&examples().join("mixed.yml"))
            .unwrap()
            .topology,
    );
    let s = &doc["services"];
    // caller is on `cellular`, its broker is reached on `cellular`; worker reaches it on field_wifi.
    assert_eq!(
        s["caller"]["environment"]["MQTT_BROKER_HOST"],
        "broker.cellular"
    );
    assert_eq!(
        s["worker"]["environment"]["MQTT_BROKER_HOST"],
        "broker.field_wifi"
    );
    assert_eq!(
        s["broker"]["networks"],
        serde_json::json!(["cellular", "field_wifi"])
    );
    assert_eq!(
        s["broker"]["depends_on"],
        serde_json::json!(["docker_api_proxy", "gw_cellular", "gw_field_wifi", "redis"])
    );
}

#[test]
fn linked_services_get_a_private_network_and_target_speed_its_capability() {
    let text = r#"
networks:
  field_wifi: {conditions: wifi}
services:
  mongo:
    image: mongo:4
    options:
      restart_policy: {condition: on-failure}
nodes:
  historian:
    app: {path: clock, http: true}
    networks: [field_wifi]
    services: [mongo]
    resources: {target_cpu_speed: 300}
"#;
    let doc = compose_text(text);
    let s = &doc["services"];
    assert_eq!(
        s["historian"]["networks"],
        serde_json::json!(["field_wifi", "srvnet_mongo_historian"])
    );
    assert_eq!(
        s["mongo"]["networks"],
        serde_json::json!(["srvnet_mongo_historian"])
    );
    assert_eq!(
        s["mongo"]["deploy"]["restart_policy"]["condition"],
        "on-failure"
    );
    assert!(s["mongo"].get("depends_on").is_none());
    assert_eq!(s["historian"]["environment"]["TARGET_CPU_SPEED"], "300");
    assert_eq!(
        s["historian"]["cap_add"],
        serde_json::json!(["NET_ADMIN", "NET_RAW", "SYS_ADMIN"])
    );
    assert_eq!(
        doc["networks"]["srvnet_mongo_historian"]["labels"]["org.fundacionctic.wotemu.servicenet"],
        ""
    );
}

#[test]
fn compose_arguments_are_deep_merged() {
    let text = r#"
networks:
  wifi:
    conditions: wifi
    compose_net: {driver_opts: {encrypted: "true"}}
    compose_gw: {deploy: {placement: {constraints: ["node.role == worker"]}}}
nodes:
  clock:
    app: {path: clock}
    networks: [wifi]
    compose:
      deploy: {placement: {constraints: ["node.labels.zone == edge"]}}
      labels: {team: iot}
      cap_add: [SYS_PTRACE]
"#;
    let doc = compose_text(text);
    let clock = &doc["services"]["clock"];
    assert_eq!(clock["deploy"]["replicas"], 1);
    assert_eq!(
        clock["deploy"]["placement"]["constraints"][0],
        "node.labels.zone == edge"
    );
    assert_eq!(clock["labels"]["team"], "iot");
    assert_eq!(clock["labels"]["org.fundacionctic.wotemu.node"], "");
    assert_eq!(
        clock["cap_add"],
        serde_json::json!(["NET_ADMIN", "NET_RAW", "SYS_PTRACE"])
    );
    assert_eq!(
        doc["services"]["gw_wifi"]["deploy"]["placement"]["constraints"][0],
        "node.role == worker"
    );
    assert_eq!(doc["networks"]["wifi"]["driver_opts"]["encrypted"], "true");
}

#[test]
fn yaml_11_booleans_are_quoted_for_docker() {
    let text = "networks: {wifi: {conditions: wifi}}\nnodes:\n  a:\n    app: {path: reader, params: {flag: \"no\", mode: \"on\"}}\n    networks: [wifi]\n";
    let t = wotemu_topology::from_yaml_str(std::path::Path::new("t.yml"), text)
        .unwrap()
        .topology;
    let out = wotemu_topology::compose::to_yaml(&t, "t.yml");
    assert!(out.contains("- 'no'\n"), "{out}");
    assert!(out.contains("- 'on'\n"), "{out}");
    assert!(out.contains("attachable: true\n"));
}

#[test]
fn python_and_yaml_forms_give_the_same_scenario_and_traces() {
    let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for stem in ["scenario", "trace"] {
        let y = wotemu_topology::load(&ex.join(format!("{stem}.yml")))
            .unwrap()
            .topology;
        let p = wotemu_topology::load(&ex.join(format!("{stem}.py")))
            .unwrap()
            .topology;
        assert_eq!(y.scenario, p.scenario, "{stem}");
        let traces = |t: &wotemu_topology::model::Topology| {
            t.networks
                .iter()
                .map(|n| n.trace.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(traces(&y), traces(&p), "{stem}");
    }
    let s = wotemu_topology::load(&ex.join("scenario.yml"))
        .unwrap()
        .topology;
    assert_eq!(s.scenario.len(), 4);
    let t = wotemu_topology::load(&ex.join("trace.yml"))
        .unwrap()
        .topology;
    assert!(t
        .networks
        .iter()
        .all(|n| n.trace.as_ref().is_some_and(|t| t.points.len() >= 60)));
}

#[test]
fn a_scenario_becomes_the_stacks_scenario_service() {
    let t = wotemu_topology::load(&examples().join("scenario.yml"))
        .unwrap()
        .topology;
    let doc = wotemu_topology::compose::compose(&t);
    let svc = &doc["services"]["scenario"];
    assert_eq!(
        svc["deploy"]["placement"]["constraints"][0],
        "node.role == manager"
    );
    assert_eq!(
        svc["volumes"][0],
        "/var/run/docker.sock:/var/run/docker.sock"
    );
    assert_eq!(svc["secrets"][0], wotemu_topology::compose::PASSWORD_SECRET);
    assert!(svc["labels"]
        .as_object()
        .unwrap()
        .contains_key(&format!("{}.scenario", wotemu_contract::LABEL)));
    let command: Vec<&str> = svc["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(command[..2], ["scenario", "--events"]);
    // The events travel whole: the service reads back exactly the validated scenario.
    let events: Vec<wotemu_topology::model::ScenarioEvent> =
        serde_json::from_str(command[2]).unwrap();
    assert_eq!(events, t.scenario);
    assert_eq!(command[3..], ["--node=reader", "--node=server"]);
    // Without a scenario, no such service.
    let quick = wotemu_topology::load(&examples().join("quickstart.yml"))
        .unwrap()
        .topology;
    assert!(wotemu_topology::compose::compose(&quick)["services"]
        .get("scenario")
        .is_none());
}

/// A network with more tasks than Docker's default /24 holds gets a /16 of its own (and Docker accepts it);
/// a small one keeps Docker's default, and a scenario's scale-up counts.
#[test]
fn a_network_of_hundreds_of_replicas_gets_a_subnet_that_holds_them() {
    let text = |scale: u32, scenario: &str| {
        format!(
            "networks:\n  lte: {{conditions: lte}}\n  wifi: {{conditions: wifi}}\nnodes:\n  server:\n    app: {{path: clock, http: true}}\n    networks: [lte, wifi]\n  reader:\n    app: {{path: reader, params: {{servient_host: server.lte}}}}\n    networks: [lte]\n    scale: {scale}\n{scenario}"
        )
    };
    let big = compose_text(&text(300, ""));
    assert_eq!(
        big["networks"]["lte"]["ipam"]["config"][0]["subnet"],
        "10.128.0.0/16"
    );
    assert!(big["networks"]["wifi"].get("ipam").is_none());
    let small = compose_text(&text(200, ""));
    assert!(small["networks"]["lte"].get("ipam").is_none());
    let scaled = compose_text(&text(
        4,
        "scenario:\n  - {at: 10s, scale: {node: reader, replicas: 400}}\n",
    ));
    assert_eq!(
        scaled["networks"]["lte"]["ipam"]["config"][0]["subnet"],
        "10.128.0.0/16"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.yml");
    let t = wotemu_topology::from_yaml_str(std::path::Path::new("t.yml"), &text(300, ""))
        .unwrap()
        .topology;
    std::fs::write(&file, wotemu_topology::compose::to_yaml(&t, "topology")).unwrap();
    docker_accepts(&["docker", "stack", "config", "-c"], &file);
}

#[test]
fn placement_puts_nodes_brokers_and_gateways_on_hosts_in_both_forms() {
    let ex = examples();
    let yaml = wotemu_topology::load(&ex.join("many_hosts.yml"))
        .unwrap()
        .topology;
    let py = wotemu_topology::load(&ex.join("many_hosts.py"))
        .unwrap()
        .topology;
    let (y, p) = (
        wotemu_topology::compose::compose(&yaml),
        wotemu_topology::compose::compose(&py),
    );
    for svc in ["server", "reader", "gw_3g"] {
        assert_eq!(
            y["services"][svc]["deploy"]["placement"], p["services"][svc]["deploy"]["placement"],
            "{svc}"
        );
    }
    assert_eq!(
        y["services"]["server"]["deploy"]["placement"],
        serde_json::json!({"constraints": ["node.labels.wotemu.host == manager"]})
    );
    assert_eq!(
        y["services"]["gw_3g"]["deploy"]["placement"],
        serde_json::json!({"constraints": ["node.labels.wotemu.host == worker-2"]})
    );
    assert_eq!(
        y["services"]["reader"]["deploy"]["placement"],
        serde_json::json!({
            "constraints": ["node.role == worker"],
            "preferences": [{"spread": "node.labels.wotemu.host"}],
        })
    );
    assert_eq!(yaml.placed(), ["gw_3g", "reader", "server"]);

    // A broker's placement, and compose arguments that add a constraint of their own (both are kept).
    let doc = compose_text(
        r#"
networks: {wifi: {conditions: wifi}}
brokers:
  mqtt:
    networks: [wifi]
    placement: {host: worker-1, constraints: ["node.platform.os==linux"]}
    compose: {deploy: {placement: {constraints: ["node.labels.zone == edge"]}}}
nodes:
  clock: {app: {path: clock}, networks: [wifi]}
"#,
    );
    assert_eq!(
        doc["services"]["mqtt"]["deploy"]["placement"]["constraints"],
        serde_json::json!([
            "node.labels.wotemu.host == worker-1",
            "node.platform.os == linux",
            "node.labels.zone == edge"
        ])
    );
    assert!(doc["services"]["clock"]["deploy"]
        .get("placement")
        .is_none());
}

#[test]
fn images_take_the_registry_prefix_they_were_pushed_under() {
    let mut t = wotemu_topology::from_yaml_str(
        std::path::Path::new("t.yml"),
        "images: {redis: example.org/redis:7}\nnetworks: {wifi: {conditions: wifi}}\nnodes: {a: {app: {path: clock}, networks: [wifi]}}\n",
    )
    .unwrap()
    .topology;
    t.images.with_prefix("127.0.0.1:5000/wotemu/");
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(t.images.wotemu, format!("127.0.0.1:5000/wotemu/wotemu:{v}"));
    assert_eq!(
        t.images.docker_api_proxy,
        format!("127.0.0.1:5000/wotemu/docker-api-proxy:{v}")
    );
    assert_eq!(t.images.redis, "example.org/redis:7");
}
