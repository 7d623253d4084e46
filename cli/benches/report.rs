//! Reporter benchmark: prints the figures of the reporter issue.
//!
//! `cargo bench -p wotemu --bench report` builds a run dataset shaped like a real one
//! ([`load_bench_run`]: 19 tasks; 600k packets, 130k interactions, 35k system samples, plus events, logs and
//! app values) through the real path (stream entries in a redis-server of its own, then `wotemu collect`),
//! and times the real `wotemu report` binary on it, with its peak RSS from `wait4`. Then the same at 10× the
//! size.
//!
//! `WOTEMU_BENCH_SCALES` (default `1,10`) picks the sizes.
#![allow(clippy::print_stdout)]

use std::process::Command;
use std::time::Instant;

use wotemu_testkit::load::load_bench_run;
use wotemu_testkit::{measure, RedisServer};

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        dir_size(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery
    }
    let scales: Vec<usize> = std::env::var("WOTEMU_BENCH_SCALES")
        .unwrap_or_else(|_| "1,10".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let bin = env!("CARGO_BIN_EXE_wotemu");
    for scale in scales {
        let redis = RedisServer::start();
        let mut conn = redis.conn();
        let t0 = Instant::now();
        let (total, tasks) = load_bench_run(&mut conn, "bench", 3, scale);
        println!(
            "scale {scale}×: {total} records ({tasks} tasks) loaded into redis in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
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
        let (secs, rss) = measure(cmd);
        println!(
            "  collect: {secs:.2} s, peak RSS {rss:.0} MiB, dataset {:.1} MiB",
            dir_size(&run) as f64 / 1048576.0
        );
        drop(redis);
        let site = out.path().join("site");
        let mut cmd = Command::new(bin);
        cmd.args(["-q", "report", "--dataset"])
            .arg(&run)
            .arg("--out")
            .arg(&site);
        let (secs, rss) = measure(cmd);
        let (t_secs, t_mb) = if scale >= 10 {
            (10.0, 1024.0)
        } else {
            (1.5, 250.0)
        };
        let site_mb = dir_size(&site) as f64 / 1048576.0;
        let data_mb = dir_size(&site.join("data")) as f64 / 1048576.0;
        println!(
            "  report: {secs:.2} s, peak RSS {rss:.0} MiB   (targets: <= {t_secs} s, <= {t_mb} MB); site {site_mb:.1} MiB of which downloads {data_mb:.1} MiB, pages and charts {:.2} MiB",
            site_mb - data_mb
        );
    }
}
