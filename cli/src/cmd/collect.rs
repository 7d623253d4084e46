//! `wotemu collect`

use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use wotemu_collector::legacy::LegacyOptions;
use wotemu_collector::{CollectOptions, CollectSummary};
use wotemu_contract::manifest::{Problem, TaskAccounting};
use wotemu_contract::Table;

use crate::cli::CollectArgs;
use crate::output::{self, Bar};

/// The `--json` output of `wotemu collect`.
#[derive(Serialize)]
struct CollectReport<'a> {
    out: String,
    stack: &'a str,
    source: &'a str,
    resumed: bool,
    already_complete: bool,
    entries: u64,
    records: u64,
    seconds: f64,
    records_per_second: f64,
    tables: std::collections::BTreeMap<Table, u64>,
    accounting: &'a TaskAccounting,
    problems: &'a [Problem],
}

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
        let url = super::swarm::stack_redis_url(&args.redis.redis_url, &stack);
        let mut opts = CollectOptions::new(&url, &stack, &args.out);
        opts.spill_bytes = spill_bytes;
        opts.trim = !args.no_trim;
        wotemu_collector::collect(&opts, &bar)
            .with_context(|| format!("collecting stack `{stack}` into {}", args.out.display()))?
    };
    report(&args, &summary)
}

fn report(args: &CollectArgs, s: &CollectSummary) -> anyhow::Result<ExitCode> {
    let m = &s.manifest;
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.records as f64 / secs
    } else {
        0.0
    };
    let totals = &m.accounting.totals;
    if args.json {
        output::json(&CollectReport {
            out: args.out.display().to_string(),
            stack: &m.stack,
            source: &m.source.kind,
            resumed: s.resumed,
            already_complete: s.already_complete,
            entries: s.entries,
            records: s.records,
            seconds: secs,
            records_per_second: rate,
            tables: m.tables.iter().map(|(t, i)| (*t, i.rows)).collect(),
            accounting: totals,
            problems: &m.problems,
        })?;
    } else if s.already_complete {
        output::say(&format!(
            "{} already holds the complete dataset of stack `{}`; nothing new to collect.",
            args.out.display(),
            m.stack
        ));
    } else {
        let tasks = m
            .accounting
            .tasks
            .len()
            .max(m.tables.get(&Table::Tasks).map_or(0, |t| t.rows as usize));
        output::say(&format!(
            "Collected {} records from {tasks} tasks in {secs:.2} s ({rate:.0} records/s) into {}{}",
            s.records,
            args.out.display(),
            if s.resumed { " (resumed)" } else { "" },
        ));
        let rows: Vec<String> = m
            .tables
            .iter()
            .map(|(t, i)| format!("{t} {}", i.rows))
            .collect();
        output::say(&format!("  rows: {}", rows.join(", ")));
    }
    if totals.entries_duplicate > 0 {
        tracing::info!(
            entries = totals.entries_duplicate,
            records = totals.records_duplicate,
            "Skipped replayed batches."
        );
    }
    Ok(crate::outcome::of_dataset(m, &args.out))
}
