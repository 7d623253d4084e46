//! The numbers of the report, computed with Polars on every row (charts may be bucketed; statistics never are).

use std::path::Path;

use polars::prelude::*;
use serde::Serialize;
use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, f64s, i64s, scan, strs, time_us};

/// Latency and outcome of one group of interactions (side, thing, name, verb).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyRow {
    /// `consumed` (what a client observed) or `exposed` (a server's handler).
    pub side: String,
    pub thing: String,
    /// The property, action or event.
    pub name: String,
    pub verb: String,
    pub count: i64,
    pub errors: i64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// The grouping of the report's latency tables.
pub const LATENCY_GROUPS: [&str; 4] = ["side", "thing", "name", "verb"];

/// Latency figures per group of `by` (columns of the interactions table), most used first: `count`,
/// `errors`, `ok_rate` (0–1), `p50`, `p95`, `p99` and `max` (ms). Percentiles are linear interpolations over
/// every interaction with a latency, never a sample. The report and the Python package both use this.
pub fn latency_frame(lf: LazyFrame, by: &[&str]) -> LazyFrame {
    let q = |p: f64, name: &str| {
        col("latency_ms")
            .quantile(lit(p), QuantileMethod::Linear)
            .alias(name)
    };
    let keys: Vec<Expr> = by.iter().map(|c| col(*c)).collect();
    let mut order = vec![col("count")];
    order.extend(keys.iter().cloned());
    let mut descending = vec![true];
    descending.extend(by.iter().map(|_| false));
    lf.group_by(keys)
        .agg([
            len().cast(DataType::Int64).alias("count"),
            col("ok").not().cast(DataType::Int64).sum().alias("errors"),
            col("ok").cast(DataType::Float64).mean().alias("ok_rate"),
            q(0.5, "p50"),
            q(0.95, "p95"),
            q(0.99, "p99"),
            col("latency_ms").max().alias("max"),
        ])
        .sort_by_exprs(
            order,
            SortMultipleOptions::default().with_order_descending_multi(descending),
        )
}

/// Latency percentiles per side × thing × name × verb, most used first ([`latency_frame`]).
pub fn latency_table(lf: LazyFrame) -> Result<Vec<LatencyRow>, Error> {
    let df = collect(latency_frame(lf, &LATENCY_GROUPS), Table::Interactions)?;
    let s = |c| strs(&df, c);
    let (side, thing, name, verb) = (s("side"), s("thing"), s("name"), s("verb"));
    let (count, errors) = (i64s(&df, "count"), i64s(&df, "errors"));
    let (p50, p95, p99, max) = (
        f64s(&df, "p50"),
        f64s(&df, "p95"),
        f64s(&df, "p99"),
        f64s(&df, "max"),
    );
    Ok((0..df.height())
        .map(|i| LatencyRow {
            side: side[i].clone().unwrap_or_default(),
            thing: thing[i].clone().unwrap_or_default(),
            name: name[i].clone().unwrap_or_default(),
            verb: verb[i].clone().unwrap_or_default(),
            count: count[i].unwrap_or(0),
            errors: errors[i].unwrap_or(0),
            p50: p50[i],
            p95: p95[i],
            p99: p99[i],
            max: max[i],
        })
        .collect())
}

/// A group of failed interactions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorGroup {
    pub error_type: String,
    pub error_message: String,
    pub thing: String,
    pub name: String,
    pub verb: String,
    pub count: i64,
    pub tasks: i64,
    pub first_us: i64,
    pub last_us: i64,
}

/// Failed interactions grouped by type, message, thing, name and verb, most frequent first: `count`, `tasks`
/// (how many tasks saw it), `first` and `last` (µs since the epoch). The report and the Python package both
/// use this.
pub fn errors_frame(lf: LazyFrame) -> LazyFrame {
    lf.filter(col("ok").not())
        .with_columns([
            col("error_type").fill_null(lit("(unknown)")),
            col("error_message").fill_null(lit("")),
        ])
        .group_by([
            col("error_type"),
            col("error_message"),
            col("thing"),
            col("name"),
            col("verb"),
        ])
        .agg([
            len().alias("count"),
            col("task").n_unique().alias("tasks"),
            time_us().min().alias("first"),
            time_us().max().alias("last"),
        ])
        .sort_by_exprs(
            [
                col("count"),
                col("error_type"),
                col("error_message"),
                col("thing"),
                col("name"),
                col("verb"),
            ],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, false, false, false, false, false]),
        )
}

/// Failed interactions grouped by type, message, thing and verb; most frequent first ([`errors_frame`]).
pub fn error_groups(lf: LazyFrame) -> Result<Vec<ErrorGroup>, Error> {
    let df = collect(errors_frame(lf), Table::Interactions)?;
    let s = |n| strs(&df, n);
    let (ty, msg, thing, name, verb) = (
        s("error_type"),
        s("error_message"),
        s("thing"),
        s("name"),
        s("verb"),
    );
    let (count, tasks, first, last) = (
        i64s(&df, "count"),
        i64s(&df, "tasks"),
        i64s(&df, "first"),
        i64s(&df, "last"),
    );
    Ok((0..df.height())
        .map(|i| ErrorGroup {
            error_type: ty[i].clone().unwrap_or_default(),
            error_message: msg[i].clone().unwrap_or_default(),
            thing: thing[i].clone().unwrap_or_default(),
            name: name[i].clone().unwrap_or_default(),
            verb: verb[i].clone().unwrap_or_default(),
            count: count[i].unwrap_or(0),
            tasks: tasks[i].unwrap_or(0),
            first_us: first[i].unwrap_or(0),
            last_us: last[i].unwrap_or(0),
        })
        .collect())
}

/// A group of subscription errors (`error` events, whose item is `{"type", "message"}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventErrorGroup {
    pub error_type: String,
    pub error_message: String,
    pub thing: String,
    pub name: String,
    pub count: i64,
    pub tasks: i64,
    pub first_us: i64,
    pub last_us: i64,
}

/// `error` events grouped by type, message, thing and event name; most frequent first.
pub fn event_error_groups(lf: LazyFrame) -> Result<Vec<EventErrorGroup>, Error> {
    let df = collect(
        lf.filter(col("kind").eq(lit("error")))
            .with_column(col("item").fill_null(lit("")))
            .group_by([col("thing"), col("name"), col("item")])
            .agg([
                len().alias("count"),
                col("task").unique().alias("task_set"),
                time_us().min().alias("first"),
                time_us().max().alias("last"),
            ]),
        Table::Events,
    )?;
    let (thing, name, item) = (strs(&df, "thing"), strs(&df, "name"), strs(&df, "item"));
    let (count, first, last) = (i64s(&df, "count"), i64s(&df, "first"), i64s(&df, "last"));
    let task_sets: Vec<Vec<String>> = match df
        .column("task_set")
        .ok()
        .and_then(|c| c.as_materialized_series().list().ok().cloned())
    {
        Some(ca) => ca
            .into_iter()
            .map(|v| {
                v.and_then(|s| {
                    s.str()
                        .ok()
                        .map(|s| s.into_iter().flatten().map(str::to_owned).collect())
                })
                .unwrap_or_default()
            })
            .collect(),
        None => vec![Vec::new(); df.height()],
    };
    // Items differ by more than type and message (0.6 recorded the whole error); group on those two.
    // (type, message, thing, name) → (count, tasks, first, last)
    type Key = (String, String, String, String);
    type Acc = (i64, std::collections::BTreeSet<String>, i64, i64);
    let mut groups: std::collections::BTreeMap<Key, Acc> = Default::default();
    for i in 0..df.height() {
        let text = item[i].clone().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let (ty, msg) = match (field("type"), field("message")) {
            (None, None) => ("(unknown)".to_owned(), text.clone()),
            (t, m) => (
                t.unwrap_or_else(|| "(unknown)".into()),
                m.unwrap_or_default(),
            ),
        };
        let key = (
            ty,
            msg,
            thing[i].clone().unwrap_or_default(),
            name[i].clone().unwrap_or_default(),
        );
        let e = groups
            .entry(key)
            .or_insert((0, Default::default(), i64::MAX, i64::MIN));
        e.0 += count[i].unwrap_or(0);
        e.1.extend(task_sets[i].iter().cloned());
        e.2 = e.2.min(first[i].unwrap_or(i64::MAX));
        e.3 = e.3.max(last[i].unwrap_or(i64::MIN));
    }
    let mut out: Vec<EventErrorGroup> = groups
        .into_iter()
        .map(
            |((error_type, error_message, thing, name), (count, tasks, first, last))| {
                EventErrorGroup {
                    error_type,
                    error_message,
                    thing,
                    name,
                    count,
                    tasks: tasks.len() as i64,
                    first_us: first,
                    last_us: last,
                }
            },
        )
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.error_type.cmp(&b.error_type))
    });
    Ok(out)
}

/// Packets and bytes of one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Talker {
    pub task: String,
    pub packets: i64,
    pub bytes: i64,
}

/// Tasks by bytes counted on their interfaces, largest first.
pub fn talkers(lf: LazyFrame, limit: u32) -> Result<Vec<Talker>, Error> {
    let df = collect(
        lf.group_by([col("task")])
            .agg([
                len().alias("packets"),
                col("len").cast(DataType::Int64).sum().alias("bytes"),
            ])
            .sort_by_exprs(
                [col("bytes"), col("task")],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )
            .limit(limit),
        Table::Packets,
    )?;
    let (task, packets, bytes) = (strs(&df, "task"), i64s(&df, "packets"), i64s(&df, "bytes"));
    Ok((0..df.height())
        .map(|i| Talker {
            task: task[i].clone().unwrap_or_default(),
            packets: packets[i].unwrap_or(0),
            bytes: bytes[i].unwrap_or(0),
        })
        .collect())
}

/// A window width (µs) that gives at most `max_points` windows over `span_us` per series, and at least `min_us`.
pub fn window_us(span_us: i64, max_points: i64, min_us: i64) -> i64 {
    let raw = (span_us.max(1) + max_points - 1) / max_points.max(1);
    // Round up to a readable width: 1, 2, 5 × 10^k µs.
    let mut w = min_us.max(1);
    let steps = [1, 2, 5];
    let mut k = 1i64;
    'outer: loop {
        for s in steps {
            let c = s * k;
            if c >= raw && c >= min_us {
                w = c;
                break 'outer;
            }
        }
        k = k.saturating_mul(10);
        if k > 1_000_000_000_000 {
            break;
        }
    }
    w.max(min_us)
}

/// Packets and bytes per window of `width_us` (µs) and per group of `by` (columns of the packets table):
/// `window` (start, µs since the epoch), the `by` columns, `packets`, `bytes`; in window order.
pub fn traffic_frame(lf: LazyFrame, by: &[&str], width_us: i64) -> LazyFrame {
    let mut keys = vec![col("window")];
    keys.extend(by.iter().map(|c| col(*c)));
    lf.with_column(((time_us() / lit(width_us)) * lit(width_us)).alias("window"))
        .group_by(keys.clone())
        .agg([
            len().cast(DataType::Int64).alias("packets"),
            col("len").cast(DataType::Int64).sum().alias("bytes"),
        ])
        .sort_by_exprs(keys, SortMultipleOptions::default())
}

/// One measurement of the system table (`cpu_percent` or `mem_bytes`) per task: `task`, `node`, `samples`,
/// `mean`, `max` and the task's `limit` (`cpu_limit_percent` or `mem_limit_bytes`; null without one), by task.
/// The report's CPU and memory per task are the `mean` and `max` columns of this.
pub fn system_frame(lf: LazyFrame, column: &str) -> LazyFrame {
    let limit = if column == "cpu_percent" {
        "cpu_limit_percent"
    } else {
        "mem_limit_bytes"
    };
    lf.filter(col(column).is_not_null())
        .group_by([col("task"), col("node")])
        .agg([
            len().cast(DataType::Int64).alias("samples"),
            col(column).cast(DataType::Float64).mean().alias("mean"),
            col(column).cast(DataType::Float64).max().alias("max"),
            col(limit).cast(DataType::Float64).max().alias("limit"),
        ])
        .sort_by_exprs([col("task")], SortMultipleOptions::default())
}

/// Sums of `value` per window of `width_us` and per `series` column: rows (window start µs, series, sum).
pub fn window_sums(
    lf: LazyFrame,
    value: Expr,
    series: &str,
    width_us: i64,
    table: Table,
) -> Result<Vec<(i64, String, f64)>, Error> {
    let df = collect(
        lf.with_column(((time_us() / lit(width_us)) * lit(width_us)).alias("window"))
            .group_by([col("window"), col(series)])
            .agg([value.cast(DataType::Float64).sum().alias("value")])
            .sort_by_exprs([col("window"), col(series)], SortMultipleOptions::default()),
        table,
    )?;
    let (w, s, v) = (i64s(&df, "window"), strs(&df, series), f64s(&df, "value"));
    Ok((0..df.height())
        .map(|i| {
            (
                w[i].unwrap_or(0),
                s[i].clone().unwrap_or_default(),
                v[i].unwrap_or(0.0),
            )
        })
        .collect())
}

/// A value of 1 for every row, to count rows with [`window_sums`] (a bare `lit(1)` sums to 1 per group).
pub fn ones() -> Expr {
    col("task").is_not_null().cast(DataType::Float64)
}

/// Min, mean and max of a numeric column per window: rows (window start µs, min, mean, max).
pub fn window_stats(
    lf: LazyFrame,
    column: &str,
    width_us: i64,
    table: Table,
) -> Result<Vec<(i64, f64, f64, f64)>, Error> {
    let df = collect(
        lf.filter(col(column).is_not_null())
            .with_column(((time_us() / lit(width_us)) * lit(width_us)).alias("window"))
            .group_by([col("window")])
            .agg([
                col(column).cast(DataType::Float64).min().alias("min"),
                col(column).cast(DataType::Float64).mean().alias("mean"),
                col(column).cast(DataType::Float64).max().alias("max"),
            ])
            .sort_by_exprs([col("window")], SortMultipleOptions::default()),
        table,
    )?;
    let (w, a, m, b) = (
        i64s(&df, "window"),
        f64s(&df, "min"),
        f64s(&df, "mean"),
        f64s(&df, "max"),
    );
    Ok((0..df.height())
        .map(|i| {
            (
                w[i].unwrap_or(0),
                a[i].unwrap_or(0.0),
                m[i].unwrap_or(0.0),
                b[i].unwrap_or(0.0),
            )
        })
        .collect())
}

/// A latency percentile per window and series (a column of `lf`): rows (window start µs, series, ms),
/// interactions without a latency left out.
pub fn window_latency(
    lf: LazyFrame,
    series: &str,
    q: f64,
    width_us: i64,
) -> Result<Vec<(i64, String, f64)>, Error> {
    let df = collect(
        lf.filter(col("latency_ms").is_not_null())
            .with_column(((time_us() / lit(width_us)) * lit(width_us)).alias("window"))
            .group_by([col("window"), col(series)])
            .agg([col("latency_ms")
                .quantile(lit(q), QuantileMethod::Linear)
                .alias("value")])
            .sort_by_exprs([col("window"), col(series)], SortMultipleOptions::default()),
        Table::Interactions,
    )?;
    let (w, s, v) = (i64s(&df, "window"), strs(&df, series), f64s(&df, "value"));
    Ok((0..df.height())
        .filter_map(|i| Some((w[i]?, s[i].clone().unwrap_or_default(), v[i]?)))
        .collect())
}

/// Row count, and time span (µs) of a table.
pub fn count_and_span(dir: &Path, table: Table) -> Result<(i64, Option<i64>, Option<i64>), Error> {
    let Some(lf) = scan(dir, table)? else {
        return Ok((0, None, None));
    };
    let df = collect(
        lf.select([
            len().alias("n"),
            time_us().min().alias("lo"),
            time_us().max().alias("hi"),
        ]),
        table,
    )?;
    Ok((
        i64s(&df, "n")[0].unwrap_or(0),
        i64s(&df, "lo")[0],
        i64s(&df, "hi")[0],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interactions() -> LazyFrame {
        df!(
            "task" => ["a", "a", "b", "b", "b", "c"],
            "thing" => ["t1", "t1", "t1", "t1", "t2", "t2"],
            "name" => ["p"; 6],
            "side" => ["consumed"; 6],
            "verb" => ["readproperty"; 6],
            "latency_ms" => [Some(10.0), Some(20.0), Some(30.0), Some(40.0), None, Some(5.0)],
            "ok" => [true, true, false, true, false, false],
            "error_type" => [None, None, Some("TimeoutError"), None, Some("TimeoutError"), None::<&str>],
            "error_message" => [None, None, Some("no reply"), None, Some("no reply"), Some("x")],
            "time" => [1_000_000i64, 2_000_000, 3_000_000, 4_000_000, 5_000_000, 6_000_000],
        )
        .unwrap()
        .lazy()
    }

    #[test]
    fn latency_percentiles_are_exact() {
        let rows = latency_table(interactions()).unwrap();
        assert_eq!(rows.len(), 2);
        let t1 = &rows[0];
        assert_eq!((t1.thing.as_str(), t1.count, t1.errors), ("t1", 4, 1));
        // Linear interpolation over [10, 20, 30, 40].
        assert_eq!(t1.p50, Some(25.0));
        assert!((t1.p95.unwrap() - 38.5).abs() < 1e-9);
        assert!((t1.p99.unwrap() - 39.7).abs() < 1e-9);
        assert_eq!(t1.max, Some(40.0));
        let t2 = &rows[1];
        assert_eq!((t2.count, t2.errors, t2.p50), (2, 2, Some(5.0)));
    }

    #[test]
    fn the_two_sides_and_each_name_are_their_own_rows() {
        let lf = df!(
            "thing" => ["t"; 5],
            "name" => ["a", "a", "b", "a", "a"],
            "side" => ["consumed", "consumed", "consumed", "exposed", "exposed"],
            "verb" => ["readproperty"; 5],
            "latency_ms" => [1200.0, 1300.0, 900.0, 0.02, 0.03],
            "ok" => [true; 5],
        )
        .unwrap()
        .lazy();
        let rows = latency_table(lf).unwrap();
        let key: Vec<(&str, &str, i64)> = rows
            .iter()
            .map(|r| (r.side.as_str(), r.name.as_str(), r.count))
            .collect();
        assert_eq!(
            key,
            [
                ("consumed", "a", 2),
                ("exposed", "a", 2),
                ("consumed", "b", 1)
            ]
        );
        assert_eq!(
            rows[0].p50,
            Some(1250.0),
            "clients' latency is not mixed with the handler's"
        );
        let df = latency_frame(
            df!("side" => ["consumed", "consumed"], "latency_ms" => [1.0, 3.0], "ok" => [true, false])
                .unwrap()
                .lazy(),
            &["side"],
        )
        .collect()
        .unwrap();
        assert_eq!(f64s(&df, "ok_rate"), [Some(0.5)]);
    }

    #[test]
    fn errors_group_by_type_message_and_thing() {
        let groups = error_groups(interactions()).unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(
            (
                groups[0].error_type.as_str(),
                groups[0].count,
                groups[0].tasks
            ),
            ("(unknown)", 1, 1)
        );
        let timeouts: Vec<_> = groups
            .iter()
            .filter(|g| g.error_type == "TimeoutError")
            .collect();
        assert_eq!(timeouts.len(), 2, "different things are different groups");
        assert_eq!(
            (timeouts[0].first_us, timeouts[0].last_us),
            (3_000_000, 3_000_000)
        );
    }

    #[test]
    fn subscription_errors_keep_their_type_and_message() {
        let lf = df!(
            "task" => ["a", "a", "b", "b"],
            "thing" => ["t"; 4],
            "name" => ["tick"; 4],
            "kind" => ["error", "next", "error", "error"],
            "item" => [
                Some(r#"{"type":"ConnectionError","message":"lost"}"#),
                Some("1"),
                Some(r#"{"type":"ConnectionError","message":"lost","traceback":"x"}"#),
                None,
            ],
            "time" => [1i64, 2, 3, 4],
        )
        .unwrap()
        .lazy();
        let g = event_error_groups(lf).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(
            (
                g[0].error_type.as_str(),
                g[0].error_message.as_str(),
                g[0].count,
                g[0].tasks
            ),
            ("ConnectionError", "lost", 2, 2)
        );
        assert_eq!((g[0].first_us, g[0].last_us), (1, 3));
        assert_eq!(g[1].error_type, "(unknown)");
    }

    #[test]
    fn window_sums_are_exact() {
        let lf = df!(
            "task" => ["a", "a", "a", "b"],
            "proto" => ["http", "http", "mqtt", "http"],
            "len" => [100u32, 50, 7, 1],
            "time" => [0i64, 9_999_999, 10_000_000, 25_000_000],
        )
        .unwrap()
        .lazy();
        let rows = window_sums(lf, col("len"), "proto", 10_000_000, Table::Packets).unwrap();
        assert_eq!(
            rows,
            [
                (0, "http".to_owned(), 150.0),
                (10_000_000, "mqtt".to_owned(), 7.0),
                (20_000_000, "http".to_owned(), 1.0)
            ]
        );
    }

    #[test]
    fn window_counts_count_rows() {
        let lf = df!(
            "task" => ["a", "a", "a", "b"],
            "outcome" => ["ok", "ok", "error", "ok"],
            "time" => [0i64, 1, 2, 10_000_000],
        )
        .unwrap()
        .lazy();
        let rows = window_sums(lf, ones(), "outcome", 10_000_000, Table::Interactions).unwrap();
        assert_eq!(
            rows,
            [
                (0, "error".to_owned(), 1.0),
                (0, "ok".to_owned(), 2.0),
                (10_000_000, "ok".to_owned(), 1.0)
            ]
        );
    }

    #[test]
    fn windows_keep_charts_under_the_point_budget() {
        assert_eq!(window_us(60_000_000, 5000, 1_000_000), 1_000_000);
        assert_eq!(window_us(3_600_000_000, 5000, 1_000_000), 1_000_000);
        assert_eq!(window_us(36_000_000_000, 5000, 1_000_000), 10_000_000);
        let w = window_us(86_400_000_000, 5000, 1_000_000);
        assert!(86_400_000_000 / w <= 5000, "{w}");
    }
}

/// Packets and bytes per (task, src, dst), as captured by each task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    pub task: String,
    pub src: String,
    pub dst: String,
    pub packets: i64,
    pub bytes: i64,
}

/// Every (task, src, dst) with its packets and bytes (computed on all rows).
pub fn flows(lf: LazyFrame) -> Result<Vec<Flow>, Error> {
    let df = collect(
        lf.group_by([col("task"), col("src"), col("dst")])
            .agg([
                len().alias("packets"),
                col("len").cast(DataType::Int64).sum().alias("bytes"),
            ])
            .sort_by_exprs(
                [col("task"), col("src"), col("dst")],
                SortMultipleOptions::default(),
            ),
        Table::Packets,
    )?;
    let (task, src, dst) = (strs(&df, "task"), strs(&df, "src"), strs(&df, "dst"));
    let (packets, bytes) = (i64s(&df, "packets"), i64s(&df, "bytes"));
    Ok((0..df.height())
        .map(|i| Flow {
            task: task[i].clone().unwrap_or_default(),
            src: src[i].clone().unwrap_or_default(),
            dst: dst[i].clone().unwrap_or_default(),
            packets: packets[i].unwrap_or(0),
            bytes: bytes[i].unwrap_or(0),
        })
        .collect())
}

/// Latency quantiles of one group: [min, p25, p50, p75, p95, p99, max] and the count with a latency.
pub type Quantiles = ([f64; 7], i64);

/// Latency distribution per (thing, verb, side), on every row with a latency, for one task's frame.
pub fn latency_boxes(lf: LazyFrame) -> Result<Vec<(String, String, Quantiles)>, Error> {
    let q = |p: f64, name: &str| {
        col("latency_ms")
            .quantile(lit(p), QuantileMethod::Linear)
            .alias(name)
    };
    let df = collect(
        lf.filter(col("latency_ms").is_not_null())
            .group_by([col("thing"), col("name"), col("verb"), col("side")])
            .agg([
                col("latency_ms").min().alias("min"),
                q(0.25, "p25"),
                q(0.5, "p50"),
                q(0.75, "p75"),
                q(0.95, "p95"),
                q(0.99, "p99"),
                col("latency_ms").max().alias("max"),
                len().alias("n"),
            ])
            .sort_by_exprs(
                [col("thing"), col("name"), col("verb"), col("side")],
                SortMultipleOptions::default(),
            ),
        Table::Interactions,
    )?;
    let (thing, name, verb) = (strs(&df, "thing"), strs(&df, "name"), strs(&df, "verb"));
    let (side, n) = (strs(&df, "side"), i64s(&df, "n"));
    let cols: Vec<Vec<Option<f64>>> = ["min", "p25", "p50", "p75", "p95", "p99", "max"]
        .iter()
        .map(|c| f64s(&df, c))
        .collect();
    Ok((0..df.height())
        .map(|i| {
            let mut q = [0.0; 7];
            for (k, c) in cols.iter().enumerate() {
                q[k] = c[i].unwrap_or(0.0);
            }
            (
                format!(
                    "{} · {} · {}",
                    thing[i].as_deref().unwrap_or_default(),
                    name[i].as_deref().unwrap_or_default(),
                    verb[i].as_deref().unwrap_or_default()
                ),
                side[i].clone().unwrap_or_default(),
                (q, n[i].unwrap_or(0)),
            )
        })
        .collect())
}
