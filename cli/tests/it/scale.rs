//! One-host runs at scale: 200 replicas forked by the zygote, every one interacting, the report rendering
//! them, nothing left behind; and the agents started one by one when the zygote is off.

use std::path::Path;

use wotemu_contract::{Manifest, Table};

use crate::rows::{of_task, rows};
use crate::run::{leftovers, repo, run_cmd, run_id};
use crate::util::{stderr, stdout};

/// The quickstart's server and `readers` readers on one LTE network, reading every `read_sleep` seconds.
fn topology(dir: &Path, readers: u32, read_sleep: f64) -> std::path::PathBuf {
    let server = repo().join("examples/apps/quickstart_server.py");
    let text = format!(
        r#"networks:
  lte:
    conditions: lte
nodes:
  server:
    app: {{path: {}, http: true}}
    networks: [lte]
  reader:
    app:
      path: reader
      params: {{servient_host: server.lte, thing_id: "urn:wotemu:quickstart:thing", read_sleep: "{read_sleep}"}}
    networks: [lte]
    resources: {{mem_limit: 150M}}
    scale: {readers}
"#,
        server.display()
    );
    let p = dir.join(format!("scale-{readers}.yml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// How many of the nodes' tasks had their Python started each way (the `python_start` fact: `zygote` or `own`).
fn python_starts(tasks: &[serde_json::Value]) -> Vec<(String, usize)> {
    let mut n = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks
        .iter()
        .filter(|t| t["node"] == "reader" || t["node"] == "server")
    {
        let facts: serde_json::Value =
            serde_json::from_str(t["facts"].as_str().unwrap_or("{}")).unwrap();
        let how = facts["python_start"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        *n.entry(how).or_default() += 1;
    }
    n.into_iter().collect()
}

/// 200 replicas: every reader reads, none is starved (each read several times), the report has a page per
/// task and a summary that stays small, the accounting balances and nothing is left behind.
#[test]
fn two_hundred_replicas_all_interact_and_the_report_renders() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(dir.path(), 199, 2.0);
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "40s").output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    // Every agent was forked by the zygote (the runner says when one had to start on its own).
    assert!(
        !stderr(&o).contains("zygote"),
        "the zygote failed: {}",
        stderr(&o)
    );

    let tasks = rows(&out, Table::Tasks);
    let readers: Vec<&str> = tasks
        .iter()
        .filter(|t| t["node"] == "reader")
        .filter_map(|t| t["task"].as_str())
        .collect();
    assert_eq!(readers.len(), 199, "{} tasks", tasks.len());
    let inter = rows(&out, Table::Interactions);
    let mut ok = std::collections::BTreeMap::<&str, usize>::new();
    for r in &inter {
        if r["side"] == "consumed" && r["ok"] == true {
            *ok.entry(r["task"].as_str().unwrap()).or_default() += 1;
        }
    }
    let least = readers
        .iter()
        .map(|t| (ok.get(t).copied().unwrap_or(0), *t))
        .min()
        .unwrap();
    // Reading every 2 s for at least 20 s of the 40 s run (start-up included), over LTE.
    assert!(least.0 >= 5, "{} read only {} times", least.1, least.0);

    let m = Manifest::read(&out).unwrap();
    assert!(m.accounting.totals.balanced(), "{:?}", m.accounting.totals);
    assert_eq!(m.accounting.totals.records_rejected, 0);
    assert_eq!(python_starts(&tasks), vec![("zygote".to_owned(), 200)]);

    // The report: a page per task; the summary ranks nodes, not 200 tasks, and links to them.
    let site = out.join("site");
    let pages = std::fs::read_dir(site.join("tasks")).unwrap().count();
    assert!(pages >= 200, "{pages} task pages");
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(
        index.contains("199 replicas"),
        "the summary aggregates the readers by node"
    );
    assert!(
        index.len() < 1 << 20,
        "the summary is {} bytes",
        index.len()
    );
    let list = std::fs::read_to_string(site.join("tasks.html")).unwrap();
    assert!(list.contains("id=\"node-reader\""), "the drill-down anchor");

    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// With `WOTEMU_ZYGOTE=0` every agent starts Python on its own: the same run, the same data.
#[test]
fn without_the_zygote_agents_start_on_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(dir.path(), 3, 1.0);
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "15s")
        .env("WOTEMU_ZYGOTE", "0")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    assert_eq!(
        python_starts(&rows(&out, Table::Tasks)),
        vec![("own".to_owned(), 4)]
    );
    let inter = rows(&out, Table::Interactions);
    let tasks = rows(&out, Table::Tasks);
    for t in tasks.iter().filter(|t| t["node"] == "reader") {
        assert!(
            of_task(&inter, t["task"].as_str().unwrap())
                .iter()
                .any(|r| r["side"] == "consumed" && r["ok"] == true),
            "{} read",
            t["task"]
        );
    }
    assert_eq!(leftovers(&id), Vec::<String>::new());
}
