//! One module per command: each turns its arguments into a plan, runs it, and reports.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub(crate) use topology::load_topology;

mod agent;
mod collect;
mod compose;
mod dataset;
mod net;
mod proxy;
mod report;
mod run;
mod swarm;
mod topology;

/// Exit code: finished, but some input was rejected or lost.
pub(crate) const EXIT_PARTIAL: u8 = 3;

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Collect(args) => collect::run(args),
        Command::Dataset(cmd) => dataset::run(cmd),
        Command::Compose(args) => compose::run(args),
        Command::Report(args) => report::run(args),
        Command::Gateway(args) => net::gateway(args),
        Command::DockerApiProxy(args) => proxy::run(args),
        Command::Broker(args) => net::broker(args),
        Command::Route(args) => net::route(args),
        Command::Fidelity(args) => net::fidelity(args),
        Command::Run(args) => run::run(args),
        Command::Clean(args) => run::clean(args),
        Command::Ps(args) => run::ps(args),
        Command::Stop(args) => run::stop(args),
        Command::Topology(cmd) => topology::run(cmd),
        Command::Schema(cmd) => topology::schema(cmd),
    }
}
