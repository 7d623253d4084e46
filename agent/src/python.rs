//! The embedded Python: installs the `wotemu_agent` package (shipped inside the binary), hands the app a
//! recorder, runs it, and reports how it ended.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use wotemu_contract::table::{AppValue, Event, Interaction, LogLine};
use wotemu_contract::time_util::now_us;

use crate::config::AgentConfig;
use crate::error::Error;
use wotemu_ship::Shipper;

/// The Python packages, as shipped in the binary: `wotemu_agent` (the recorder, the builtin apps) and
/// `wotemu` (WoTemu 0.6's API for apps: `wotemu.utils`, `wotemu.monitor.utils`, `wotemu.config`,
/// `wotemu.enums`; one package with the topology shim, in `python/wotemu/`).
const FILES: [(&str, &str); 18] = [
    (
        "wotemu_agent/__init__.py",
        include_str!("../python/wotemu_agent/__init__.py"),
    ),
    (
        "wotemu_agent/apps/__init__.py",
        include_str!("../python/wotemu_agent/apps/__init__.py"),
    ),
    (
        "wotemu_agent/apps/_common.py",
        include_str!("../python/wotemu_agent/apps/_common.py"),
    ),
    (
        "wotemu_agent/apps/clock.py",
        include_str!("../python/wotemu_agent/apps/clock.py"),
    ),
    (
        "wotemu_agent/apps/error.py",
        include_str!("../python/wotemu_agent/apps/error.py"),
    ),
    (
        "wotemu_agent/apps/reader.py",
        include_str!("../python/wotemu_agent/apps/reader.py"),
    ),
    (
        "wotemu_agent/apps/subscriber.py",
        include_str!("../python/wotemu_agent/apps/subscriber.py"),
    ),
    (
        "wotemu_agent/apps/worker.py",
        include_str!("../python/wotemu_agent/apps/worker.py"),
    ),
    (
        "wotemu_agent/apps/caller.py",
        include_str!("../python/wotemu_agent/apps/caller.py"),
    ),
    (
        "wotemu_agent/apps/mongo_historian.py",
        include_str!("../python/wotemu_agent/apps/mongo_historian.py"),
    ),
    (
        "wotemu_agent/apps/camera.py",
        include_str!("../python/wotemu_agent/apps/camera.py"),
    ),
    (
        "wotemu_agent/apps/detector.py",
        include_str!("../python/wotemu_agent/apps/detector.py"),
    ),
    (
        "wotemu/__init__.py",
        include_str!("../../python/wotemu/__init__.py"),
    ),
    (
        "wotemu/enums.py",
        include_str!("../../python/wotemu/enums.py"),
    ),
    (
        "wotemu/config.py",
        include_str!("../../python/wotemu/config.py"),
    ),
    (
        "wotemu/utils.py",
        include_str!("../../python/wotemu/utils.py"),
    ),
    (
        "wotemu/monitor/__init__.py",
        include_str!("../../python/wotemu/monitor/__init__.py"),
    ),
    (
        "wotemu/monitor/utils.py",
        include_str!("../../python/wotemu/monitor/utils.py"),
    ),
];

/// Writes the package into a folder named after its content (once per version) and returns the folder.
pub fn install_package() -> Result<PathBuf, Error> {
    let mut h: u64 = 0xcbf29ce484222325;
    for (name, code) in FILES {
        for b in name.bytes().chain(code.bytes()) {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    let dir = std::env::temp_dir().join(format!("wotemu-agent-py-{h:016x}"));
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    let io =
        |e: std::io::Error| Error::Python(format!("cannot write the wotemu_agent package: {e}"));
    let tmp = std::env::temp_dir().join(format!("wotemu-agent-py-{h:016x}.{}", std::process::id()));
    for (name, code) in FILES {
        let p = tmp.join(name);
        std::fs::create_dir_all(p.parent().expect("has a parent")).map_err(io)?;
        std::fs::write(&p, code).map_err(io)?;
    }
    std::fs::write(tmp.join(".complete"), "").map_err(io)?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another agent installed it first.
        Err(_) if dir.join(".complete").exists() => {
            if let Err(e) = std::fs::remove_dir_all(&tmp) {
                tracing::debug!(error = %e, "A spare copy of the package was not removed.");
            }
            Ok(dir)
        }
        Err(e) => Err(io(e)),
    }
}

/// What the recorder shares with the rest of the agent.
pub struct RecorderState {
    shipper: Arc<Shipper>,
    task: String,
    node: String,
    stopper: Mutex<Option<Py<PyAny>>>,
    stop_requested: AtomicBool,
    started: AtomicBool,
}

impl RecorderState {
    pub fn new(shipper: Arc<Shipper>, task: &str, node: &str) -> Arc<RecorderState> {
        Arc::new(RecorderState {
            shipper,
            task: task.to_owned(),
            node: node.to_owned(),
            stopper: Mutex::new(None),
            stop_requested: AtomicBool::new(false),
            started: AtomicBool::new(false),
        })
    }

    /// Asks the app to stop (from any thread): its asyncio loop sets the stop event.
    pub fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::SeqCst);
        let cb = self.stopper.lock().expect("stopper lock").take();
        if let Some(cb) = cb {
            Python::attach(|py| {
                if let Err(e) = cb.call0(py) {
                    tracing::warn!(error = %e, "the app's stop callback failed");
                }
            });
        }
    }

    /// Whether the servient started (the app was called).
    pub fn started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Records a log line of the task.
    pub fn log(&self, stream: &str, line: &str) {
        self.shipper.push(LogLine {
            task: self.task.clone(),
            node: self.node.clone(),
            time: now_us(),
            stream: stream.to_owned(),
            line: line.to_owned(),
        });
    }
}

/// The object the Python side records through.
#[pyclass(frozen, name = "Recorder")]
pub struct Recorder(Arc<RecorderState>);

#[pymethods]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (thing, name, verb, side, latency_ms, ok, error_type, error_message, host))]
    fn interaction(
        &self,
        thing: String,
        name: String,
        verb: String,
        side: String,
        latency_ms: Option<f64>,
        ok: bool,
        error_type: Option<String>,
        error_message: Option<String>,
        host: Option<String>,
    ) {
        let s = &self.0;
        s.shipper.push(Interaction {
            task: s.task.clone(),
            node: s.node.clone(),
            time: now_us(),
            thing,
            name,
            verb,
            side,
            latency_ms,
            ok,
            error_type,
            error_message,
            host,
            result: None,
        });
    }

    #[pyo3(signature = (thing, name, subscription, kind, item))]
    fn event(
        &self,
        thing: String,
        name: String,
        subscription: String,
        kind: String,
        item: Option<String>,
    ) {
        let s = &self.0;
        s.shipper.push(Event {
            task: s.task.clone(),
            node: s.node.clone(),
            time: now_us(),
            thing,
            name,
            subscription,
            kind,
            item,
        });
    }

    fn log(&self, stream: &str, line: &str) {
        self.0.log(stream, line);
    }

    /// An app-defined metric: `value` is JSON text.
    fn app_value(&self, key: String, value: String) {
        let s = &self.0;
        s.shipper.push(AppValue {
            task: s.task.clone(),
            node: s.node.clone(),
            time: now_us(),
            key,
            value,
        });
    }

    fn set_stopper(&self, py: Python<'_>, cb: Py<PyAny>) -> PyResult<()> {
        let mut slot = self.0.stopper.lock().expect("stopper lock");
        if self.0.stop_requested.load(Ordering::SeqCst) {
            drop(slot);
            cb.call0(py)?;
        } else {
            *slot = Some(cb);
        }
        Ok(())
    }

    fn started(&self) {
        self.0.started.store(true, Ordering::SeqCst);
    }
}

/// How the app ended, when it did not end by a stop request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFailure {
    /// `Type: message` of the exception.
    pub summary: String,
    /// The Python traceback.
    pub traceback: String,
    /// Whether the app could not even be loaded (missing file, no `app`, bad params).
    pub load_error: bool,
}

pub(crate) fn prepare<'py>(
    py: Python<'py>,
    pkg: &Path,
    extra: &[PathBuf],
) -> PyResult<Bound<'py, PyModule>> {
    let sys = py.import("sys")?;
    let path = sys.getattr("path")?;
    path.call_method1("insert", (0, pkg.to_string_lossy().as_ref()))?;
    let site = py.import("site")?;
    for p in extra {
        site.call_method1("addsitedir", (p.to_string_lossy().as_ref(),))?;
    }
    // `wotemu.enums.BuiltinApps` is built from the one list of builtins.
    let wotemu = py.import("wotemu")?;
    let all: Vec<(&str, String)> = wotemu_contract::apps::BUILTINS
        .iter()
        .map(|b| (b.name, b.enum_name()))
        .collect();
    wotemu.setattr("_BUILTINS", all)?;
    let m = py.import("wotemu_agent")?;
    // The builtins this version ships, from wotemu's one list (`wotemu_contract::apps`).
    let builtins: Vec<&str> = wotemu_contract::apps::available().map(|b| b.name).collect();
    m.setattr("BUILTINS", pyo3::types::PySet::new(py, builtins)?)?;
    Ok(m)
}

fn failure(py: Python<'_>, m: Option<&Bound<'_, PyModule>>, e: &PyErr) -> AppFailure {
    let value = e.value(py);
    let type_name = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let load_error = type_name == "AppError";
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    let traceback = m
        .and_then(|m| m.call_method1("format_exception", (value,)).ok())
        .and_then(|t| t.extract::<String>().ok())
        .unwrap_or_else(|| format!("{type_name}: {message}"));
    AppFailure {
        summary: if load_error {
            message
        } else {
            format!("{type_name}: {message}")
        },
        traceback,
        load_error,
    }
}

/// The version of the embedded Python (`3.11.7`).
pub fn python_version() -> Option<String> {
    Python::attach(|py| {
        py.import("platform")
            .and_then(|p| p.call_method0("python_version"))
            .and_then(|v| v.extract::<String>())
            .ok()
    })
}

/// Loads the app without running it; returns the file it comes from.
pub fn check_app(cfg: &AgentConfig) -> Result<String, AppFailure> {
    let pkg = install_package().map_err(|e| AppFailure {
        summary: e.to_string(),
        traceback: String::new(),
        load_error: true,
    })?;
    Python::attach(|py| {
        let m = prepare(py, &pkg, &cfg.python_path).map_err(|e| failure(py, None, &e))?;
        m.call_method1("check", (cfg.python_json(),))
            .and_then(|f| f.extract::<String>())
            .map_err(|e| {
                let mut f = failure(py, Some(&m), &e);
                f.load_error = true;
                f
            })
    })
}

/// Runs the app until [`RecorderState::request_stop`]; `Ok` when it was stopped, `Err` when it failed.
pub fn run_app(cfg: &AgentConfig, state: Arc<RecorderState>) -> Result<(), AppFailure> {
    let pkg = install_package().map_err(|e| AppFailure {
        summary: e.to_string(),
        traceback: String::new(),
        load_error: true,
    })?;
    Python::attach(|py| {
        let m = prepare(py, &pkg, &cfg.python_path).map_err(|e| failure(py, None, &e))?;
        let rec = Py::new(py, Recorder(state)).map_err(|e| failure(py, Some(&m), &e))?;
        m.call_method1("run", (cfg.python_json(), rec))
            .map(|_| ())
            .map_err(|e| failure(py, Some(&m), &e))
    })
}

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn every_available_builtin_is_shipped_in_the_package() {
        for b in wotemu_contract::apps::available() {
            let file = format!("wotemu_agent/apps/{}.py", b.name);
            assert!(
                FILES.iter().any(|(name, _)| *name == file),
                "builtin `{}` has no module {file}",
                b.name
            );
        }
    }
}
