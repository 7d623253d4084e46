//! `wotemu collect`

use std::process::ExitCode;

use anyhow::Context;
use wotemu_collector::legacy::LegacyOptions;
use wotemu_collector::{CollectOptions, CollectSummary};

use crate::cli::CollectArgs;
use crate::output::{self, Bar};

pub(crate) fn run(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let bar = Bar::new();
    let spill_bytes = usize::try_from(args.buffer_mb << 20).context("--buffer-mb is too large")?;
    let summary = if args.legacy {
        let opts = LegacyOptions {
            redis_url: args.redis.redis_url.clone(),
            stack: args.stack.clone(),
            out: args.out.clone(),
            spill_bytes,
        };
        wotemu_collector::legacy::import(&opts, &bar).with_context(|| {
            format!("importing the WoTemu 0.6 store into {}", args.out.display())
        })?
    } else {
        let stack = args
            .stack
            .clone()
            .expect("clap requires --stack without --legacy");
        let url = wotemu_swarm::password::stack_redis_url(&args.redis.redis_url, &stack);
        let mut opts = CollectOptions::new(&url, &stack, &args.out);
        opts.spill_bytes = spill_bytes;
        opts.trim = !args.no_trim;
        wotemu_collector::collect(&opts, &bar)
            .with_context(|| format!("collecting stack `{stack}` into {}", args.out.display()))?
    };
    report(&args, &summary)
}

fn report(args: &CollectArgs, s: &CollectSummary) -> anyhow::Result<ExitCode> {
    if args.json {
        output::json(&s.report_json(&args.out))?;
    } else {
        output::say(&s.describe(&args.out));
    }
    let totals = &s.manifest.accounting.totals;
    if totals.entries_duplicate > 0 {
        tracing::info!(
            entries = totals.entries_duplicate,
            records = totals.records_duplicate,
            "Skipped replayed batches."
        );
    }
    Ok(crate::outcome::of_dataset(&s.manifest, &args.out))
}
