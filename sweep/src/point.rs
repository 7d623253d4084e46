//! The parameters of a sweep and their combinations.

use crate::Error;

/// One `--set PATH=V1,V2,…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub path: String,
    /// The values as written, and as document values (YAML scalars: `4` is a number, `1mbit` a string).
    pub values: Vec<(String, serde_json::Value)>,
}

/// Reads one `--set PATH=V1,V2,…` (values are YAML scalars: `4` is a number, `1mbit` a string).
pub fn parse_set(s: &str) -> Result<Param, Error> {
    let bad = |why: String| Err(Error::Usage(format!("--set {s:?}: {why}")));
    let Some((path, values)) = s.split_once('=') else {
        return bad("write PATH=V1,V2,… (e.g. --set nodes.reader.scale=4,16)".into());
    };
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return bad(format!(
            "`{path}` is not a path (keys separated by dots, e.g. networks.3g.conditions)"
        ));
    }
    let mut out = Vec::new();
    for v in values.split(',') {
        let v = v.trim();
        if v.is_empty() {
            return bad("an empty value (values are separated by commas)".into());
        }
        let parsed: serde_json::Value =
            serde_yaml::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
        if out.iter().any(|(w, _)| w == v) {
            return bad(format!("the value {v:?} is given twice"));
        }
        out.push((v.to_owned(), parsed));
    }
    Ok(Param {
        path: path.to_owned(),
        values: out,
    })
}

/// One run of the sweep.
#[derive(Debug, Clone)]
pub struct Point {
    /// Index of each parameter's value.
    pub choice: Vec<usize>,
    /// 1-based.
    pub repeat: u32,
    pub name: String,
}

/// The shortest suffix of each path's keys that tells it apart from the others (`3g.rate` and `lte.rate`).
fn short_names(params: &[Param]) -> Vec<String> {
    let keys: Vec<Vec<&str>> = params.iter().map(|p| p.path.split('.').collect()).collect();
    keys.iter()
        .map(|k| {
            for n in 1..=k.len() {
                let suffix = &k[k.len() - n..];
                let clash = keys
                    .iter()
                    .filter(|o| o.len() >= n && &o[o.len() - n..] == suffix)
                    .count();
                if clash == 1 {
                    return suffix.join(".");
                }
            }
            k.join(".")
        })
        .collect()
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every combination (the first parameter varies slowest), times `repeat`, with readable folder names (a
/// parameter with one value is the same in every combination and is left out of the names).
pub fn points(params: &[Param], repeat: u32) -> Vec<Point> {
    let names = short_names(params);
    let mut choices: Vec<Vec<usize>> = vec![Vec::new()];
    for p in params {
        choices = choices
            .into_iter()
            .flat_map(|c| {
                (0..p.values.len()).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for c in choices {
        let base: Vec<String> = c
            .iter()
            .enumerate()
            .filter(|(k, _)| params[*k].values.len() > 1)
            .map(|(k, &i)| format!("{}-{}", safe(&names[k]), safe(&params[k].values[i].0)))
            .collect();
        let base = if base.is_empty() {
            "run".to_owned()
        } else {
            base.join("--")
        };
        for r in 1..=repeat {
            out.push(Point {
                choice: c.clone(),
                repeat: r,
                name: if repeat > 1 {
                    format!("{base}-r{r}")
                } else {
                    base.clone()
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_parse_values_as_yaml_scalars() {
        let p = parse_set("nodes.reader.scale=2, 4").unwrap();
        assert_eq!(p.path, "nodes.reader.scale");
        assert_eq!(p.values[1], ("4".to_owned(), serde_json::json!(4)));
        let p = parse_set("networks.3g.rate=1mbit").unwrap();
        assert_eq!(p.values[0].1, serde_json::json!("1mbit"));
        for bad in ["nodes.reader.scale", "=1", "a..b=1", "a=1,,2", "a=1,1"] {
            assert!(parse_set(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn combinations_are_the_cartesian_product_with_readable_names() {
        let params = vec![
            parse_set("networks.3g.conditions=regular_3g,lte").unwrap(),
            parse_set("nodes.reader.scale=2,4").unwrap(),
        ];
        let pts = points(&params, 1);
        let names: Vec<&str> = pts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conditions-regular_3g--scale-2",
                "conditions-regular_3g--scale-4",
                "conditions-lte--scale-2",
                "conditions-lte--scale-4"
            ]
        );
        let pts = points(&params[1..], 2);
        assert_eq!(
            pts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["scale-2-r1", "scale-2-r2", "scale-4-r1", "scale-4-r2"]
        );
        let clash = vec![
            parse_set("networks.a.rate=1mbit,2mbit").unwrap(),
            parse_set("networks.b.rate=2mbit,3mbit").unwrap(),
        ];
        assert_eq!(points(&clash, 1)[0].name, "a.rate-1mbit--b.rate-2mbit");
    }
}
