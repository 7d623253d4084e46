//! The 0.6 import in-process (no CLI start-up): `cargo bench -p wotemu-collector --bench import06` builds
//! WoTemu 0.6's store ×`WOTEMU_BENCH_LEGACY_COPIES` (default 100) and times `legacy::import` on it, with the
//! time spent reading Redis and parsing apart from the time writing the dataset (from the log). The figures
//! of the issue come from `cargo bench -p wotemu --bench collect`, which times the `wotemu` binary.
#![allow(clippy::print_stdout)]

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use wotemu_collector::legacy::{import, LegacyOptions};
use wotemu_collector::NoProgress;
use wotemu_testkit::legacy::store_06;
use wotemu_testkit::{cpu_secs_of, RedisServer};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery
    }
    let copies: usize = std::env::var("WOTEMU_BENCH_LEGACY_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let redis = RedisServer::start();
    let members = store_06(&mut redis.conn(), copies);
    let out = tempfile::tempdir().unwrap();
    let redis_cpu = redis.cpu_secs();
    let own_cpu = || cpu_secs_of(std::process::id()).expect("this process's CPU time");
    let cpu0 = own_cpu();
    let t = Instant::now();
    let summary = import(
        &LegacyOptions {
            redis_url: redis.url(),
            stack: None,
            out: out.path().join("legacy"),
            spill_bytes: 128 << 20,
        },
        &NoProgress,
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let import_cpu = own_cpu() - cpu0;
    println!(
        "0.6 import ×{copies} in-process: {members} members, {} records in {secs:.2} s = {:.0} records/s",
        summary.records,
        members as f64 / secs
    );
    println!(
        "  the import used {import_cpu:.2} s of CPU, Redis {:.2} s serving it",
        redis.cpu_secs() - redis_cpu
    );
}
