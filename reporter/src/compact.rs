//! How a chart reaches a page: its spec is split into a **template** (everything but the inline rows) and
//! its **rows**. Templates are shared: each distinct one is written once, into `static/specs.js`
//! (`window.WOTEMU_SPECS[<id>]`), so the thousand task pages of a large run, whose charts differ only in
//! their rows, do not each carry the same spec. The rows travel in a compact columnar form (below) that
//! `static/app.js` expands back into Vega-Lite's row objects.
//!
//! **Columnar rows** (`{"n": rows, "c": {column: encoded}}`), each column one of:
//! - `[v, …]`: the values as they are (numbers, strings, `null`);
//! - `{"d": [distinct strings], "i": [index or null, …]}`: a dictionary, for strings that repeat;
//! - `{"d": [distinct strings], "m": 1}`: a dictionary whose row `r` holds `d[r % len(d)]` (the series of a
//!   time chart whose every window has every series);
//! - `{"b": base, "s": step, "i": [k or null, …]}`: integers `base + k × step` (window starts, counts);
//! - `{"b": base, "s": step, "k": k}`: row `r` holds `base + floor(r / k) × step` (window starts, `k`
//!   series per window);
//! - `{"=": other}`: the same values as the column `other` (a window's min, mean and max of one sample).
//!
//! Numbers that are not integers keep four significant digits (what a chart or its tooltip can show);
//! integers are written without a fraction.
//! A row without a column has `null` there, as Vega-Lite reads a missing field.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// Where a site keeps its charts' templates.
pub(crate) const SPECS_FILE: &str = "static/specs.js";

/// A chart split for the page: the template's id (a digest of its text) and the page's part.
pub(crate) struct Split {
    pub(crate) template_id: String,
    pub(crate) template: String,
    /// `{"s": id, "d": columnar rows}` (no `d` when the spec carries no inline rows).
    pub(crate) page: Value,
}

/// Splits `spec` into its shared template and its rows.
pub(crate) fn split(mut spec: Value) -> Split {
    let rows = spec
        .get_mut("data")
        .and_then(|d| d.as_object_mut())
        .and_then(|d| d.remove("values"));
    let template = spec.to_string();
    let template_id = digest(&template);
    let mut page = json!({ "s": template_id });
    if let Some(Value::Array(rows)) = rows {
        page["d"] = encode(&rows);
    }
    Split {
        template_id,
        template,
        page,
    }
}

/// A 64-bit FNV-1a digest of `s`, as 12 hex digits (48 bits: a site holds a few hundred templates).
fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
}

/// Rows of objects in the columnar form.
pub(crate) fn encode(rows: &[Value]) -> Value {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if let Some(o) = r.as_object() {
            for k in o.keys() {
                if !names.contains(&k.as_str()) {
                    names.push(k);
                }
            }
        }
    }
    let mut cols = Map::new();
    for name in names {
        let values: Vec<&Value> = rows
            .iter()
            .map(|r| r.get(name).unwrap_or(&Value::Null))
            .collect();
        let encoded = column(&values);
        let same = cols
            .iter()
            .find(|(_, c)| **c == encoded && c.get("=").is_none())
            .map(|(other, _)| other.clone());
        match same {
            Some(other) if encoded.to_string().len() > other.len() + 8 => {
                cols.insert(name.to_owned(), json!({ "=": other }));
            }
            _ => {
                cols.insert(name.to_owned(), encoded);
            }
        }
    }
    json!({ "n": rows.len(), "c": cols })
}

/// The shortest of the encodings that fit the column's values.
fn column(values: &[&Value]) -> Value {
    let rounded: Vec<Value> = values.iter().map(|v| round(v)).collect();
    let mut candidates = vec![Value::Array(rounded.clone())];
    let present: Vec<&Value> = rounded.iter().filter(|v| !v.is_null()).collect();
    if !present.is_empty() && present.iter().all(|v| v.is_string()) {
        candidates.extend(dictionary(&rounded));
    }
    if !present.is_empty() && present.iter().all(|v| v.is_i64() || v.is_u64()) {
        candidates.extend(stepped(&rounded));
    }
    candidates
        .into_iter()
        .min_by_key(|c| c.to_string().len())
        .unwrap_or(Value::Null)
}

/// Strings as a dictionary and indexes, or a dictionary the row numbers cycle through.
fn dictionary(values: &[Value]) -> Option<Value> {
    let mut dict: BTreeMap<&str, usize> = BTreeMap::new();
    for v in values.iter().filter_map(Value::as_str) {
        let n = dict.len();
        dict.entry(v).or_insert(n);
    }
    let mut order: Vec<(&str, usize)> = dict.iter().map(|(k, i)| (*k, *i)).collect();
    order.sort_by_key(|(_, i)| *i);
    let names: Vec<&str> = order.into_iter().map(|(k, _)| k).collect();
    let idx: Vec<Option<usize>> = values.iter().map(|v| v.as_str().map(|s| dict[s])).collect();
    let m = names.len();
    if idx.iter().enumerate().all(|(r, i)| *i == Some(r % m)) {
        return Some(json!({ "d": names, "m": 1 }));
    }
    let idx: Vec<Value> = idx
        .into_iter()
        .map(|i| i.map_or(Value::Null, |i| json!(i)))
        .collect();
    Some(json!({ "d": names, "i": idx }))
}

/// Integers as `base + k × step`, with `k` listed or implied by the row number.
fn stepped(values: &[Value]) -> Vec<Value> {
    let ints: Vec<Option<i64>> = values.iter().map(Value::as_i64).collect();
    let base = ints.iter().flatten().copied().min().unwrap_or(0);
    let step = ints
        .iter()
        .flatten()
        .fold(0i64, |g, &x| gcd(g, x.saturating_sub(base)))
        .max(1);
    let k = ints.iter().take_while(|v| **v == ints[0]).count().max(1);
    let implied =
        |r: usize, v: &Option<i64>| *v == Some(base.saturating_add((r / k) as i64 * step));
    if ints.iter().enumerate().all(|(r, v)| implied(r, v)) {
        return vec![json!({ "b": base, "s": step, "k": k })];
    }
    let idx: Vec<Value> = ints
        .iter()
        .map(|v| v.map_or(Value::Null, |x| json!((x - base) / step)))
        .collect();
    vec![json!({ "b": base, "s": step, "i": idx })]
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A float to four significant digits, written as an integer when it is one; anything else as it is.
fn round(v: &Value) -> Value {
    let Some(f) = v.as_f64().filter(|f| v.is_f64() && f.is_finite()) else {
        return v.clone();
    };
    let r = if f == 0.0 || f.fract() == 0.0 {
        f
    } else {
        let digits = 4 - 1 - f.abs().log10().floor() as i32;
        if digits <= 0 {
            f.round()
        } else {
            let p = 10f64.powi(digits.min(15));
            (f * p).round() / p
        }
    };
    if r.fract() == 0.0 && r.abs() < 9.0e15 {
        json!(r as i64)
    } else {
        json!(r)
    }
}

/// The rows of a columnar value: what `static/app.js` does (tests and tools read charts back with it).
/// A malformed value gives the rows it could read.
pub fn decode(c: &Value) -> Vec<Value> {
    let n = c["n"].as_u64().unwrap_or(0) as usize;
    let mut rows = vec![Map::new(); n];
    let empty = Map::new();
    let cols = c["c"].as_object().unwrap_or(&empty);
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    for (k, col) in cols {
        let col = match col.get("=").and_then(Value::as_str) {
            Some(other) => cols.get(other).unwrap_or(&Value::Null),
            None => col,
        };
        let indexes = col["i"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let vals: Vec<Value> = if let Some(a) = col.as_array() {
            a.clone()
        } else if let (Some(d), Some(_)) = (col["d"].as_array(), col.get("m")) {
            (0..n)
                .map(|r| d.get(r % d.len().max(1)).cloned().unwrap_or(Value::Null))
                .collect()
        } else if let Some(k) = col["k"].as_u64() {
            let (b, s, k) = (int(&col["b"]), int(&col["s"]), k.max(1) as usize);
            (0..n).map(|r| json!(b + (r / k) as i64 * s)).collect()
        } else if let Some(d) = col["d"].as_array() {
            indexes
                .iter()
                .map(|i| {
                    i.as_u64()
                        .and_then(|i| d.get(i as usize).cloned())
                        .unwrap_or(Value::Null)
                })
                .collect()
        } else {
            let (b, s) = (int(&col["b"]), int(&col["s"]));
            indexes
                .iter()
                .map(|i| i.as_i64().map_or(Value::Null, |i| json!(b + i * s)))
                .collect()
        };
        for (r, v) in rows.iter_mut().zip(vals) {
            r.insert(k.clone(), v);
        }
    }
    rows.into_iter().map(Value::Object).collect()
}

/// The charts of a written site's page as Vega-Lite sees them, by id: the page's rows (its `charts`
/// element) in the templates `static/specs.js` holds. Empty when the page has none or is not there; a
/// chart whose template is missing is left out.
pub fn page_charts(site: &std::path::Path, page: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Ok(html) = std::fs::read_to_string(site.join(page)) else {
        return out;
    };
    let open = r#"<script type="application/json" id="charts">"#;
    let Some(from) = html.find(open).map(|at| at + open.len()) else {
        return out;
    };
    let to = html[from..]
        .find("</script>")
        .map_or(html.len(), |n| from + n);
    let Ok(Value::Object(parts)) = serde_json::from_str::<Value>(&html[from..to]) else {
        return out;
    };
    let specs = std::fs::read_to_string(site.join(SPECS_FILE)).unwrap_or_default();
    let templates: BTreeMap<&str, &str> = specs
        .lines()
        .filter_map(|l| l.strip_prefix('"')?.split_once("\": "))
        .collect();
    for (id, part) in parts {
        let Some(template) = part["s"].as_str().and_then(|t| templates.get(t)) else {
            continue;
        };
        let Ok(mut spec) = serde_json::from_str::<Value>(template.trim_end_matches(',')) else {
            continue;
        };
        if let Some(d) = part.get("d") {
            spec["data"]["values"] = Value::Array(decode(d));
        }
        out.insert(id, spec);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_they_were() {
        let rows: Vec<Value> = (0..50)
            .map(|i| {
                let series = ["http", "coap"][i as usize % 2];
                json!({"t": 1_764_000_000_000i64 + i * 5000, "series": series,
                       "v": i * 100, "href": null, "x": 0.5 + i as f64})
            })
            .collect();
        let enc = encode(&rows);
        // Two series per 5 s window: the times and the series are implied by the row's number.
        assert_eq!(
            enc["c"]["t"],
            json!({"b": 1_764_000_000_000i64, "s": 5000, "k": 1}),
            "{enc}"
        );
        assert_eq!(enc["c"]["series"], json!({"d": ["http", "coap"], "m": 1}));
        assert_eq!(enc["c"]["v"], json!({"b": 0, "s": 100, "k": 1}));
        let back = decode(&enc);
        for (a, b) in rows.iter().zip(&back) {
            for k in ["t", "series", "href", "x"] {
                assert_eq!(a[k], b[k], "{k}");
            }
            assert_eq!(a["v"].as_f64(), b["v"].as_f64());
        }
        // Much smaller than the rows as objects.
        assert!(enc.to_string().len() * 3 < Value::Array(rows).to_string().len());
    }

    #[test]
    fn floats_keep_four_significant_digits_and_missing_fields_are_null() {
        let rows = vec![
            json!({"v": 37.483333333333334, "w": "a", "x": 14851.0}),
            json!({"v": 0.000123456789, "x": 3.0}),
            json!({"v": 1.5, "x": 12.0}),
        ];
        let enc = encode(&rows);
        assert_eq!(
            enc["c"]["x"],
            json!([14851, 3, 12]),
            "integers without a fraction"
        );
        let back = decode(&enc);
        let same: Vec<Value> = (0..20)
            .map(|i| json!({"min": i as f64 * 1.25 + 0.1, "mean": i as f64 * 1.25 + 0.1, "max": 3.5}))
            .collect();
        let same = encode(&same);
        assert_eq!(same["c"]["min"], json!({"=": "mean"}), "{same}");
        assert_eq!(decode(&same)[7]["min"], json!(8.85));
        assert_eq!(back[0]["v"], json!(37.48));
        assert_eq!(back[1]["v"], json!(0.0001235));
        assert_eq!(back[1]["w"], Value::Null);
    }

    #[test]
    fn irregular_columns_keep_their_indexes() {
        // Windows where a series is missing: neither the times nor the series follow the row number.
        let (a, b) = (
            "thing · temperature · readproperty",
            "thing · humidity · readproperty",
        );
        let rows: Vec<Value> = [(0, a), (0, b), (5000, a), (10000, a), (10000, b)]
            .iter()
            .map(|(t, s)| json!({"t": 1_764_000_000_000i64 + t, "s": s}))
            .collect();
        let enc = encode(&rows);
        assert!(
            enc["c"]["t"].get("i").is_some() && enc["c"]["s"].get("i").is_some(),
            "{enc}"
        );
        assert_eq!(decode(&enc), rows);
    }

    #[test]
    fn the_same_spec_with_other_rows_shares_its_template() {
        let a = split(json!({"mark": "line", "data": {"values": [{"t": 1}]}}));
        let b = split(json!({"mark": "line", "data": {"values": [{"t": 2}, {"t": 3}]}}));
        let c = split(json!({"mark": "bar", "data": {"values": [{"t": 1}]}}));
        assert_eq!(a.template_id, b.template_id);
        assert_ne!(a.template_id, c.template_id);
        assert_eq!(a.template, r#"{"data":{},"mark":"line"}"#);
        assert_eq!(decode(&b.page["d"]).len(), 2);
    }
}
