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

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let _span = tracing::info_span!("command", command = %command_name(&cli.command)).entered();
    match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Collect(args) => collect::run(args),
        Command::Dataset(cmd) => dataset::run(cmd),
        #[cfg(feature = "report")]
        Command::Query(args) => query::run(args),
        #[cfg(not(feature = "report"))]
        Command::Query(_) => Err(without_report("query")),
        Command::Compose(args) => compose::run(args),
        #[cfg(feature = "report")]
        Command::Report(args) => report::run(args),
        #[cfg(not(feature = "report"))]
        Command::Report(_) => Err(without_report("report")),
        #[cfg(feature = "report")]
        Command::Compare(args) => compare::run(args),
        #[cfg(not(feature = "report"))]
        Command::Compare(_) => Err(without_report("compare")),
        #[cfg(feature = "report")]
        Command::Sweep(args) => sweep::run(args),
        #[cfg(not(feature = "report"))]
        Command::Sweep(_) => Err(without_report("sweep")),
        Command::Doctor(args) => doctor::run(args),
        Command::Completions(args) => doctor::completions(args),
        Command::Man(args) => doctor::man(args),
        Command::Venv(args) => venv::run(args),
        Command::Gateway(args) => net::gateway(args),
        Command::DockerApiProxy(args) => swarm::proxy(args),
        Command::Scenario(args) => swarm::scenario(args),
        Command::RedisServer(args) => swarm::redis_server(args),
        Command::Broker(args) => net::broker(args),
        Command::Route(args) => net::route(args),
        Command::Fidelity(args) => net::fidelity(args),
        Command::Net(cmd) => net::live(cmd),
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
    }
}

/// The command's name, for the log span that every event of a command carries.
fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Agent(_) => "agent",
        Command::Collect(_) => "collect",
        Command::Dataset(_) => "dataset",
        Command::Query(_) => "query",
        Command::Compose(_) => "compose",
        Command::Report(_) => "report",
        Command::Compare(_) => "compare",
        Command::Sweep(_) => "sweep",
        Command::Doctor(_) => "doctor",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
        Command::Venv(_) => "venv",
        Command::Gateway(_) => "gateway",
        Command::DockerApiProxy(_) => "docker-api-proxy",
        Command::Scenario(_) => "scenario",
        Command::RedisServer(_) => "redis-server",
        Command::Broker(_) => "broker",
        Command::Route(_) => "route",
        Command::Fidelity(_) => "fidelity",
        Command::Net(_) => "net",
        Command::StressLoad(_) => "stress-load",
        Command::Zygote(_) => "zygote",
        Command::CpuSpeed(_) => "cpu-speed",
        Command::Run(_) => "run",
        Command::Clean(_) => "clean",
        Command::Ps(_) => "ps",
        Command::Stop(_) => "stop",
        Command::Topology(_) => "topology",
        Command::Schema(_) => "schema",
    }
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

/// A flag set when SIGTERM or SIGINT arrives (for commands that end cleanly on their own loop).
pub(crate) fn stop_on_signal() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sigs = wotemu_sys::signals::channel();
    let flag = stop.clone();
    std::thread::spawn(move || {
        if sigs.recv().is_ok() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    stop
}
