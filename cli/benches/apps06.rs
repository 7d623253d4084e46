//! WoTemu 0.6's apps and CPU speed: prints the figures of the 0.6-completeness issue.
//!
//! `cargo bench -p wotemu --bench apps06` (root, the project's venv from scripts/setup.sh, sysbench):
//!
//! 1. calibration: `wotemu cpu-speed --recalibrate` (into a temporary file), its time, and the host's speed
//!    beside `sysbench cpu` (one thread, 5 s);
//! 2. camera + detector: `examples/surveillance_cloud.yml` (two cameras at 0.6's 12 fps, one detector) for
//!    `WOTEMU_BENCH_SECS` (default 60 s): CPU (mean % of one CPU) and peak memory of each camera and of the
//!    detector, frames detected per second, and capture → detection latency (p50, p95);
//! 3. the same with `examples/surveillance_edge_constrained.yml` (3G, a quarter of a CPU).
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, UInt64Type};
use wotemu_collector::dataset::read_table;
use wotemu_contract::Table;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sysbench() -> f64 {
    let o = Command::new("sysbench")
        .args(["cpu", "--threads=1", "--time=5", "run"])
        .output()
        .expect("sysbench (apt install sysbench)");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("events per second:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn surveillance(name: &str, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_wotemu"))
        .args(["-q", "run"])
        .arg(repo().join(format!("examples/{name}.yml")))
        .args(["--duration", &format!("{secs}s"), "--no-report", "--out"])
        .arg(&out)
        .env("WOTEMU_VENV", repo().join(".venv"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(o.status.success(), "wotemu run failed");
    // CPU and memory per node, from the system samples.
    let mut cpu: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut mem: std::collections::BTreeMap<String, u64> = Default::default();
    for b in read_table(&out, Table::System).unwrap() {
        let node = b.column_by_name("node").unwrap().as_string::<i32>().clone();
        let c = b
            .column_by_name("cpu_percent")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        let m = b
            .column_by_name("mem_bytes")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .clone();
        for i in 0..b.num_rows() {
            if !c.is_null(i) {
                cpu.entry(node.value(i).to_owned())
                    .or_default()
                    .push(c.value(i));
            }
            if !m.is_null(i) {
                let e = mem.entry(node.value(i).to_owned()).or_default();
                *e = (*e).max(m.value(i));
            }
        }
    }
    println!("{name} ({secs} s):");
    for (node, v) in &cpu {
        println!(
            "  {node:<10} CPU mean {:>5.1} % of one CPU, memory peak {:>5.1} MiB",
            v.iter().sum::<f64>() / v.len() as f64,
            mem.get(node).copied().unwrap_or(0) as f64 / 1_048_576.0
        );
    }
    let mut latency = Vec::new();
    let mut faces = 0;
    for b in read_table(&out, Table::App).unwrap() {
        let key = b.column_by_name("key").unwrap().as_string::<i32>().clone();
        let value = b
            .column_by_name("value")
            .unwrap()
            .as_string::<i32>()
            .clone();
        for i in 0..b.num_rows() {
            if key.value(i) != "detection_latency" {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(value.value(i)).unwrap();
            latency
                .push(v["latency_frame"].as_f64().unwrap() + v["latency_detect"].as_f64().unwrap());
            faces += usize::from(v["faces"].as_u64().unwrap_or(0) > 0);
        }
    }
    let n = latency.len();
    if n > 0 {
        println!(
            "  frames detected: {n} ({:.1}/s), {faces} with faces; capture → detection p50 {:.3} s, p95 {:.3} s",
            n as f64 / secs as f64,
            percentile(&mut latency, 0.5),
            percentile(&mut latency, 0.95)
        );
    } else {
        println!("  no frame was detected");
    }
}

fn main() {
    let secs: u64 = std::env::var("WOTEMU_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wotemu"))
        .args(["cpu-speed", "--recalibrate", "--json"])
        .env("WOTEMU_CPU_CALIBRATION", dir.path().join("cal.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sb = sysbench();
    println!(
        "calibration: {:.1} s; host {:.0} events/s on one CPU (fit {:.1} × quota {:+.1}); sysbench cpu {:.0} events/s ({:+.1} %)",
        c["took_seconds"].as_f64().unwrap(),
        c["host_speed"].as_f64().unwrap(),
        c["slope"].as_f64().unwrap(),
        c["intercept"].as_f64().unwrap(),
        sb,
        (c["host_speed"].as_f64().unwrap() / sb - 1.0) * 100.0
    );
    surveillance("surveillance_cloud", secs);
    surveillance("surveillance_edge_constrained", secs);
}
