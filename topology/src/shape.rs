//! Deserialising a document into [`RawTopology`] while collecting every shape error (unknown field, wrong
//! type, missing field) instead of stopping at the first, so that validation can still report the rest of
//! the file's problems in the same pass.
//!
//! The document is first read into a JSON value (from YAML, or the JSON the 0.6 Python shim hands over).
//! Deserialising it with `serde_path_to_error` gives the path of a failure; the offending entry is then taken
//! out of the document (an unknown or mistyped field falls back to its default; a struct missing a required
//! field is dropped as a whole) and deserialising starts again, until it succeeds. Every entry taken out is
//! one [`Diagnostic`] located at the entry.

use serde_json::Value;

use crate::error::{Diagnostic, Kind};
use crate::raw::RawTopology;
use crate::validate::{DocPath, Locate, Seg};

/// At most this many shape errors are collected (a guard against a document that never converges).
const MAX_ERRORS: usize = 100;

/// What deserialising gave: the raw topology (with the faulty entries left out) and the shape errors.
pub(crate) struct Shaped {
    pub(crate) raw: Option<RawTopology>,
    pub(crate) problems: Vec<Diagnostic>,
}

/// Deserialises `doc`, collecting shape errors located with `locate`.
pub(crate) fn deserialize(mut doc: Value, locate: &dyn Locate) -> Shaped {
    let mut problems: Vec<Diagnostic> = Vec::new();
    if doc.is_null() {
        // A file of comments only: an empty topology (validation says what it lacks).
        doc = Value::Object(Default::default());
    }
    if !doc.is_object() {
        let root = DocPath::default();
        problems.push(Diagnostic {
            kind: Kind::WrongType,
            path: String::new(),
            location: locate.locate(&root),
            message: "the document is not a mapping; a topology is a mapping with `networks:` and `nodes:`".into(),
            hint: Some("see the README's topology example".into()),
        });
        return Shaped {
            raw: None,
            problems,
        };
    }
    // The last mistyped field taken out, with what was expected there: when taking it out leaves its struct
    // without a required field, an empty value of the expected type goes in its place instead.
    let mut last_wrong: Option<(DocPath, String)> = None;
    loop {
        match serde_path_to_error::deserialize::<_, RawTopology>(&doc) {
            Ok(raw) => {
                return Shaped {
                    raw: Some(raw),
                    problems,
                }
            }
            Err(e) => {
                let message = e.inner().to_string();
                let mut path = doc_path(e.path());
                let kind = if message.starts_with("unknown field") {
                    // The path ends at the struct for some formats; name the field itself.
                    if let Some(field) = backticked(&message) {
                        if !matches!(path.0.last(), Some(Seg::Key(k)) if k == field) {
                            path.0.push(Seg::Key(field.to_owned()));
                        }
                    }
                    Kind::UnknownField
                } else if message.starts_with("missing field") {
                    Kind::MissingField
                } else {
                    Kind::WrongType
                };
                if kind == Kind::MissingField {
                    if let (Some((wrong, expected)), Some(field)) =
                        (&last_wrong, backticked(&message))
                    {
                        let mut at = path.clone();
                        at.0.push(Seg::Key(field.to_owned()));
                        if *wrong == at {
                            if let Some(empty) = empty_of(expected) {
                                if insert(&mut doc, &at.0, empty) {
                                    last_wrong = None;
                                    continue; // already reported as the wrong type
                                }
                            }
                        }
                    }
                }
                last_wrong = (kind == Kind::WrongType).then(|| {
                    let expected = message.split_once(", expected ").map(|(_, e)| e.to_owned());
                    (path.clone(), expected.unwrap_or_default())
                });
                let removed = match kind {
                    // The struct without its required field cannot be kept: drop it whole.
                    Kind::MissingField => !path.0.is_empty() && remove(&mut doc, &path.0),
                    _ => remove(&mut doc, &path.0),
                };
                problems.push(Diagnostic {
                    kind,
                    path: path.to_string(),
                    location: match kind {
                        Kind::WrongType => locate.locate_value(&path),
                        _ => locate.locate(&path),
                    },
                    hint: hint(kind, &message),
                    message: explain(&path, &message),
                });
                if !removed || problems.len() >= MAX_ERRORS {
                    return Shaped {
                        raw: None,
                        problems,
                    };
                }
            }
        }
    }
}

fn doc_path(p: &serde_path_to_error::Path) -> DocPath {
    use serde_path_to_error::Segment;
    DocPath(
        p.iter()
            .filter_map(|s| match s {
                Segment::Seq { index } => Some(Seg::Index(*index)),
                Segment::Map { key } => Some(Seg::Key(key.clone())),
                Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                Segment::Unknown => None,
            })
            .collect(),
    )
}

/// The first `quoted` word of a serde message.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// An empty value of the type serde expected (`a sequence`, `a map`, `a string`, `a boolean`).
fn empty_of(expected: &str) -> Option<Value> {
    let e = expected.trim();
    Some(if e.starts_with("a sequence") {
        Value::Array(Vec::new())
    } else if e.starts_with("a map") || e.starts_with("struct") {
        Value::Object(Default::default())
    } else if e.starts_with("a string") {
        Value::String(String::new())
    } else if e.starts_with("a boolean") {
        Value::Bool(false)
    } else {
        return None;
    })
}

/// The value at `path`.
fn at<'a>(doc: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |node, seg| match (seg, node) {
        (Seg::Key(k), Value::Object(m)) => m.get_mut(k),
        (Seg::Index(i), Value::Array(a)) => a.get_mut(*i),
        _ => None,
    })
}

/// Puts `value` at `path` (whose parent must be an object).
fn insert(doc: &mut Value, path: &[Seg], value: Value) -> bool {
    let Some((Seg::Key(k), parents)) = path.split_last() else {
        return false;
    };
    let Some(node) = at(doc, parents) else {
        return false;
    };
    match node {
        Value::Object(m) => {
            m.insert(k.clone(), value);
            true
        }
        _ => false,
    }
}

/// Takes the entry at `path` out of `doc`; false when there is nothing to take out.
fn remove(doc: &mut Value, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let Some(node) = at(doc, parents) else {
        return false;
    };
    match (last, node) {
        (Seg::Key(k), Value::Object(m)) => m.remove(k).is_some(),
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

fn explain(path: &DocPath, message: &str) -> String {
    if path.0.is_empty() {
        return format!("the document {message}");
    }
    match message.split_once(", expected") {
        Some((what, expected)) if message.starts_with("invalid") => {
            format!("`{path}`: {what}; expected{expected}")
        }
        _ => format!("`{path}`: {message}"),
    }
}

fn hint(kind: Kind, message: &str) -> Option<String> {
    Some(match kind {
        Kind::UnknownField if message.contains("unknown field `replicas`") => {
            "the number of replicas of a node is `scale`".to_owned()
        }
        Kind::UnknownField if message.contains("unknown field `args_compose") => {
            "0.6's args_compose, args_compose_net and args_compose_gw are `compose`, `compose_net` and `compose_gw`".to_owned()
        }
        Kind::UnknownField => {
            "check the spelling; `wotemu schema topology` prints every field".to_owned()
        }
        Kind::MissingField => {
            "add the field; `wotemu schema topology` lists the required ones".to_owned()
        }
        _ => "see the README's topology example for the type of each field".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::NoLocations;

    #[test]
    fn every_shape_error_is_collected_and_the_rest_is_kept() {
        let doc = serde_json::json!({
            "networks": {"wifi": {"conditions": "wifi", "lattency": 3}},
            "nodes": {
                "a": {"app": {"path": "clock"}, "networks": ["wifi"], "scale": -1},
                "b": {"app": {"path": "clock"}, "networks": "wifi"},
                "c": {"networks": ["wifi"]},
            }
        });
        let s = deserialize(doc, &NoLocations);
        let found: Vec<(Kind, &str)> = s
            .problems
            .iter()
            .map(|d| (d.kind, d.path.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (Kind::UnknownField, "networks.wifi.lattency"),
                (Kind::WrongType, "nodes.a.scale"),
                (Kind::WrongType, "nodes.b.networks"),
                (Kind::MissingField, "nodes.c"),
            ]
        );
        let raw = s.raw.expect("the rest deserialises");
        // b keeps its place with no networks (reported once, as the wrong type); c lacks its app.
        assert_eq!(raw.nodes.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(raw.nodes["b"].networks.is_empty());
        assert_eq!(raw.nodes["a"].scale, None);
        assert!(
            s.problems[1].message.contains("expected u32"),
            "{}",
            s.problems[1].message
        );
    }

    #[test]
    fn a_document_of_the_wrong_kind_stops() {
        let s = deserialize(serde_json::json!([1, 2]), &NoLocations);
        assert!(s.raw.is_none());
        assert_eq!(s.problems.len(), 1);
    }
}
