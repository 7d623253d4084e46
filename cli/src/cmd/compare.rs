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
    let out = match (&args.out, args.json) {
        (Some(o), _) => Some(o.clone()),
        (None, false) => Some(PathBuf::from("compare-site")),
        (None, true) => None,
    };
    if let Some(out) = &out {
        c.render(out)
            .with_context(|| format!("writing the comparison into {}", out.display()))?;
    }
    if args.json {
        output::json(&c.json())?;
    } else {
        let (lines, significant) = c.describe_changes(20);
        for l in lines {
            output::say(&l);
        }
        output::say(&format!(
            "Compared {} runs in {:.1} s (baseline {}): {significant} significant changes{}",
            c.labels().len(),
            started.elapsed().as_secs_f64(),
            c.labels()[baseline],
            out.as_ref()
                .map(|o| format!("; site: {}", o.join("index.html").display()))
                .unwrap_or_default()
        ));
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
