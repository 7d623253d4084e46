//! `wotemu query`: SQL over datasets, checked against the Parquet files read independently (arrow-rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, BooleanArray, Float64Array, StringArray};
use wotemu_testkit::load::load_synthetic;
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

use crate::util::{stderr, stdout, wotemu};

/// A dataset of the test kit (server and two readers, every table), with the report rendered from it:
/// returns (dataset, site).
pub(crate) fn testkit_dataset(root: &Path, stack: &str, seed: u64) -> (PathBuf, PathBuf) {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(seed, stack);
    let tasks = synth.tasks(&[("server", 1), ("reader", 2)]);
    load_synthetic(&mut conn, &mut synth, stack, &tasks, 300, 100, false);
    let site = root.join(stack);
    let o = wotemu()
        .args(["report", "--stack", stack, "--redis-url", &redis.url()])
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    (site.join("dataset"), site)
}

/// (thing, verb) → (interactions, failed, sum of latencies), read with arrow-rs from the Parquet file.
fn by_thing_and_verb(dataset: &Path) -> BTreeMap<(String, String), (i64, i64, f64)> {
    let file = std::fs::File::open(dataset.join("interactions.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = BTreeMap::new();
    for batch in reader {
        let b = batch.unwrap();
        let s = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone()
        };
        let (thing, verb) = (s("thing"), s("verb"));
        let ok = b.column_by_name("ok").unwrap();
        let ok = ok.as_any().downcast_ref::<BooleanArray>().unwrap();
        let lat = b.column_by_name("latency_ms").unwrap();
        let lat = lat.as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..b.num_rows() {
            let e = out
                .entry((thing.value(i).to_owned(), verb.value(i).to_owned()))
                .or_insert((0, 0, 0.0));
            e.0 += 1;
            e.1 += i64::from(!ok.value(i));
            if lat.is_valid(i) {
                e.2 += lat.value(i);
            }
        }
    }
    out
}

const GROUP_BY: &str = "SELECT thing, verb, count(*) AS n, sum(CAST(NOT ok AS INT)) AS failed, \
     sum(latency_ms) AS total FROM interactions GROUP BY thing, verb ORDER BY thing, verb";

#[test]
fn a_group_by_equals_the_parquet_read_independently_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, _) = testkit_dataset(dir.path(), "q", 7);
    let want = by_thing_and_verb(&dataset);
    assert!(want.len() > 1, "{want:?}");

    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg(GROUP_BY)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.len(), want.len());
    for (r, ((thing, verb), (n, failed, total))) in rows.iter().zip(&want) {
        assert_eq!(r["thing"], thing.as_str());
        assert_eq!(r["verb"], verb.as_str());
        assert_eq!(r["n"], *n, "{r}");
        assert_eq!(r["failed"], *failed, "{r}");
        let got = r["total"].as_f64().unwrap();
        assert!(
            (got - total).abs() <= total.abs() * 1e-9,
            "{got} vs {total}"
        );
    }

    // CSV (the default off a terminal): a header and one line per group.
    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg(GROUP_BY)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("thing,verb,n,failed,total"));
    assert_eq!(lines.count(), want.len());
    // CSV has no durations: they are integers, the header saying the unit.
    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg("SELECT max(time) - min(time) AS span FROM interactions")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("span_us"));
    let span: i64 = lines.next().unwrap().parse().unwrap();
    assert!(span > 1_000_000, "{span} µs");

    // Aligned columns, on request: the header, a rule, the rows and their count.
    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg(GROUP_BY)
        .args(["--format", "table"])
        .output()
        .unwrap();
    let table = stdout(&o);
    assert!(
        table.lines().nth(1).unwrap().starts_with("-----"),
        "{table}"
    );
    assert!(
        table.ends_with(&format!("({} rows)\n", want.len())),
        "{table}"
    );

    // Parquet into a file, read back with arrow-rs.
    let out = dir.path().join("result.parquet");
    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg(GROUP_BY)
        .args(["--format", "parquet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&out).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let n: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(n, want.len());
}

#[test]
fn several_runs_are_queried_together_with_a_run_column() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = testkit_dataset(dir.path(), "qa", 1);
    let (b, _) = testkit_dataset(dir.path(), "qb", 2);
    let count = |d: &Path| -> i64 { by_thing_and_verb(d).values().map(|v| v.0).sum() };
    let o = wotemu()
        .args(["query", "--format", "json"])
        .arg("--run")
        .arg(format!("a={}", a.display()))
        .arg("--run")
        .arg(format!("b={}", b.display()))
        .arg("SELECT run, count(*) AS n FROM interactions GROUP BY run ORDER BY run")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"run": "a", "n": count(&a)}),
            serde_json::json!({"run": "b", "n": count(&b)}),
        ]
    );
}

#[test]
fn a_wrong_query_exits_2_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, _) = testkit_dataset(dir.path(), "qbad", 3);
    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg("SELECT thing FRM interactions")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("the query is wrong at 1:"), "{err}");
    assert!(err.contains("SELECT thing FRM interactions"), "{err}");

    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg("SELECT thing,\n  nonsense FROM interactions")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("at 2:3"), "{err}");
    assert!(err.contains("nonsense"), "{err}");

    let o = wotemu()
        .arg("query")
        .arg(&dataset)
        .arg("SELECT * FROM interaction")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the tables are: packets, interactions"),
        "{}",
        stderr(&o)
    );

    // Not a dataset, or a malformed --run: an error (1) that says what to give.
    let o = wotemu()
        .arg("query")
        .arg(dir.path())
        .arg("SELECT 1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a run dataset"),
        "{}",
        stderr(&o)
    );
    let o = wotemu()
        .args(["query", "--run", "nodir", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expected NAME=DIR"), "{}", stderr(&o));
}

/// In CSV a duration (`time - time`) is an integer whose column name says its unit (`span_us`), and equals the
/// span read from the Parquet file independently.
#[test]
fn a_duration_in_csv_is_an_integer_named_with_its_unit() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, _) = testkit_dataset(dir.path(), "qd", 3);
    let o = wotemu()
        .args(["query", "--format", "csv"])
        .arg(&dataset)
        .arg("SELECT task, max(time) - min(time) AS span FROM interactions GROUP BY task ORDER BY task")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("task,span_us"), "{text}");
    let got: BTreeMap<String, i64> = lines
        .map(|l| {
            let (task, span) = l.split_once(',').unwrap();
            (
                task.to_owned(),
                span.parse().unwrap_or_else(|e| panic!("{l}: {e}")),
            )
        })
        .collect();
    // The same spans from the Parquet file (microsecond timestamps).
    let file = std::fs::File::open(dataset.join("interactions.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut spans: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for batch in reader {
        let b = batch.unwrap();
        let task = b.column_by_name("task").unwrap();
        let task = task.as_any().downcast_ref::<StringArray>().unwrap();
        let time = b.column_by_name("time").unwrap();
        let time = time
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        for i in 0..b.num_rows() {
            let e = spans
                .entry(task.value(i).to_owned())
                .or_insert((i64::MAX, i64::MIN));
            e.0 = e.0.min(time.value(i));
            e.1 = e.1.max(time.value(i));
        }
    }
    let want: BTreeMap<String, i64> = spans.into_iter().map(|(t, (a, b))| (t, b - a)).collect();
    assert!(want.values().any(|s| *s > 0), "{want:?}");
    assert_eq!(got, want);
}
