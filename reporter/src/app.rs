//! The apps' own metrics (the `app` table: `write_metric(key, data)` of 0.6's API, one JSON value per row):
//! every numeric value over time, per node and key.
//!
//! A value that is a number is the series `value`; an object gives one series per top-level numeric field
//! (booleans and strings are left out, and so are timestamps: `created_at` and fields whose name starts
//! with `time`, 0.6's convention for them, e.g. `time_capture`).

use std::collections::BTreeMap;
use std::path::Path;

use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, i64s, scan, strs};

/// One numeric value of an app metric.
#[derive(Debug, Clone, PartialEq)]
pub struct AppPoint {
    pub task: String,
    pub node: String,
    pub time_us: i64,
    pub key: String,
    pub field: String,
    pub value: f64,
}

/// Statistics of one series (key · field) of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct AppStat {
    pub key: String,
    pub field: String,
    pub node: String,
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

fn skipped(field: &str) -> bool {
    field == "created_at" || field.starts_with("time")
}

/// The numeric fields of one JSON value: `(field, value)`.
pub fn numeric_fields(text: &str) -> Vec<(String, f64)> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Number(n)) => n
            .as_f64()
            .map(|v| vec![("value".to_owned(), v)])
            .unwrap_or_default(),
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .filter(|(k, _)| !skipped(k))
            .filter_map(|(k, v)| v.as_f64().filter(|x| x.is_finite()).map(|x| (k.clone(), x)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every numeric point of the dataset's app metrics, in time order.
pub fn points(dir: &Path) -> Result<Vec<AppPoint>, Error> {
    let Some(lf) = scan(dir, Table::App)? else {
        return Ok(Vec::new());
    };
    let df = collect(lf.sort(["time"], Default::default()), Table::App)?;
    let (task, node, key, value) = (
        strs(&df, "task"),
        strs(&df, "node"),
        strs(&df, "key"),
        strs(&df, "value"),
    );
    let time = i64s(&df, "time");
    let mut out = Vec::new();
    for i in 0..df.height() {
        let (Some(t), Some(v)) = (time[i], value[i].as_deref()) else {
            continue;
        };
        for (field, x) in numeric_fields(v) {
            out.push(AppPoint {
                task: task[i].clone().unwrap_or_default(),
                node: node[i].clone().unwrap_or_default(),
                time_us: t,
                key: key[i].clone().unwrap_or_default(),
                field,
                value: x,
            });
        }
    }
    Ok(out)
}

/// Nearest-rank percentile of sorted values.
fn rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    sorted[i]
}

/// Count, mean, p50, p95 (nearest rank) and max per key · field · node.
pub fn stats(points: &[AppPoint]) -> Vec<AppStat> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<f64>> = BTreeMap::new();
    for p in points {
        groups
            .entry((&p.key, &p.field, &p.node))
            .or_default()
            .push(p.value);
    }
    groups
        .into_iter()
        .map(|((key, field, node), mut v)| {
            v.sort_by(f64::total_cmp);
            AppStat {
                key: key.into(),
                field: field.into(),
                node: node.into(),
                count: v.len(),
                mean: v.iter().sum::<f64>() / v.len() as f64,
                p50: rank(&v, 0.5),
                p95: rank(&v, 0.95),
                max: v[v.len() - 1],
            }
        })
        .collect()
}

/// The mean of each series per window: `(window start ms, series, mean)`, series named by `series`.
pub fn windowed<'a>(
    points: impl Iterator<Item = &'a AppPoint>,
    window_us: i64,
    series: impl Fn(&AppPoint) -> String,
) -> Vec<(f64, String, f64)> {
    let mut sums: BTreeMap<(String, i64), (f64, usize)> = BTreeMap::new();
    let w = window_us.max(1);
    for p in points {
        let e = sums
            .entry((series(p), p.time_us.div_euclid(w) * w))
            .or_insert((0.0, 0));
        e.0 += p.value;
        e.1 += 1;
    }
    let mut rows: Vec<(f64, String, f64)> = sums
        .into_iter()
        .map(|((s, t), (sum, n))| (t as f64 / 1000.0, s, sum / n as f64))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_numeric_fields_but_not_timestamps() {
        assert_eq!(numeric_fields("2.5"), [("value".to_owned(), 2.5)]);
        let mut f = numeric_fields(
            r#"{"latency_detect": 0.25, "faces": 2, "time_capture": 1.7e9, "created_at": 1.7e9, "camera_id": "c", "ok": true}"#,
        );
        f.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            f,
            [
                ("faces".to_owned(), 2.0),
                ("latency_detect".to_owned(), 0.25)
            ]
        );
        assert!(numeric_fields("\"text\"").is_empty());
        assert!(numeric_fields("not json").is_empty());
    }

    fn point(node: &str, t: i64, v: f64) -> AppPoint {
        AppPoint {
            task: format!("{node}.1"),
            node: node.into(),
            time_us: t,
            key: "k".into(),
            field: "value".into(),
            value: v,
        }
    }

    #[test]
    fn statistics_are_exact_per_node() {
        let pts: Vec<AppPoint> = (1..=20)
            .map(|i| point("a", i, i as f64))
            .chain([point("b", 1, 7.0)])
            .collect();
        let s = stats(&pts);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].count, s[0].mean, s[0].p50, s[0].p95, s[0].max),
            (20, 10.5, 10.0, 19.0, 20.0)
        );
        assert_eq!((s[1].node.as_str(), s[1].count, s[1].max), ("b", 1, 7.0));
    }

    #[test]
    fn windows_average_each_series() {
        let pts = [
            point("a", 0, 1.0),
            point("a", 999_999, 3.0),
            point("a", 1_000_000, 10.0),
            point("b", 5, 4.0),
        ];
        let rows = windowed(pts.iter(), 1_000_000, |p| p.node.clone());
        assert_eq!(
            rows,
            [
                (0.0, "a".to_owned(), 2.0),
                (0.0, "b".to_owned(), 4.0),
                (1000.0, "a".to_owned(), 10.0)
            ]
        );
    }
}
