//! The command line, as clap derive structs ("low" arguments: as close to what was typed as possible).
//! Each command turns them into a plan before doing anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wotemu_topology::model::ConditionsEdit;

/// Emulate Web of Things deployments on emulated networks, and report what happened.
///
/// A typical session: `wotemu run examples/quickstart.yml` runs a topology on this host and writes a run
/// dataset and a report. With Docker Swarm: `wotemu compose`, `docker stack deploy`, `wotemu stop`,
/// `wotemu report`. Data can be collected from Redis and re-analysed offline at any time.
#[derive(Debug, Parser)]
#[command(
    name = "wotemu",
    version,
    propagate_version = true,
    max_term_width = 120,
    after_help = "Commands a stack runs inside its containers (not for people; `wotemu help COMMAND` tells more):\n  agent, gateway, route, broker, redis-server, docker-api-proxy, scenario"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// When to use colour: auto (only on a terminal), always, never.
    #[arg(long, global = true, value_enum, default_value_t = clap::ColorChoice::Auto, env = "WOTEMU_COLOR")]
    pub(crate) color: clap::ColorChoice,
    /// More log output (-v: debug, -vv: trace). WOTEMU_LOG (e.g. `wotemu_collector=debug`) overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors; no progress bars.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WOTEMU_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Drain a stack's data from Redis into a run dataset (Parquet files and manifest.json).
    ///
    /// Crash-safe: interrupted, it resumes where it stopped when run again with the same --out, and the
    /// dataset ends with every record exactly once. Consumed entries are trimmed from Redis once they are
    /// safely on disk (--no-trim keeps them). With --legacy it imports a WoTemu 0.6 store instead, read-only.
    ///
    /// Examples:
    ///   wotemu collect --stack quickstart --out runs/quickstart
    ///   wotemu collect --legacy --redis-url redis://10.0.0.5:6379 --out runs/old-experiment
    #[command(verbatim_doc_comment)]
    Collect(CollectArgs),
    /// [stack] Run a node's WoTPy app and measure the node: what every emulated node runs.
    ///
    /// Reads the node's environment contract (0.6's PORT_*, REDIS_URL, MQTT_BROKER_HOST, plus WOTEMU_STACK and
    /// WOTEMU_TASK), runs `async def app(wot, conf, loop, **params)` with a WoTPy servient, records every
    /// interaction, samples CPU and memory, counts packets and ships it all to Redis (spooled while it is
    /// unreachable). Stops on SIGTERM or Ctrl-C. `--dry-run` checks that the app loads
    /// (`wotemu agent --path apps/my_app.py --dry-run`).
    #[command(verbatim_doc_comment, hide = true)]
    Agent(AgentArgs),
    /// Run a topology on this host: network namespaces, emulated networks, an agent per replica.
    ///
    /// Validates the topology, starts a Redis of its own, builds one bridge per network and one network
    /// namespace per replica (names resolve as in the Swarm stack: `server.3g`), applies CPU and memory limits
    /// with cgroups, starts the agents, and after --duration (or Ctrl-C) stops them, collects the run dataset
    /// and renders the report. Everything it created is removed on exit. A run's Redis keeps an append-only
    /// file: if the runner crashes (or the collection fails), `wotemu clean`, `wotemu stop --run` or the next
    /// `wotemu run` saves what it recorded as a dataset marked incomplete. Needs root.
    ///
    /// Examples:
    ///   sudo wotemu run examples/quickstart.yml --duration 30s
    ///   sudo wotemu run examples/quickstart.py --out runs/first --no-report
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
    /// Save what crashed runs recorded, then remove what they left (namespaces, bridges, cgroups, processes).
    ///
    /// A run whose runner was killed (or whose collection failed) is first salvaged: its agents are asked to
    /// stop, its Redis is read (or started again on its append-only file), and the records become a dataset in
    /// the run's directory, marked incomplete with why. --discard drops them instead.
    ///
    /// Examples:
    ///   sudo wotemu clean
    ///   sudo wotemu clean --discard
    #[command(verbatim_doc_comment)]
    Clean(CleanArgs),
    /// [stack] Shape a network's forwarded traffic: what each network's gateway runs.
    ///
    /// Applies the conditions (delay, jitter, rate, loss, duplication, corruption, reordering, rate_up, their
    /// schedule and trace) with the kernel's netem + tbf when it has sch_netem, else the userspace NFQUEUE
    /// shaper; removes what it added when it stops (after kill -9: `wotemu clean`).
    #[command(verbatim_doc_comment, hide = true)]
    Gateway(GatewayArgs),
    /// [stack] Send this node's WoT traffic in a network through the network's gateway (iptables mangle marks
    /// and policy routing, as 0.6); --remove takes the rules away.
    #[command(verbatim_doc_comment, hide = true)]
    Route(RouteArgs),
    /// Measure what a gateway achieves: configured vs measured delay, jitter, rate and loss.
    ///
    /// Builds a throwaway lab (two hosts and a gateway in network namespaces), runs the real gateway with
    /// the conditions, measures round trips, one-way loss and duplication, throughput both ways and the
    /// direct path of non-WoT ports, prints configured vs measured with pass/fail, and removes the lab.
    /// Exit 1 when a figure is out of tolerance. Needs root.
    ///
    /// Examples:
    ///   wotemu fidelity --conditions regular_3g
    ///   wotemu fidelity --delay 50ms --jitter 10ms --rate 10mbit --loss 1% --json
    #[command(verbatim_doc_comment)]
    Fidelity(FidelityArgs),
    /// See or change a running emulation's network conditions (`net show`, `net set`).
    #[command(subcommand)]
    Net(NetCommand),
    /// What a scenario's `stress` runs inside a node's cgroups: busy CPU and touched memory, until killed.
    #[command(hide = true)]
    StressLoad(StressLoadArgs),
    /// What `wotemu run` starts its replicas' agents from: Python and WoTPy imported once, an agent forked
    /// per request read on stdin (see ARCHITECTURE.md, "The zygote").
    #[command(hide = true)]
    Zygote(ZygoteArgs),
    /// Print this host's CPU speed calibration (what `target_cpu_speed` is emulated with).
    ///
    /// The speed is sysbench's CPU test on one thread (events per second, each event verifying the primes
    /// up to 10,000): measured at CFS quotas of 10 %, 25 %, 50 %, 75 % and 100 % of one CPU (about 10 s), fitted
    /// by a line, and cached in /var/lib/wotemu/cpu-speed.json (WOTEMU_CPU_CALIBRATION names another file).
    /// The cache is reused until the CPU model or core count changes; --recalibrate measures again.
    /// A node with `target_cpu_speed: N` gets the quota the line gives for N. Needs root (cgroups).
    ///
    /// Examples:
    ///   sudo wotemu cpu-speed
    ///   sudo wotemu cpu-speed --recalibrate --json
    #[command(verbatim_doc_comment)]
    CpuSpeed(CpuSpeedArgs),
    /// [stack] Serve a read-only view of the Docker API (the stack's `docker_api_proxy` service): GET and HEAD
    /// of the sections the environment enables (CONTAINERS=1, NETWORKS=1, NODES=1, SERVICES=1, TASKS=1).
    #[command(verbatim_doc_comment, hide = true)]
    DockerApiProxy(DockerApiProxyArgs),
    /// [stack] Carry out a topology's scenario in a Swarm stack (the stack's `scenario` service): each step at
    /// its time through the Docker API, each shipped as a `timeline` event to the stack's Redis.
    #[command(verbatim_doc_comment, hide = true)]
    Scenario(ScenarioArgs),
    /// [stack] Do the scenario's steps on this host's containers (the stack's `scenario_exec` service, global on
    /// the workers): requests of the scenario service from the stack's Redis, through this engine.
    #[command(verbatim_doc_comment, hide = true)]
    ScenarioExec,
    /// [stack] Run the stack's Redis (its `redis` service): `redis-server` with the stack's password from
    /// REDIS_PASSWORD_FILE, handed over on stdin (never on a command line).
    #[command(verbatim_doc_comment, hide = true)]
    RedisServer(RedisServerArgs),
    /// [stack] Run an MQTT broker (Mosquitto) for a topology's MQTT nodes, routed through its networks'
    /// gateways (--route-via).
    #[command(verbatim_doc_comment, hide = true)]
    Broker(BrokerArgs),
    /// List the runs on this host (`wotemu run`), running or left behind.
    #[command(verbatim_doc_comment)]
    Ps(PsArgs),
    /// End a run: a `wotemu run -D` on this host, or a Swarm stack (as WoTemu 0.6's `wotemu stop`).
    ///
    /// With --run: stops the run's agents, collects, reports and cleans up.
    ///
    /// With --compose-file and --stack (Docker Swarm, through the Docker API of DOCKER_HOST or the local
    /// socket): records a snapshot of every task of the stack (state, error, container, node, logs) in the
    /// stack's Redis, removes every service of the stack except Redis, waits for the agents to ship their last
    /// data, and collects the run dataset. Redis stays up, so `wotemu report --stack NAME` works later, as in
    /// 0.6; remove it with `docker stack rm NAME` when done.
    ///
    /// Examples:
    ///   wotemu stop --run runs/quickstart
    ///   wotemu stop --compose-file quickstart.compose.yml --stack quickstart
    ///   wotemu report --dataset runs/quickstart --out runs/quickstart/site
    #[command(verbatim_doc_comment)]
    Stop(StopArgs),
    /// Inspect run datasets.
    #[command(subcommand, verbatim_doc_comment)]
    Dataset(DatasetCommand),
    /// Answer SQL over the tables of run datasets (Polars SQL).
    ///
    /// Every table of the dataset (interactions, packets, events, system, tasks, logs, timeline, network,
    /// app; columns in ARCHITECTURE.md) is a table of the query, read lazily from its Parquet file. With
    /// several --run NAME=DIR the runs are queried together: each table is their union with a `run` column
    /// first. Output: aligned columns on a terminal, CSV otherwise; --format and --out choose. A wrong query
    /// exits with 2 and says where it is wrong.
    ///
    /// Examples:
    ///   wotemu query runs/quickstart "SELECT thing, verb, quantile_cont(latency_ms, 0.95) AS p95 FROM interactions GROUP BY 1, 2"
    ///   wotemu query --run a=runs/a --run b=runs/b "SELECT run, count(*) FROM packets GROUP BY run"
    ///   wotemu query runs/quickstart "SELECT * FROM system" --format parquet --out system.parquet
    #[command(verbatim_doc_comment)]
    Query(QueryArgs),
    /// Write the Docker Swarm stack of a topology (a compose file for `docker stack deploy`).
    ///
    /// Same flags and output as WoTemu 0.6's `wotemu compose`, deterministic (the same topology always
    /// gives the same bytes). The topology is a YAML file or a WoTemu 0.6 Python file.
    ///
    /// Examples:
    ///   wotemu compose --path examples/quickstart.py          # writes examples/quickstart.yml
    ///   wotemu compose --path examples/quickstart.yml         # writes examples/quickstart.compose.yml
    ///   docker stack deploy -c examples/quickstart.compose.yml quickstart
    #[command(verbatim_doc_comment)]
    Compose(ComposeArgs),
    /// Render a run dataset as a static site (works offline, from file://, and on GitHub Pages).
    ///
    /// With --dataset it reads a run dataset; with --stack (WoTemu 0.6 style) it first collects the stack
    /// from Redis into a dataset kept beside the site (OUT/dataset), then renders it.
    ///
    /// Examples:
    ///   wotemu report --dataset runs/quickstart --out runs/quickstart/site --open
    ///   wotemu report --out report --stack quickstart --redis-url redis://10.0.0.5:6379
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// Compare run datasets: which design is better, and is the difference real?
    ///
    /// Reads 2 to N run datasets (from `wotemu run`, a Swarm stack or a 0.6 import; they can be mixed) and
    /// writes a static site (same template as the report: offline, file://, GitHub Pages) with what differs
    /// between the runs' topologies, then per thing × name × verb (clients' side) the count, success rate,
    /// latency p50/p95/p99 with 95 % intervals and each change against the baseline, marked only when
    /// statistically significant (distribution-free intervals of percentiles, z tests, Holm's correction over
    /// all tests); traffic, errors, and nodes' CPU, memory and restarts side by side. The first run is the
    /// baseline unless --baseline names another.
    ///
    /// --fail-if makes it a regression gate (exit 4 when a gate is violated); its grammar is below.
    ///
    /// Examples:
    ///   wotemu compare runs/3g runs/lte --out compare-site
    ///   wotemu compare runs/a runs/b runs/c --baseline runs/b --json
    ///   wotemu compare runs/main runs/branch --fail-if 'p95(readproperty) > 1.10 * baseline' \
    ///       --fail-if 'error_rate(*) > 0.01'
    #[command(verbatim_doc_comment)]
    #[cfg_attr(feature = "report", command(after_long_help = wotemu_reporter::compare::gate::GRAMMAR))]
    Compare(CompareArgs),
    /// Run every combination of a topology's parameters, then compare them.
    ///
    /// Each --set PATH=V1,V2,… names a field of the topology's document as written in YAML (the same for a
    /// 0.6 Python file: the document its objects build) and its values; the sweep runs the cartesian product
    /// of the values (times --repeat) one after the other with the one-host runner, each into
    /// OUT/<combination>[-r<k>]/ (its dataset, report and the topology it ran as topology.yml), then writes the
    /// comparison of all of them into OUT/compare/ with a sweep page. An unknown path or a value that does not
    /// validate is rejected before anything runs. Running the same command again skips the combinations
    /// already done; Ctrl-C stops the current run cleanly (it is collected) and leaves the rest for next time.
    /// Needs root, as `wotemu run`; with --swarm each combination is a stack on the Swarm instead.
    ///
    /// Examples:
    ///   sudo wotemu sweep examples/quickstart.yml --set networks.3g.conditions=regular_3g,lte \
    ///       --set nodes.reader.scale=2,4 --duration 30s --out runs/sweep
    ///   sudo wotemu sweep examples/quickstart.py --set nodes.reader.resources.mem_limit=150M,256M \
    ///       --repeat 3 --duration 60s --out runs/mem --dry-run
    ///   wotemu sweep examples/quickstart.yml --set nodes.reader.scale=10,40 --duration 2m --out runs/swarm --swarm
    #[command(verbatim_doc_comment)]
    Sweep(SweepArgs),
    /// Check this host for everything a run needs.
    ///
    /// Root; iproute2 and iptables; network namespaces, veth and bridges (made in a throwaway namespace);
    /// sch_netem, tbf and NFQUEUE, and so which gateway backend runs will use; cgroups (v1/v2) with the
    /// cpu, memory and freezer controllers; IPv6; br_netfilter; redis-server and mosquitto; the apps' Python
    /// with WoTPy; sysbench; Chromium; Docker, compose, the Swarm state and whether this node is a manager, and
    /// wotemu's images. Each missing piece says what it affects and the command that fixes it. Exit 1 when
    /// something one-host runs need is missing.
    ///
    /// Examples:
    ///   sudo wotemu doctor
    ///   sudo wotemu doctor --json
    #[command(verbatim_doc_comment)]
    Doctor(DoctorArgs),
    /// Print a shell completion script.
    ///
    /// Examples:
    ///   wotemu completions bash > /etc/bash_completion.d/wotemu
    ///   wotemu completions zsh > "${fpath[1]}/_wotemu"
    ///   wotemu completions fish > ~/.config/fish/completions/wotemu.fish
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),
    /// Print where the apps' Python environment (WoTPy) is, or make it with --create.
    ///
    /// `wotemu run` looks for it in WOTEMU_VENV, VIRTUAL_ENV, the checkout's .venv, ./.venv, then
    /// ~/.local/share/wotemu/venv ($XDG_DATA_HOME/wotemu/venv), the one --create makes for an installed
    /// wotemu (with Python 3.11 and the packages of python/requirements.txt, compiled in). Exit 1 when there
    /// is none.
    ///
    /// Examples:
    ///   wotemu venv
    ///   wotemu venv --create
    #[command(verbatim_doc_comment)]
    Venv(VenvArgs),
    /// Write the man pages (wotemu.1 and one per command, wotemu-run.1, …) into a folder.
    ///
    /// Examples:
    ///   wotemu man --out /usr/local/share/man/man1 && mandb
    #[command(verbatim_doc_comment)]
    Man(ManArgs),
    /// Make, show or remove a Swarm of several Docker hosts on this machine: `swarm up`, `status`, `down`.
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// Check a topology, or show it normalised.
    #[command(subcommand, verbatim_doc_comment)]
    Topology(TopologyCommand),
    /// Print a JSON Schema, for editor completion and checking of topology files.
    ///
    /// Example (VS Code YAML extension): `wotemu schema topology > topology.schema.json`, then
    /// put `# yaml-language-server: $schema=topology.schema.json` at the top of the topology file.
    #[command(subcommand, verbatim_doc_comment)]
    Schema(SchemaCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SwarmCommand {
    /// Make a local Swarm: this engine as the manager, and worker hosts that are containers running a dockerd
    /// each, with their own CPU and memory limits and the node label wotemu.host=worker-N. Images reach them
    /// through a registry on 127.0.0.1:PORT (`WOTEMU_IMAGE_PREFIX=127.0.0.1:5000/wotemu docker/build.sh`
    /// pushes there). Needs root and the wotemu/host image (docker/build.sh).
    ///
    /// Examples:
    ///   sudo wotemu swarm up --hosts 3
    ///   sudo wotemu swarm up --hosts 3 --cpus 1,0.5 --memory 4g,2g
    #[command(verbatim_doc_comment)]
    Up {
        /// Hosts in all, this engine (the manager) included.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=20))]
        hosts: u16,
        /// CPUs of each worker, comma-separated in order (the last one holds for the rest).
        #[arg(long, value_delimiter = ',', default_value = "1")]
        cpus: Vec<f64>,
        /// Memory of each worker (decimal: 4g, 512m), comma-separated as --cpus.
        #[arg(long, value_delimiter = ',', default_value = "4g", value_parser = wotemu_topology::units::parse_size)]
        memory: Vec<u64>,
        /// The local registry's port on 127.0.0.1 (of every host).
        #[arg(long, default_value_t = 5000)]
        registry_port: u16,
    },
    /// Show the Swarm's hosts: role, state, CPUs, memory, running tasks, labels.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Remove the local Swarm, leaving the engine as `up` found it.
    Down {
        /// Also remove the images named for the local registry (127.0.0.1:PORT/…).
        #[arg(long)]
        prune: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct VenvArgs {
    /// Make it (and install the packages) if it is missing.
    #[arg(long)]
    pub(crate) create: bool,
    /// With --create: where (default ~/.local/share/wotemu/venv).
    #[arg(long, value_name = "DIR", requires = "create")]
    pub(crate) path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The folder to write the pages into (made if missing).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// The run datasets (2 or more); the first is the baseline unless --baseline says otherwise.
    #[arg(value_name = "RUN_DIR", num_args = 1.., required = true)]
    pub(crate) runs: Vec<PathBuf>,
    /// The baseline: one of the RUN_DIRs (or another dataset, then compared first).
    #[arg(long, value_name = "RUN_DIR")]
    pub(crate) baseline: Option<PathBuf>,
    /// Where to write the site (default: compare-site; not written with --json unless given).
    #[arg(long, short = 'o', value_name = "SITE")]
    pub(crate) out: Option<PathBuf>,
    /// Print the figures as JSON (documented in ARCHITECTURE.md, stable keys) instead of a summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// A regression gate (repeatable): exit 4 when it is violated. Grammar above.
    #[arg(long = "fail-if", value_name = "EXPR", value_parser = parse_gate)]
    pub(crate) fail_if: Vec<Gate>,
    /// The site's title.
    #[arg(long)]
    pub(crate) title: Option<String>,
    /// Where the site will be published (GitHub Pages), for canonical links.
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
}

#[cfg(feature = "report")]
pub(crate) type Gate = wotemu_reporter::compare::Gate;
/// Without the report (the images' binary) `wotemu compare` is refused before a gate matters.
#[cfg(not(feature = "report"))]
pub(crate) type Gate = String;

#[cfg(feature = "report")]
fn parse_gate(s: &str) -> Result<Gate, String> {
    wotemu_reporter::compare::gate::parse(s).map_err(|e| e.to_string())
}

#[cfg(not(feature = "report"))]
fn parse_gate(s: &str) -> Result<Gate, String> {
    Ok(s.to_string())
}

#[derive(Debug, Args)]
pub(crate) struct SweepArgs {
    /// The topology: YAML or a WoTemu 0.6 Python file.
    #[arg(value_name = "TOPOLOGY")]
    pub(crate) topology: PathBuf,
    /// A parameter and its values: PATH=V1,V2,… (repeatable; every combination runs).
    #[arg(long = "set", value_name = "PATH=V1,V2,…", required = true)]
    pub(crate) set: Vec<String>,
    /// How many times each combination runs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) repeat: u32,
    /// How long each combination runs (e.g. 60s, 2m, 90).
    #[arg(long, short = 'd')]
    pub(crate) duration: String,
    /// The sweep's folder: one run directory per combination, and compare/.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// List the combinations and the estimated time, and run nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Run each combination as a Docker Swarm stack (on a manager, with wotemu's images on the nodes):
    /// `wotemu compose`, `docker stack deploy` as `<stack>-sweep<k>`, the duration once every agent has
    /// registered, `wotemu stop` (collects), `wotemu report`, `docker stack rm`; the same folders as on one host.
    #[arg(long)]
    pub(crate) swarm: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The run dataset to render.
    #[arg(long, short = 'd', conflicts_with = "stack")]
    pub(crate) dataset: Option<PathBuf>,
    /// Collect this stack from Redis first (0.6's `wotemu report --stack`; default: WOTEMU_STACK, unless
    /// --dataset is given).
    #[arg(long)]
    pub(crate) stack: Option<String>,
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
    /// Where to write the site.
    #[arg(long, short = 'o')]
    pub(crate) out: PathBuf,
    /// The site's title.
    #[arg(long)]
    pub(crate) title: Option<String>,
    /// The URL the site will be published at (e.g. https://me.github.io/runs/quickstart), for canonical links.
    /// Links inside the site stay relative, so it also works from file:// and from any folder.
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// Open the site in the default browser when done.
    #[arg(long)]
    pub(crate) open: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Which copies of the tables the site offers: `parquet` (every table as Parquet, and as CSV while the
    /// CSV copies stay within --downloads-budget), `csv` (every table in both forms), `none` (pages only).
    #[arg(long, value_enum, default_value = "parquet")]
    pub(crate) downloads: DownloadsArg,
    /// With `--downloads parquet`: how much the site's CSV copies may take in all (estimated before writing,
    /// smallest tables first), e.g. `10M`, `200M`, `0` for none. Keeps a large run's site publishable.
    #[arg(long, value_name = "SIZE", default_value = "10MB", value_parser = wotemu_topology::units::parse_size)]
    pub(crate) downloads_budget: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DownloadsArg {
    Parquet,
    Csv,
    None,
}

#[derive(Debug, Args)]
pub(crate) struct ComposeArgs {
    /// The topology: YAML (.yml/.yaml) or a WoTemu 0.6 Python file (.py) with `def topology()`.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub(crate) path: PathBuf,
    /// Where to write the compose file; `-` for stdout. Default: beside the topology, FILE.yml for a .py file
    /// (as 0.6) and FILE.compose.yml for a YAML topology.
    #[arg(long, short = 'o', value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// The host port the stack's Redis is published on (`wotemu stop` and `wotemu report --stack` read it
    /// there).
    #[arg(long, default_value_t = 6379, value_name = "PORT")]
    pub(crate) redis_port: u16,
    /// Name this project's images (`wotemu/…`) under PREFIX, where `docker/build.sh` pushed them with the same
    /// variable (`127.0.0.1:5000/wotemu`, the registry of `wotemu swarm up`); images the topology names in
    /// `images:` otherwise are kept.
    #[arg(long, env = "WOTEMU_IMAGE_PREFIX", value_name = "PREFIX")]
    pub(crate) image_prefix: Option<String>,
    /// Seed of the gateways' random decisions (default: the topology's `seed:`, else drawn).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Print what was written as JSON on stdout (path, services, networks, replicas).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopologyCommand {
    /// Check a topology file and list every problem with file:line:column and a hint. Exit 1 when invalid.
    Validate {
        /// The topology file (.yml, .yaml or a WoTemu 0.6 .py).
        file: PathBuf,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print a topology with names normalised, presets resolved and defaults written out.
    Show {
        /// The topology file (.yml, .yaml or a WoTemu 0.6 .py).
        file: PathBuf,
        /// JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SchemaCommand {
    /// The JSON Schema of YAML topology files.
    Topology,
}

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    #[arg(long, short = 'p', value_name = "APP", help = agent_path_help())]
    pub(crate) path: String,
    #[command(flatten)]
    pub(crate) config: wotemu_agent::config::Overrides,
    /// A Python virtualenv whose packages (WoTPy) the app uses (default: WOTEMU_VENV, else VIRTUAL_ENV).
    #[arg(long, value_name = "DIR")]
    pub(crate) venv: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) route: RouteVia,
    /// Print the configuration, check that the app loads (with its parameters), and exit.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --dry-run: print the configuration as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The topology: YAML or a WoTemu 0.6 Python file.
    #[arg(value_name = "TOPOLOGY")]
    pub(crate) topology: PathBuf,
    /// How long to run (e.g. 60s, 2m, 90).
    #[arg(long, short = 'd', default_value = "60s")]
    pub(crate) duration: String,
    /// The run directory (dataset, and the report in its `site/`). Default: runs/<stack>-<time>.
    #[arg(long, short = 'o', value_name = "RUN_DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Use this Redis instead of starting one (agents must be able to reach it).
    #[arg(long)]
    pub(crate) redis_url: Option<String>,
    /// Collect the dataset but do not render the report.
    #[arg(long)]
    pub(crate) no_report: bool,
    /// Leave the lab (namespaces, cgroups, Redis) in place at the end, for inspection; `wotemu clean` removes it.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Seed of the gateways' random decisions, to repeat a run's (default: the topology's `seed:`, else
    /// drawn; printed, and in the manifest).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Run in the background; `wotemu stop --run RUN_DIR` ends it (its output goes to RUN_DIR.log).
    #[arg(long, short = 'D')]
    pub(crate) detach: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PsArgs {
    /// Print the runs as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// The run directory given to (or printed by) `wotemu run -D`.
    #[arg(long, value_name = "RUN_DIR")]
    pub(crate) run: Option<PathBuf>,
    /// The Swarm stack's compose file (stored with the data, shown in the report).
    #[arg(long, value_name = "FILE", conflicts_with = "run")]
    pub(crate) compose_file: Option<PathBuf>,
    /// The Swarm stack's name, as given to `docker stack deploy` (default: WOTEMU_STACK, unless --run is given).
    #[arg(long, conflicts_with = "run")]
    pub(crate) stack: Option<String>,
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
    /// Where to write the run dataset of a Swarm stack (default: runs/<stack>).
    #[arg(long, value_name = "RUN_DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Seconds to wait for the agents to ship their last data once their services are removed.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub(crate) wait: f64,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// Also remove runs whose `wotemu run` process is still alive.
    #[arg(long)]
    pub(crate) force: bool,
    /// Do not save what crashed runs recorded: drop their data with the rest.
    #[arg(long)]
    pub(crate) discard: bool,
}

/// Where Redis is.
#[derive(Debug, Args)]
pub(crate) struct RedisArgs {
    /// The stack's Redis (the compose file publishes it on port 6379 of the Swarm's hosts).
    #[arg(
        long,
        env = "WOTEMU_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub(crate) redis_url: String,
}

#[derive(Debug, Args)]
pub(crate) struct CollectArgs {
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
    /// The stack to collect (its keys are `wotemu:<stack>:*`). With --legacy, used to name nodes
    /// (`<stack>_<node>` services); guessed from the 0.6 compose document when absent.
    #[arg(long, env = "WOTEMU_STACK", required_unless_present = "legacy")]
    pub(crate) stack: Option<String>,
    /// The run directory to write (created if missing).
    #[arg(long, short)]
    pub(crate) out: PathBuf,
    /// Import a WoTemu 0.6 Redis store (sorted sets `wotemu:system:*`, `wotemu:packet:*`, …). Never writes to it.
    #[arg(long)]
    pub(crate) legacy: bool,
    /// Keep consumed entries in Redis instead of trimming them.
    #[arg(long)]
    pub(crate) no_trim: bool,
    /// Memory for buffered records before they are spilled to disk, in MiB.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub(crate) buffer_mb: u64,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The run directory, then the query; or only the query, with --run.
    #[arg(value_name = "RUN_DIR] [SQL", num_args = 1..=2, required = true)]
    pub(crate) args: Vec<String>,
    /// A run to query, named: NAME=DIR (repeat to query several runs together; adds a `run` column).
    #[arg(long = "run", value_name = "NAME=DIR")]
    pub(crate) runs: Vec<String>,
    /// Output format [default: table on a terminal, else csv].
    #[arg(long, value_enum)]
    pub(crate) format: Option<QueryFormat>,
    /// Write the result to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// How `wotemu query` writes its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum QueryFormat {
    /// Aligned columns.
    Table,
    Csv,
    /// An array of objects, one per row.
    Json,
    Parquet,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DatasetCommand {
    /// Show a dataset's tables, row counts, time span, tasks and accounting.
    Info {
        /// The run directory.
        dir: PathBuf,
        /// Print as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Which shaper a gateway uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// The kernel's when it has sch_netem and can express the conditions; else userspace.
    Auto,
    /// tc netem + tbf.
    Kernel,
    /// The NFQUEUE shaper.
    Userspace,
}

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// The network's conditions as JSON, as `wotemu compose` writes them: `latency` and `jitter` (ms),
    /// `rate` and `rate_up` ("1.5mbit"), `loss`, `duplicate`, `corrupt`, `reorder` (%), `schedule`.
    #[arg(long, value_name = "JSON")]
    pub(crate) conditions: Option<String>,
    /// WoTemu 0.6's form: the netem dict as the only argument.
    #[arg(value_name = "NETEM_JSON", conflicts_with = "conditions")]
    pub(crate) legacy: Option<String>,
    /// The network's name (for the log).
    #[arg(long)]
    pub(crate) network: Option<String>,
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub(crate) backend: BackendArg,
    /// NFQUEUE number (userspace backend).
    #[arg(long, default_value_t = 0)]
    pub(crate) queue: u16,
    /// Devices the kernel backend shapes (repeatable; default: all but lo).
    #[arg(long = "dev", value_name = "DEV")]
    pub(crate) devices: Vec<String>,
    /// Service ports beyond the WoT ports of the environment (packets to them count as "up" for rate_up).
    #[arg(long, value_delimiter = ',', value_name = "PORTS")]
    pub(crate) ports: Vec<u16>,
    /// Seed of the random decisions (default: from the clock).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Write the counters as JSON to this file every second and at exit.
    #[arg(long, value_name = "FILE")]
    pub(crate) stats_file: Option<PathBuf>,
    /// Create this file once the shaping is in place (`ready <ns>`: the CLOCK_MONOTONIC time its schedule counts from).
    #[arg(long, value_name = "FILE")]
    pub(crate) ready_file: Option<PathBuf>,
    /// Print the final counters as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Record what the gateway applies in the stack's Redis, as an agent does: a window per second and
    /// direction (the dataset's `network` table), each change of conditions (`timeline`), and take live
    /// changes (`wotemu net set`). Uses REDIS_URL (and REDIS_PASSWORD_FILE), WOTEMU_STACK, WOTEMU_TASK and
    /// WOTEMU_SPOOL_DIR from the environment, as the runner and the Swarm stack set them.
    #[arg(long)]
    pub(crate) record: bool,
    /// The time (µs since the UNIX epoch) the schedule and trace count from (default: now): a gateway
    /// restarted mid-run goes on from where the first one was.
    #[arg(long, value_name = "MICROSECONDS")]
    pub(crate) schedule_from_us: Option<i64>,
}

#[derive(Debug, Args)]
pub(crate) struct RouteArgs {
    /// The network's gateway: an address or a name (`gw_3g`), resolved with retries for --wait seconds.
    #[arg(long)]
    pub(crate) gateway: String,
    /// The network's subnet (default: that of the local address in the gateway's network).
    #[arg(long, value_name = "CIDR")]
    pub(crate) subnet: Option<String>,
    /// Which of the node's networks this is (0–99): picks the mark, routing table and chain.
    #[arg(long, default_value_t = 0)]
    pub(crate) index: u8,
    /// TCP ports to route (default: from the environment, see above).
    #[arg(long, value_delimiter = ',', value_name = "PORTS")]
    pub(crate) tcp_ports: Vec<u16>,
    /// UDP ports to route (default: from the environment).
    #[arg(long, value_delimiter = ',', value_name = "PORTS")]
    pub(crate) udp_ports: Vec<u16>,
    /// Seconds to wait for the gateway's name to resolve.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    pub(crate) wait: f64,
    /// Remove the routing instead.
    #[arg(long)]
    pub(crate) remove: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CpuSpeedArgs {
    /// Measure again even if a calibration of this host is cached.
    #[arg(long)]
    pub(crate) recalibrate: bool,
    /// Print the calibration as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// (Internal) run the benchmark for SECONDS once stdin says go, print events/s.
    #[arg(long, value_name = "SECONDS", hide = true)]
    pub(crate) measure: Option<f64>,
}

#[derive(Debug, Args)]
pub(crate) struct FidelityArgs {
    #[command(flatten)]
    pub(crate) set: ConditionsEdit,
    /// Replay a trace file on top of the conditions and measure it: a CSV (`time,delay,jitter,rate,rate_up,
    /// loss`) or a mahimahi packet-delivery trace, as a topology's `trace:`.
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,
    /// With --trace: interpolate linearly between rows (every 100 ms) instead of holding each row.
    #[arg(long, requires = "trace")]
    pub(crate) linear: bool,
    /// With --trace: seconds to measure (default: the trace's length, at most 60 s).
    #[arg(long, requires = "trace", value_name = "SECONDS")]
    pub(crate) duration: Option<f64>,
    /// Seed of the gateway's random decisions (default: drawn, and printed).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub(crate) backend: BackendArg,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ZygoteArgs {
    /// The state folder of the run it serves (`/run/wotemu/<run>/`): in its command line, and so in its
    /// agents', for `ps` and for finding them.
    #[arg(long, value_name = "DIR")]
    pub(crate) run: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct StressLoadArgs {
    /// Busy CPU, % of one core.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) cpu_pct: f64,
    /// Bytes to allocate and touch.
    #[arg(long, default_value_t = 0)]
    pub(crate) memory_bytes: u64,
    /// End after this many milliseconds (else it runs until it is killed).
    #[arg(long)]
    pub(crate) for_ms: Option<u64>,
}

/// A stack's container routes its WoT traffic through its networks' gateways before it starts.
#[derive(Debug, Args)]
pub(crate) struct RouteVia {
    /// Before starting, route this node's WoT traffic through a network's gateway (repeatable, one per
    /// network, as `wotemu route --gateway`); the compose file gives `--route-via gw_<net>` for each network.
    #[arg(long = "route-via", value_name = "GATEWAY")]
    pub(crate) via: Vec<String>,
    /// Seconds to wait for each --route-via gateway's name to resolve (its task may start later).
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub(crate) wait: f64,
}

/// Which running emulation: a `wotemu run` or a Swarm stack.
#[derive(Debug, Args)]
pub(crate) struct LiveTarget {
    /// The run directory of a running `wotemu run` (see `wotemu ps`; the only one when there is one).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "stack")]
    pub(crate) run: Option<PathBuf>,
    /// A running Swarm stack, as given to `docker stack deploy` (default: WOTEMU_STACK, unless --run is given).
    #[arg(long)]
    pub(crate) stack: Option<String>,
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NetCommand {
    /// Print every network's conditions now and what its gateway measured in the last second.
    Show {
        #[command(flatten)]
        target: LiveTarget,
        /// Print them as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Change a network's conditions now: a preset and/or single figures (the rest stay as they are).
    ///
    /// The change is recorded in the run's timeline (kind `conditions`, `live`), drawn on the report's
    /// charts, and lasts until the next change (a step of the network's schedule, or another `net set`).
    ///
    /// Examples:
    ///   wotemu net set 3g --conditions gprs
    ///   wotemu net set 3g --loss 5% --delay 400ms
    ///   wotemu net set field --stack demo --rate 500kbit
    #[command(verbatim_doc_comment)]
    Set {
        /// The network to change.
        network: String,
        #[command(flatten)]
        target: LiveTarget,
        #[command(flatten)]
        set: Box<ConditionsEdit>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct BrokerArgs {
    /// The MQTT port to listen on (all addresses).
    #[arg(long, default_value_t = 1883)]
    pub(crate) port: u16,
    #[command(flatten)]
    pub(crate) route: RouteVia,
    /// The mosquitto program.
    #[arg(long, default_value = "mosquitto", value_name = "PROGRAM")]
    pub(crate) mosquitto: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RedisServerArgs {
    /// The file holding the password (default: REDIS_PASSWORD_FILE; none: no password).
    #[arg(long, env = "REDIS_PASSWORD_FILE", value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// The redis-server program.
    #[arg(long, default_value = "redis-server")]
    pub(crate) program: PathBuf,
    /// More redis-server options, after the defaults (`--port 6380`).
    #[arg(last = true)]
    pub(crate) args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ScenarioArgs {
    /// The scenario's events, as `wotemu compose` writes them (JSON).
    #[arg(long)]
    pub(crate) events: String,
    /// A node of the topology whose replicas are awaited before the scenario's time starts (repeat).
    #[arg(long = "node")]
    pub(crate) nodes: Vec<String>,
    /// Longest wait for the nodes' replicas, in seconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) start_timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct DockerApiProxyArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:2375")]
    pub(crate) listen: String,
    /// The Docker socket.
    #[arg(long, default_value = "/var/run/docker.sock")]
    pub(crate) socket: PathBuf,
}

/// `wotemu agent --path`'s help, naming every builtin from the one list (`wotemu_contract::apps`).
fn agent_path_help() -> String {
    let names: Vec<&str> = wotemu_contract::apps::available().map(|b| b.name).collect();
    format!(
        "The app: a builtin ({}; `wotemu_` prefix accepted), a URL, or a Python file defining \
         `async def app(wot, conf, loop, **params)`",
        names.join(", ")
    )
}
