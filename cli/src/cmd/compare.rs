//! `wotemu compare`: glue over `wotemu_reporter::compare`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wotemu_reporter::compare::{CompareOptions, Comparison, SweepInfo};

use crate::cli::CompareArgs;
use crate::output;

/// Exit code: a `--fail-if` gate is violated.
pub(crate) const EXIT_GATE: u8 = 4;

/// Runs the comparison and prints or writes it; the exit code says whether every gate holds.
pub(crate) fn compare(
    runs: Vec<PathBuf>,
    baseline: usize,
    args: &CompareArgs,
    sweep: Option<SweepInfo>,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let c = Comparison::load(CompareOptions {
        runs,
        baseline,
        title: args.title.clone(),
        base_url: args.base_url.clone(),
        gates: args.fail_if.clone(),
        sweep,
    })
    .context("comparing the runs")?;
    for w in c.warnings() {
        output::warn(w);
    }
    // Written where asked, else into compare-site unless the result is JSON on stdout.
    let out = args
        .out
        .clone()
        .or_else(|| (!args.json).then(|| PathBuf::from("compare-site")));
    if let Some(out) = &out {
        c.render(out)
            .with_context(|| format!("writing the comparison into {}", out.display()))?;
    }
    if args.json {
        output::json(&c.json())?;
    } else {
        output::say(&c.describe(20, started.elapsed().as_secs_f64(), out.as_deref()));
    }
    let violated: Vec<_> = c.verdicts().iter().filter(|v| v.violated).collect();
    for v in &violated {
        output::warn(&v.describe());
    }
    Ok(if violated.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_GATE)
    })
}

pub(crate) fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let (runs, baseline) =
        wotemu_reporter::compare::with_baseline(args.runs.clone(), args.baseline.as_deref())?;
    compare(runs, baseline, &args, None)
}
