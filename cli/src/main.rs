//! `wotemu`: the command-line tool. Thin glue over the library crates; see ARCHITECTURE.md.
//!
//! Exit codes: 0 success; 1 error (the message says what and how to fix it); 2 usage error;
//! 3 the command finished but some input was rejected or lost (listed in the output and the manifest).

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod cmd;
mod lab;
mod output;

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
