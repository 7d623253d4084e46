//! `wotemu compose`, `wotemu topology …`, `wotemu schema topology` as a user runs them.

use std::path::Path;

use crate::util::{stderr, stdout, wotemu};

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn compose_writes_beside_the_topology_as_06_did() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "quickstart.py",
        "quickstart.yml",
        "apps/quickstart_server.py",
    ] {
        std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
        std::fs::copy(examples().join(f), dir.path().join(f)).unwrap();
    }
    // The default output of quickstart.py is quickstart.yml, here a topology: refused, not overwritten.
    let o = wotemu()
        .args(["compose", "--path"])
        .arg(dir.path().join("quickstart.py"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a compose file written by wotemu"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(dir.path().join("quickstart.yml")).unwrap();
    let o = wotemu()
        .args(["compose", "--seed", "7", "--path"])
        .arg(dir.path().join("quickstart.py"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("seed 7).\nDeploy it with: docker stack deploy -c"),
        "{}",
        stdout(&o)
    );
    let from_py = std::fs::read_to_string(dir.path().join("quickstart.yml")).unwrap();
    assert!(from_py.contains("gw_3g:"));
    // The seed is on the stack's Redis (for the manifest) and each gateway has its network's own.
    let net_seed = wotemu_topology::compose::network_seed(7, "3g");
    assert!(from_py.contains("wotemu.seed: '7'"), "{from_py}");
    assert!(
        from_py.contains(&format!("\"seed\":{net_seed}}}")),
        "{from_py}"
    );
    // Its own output is overwritten on the next run, also when both are named as bare file names in the
    // current directory (whose parent is the empty path).
    let o = wotemu()
        .current_dir(dir.path())
        .args([
            "compose",
            "--seed",
            "7",
            "--path",
            "quickstart.py",
            "--output",
            "quickstart.yml",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("quickstart.yml")).unwrap(),
        from_py
    );
    // A YAML topology is not overwritten: its compose file is FILE.compose.yml.
    std::fs::copy(
        examples().join("quickstart.yml"),
        dir.path().join("quickstart.yml"),
    )
    .unwrap();
    let o = wotemu()
        .args(["compose", "--seed", "7", "--json", "-p"])
        .arg(dir.path().join("quickstart.yml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["replicas"], 5);
    assert_eq!(v["services"], 5);
    assert_eq!(v["seed"], 7);
    let from_yaml = std::fs::read_to_string(dir.path().join("quickstart.compose.yml")).unwrap();
    assert_eq!(
        from_py.lines().skip(1).collect::<Vec<_>>(),
        from_yaml.lines().skip(1).collect::<Vec<_>>(),
        "both forms give the same stack"
    );
    // -o - prints it; the stack's password file is made beside the topology.
    std::fs::copy(examples().join("mixed.yml"), dir.path().join("mixed.yml")).unwrap();
    let o = wotemu()
        .args(["compose", "-o", "-", "--path"])
        .arg(dir.path().join("mixed.yml"))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).contains("broker:"));
    assert!(dir.path().join("mixed.redis-password").exists());
}

#[test]
fn validate_lists_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yml");
    std::fs::write(
        &file,
        "networks:\n  Factory LAN: {conditions: cable}\nnodes:\n  reader:\n    app: {path: reader}\n    networks: [Factory LAN]\n    resources: {mem_limit: 150Q}\n",
    )
    .unwrap();
    let o = wotemu()
        .args(["topology", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("the topology has 2 problems"), "{err}");
    assert!(
        err.contains("bad.yml:2:3: network name `Factory LAN`"),
        "{err}"
    );
    assert!(
        err.contains("bad.yml:7:30: `150Q` is not a memory size") || err.contains("bad.yml:7:"),
        "{err}"
    );
    assert!(err.contains("hint: rename it, e.g. `factory_lan`"), "{err}");

    let o = wotemu()
        .args(["topology", "validate", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["kind"], "invalid_name");
    assert!(v["errors"][0]["location"]
        .as_str()
        .unwrap()
        .ends_with("bad.yml:2:3"));

    let o = wotemu()
        .args(["topology", "validate"])
        .arg(examples().join("mixed.py"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("is valid: 6 nodes (9 replicas), 3 networks, 1 broker, 0 services"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn show_and_schema_print_machine_readable_output() {
    let o = wotemu()
        .args(["topology", "show", "--json"])
        .arg(examples().join("conditions.py"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rural = v["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "rural")
        .unwrap();
    assert_eq!(rural["conditions"]["rate_up_bps"], 2_000_000);
    assert_eq!(rural["schedule"][0]["preset"], "gprs");

    let o = wotemu().args(["schema", "topology"]).output().unwrap();
    assert!(o.status.success());
    let schema: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(schema["properties"]["nodes"].is_object());
}
