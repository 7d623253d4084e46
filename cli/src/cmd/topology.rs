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
                output::say(&format!(
                    "{} is valid: {} node{} ({} replicas), {} network{}, {} broker{}, {} service{}",
                    file.display(),
                    t.nodes.len(),
                    plural(t.nodes.len()),
                    t.replicas(),
                    t.networks.len(),
                    plural(t.networks.len()),
                    t.brokers.len(),
                    plural(t.brokers.len()),
                    t.services.len(),
                    plural(t.services.len()),
                ));
                return Ok(ExitCode::SUCCESS);
            }
            let (valid, errors, warnings) = match wotemu_topology::load(&file) {
                Ok(l) => (true, Vec::new(), l.warnings),
                Err(e) => {
                    let errors = if e.diagnostics().is_empty() {
                        vec![serde_json::json!({"message": e.to_string()})]
                    } else {
                        e.diagnostics()
                            .iter()
                            .map(|d| serde_json::to_value(d).expect("json"))
                            .collect()
                    };
                    (false, errors, Vec::new())
                }
            };
            output::json(&serde_json::json!({
                "file": file,
                "valid": valid,
                "errors": errors,
                "warnings": warnings,
            }))?;
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
                output::print(&wotemu_topology::to_yaml(&t))?;
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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
