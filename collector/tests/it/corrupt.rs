use wotemu_collector::{collect_quiet, CollectOptions};
use wotemu_contract::keys::StackKeys;
use wotemu_testkit::load::{load_synthetic, xadd_raw};
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

use crate::common::{assert_accounting, assert_dataset_matches};

#[test]
fn bad_entries_are_named_and_the_rest_is_kept() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(3, "bad");
    let tasks = synth.tasks(&[("node", 2)]);
    let loaded = load_synthetic(&mut conn, &mut synth, "bad", &tasks, 600, 200, true);
    let task = &tasks[1].task;
    let good = loaded.batches[1].1[0].encode();
    let data = &good.last().unwrap().1;
    let truncated = &data[..data.len() / 3];
    let base = loaded.batches[1].1.len() as u64;
    let seq = |i: u64| (base + i).to_string().into_bytes();
    let (s1, s2, s3) = (seq(1), seq(2), seq(3));
    let mut add = |fields: &[(&str, &[u8])]| xadd_raw(&mut conn, "bad", task, fields);
    let ids = [
        add(&[
            ("v", b"1"),
            ("seq", &s1),
            ("table", b"logs"),
            ("n", b"200"),
            ("data", truncated),
        ]),
        add(&[
            ("v", b"7"),
            ("seq", &s2),
            ("table", b"logs"),
            ("n", b"1"),
            ("data", data),
        ]),
        add(&[
            ("v", b"1"),
            ("seq", &s3),
            ("table", b"frames"),
            ("n", b"1"),
            ("data", data),
        ]),
        add(&[("hello", b"world")]),
    ];
    // A good entry after the bad ones is still collected.
    let mut after = loaded.batches[1].1[1].clone();
    after.seq = base + 4;
    wotemu_testkit::load::xadd_entries(&mut conn, "bad", task, std::slice::from_ref(&after));

    let out = tempfile::tempdir().unwrap();
    let summary = collect_quiet(&CollectOptions::new(&redis.url(), "bad", out.path())).unwrap();
    let m = &summary.manifest;
    assert_eq!(m.problems.len(), 4, "{:#?}", m.problems);
    let stream = StackKeys::new("bad").stream(task);
    for (p, id) in m.problems.iter().zip(&ids) {
        assert_eq!(&p.stream, &stream);
        assert_eq!(&p.id, id);
    }
    assert!(
        m.problems[0].error.contains("truncated or corrupt")
            || m.problems[0].error.contains("truncated"),
        "{}",
        m.problems[0].error
    );
    assert!(
        m.problems[1].error.contains("format version 7"),
        "{}",
        m.problems[1].error
    );
    assert!(
        m.problems[2].error.contains("table `frames`"),
        "{}",
        m.problems[2].error
    );
    assert!(
        m.problems[3].error.contains("field `v` is missing"),
        "{}",
        m.problems[3].error
    );
    let acc = &m.accounting.tasks[task];
    assert_eq!(acc.entries_rejected, 4);
    assert_eq!(acc.records_rejected, 200 + 1 + 1);
    assert_eq!(acc.seq_missing, 0, "seq of rejected entries counts as seen");
    assert_accounting(m, out.path());

    let mut expected = loaded.clone();
    expected.batches[1].1.push(after);
    assert_dataset_matches(out.path(), &expected);
}
