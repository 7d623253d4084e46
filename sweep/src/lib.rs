//! `wotemu sweep`: every combination of a topology's parameters, run one after the other — on this host
//! (each a child `wotemu run` in a process group of its own) or, with [`Engine::Swarm`], as Docker Swarm stacks
//! (`wotemu compose`, deployed, its agents awaited, `wotemu stop`, `wotemu report`, removed) — each into a
//! folder of its own that holds its dataset, its report, the topology it ran (`topology.yml`) and
//! `sweep.json` (its parameters and whether it completed), which makes a sweep resumable.
//!
//! [`Sweep::plan`] parses the `--set` parameters ([`Param`]), builds every combination ([`points`]: the first
//! parameter varies slowest, readable folder names) and validates each before anything runs, with the same
//! located errors as any topology; [`Sweep::run`] runs the ones not complete yet. Comparing the complete ones
//! is the caller's (the reporter).
//!
//! A crate of its own because it drives both engines — the one-host runner through `wotemu run`, Swarm
//! stacks through `wotemu-swarm` — and neither engine may depend on the other.
//!
//! This crate must never delete a run (an unfinished combination is moved aside to `.interrupted/`), mix the
//! runs of different parameters in one folder, or print (messages go through [`Observer`]).

mod point;
mod run;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use point::{parse_set, points, Param, Point};
pub use run::{Engine, Outcome};

/// Why a sweep cannot be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("the combination {set} does not validate")]
    Invalid {
        set: String,
        #[source]
        source: Box<wotemu_topology::Error>,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {message}")]
    Step { what: String, message: String },
    #[error(transparent)]
    Swarm(#[from] wotemu_swarm::Error),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// What a sweep tells the person running it.
pub trait Observer {
    fn say(&self, msg: &str);
    fn warn(&self, msg: &str);
}

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub topology: PathBuf,
    /// `--set PATH=V1,V2,…`, as given.
    pub set: Vec<String>,
    pub repeat: u32,
    /// How long each combination runs, as given (`60s`), and parsed.
    pub duration_text: String,
    pub duration: Duration,
    /// One folder per combination, and `compare/`.
    pub out: PathBuf,
}

/// What a combination's `sweep.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Marker {
    /// `complete`, `interrupted` or `failed`.
    status: String,
    set: Vec<(String, String)>,
    repeat: u32,
    duration: String,
    wall_s: f64,
    exit_code: Option<i32>,
}

fn read_marker(dir: &Path) -> Option<Marker> {
    serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).ok()?).ok()
}

/// A planned sweep: every combination validated, with the document each runs.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub opts: SweepOptions,
    pub params: Vec<Param>,
    pub points: Vec<Point>,
    /// (choice, the document after the overrides, as YAML).
    docs: Vec<(Vec<usize>, String)>,
    /// The stack name of the topology (a Swarm combination's stack is `<stack>-sweep<k>`).
    pub stack: String,
    /// The most replicas a combination starts (what a Swarm combination waits for).
    pub replicas: usize,
}

/// The complete combinations of a sweep, as its comparison reads them ([`Sweep::compared`]).
#[derive(Debug, Clone, Default)]
pub struct Compared {
    pub params: Vec<String>,
    pub points: Vec<(Vec<String>, u32)>,
    pub runs: Vec<PathBuf>,
}

impl Sweep {
    /// Parses the parameters, builds every combination and validates each (before anything runs); refuses
    /// an output folder that holds runs of other values.
    pub fn plan(opts: SweepOptions) -> Result<Sweep, Error> {
        let params: Vec<Param> = opts
            .set
            .iter()
            .map(|s| parse_set(s))
            .collect::<Result<_, _>>()?;
        for (i, p) in params.iter().enumerate() {
            if params[..i].iter().any(|q| q.path == p.path) {
                return Err(Error::Usage(format!(
                    "--set {}: the path is given twice; give all its values in one --set",
                    p.path
                )));
            }
        }
        let points = points(&params, opts.repeat);
        let mut sweep = Sweep {
            opts,
            params,
            points,
            docs: Vec::new(),
            stack: String::new(),
            replicas: 0,
        };
        sweep.validate()?;
        // A folder of another sweep (other values under the same name) is never mixed in nor replaced.
        for p in &sweep.points {
            let dir = sweep.dir(p);
            if let Some(m) = read_marker(&dir).filter(|m| m.set != sweep.set_of(p)) {
                let theirs: Vec<String> = m.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                return Err(Error::Usage(format!(
                    "{} holds a run of other values ({}): this sweep's parameters changed; give another --out",
                    dir.display(),
                    theirs.join(" ")
                )));
            }
        }
        Ok(sweep)
    }

    /// Validates every combination with its overrides applied to the document; keeps each document.
    fn validate(&mut self) -> Result<(), Error> {
        let topo_dir = self
            .opts
            .topology
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        for p in self.points.iter().filter(|p| p.repeat == 1) {
            let overrides: Vec<wotemu_topology::Override> = self
                .params
                .iter()
                .zip(&p.choice)
                .map(|(q, &i)| wotemu_topology::Override {
                    path: q.path.clone(),
                    value: q.values[i].1.clone(),
                })
                .collect();
            let (loaded, yaml) = wotemu_topology::load_with(&self.opts.topology, &overrides)
                .map_err(|source| Error::Invalid {
                    set: self.set_text(p),
                    source: Box::new(source),
                })?;
            self.stack = loaded.topology.stack_name(&self.opts.topology);
            let replicas = loaded.topology.nodes.iter().map(|n| n.scale as usize).sum();
            self.replicas = self.replicas.max(replicas);
            let mut doc: serde_json::Value = serde_yaml::from_str(&yaml)
                .map_err(|e| Error::Usage(format!("re-reading the document: {e}")))?;
            absolute_apps(&mut doc, &topo_dir);
            // The stack keeps the original file's name (the copy is `topology.yml`).
            if let (Some(obj), Some(stem)) = (doc.as_object_mut(), self.opts.topology.file_stem()) {
                obj.entry("name")
                    .or_insert_with(|| stem.to_string_lossy().into_owned().into());
            }
            let text = serde_yaml::to_string(&doc)
                .map_err(|e| Error::Usage(format!("writing the document: {e}")))?;
            self.docs.push((p.choice.clone(), text));
        }
        Ok(())
    }

    /// The folder of a combination.
    pub fn dir(&self, p: &Point) -> PathBuf {
        self.opts.out.join(&p.name)
    }

    /// (path, value as written) of each parameter of a combination.
    pub fn set_of(&self, p: &Point) -> Vec<(String, String)> {
        self.params
            .iter()
            .zip(&p.choice)
            .map(|(q, &i)| (q.path.clone(), q.values[i].0.clone()))
            .collect()
    }

    /// `path=value …` of a combination, for people.
    pub fn set_text(&self, p: &Point) -> String {
        self.set_of(p)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The document a combination runs.
    fn doc_of(&self, p: &Point) -> &str {
        self.docs
            .iter()
            .find(|(c, _)| *c == p.choice)
            .map(|(_, d)| d.as_str())
            .unwrap_or_default()
    }

    /// Whether a combination's folder holds its complete run.
    pub fn done(&self, p: &Point) -> bool {
        let dir = self.dir(p);
        dir.join("manifest.json").exists()
            && read_marker(&dir).is_some_and(|m| {
                m.status == "complete" && m.set == self.set_of(p) && m.repeat == p.repeat
            })
    }

    /// The combinations whose run is complete, in order.
    pub fn complete(&self) -> Vec<&Point> {
        self.points.iter().filter(|p| self.done(p)).collect()
    }

    /// What the comparison of the complete combinations needs: the `--set` paths in order, then per complete
    /// combination its values and repeat (1-based), and its run directory.
    pub fn compared(&self) -> Compared {
        let complete = self.complete();
        Compared {
            params: self.params.iter().map(|p| p.path.clone()).collect(),
            points: complete
                .iter()
                .map(|p| {
                    let values = self.set_of(p).into_iter().map(|(_, v)| v).collect();
                    (values, p.repeat)
                })
                .collect(),
            runs: complete.iter().map(|p| self.dir(p)).collect(),
        }
    }

    /// `wotemu sweep --dry-run`: each combination's folder and whether it is done, then how many there are
    /// and how long the rest will take.
    pub fn describe_plan(&self) -> String {
        let mut lines: Vec<String> = self
            .points
            .iter()
            .map(|p| {
                let state = if self.done(p) { "done" } else { "to run" };
                format!("  {:<8} {}", state, self.dir(p).display())
            })
            .collect();
        let todo = self.points.iter().filter(|p| !self.done(p)).count();
        let each = self.estimate_per_run();
        let human = wotemu_contract::time_util::human_duration;
        lines.push(format!(
            "{} combinations ({todo} to run), about {} in all ({} each: the duration and ~20 s to start, stop, collect and report)",
            self.points.len(),
            human(each * todo as f64),
            human(each)
        ));
        lines.join("\n")
    }

    /// The time a combination is expected to take before any ran: its duration and ~20 s to start, stop,
    /// collect and report.
    pub fn estimate_per_run(&self) -> f64 {
        self.opts.duration.as_secs_f64() + 20.0
    }
}

/// Makes the app paths of a document absolute (relative to the topology's folder) when they name files, so
/// that the document runs from the combination's folder.
fn absolute_apps(doc: &mut serde_json::Value, dir: &Path) {
    let Some(nodes) = doc.get_mut("nodes").and_then(|n| n.as_object_mut()) else {
        return;
    };
    for node in nodes.values_mut() {
        if let Some(path) = node.pointer_mut("/app/path") {
            if let Some(p) = path.as_str() {
                let file = dir.join(p);
                if Path::new(p).is_relative() && file.exists() {
                    if let Ok(abs) = std::path::absolute(&file) {
                        *path = serde_json::Value::String(abs.to_string_lossy().into_owned());
                    }
                }
            }
        }
    }
}
