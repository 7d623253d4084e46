//! `wotemu dataset …`

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::DatasetCommand;
use crate::output;

pub(crate) fn run(cmd: DatasetCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DatasetCommand::Info { dir, json } => {
            let info = wotemu_collector::dataset::info(&dir)
                .with_context(|| format!("reading the dataset in {}", dir.display()))?;
            if json {
                output::json(&info)?;
                return Ok(ExitCode::SUCCESS);
            }
            output::say(&format!(
                "Dataset {} (stack `{}`, from {})",
                info.path, info.stack, info.source
            ));
            output::say(&format!(
                "  span: {} → {}",
                info.started_at.as_deref().unwrap_or("?"),
                info.stopped_at.as_deref().unwrap_or("?")
            ));
            output::say(&format!(
                "  {:<14}{:>12}{:>12}  time span",
                "table", "rows", "bytes"
            ));
            for (t, s) in &info.tables {
                let span = match (&s.time_min, &s.time_max) {
                    (Some(a), Some(b)) => format!("{a} → {b}"),
                    _ => String::new(),
                };
                output::say(&format!(
                    "  {:<14}{:>12}{:>12}  {span}",
                    t.name(),
                    s.rows,
                    s.bytes
                ));
            }
            output::say(&format!("  tasks ({}):", info.tasks.len()));
            for t in &info.tasks {
                output::say(&format!("    {t}"));
            }
            let a = &info.accounting;
            output::say(&format!(
                "  produced: {} records = {} in the dataset + {} dropped by their producers + {} rejected + {} missing{}",
                a.records_produced,
                a.records_written,
                a.records_dropped_by_agent,
                a.records_rejected,
                a.records_missing,
                if a.balanced() { "" } else { "  (DOES NOT BALANCE)" }
            ));
            output::say(&format!(
                "  collection: {} records read = {} written + {} duplicates skipped; {} batches missing",
                a.records_read, a.records_written, a.records_duplicate, a.seq_missing
            ));
            if let Some(i) = &info.incomplete {
                output::say(&format!(
                    "  INCOMPLETE: {}{}",
                    i.reason,
                    i.at.as_deref()
                        .map(|t| format!(" (last recorded {t})"))
                        .unwrap_or_default()
                ));
            }
            for l in &info.losses {
                output::say(&format!("  lost: {l}"));
            }
            if info.problems > 0 {
                output::say(&format!(
                    "  problems: {} (see manifest.json)",
                    info.problems
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
