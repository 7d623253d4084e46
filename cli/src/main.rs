//! `wotemu`: the command-line tool. Thin glue over the library crates; see ARCHITECTURE.md.
//!
//! Each command turns its flags into a library call and shows the result; `outcome` maps a written dataset
//! to the exit code. Exit codes: 0 success; 1 error (the message says what and how to fix it); 2 usage
//! error; 3 the command finished but some input was rejected or lost (listed in the output and the manifest);
//! 4 a `wotemu compare --fail-if` gate is violated.
//!
//! This crate must never hold logic a test would want to call without the binary (it belongs in a library),
//! or print from anywhere but `output`.

use std::process::ExitCode;

mod cli;
mod cmd;
mod outcome;
mod output;

/// mimalloc: the collector and the reporter allocate and free millions of small strings; with glibc's
/// allocator the 0.6 import spent a third of its time in malloc (measured by `cargo bench -p
/// wotemu-collector --bench import06`). Python, inside the agent, keeps its own allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    wotemu_agent::lean_allocator_for_agents();
    // Help is written wrapped at 120 columns where it is not a terminal's (a pager, a file, a man page
    // generator), so that the hand-wrapped texts and examples keep their lines.
    let mut command = <cli::Cli as clap::CommandFactory>::command();
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        command = command.term_width(120);
    }
    let matches = command.get_matches();
    let args =
        <cli::Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    output::init_logging(&args.global);
    dispatch(args, matches.subcommand_name().unwrap_or_default())
}

/// Runs a command line in a process whose logging is set up already: an agent forked by the zygote.
pub(crate) fn run_args(args: Vec<String>) -> ExitCode {
    let command = <cli::Cli as clap::CommandFactory>::command().term_width(120);
    let parsed = command.try_get_matches_from(args).and_then(|m| {
        let name = m.subcommand_name().unwrap_or_default().to_owned();
        <cli::Cli as clap::FromArgMatches>::from_arg_matches(&m).map(|a| (a, name))
    });
    match parsed {
        Ok((args, name)) => dispatch(args, &name),
        Err(e) => {
            let _ = e.print();
            ExitCode::from(2)
        }
    }
}

fn dispatch(args: cli::Cli, name: &str) -> ExitCode {
    match cmd::run(args, name) {
        Ok(code) => code,
        Err(err) => {
            if output::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            output::print_error(&err);
            ExitCode::from(1)
        }
    }
}
