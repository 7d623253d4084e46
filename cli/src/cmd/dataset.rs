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
            } else {
                output::say(&info.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
