//! `wotemu run`, `ps`, `stop --run` and `clean`: glue over the one-host runner (`wotemu-lab`), the collector
//! and the reporter.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use wotemu_collector::Progress;
use wotemu_lab::{launch, state};

use crate::cli::{CleanArgs, PsArgs, RunArgs, StopArgs};
use crate::output::{self, Bar, Shown};

/// Reads a duration flag: `60s`, `2m`, `1.5s`, or seconds as a plain number.
pub(crate) fn parse_duration(flag: &str, s: &str) -> anyhow::Result<Duration> {
    wotemu_topology::units::parse_flag_duration(s).map_err(|e| anyhow::anyhow!("{flag} {e}"))
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = super::load_topology(&args.topology)?;
    loaded.topology.seed = args.seed.or(loaded.topology.seed);
    if cfg!(not(feature = "report")) && !args.no_report {
        bail!("this wotemu was built without the report (the images' binary): run with --no-report, or use a full wotemu (`cargo install --path cli`, or `scripts/setup.sh`)");
    }
    let req = launch::RunRequest {
        topology: loaded.topology,
        text: loaded.text,
        file: args.topology.clone(),
        duration: parse_duration("--duration", &args.duration)?,
        out: args.out.clone(),
        redis_url: args.redis_url.clone(),
        exe: std::env::current_exe().context("locating the wotemu binary")?,
        keep: args.keep,
    };
    let shown = Shown::live();
    if args.detach {
        let out = launch::plan(&req, &Shown::default())?.out;
        return detach(&out);
    }
    // A run that crashed before is saved first: its data is on this host and nobody else will save it.
    salvage_all("before this run");
    let planned = launch::plan(&req, &shown)?;
    let out = planned.out.clone();
    let site = out.join("site");
    let bar = Bar::new();
    let done = launch::run(
        planned,
        &req,
        &wotemu_sys::signals::channel(),
        &shown,
        &bar,
        &mut |out| {
            if args.no_report {
                return Ok(());
            }
            super::render_report(out, &site).map_err(|e| format!("{e:#}"))
        },
    );
    bar.finish();
    let done = done?;
    let index = site.join("index.html");
    output::say(&done.describe(&out, (!args.no_report).then_some(index.as_path())));
    Ok(crate::outcome::of_dataset(&done.manifest, &out))
}

/// Starts this same command in the background (its own session), with an explicit --out, and returns.
fn detach(out: &Path) -> anyhow::Result<ExitCode> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (pid, log) = launch::detach(&argv, out)?;
    output::say(&format!(
        "Started in the background (pid {pid}).\n  log:  {}\n  stop: wotemu stop --run {}",
        log.display(),
        out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn ps(args: PsArgs) -> anyhow::Result<ExitCode> {
    let runs = state::runs();
    if args.json {
        output::json(&state::list_json(&runs))?;
    } else {
        output::say(&state::describe(&runs));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stop(mut args: StopArgs) -> anyhow::Result<ExitCode> {
    let Some(run) = args.run else {
        args.stack = super::stack_or_env(&args.stack);
        if args.stack.is_some() {
            return super::swarm::stop(args);
        }
        if args.compose_file.is_some() {
            bail!("--compose-file needs the stack's name: add --stack NAME (or set WOTEMU_STACK)");
        }
        bail!("say what to stop: --run RUN_DIR (a `wotemu run -D`, see `wotemu ps`) or --compose-file FILE --stack NAME (a Swarm stack)");
    };
    let bar = Bar::new();
    let stopped = wotemu_lab::clean::stop_run(&run, &bar, &Shown::default());
    bar.finish();
    let manifest = match stopped? {
        wotemu_lab::clean::Stopped::Saved(m) => {
            report_saved(&run);
            m
        }
        wotemu_lab::clean::Stopped::Ended(m) => {
            let site = run.join("site/index.html");
            output::say(&format!(
                "Stopped. Dataset: {}; report: {}",
                run.display(),
                site.display()
            ));
            m
        }
    };
    Ok(crate::outcome::of_dataset(&manifest, &run))
}

/// Renders the report of a crashed run just saved into `run_dir` (a failure is a warning: its dataset is
/// there).
fn report_saved(run_dir: &Path) {
    let site = run_dir.join("site");
    match super::render_report(run_dir, &site) {
        Ok(()) => output::say(&format!("Report: {}", site.join("index.html").display())),
        Err(e) => output::warn(&format!(
            "the saved run in {} has no report: {e:#}; try `wotemu report --dataset {}`",
            run_dir.display(),
            run_dir.display()
        )),
    }
}

/// Salvages every crashed run with data (a message says `when`), with their reports.
fn salvage_all(when: &str) -> wotemu_lab::clean::Salvaged {
    let bar = Bar::new();
    let shown = Shown::default();
    let saved = wotemu_lab::clean::salvage_all(when, &bar, &mut |d| report_saved(d), &shown);
    bar.finish();
    saved
}

pub(crate) fn clean(args: CleanArgs) -> anyhow::Result<ExitCode> {
    let bar = Bar::new();
    let opts = wotemu_lab::clean::CleanOptions {
        force: args.force,
        discard: args.discard,
    };
    // A `wotemu swarm up` that died midway: its containers, volumes and swarm mode go too.
    let swarm = wotemu_swarm::hosts::clean_crashed();
    if let Some(down) = &swarm {
        down.problems.iter().for_each(|p| output::warn(p));
        output::say(&format!("A crashed `wotemu swarm up`: {}", down.describe()));
    }
    let done = wotemu_lab::clean::clean(opts, &bar, &mut |d| report_saved(d), &Shown::default());
    bar.finish();
    let done = done?;
    for p in &done.problems {
        output::warn(p);
    }
    if done.removed == 0 && done.salvaged.saved.is_empty() && swarm.is_none() {
        output::say("Nothing to clean.");
    }
    if swarm.is_some_and(|d| !d.problems.is_empty()) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::from(done.exit_code()))
}
