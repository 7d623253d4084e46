//! Comparison benchmark: prints the figures of the compare/sweep issue.
//!
//! `cargo bench -p wotemu --bench compare` builds 10 run datasets like the report benchmark's 1× (830k
//! records each: [`load_bench_run`] with a different seed each, through a real redis-server and `wotemu
//! collect`), then times the real `wotemu compare` binary on 4 and on 10 of them (site written), with its
//! peak RSS from `wait4`. Targets: 4 datasets ≤ 3 s and ≤ 500 MB; 10 datasets ≤ 8 s and ≤ 1 GB.
#![allow(clippy::print_stdout)]

use std::process::Command;
use std::time::Instant;

use wotemu_testkit::load::load_bench_run;
use wotemu_testkit::{measure, RedisServer};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery
    }
    let bin = env!("CARGO_BIN_EXE_wotemu");
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let mut runs = Vec::new();
    for k in 0..10u64 {
        let redis = RedisServer::start();
        let mut conn = redis.conn();
        let (records, _) = load_bench_run(&mut conn, "bench", 100 + k, 1);
        let run = dir.path().join(format!("run{k}"));
        let status = Command::new(bin)
            .args([
                "-q",
                "collect",
                "--stack",
                "bench",
                "--redis-url",
                &redis.url(),
                "--out",
            ])
            .arg(&run)
            .status()
            .unwrap();
        assert!(status.success());
        if k == 0 {
            println!("each dataset: {records} records");
        }
        runs.push(run);
    }
    println!("10 datasets built in {:.1} s", t0.elapsed().as_secs_f64());
    for (n, t_secs, t_mb) in [(4, 3.0, 500.0), (10, 8.0, 1024.0)] {
        let site = dir.path().join(format!("site{n}"));
        let mut cmd = Command::new(bin);
        cmd.args(["-q", "compare"])
            .args(&runs[..n])
            .arg("--out")
            .arg(&site);
        let (secs, rss) = measure(cmd);
        let pages = std::fs::read_dir(site.join("groups")).map_or(0, |d| d.count()) + 1;
        println!(
            "compare of {n} datasets: {secs:.2} s, peak RSS {rss:.0} MiB   (targets: <= {t_secs} s, <= {t_mb} MB); {pages} pages"
        );
    }
}
