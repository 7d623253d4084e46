//! `wotemu compare`: glue over `wotemu_reporter::compare`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use wotemu_reporter::compare::{CompareOptions, Comparison, SweepInfo};

use crate::cli::CompareArgs;
use crate::output;

/// Exit code: a `--fail-if` gate is violated.
pub(crate) const EXIT_GATE: u8 = 4;

/// A manifest's topology text as normalised JSON: YAML, or a WoTemu 0.6 Python file (run in embedded Python).
pub(crate) fn normalise(text: &str) -> Option<serde_json::Value> {
    if let Some(v) = wotemu_reporter::compare::normalise_yaml(text) {
        return Some(v);
    }
    if text.contains("def topology") {
        let v = wotemu_topology::from_python_str(Path::new("topology.py"), text).ok()?;
        return serde_json::to_value(&v.topology).ok();
    }
    None
}

/// Runs the comparison and prints or writes it; the exit code says whether every gate holds.
pub(crate) fn compare(
    runs: Vec<PathBuf>,
    baseline: usize,
    args: &CompareArgs,
    sweep: Option<SweepInfo>,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    for r in &runs {
        if !r.join("manifest.json").exists() {
            anyhow::bail!(
                "{} is not a run dataset (no manifest.json); give the folder `wotemu run --out` or `wotemu collect --out` wrote",
                r.display()
            );
        }
    }
    let c = Comparison::load(CompareOptions {
        runs,
        baseline,
        title: args.title.clone(),
        base_url: args.base_url.clone(),
        gates: args.fail_if.clone(),
        normalise: &normalise,
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
        let labels = c.labels();
        let mut significant = 0;
        for g in c.groups() {
            for (f, label) in g.runs.iter().zip(&labels) {
                let Some(ch) = f.as_ref().and_then(|f| f.change.as_ref()) else {
                    continue;
                };
                for (name, x) in [("p50", ch.p50), ("p95", ch.p95), ("p99", ch.p99)] {
                    if let Some(x) = x.filter(|x| x.significant) {
                        significant += 1;
                        if significant <= 20 {
                            output::say(&format!(
                                "  {label}: {} · {} · {} {name} {:+.1} % ({:+.1} ms)",
                                g.thing,
                                g.name,
                                g.verb,
                                x.relative.unwrap_or(0.0) * 100.0,
                                x.delta
                            ));
                        }
                    }
                }
                if let Some(x) = ch.ok_rate.filter(|x| x.significant) {
                    significant += 1;
                    output::say(&format!(
                        "  {label}: {} · {} · {} success rate {:+.2} pp",
                        g.thing,
                        g.name,
                        g.verb,
                        x.delta * 100.0
                    ));
                }
            }
        }
        output::say(&format!(
            "Compared {} runs in {:.1} s (baseline {}): {significant} significant changes{}",
            labels.len(),
            started.elapsed().as_secs_f64(),
            labels[baseline],
            out.as_ref()
                .map(|o| format!("; site: {}", o.join("index.html").display()))
                .unwrap_or_default()
        ));
    }
    let violated: Vec<_> = c.verdicts().iter().filter(|v| v.violated).collect();
    for v in &violated {
        let fmt = |x: Option<f64>| x.map_or("no data".to_owned(), |x| format!("{x:.4}"));
        output::warn(&format!(
            "gate violated: `{}` in run {}: value {}{}, threshold {}{}",
            v.gate,
            v.run,
            fmt(v.value),
            v.baseline
                .map(|b| format!(" (baseline {b:.4})"))
                .unwrap_or_default(),
            fmt(v.threshold),
            v.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    Ok(if violated.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_GATE)
    })
}

pub(crate) fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let mut runs = args.runs.clone();
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let baseline = match &args.baseline {
        None => 0,
        Some(b) => match runs.iter().position(|r| same(r, b)) {
            Some(i) => i,
            None => {
                runs.insert(0, b.clone());
                0
            }
        },
    };
    if runs.len() < 2 {
        anyhow::bail!(
            "give at least two run datasets to compare (got {})",
            runs.len()
        );
    }
    compare(runs, baseline, &args, None)
}
