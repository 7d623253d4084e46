//! A real dataset with hostile strings, rendered once per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use wotemu_collector::CollectOptions;
use wotemu_contract::entry::StreamEntry;
use wotemu_contract::table::{Interaction, LogLine, Records};
use wotemu_reporter::{Report, ReportOptions};
use wotemu_testkit::load::{load_synthetic, xadd_entries};
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

pub(crate) const XSS: &str = "</script><script>alert(1)</script>";

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) dataset: PathBuf,
    pub(crate) site: PathBuf,
    pub(crate) rendered: wotemu_reporter::Rendered,
}

pub(crate) fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build)
}

fn build() -> Fixture {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(7, "demo");
    let tasks = synth.tasks(&[("server", 1), ("reader", 3)]);
    let loaded = load_synthetic(&mut conn, &mut synth, "demo", &tasks, 3000, 500, true);
    let t = &tasks[1];
    let next = loaded.batches[1].1.len() as u64 + 1;
    let time = 1_764_000_000_500_000;
    let logs = LogLine::to_batch(&[LogLine {
        task: t.task.clone(),
        node: t.node.clone(),
        // After every synthetic line: a task page shows the last lines of its log.
        time: time + 3_600_000_000,
        stream: "stderr".into(),
        line: format!("probe {XSS}"),
    }]);
    let bad = Interaction::to_batch(&[Interaction {
        task: t.task.clone(),
        node: t.node.clone(),
        time,
        thing: format!("urn:<b>bold</b>{XSS}"),
        name: "temperature".into(),
        verb: "readproperty".into(),
        side: "consumed".into(),
        latency_ms: None,
        ok: false,
        error_type: Some("TimeoutError".into()),
        error_message: Some(format!("no reply {XSS}")),
        host: None,
        result: None,
    }]);
    xadd_entries(
        &mut conn,
        "demo",
        &t.task,
        &[
            StreamEntry::new(next, logs, wotemu_contract::Table::Logs),
            StreamEntry::new(next + 1, bad, wotemu_contract::Table::Interactions),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("run");
    wotemu_collector::collect_quiet(&CollectOptions::new(&redis.url(), "demo", &dataset)).unwrap();
    if let Ok(keep) = std::env::var("WOTEMU_TEST_KEEP_DATASET") {
        let _ = std::process::Command::new("cp")
            .arg("-r")
            .arg(&dataset)
            .arg(keep)
            .status();
    }
    let site = dir.path().join("site");
    let report = Report::load(ReportOptions::new(&dataset, &site)).unwrap();
    let rendered = report.render().unwrap();
    Fixture {
        _dir: dir,
        dataset,
        site,
        rendered,
    }
}
