//! The YAML form: strict deserialisation with serde_yaml (its errors carry line and column), and a
//! locator over marked-yaml's tree that turns a document path into `file:line:column` for validation errors.

use std::path::Path;

use crate::error::{Error, Location};
use crate::validate::{DocPath, Locate, Seg};

/// Deepest nesting accepted (a guard for hostile input).
const MAX_DEPTH: usize = 64;

/// Reads YAML text into a document (syntax errors are fatal: nothing after them can be read reliably).
pub fn parse_document(path: &Path, text: &str) -> Result<serde_json::Value, Error> {
    if nesting(text) > MAX_DEPTH {
        return Err(Error::Syntax {
            path: path.to_owned(),
            location: None,
            message: format!("the document is nested more than {MAX_DEPTH} levels deep"),
            hint: None,
        });
    }
    if text.trim().is_empty() {
        return Err(Error::Syntax {
            path: path.to_owned(),
            location: None,
            message: "the file is empty".into(),
            hint: Some("a topology needs at least `networks:` and `nodes:`; see the README".into()),
        });
    }
    serde_yaml::from_str::<serde_json::Value>(text).map_err(|e| syntax_error(path, &e))
}

fn syntax_error(path: &Path, e: &serde_yaml::Error) -> Error {
    let location = e.location().map(|l| Location {
        file: path.to_owned(),
        line: l.line(),
        column: l.column(),
    });
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the location is shown in front instead.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    let hint = if location.is_some() && !message.contains("invalid value") {
        Some("check the indentation, quotes and brackets at and just before this place".to_owned())
    } else {
        None
    };
    Error::Syntax {
        path: path.to_owned(),
        location,
        message,
        hint,
    }
}

/// A rough count of bracket/indent nesting, to refuse pathological documents before parsing.
fn nesting(text: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    for c in text.bytes() {
        match c {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let indent = text
        .lines()
        .map(|l| l.len() - l.trim_start_matches([' ', '-']).len())
        .max()
        .unwrap_or(0);
    max.max(indent / 2)
}

/// Locates document paths in a YAML text.
pub struct YamlLocator {
    file: std::path::PathBuf,
    root: Option<marked_yaml::Node>,
}

impl YamlLocator {
    pub fn new(path: &Path, text: &str) -> YamlLocator {
        YamlLocator {
            file: path.to_owned(),
            root: marked_yaml::parse_yaml(0, text).ok(),
        }
    }
}

impl Locate for YamlLocator {
    fn locate(&self, path: &DocPath) -> Option<Location> {
        self.find(path, false)
    }

    fn locate_value(&self, path: &DocPath) -> Option<Location> {
        self.find(path, true)
    }
}

impl YamlLocator {
    /// The place of `path`: its key (or, with `at_value`, its value) when it is a mapping entry.
    fn find(&self, path: &DocPath, at_value: bool) -> Option<Location> {
        let mut node = self.root.as_ref()?;
        let mut marker = node.span().start().copied();
        for (i, seg) in path.0.iter().enumerate() {
            let last = i + 1 == path.0.len();
            match seg {
                Seg::Key(k) => {
                    let Some((key, value)) = node
                        .as_mapping()
                        .and_then(|map| map.iter().find(|(key, _)| key.as_str() == k))
                    else {
                        break; // not written in the file: the closest enclosing place
                    };
                    marker = if last && !at_value {
                        key.span().start().copied()
                    } else {
                        value
                            .span()
                            .start()
                            .copied()
                            .or(key.span().start().copied())
                    };
                    node = value;
                }
                Seg::Index(n) => {
                    let Some(value) = node.as_sequence().and_then(|s| s.get(*n)) else {
                        break;
                    };
                    marker = value.span().start().copied().or(marker);
                    node = value;
                }
            }
        }
        let m = marker?;
        Some(Location {
            file: self.file.clone(),
            line: m.line(),
            column: m.column(),
        })
    }
}
