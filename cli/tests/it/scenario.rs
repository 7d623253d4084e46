//! Scenarios in one-host runs (real namespaces, real processes): a replica killed and restarted, a network
//! partitioned, a replica paused, each done on time, recorded in the dataset and shown in the report; a
//! scenario past the end of the run, or with contradictory events, is refused. Needs root.

use std::path::Path;

use serde_json::Value;
use wotemu_contract::Table;

use crate::rows::rows;
use crate::run::{leftovers, repo, run_cmd, run_id};
use crate::util::{stderr, stdout, wotemu};

/// The quickstart's server and two readers on 3G (one host), with `scenario` (YAML list items), written as
/// `name` in `dir`.
pub(crate) fn topology_with(dir: &Path, name: &str, scenario: &str) -> std::path::PathBuf {
    let server = repo().join("examples/apps/quickstart_server.py");
    let text = format!(
        r#"networks:
  3g:
    conditions: fast_3g
nodes:
  server:
    app: {{path: {}, http: true}}
    networks: [3g]
  reader:
    app:
      path: reader
      params: {{servient_host: server.3g, thing_id: "urn:wotemu:quickstart:thing", read_sleep: "0.5"}}
    networks: [3g]
    scale: 2
scenario:
{scenario}"#,
        server.display()
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn topology(dir: &Path) -> std::path::PathBuf {
    topology_with(
        dir,
        "scenario.yml",
        r#"  - at: 5s
    restart: reader.2
  - at: 8s
    kill: reader.1
  - at: 14s
    for: 8s
    partition: {network: 3g}
  - at: 28s
    for: 4s
    pause: reader.2
  - at: 33s
    for: 5s
    stress: {node: server, cpu: 100%}
"#,
    )
}

#[test]
fn kills_partitions_and_pauses_happen_on_time_and_are_in_the_dataset_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(dir.path());
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "40s").output().unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let id = run_id(&stdout(&o));

    // Eight steps: the restart, the kill, the partition and its end, the pause and its end, the stress and
    // its end; each within 100 ms of its plan.
    let ev: Vec<Value> = rows(&out, Table::Timeline)
        .into_iter()
        .filter(|e| e["kind"] == "scenario")
        .collect();
    let what: Vec<(String, String)> = ev
        .iter()
        .map(|e| {
            let d: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
            (
                d["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        what,
        [
            ("restart".to_owned(), "node reader.2".to_owned()),
            ("kill".to_owned(), "node reader.1".to_owned()),
            ("partition".to_owned(), "network 3g".to_owned()),
            ("reconnect".to_owned(), "network 3g".to_owned()),
            ("pause".to_owned(), "node reader.2".to_owned()),
            ("resume".to_owned(), "node reader.2".to_owned()),
            ("stress".to_owned(), "node server".to_owned()),
            ("unstress".to_owned(), "node server".to_owned()),
        ]
    );
    for e in &ev {
        assert!(e["error"].is_null(), "{e}");
        let late = e["time"].as_i64().unwrap() - e["planned"].as_i64().unwrap();
        assert!((0..100_000).contains(&late), "{late} µs late: {e}");
    }
    // Skip the restart: the indices below are the kill's and what follows.
    let at = |i: usize| ev[i + 1]["planned"].as_i64().unwrap();

    // The killed reader was restarted under a new task name and reads again.
    let inter = rows(&out, Table::Interactions);
    let tasks = rows(&out, Table::Tasks);
    let slot1: Vec<&str> = tasks
        .iter()
        .filter(|t| t["node"] == "reader" && t["slot"] == 1)
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(slot1.len(), 2, "{tasks:#?}");
    let restarted = slot1
        .iter()
        .find(|t| t.ends_with("r1"))
        .expect("the restarted task");
    assert!(
        inter.iter().any(|r| r["task"] == *restarted
            && r["ok"] == true
            && r["time"].as_i64().unwrap() > at(0)),
        "the restarted reader reads"
    );
    // While the network is partitioned nothing gets through (from a second in, while the gateway takes the
    // change), and reads succeed again after.
    let ok_between = |a: i64, b: i64, task: Option<&str>| {
        inter
            .iter()
            .filter(|r| r["side"] == "consumed" && r["ok"] == true)
            .filter(|r| task.is_none_or(|t| r["task"].as_str().unwrap().starts_with(t)))
            .filter(|r| (a..b).contains(&r["time"].as_i64().unwrap()))
            .count()
    };
    assert!(
        ok_between(at(0) - 6_000_000, at(1), None) > 0,
        "reads before the partition"
    );
    assert_eq!(
        ok_between(at(1) + 1_000_000, at(2), None),
        0,
        "reads through a partition"
    );
    // (TCP retries a connection the partition cut with a growing back-off, up to 8 s after the end.)
    assert!(
        ok_between(at(2), at(2) + 15_000_000, None) > 0,
        "reads after the partition"
    );
    // The paused reader records nothing while it is frozen.
    let r2 = format!("scenario_reader.2.{id}");
    assert_eq!(
        ok_between(at(3) + 500_000, at(4), Some(&r2)),
        0,
        "a paused reader read"
    );
    assert!(
        ok_between(at(4), at(4) + 8_000_000, Some(&r2)) > 0,
        "the reader reads again when resumed"
    );

    // The restarted reader stopped gracefully (its final report) and goes on as a new task.
    let slot2: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["node"] == "reader" && t["slot"] == 2)
        .collect();
    assert_eq!(slot2.len(), 2, "{slot2:#?}");
    // The stress kept the server's cgroup busy: its CPU samples under load against those before.
    let system = rows(&out, Table::System);
    let cpu = |a: i64, b: i64| {
        let v: Vec<f64> = system
            .iter()
            .filter(|r| r["node"] == "server")
            .filter(|r| (a..b).contains(&r["time"].as_i64().unwrap()))
            .filter_map(|r| r["cpu_percent"].as_f64())
            .collect();
        assert!(!v.is_empty(), "no server samples in {a}..{b}");
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (under, before) = (cpu(at(5) + 1_500_000, at(6)), cpu(at(3), at(5)));
    assert!(
        under >= 70.0,
        "the server used {under:.0} % of a core under a 100 % stress"
    );
    assert!(before < 50.0, "the server used {before:.0} % before it");
    // The report: the scenario page lists each event with its recovery, and the charts mark them.
    let page = std::fs::read_to_string(out.join("site/scenario.html")).unwrap();
    for s in [
        "restart",
        "stress",
        "kill",
        "partition",
        "reconnect",
        "pause",
        "resume",
        "node reader.1",
        "network 3g",
    ] {
        assert!(page.contains(s), "{s} is not on the scenario page");
    }
    // The summary tells what happened in sentences, and the killed replica as killed, not "unknown".
    let index = std::fs::read_to_string(out.join("site/index.html")).unwrap();
    assert!(
        index.contains("killed by the scenario at"),
        "the killed replica's state on the summary"
    );
    assert!(
        index.contains("kill reader.1") && index.contains("ms late"),
        "the kill told as a sentence on the summary"
    );
    // Events done without an error are not marked as failures (a ✗ with nothing after it).
    assert!(
        !page.contains("<td class=\"state-bad\"></td>"),
        "an event without an error is marked as failed"
    );
    let charts_of = |page: &str| {
        serde_json::to_string(&wotemu_reporter::compact::page_charts(
            &out.join("site"),
            page,
        ))
        .unwrap()
    };
    assert!(
        charts_of("index.html").contains("partition network 3g"),
        "the summary's charts mark the partition"
    );
    assert!(
        charts_of(&format!("tasks/{r2}.html")).contains("pause node reader.2"),
        "the paused reader's page marks the pause"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[test]
fn a_scenario_past_the_end_or_contradictory_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(dir.path());
    let o = wotemu()
        .arg("run")
        .arg(&topo)
        .args(["--duration", "20s", "--out"])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("scenario event 3 (pause node reader.2) is at 28.0 s, after the end of the run (20.0 s)"),
        "{}",
        stderr(&o)
    );
    // The same scenario makes a Swarm stack with its scenario service, carrying the events.
    let o = wotemu()
        .args(["compose", "--output", "-", "--path"])
        .arg(&topo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_yaml::from_str(&stdout(&o)).unwrap();
    let command: Vec<&str> = doc["services"]["scenario"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(command[..2], ["scenario", "--events"]);
    let events: Vec<Value> = serde_json::from_str(command[2]).unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[1]["action"]["do"], "kill");
    // A pause of reader.2 while a repeated pause of all readers is in force: located, in both commands.
    let bad = topology_with(
        dir.path(),
        "contradictory.yml",
        "  - {at: 10s, for: 5s, every: 20s, pause: reader}\n  - {at: 52s, pause: reader.2}\n",
    );
    for args in [
        &["topology", "validate"][..],
        &["compose", "--output", "-", "--path"][..],
    ] {
        let o = wotemu().args(args).arg(&bad).output().unwrap();
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("contradictory.yml:"), "{args:?}: {err}");
        assert!(
            err.contains("contradicts scenario event 0: `pause node reader.2` at 52.0 s changes the pause of reader while `pause node reader` (from 50.0 s for 5.0 s) is in force"),
            "{args:?}: {err}"
        );
    }
}

/// Readers scaled 2 → 4, half of them replaced, then scaled down to 1.
fn churn_topology(dir: &Path) -> std::path::PathBuf {
    topology_with(
        dir,
        "churn.yml",
        r#"  - {at: 4s, scale: {node: reader, replicas: 4}}
  - {at: 12s, churn: {node: reader, share: 50%}}
  - {at: 20s, scale: {node: reader, replicas: 1}}
"#,
    )
}

#[test]
fn replicas_join_leave_and_are_replaced_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let topo = churn_topology(dir.path());
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "26s").output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    assert!(
        stdout(&o).contains("3 replicas (+2 the scenario scales up to)"),
        "{}",
        stdout(&o)
    );

    let timeline = rows(&out, Table::Timeline);
    let ev: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["kind"] == "scenario")
        .collect();
    assert_eq!(ev.len(), 3, "{ev:#?}");
    for e in &ev {
        assert!(e["error"].is_null(), "{e}");
        let late = e["time"].as_i64().unwrap() - e["planned"].as_i64().unwrap();
        assert!((0..100_000).contains(&late), "{late} µs late: {e}");
    }
    let detail =
        |e: &Value| -> Value { serde_json::from_str(e["detail"].as_str().unwrap()).unwrap() };
    let at = |i: usize| ev[i]["planned"].as_i64().unwrap();
    assert_eq!(detail(ev[0])["action"], "scale");
    assert_eq!(
        detail(ev[0])["tasks"].as_array().unwrap().len(),
        2,
        "two readers join"
    );
    assert_eq!(detail(ev[1])["action"], "churn");
    let churned: Vec<String> = detail(ev[1])["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(churned.len(), 2, "half of 4 readers are replaced");
    assert_eq!(
        detail(ev[2])["tasks"].as_array().unwrap().len(),
        3,
        "three readers leave"
    );
    // Every join is a timeline row of its own (two by scale, two replacements).
    let joins: Vec<&Value> = timeline.iter().filter(|e| e["kind"] == "join").collect();
    assert_eq!(joins.len(), 4, "{joins:#?}");

    // The readers of slots 3 and 4 joined at the scale up and read; the replacements read after the churn;
    // after the scale down only slot 1 reads.
    let inter = rows(&out, Table::Interactions);
    let reads = |prefix: &str, a: i64, b: i64| {
        inter
            .iter()
            .filter(|r| r["side"] == "consumed" && r["ok"] == true)
            .filter(|r| r["task"].as_str().unwrap().starts_with(prefix))
            .filter(|r| (a..b).contains(&r["time"].as_i64().unwrap()))
            .count()
    };
    for slot in [3, 4] {
        let p = format!("churn_reader.{slot}.");
        assert_eq!(
            reads(&p, 0, at(0)),
            0,
            "reader.{slot} read before it joined"
        );
        assert!(
            reads(&p, at(0), at(1)) > 0,
            "reader.{slot} did not read after joining"
        );
    }
    let tasks = rows(&out, Table::Tasks);
    let names: Vec<&str> = tasks
        .iter()
        .filter(|t| t["node"] == "reader")
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 6, "4 readers and 2 replacements: {names:?}");
    for old in &churned {
        let slot = old.split('.').nth(1).unwrap();
        let new = names
            .iter()
            .find(|t| t.starts_with(&format!("churn_reader.{slot}.")) && *t != old)
            .unwrap_or_else(|| panic!("no replacement for {old}: {names:?}"));
        assert!(reads(new, at(1), at(2)) > 0, "{new} did not read");
        // (Exactly the old task: the new one's name begins with it.)
        let old_after = inter
            .iter()
            .filter(|r| r["task"] == old.as_str() && r["side"] == "consumed")
            .filter(|r| r["time"].as_i64().unwrap() > at(1) + 1_000_000)
            .count();
        assert_eq!(old_after, 0, "{old} read after it left");
    }
    let late = at(2) + 2_000_000;
    assert_eq!(
        reads("churn_reader.2.", late, i64::MAX),
        0,
        "reader.2 read after leaving"
    );
    assert_eq!(
        reads("churn_reader.4.", late, i64::MAX),
        0,
        "reader.4 read after leaving"
    );
    assert!(
        reads("churn_reader.1.", late, i64::MAX) > 0,
        "reader.1 stopped reading"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// The kinds of events the first test does not do, on one host: a node disconnected from its network while
/// another node on it goes on, a pause ended by an explicit `resume`, a change of conditions repeated
/// (`every`, `count`) and undone after each `for`, a memory stress in a node's cgroup.
#[test]
fn disconnections_repeated_conditions_resumes_and_memory_stress_happen_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = repo().join("examples/apps/quickstart_server.py");
    let topo = dir.path().join("kinds.yml");
    let reader = r#"{path: reader, params: {servient_host: server.3g, thing_id: "urn:wotemu:quickstart:thing", read_sleep: "0.5"}}"#;
    std::fs::write(
        &topo,
        format!(
            r#"networks:
  3g: {{conditions: fast_3g}}
nodes:
  server:
    app: {{path: {}, http: true}}
    networks: [3g]
  reader:
    app: {reader}
    networks: [3g]
    scale: 2
  other:
    app: {reader}
    networks: [3g]
scenario:
  - {{at: 3s, for: 3s, disconnect: {{node: reader, network: 3g}}}}
  - {{at: 12s, every: 6s, count: 2, for: 3s, conditions: {{network: 3g, conditions: gprs}}}}
  - {{at: 13s, pause: reader.2}}
  - {{at: 16s, resume: reader.2}}
  - {{at: 24s, for: 5s, stress: {{node: server, memory: 100M}}}}
"#,
            server.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "32s").output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));

    let ev: Vec<Value> = rows(&out, Table::Timeline)
        .into_iter()
        .filter(|e| e["kind"] == "scenario")
        .collect();
    let what: Vec<(String, String)> = ev
        .iter()
        .map(|e| {
            let d: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
            (
                d["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let step = |a: &str, t: &str| (a.to_owned(), t.to_owned());
    assert_eq!(
        what,
        [
            step("disconnect", "node reader on network 3g"),
            step("reconnect", "node reader on network 3g"),
            step("conditions", "network 3g"),
            step("pause", "node reader.2"),
            step("restore", "network 3g"),
            step("resume", "node reader.2"),
            step("conditions", "network 3g"),
            step("restore", "network 3g"),
            step("stress", "node server"),
            step("unstress", "node server"),
        ]
    );
    let at: Vec<i64> = ev.iter().map(|e| e["planned"].as_i64().unwrap()).collect();
    for e in &ev {
        assert!(e["error"].is_null(), "{e}");
        let late = e["time"].as_i64().unwrap() - e["planned"].as_i64().unwrap();
        assert!((0..100_000).contains(&late), "{late} µs late: {e}");
    }
    assert_eq!(
        at[6] - at[2],
        6_000_000,
        "the repeat is 6 s after the first"
    );
    assert_eq!(at[4] - at[2], 3_000_000, "each change lasts 3 s");

    let inter = rows(&out, Table::Interactions);
    let reads = |prefix: &str, a: i64, b: i64| -> Vec<f64> {
        inter
            .iter()
            .filter(|r| r["side"] == "consumed" && r["ok"] == true)
            .filter(|r| r["task"].as_str().unwrap().starts_with(prefix))
            .filter(|r| (a..b).contains(&r["time"].as_i64().unwrap()))
            .map(|r| r["latency_ms"].as_f64().unwrap())
            .collect()
    };
    let s = 1_000_000;
    // The disconnected readers read nothing while cut off (from 1 s in); the other node goes on; all read after.
    assert!(
        reads("kinds_reader.", at[0] + s, at[1]).is_empty(),
        "a disconnected reader read"
    );
    assert!(
        !reads("kinds_other.", at[0] + s, at[1]).is_empty(),
        "the other node stopped reading"
    );
    // (TCP retries what the cut interrupted with a growing back-off: the window reaches the second change.)
    assert!(
        !reads("kinds_reader.", at[1], at[6]).is_empty(),
        "no read after the reconnection"
    );
    // The paused reader reads nothing until the explicit resume, then reads again.
    let r2 = format!("kinds_reader.2.{id}");
    assert!(
        reads(&r2, at[3] + s / 2, at[5]).is_empty(),
        "a paused reader read"
    );
    assert!(
        !reads(&r2, at[5], at[5] + 4 * s).is_empty(),
        "the resumed reader does not read"
    );
    // Both repeats slow the reads to GPRS's (700 ms a way against 3G's 300): the reads that began while
    // each lasted and had the time to end before it did (a row's time is when the read ended; a read under
    // GPRS takes 1.4 s, and each reader begins one at least every 1.4 s) take more than twice the reads'
    // after the last change.
    let median = |mut v: Vec<f64>| {
        assert!(!v.is_empty());
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let after = median(reads("kinds_", at[7] + s, i64::MAX));
    for (a, b) in [(at[2], at[4]), (at[6], at[7])] {
        let during = median(
            inter
                .iter()
                .filter(|r| r["side"] == "consumed" && r["ok"] == true)
                .filter(|r| r["task"].as_str().unwrap().starts_with("kinds_"))
                .filter_map(|r| {
                    let latency = r["latency_ms"].as_f64().unwrap();
                    let began = r["time"].as_i64().unwrap() - (latency * 1e3) as i64;
                    (a..b - 1_400_000).contains(&began).then_some(latency)
                })
                .collect(),
        );
        assert!(
            during > 2.0 * after,
            "reads under GPRS took {during:.0} ms, after it {after:.0} ms"
        );
    }
    // The memory stress: the server's cgroup holds ~100 MB more while it lasts.
    let system = rows(&out, Table::System);
    let mem = |a: i64, b: i64| {
        let v: Vec<f64> = system
            .iter()
            .filter(|r| r["node"] == "server")
            .filter(|r| (a..b).contains(&r["time"].as_i64().unwrap()))
            .filter_map(|r| r["mem_bytes"].as_f64())
            .collect();
        assert!(!v.is_empty(), "no server samples in {a}..{b}");
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (under, before) = (mem(at[8] + 2 * s, at[9]), mem(at[7], at[8]));
    assert!(
        under - before > 80e6,
        "the server held {:.0} MB more under a 100 MB stress",
        (under - before) / 1e6
    );
    assert!(
        mem(at[9] + 2 * s, i64::MAX) - before < 30e6,
        "the stress's memory was not given back"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// `examples/scenario.yml` as the README tells a user to run it, and its report as a person reads it: each
/// event done without error and told in words on the summary, the killed reader shown as killed, the
/// scenario page without a failure mark on events that did not fail, and the network page judging the 3G
/// and GPRS stretches each against its own rate.
#[test]
fn the_scenario_example_runs_and_its_report_reads_right() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&repo().join("examples/scenario.yml"), &out, "80s")
        .output()
        .unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let id = run_id(&stdout(&o));
    let ev: Vec<Value> = rows(&out, Table::Timeline)
        .into_iter()
        .filter(|e| e["kind"] == "scenario")
        .collect();
    let actions: Vec<String> = ev
        .iter()
        .map(|e| {
            let d: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
            d["action"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "kill",
            "partition",
            "reconnect",
            "pause",
            "resume",
            "conditions",
            "restore"
        ]
    );
    for e in &ev {
        assert!(e["error"].is_null(), "{e}");
    }
    let site = out.join("site");
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    for said in [
        "killed by the scenario at 15",
        "kill reader.1",
        "partition network 3g",
        "pause 50% of reader",
    ] {
        assert!(index.contains(said), "the summary does not say {said:?}");
    }
    // (The raw detail is each sentence's tooltip, its `title`, not the text.)
    assert!(
        !index.contains(">{&quot;"),
        "the summary prints an event's raw JSON"
    );
    let page = std::fs::read_to_string(site.join("scenario.html")).unwrap();
    assert!(
        !page.contains("<td class=\"state-bad\"></td>"),
        "an event without an error is marked as failed"
    );
    let net = std::fs::read_to_string(site.join("networks/3g.html")).unwrap();
    let stretches = net.matches("<td>rate down, ").count();
    assert!(
        stretches >= 3,
        "the network page judges {stretches} stretches of the rate down (3G, GPRS, 3G again)"
    );
    assert!(
        net.contains("not judged: the traffic never came near the limit"),
        "a rate the readers never approached is judged"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}
