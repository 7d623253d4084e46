//! `wotemu doctor`, `wotemu completions`, `wotemu man`: glue over `wotemu_lab::doctor`, clap_complete and
//! clap_mangen.

use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use wotemu_lab::doctor::{self, Status};

use crate::cli::{Cli, CompletionsArgs, DoctorArgs, ManArgs};
use crate::output;

pub(crate) fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let venv = super::run::venv();
    let checks = doctor::checks(venv.as_deref(), env!("CARGO_PKG_VERSION"));
    let ready = doctor::ready_for_runs(&checks);
    if args.json {
        output::json(&serde_json::json!({"ready_for_runs": ready, "checks": checks}))?;
    } else {
        let mut text = String::new();
        let mut area = "";
        for c in &checks {
            if c.area != area {
                area = c.area;
                text.push_str(&format!("\n{area}\n"));
            }
            let mark = match c.status {
                Status::Ok => "ok     ",
                Status::Warn => "warn   ",
                Status::Missing => "MISSING",
            };
            text.push_str(&format!("  {mark} {:<40} {}\n", c.name, c.found));
            if c.status != Status::Ok {
                text.push_str(&format!(
                    "          affects: {}\n          fix: {}\n",
                    c.affects, c.fix
                ));
            }
        }
        text.push_str(&format!(
            "\n{}\n",
            if ready {
                "This host can run `wotemu run`."
            } else {
                "This host cannot run `wotemu run` yet: fix what is MISSING above."
            }
        ));
        output::print(&text)?;
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
    output::print(&String::from_utf8_lossy(&buf))?;
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
