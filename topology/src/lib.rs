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
#[cfg(feature = "python")]
pub mod python;
pub mod raw;
mod shape;
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

/// Reads, parses and validates a topology file.
pub fn load(path: &Path) -> Result<Loaded, Error> {
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
    let files = AppFiles::In(dir);
    let v = match format {
        Format::Yaml => yaml_validated(path, &text, files)?,
        Format::Python => python_validated(path, &text, files)?,
    };
    Ok(Loaded {
        topology: v.topology,
        warnings: v.warnings,
        format,
        text,
    })
}

/// Whether app files are looked for on the host.
#[derive(Clone, Copy)]
enum AppFiles<'a> {
    /// Not checked (text given without a folder): every path is a host file.
    Unchecked,
    /// Checked against this folder: a host file that exists is shipped, an absolute path that does not is
    /// a file inside the node's own image when the node has one, and an error otherwise.
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
                let problems = validate::app_files(&mut v.topology, dir, locator);
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

/// Without the `python` feature a 0.6 file cannot be read.
#[cfg(not(feature = "python"))]
pub fn from_python_str(path: &Path, _text: &str) -> Result<Validated, Error> {
    Err(Error::NoPython {
        path: path.to_owned(),
    })
}

#[cfg(not(feature = "python"))]
fn python_validated(path: &Path, text: &str, _files: AppFiles<'_>) -> Result<Validated, Error> {
    from_python_str(path, text)
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
