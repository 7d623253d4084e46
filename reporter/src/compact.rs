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

#[cfg(test)]
mod tests {
    use super::*;

    /// What `static/app.js` does, for the round trip.
    fn decode(c: &Value) -> Vec<Value> {
        let n = c["n"].as_u64().unwrap() as usize;
        let mut rows = vec![Map::new(); n];
        let cols = c["c"].as_object().unwrap();
        for (k, col) in cols {
            let col = match col.get("=") {
                Some(other) => &cols[other.as_str().unwrap()],
                None => col,
            };
            let vals: Vec<Value> = if let Some(a) = col.as_array() {
                a.clone()
            } else if let (Some(d), Some(_)) = (col.get("d"), col.get("m")) {
                let d = d.as_array().unwrap();
                (0..n).map(|r| d[r % d.len()].clone()).collect()
            } else if let Some(k) = col.get("k") {
                let (b, s, k) = (
                    col["b"].as_i64().unwrap(),
                    col["s"].as_i64().unwrap(),
                    k.as_u64().unwrap() as usize,
                );
                (0..n).map(|r| json!(b + (r / k) as i64 * s)).collect()
            } else if let Some(d) = col.get("d") {
                col["i"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_u64().map_or(Value::Null, |i| d[i as usize].clone()))
                    .collect()
            } else {
                let (b, s) = (col["b"].as_i64().unwrap(), col["s"].as_i64().unwrap());
                col["i"]
                    .as_array()
                    .unwrap()
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
