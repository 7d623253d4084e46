//! `wotemu doctor`, `wotemu completions`, `wotemu man`: glue over `wotemu_lab::doctor`, clap_complete and
//! clap_mangen.

use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use wotemu_lab::doctor;

use crate::cli::{Cli, CompletionsArgs, DoctorArgs, ManArgs};
use crate::output;

pub(crate) fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let venv = wotemu_lab::venv::find();
    let checks = doctor::checks(venv.as_deref(), env!("CARGO_PKG_VERSION"));
    let ready = doctor::ready_for_runs(&checks);
    if args.json {
        output::json(&serde_json::json!({"ready_for_runs": ready, "checks": checks}))?;
    } else {
        output::print(doctor::describe(&checks))?;
    }
    Ok(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "wotemu", &mut buf);
    output::print(&buf)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, &args.out)
        .with_context(|| format!("writing the man pages into {}", args.out.display()))?;
    let n = std::fs::read_dir(&args.out).map_or(0, |d| d.count());
    output::say(&format!("{n} man pages in {}", args.out.display()));
    Ok(ExitCode::SUCCESS)
}
