//! The wotemu topology: what is emulated.
//!
//! A topology is read from YAML ([`yaml`]) or from a WoTemu 0.6 Python file ([`python`], run in embedded
//! Python), deserialised strictly into [`raw`] types, then checked and resolved by [`validate`] into the
//! [`model`] every other part uses. [`compose`] turns it into a Docker Swarm stack. Every error says where
//! (`file:line:column` for YAML, the line for Python) and how to fix it; a file's problems are reported all
//! at once, shape errors (a wrong type, an unknown field) together with the rules they do not hide.
//!
//! This crate must never touch the host (no namespaces, no Docker: it plans nothing, it describes), accept a
//! topology it cannot run (a builtin this version does not ship, a name Docker would refuse), or panic on
//! any input (its fuzz target replays a corpus in every test run).
//!
//! ```
//! let text = "networks: {wifi: {conditions: wifi}}\nnodes:\n  clock: {app: {path: clock, http: true}, networks: [wifi]}\n";
//! let t = wotemu_topology::from_yaml_str(std::path::Path::new("t.yml"), text).unwrap().topology;
//! assert_eq!(t.nodes[0].name, "clock");
//! assert_eq!(t.networks[0].conditions.latency_ms, 25.0);
//! ```

pub mod compose;
pub mod error;
pub mod model;
pub mod names;
pub mod ping;
pub mod placement;
#[cfg(feature = "python")]
pub mod python;
pub mod raw;
pub mod scenario;
mod shape;
pub mod trace;
pub mod units;
pub mod validate;
pub mod yaml;

use std::path::Path;

pub use error::{Diagnostic, Error, Kind, Location};
pub use model::Topology;
pub use validate::Validated;

/// The format of a topology file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Python,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yml" | "yaml" | "json" => Some(Format::Yaml),
            "py" => Some(Format::Python),
            _ => None,
        }
    }
}

/// A loaded topology: the validated model, its warnings, and the source text.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub topology: Topology,
    pub warnings: Vec<Diagnostic>,
    pub format: Format,
    pub text: String,
}

/// Reads, parses and validates a topology file (app files are looked for beside it).
pub fn load(path: &Path) -> Result<Loaded, Error> {
    load_with(path, &[]).map(|(loaded, _)| loaded)
}

/// A change of a topology's document before it is validated (`wotemu sweep --set PATH=VALUE`): `path`
/// addresses the document as written in YAML (`networks.3g.conditions`, `nodes.reader.scale`,
/// `nodes.reader.app.params.interval`), the same for a 0.6 Python file (the document its objects build).
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: serde_json::Value,
}

/// Reads a topology file, applies `overrides` to its document and validates the result, with the same
/// located errors as [`load`] (a problem of an overridden value says it came from `--set`). Returns the
/// topology, and the document after the overrides as YAML (the text a run records: it validates as is).
pub fn load_with(path: &Path, overrides: &[Override]) -> Result<(Loaded, String), Error> {
    let format = Format::of(path).ok_or_else(|| Error::UnknownFormat {
        path: path.to_owned(),
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    // App files are relative to the topology's folder.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (mut doc, locator, earlier): (
        serde_json::Value,
        Box<dyn validate::Locate>,
        Vec<Diagnostic>,
    ) = match format {
        Format::Yaml => (
            yaml::parse_document(path, &text)?,
            Box::new(yaml::YamlLocator::new(path, &text)),
            Vec::new(),
        ),
        #[cfg(feature = "python")]
        Format::Python => {
            let l = python::load(path, &text)?;
            (l.raw, Box::new(l.locator), l.problems)
        }
        #[cfg(not(feature = "python"))]
        Format::Python => {
            return Err(Error::NoPython {
                path: path.to_owned(),
            })
        }
    };
    let mut problems = Vec::new();
    for o in overrides {
        if let Err(message) = set_path(&mut doc, &o.path, o.value.clone()) {
            problems.push(Diagnostic {
                kind: Kind::UnknownField,
                path: o.path.clone(),
                location: None,
                message: format!("--set {}: {message}", o.path),
                hint: Some("a path names the document as written in YAML, e.g. networks.3g.conditions, nodes.reader.scale, nodes.reader.resources.mem_limit, nodes.reader.app.params.interval".into()),
            });
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid {
            path: path.to_owned(),
            diagnostics: problems,
        });
    }
    let yaml = serde_yaml::to_string(&doc).unwrap_or_default();
    let v = validate_document(path, doc, locator.as_ref(), earlier, AppFiles::In(dir)).map_err(
        |e| match e {
            Error::Invalid {
                path,
                mut diagnostics,
            } => {
                for d in &mut diagnostics {
                    if let Some(o) = overrides.iter().find(|o| {
                        d.path == o.path
                            || d.path.starts_with(&format!("{}.", o.path))
                            || o.path.starts_with(&format!("{}.", d.path))
                    }) {
                        d.message = format!(
                            "{} (the value comes from --set {}={})",
                            d.message, o.path, o.value
                        );
                    }
                }
                Error::Invalid { path, diagnostics }
            }
            other => other,
        },
    )?;
    Ok((
        Loaded {
            topology: v.topology,
            warnings: v.warnings,
            format,
            text,
        },
        yaml,
    ))
}

/// Sets `path` (dot-separated keys) in `doc`: every key but the last must exist (a misspelt node or network
/// is an error, not a new entry); the last is added when missing (the validator then says whether it is a
/// field).
pub fn set_path(
    doc: &mut serde_json::Value,
    path: &str,
    value: serde_json::Value,
) -> Result<(), String> {
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(format!("`{path}` is not a path (keys separated by dots)"));
    }
    let mut cur = doc;
    for (i, k) in keys.iter().enumerate() {
        let here = keys[..i].join(".");
        let obj = match cur {
            serde_json::Value::Object(m) => m,
            _ => return Err(format!("`{here}` is not a mapping: it has no `{k}`")),
        };
        if i + 1 == keys.len() {
            obj.insert((*k).to_owned(), value);
            return Ok(());
        }
        if !obj.contains_key(*k) {
            // A section that may be absent (`resources`, `params`) is created; a node or network must exist.
            const NAMED: [&str; 4] = ["nodes", "networks", "brokers", "services"];
            let must_exist = (i == 0 && NAMED.contains(k)) || (i == 1 && NAMED.contains(&keys[0]));
            if must_exist {
                let mut known: Vec<&str> = obj.keys().map(String::as_str).collect();
                known.sort_unstable();
                let what = if here.is_empty() {
                    "the topology".to_owned()
                } else {
                    format!("`{here}`")
                };
                return Err(format!(
                    "{what} has no `{k}` (it has: {})",
                    if known.is_empty() {
                        "nothing".into()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            obj.insert(
                (*k).to_owned(),
                serde_json::Value::Object(Default::default()),
            );
        }
        cur = obj.get_mut(*k).expect("present");
    }
    Ok(())
}

/// Whether app files are looked for on the host.
#[derive(Clone, Copy)]
enum AppFiles<'a> {
    /// Not checked (text given without a folder): every path is a host file.
    Unchecked,
    /// Checked against this folder: a host file that exists is shipped, an absolute path that does not is
    /// a file inside the node's image (a warning when that is the stack's image), a relative one an error.
    In(&'a Path),
}

/// Parses and validates YAML text (`path` is used in messages; app files are not looked for).
pub fn from_yaml_str(path: &Path, text: &str) -> Result<Validated, Error> {
    yaml_validated(path, text, AppFiles::Unchecked)
}

fn yaml_validated(path: &Path, text: &str, files: AppFiles<'_>) -> Result<Validated, Error> {
    let doc = yaml::parse_document(path, text)?;
    let locator = yaml::YamlLocator::new(path, text);
    validate_document(path, doc, &locator, Vec::new(), files)
}

/// Deserialises a document and validates it, reporting shape errors, `earlier` problems and validation
/// errors together. Validation problems inside an entry that had a shape error are left out (they follow
/// from it: a mistyped `networks` is not also reported as "no networks").
fn validate_document(
    path: &Path,
    doc: serde_json::Value,
    locator: &dyn validate::Locate,
    mut earlier: Vec<Diagnostic>,
    files: AppFiles<'_>,
) -> Result<Validated, Error> {
    let shaped = shape::deserialize(doc, locator);
    let mut diagnostics = shaped.problems;
    let within = |d: &Diagnostic| {
        diagnostics.iter().any(|s| {
            d.path == s.path
                || d.path.starts_with(&format!("{}.", s.path))
                || d.path.starts_with(&format!("{}[", s.path))
        })
    };
    let result = match &shaped.raw {
        Some(raw) => validate::validate(raw, locator).and_then(|mut v| match files {
            AppFiles::Unchecked => Ok(v),
            AppFiles::In(dir) => {
                let mut problems = validate::app_files(&mut v, dir, locator);
                problems.extend(validate::trace_files(&mut v.topology, dir, locator));
                if problems.is_empty() {
                    Ok(v)
                } else {
                    Err(problems)
                }
            }
        }),
        None => Err(Vec::new()),
    };
    let invalid = |diagnostics: Vec<Diagnostic>| Error::Invalid {
        path: path.to_owned(),
        diagnostics,
    };
    match result {
        Ok(v) if diagnostics.is_empty() && earlier.is_empty() => Ok(v),
        Ok(_) => {
            earlier.append(&mut diagnostics);
            Err(invalid(earlier))
        }
        Err(more) => {
            let more: Vec<Diagnostic> = more.into_iter().filter(|d| !within(d)).collect();
            earlier.append(&mut diagnostics);
            earlier.extend(more);
            Err(invalid(earlier))
        }
    }
}

/// `wotemu topology validate --json`: whether the file is valid, every error (located) and warning.
pub fn validation_report(path: &Path) -> (bool, serde_json::Value) {
    let (valid, errors, warnings) = match load(path) {
        Ok(l) => (true, Vec::new(), l.warnings),
        Err(e) => {
            let errors = if e.diagnostics().is_empty() {
                vec![serde_json::json!({"message": e.to_string()})]
            } else {
                e.diagnostics()
                    .iter()
                    .map(|d| serde_json::to_value(d).expect("a diagnostic serializes"))
                    .collect()
            };
            (false, errors, Vec::new())
        }
    };
    let report = serde_json::json!({
        "file": path,
        "valid": valid,
        "errors": errors,
        "warnings": warnings,
    });
    (valid, report)
}

/// A topology's text as normalised JSON (the validated model: every default written out, names normalised),
/// for comparing designs: YAML, or a WoTemu 0.6 Python file (`def topology()`, run in embedded Python; only
/// with the `python` feature). App files are not looked for. `None` when it is neither or does not validate.
pub fn normalise(text: &str) -> Option<serde_json::Value> {
    let v = match from_yaml_str(Path::new("topology.yml"), text) {
        Ok(v) => v,
        Err(_) if text.contains("def topology") => {
            from_python_str(Path::new("topology.py"), text).ok()?
        }
        Err(_) => return None,
    };
    serde_json::to_value(&v.topology).ok()
}

/// Runs a WoTemu 0.6 topology file's text and validates what `topology()` returns.
#[cfg(feature = "python")]
pub fn from_python_str(path: &Path, text: &str) -> Result<Validated, Error> {
    python_validated(path, text, AppFiles::Unchecked)
}

#[cfg(feature = "python")]
fn python_validated(path: &Path, text: &str, files: AppFiles<'_>) -> Result<Validated, Error> {
    let loaded = python::load(path, text)?;
    validate_document(path, loaded.raw, &loaded.locator, loaded.problems, files)
}

/// Validates a topology built by Python code outside a topology file (the `wotemu` Python package): `json` is
/// the shim's `_to_raw` output, and problems are located at the lines of `path` that built each object.
#[cfg(feature = "python")]
pub fn from_shim_json(path: &Path, json: &str) -> Result<Validated, Error> {
    let loaded = python::from_shim_json(path, json).map_err(|message| Error::Python {
        path: path.to_owned(),
        location: None,
        message,
        traceback: None,
    })?;
    validate_document(
        path,
        loaded.raw,
        &loaded.locator,
        loaded.problems,
        AppFiles::Unchecked,
    )
}

/// Without the `python` feature a 0.6 file cannot be read.
#[cfg(not(feature = "python"))]
pub fn from_python_str(path: &Path, _text: &str) -> Result<Validated, Error> {
    Err(Error::NoPython {
        path: path.to_owned(),
    })
}

/// The JSON Schema of the YAML form.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawTopology)).expect("a schema is JSON")
}

/// The normalised YAML of a validated topology (what `wotemu topology show` prints): every default written
/// out, names normalised, conditions resolved.
pub fn to_yaml(t: &Topology) -> String {
    serde_yaml::to_string(t).expect("the model serialises")
}
