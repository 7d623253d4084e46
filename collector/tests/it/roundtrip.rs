use wotemu_collector::{collect_quiet, dataset, CollectOptions};
use wotemu_contract::keys::StackKeys;
use wotemu_contract::{Manifest, Table};
use wotemu_testkit::load::load_synthetic;
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

use crate::common::{assert_accounting, assert_dataset_matches};

#[test]
fn every_table_round_trips_exactly() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(1, "demo");
    let tasks = synth.tasks(&[("server", 1), ("reader", 3)]);
    let loaded = load_synthetic(&mut conn, &mut synth, "demo", &tasks, 3000, 700, true);
    let _: () = redis::cmd("SET")
        .arg(StackKeys::new("demo").topology())
        .arg("nodes: {}")
        .query(&mut conn)
        .unwrap();

    let out = tempfile::tempdir().unwrap();
    let mut opts = CollectOptions::new(&redis.url(), "demo", out.path());
    opts.spill_bytes = 256 << 10; // many parts, so the merge is exercised
    let summary = collect_quiet(&opts).unwrap();

    assert_eq!(summary.records, loaded.records);
    assert!(!summary.resumed);
    assert_dataset_matches(out.path(), &loaded);
    let m = Manifest::read(out.path()).unwrap();
    assert_accounting(&m, out.path());
    assert_eq!(m.accounting.totals.records_written, loaded.records);
    assert_eq!(m.accounting.totals.records_duplicate, 0);
    assert_eq!(m.accounting.tasks.len(), 4);
    assert_eq!(m.topology.as_deref(), Some("nodes: {}"));
    assert_eq!(m.source.kind, "redis-streams");
    assert!(m.problems.is_empty());
    assert!(
        !out.path().join(wotemu_collector::WORK_DIR).exists(),
        "work folder removed"
    );

    // The tasks table comes from the registry.
    let info = dataset::info(out.path()).unwrap();
    assert_eq!(info.tables[&Table::Tasks].rows, 4);
    assert_eq!(info.tasks.len(), 4);
    assert_eq!(info.tables[&Table::Packets].rows, 4 * 3000);

    // Trimmed: nothing is left to collect, and collecting again is a no-op.
    let len: u64 = redis::cmd("XLEN")
        .arg(StackKeys::new("demo").stream(&tasks[0].task))
        .query(&mut conn)
        .unwrap();
    assert_eq!(len, 0);
    let again = collect_quiet(&opts).unwrap();
    assert!(again.already_complete);
}

#[test]
fn duplicates_are_skipped_and_counted() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(2, "dup");
    let tasks = synth.tasks(&[("node", 1)]);
    let loaded = load_synthetic(&mut conn, &mut synth, "dup", &tasks, 1000, 250, true);
    // An agent replaying its spool sends some batches again.
    let replay: Vec<_> = loaded.batches[0].1[3..7].to_vec();
    wotemu_testkit::load::xadd_entries(&mut conn, "dup", &tasks[0].task, &replay);
    let dup_records: u64 = replay.iter().map(|e| e.batch.num_rows() as u64).sum();

    let out = tempfile::tempdir().unwrap();
    let summary = collect_quiet(&CollectOptions::new(&redis.url(), "dup", out.path())).unwrap();
    assert_eq!(summary.records, loaded.records);
    assert_dataset_matches(out.path(), &loaded);
    let m = summary.manifest;
    assert_eq!(m.accounting.totals.entries_duplicate, 4);
    assert_eq!(m.accounting.totals.records_duplicate, dup_records);
    assert_eq!(m.accounting.totals.seq_missing, 0);
    assert_accounting(&m, out.path());
}

#[test]
fn unknown_stack_is_a_clear_error() {
    let redis = RedisServer::start();
    let out = tempfile::tempdir().unwrap();
    let err = collect_quiet(&CollectOptions::new(&redis.url(), "nope", out.path())).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no data for stack `nope`"), "{msg}");
    assert!(msg.contains("check --stack and --redis-url"), "{msg}");
    let err =
        collect_quiet(&CollectOptions::new(&redis.url(), "bad:name", out.path())).unwrap_err();
    assert!(err.to_string().contains("contains `:`"), "{err}");
    let err =
        collect_quiet(&CollectOptions::new("redis://127.0.0.1:1", "x", out.path())).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot reach Redis at redis://127.0.0.1:1"),
        "{err}"
    );
}
