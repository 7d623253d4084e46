//! `wotemu report`

use std::process::ExitCode;

use anyhow::Context;
use wotemu_collector::Progress;
use wotemu_reporter::{Report, ReportOptions};

use crate::cli::ReportArgs;
use crate::output::{self, Bar};

pub(crate) fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    // Losses of a collection made here (`--stack`) decide the exit code, as for `wotemu collect`.
    let mut collected = None;
    let stack = super::stack_or_env(&args.stack);
    let dataset = match (&args.dataset, &stack) {
        (Some(d), _) => d.clone(),
        (None, Some(stack)) => {
            // 0.6 style: collect first, into a dataset kept beside the site; Redis is left as it is.
            let dir = args.out.join("dataset");
            let url = wotemu_swarm::password::stack_redis_url(&args.redis.redis_url, stack);
            let summary = wotemu_swarm::stop::collect_kept(&url, stack, &dir, &Bar::new())
                .with_context(|| format!("collecting stack `{stack}` into {}", dir.display()))?;
            collected = Some(summary.manifest);
            dir
        }
        (None, None) => anyhow::bail!(
            "say what to report: --dataset DIR (a run dataset), or --stack NAME (or WOTEMU_STACK) to collect a Swarm stack first"
        ),
    };
    let mut opts = ReportOptions::new(&dataset, &args.out);
    opts.title = args.title.clone();
    opts.base_url = args.base_url.clone();
    opts.downloads = match args.downloads {
        crate::cli::DownloadsArg::Parquet => wotemu_reporter::Downloads::Parquet,
        crate::cli::DownloadsArg::Csv => wotemu_reporter::Downloads::Csv,
        crate::cli::DownloadsArg::None => wotemu_reporter::Downloads::None,
    };
    opts.downloads_budget = args.downloads_budget;
    let bar = Bar::new();
    bar.start("aggregating", None);
    let report = Report::load(opts)
        .with_context(|| format!("reading the dataset in {}", dataset.display()))?;
    bar.finish();
    bar.start("rendering", Some(report.page_count() as u64));
    let rendered = report
        .render_with(&mut |_, _| bar.advance(1))
        .with_context(|| format!("writing the site into {}", args.out.display()))?;
    bar.finish();
    let index = args.out.join("index.html");
    if args.json {
        output::json(&serde_json::json!({
            "dataset": dataset,
            "out": rendered.out,
            "index": index,
            "pages": rendered.pages,
            "charts": rendered.charts,
            "bytes": rendered.bytes,
            "seconds": started.elapsed().as_secs_f64(),
        }))?;
    } else {
        output::say(&rendered.describe(started.elapsed().as_secs_f64()));
    }
    if args.open {
        let status = std::process::Command::new("xdg-open").arg(&index).status();
        if !status.is_ok_and(|s| s.success()) {
            output::warn(&format!(
                "could not open a browser; open {} yourself",
                index.display()
            ));
        }
    }
    Ok(match &collected {
        Some(m) => crate::outcome::of_dataset(m, &dataset),
        None => ExitCode::SUCCESS,
    })
}
