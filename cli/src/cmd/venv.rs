//! `wotemu venv`: where the apps' Python environment is, and `--create` to make the installed one
//! (`wotemu_lab::venv`).

use std::process::ExitCode;

use anyhow::Context;
use wotemu_lab::venv;

use crate::cli::VenvArgs;
use crate::output;

pub(crate) fn run(args: VenvArgs) -> anyhow::Result<ExitCode> {
    if !args.create {
        return Ok(match venv::find() {
            Some(v) if v.join("bin/python").exists() => {
                output::print(format!("{}\n", v.display()))?;
                ExitCode::SUCCESS
            }
            _ => {
                output::warn(&format!(
                    "no venv for the apps was found; make one with: {}",
                    venv::CREATE_HINT
                ));
                ExitCode::from(1)
            }
        });
    }
    let dir = match &args.path {
        Some(p) => p.clone(),
        None => venv::installed().context("no HOME or XDG_DATA_HOME to make the venv in")?,
    };
    venv::create(&dir, &|m| output::say(m))?;
    output::say(&format!(
        "Done: {} (found by wotemu run{})",
        dir.display(),
        if args.path.is_some() {
            " when WOTEMU_VENV names it"
        } else {
            ""
        }
    ));
    Ok(ExitCode::SUCCESS)
}
