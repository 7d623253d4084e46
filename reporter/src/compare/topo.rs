//! What differs between the runs' designs: each run's topology (normalised: every default written out,
//! conditions resolved) flattened into `path = value` lines, and the paths whose values differ.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Flattens a JSON document into `path → value`: objects by key, arrays of objects that have a `name` by
/// that name (so a node or network is addressed as in `wotemu sweep --set`), other arrays by index.
pub fn flatten(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(v: &Value, prefix: String, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            if m.is_empty() {
                out.insert(prefix.clone(), "{}".into());
            }
            for (k, v) in m {
                walk(v, join(&prefix, k), out);
            }
        }
        Value::Array(a) => {
            let named = !a.is_empty()
                && a.iter()
                    .all(|x| x.get("name").and_then(Value::as_str).is_some());
            if a.is_empty() {
                out.insert(prefix, "[]".into());
            } else if named {
                for x in a {
                    let name = x.get("name").and_then(Value::as_str).unwrap_or_default();
                    let entry = join(&prefix, name);
                    if let Some(m) = x.as_object() {
                        // The name is in the path already.
                        for (k, v) in m.iter().filter(|(k, _)| *k != "name") {
                            walk(v, join(&entry, k), out);
                        }
                    }
                }
            } else if a.iter().all(|x| !x.is_object() && !x.is_array()) {
                out.insert(prefix, a.iter().map(scalar).collect::<Vec<_>>().join(", "));
            } else {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{prefix}[{i}]"), out);
                }
            }
        }
        _ => {
            out.insert(prefix, scalar(v));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// A field whose value differs between runs: its value in each run (`None`: absent there).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Difference {
    pub path: String,
    pub values: Vec<Option<String>>,
}

/// The fields that differ between the flattened topologies (runs without one are left out of the test).
/// Paths that only name the run (`stack`, `name`) are skipped.
pub fn differences(runs: &[Option<BTreeMap<String, String>>]) -> Vec<Difference> {
    let known: Vec<&BTreeMap<String, String>> = runs.iter().flatten().collect();
    if known.len() < 2 {
        return Vec::new();
    }
    let paths: BTreeSet<&String> = known.iter().flat_map(|m| m.keys()).collect();
    let mut out = Vec::new();
    for p in paths {
        if matches!(p.as_str(), "stack" | "name" | "file") {
            continue;
        }
        let values: Vec<Option<String>> = runs
            .iter()
            .map(|r| r.as_ref().and_then(|m| m.get(p).cloned()))
            .collect();
        let present: Vec<&Option<String>> = runs
            .iter()
            .zip(&values)
            .filter(|(r, _)| r.is_some())
            .map(|(_, v)| v)
            .collect();
        if present.windows(2).any(|w| w[0] != w[1]) {
            out.push(Difference {
                path: p.clone(),
                values,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_entries_are_addressed_by_name() {
        let v = json!({"networks": [{"name": "3g", "conditions": {"latency_ms": 100.0}}],
                       "nodes": [{"name": "reader", "scale": 4, "networks": ["3g", "lte"]}],
                       "empty": []});
        let f = flatten(&v);
        assert_eq!(f["networks.3g.conditions.latency_ms"], "100.0");
        assert_eq!(f["nodes.reader.scale"], "4");
        assert_eq!(f["nodes.reader.networks"], "3g, lte");
        assert_eq!(f["empty"], "[]");
    }

    #[test]
    fn only_differences_are_listed() {
        let a = flatten(&json!({"stack": "a", "nodes": [{"name": "r", "scale": 2, "x": 1}]}));
        let b = flatten(
            &json!({"stack": "b", "nodes": [{"name": "r", "scale": 4, "x": 1}, {"name": "s", "scale": 1}]}),
        );
        let d = differences(&[Some(a.clone()), None, Some(b)]);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["nodes.r.scale", "nodes.s.scale"]);
        assert_eq!(d[0].values, [Some("2".into()), None, Some("4".into())]);
        assert!(differences(&[Some(a.clone()), Some(a)]).is_empty());
    }
}
