//! Offline re-analysis benchmark: prints the figures of the Python package / `wotemu query` issue.
//!
//! `WOTEMU_PACKAGE_RELEASE=1 scripts/python-package.sh && cargo bench -p wotemu --bench query` builds the report
//! bench's dataset ([`load_bench_run`], through redis-server and `wotemu collect`) at each scale, then times,
//! with the peak RSS from `wait4`:
//! - `wotemu.open(dir)` + `run.latency()` in the venv's Python (the release wheel; a debug one is refused),
//!   one process, import of Polars and the package included;
//! - `wotemu query` of a group-by over the packets table (the real binary).
//!
//! `WOTEMU_BENCH_SCALES` (default `10,17`: 8.3M records, and 10.2M packets) picks the sizes.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use wotemu_testkit::load::load_bench_run;
use wotemu_testkit::{measure, RedisServer};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery
    }
    let python = repo().join(".venv/bin/python");
    let profile = Command::new(&python)
        .args(["-c", "import wotemu._native as n; print(n.PROFILE)"])
        .output()
        .expect("run the venv's Python");
    let profile = String::from_utf8_lossy(&profile.stdout).trim().to_owned();
    assert_eq!(
        profile, "release",
        "the installed wotemu package is not a release build: run WOTEMU_PACKAGE_RELEASE=1 scripts/python-package.sh first"
    );
    let scales: Vec<usize> = std::env::var("WOTEMU_BENCH_SCALES")
        .unwrap_or_else(|_| "10,17".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let bin = env!("CARGO_BIN_EXE_wotemu");
    for scale in scales {
        let redis = RedisServer::start();
        let mut conn = redis.conn();
        let t0 = Instant::now();
        let (total, tasks) = load_bench_run(&mut conn, "bench", 3, scale);
        let out = tempfile::tempdir().unwrap();
        let run = out.path().join("run");
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
        .arg(&run);
        measure(cmd);
        drop(redis);
        let m = wotemu_contract::Manifest::read(&run).unwrap();
        let rows = |t: wotemu_contract::Table| m.tables.get(&t).map_or(0, |i| i.rows);
        println!(
            "scale {scale}×: {total} records ({tasks} tasks; {} packets, {} interactions), dataset made in {:.1} s",
            rows(wotemu_contract::Table::Packets),
            rows(wotemu_contract::Table::Interactions),
            t0.elapsed().as_secs_f64()
        );

        let script = "import sys, time\nt = time.perf_counter()\nimport wotemu\nrun = wotemu.open(sys.argv[1])\nlat = run.latency()\nprint(f'{time.perf_counter() - t:.3f} {lat.height}')";
        let mut cmd = Command::new(&python);
        cmd.args(["-c", script]).arg(&run);
        let (secs, rss, printed) = measure_output(cmd);
        let inner = printed.split_whitespace().next().unwrap_or("?");
        println!(
            "  python: wotemu.open + run.latency(): {secs:.2} s for the process ({inner} s from `import wotemu` on), peak RSS {rss:.0} MiB   (targets: <= 2 s, <= 1 GB)"
        );

        let sql = "SELECT proto, transport, count(*) AS n, sum(len) AS bytes, avg(len) AS mean FROM packets GROUP BY proto, transport";
        let mut cmd = Command::new(bin);
        cmd.args(["query", "--format", "csv"])
            .arg(&run)
            .arg(sql)
            .stdout(std::process::Stdio::null());
        let (secs, rss) = measure(cmd);
        println!(
            "  wotemu query, group-by over {} packets: {secs:.2} s, peak RSS {rss:.0} MiB   (target: <= 1 s for 10M packets)",
            rows(wotemu_contract::Table::Packets)
        );
    }
}

/// [`measure`], with what the command printed (the Python script's own timing).
fn measure_output(mut cmd: Command) -> (f64, f64, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    cmd.stdout(std::fs::File::create(&file).unwrap());
    let (secs, rss) = measure(cmd);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    (secs, rss, text)
}
