//! `wotemu clean` and the salvage every run does first: crashed runs' data saved into their datasets (marked
//! incomplete), then whatever dead processes left on the host undone from their clean-up records
//! ([`wotemu_sys::cleanup`]) — namespaces, cgroups, processes, rules, the runs' state folders — and orphan
//! namespaces removed. A run whose data could not be saved keeps its data and its records, so that a later
//! `wotemu clean` tries again (`discard` drops them instead).

use std::path::Path;

use wotemu_contract::Manifest;

use crate::state::{self, RunState};
use crate::{Error, Observer};

/// What `wotemu clean` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanOptions {
    /// Also stop and clean runs that are still running.
    pub force: bool,
    /// Drop the data of crashed runs instead of saving it.
    pub discard: bool,
}

/// What a salvage of every crashed run did.
#[derive(Debug, Default)]
pub struct Salvaged {
    /// Datasets written (run directory, manifest).
    pub saved: Vec<(std::path::PathBuf, Manifest)>,
    /// Runs whose salvage failed (id, why): their data is kept.
    pub failed: Vec<(String, String)>,
    /// Runs another process was saving and did not save: their data is kept.
    pub busy: Vec<String>,
}

impl Salvaged {
    /// Runs whose data and records must stay (not saved yet).
    fn kept(&self) -> Vec<String> {
        self.failed
            .iter()
            .map(|(id, _)| id.clone())
            .chain(self.busy.iter().cloned())
            .collect()
    }
}

/// What `wotemu clean` did.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub salvaged: Salvaged,
    /// Records undone, orphan namespaces and state folders removed.
    pub removed: usize,
    /// What could not be undone.
    pub problems: Vec<String>,
}

impl Cleaned {
    /// `wotemu clean`'s exit code: 1 when something could not be saved or undone, 3 when a crashed run was
    /// saved (a dataset marked incomplete), else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.problems.is_empty() || !self.salvaged.failed.is_empty() {
            1
        } else if !self.salvaged.saved.is_empty() {
            3
        } else {
            0
        }
    }
}

/// Whether `e` (or a cause of it) says another process is doing it already.
fn is_busy(e: &Error) -> bool {
    match e {
        Error::Busy(_) => true,
        Error::Context { source, .. } => is_busy(source),
        _ => false,
    }
}

/// Salvages every crashed run with data (`when` says when they crashed, for the messages): each is
/// collected into its run directory ([`crate::salvage::collect`]), then `saved(run_dir)` is called (the
/// caller renders its report), then the run's records are undone. A run another process is saving is waited
/// for.
pub fn salvage_all(
    when: &str,
    progress: &dyn wotemu_collector::Progress,
    saved: &mut dyn FnMut(&Path),
    obs: &dyn Observer,
) -> Salvaged {
    let mut out = Salvaged::default();
    for s in crate::salvage::salvageable() {
        obs.say(&format!(
            "Run {} ({}) crashed {when}; saving what it recorded into {}",
            s.run_id,
            s.stack,
            s.run_dir.display()
        ));
        let (id, again) = (s.run_id.clone(), s.clone());
        match crate::salvage::collect(s, progress) {
            Ok(summary) => {
                obs.say(&format!(
                    "Saved the crashed run into {} ({} records, marked incomplete)",
                    again.run_dir.display(),
                    summary.records
                ));
                saved(&again.run_dir);
                out.saved.push((again.run_dir.clone(), summary.manifest));
                // Only this run's records: others may still be being salvaged.
                for p in undo_run_records(&id) {
                    obs.warn(&p);
                }
            }
            Err(e) if is_busy(&e) => {
                obs.say(&format!(
                    "run {id} is being saved by another wotemu; waiting for it"
                ));
                if crate::salvage::wait_for_other(&again) {
                    obs.say(&format!(
                        "run {id} was saved into {}",
                        again.run_dir.display()
                    ));
                } else {
                    out.busy.push(id);
                }
            }
            Err(e) => {
                let why = wotemu_sys::error_chain(&e);
                obs.warn(&format!(
                    "could not save run {id}: {why}; its data is kept (`wotemu clean` tries again, `wotemu clean --discard` drops it)"
                ));
                out.failed.push((id, why));
            }
        }
    }
    out
}

/// Saves one crashed run (`wotemu stop --run` of a run that ended without its dataset), then undoes its
/// records.
pub fn salvage_one(
    s: RunState,
    progress: &dyn wotemu_collector::Progress,
) -> Result<Manifest, Error> {
    let id = s.run_id.clone();
    let summary = crate::salvage::collect(s, progress)?;
    for p in undo_run_records(&id) {
        tracing::warn!(problem = %p, "Clean-up after the salvage.");
    }
    Ok(summary.manifest)
}

/// How `wotemu stop --run` ended a run.
#[derive(Debug)]
pub enum Stopped {
    /// It was running: asked to stop as Ctrl-C would, it collected its dataset.
    Ended(Manifest),
    /// Its runner was gone without a dataset: what it recorded was saved (marked incomplete).
    Saved(Manifest),
}

/// `wotemu stop --run RUN_DIR`: stops the run that writes to `run_dir` (SIGINT to its runner, then waits at
/// most 10 minutes for its dataset), or saves it when its runner is gone.
pub fn stop_run(
    run_dir: &Path,
    progress: &dyn wotemu_collector::Progress,
    obs: &dyn Observer,
) -> Result<Stopped, Error> {
    let want = std::path::absolute(run_dir).unwrap_or(run_dir.to_owned());
    let Some((s, alive)) = state::runs().into_iter().find(|(s, _)| s.run_dir == want) else {
        return Err(Error::Plan(format!(
            "no run writes to {} (see `wotemu ps`)",
            run_dir.display()
        )));
    };
    if !alive {
        if s.run_dir.join("manifest.json").exists() {
            return Err(Error::Plan(format!(
                "the run {} is not running any more and its dataset is in {}; `wotemu clean` removes what it left",
                s.run_id,
                s.run_dir.display()
            )));
        }
        obs.say(&format!(
            "The run {} ({}) ended without writing its dataset; saving what it recorded…",
            s.run_id, s.stack
        ));
        return salvage_one(s, progress).map(Stopped::Saved);
    }
    // As Ctrl-C would.
    wotemu_sys::process::signal(s.pid, libc::SIGINT);
    obs.say(&format!(
        "Stopping run {} ({}); collecting and reporting…",
        s.run_id, s.stack
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while s.alive() {
        if std::time::Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("the run {} to end", s.run_id),
                secs: 600,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Manifest::read(&s.run_dir).map(Stopped::Ended).map_err(|e| {
        Error::Plan(format!(
            "the run {} ended without writing its dataset to {} ({e}); its output is in {}",
            s.run_id,
            s.run_dir.display(),
            s.run_dir.with_extension("log").display()
        ))
    })
}

/// Removes what a dead run left (its clean-up records, and those of its gateways, which name its
/// namespaces), once its data is saved; returns the problems.
pub fn undo_run_records(run_id: &str) -> Vec<String> {
    let label = format!("run {run_id}");
    let ns = format!("wtm-{run_id}");
    let in_run = |n: &str| {
        n == ns
            || n.strip_prefix(ns.as_str())
                .is_some_and(|r| r.starts_with('-'))
    };
    undo_settled(|found| {
        !found.alive
            && (found.header.label == label
                || found.items.iter().any(|i| {
                    matches!(i, wotemu_sys::cleanup::Item::Undo { netns: Some(n), .. } if in_run(n))
                }))
    })
    .1
}

/// Undoes the records `pick` chooses, pass after pass until a pass finds nothing new: undoing a run's
/// record kills the processes it started (its gateways), whose own records, skipped while they lived, are
/// then a dead owner's. Returns (how many, problems).
fn undo_settled(mut pick: impl FnMut(&wotemu_sys::cleanup::Found) -> bool) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let mut done = std::collections::HashSet::new();
    loop {
        let before = done.len();
        for found in wotemu_sys::cleanup::list(&wotemu_sys::cleanup::dir()) {
            if !done.contains(&found.path) && pick(&found) {
                problems.extend(wotemu_sys::cleanup::undo(&found));
                done.insert(found.path);
            }
        }
        if done.len() == before {
            return (done.len(), problems);
        }
    }
}

/// Undoes the clean-up records of dead owners (of live ones too with `force`: they are killed first) but
/// those of the runs in `keep` (data still to be saved); returns (how many, problems).
fn clean_records(force: bool, keep: &[String], obs: &dyn Observer) -> (usize, Vec<String>) {
    let keep: Vec<String> = keep.iter().map(|id| format!("run {id}")).collect();
    undo_settled(|found| {
        if (found.alive && !force) || keep.contains(&found.header.label) {
            return false;
        }
        if found.alive {
            // Forced: stop the owner first so it does not make more.
            wotemu_sys::process::signal(found.header.owner, libc::SIGKILL);
        }
        obs.say(&format!(
            "removed what {} left ({} items)",
            found.header.label,
            found.items.len()
        ));
        true
    })
}

/// `wotemu clean`: saves the crashed runs' data (unless `discard`), then removes what dead processes left.
pub fn clean(
    opts: CleanOptions,
    progress: &dyn wotemu_collector::Progress,
    saved: &mut dyn FnMut(&Path),
    obs: &dyn Observer,
) -> Result<Cleaned, Error> {
    if !wotemu_sys::is_root() {
        return Err(Error::NotRoot {
            what: "wotemu clean",
        });
    }
    let _span = tracing::info_span!("clean", force = opts.force, discard = opts.discard).entered();
    let mut known = Vec::new();
    for (s, alive) in state::runs() {
        if alive && !opts.force {
            obs.say(&format!(
                "run {} ({}) is still running (pid {}); stop it with Ctrl-C or `wotemu stop --run`, or use --force",
                s.run_id, s.stack, s.pid
            ));
            known.push(s.lab_ns());
        }
    }
    let salvaged = if opts.discard {
        for s in crate::salvage::salvageable() {
            obs.say(&format!(
                "dropping what run {} ({}) recorded (--discard)",
                s.run_id, s.stack
            ));
        }
        Salvaged::default()
    } else {
        salvage_all("earlier", progress, saved, obs)
    };
    let keep = salvaged.kept();
    let (mut removed, mut problems) = clean_records(opts.force, &keep, obs);
    known.extend(keep.iter().map(|id| format!("wtm-{id}")));
    for ns in state::orphan_namespaces(&known) {
        if let Err(e) = wotemu_sys::cmd::ip(&["netns", "del", &ns]) {
            problems.push(e.to_string());
        }
        if let Err(e) = std::fs::remove_dir_all(Path::new("/etc/netns").join(&ns)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                problems.push(format!("removing /etc/netns/{ns}: {e}"));
            }
        }
        obs.say(&format!("removed orphan namespace {ns}"));
        removed += 1;
    }
    // State folders of runs whose record is gone (a crash before the record, or records removed by hand).
    for (s, alive) in state::runs() {
        if (!alive || opts.force) && !keep.contains(&s.run_id) {
            let dir = s.dir();
            if dir.exists() {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => removed += 1,
                    Err(e) => problems.push(format!("removing {}: {e}", dir.display())),
                }
            }
        }
    }
    crate::cgroups::remove_parents();
    Ok(Cleaned {
        salvaged,
        removed,
        problems,
    })
}
