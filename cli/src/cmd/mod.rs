//! One module per command: each turns its arguments into a plan, runs it, and reports.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub(crate) use topology::load_topology;

mod agent;
mod collect;
#[cfg(feature = "report")]
mod compare;
mod compose;
mod cpu;
mod dataset;
mod doctor;
mod net;
#[cfg(feature = "report")]
mod query;
#[cfg(feature = "report")]
mod report;
mod run;
mod swarm;
#[cfg(feature = "report")]
mod sweep;
mod topology;
mod venv;

/// Runs the command `name` (the subcommand's name, for the log span every event of a command carries).
pub(crate) fn run(cli: Cli, name: &str) -> anyhow::Result<ExitCode> {
    let _span = tracing::info_span!("command", command = %name).entered();
    match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Collect(args) => collect::run(args),
        Command::Dataset(cmd) => dataset::run(cmd),
        #[cfg(feature = "report")]
        Command::Query(args) => query::run(args),
        Command::Compose(args) => compose::run(args),
        #[cfg(feature = "report")]
        Command::Report(args) => report::run(args),
        #[cfg(feature = "report")]
        Command::Compare(args) => compare::run(args),
        #[cfg(feature = "report")]
        Command::Sweep(args) => sweep::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Completions(args) => doctor::completions(args),
        Command::Man(args) => doctor::man(args),
        Command::Venv(args) => venv::run(args),
        Command::Gateway(args) => net::gateway(args),
        Command::DockerApiProxy(args) => swarm::proxy(args),
        Command::Scenario(args) => swarm::scenario(args),
        Command::ScenarioExec => swarm::scenario_exec(),
        Command::RedisServer(args) => swarm::redis_server(args),
        Command::Broker(args) => net::broker(args),
        Command::Route(args) => net::route(args),
        Command::Fidelity(args) => net::fidelity(args),
        Command::Net(cmd) => net::live(cmd),
        Command::Swarm(cmd) => swarm::hosts(cmd),
        Command::StressLoad(args) => {
            wotemu_lab::scenario::load(args.cpu_pct, args.memory_bytes, args.for_ms)
        }
        Command::Zygote(_) => agent::zygote(),
        Command::CpuSpeed(args) => cpu::run(args),
        Command::Run(args) => run::run(args),
        Command::Clean(args) => run::clean(args),
        Command::Ps(args) => run::ps(args),
        Command::Stop(args) => run::stop(args),
        Command::Topology(cmd) => topology::run(cmd),
        Command::Schema(cmd) => topology::schema(cmd),
        #[cfg(not(feature = "report"))]
        Command::Query(_) | Command::Report(_) | Command::Compare(_) | Command::Sweep(_) => {
            Err(without_report(name))
        }
    }
}

/// `--stack` as given, else `WOTEMU_STACK` (when set and not empty). Commands call it only when no other
/// choice of what to act on (`--run`, `--dataset`) was given on the command line, which wins over the
/// environment: clap's own `env` would count the variable as a conflicting flag.
pub(crate) fn stack_or_env(stack: &Option<String>) -> Option<String> {
    stack
        .clone()
        .or_else(|| std::env::var("WOTEMU_STACK").ok().filter(|s| !s.is_empty()))
}

/// The error of a command this binary was built without (the images' binary: `--no-default-features`).
#[cfg(not(feature = "report"))]
pub(crate) fn without_report(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`wotemu {command}` is not in this wotemu: it was built without the report (the images' binary, for nodes, gateways, brokers and Redis); run it with a full wotemu on the host (`cargo install --path cli`, or `scripts/setup.sh`)"
    )
}

/// Renders a run dataset's report into `site`.
#[cfg(feature = "report")]
pub(crate) fn render_report(
    dataset: &std::path::Path,
    site: &std::path::Path,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let report = wotemu_reporter::Report::load(wotemu_reporter::ReportOptions::new(dataset, site))
        .context("reading the run dataset")?;
    report
        .render()
        .with_context(|| format!("writing the report into {}", site.display()))?;
    Ok(())
}

#[cfg(not(feature = "report"))]
pub(crate) fn render_report(
    _dataset: &std::path::Path,
    _site: &std::path::Path,
) -> anyhow::Result<()> {
    Err(without_report("report"))
}
