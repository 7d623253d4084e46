//! `wotemu topology …` and `wotemu schema …`

use std::path::Path;
use std::process::ExitCode;

use crate::cli::{SchemaCommand, TopologyCommand};
use crate::output;

/// Loads a topology, printing its warnings; the error lists every problem.
pub(crate) fn load_topology(
    path: &Path,
) -> Result<wotemu_topology::Loaded, wotemu_topology::Error> {
    let loaded = wotemu_topology::load(path)?;
    for w in &loaded.warnings {
        output::warn(&w.to_string());
    }
    Ok(loaded)
}

pub(crate) fn run(cmd: TopologyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TopologyCommand::Validate { file, json } => {
            if !json {
                let t = load_topology(&file)?.topology;
                output::say(&format!("{} is valid: {}", file.display(), t.summary()));
                return Ok(ExitCode::SUCCESS);
            }
            let (valid, report) = wotemu_topology::validation_report(&file);
            output::json(&report)?;
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        TopologyCommand::Show { file, json } => {
            let t = load_topology(&file)?.topology;
            if json {
                output::json(&t)?;
            } else {
                output::print(wotemu_topology::to_yaml(&t))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn schema(cmd: SchemaCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SchemaCommand::Topology => output::json(&wotemu_topology::json_schema())?,
    }
    Ok(ExitCode::SUCCESS)
}
