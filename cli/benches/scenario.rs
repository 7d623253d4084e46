//! Scenario timing benchmark: how late the runner does a scenario's steps (planned vs done, from the
//! dataset's `timeline`) in a one-host run of `WOTEMU_BENCH_REPLICAS` (default 100) replicas — 1 server and
//! readers on LTE — with a step every 500 ms: pauses and resumes of a share of the readers, partitions of
//! the network and their ends, kills of one reader.
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
            "networks:\n  net: {{conditions: lte}}\nnodes:\n  server:\n    app: {{path: {}, http: true}}\n    networks: [net]\n  reader:\n    app:\n      path: reader\n      params: {{servient_host: server.net, thing_id: \"urn:wotemu:quickstart:thing\", read_sleep: \"5\"}}\n    networks: [net]\n    resources: {{mem_limit: 150M}}\n    scale: {}\nscenario:\n  - {{at: 5s, every: 2s, for: 1s, pause: {{node: reader, share: 25%}}}}\n  - {{at: 5500ms, every: 4s, for: 1s, partition: {{network: net}}}}\n  - {{at: 6200ms, every: 5s, kill: reader.1}}\n",
            server.display(),
            replicas - 1
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
        let error = b.column_by_name("error").unwrap();
        for i in 0..b.num_rows() {
            if kind.value(i) == "scenario" {
                late_ms.push((time.value(i) - planned.value(i)) as f64 / 1000.0);
                failed += usize::from(!error.is_null(i));
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
}
