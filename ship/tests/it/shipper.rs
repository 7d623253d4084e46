//! The shipper against a real Redis: batches survive an outage (spool, replay) and full buffers are counted,
//! as the collector sees them.

use std::sync::Arc;
use std::time::Duration;

use wotemu_collector::CollectOptions;
use wotemu_contract::table::LogLine;
use wotemu_contract::{Manifest, Table};
use wotemu_ship::shipper::{Shipper, ShipperConfig};
use wotemu_ship::spool::Spool;
use wotemu_testkit::RedisServer;

fn line(task: &str, i: i64) -> LogLine {
    LogLine {
        task: task.into(),
        node: "a".into(),
        time: 1_764_000_000_000_000 + i,
        stream: "stdout".into(),
        line: format!("line {i}"),
    }
}

fn shipper(redis: &RedisServer, task: &str, flush: Duration, max_rows: usize) -> Arc<Shipper> {
    Shipper::new(ShipperConfig {
        redis_url: redis.url(),
        stack: "t".into(),
        task: task.into(),
        flush_every: flush,
        batch_rows: 100,
        max_buffered_rows: max_rows,
        drain_timeout: Duration::from_secs(10),
    })
}

/// The agent's last act after its shipper drained: its own snapshot (without it, the collector counts the task
/// as killed).
fn final_report(redis: &RedisServer, task: &str) {
    let snapshot = wotemu_contract::task::TaskSnapshot {
        state: "complete".into(),
        ..Default::default()
    };
    let _: () = redis::cmd("HSET")
        .arg(wotemu_contract::keys::StackKeys::new("t").snapshot())
        .arg(task)
        .arg(serde_json::to_string(&snapshot).unwrap())
        .query(&mut redis.conn())
        .unwrap();
}

fn collect(redis: &RedisServer) -> (tempfile::TempDir, Manifest) {
    let out = tempfile::tempdir().unwrap();
    let s = wotemu_collector::collect_quiet(&CollectOptions::new(&redis.url(), "t", out.path()))
        .unwrap();
    (out, s.manifest)
}

#[test]
fn an_outage_loses_nothing_and_doubles_nothing() {
    let mut redis = RedisServer::start_persistent();
    let spool_dir = tempfile::tempdir().unwrap();
    let task = "t_a.1.x";
    let s = shipper(&redis, task, Duration::from_millis(50), 100_000);
    let handle = s
        .spawn(Spool::open(spool_dir.path(), task, 64 << 20).unwrap())
        .unwrap();
    for i in 0..300 {
        s.push(line(task, i));
    }
    // Wait until the first lines reached Redis, then take it away.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s
        .stats
        .shipped_records
        .load(std::sync::atomic::Ordering::SeqCst)
        < 300
    {
        assert!(std::time::Instant::now() < deadline, "nothing was shipped");
        std::thread::sleep(Duration::from_millis(20));
    }
    redis.kill();
    for i in 300..600 {
        s.push(line(task, i));
    }
    // The outage is real: the shipper spools.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.stats.spooled.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing was spooled");
        std::thread::sleep(Duration::from_millis(20));
    }
    redis.restart();
    s.close();
    let drained = handle.join().unwrap();
    assert_eq!(drained.left_in_spool, 0);
    final_report(&redis, task);
    let (out, m) = collect(&redis);
    assert!(m.losses().is_empty(), "{:?}", m.losses());
    assert_eq!(m.tables[&Table::Logs].rows, 600);
    let rows: usize = wotemu_collector::dataset::read_table(out.path(), Table::Logs)
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 600);
}

#[test]
fn a_full_buffer_drops_and_counts() {
    let redis = RedisServer::start();
    let spool_dir = tempfile::tempdir().unwrap();
    let task = "t_b.1.x";
    // Nothing ships before close: 10 lines fit, 90 are dropped.
    let s = shipper(&redis, task, Duration::from_secs(3600), 10);
    let handle = s
        .spawn(Spool::open(spool_dir.path(), task, 64 << 20).unwrap())
        .unwrap();
    for i in 0..100 {
        s.push(line(task, i));
    }
    s.close();
    handle.join().unwrap();
    final_report(&redis, task);
    let (_out, m) = collect(&redis);
    assert_eq!(m.tables[&Table::Logs].rows, 10);
    assert_eq!(m.accounting.totals.records_dropped_by_agent, 90);
    assert_eq!(m.accounting.totals.records_produced, 100);
    assert_eq!(m.losses().len(), 1, "{:?}", m.losses());
}

#[test]
fn a_shipper_that_never_reports_is_counted_as_killed() {
    let redis = RedisServer::start();
    let spool_dir = tempfile::tempdir().unwrap();
    let task = "t_c.1.x";
    let s = shipper(&redis, task, Duration::from_millis(50), 1000);
    let handle = s
        .spawn(Spool::open(spool_dir.path(), task, 64 << 20).unwrap())
        .unwrap();
    for i in 0..20 {
        s.push(line(task, i));
    }
    s.close();
    handle.join().unwrap();
    let (_out, m) = collect(&redis);
    assert_eq!(m.accounting.totals.without_final_report, 1);
    let losses = m.losses();
    assert_eq!(losses.len(), 1, "{losses:?}");
    assert!(losses[0].contains(task), "{losses:?}");
}
