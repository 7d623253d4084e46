//! WoTemu 0.6 Python topology files, run in embedded Python.
//!
//! The shim package in `python/wotemu/` (compiled into the binary) is registered as `wotemu`,
//! `wotemu.enums`, `wotemu.topology` and `wotemu.topology.models`, shadowing any installed WoTemu. The file
//! runs as module `__wotemu_topology__`; its `topology()` result is turned by the shim into the raw model
//! (JSON) with the line that built each object, which locates validation errors.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::PyModule;

use crate::error::{Diagnostic, Error, Kind, Location};
use crate::validate::{DocPath, Locate, Seg};

const SHIM: [(&str, &str, bool); 5] = [
    (
        "wotemu",
        include_str!("../../python/wotemu/__init__.py"),
        true,
    ),
    (
        "wotemu.enums",
        include_str!("../../python/wotemu/enums.py"),
        false,
    ),
    (
        "wotemu.config",
        include_str!("../../python/wotemu/config.py"),
        false,
    ),
    (
        "wotemu.topology",
        include_str!("../../python/wotemu/topology/__init__.py"),
        true,
    ),
    (
        "wotemu.topology.models",
        include_str!("../../python/wotemu/topology/models.py"),
        false,
    ),
];

/// `docker.types.RestartPolicy` and `Placement` for files that use them when the Docker SDK is not installed.
const DOCKER_TYPES: &str = r#"
class RestartPolicy(dict):
    """Minimal stand-in for docker.types.RestartPolicy (the Docker SDK is not installed)."""
    def __init__(self, condition="none", delay=0, max_attempts=0, window=0):
        super().__init__(Condition=condition, Delay=delay, MaxAttempts=max_attempts, Window=window)

class Placement(dict):
    """Minimal stand-in for docker.types.Placement (the Docker SDK is not installed)."""
    def __init__(self, constraints=None, preferences=None):
        super().__init__()
        if constraints is not None:
            self["Constraints"] = list(constraints)
        if preferences is not None:
            self["Preferences"] = [
                {"Spread": {"SpreadDescriptor": p[1]}} if isinstance(p, (tuple, list)) else p
                for p in preferences
            ]
"#;

/// What running a 0.6 file gave.
pub struct Loaded {
    /// The document the shim built (deserialised and validated by [`crate::from_python_str`]).
    pub raw: serde_json::Value,
    pub locator: PyLocator,
    /// Problems the shim found (two different objects with one name).
    pub problems: Vec<Diagnostic>,
}

/// Locates document paths by the line of the Python statement that built the object.
pub struct PyLocator {
    file: std::path::PathBuf,
    origins: BTreeMap<String, usize>,
}

impl Locate for PyLocator {
    fn locate(&self, path: &DocPath) -> Option<Location> {
        // The longest `kind.name` prefix with a known line, else the Topology(...) line.
        let keys: Vec<&str> = path
            .0
            .iter()
            .map(|s| match s {
                Seg::Key(k) => k.as_str(),
                Seg::Index(_) => "",
            })
            .collect();
        let line = (keys.len().min(2) == 2)
            .then(|| self.origins.get(&format!("{}.{}", keys[0], keys[1])))
            .flatten()
            .or_else(|| self.origins.get(""))?;
        Some(Location {
            file: self.file.clone(),
            line: *line,
            column: 0,
        })
    }
}

/// Runs the file and returns its raw topology.
pub fn load(path: &Path, text: &str) -> Result<Loaded, Error> {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    Python::attach(|py| run(py, path, &abs, text)).map_err(|e| e.into_error(path))
}

enum Failure {
    Py(PyErr),
    Other(String),
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

impl Failure {
    fn into_error(self, path: &Path) -> Error {
        match self {
            Failure::Other(message) => Error::Python {
                path: path.to_owned(),
                location: None,
                message,
                traceback: None,
            },
            Failure::Py(e) => Python::attach(|py| describe(py, path, &e)),
        }
    }
}

fn cstring(s: &str) -> Result<CString, Failure> {
    CString::new(s).map_err(|_| Failure::Other("the file contains a NUL byte".into()))
}

fn run(py: Python<'_>, path: &Path, abs: &Path, text: &str) -> Result<Loaded, Failure> {
    let sys = py.import("sys")?;
    let modules = sys.getattr("modules")?;
    // Forget any earlier wotemu modules (an installed 0.6, or a previous load).
    let old: Vec<String> = modules
        .call_method0("keys")?
        .try_iter()?
        .filter_map(|k| k.ok()?.extract::<String>().ok())
        .filter(|k| k == "wotemu" || k.starts_with("wotemu.") || k == "__wotemu_topology__")
        .collect();
    for k in old {
        modules.del_item(k)?;
    }
    for (name, code, package) in SHIM {
        let file = format!("<wotemu shim {name}>");
        let m = PyModule::from_code(py, &cstring(code)?, &cstring(&file)?, &cstring(name)?)?;
        if package {
            m.setattr("__path__", pyo3::types::PyList::empty(py))?;
        }
        modules.set_item(name, &m)?;
        if name == "wotemu" {
            // The one list of builtin apps (`wotemu.enums.BuiltinApps` is built from it).
            let builtins: Vec<(&str, String)> = wotemu_contract::apps::BUILTINS
                .iter()
                .map(|b| (b.name, b.enum_name()))
                .collect();
            m.setattr("_BUILTINS", builtins)?;
        }
        if let Some((parent, child)) = name.rsplit_once('.') {
            modules.get_item(parent)?.setattr(child, &m)?;
        }
    }
    if py.import("docker.types").is_err() {
        let docker = PyModule::new(py, "docker")?;
        docker.setattr("__path__", pyo3::types::PyList::empty(py))?;
        let types = PyModule::from_code(
            py,
            &cstring(DOCKER_TYPES)?,
            c"<wotemu shim docker.types>",
            c"docker.types",
        )?;
        docker.setattr("types", &types)?;
        modules.set_item("docker", docker)?;
        modules.set_item("docker.types", types)?;
    }
    let models = modules.get_item("wotemu.topology.models")?;
    let file_name = abs.to_string_lossy().into_owned();
    models.setattr("_TOPOLOGY_FILE", &file_name)?;
    // The file's folder on the path, as `python file.py` would have it.
    if let Some(dir) = abs.parent() {
        sys.getattr("path")?
            .call_method1("insert", (0, dir.to_string_lossy().as_ref()))?;
    }

    let module = PyModule::from_code(
        py,
        &cstring(text)?,
        &cstring(&file_name)?,
        c"__wotemu_topology__",
    )?;
    let func = module.getattr("topology").map_err(|_| {
        Failure::Other("the file has no `topology()` function; a WoTemu 0.6 topology file defines `def topology():` returning a Topology".into())
    })?;
    let topo = func.call0()?;
    let out = models.getattr("_to_raw")?.call1((topo,))?;
    let json: String = py
        .import("json")?
        .getattr("dumps")?
        .call(
            (out,),
            Some(&[("default", py.eval(c"str", None, None)?)].into_py_dict(py)?),
        )?
        .extract()?;
    from_shim_json(path, &json).map_err(Failure::Other)
}

/// The raw topology from the shim's `_to_raw` output (JSON: `raw`, `origins`, `problems`), located in `path`
/// (the file whose lines `origins` are). The Python package calls this with a topology built in Python.
pub fn from_shim_json(path: &Path, json: &str) -> Result<Loaded, String> {
    #[derive(serde::Deserialize)]
    struct Out {
        raw: serde_json::Value,
        origins: BTreeMap<String, Option<usize>>,
        problems: Vec<ShimProblem>,
    }
    #[derive(serde::Deserialize)]
    struct ShimProblem {
        path: String,
        line: Option<usize>,
        message: String,
    }
    let out: Out = serde_json::from_str(json).map_err(|e| format!("internal: shim output: {e}"))?;
    let origins: BTreeMap<String, usize> = out
        .origins
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let raw = out.raw;
    let problems = out
        .problems
        .into_iter()
        .map(|p| Diagnostic {
            kind: Kind::DuplicateName,
            path: p.path,
            location: p.line.map(|line| Location {
                file: path.to_owned(),
                line,
                column: 0,
            }),
            message: p.message,
            hint: Some("give each object its own name, or reuse the same object".into()),
        })
        .collect();
    Ok(Loaded {
        raw,
        locator: PyLocator {
            file: path.to_owned(),
            origins,
        },
        problems,
    })
}

use pyo3::types::IntoPyDict;

/// A Python exception as an error: message, the line of the topology file it happened at, and the traceback.
fn describe(py: Python<'_>, path: &Path, e: &PyErr) -> Error {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let abs_s = abs.to_string_lossy().into_owned();
    let message = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    let kind = e
        .get_type(py)
        .name()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let mut location = None;
    // SyntaxError carries its own place.
    if e.is_instance_of::<pyo3::exceptions::PySyntaxError>(py) {
        let v = e.value(py);
        let line = v
            .getattr("lineno")
            .ok()
            .and_then(|l| l.extract::<usize>().ok());
        let col = v
            .getattr("offset")
            .ok()
            .and_then(|l| l.extract::<usize>().ok());
        if let Some(line) = line {
            location = Some(Location {
                file: path.to_owned(),
                line,
                column: col.unwrap_or(0),
            });
        }
    }
    // Otherwise the innermost frame in the topology file.
    let mut tb_text = None;
    if let Some(tb) = e.traceback(py) {
        if let Ok(frames) = py
            .import("traceback")
            .and_then(|t| t.getattr("extract_tb"))
            .and_then(|f| f.call1((tb.clone(),)))
        {
            if let Ok(iter) = frames.try_iter() {
                for f in iter.flatten() {
                    let file: Option<String> =
                        f.getattr("filename").ok().and_then(|x| x.extract().ok());
                    let line: Option<usize> =
                        f.getattr("lineno").ok().and_then(|x| x.extract().ok());
                    if file.as_deref() == Some(abs_s.as_str()) {
                        if let Some(line) = line {
                            location = Some(Location {
                                file: path.to_owned(),
                                line,
                                column: 0,
                            });
                        }
                    }
                }
            }
        }
        if let Ok(s) = py
            .import("traceback")
            .and_then(|t| t.getattr("format_exception"))
            .and_then(|f| f.call1((e.get_type(py), e.value(py), tb)))
            .and_then(|l| l.extract::<Vec<String>>())
        {
            tb_text = Some(s.concat().trim_end().to_owned());
        }
    }
    Error::Python {
        path: path.to_owned(),
        location,
        message: format!("{kind}: {message}"),
        traceback: tb_text,
    }
}
