//! Scenario timing benchmark: how late the runner does a scenario's steps (planned vs done, from the
//! dataset's `timeline`) in a one-host run of `WOTEMU_BENCH_REPLICAS` (default 100) replicas — 1 server and
//! readers on LTE — with a step every 500 ms: pauses and resumes of a share of the readers, partitions of
//! the network and their ends, kills of one reader, 5 more readers joining for 5 s every 10 s (and leaving),
//! and 5 % of the readers replaced every 10 s.
//!
//! `cargo bench -p wotemu --bench scenario` (root, the project's venv from scripts/setup.sh).
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use wotemu_collector::dataset::read_table;
use wotemu_contract::Table;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() {
    let replicas: u32 = std::env::var("WOTEMU_BENCH_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let secs: u64 = std::env::var("WOTEMU_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let server = repo().join("examples/apps/quickstart_server.py");
    let topo = dir.path().join("scenario-bench.yml");
    std::fs::write(
        &topo,
        format!(
            "networks:\n  net: {{conditions: lte}}\nnodes:\n  server:\n    app: {{path: {}, http: true}}\n    networks: [net]\n  reader:\n    app:\n      path: reader\n      params: {{servient_host: server.net, thing_id: \"urn:wotemu:quickstart:thing\", read_sleep: \"5\"}}\n    networks: [net]\n    resources: {{mem_limit: 150M}}\n    scale: {}\nscenario:\n  - {{at: 5s, every: 2s, for: 1s, pause: {{node: reader, share: 25%}}}}\n  - {{at: 5500ms, every: 4s, for: 1s, partition: {{network: net}}}}\n  - {{at: 6200ms, every: 5s, kill: reader.1}}\n  - {{at: 7s, every: 10s, for: 5s, scale: {{node: reader, replicas: {}}}}}\n  - {{at: 9700ms, every: 10s, churn: {{node: reader, share: 5%}}}}\n",
            server.display(),
            replicas - 1,
            replicas - 1 + 5
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = Command::new(
        std::env::var("WOTEMU_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wotemu").to_owned()),
    )
    .args(["-q", "run"])
    .arg(&topo)
    .args(["--duration", &format!("{secs}s"), "--no-report", "--out"])
    .arg(&out)
    .env("WOTEMU_VENV", repo().join(".venv"))
    .stderr(Stdio::inherit())
    .output()
    .unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "the run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut late_ms: Vec<f64> = Vec::new();
    let mut failed = 0;
    // (late ms, target, detail, error) of the slowest step and of each failed one.
    let mut slowest: (f64, String, String) = (0.0, String::new(), String::new());
    for b in read_table(&out, Table::Timeline).unwrap() {
        let kind = b.column_by_name("kind").unwrap().as_string::<i32>();
        let time = b
            .column_by_name("time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let planned = b
            .column_by_name("planned")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let error = b.column_by_name("error").unwrap().as_string::<i32>();
        let target = b.column_by_name("target").unwrap().as_string::<i32>();
        let detail = b.column_by_name("detail").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            if kind.value(i) == "scenario" {
                let late = (time.value(i) - planned.value(i)) as f64 / 1000.0;
                late_ms.push(late);
                let action = serde_json::from_str::<serde_json::Value>(detail.value(i))
                    .map(|d| d["action"].as_str().unwrap_or("?").to_owned())
                    .unwrap_or_default();
                if late > slowest.0 {
                    slowest = (late, action.clone(), target.value(i).to_owned());
                }
                if !error.is_null(i) {
                    failed += 1;
                    println!(
                        "failed step: {action} {}: {}",
                        target.value(i),
                        error.value(i)
                    );
                }
            }
        }
    }
    late_ms.sort_by(f64::total_cmp);
    let q = |p: f64| late_ms[((late_ms.len() - 1) as f64 * p).round() as usize];
    println!(
        "scenario steps in a {secs} s run of {replicas} replicas on {} cores: {} steps ({failed} failed); done after their planned time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal: p99 ≤ 100 ms)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        late_ms.len(),
        q(0.5),
        q(0.99),
        late_ms.last().copied().unwrap_or(0.0)
    );
    println!(
        "the slowest step: {} {} ({:.1} ms)",
        slowest.1, slowest.2, slowest.0
    );
}
