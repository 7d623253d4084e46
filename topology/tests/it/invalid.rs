//! Every rule: each file in `tests/invalid/` fails with its exact message (snapshots) and kind.

use std::path::Path;

use wotemu_topology::Kind;

use crate::common::stable;

fn error_of(name: &str) -> wotemu_topology::Error {
    let path = Path::new("tests/invalid").join(name);
    match wotemu_topology::load(&path) {
        Ok(_) => panic!("{name} should be rejected"),
        Err(e) => e,
    }
}

#[test]
fn every_invalid_file_has_its_exact_message() {
    let mut names: Vec<String> = std::fs::read_dir("tests/invalid")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 20);
    for name in names {
        let e = error_of(&name);
        insta::assert_snapshot!(
            format!("invalid_{}", name.replace('.', "_")),
            stable(&e.to_string())
        );
    }
}

fn kinds(name: &str) -> Vec<Kind> {
    error_of(name)
        .diagnostics()
        .iter()
        .map(|d| d.kind)
        .collect()
}

#[test]
fn each_rule_has_its_kind_and_location() {
    let cases = [
        ("unknown_network.yml", Kind::UnknownNetwork),
        ("unknown_broker.yml", Kind::UnknownBroker),
        ("mqtt_without_broker.yml", Kind::MqttWithoutBroker),
        (
            "broker_network_not_of_broker.yml",
            Kind::BrokerNetworkNotOfBroker,
        ),
        ("duplicate_names.yml", Kind::DuplicateName),
        ("invalid_name.yml", Kind::InvalidName),
        ("reserved_name.yml", Kind::ReservedName),
        ("bad_size.yml", Kind::BadValue),
        ("cpu_limit_and_target.yml", Kind::CpuLimitAndTargetSpeed),
        ("reorder_without_latency.yml", Kind::ReorderWithoutLatency),
        ("schedule_order.yml", Kind::ScheduleOrder),
        ("unknown_preset.yml", Kind::UnknownPreset),
        ("no_nodes.yml", Kind::NoNodes),
        ("missing_app_file.yml", Kind::MissingAppFile),
        ("bad_trace.yml", Kind::BadTrace),
        ("bad_scenario.yml", Kind::BadScenario),
    ];
    for (file, kind) in cases {
        let e = error_of(file);
        let d = e.diagnostics();
        let mut found: Vec<Kind> = d.iter().map(|d| d.kind).collect();
        found.dedup();
        assert_eq!(found, [kind], "{file}");
        let loc = d[0]
            .location
            .as_ref()
            .unwrap_or_else(|| panic!("{file}: no location"));
        assert!(loc.line > 0 && loc.column > 0, "{file}: {loc}");
        assert!(
            d[0].hint.is_some() || kind == Kind::BadValue,
            "{file}: no hint"
        );
    }
    assert_eq!(
        kinds("service_links.yml"),
        [Kind::UnknownService, Kind::ServiceNotLinked]
    );
}

#[test]
fn the_issue_examples_point_at_the_offending_value() {
    // `Factory LAN`, which 0.6 let through to Docker.
    let e = error_of("invalid_name.yml");
    let d = &e.diagnostics()[0];
    assert_eq!(
        d.location.as_ref().unwrap().to_string(),
        "tests/invalid/invalid_name.yml:2:3"
    );
    assert!(d.message.contains("`factory lan`"));
    assert_eq!(d.hint.as_deref(), Some("rename it, e.g. `factory_lan`"));
    // `mem_limit: 150Q`.
    let e = error_of("bad_size.yml");
    let d = e
        .diagnostics()
        .iter()
        .find(|d| d.path == "nodes.reader.resources.mem_limit")
        .unwrap();
    assert_eq!(
        d.location.as_ref().unwrap().to_string(),
        "tests/invalid/bad_size.yml:8:7"
    );
    // A typo gets a suggestion.
    let e = error_of("unknown_network.yml");
    assert_eq!(
        e.diagnostics()[0].hint.as_deref(),
        Some("did you mean `wifi`? known networks: lte, wifi")
    );
}

#[test]
fn every_scenario_mistake_is_located() {
    let e = error_of("bad_scenario.yml");
    let found: Vec<(String, String)> = e
        .diagnostics()
        .iter()
        .map(|d| (d.location.as_ref().unwrap().to_string(), d.message.clone()))
        .collect();
    let at = |line: u32| format!("tests/invalid/bad_scenario.yml:{line}:");
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(
        found[0].0.starts_with(&at(9)) && found[0].1 == "unknown node `reder`",
        "{found:#?}"
    );
    assert!(
        found[1].0.starts_with(&at(10)) && found[1].1.contains("replicas 1 to 2"),
        "{found:#?}"
    );
    assert!(
        found[2].0.starts_with(&at(11)) && found[2].1 == "unknown network `4g`",
        "{found:#?}"
    );
    assert!(
        found[3].0.starts_with(&at(12)) && found[3].1.contains("a share must be more than 0 %"),
        "{found:#?}"
    );
    assert!(
        found[4].0.starts_with(&at(13)) && found[4].1.contains("takes no `for`"),
        "{found:#?}"
    );
}

#[test]
fn a_trace_problem_names_the_trace_file_and_its_line() {
    let e = error_of("bad_trace.yml");
    let d = &e.diagnostics()[0];
    assert_eq!(d.path, "networks.cell.trace");
    assert_eq!(
        d.location.as_ref().unwrap().to_string(),
        "tests/invalid/bad_trace.yml:4:5"
    );
    assert!(d.message.ends_with("bad.csv:3: `delay`: `fast` is not a duration; write milliseconds (`300`) or a number with us, ms, s or m (`300ms`, `1.5s`)"), "{}", d.message);
}

#[test]
fn shape_errors_have_line_and_column() {
    for (file, kind, at) in [
        ("unknown_field.yml", Kind::UnknownField, "7:5"),
        ("wrong_type.yml", Kind::WrongType, "7:12"),
    ] {
        let e = error_of(file);
        let d = &e.diagnostics()[0];
        assert_eq!(d.kind, kind, "{file}");
        let l = d
            .location
            .as_ref()
            .unwrap_or_else(|| panic!("{file}: no location"));
        assert_eq!(format!("{}:{}", l.line, l.column), at, "{file}");
    }
    match error_of("yaml_syntax.yml") {
        wotemu_topology::Error::Syntax {
            location: Some(l), ..
        } => assert_eq!(format!("{}:{}", l.line, l.column), "3:6"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_type_error_does_not_hide_the_files_other_problems() {
    let e = error_of("many_problems.yml");
    let found: Vec<(Kind, &str)> = e
        .diagnostics()
        .iter()
        .map(|d| (d.kind, d.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Kind::WrongType, "nodes.reader.scale"),
            (Kind::WrongType, "nodes.server.resources.mem_limit"),
            (Kind::BadValue, "networks.lan.rate"),
            (Kind::BadValue, "networks.lan.loss"),
            (Kind::UnknownNetwork, "nodes.reader.networks[1]"),
        ],
        "{e}"
    );
    for d in e.diagnostics() {
        assert!(d.location.is_some(), "{d}");
    }
}

#[test]
fn every_malformed_placement_is_refused_where_it_is_written() {
    let e = error_of("bad_placement.yml");
    let found: Vec<(String, String)> = e
        .diagnostics()
        .iter()
        .map(|d| {
            assert_eq!(d.kind, Kind::BadValue, "{d:?}");
            assert!(d.hint.is_some(), "{d:?}");
            (d.path.clone(), d.location.as_ref().unwrap().to_string())
        })
        .collect();
    let f = "tests/invalid/bad_placement.yml";
    assert_eq!(
        found,
        [
            (
                "networks.wifi.placement_gw.host".into(),
                format!("{f}:4:20")
            ),
            (
                "nodes.reader.compose.deploy.placement.constraints[0]".into(),
                format!("{f}:13:42")
            ),
            (
                "nodes.reader.placement.constraints[0]".into(),
                format!("{f}:10:21")
            ),
            (
                "nodes.reader.placement.constraints[1]".into(),
                format!("{f}:10:40")
            ),
            (
                "nodes.reader.placement.constraints[2]".into(),
                format!("{f}:10:60")
            ),
            (
                "nodes.reader.placement.preferences[0].spread".into(),
                format!("{f}:11:22")
            ),
        ] as [(String, String); 6]
    );
}

#[test]
fn python_errors_name_the_line() {
    let e = error_of("python_invalid.py");
    let lines: Vec<usize> = e
        .diagnostics()
        .iter()
        .map(|d| d.location.as_ref().unwrap().line)
        .collect();
    assert_eq!(lines, [20, 14, 9]);
    match error_of("python_raises.py") {
        wotemu_topology::Error::Python {
            location: Some(l),
            message,
            traceback: Some(tb),
            ..
        } => {
            assert_eq!(l.line, 8);
            assert_eq!(message, "IndexError: list index out of range");
            assert!(tb.contains("in topology"), "{tb}");
        }
        other => panic!("{other:?}"),
    }
    match error_of("python_syntax.py") {
        wotemu_topology::Error::Python {
            location: Some(l),
            message,
            ..
        } => {
            assert_eq!((l.line, l.column), (3, 15));
            assert!(message.starts_with("SyntaxError"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_extension_and_missing_file() {
    let e = wotemu_topology::load(Path::new("tests/it/main.rs")).unwrap_err();
    assert!(
        e.to_string()
            .contains("use a .yml/.yaml file or a WoTemu 0.6 .py file"),
        "{e}"
    );
    let e = wotemu_topology::load(Path::new("tests/nope.yml")).unwrap_err();
    assert!(matches!(e, wotemu_topology::Error::Io { .. }), "{e:?}");
}

#[test]
fn an_absolute_app_path_of_a_node_with_its_own_image_is_a_file_in_that_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.yml");
    std::fs::write(
        &path,
        "networks: {wifi: {conditions: wifi}}\nnodes:\n  gauge:\n    image: me/gauge:1\n    app: {path: /apps/gauge.py}\n    networks: [wifi]\n",
    )
    .unwrap();
    let t = wotemu_topology::load(&path).unwrap().topology;
    assert_eq!(
        t.nodes[0].app.source,
        wotemu_topology::model::AppSource::Image("/apps/gauge.py".into())
    );
    let compose = wotemu_topology::compose::compose(&t);
    assert!(compose["configs"].get("app_gauge").is_none(), "{compose}");
    assert_eq!(compose["services"]["gauge"]["command"][2], "/apps/gauge.py");
}
