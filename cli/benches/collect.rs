//! Collector benchmark: prints the figures of the dataset issue.
//!
//! `cargo bench -p wotemu --bench collect` loads synthetic records in the stream layout into a redis-server
//! of its own, runs the real `wotemu collect` binary on them, and prints records/s end to end and the
//! collector's peak RSS (from `wait4`). Then it builds a WoTemu 0.6 store of ~750k sorted-set members and
//! times `wotemu collect --legacy` the same way.
//!
//! Sizes: `WOTEMU_BENCH_RECORDS` (default 10,000,000), `WOTEMU_BENCH_LEGACY` (default 750,000).
#![allow(clippy::print_stdout)]

use std::process::Command;
use std::time::Instant;

use wotemu_testkit::load::{load_synthetic, STREAMED};
use wotemu_testkit::synth::Synth;
use wotemu_testkit::{measure, RedisServer};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery
    }
    let n = env_usize("WOTEMU_BENCH_RECORDS", 10_000_000);
    let legacy_n = env_usize("WOTEMU_BENCH_LEGACY", 750_000);
    let bin = env!("CARGO_BIN_EXE_wotemu");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_total()
    );

    // Stream layout.
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(1, "bench");
    let tasks = synth.tasks(&[("server", 1), ("reader", 12), ("caller", 6)]);
    let per_table = n / (tasks.len() * STREAMED.len());
    let t = Instant::now();
    let loaded = load_synthetic(
        &mut conn, &mut synth, "bench", &tasks, per_table, 1000, false,
    );
    println!(
        "loaded {} records ({} tasks, batches of 1000) into redis in {:.1} s",
        loaded.records,
        tasks.len(),
        t.elapsed().as_secs_f64()
    );
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args([
        "-q",
        "collect",
        "--stack",
        "bench",
        "--redis-url",
        &redis.url(),
        "--out",
    ])
    .arg(out.path().join("run"));
    let (secs, rss) = measure(cmd);
    println!(
        "collect: {} records in {secs:.2} s = {:.0} records/s end to end; peak RSS {rss:.0} MiB   (targets: >= 1,000,000 records/s, <= 200 MB)",
        loaded.records,
        loaded.records as f64 / secs
    );
    let size: u64 = std::fs::read_dir(out.path().join("run"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!("dataset size: {:.1} MiB", size as f64 / (1 << 20) as f64);
    drop(redis);

    // Legacy 0.6 store.
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let t = Instant::now();
    let members = build_legacy(&mut conn, legacy_n);
    println!(
        "built a 0.6 store of {members} members in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut cmd = Command::new(bin);
    cmd.args([
        "-q",
        "collect",
        "--legacy",
        "--redis-url",
        &redis.url(),
        "--out",
    ])
    .arg(out.path().join("legacy"));
    let (secs, rss) = measure(cmd);
    println!(
        "legacy import: {members} members in {secs:.2} s = {:.0} members/s; peak RSS {rss:.0} MiB   (targets: <= 3 s, <= 300 MB)",
        members as f64 / secs
    );
}

fn mem_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or("?".into(), |kb| {
            format!("{:.0} GiB RAM", kb as f64 / 1048576.0)
        })
}

/// A 0.6 store shaped like a real one: 19 tasks, mostly packets, then thing and system records.
fn build_legacy(conn: &mut redis::Connection, n: usize) -> usize {
    let tasks: Vec<String> = (0..19)
        .map(|i| format!("exp_node{}.1.task{i:04}", i % 5))
        .collect();
    let t0 = 1_764_000_000.0_f64;
    let mut written = 0;
    let per_task = n / tasks.len();
    for task in &tasks {
        let mut pipe = redis::pipe();
        for i in 0..per_task {
            let t = t0 + i as f64 * 0.01;
            let (key, member) = match i % 20 {
                0..=14 => (
                    format!("wotemu:packet:eth0:{task}"),
                    format!(
                        r#"{{"time": {t}, "len": {}, "src": "10.0.1.{}", "dst": "10.0.1.2", "proto": "json", "transport": "tcp", "srcport": {}, "dstport": 80}}"#,
                        60 + i % 1400,
                        i % 200,
                        30000 + i % 30000
                    ),
                ),
                15..=18 => (
                    format!("wotemu:thing:{task}"),
                    format!(
                        r#"{{"thing": "urn:thing:{}", "verb": "readproperty", "name": "temperature", "time": {t}, "host": "server.3g", "class": "ConsumedThing", "latency": 0.{:03}, "error": null, "result": 21.5}}"#,
                        i % 4,
                        i % 1000
                    ),
                ),
                _ => (
                    format!("wotemu:system:{task}"),
                    format!(
                        r#"{{"time": {t}, "cpu_percent": {}.5, "cpu_percent_constraint": 100.0, "mem_mb": 120.5, "mem_percent": 40.1}}"#,
                        i % 100
                    ),
                ),
            };
            pipe.cmd("ZADD").arg(key).arg(t).arg(member).ignore();
            written += 1;
            if i % 10_000 == 9_999 {
                pipe.query::<()>(conn).unwrap();
                pipe = redis::pipe();
            }
        }
        pipe.query::<()>(conn).unwrap();
    }
    written
}
