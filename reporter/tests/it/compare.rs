//! `wotemu compare` on real datasets (records through a real Redis and the collector) with known
//! distributions: a shifted figure is flagged with its sign and size, identical designs flag nothing, the
//! intervals cover the true values, the site renders in headless Chromium, bad datasets give clear errors.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wotemu_collector::CollectOptions;
use wotemu_contract::entry::StreamEntry;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::table::{Interaction, Records, SystemSample};
use wotemu_reporter::compare::{self, stats, CompareOptions, Comparison, SweepInfo};
use wotemu_testkit::load::{register_task, xadd_entries};
use wotemu_testkit::RedisServer;

const START: i64 = 1_764_000_000_000_000;
/// Interactions per reader task and group.
const N: usize = 2500;

fn lognormal(rng: &mut SmallRng, median: f64, sigma: f64) -> f64 {
    // Box–Muller.
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    median * (sigma * z).exp()
}

fn topology(conditions: &str) -> String {
    format!(
        "networks:\n  3g: {{conditions: {conditions}}}\nnodes:\n  server: {{app: {{path: clock, http: true}}, networks: [3g]}}\n  reader:\n    app: {{path: reader, params: {{servient_host: server.3g, thing_id: 'urn:a'}}}}\n    networks: [3g]\n    scale: 2\n"
    )
}

/// A dataset: two readers calling `urn:a · temp · readproperty` (median 100 ms × `shift`) and
/// `urn:b · reset · invokeaction` (median 50 ms), 1 % failures, CPU and memory samples.
fn dataset(root: &Path, name: &str, seed: u64, shift: f64, conditions: &str) -> PathBuf {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let stack = name;
    let _: () = redis::cmd("SET")
        .arg(StackKeys::new(stack).topology())
        .arg(topology(conditions))
        .query(&mut conn)
        .unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    for slot in 1..=2u32 {
        let task = format!("{stack}_reader.{slot}.x{slot}");
        register_task(
            &mut conn,
            stack,
            &wotemu_contract::task::TaskInfo {
                task: task.clone(),
                node: "reader".into(),
                service: format!("{stack}_reader"),
                slot: Some(slot),
                ..Default::default()
            },
        );
        let mut rows = Vec::new();
        for i in 0..N {
            for (thing, name, verb, median, k) in [
                ("urn:a", "temp", "readproperty", 100.0 * shift, 0.5),
                ("urn:b", "reset", "invokeaction", 50.0, 0.3),
            ] {
                let ok = rng.random::<f64>() >= 0.01;
                rows.push(Interaction {
                    task: task.clone(),
                    node: "reader".into(),
                    time: START + i as i64 * 20_000,
                    thing: thing.into(),
                    name: name.into(),
                    verb: verb.into(),
                    side: "consumed".into(),
                    latency_ms: Some(lognormal(&mut rng, median, k)),
                    ok,
                    error_type: (!ok).then(|| "TimeoutError".to_owned()),
                    error_message: None,
                    host: Some("server.3g".into()),
                    result: None,
                });
            }
        }
        let system: Vec<SystemSample> = (0..50)
            .map(|i| SystemSample {
                task: task.clone(),
                node: "reader".into(),
                time: START + i * 1_000_000,
                cpu_percent: Some(10.0 + f64::from(slot)),
                cpu_limit_percent: None,
                mem_bytes: Some(50 << 20),
                mem_limit_bytes: Some(150 << 20),
                cpu_throttled_us: None,
                oom_kills: Some(0),
            })
            .collect();
        xadd_entries(
            &mut conn,
            stack,
            &task,
            &[
                StreamEntry::new(
                    1,
                    Interaction::to_batch(&rows),
                    wotemu_contract::Table::Interactions,
                ),
                StreamEntry::new(
                    2,
                    SystemSample::to_batch(&system),
                    wotemu_contract::Table::System,
                ),
            ],
        );
    }
    let dir = root.join(name);
    wotemu_collector::collect_quiet(&CollectOptions::new(&redis.url(), stack, &dir)).unwrap();
    dir
}

struct Runs {
    _dir: tempfile::TempDir,
    /// Baseline on 3G.
    base: PathBuf,
    /// urn:a 20 % slower, on LTE.
    slower: PathBuf,
    /// The baseline's design again, other random draws.
    same: PathBuf,
}

fn runs() -> &'static Runs {
    static R: OnceLock<Runs> = OnceLock::new();
    R.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        Runs {
            base: dataset(dir.path(), "base", 1, 1.0, "regular_3g"),
            slower: dataset(dir.path(), "slower", 2, 1.2, "lte"),
            same: dataset(dir.path(), "same", 3, 1.0, "regular_3g"),
            _dir: dir,
        }
    })
}

fn load(runs: Vec<PathBuf>, gates: &[&str], sweep: Option<SweepInfo>) -> Comparison {
    try_load(runs, gates, sweep).unwrap()
}

fn try_load(
    runs: Vec<PathBuf>,
    gates: &[&str],
    sweep: Option<SweepInfo>,
) -> Result<Comparison, wotemu_reporter::Error> {
    Comparison::load(CompareOptions {
        runs,
        baseline: 0,
        title: None,
        base_url: None,
        gates: gates
            .iter()
            .map(|g| compare::gate::parse(g).unwrap())
            .collect(),
        sweep,
    })
}

/// A copy of the files of `from` into `to`, but `skip`.
fn copy_dataset(from: &Path, to: &Path, skip: &str) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap().flatten() {
        if f.path().is_file() && f.file_name() != skip {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

fn group<'a>(c: &'a Comparison, thing: &str) -> &'a compare::GroupRow {
    c.groups().iter().find(|g| g.thing == thing).unwrap()
}

#[test]
fn a_shifted_figure_is_flagged_with_its_sign_and_size() {
    let r = runs();
    let c = load(vec![r.base.clone(), r.slower.clone()], &[], None);
    let a = group(&c, "urn:a");
    let ch = a.runs[1].as_ref().unwrap().change.as_ref().unwrap();
    for (name, x) in [("p50", ch.p50.unwrap()), ("p95", ch.p95.unwrap())] {
        assert!(x.significant, "{name} {x:?}");
        assert!(x.delta > 0.0, "{name} slower is positive: {x:?}");
        let rel = x.relative.unwrap();
        assert!((0.12..0.28).contains(&rel), "{name} is about +20 %: {rel}");
        assert!(
            x.lo > 0.0 && x.lo < x.delta && x.delta < x.hi,
            "{name} {x:?}"
        );
    }
    let b = group(&c, "urn:b");
    let ch = b.runs[1].as_ref().unwrap().change.as_ref().unwrap();
    assert!(
        !ch.significant(),
        "an unchanged figure is not flagged: {ch:?}"
    );
    // The design change is shown: 3G → LTE.
    let diffs = c.json()["differences"].clone();
    let paths: Vec<&str> = diffs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"networks.3g.conditions.latency_ms"),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.starts_with("nodes.")), "{paths:?}");
}

#[test]
fn identical_designs_flag_nothing() {
    let r = runs();
    let c = load(vec![r.base.clone(), r.same.clone()], &[], None);
    for g in c.groups() {
        let ch = g.runs[1].as_ref().unwrap().change.as_ref().unwrap();
        assert!(!ch.significant(), "{} {ch:?}", g.thing);
    }
    assert!(c.json()["differences"].as_array().unwrap().is_empty());
    assert_eq!(c.json()["method"]["tests"], 8, "4 figures × 2 groups");
}

#[test]
fn intervals_cover_the_true_values() {
    // Log-normal, median 100, σ = 0.5: the true p95 is 100·e^(0.5·1.6449).
    let true_p50 = 100.0;
    let true_p95 = 100.0 * (0.5f64 * 1.644_853_6).exp();
    let mut rng = SmallRng::seed_from_u64(42);
    let trials = 400;
    let (mut c50, mut c95) = (0, 0);
    for _ in 0..trials {
        let mut x: Vec<f64> = (0..1000).map(|_| lognormal(&mut rng, 100.0, 0.5)).collect();
        x.sort_by(f64::total_cmp);
        let e = stats::quantile(&x, 0.5).unwrap();
        c50 += usize::from(e.lo.unwrap() <= true_p50 && true_p50 <= e.hi.unwrap());
        let e = stats::quantile(&x, 0.95).unwrap();
        c95 += usize::from(e.lo.unwrap() <= true_p95 && true_p95 <= e.hi.unwrap());
    }
    let (c50, c95) = (c50 as f64 / trials as f64, c95 as f64 / trials as f64);
    assert!((0.92..=0.995).contains(&c50), "p50 coverage {c50}");
    assert!((0.92..=0.995).contains(&c95), "p95 coverage {c95}");
}

#[test]
fn gates_hold_or_are_violated_with_their_figures() {
    let r = runs();
    let c = load(
        vec![r.base.clone(), r.slower.clone()],
        &[
            "p50(urn:a) > 1.1 * baseline",
            "p50(thing=urn:b, verb=invokeaction) > 1.1 * baseline",
            "error_rate(*) > 0.05",
            "mean_cpu(reader) > baseline + 5",
            "p95(nosuch) > 1",
        ],
        None,
    );
    let v = c.verdicts();
    assert_eq!(v.len(), 5);
    assert!(v[0].violated, "{:?}", v[0]);
    assert!(v[0].value.unwrap() > v[0].threshold.unwrap());
    assert!(!v[1].violated, "{:?}", v[1]);
    assert!(!v[2].violated, "{:?}", v[2]);
    assert!(!v[3].violated, "{:?}", v[3]);
    assert!(
        (v[3].value.unwrap() - 11.5).abs() < 1e-9,
        "CPU is pooled over replicas: {:?}",
        v[3]
    );
    assert!(v[4].violated && v[4].reason.as_ref().unwrap().contains("no data"));
}

#[test]
fn the_site_renders_in_headless_chromium() {
    let r = runs();
    let sweep = SweepInfo {
        params: vec!["networks.3g.conditions".into()],
        points: vec![
            (vec!["regular_3g".into()], 1),
            (vec!["lte".into()], 1),
            (vec!["regular_3g".into()], 2),
        ],
    };
    let c = load(
        vec![r.base.clone(), r.slower.clone(), r.same.clone()],
        &["p95(*) > baseline"],
        Some(sweep),
    );
    let out = tempfile::tempdir().unwrap();
    let site = out.path().join("site");
    let rendered = c.render(&site).unwrap();
    assert_eq!(rendered.pages, 1 + 2 + 1);
    let (index, charts) = wotemu_testkit::browser::check_page(&site.join("index.html"));
    assert_eq!(charts, 2);
    assert!(index.contains("▲ worse"), "the slower run is marked");
    assert!(index.contains("networks.3g.conditions.latency_ms"));
    let group = std::fs::read_dir(site.join("groups"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (_, charts) = wotemu_testkit::browser::check_page(&group);
    assert_eq!(charts, 2, "ECDF and intervals");
    let (_, charts) = wotemu_testkit::browser::check_page(&site.join("sweep.html"));
    assert!(charts >= 4, "{charts}");
    // Every chart stays within the point budget.
    for f in [site.join("index.html"), group, site.join("sweep.html")] {
        let charts = wotemu_testkit::browser::page_charts(&f);
        assert!(!charts.is_empty(), "{}", f.display());
        for (id, rows) in charts {
            assert!(rows <= 5000, "{} {id}: {rows} points", f.display());
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], compare::JSON_SCHEMA);
    assert_eq!(
        json["runs"][1]["sweep"]["set"]["networks.3g.conditions"],
        "lte"
    );
}

#[test]
fn bad_datasets_get_clear_errors_or_warnings() {
    let r = runs();
    let tmp = tempfile::tempdir().unwrap();
    // A corrupt manifest: an error naming the folder.
    let corrupt = tmp.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("manifest.json"), "{not json").unwrap();
    let err = try_load(vec![r.base.clone(), corrupt.clone()], &[], None)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("corrupt") && err.to_string().contains("not a run dataset"),
        "{err}"
    );
    // A missing table and no interactions: warnings, and the comparison still works.
    let bare = tmp.path().join("bare");
    copy_dataset(&r.same, &bare, "interactions.parquet");
    let c = load(vec![r.base.clone(), bare], &["p95(*) > 1"], None);
    let w = c.warnings().join("\n");
    assert!(w.contains("no interactions table"), "{w}");
    assert!(w.contains("recorded no client interaction"), "{w}");
    assert!(c.verdicts()[0].violated, "no data violates a gate");
    let out = tmp.path().join("site");
    c.render(&out).unwrap();
    assert!(out.join("index.html").exists());
    // Schema versions: an older dataset compares with a warning; a newer one is an error saying so.
    let with_version = |name: &str, version: u32| {
        let d = tmp.path().join(name);
        copy_dataset(&r.same, &d, "");
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap();
        m["schema_version"] = version.into();
        std::fs::write(d.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        d
    };
    let c = load(vec![r.base.clone(), with_version("older", 0)], &[], None);
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("different schema versions (0, 1)")),
        "{:?}",
        c.warnings()
    );
    let err = try_load(vec![r.base.clone(), with_version("newer", 99)], &[], None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("newer"), "{err}");
}

/// A WoTemu 0.6 import compares beside a dataset of this version: its interactions are grouped the same way,
/// its missing topology is said, nothing fails.
#[test]
fn a_06_import_and_a_new_run_compare() {
    use wotemu_collector::legacy::{import, LegacyOptions};
    let redis = RedisServer::start();
    wotemu_testkit::legacy::store_06(&mut redis.conn(), 1);
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old06");
    import(
        &LegacyOptions {
            redis_url: redis.url(),
            stack: None,
            out: old.clone(),
            spill_bytes: 64 << 20,
        },
        &wotemu_collector::NoProgress,
    )
    .unwrap();
    let c = load(vec![old, runs().base.clone()], &[], None);
    let j = c.json();
    assert!(
        j["runs"][0]["interactions"].as_u64().unwrap() > 0,
        "{}",
        j["runs"][0]
    );
    assert!(
        c.groups().iter().any(|g| g.runs[0].is_some()),
        "the import's interactions are grouped"
    );
    assert!(c.groups().iter().any(|g| g.runs[1].is_some()));
    c.render(&dir.path().join("site")).unwrap();
}
