//! `wotemu._native`: the Rust half of the `wotemu` Python package (the Python half is `python/wotemu/`).
//!
//! Every figure is computed by the reporter's own functions (`wotemu_reporter::aggregate`), so a DataFrame
//! from Python holds the report's numbers to the last digit. Results cross to Python as columns (name,
//! dtype, list of values), which `wotemu/analysis.py` turns into Polars DataFrames; tables themselves are
//! read by Python Polars straight from the dataset's Parquet files. Errors become Python exceptions with
//! the CLI's messages; nothing here may panic across the boundary.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyList;
use wotemu_contract::table::Table;
use wotemu_reporter::aggregate;
use wotemu_reporter::query;

create_exception!(
    _native,
    WotemuError,
    PyException,
    "An error of wotemu (the message is the CLI's)."
);
create_exception!(
    _native,
    DatasetError,
    WotemuError,
    "The folder is not a run dataset, or a table of it cannot be read."
);
create_exception!(
    _native,
    QueryError,
    WotemuError,
    "The SQL query is wrong (the message says where)."
);
create_exception!(
    _native,
    TopologyError,
    WotemuError,
    "The topology is invalid (every problem, located)."
);

/// The message of an error with its causes, as the CLI prints it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn dataset_err(e: impl std::error::Error) -> PyErr {
    DatasetError::new_err(chain(&e))
}

/// A result frame as (name, dtype, values) columns. Datetimes cross as µs since the epoch with dtype
/// `datetime[us, UTC]`; other types as Python ints, floats, bools or strings.
type Columns = Vec<(String, String, Py<PyAny>)>;

fn columns(py: Python<'_>, df: &DataFrame) -> PyResult<Columns> {
    let mut out = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let name = s.name().to_string();
        let (dtype, values): (String, Py<PyAny>) = match s.dtype() {
            DataType::Float32 | DataType::Float64 => {
                let s = s.cast(&DataType::Float64).map_err(dataset_err)?;
                let v: Vec<Option<f64>> = s.f64().map_err(dataset_err)?.into_iter().collect();
                ("f64".into(), PyList::new(py, v)?.into_any().unbind())
            }
            DataType::Boolean => {
                let v: Vec<Option<bool>> = s.bool().map_err(dataset_err)?.into_iter().collect();
                ("bool".into(), PyList::new(py, v)?.into_any().unbind())
            }
            DataType::Datetime(unit, _) => {
                let to_us = |x: i64| match unit {
                    TimeUnit::Nanoseconds => x / 1000,
                    TimeUnit::Microseconds => x,
                    TimeUnit::Milliseconds => x * 1000,
                };
                let s = s.cast(&DataType::Int64).map_err(dataset_err)?;
                let v: Vec<Option<i64>> = s
                    .i64()
                    .map_err(dataset_err)?
                    .into_iter()
                    .map(|x| x.map(to_us))
                    .collect();
                ("datetime".into(), PyList::new(py, v)?.into_any().unbind())
            }
            DataType::UInt64 => {
                let v: Vec<Option<u64>> = s.u64().map_err(dataset_err)?.into_iter().collect();
                ("u64".into(), PyList::new(py, v)?.into_any().unbind())
            }
            d if d.is_integer() => {
                let s = s.cast(&DataType::Int64).map_err(dataset_err)?;
                let v: Vec<Option<i64>> = s.i64().map_err(dataset_err)?.into_iter().collect();
                ("i64".into(), PyList::new(py, v)?.into_any().unbind())
            }
            _ => {
                let s = s.cast(&DataType::String).map_err(dataset_err)?;
                let v: Vec<Option<String>> = s
                    .str()
                    .map_err(dataset_err)?
                    .into_iter()
                    .map(|x| x.map(str::to_owned))
                    .collect();
                ("str".into(), PyList::new(py, v)?.into_any().unbind())
            }
        };
        out.push((name, dtype, values));
    }
    Ok(out)
}

/// Checks `path` is a dataset and returns its manifest (JSON text) and its tables (name, Parquet file).
#[pyfunction]
fn open_dataset(path: PathBuf) -> PyResult<(String, Vec<(String, String)>)> {
    if !path.join("manifest.json").is_file() {
        return Err(DatasetError::new_err(format!(
            "{} is not a run dataset: it has no manifest.json; give the folder `wotemu run --out` or `wotemu collect --out` wrote",
            path.display()
        )));
    }
    wotemu_contract::Manifest::read(&path).map_err(|e| {
        DatasetError::new_err(format!(
            "{} is not a run dataset: {}",
            path.display(),
            chain(&e)
        ))
    })?;
    let text = std::fs::read_to_string(path.join("manifest.json")).map_err(dataset_err)?;
    let tables = Table::ALL
        .iter()
        .map(|t| (t.name().to_owned(), path.join(t.file_name())))
        .filter(|(_, p)| p.is_file())
        .map(|(n, p)| (n, p.to_string_lossy().into_owned()))
        .collect();
    Ok((text, tables))
}

/// A table's lazy scan, or an empty result when the dataset lacks it.
fn scan(path: &Path, table: Table) -> PyResult<Option<LazyFrame>> {
    wotemu_reporter::scan(path, table).map_err(dataset_err)
}

fn collect(py: Python<'_>, lf: LazyFrame) -> PyResult<Columns> {
    let df = py
        .detach(|| lf.collect_with_engine(Engine::Streaming))
        .map_err(|e| DatasetError::new_err(chain(&e)))?;
    columns(py, &df)
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The report's latency figures per group of `by` ([`aggregate::latency_frame`]).
#[pyfunction]
fn latency(py: Python<'_>, path: PathBuf, by: Vec<String>) -> PyResult<Option<Columns>> {
    let Some(lf) = scan(&path, Table::Interactions)? else {
        return Ok(None);
    };
    collect(py, aggregate::latency_frame(lf, &refs(&by)))
        .map(Some)
        .map_err(|e| with_column_hint(py, e, &by))
}

/// Packets and bytes per window of `every_us` and group of `by` ([`aggregate::traffic_frame`]).
#[pyfunction]
fn traffic(
    py: Python<'_>,
    path: PathBuf,
    by: Vec<String>,
    every_us: i64,
) -> PyResult<Option<Columns>> {
    if every_us <= 0 {
        return Err(WotemuError::new_err(
            "`every` must be a positive duration, e.g. \"10s\"",
        ));
    }
    let Some(lf) = scan(&path, Table::Packets)? else {
        return Ok(None);
    };
    collect(py, aggregate::traffic_frame(lf, &refs(&by), every_us))
        .map(Some)
        .map_err(|e| with_column_hint(py, e, &by))
}

/// Failed interactions grouped as on the report's errors page ([`aggregate::errors_frame`]).
#[pyfunction]
fn errors(py: Python<'_>, path: PathBuf) -> PyResult<Option<Columns>> {
    let Some(lf) = scan(&path, Table::Interactions)? else {
        return Ok(None);
    };
    collect(py, aggregate::errors_frame(lf)).map(Some)
}

/// CPU (`cpu_percent`) or memory (`mem_bytes`) per task ([`aggregate::system_frame`]).
#[pyfunction]
fn system(py: Python<'_>, path: PathBuf, column: String) -> PyResult<Option<Columns>> {
    if column != "cpu_percent" && column != "mem_bytes" {
        return Err(WotemuError::new_err(format!(
            "unknown measurement `{column}`: cpu_percent or mem_bytes"
        )));
    }
    let Some(lf) = scan(&path, Table::System)? else {
        return Ok(None);
    };
    collect(py, aggregate::system_frame(lf, &column)).map(Some)
}

/// A grouping column that does not exist: name the table's columns.
fn with_column_hint(py: Python<'_>, e: PyErr, by: &[String]) -> PyErr {
    let msg = e.value(py).to_string();
    if msg.contains("not found") || msg.contains("unable to find column") {
        WotemuError::new_err(format!(
            "cannot group by {by:?}: {msg} (group by columns of the table; see ARCHITECTURE.md for the schema)"
        ))
    } else {
        e
    }
}

/// `wotemu query`'s SQL over one or more runs (name, folder).
#[pyfunction]
fn sql(py: Python<'_>, runs: Vec<(String, PathBuf)>, sql: String) -> PyResult<Columns> {
    let df = py.detach(|| query::query(&runs, &sql)).map_err(|e| {
        if e.is_bad_query() {
            QueryError::new_err(e.to_string())
        } else {
            DatasetError::new_err(chain(&e))
        }
    })?;
    columns(py, &df)
}

/// `wotemu compare --json` of `runs` (folders), baseline first unless `baseline` says otherwise.
#[pyfunction]
#[pyo3(signature = (runs, baseline = 0))]
fn compare(py: Python<'_>, runs: Vec<PathBuf>, baseline: usize) -> PyResult<String> {
    if runs.len() < 2 {
        return Err(WotemuError::new_err(
            "compare needs at least two runs: wotemu.compare([\"runs/a\", \"runs/b\"])",
        ));
    }
    if baseline >= runs.len() {
        return Err(WotemuError::new_err(format!(
            "baseline {baseline} is not one of the {} runs (0-based)",
            runs.len()
        )));
    }
    for r in &runs {
        if !r.join("manifest.json").is_file() {
            return Err(DatasetError::new_err(format!(
                "{} is not a run dataset (no manifest.json)",
                r.display()
            )));
        }
    }
    let c = py
        .detach(|| {
            wotemu_reporter::compare::Comparison::load(wotemu_reporter::compare::CompareOptions {
                runs,
                baseline,
                title: None,
                base_url: None,
                gates: Vec::new(),
                sweep: None,
            })
        })
        .map_err(dataset_err)?;
    Ok(c.json().to_string())
}

/// The file a topology built in Python is located in, for error messages.
fn origin_file(file: Option<PathBuf>) -> PathBuf {
    file.unwrap_or_else(|| PathBuf::from("<python>"))
}

/// Validates a topology (the shim's `_to_raw` JSON): `(errors, warnings)`, each the CLI's text of one
/// problem.
#[pyfunction]
#[pyo3(signature = (shim_json, file = None))]
fn validate(shim_json: &str, file: Option<PathBuf>) -> PyResult<(Vec<String>, Vec<String>)> {
    let file = origin_file(file);
    match wotemu_topology::from_shim_json(&file, shim_json) {
        Ok(v) => Ok((
            Vec::new(),
            v.warnings.iter().map(ToString::to_string).collect(),
        )),
        Err(wotemu_topology::Error::Invalid { diagnostics, .. }) => Ok((
            diagnostics.iter().map(ToString::to_string).collect(),
            Vec::new(),
        )),
        Err(e) => Err(TopologyError::new_err(chain(&e))),
    }
}

/// The compose document of a topology (the shim's `_to_raw` JSON): `(json, yaml)`, as `wotemu compose`
/// writes it with the same options.
#[pyfunction]
#[pyo3(signature = (shim_json, file = None, source = "topology.py".to_owned(), redis_port = 6379, topology_dir = ".".to_owned(), password_file = "./redis-password".to_owned(), password_file_abs = None, seed = None))]
// Python's keyword arguments, one per `wotemu compose` option.
#[allow(clippy::too_many_arguments)]
fn compose(
    shim_json: &str,
    file: Option<PathBuf>,
    source: String,
    redis_port: u16,
    topology_dir: String,
    password_file: String,
    password_file_abs: Option<String>,
    seed: Option<u64>,
) -> PyResult<(String, String)> {
    let file = origin_file(file);
    let mut v = wotemu_topology::from_shim_json(&file, shim_json)
        .map_err(|e| TopologyError::new_err(chain(&e)))?;
    // As `wotemu compose`: the seed asked for, else drawn.
    v.topology.seed = Some(seed.unwrap_or_else(wotemu_topology::compose::draw_seed));
    let opts = wotemu_topology::compose::ComposeOptions {
        redis_port,
        topology_dir,
        password_file,
        password_file_abs,
    };
    let json = wotemu_topology::compose::compose_with(&v.topology, &opts).to_string();
    let yaml = wotemu_topology::compose::to_yaml_with(&v.topology, &source, &opts);
    Ok((json, yaml))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("WotemuError", py.get_type::<WotemuError>())?;
    m.add("DatasetError", py.get_type::<DatasetError>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("TopologyError", py.get_type::<TopologyError>())?;
    m.add(
        "TABLES",
        Table::ALL.iter().map(|t| t.name()).collect::<Vec<_>>(),
    )?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    // How the module was compiled (benchmarks refuse a debug build).
    m.add(
        "PROFILE",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    // The one list of builtin apps, which `wotemu.enums.BuiltinApps` is built from (as in the binary).
    let builtins: Vec<(&str, String)> = wotemu_contract::apps::BUILTINS
        .iter()
        .map(|b| (b.name, b.enum_name()))
        .collect();
    m.add("BUILTINS", builtins)?;
    m.add_function(wrap_pyfunction!(open_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(latency, m)?)?;
    m.add_function(wrap_pyfunction!(traffic, m)?)?;
    m.add_function(wrap_pyfunction!(errors, m)?)?;
    m.add_function(wrap_pyfunction!(system, m)?)?;
    m.add_function(wrap_pyfunction!(sql, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(compose, m)?)?;
    Ok(())
}
