//! `wotemu report`: from a dataset, from a stack in Redis (0.6 style), and its errors.

use wotemu_testkit::load::load_synthetic;
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

use crate::util::{stderr, stdout, wotemu};

#[test]
fn report_from_a_stack_collects_beside_the_site_and_keeps_redis() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(11, "legacy");
    let tasks = synth.tasks(&[("server", 1), ("reader", 2)]);
    let loaded = load_synthetic(&mut conn, &mut synth, "legacy", &tasks, 200, 100, false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    let o = wotemu()
        .args([
            "report",
            "--stack",
            "legacy",
            "--redis-url",
            &redis.url(),
            "--json",
        ])
        .args(["--base-url", "https://example.org/runs/legacy/"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["pages"], 5 + 3);
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains(r#"<link rel="canonical" href="https:&#x2F;&#x2F;example.org&#x2F;runs&#x2F;legacy&#x2F;index.html">"#), "{index}");
    assert!(out.join(".nojekyll").exists());
    // The dataset is kept beside the site and holds every record; Redis is left as it was.
    let m = wotemu_contract::Manifest::read(&out.join("dataset")).unwrap();
    assert_eq!(m.accounting.totals.records_written, loaded.records);
    let len: u64 = redis::cmd("XLEN")
        .arg(wotemu_contract::keys::StackKeys::new("legacy").stream(&tasks[0].task))
        .query(&mut conn)
        .unwrap();
    assert!(len > 0, "the stack's streams are kept for a later report");
    // A second report from the dataset alone gives the same pages.
    let again = dir.path().join("again");
    let o = wotemu()
        .args(["-q", "report", "--dataset"])
        .arg(out.join("dataset"))
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(again.join("tasks.html").exists());
}

#[test]
fn report_of_a_missing_dataset_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args(["report", "--dataset"])
        .arg(dir.path().join("nope"))
        .arg("--out")
        .arg(dir.path().join("site"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("nope"), "{err}");
    assert!(
        err.contains("manifest.json") || err.contains("dataset"),
        "{err}"
    );
    let o = wotemu().args(["report", "--out", "x"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--dataset"), "{}", stderr(&o));
}
