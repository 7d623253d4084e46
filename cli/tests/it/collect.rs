use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wotemu_collector::dataset::read_table;
use wotemu_contract::manifest::TaskAccounting;
use wotemu_contract::{Manifest, Table};
use wotemu_testkit::compare;
use wotemu_testkit::load::{load_synthetic, xadd_entries, xadd_raw, Loaded, STREAMED};
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

use crate::util::{stderr, stdout, wotemu};

fn assert_exactly_once(dir: &Path, loaded: &Loaded) {
    for table in STREAMED {
        let batches: Vec<_> = loaded
            .batches
            .iter()
            .flat_map(|(_, es)| {
                es.iter()
                    .filter(|e| e.table == table)
                    .map(|e| e.batch.clone())
            })
            .collect();
        let want = compare::expected(table, &batches);
        let got = compare::concat(table, &read_table(dir, table).unwrap());
        compare::assert_same(table, &got, &want);
    }
    let m = Manifest::read(dir).unwrap();
    let mut sum = TaskAccounting::default();
    for acc in m.accounting.tasks.values() {
        assert!(acc.balanced(), "{acc:?}");
        sum.add(acc);
    }
    assert_eq!(sum, m.accounting.totals);
    assert_eq!(m.accounting.totals.records_written, loaded.records);
}

fn load(redis: &RedisServer, seed: u64, stack: &str, per_table: usize) -> Loaded {
    let mut conn = redis.conn();
    let mut synth = Synth::new(seed, stack);
    let tasks = synth.tasks(&[("server", 1), ("reader", 3)]);
    let loaded = load_synthetic(&mut conn, &mut synth, stack, &tasks, per_table, 150, true);
    // Some replayed batches too, so de-duplication state must survive crashes.
    let replay = loaded.batches[2].1[2..5].to_vec();
    xadd_entries(&mut conn, stack, &tasks[2].task, &replay);
    loaded
}

#[test]
fn aborted_at_random_failpoints_then_resumed_loses_and_doubles_nothing() {
    let mut total_crashes = 0;
    for seed in 1..=6u64 {
        let redis = RedisServer::start();
        let loaded = load(&redis, seed, "crash", 1500);
        let out = tempfile::tempdir().unwrap();
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut crashes = 0;
        for attempt in 0.. {
            assert!(attempt < 40, "seed {seed}: no completion after 40 attempts");
            let point: u32 = rng.random_range(1..=16);
            let o = wotemu()
                .args([
                    "collect",
                    "--stack",
                    "crash",
                    "--buffer-mb",
                    "1",
                    "--redis-url",
                    &redis.url(),
                    "--out",
                ])
                .arg(out.path())
                .env("WOTEMU_FAILPOINT", point.to_string())
                .output()
                .unwrap();
            if o.status.success() {
                break;
            }
            assert_eq!(
                o.status.signal(),
                Some(libc::SIGABRT),
                "seed {seed}: {}",
                stderr(&o)
            );
            crashes += 1;
        }
        total_crashes += crashes;
        assert_exactly_once(out.path(), &loaded);
        let m = Manifest::read(out.path()).unwrap();
        assert_eq!(m.accounting.totals.entries_duplicate, 3, "seed {seed}");
    }
    assert!(
        total_crashes >= 6,
        "only {total_crashes} crashes were injected"
    );
}

#[test]
fn killed_with_sigkill_mid_run_then_resumed_loses_and_doubles_nothing() {
    // The kill must land after the first checkpoint and before the dataset is written; when a collection
    // is too quick for that, try again with more data.
    for per_table in [6000, 24_000, 96_000] {
        let redis = RedisServer::start();
        let stack = format!("kill{per_table}");
        let loaded = load(&redis, 42, &stack, per_table);
        let out = tempfile::tempdir().unwrap();
        let ckpt = out.path().join(".wotemu-collect/checkpoint.json");
        let mut child = wotemu()
            .args([
                "collect",
                "--stack",
                &stack,
                "--buffer-mb",
                "1",
                "--redis-url",
                &redis.url(),
                "--out",
            ])
            .arg(out.path())
            .spawn()
            .unwrap();
        // Wait until the first checkpoint is durable, then kill -9.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ckpt.exists() && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let mid_run = status.signal() == Some(libc::SIGKILL)
            && ckpt.exists()
            && !out.path().join("manifest.json").exists();
        if !mid_run {
            continue;
        }
        let o = wotemu()
            .args([
                "collect",
                "--stack",
                &stack,
                "--redis-url",
                &redis.url(),
                "--out",
            ])
            .arg(out.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("(resumed)"), "{}", stdout(&o));
        assert_exactly_once(out.path(), &loaded);
        return;
    }
    panic!("the collector never was killed between its first checkpoint and its end");
}

#[test]
fn dropped_records_and_sequence_holes_exit_3() {
    use wotemu_contract::entry::StreamEntry;
    use wotemu_contract::table::{LogLine, Records};
    let line = |i: i64| LogLine {
        task: "lossy_a.1.x".into(),
        node: "a".into(),
        time: 1_764_000_000_000_000 + i,
        stream: "stdout".into(),
        line: format!("line {i}"),
    };
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    // Batch 1 says 5 records were dropped before it; batch 2 never arrives.
    let mut first = StreamEntry::new(1, LogLine::to_batch(&[line(1)]), Table::Logs);
    first.dropped = 5;
    let third = StreamEntry::new(3, LogLine::to_batch(&[line(3)]), Table::Logs);
    xadd_entries(&mut conn, "lossy", "lossy_a.1.x", &[first, third]);
    let out = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args([
            "collect",
            "--stack",
            "lossy",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("agents reported 5 records they could not keep"),
        "{err}"
    );
    assert!(err.contains("1 batches never reached Redis"), "{err}");
    // The dataset is written all the same, with the two lines that arrived.
    let m = Manifest::read(out.path()).unwrap();
    assert_eq!(m.tables[&Table::Logs].rows, 2);
    assert_eq!(m.losses().len(), 2);
}

#[test]
fn collect_reports_text_json_and_dataset_info() {
    let redis = RedisServer::start();
    let loaded = load(&redis, 7, "cli", 300);
    let out = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args([
            "collect",
            "--stack",
            "cli",
            "--json",
            "--no-trim",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["records"], loaded.records);
    assert_eq!(v["tables"]["packets"], 4 * 300);
    assert_eq!(v["accounting"]["entries_duplicate"], 3);
    assert!(v["records_per_second"].as_f64().unwrap() > 0.0);

    // --no-trim left the entries: a second dataset gets the same records.
    let out2 = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args([
            "collect",
            "--stack",
            "cli",
            "--redis-url",
            &redis.url(),
            "-o",
        ])
        .arg(out2.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with(&format!(
            "Collected {} records from 4 tasks in ",
            loaded.records
        )),
        "{text}"
    );
    assert!(text.contains("records/s"), "{text}");

    let o = wotemu()
        .args(["dataset", "info"])
        .arg(out2.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("stack `cli`"), "{text}");
    assert!(text.contains("tasks (4):"), "{text}");
    let o = wotemu()
        .args(["dataset", "info", "--json"])
        .arg(out2.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tables"]["packets"]["rows"], 1200);
    assert_eq!(v["tasks"].as_array().unwrap().len(), 4);
    assert_eq!(
        read_table(out2.path(), Table::Tasks).unwrap()[0].num_rows(),
        4
    );
}

#[test]
fn rejected_entries_exit_3_and_errors_are_clear() {
    let redis = RedisServer::start();
    load(&redis, 8, "bad", 150);
    let mut conn = redis.conn();
    xadd_raw(
        &mut conn,
        "bad",
        "bad_x.1.y",
        &[
            ("v", b"1"),
            ("seq", b"1"),
            ("table", b"logs"),
            ("n", b"3"),
            ("data", b"\x00garbage"),
        ],
    );
    // `wotemu report --stack` collects the same way beside its site (leaving Redis as it is): the site is
    // rendered, and the entry it could not read makes it exit 3 too.
    let site = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args([
            "report",
            "--stack",
            "bad",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(site.path().join("site"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 entries could not be read and were left out"),
        "{}",
        stderr(&o)
    );
    assert!(site.path().join("site/index.html").exists());
    let out = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args([
            "collect",
            "--stack",
            "bad",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("1 entries could not be read and were left out"),
        "{err}"
    );
    assert!(err.contains("manifest.json"), "{err}");

    // Not a dataset; unreachable Redis; missing --stack.
    let empty = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args(["dataset", "info"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a run dataset: there is no manifest.json in it"),
        "{}",
        stderr(&o)
    );
    let o = wotemu()
        .args([
            "collect",
            "--stack",
            "s",
            "--redis-url",
            "redis://127.0.0.1:1",
            "--out",
        ])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot reach Redis at redis://127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    let o = wotemu()
        .args(["collect", "--out"])
        .arg(empty.path())
        .env_remove("WOTEMU_STACK")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--stack"), "{}", stderr(&o));
}

#[test]
fn json_output_into_a_closed_pipe_ends_quietly() {
    let redis = RedisServer::start();
    load(&redis, 9, "pipe", 150);
    let out = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args([
            "collect",
            "--stack",
            "pipe",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let script = format!(
        "{} dataset info --json {} | head -c 1 >/dev/null",
        env!("CARGO_BIN_EXE_wotemu"),
        out.path().display()
    );
    let o = std::process::Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .output()
        .unwrap();
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}
