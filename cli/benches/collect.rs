//! Collector benchmark: prints the figures of the dataset issue.
//!
//! `cargo bench -p wotemu --bench collect` loads synthetic records in the stream layout into a redis-server
//! of its own, runs the real `wotemu collect` binary on them, and prints records/s end to end and the
//! collector's peak RSS (from `wait4`). Then it builds WoTemu 0.6's store (`testkit::legacy::store_06`, 7,500
//! records a copy, with every field and error 0.6 records) ×100 and ×1000 and times `wotemu collect --legacy`
//! the same way, then `wotemu report` on the imported dataset (default flags): its time, peak RSS, the site's
//! size and its largest file, and import + report end to end against WoTemu 0.6's own figures on the same
//! store (×100: 31 s, 958 MB, a 16 MB site; ×1000: 322 s, 7.4 GB, 142 MB, measured on this machine).
//!
//! Sizes: `WOTEMU_BENCH_RECORDS` (default 10,000,000; 0 skips the stream layout),
//! `WOTEMU_BENCH_LEGACY_COPIES` (default `100,1000`; empty skips the import). `WOTEMU_BENCH_BIN` times another
//! `wotemu` binary (a release build while the bench itself is built with `--profile dev`). `WOTEMU_BENCH_OUT`
//! keeps the datasets and sites in that folder instead of a temporary one.
#![allow(clippy::print_stdout)]

use std::process::Command;
use std::time::Instant;

use wotemu_testkit::legacy::store_06;
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
    let legacy_copies: Vec<usize> = std::env::var("WOTEMU_BENCH_LEGACY_COPIES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let bin = std::env::var("WOTEMU_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_wotemu").to_owned());
    let bin = bin.as_str();
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_total()
    );

    // `WOTEMU_BENCH_OUT` keeps the datasets and sites there (for profiling the report on them).
    let tmp = tempfile::tempdir().unwrap();
    let out = std::env::var_os("WOTEMU_BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_owned());
    if n > 0 {
        streams(bin, n, &out);
    }
    legacy(bin, &legacy_copies, &out);
}

/// The stream layout: `n` synthetic records collected into `out/run`.
fn streams(bin: &str, n: usize, out: &std::path::Path) {
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
    .arg(out.join("run"));
    let (secs, rss) = measure(cmd);
    println!(
        "collect: {} records in {secs:.2} s = {:.0} records/s end to end; peak RSS {rss:.0} MiB   (targets: >= 1,000,000 records/s, <= 200 MB)",
        loaded.records,
        loaded.records as f64 / secs
    );
    let size: u64 = std::fs::read_dir(out.join("run"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!("dataset size: {:.1} MiB", size as f64 / (1 << 20) as f64);
}

/// WoTemu 0.6's store ×copies, imported into `out/legacy-<copies>`.
fn legacy(bin: &str, legacy_copies: &[usize], out: &std::path::Path) {
    for &copies in legacy_copies {
        let redis = RedisServer::start();
        let mut conn = redis.conn();
        let t = Instant::now();
        let members = store_06(&mut conn, copies);
        println!(
            "built WoTemu 0.6's store ×{copies}: {members} members in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let dir = out.join(format!("legacy-{copies}"));
        let mut cmd = Command::new(bin);
        cmd.args([
            "-q",
            "collect",
            "--legacy",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(&dir);
        let (secs, rss) = measure(cmd);
        let m = wotemu_contract::Manifest::read(&dir).expect("the import wrote its manifest");
        assert!(m.losses().is_empty(), "{:?}", m.losses());
        println!(
            "0.6 import ×{copies}: {members} records in {secs:.2} s = {:.0} records/s; peak RSS {rss:.0} MiB; {} written   (targets: >= 1,000,000 records/s, <= 300 MB)",
            members as f64 / secs,
            m.accounting.totals.records_written
        );
        let site = out.join(format!("site-{copies}"));
        let mut cmd = Command::new(bin);
        cmd.args(["-q", "report", "--dataset"])
            .arg(&dir)
            .arg("--out")
            .arg(&site);
        let (r_secs, r_rss) = measure(cmd);
        let (bytes, largest) = wotemu_testkit::site_size(&site);
        let (t_secs, t_mb, t_site) = if copies >= 1000 {
            (1.5, 400, 50)
        } else {
            (0.45, 150, 25)
        };
        let (o_secs, o_site) = if copies >= 1000 {
            (322.0, 142.0)
        } else {
            (31.0, 16.0)
        };
        println!(
            "  report ×{copies}: {r_secs:.2} s, peak RSS {r_rss:.0} MiB, site {:.1} MB (largest file {} {:.1} MB)   (targets: <= {t_secs} s, <= {t_mb} MB, site <= {t_site} MB; 0.6: {o_site} MB)",
            bytes as f64 / 1e6,
            largest.0,
            largest.1 as f64 / 1e6,
        );
        println!(
            "  import + report ×{copies}: {:.2} s = {:.0}× WoTemu 0.6's {o_secs} s   (target ×100: <= 0.9 s)",
            secs + r_secs,
            o_secs / (secs + r_secs)
        );
    }
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
