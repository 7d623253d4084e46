//! `wotemu sweep`: glue over `wotemu-sweep` (plan, dry run, run) and the comparison of its complete runs.

use std::process::ExitCode;

use anyhow::{bail, Context};
use wotemu_reporter::compare::SweepInfo;
use wotemu_sweep::{Engine, Sweep, SweepOptions};

use crate::cli::{CompareArgs, SweepArgs};
use crate::output;

pub(crate) fn run(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let sweep = Sweep::plan(SweepOptions {
        topology: args.topology.clone(),
        set: args.set.clone(),
        repeat: args.repeat,
        duration: super::run::parse_duration("--duration", &args.duration)?,
        duration_text: args.duration.clone(),
        out: args.out.clone(),
    })?;
    if args.dry_run {
        output::say(&sweep.describe_plan());
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("locating the wotemu binary")?;
    let engine = if args.swarm {
        Engine::Swarm { exe }
    } else {
        Engine::Here { exe }
    };
    let outcome = sweep.run(
        &engine,
        &wotemu_sys::signals::channel(),
        &output::Shown::default(),
    )?;
    if outcome.interrupted {
        return Ok(ExitCode::from(130));
    }
    let compared = sweep.compared();
    if compared.runs.len() >= 2 {
        if let Some((mean, max)) = outcome.gaps {
            output::say(&format!(
                "Between combinations (one run's stop to the next one's first interaction): mean {mean:.1} s, max {max:.1} s"
            ));
        }
        let info = SweepInfo {
            params: compared.params,
            points: compared.points,
        };
        let cargs = CompareArgs {
            runs: Vec::new(),
            baseline: None,
            out: Some(args.out.join("compare")),
            json: false,
            fail_if: Vec::new(),
            title: Some(format!("wotemu sweep · {}", args.topology.display())),
            base_url: None,
        };
        super::compare::compare(compared.runs, 0, &cargs, Some(info))?;
        output::say(&format!(
            "Sweep page: {}",
            args.out.join("compare/sweep.html").display()
        ));
    }
    if !outcome.failed.is_empty() {
        bail!(
            "{} of {} combinations failed ({}); run the same command again to retry them",
            outcome.failed.len(),
            sweep.points.len(),
            outcome.failed.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
