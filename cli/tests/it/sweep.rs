//! `wotemu sweep` and `wotemu compare` end to end: a real sweep of the quickstart on this host (needs root),
//! its comparison site in headless Chromium, resuming, gates and their exit codes, and what is rejected
//! before anything runs.

use std::path::Path;

use serde_json::Value;

use crate::run::repo;
use crate::util::{stderr, stdout, wotemu};

fn sweep(out: &Path) -> std::process::Command {
    let mut c = wotemu();
    c.arg("sweep")
        .arg(repo().join("examples/quickstart.yml"))
        .args([
            "--set",
            "networks.3g.conditions=regular_3g,lte",
            "--set",
            "nodes.reader.scale=2,4",
            // One value: the same in every combination (and not in the names). Reads back to back give
            // the 3G runs enough interactions for intervals in a short run.
            "--set",
            "nodes.reader.app.params.read_sleep=0.1",
            "--duration",
            "30s",
            "--out",
        ])
        .arg(out)
        .env("WOTEMU_VENV", repo().join(".venv"));
    c
}

const NAMES: [&str; 4] = [
    "conditions-regular_3g--scale-2",
    "conditions-regular_3g--scale-4",
    "conditions-lte--scale-2",
    "conditions-lte--scale-4",
];

#[test]
fn a_sweep_of_the_quickstart_compares_3g_and_lte_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = sweep(&out).output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        said.contains("[4/4]") && said.contains("Between combinations"),
        "{said}"
    );
    for n in NAMES {
        let d = out.join(n);
        assert!(d.join("manifest.json").exists(), "{n}");
        assert!(d.join("site/index.html").exists(), "{n}");
        let marker: Value =
            serde_json::from_slice(&std::fs::read(d.join("sweep.json")).unwrap()).unwrap();
        assert_eq!(marker["status"], "complete", "{n}");
        let topo = std::fs::read_to_string(d.join("topology.yml")).unwrap();
        assert!(
            topo.contains(if n.contains("lte") {
                "lte"
            } else {
                "regular_3g"
            }),
            "{topo}"
        );
    }
    // Each run ran its combination: the scale is in its tasks.
    let tasks = |n: &str| -> usize {
        let m = wotemu_contract::Manifest::read(&out.join(n)).unwrap();
        m.tables
            .get(&wotemu_contract::Table::Tasks)
            .map_or(0, |t| t.rows as usize)
    };
    assert!(
        tasks(NAMES[1]) >= tasks(NAMES[0]) + 2,
        "scale 4 has two more readers"
    );
    // LTE's reads are significantly faster than 3G's.
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("compare/compare.json")).unwrap()).unwrap();
    assert_eq!(json["baseline"], NAMES[0]);
    let lte = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["label"] == NAMES[2])
        .unwrap();
    let reads: Vec<&Value> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["verb"] == "readproperty")
        .collect();
    assert!(!reads.is_empty());
    for g in reads {
        let ch = &g["runs"][lte]["change"]["p50"];
        assert_eq!(ch["significant"], true, "{g}");
        assert!(ch["delta"].as_f64().unwrap() < 0.0, "{g}");
    }
    // The gateway of each run is a node whose drops are counted; other nodes have none to count.
    for r in json["runs"].as_array().unwrap() {
        let gw = &r["nodes"]["gw_3g"];
        assert!(gw["dropped_loss"].as_u64().is_some(), "{gw}");
        assert!(gw["dropped_overflow"].as_u64().is_some(), "{gw}");
        assert!(r["nodes"]["server"]["dropped_loss"].is_null());
    }
    // A drops gate reads them: a run cannot drop more than it received.
    let gate = wotemu()
        .args(["compare", "--fail-if", "drops(gw_3g) > 10000000", "--out"])
        .arg(out.join("gate-site"))
        .args(NAMES.map(|n| out.join(n)))
        .output()
        .unwrap();
    assert!(gate.status.success(), "{}", stderr(&gate));
    // Every page renders in headless Chromium, with its charts and no network request.
    let site = out.join("compare");
    let (_, charts) = wotemu_testkit::browser::check_page(&site.join("index.html"));
    assert_eq!(charts, 2);
    let (dom, charts) = wotemu_testkit::browser::check_page(&site.join("sweep.html"));
    assert!(charts >= 8, "{charts}");
    assert!(dom.contains("networks.3g.conditions") && dom.contains("nodes.reader.scale"));
    for g in std::fs::read_dir(site.join("groups")).unwrap().flatten() {
        wotemu_testkit::browser::check_page(&g.path());
    }
    // Run again: every combination is done, nothing runs.
    let stamp = std::fs::metadata(out.join(NAMES[0]).join("manifest.json"))
        .unwrap()
        .modified()
        .unwrap();
    let o = sweep(&out).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        !said.contains("[1/4]") && !said.contains("Running "),
        "{said}"
    );
    assert_eq!(
        std::fs::metadata(out.join(NAMES[0]).join("manifest.json"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp
    );
    // The same datasets as a regression gate: 3G against LTE is slower (exit 4, named); LTE against 3G holds.
    let gate = "p95(readproperty) > 1.10 * baseline";
    let o = wotemu()
        .arg("compare")
        .arg(out.join(NAMES[2]))
        .arg(out.join(NAMES[0]))
        .args(["--fail-if", gate, "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(gate) && err.contains(NAMES[0]) && err.contains("threshold"),
        "{err}"
    );
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["gates"][0]["violated"], true);
    let o = wotemu()
        .arg("compare")
        .arg(out.join(NAMES[0]))
        .arg(out.join(NAMES[2]))
        .args(["--fail-if", gate, "--out"])
        .arg(dir.path().join("gate-site"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.path().join("gate-site/index.html").exists());
    // `--baseline` names the baseline whatever the order: the LTE run, listed second, against which the 3G
    // run listed first is slower.
    let o = wotemu()
        .arg("compare")
        .arg(out.join(NAMES[0]))
        .arg(out.join(NAMES[2]))
        .arg("--baseline")
        .arg(out.join(NAMES[2]))
        .args(["--fail-if", gate, "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        j["baseline"]
            .as_str()
            .is_some_and(|b| b.ends_with(NAMES[2])),
        "{j:#}"
    );
    assert!(stderr(&o).contains(NAMES[0]), "{}", stderr(&o));
}

#[test]
fn a_sweep_rejects_what_would_not_run_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let base = |set: &str| {
        let mut c = wotemu();
        c.arg("sweep")
            .arg(repo().join("examples/quickstart.yml"))
            .args(["--set", set, "--duration", "5s", "--out"])
            .arg(&out);
        c
    };
    let o = base("nodes.readr.scale=2,4").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("has no `readr`") && err.contains("reader"),
        "{err}"
    );
    let o = base("nodes.reader.scale=2,lots").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("quickstart.yml:") && err.contains("--set nodes.reader.scale"),
        "{err}"
    );
    let o = base("networks.3g.conditions=regular_3g,5g")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("5g"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing ran");
    let o = base("networks.3g.conditions=regular_3g,lte")
        .args([
            "--set",
            "nodes.reader.scale=2,4",
            "--repeat",
            "2",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(said.contains("8 combinations (8 to run)"), "{said}");
    assert!(said.contains("conditions-lte--scale-4-r2"), "{said}");
    assert!(!out.exists(), "a dry run runs nothing");
}

#[test]
fn a_malformed_gate_is_a_usage_error_with_its_position() {
    let o = wotemu()
        .args(["compare", "a", "b", "--fail-if", "p95(*) >> 1.1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("column 9") && err.contains('^'), "{err}");
    let o = wotemu()
        .args(["compare", "/nonexistent/a", "/nonexistent/b"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a run dataset"), "{}", stderr(&o));
}

/// `--repeat 2` runs the combination twice (`run-r1`, `run-r2`); Ctrl-C during the second run stops the
/// sweep (exit 130) with that run collected but marked interrupted, and the same command again moves it
/// aside, runs it again, and compares both repeats. An own state root: the runs are this test's.
#[test]
fn a_repeated_sweep_stopped_by_ctrl_c_goes_on_when_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let root = dir.path().join("state");
    let start = || {
        let mut c = wotemu();
        c.arg("sweep")
            .arg(repo().join("examples/quickstart.yml"))
            .args(["--set", "nodes.reader.scale=1", "--repeat", "2"])
            .args(["--duration", "8s", "--out"])
            .arg(&out)
            .env("WOTEMU_STATE_DIR", &root)
            .env("WOTEMU_VENV", repo().join(".venv"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let child = start().spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while crate::faults::state_in(&root, &out.join("run-r2"))
        .is_none_or(|s| s["phase"] != "running")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the second repeat did not start running"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}\n{}", stdout(&o), stderr(&o));
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        said.contains("Stopped. 1 of 2 combinations are done"),
        "{said}"
    );
    let marker = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(out.join(name).join("sweep.json")).unwrap()).unwrap()
    };
    assert_eq!(marker("run-r1")["status"], "complete");
    assert_eq!(marker("run-r2")["status"], "interrupted");
    assert!(
        out.join("run-r2/manifest.json").exists(),
        "the interrupted run is collected"
    );

    let o = start().output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        said.contains("[2/2]") && !said.contains("[1/2]"),
        "only the interrupted repeat runs again: {said}"
    );
    for (name, repeat) in [("run-r1", 1), ("run-r2", 2)] {
        assert_eq!(marker(name)["status"], "complete", "{name}");
        assert_eq!(marker(name)["repeat"], repeat, "{name}");
    }
    let aside: Vec<_> = std::fs::read_dir(out.join(".interrupted"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        aside.len() == 1 && aside[0].starts_with("run-r2-"),
        "the interrupted run is kept aside: {aside:?}"
    );
    assert!(out.join("compare/index.html").exists());
}
