//! `load_with`: overrides of a topology's document (`wotemu sweep --set`), the same for YAML and 0.6 Python
//! files, with located errors.

use wotemu_topology::{load_with, Error, Override};

use crate::common::examples;

fn set(path: &str, value: serde_json::Value) -> Override {
    Override {
        path: path.into(),
        value,
    }
}

#[test]
fn overrides_change_the_model_of_yaml_and_python_files_alike() {
    for file in ["quickstart.yml", "quickstart.py"] {
        let (loaded, yaml) = load_with(
            &examples().join(file),
            &[
                set("networks.3g.conditions", "lte".into()),
                set("nodes.reader.scale", 7.into()),
                set("nodes.reader.resources.mem_limit", "256M".into()),
                set("nodes.reader.app.params.read_sleep", 0.5.into()),
            ],
        )
        .unwrap();
        let t = &loaded.topology;
        assert_eq!(t.networks[0].conditions.latency_ms, 40.0, "{file}");
        let reader = t.nodes.iter().find(|n| n.name == "reader").unwrap();
        assert_eq!(reader.scale, 7, "{file}");
        assert_eq!(
            reader.resources.mem_limit.as_ref().unwrap().bytes,
            256 << 20,
            "{file}"
        );
        // The document after the overrides validates as it is.
        let again = wotemu_topology::from_yaml_str(std::path::Path::new("t.yml"), &yaml).unwrap();
        assert_eq!(
            again
                .topology
                .nodes
                .iter()
                .find(|n| n.name == "reader")
                .unwrap()
                .scale,
            7
        );
    }
}

#[test]
fn a_misspelt_name_or_a_bad_value_is_located() {
    let file = examples().join("quickstart.yml");
    let Err(Error::Invalid { diagnostics, .. }) =
        load_with(&file, &[set("nodes.readr.scale", 2.into())])
    else {
        panic!("a misspelt node is an error")
    };
    assert!(
        diagnostics[0]
            .message
            .contains("has no `readr` (it has: reader, server)"),
        "{diagnostics:?}"
    );
    let Err(Error::Invalid { diagnostics, .. }) =
        load_with(&file, &[set("networks.3g.conditions", "5g".into())])
    else {
        panic!("an unknown preset is an error")
    };
    let d = &diagnostics[0];
    assert!(d.message.contains("--set networks.3g.conditions"), "{d:?}");
    let loc = d.location.as_ref().expect("located in the file");
    assert_eq!(loc.line, 7, "{d:?}");
    let Err(Error::Invalid { diagnostics, .. }) =
        load_with(&file, &[set("nodes.reader.colour", "red".into())])
    else {
        panic!("an unknown field is an error")
    };
    assert!(diagnostics[0].message.contains("colour"), "{diagnostics:?}");
    assert!(load_with(&file, &[set("nodes..scale", 1.into())]).is_err());
}
