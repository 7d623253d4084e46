//! `wotemu`: the command-line tool. Thin glue over the library crates; see ARCHITECTURE.md.
//!
//! Each command turns its flags into a library call and shows the result; `outcome` maps a written dataset
//! to the exit code. Exit codes: 0 success; 1 error (the message says what and how to fix it); 2 usage
//! error; 3 the command finished but some input was rejected or lost (listed in the output and the manifest).
//!
//! This crate must never hold logic a test would want to call without the binary (it belongs in a library),
//! or print from anywhere but `output`.

use std::process::ExitCode;

use clap::Parser;

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
    let args = cli::Cli::parse();
    output::init_logging(&args.global);
    match cmd::run(args) {
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
