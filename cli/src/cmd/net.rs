//! `wotemu gateway`, `wotemu route` and `wotemu fidelity`: the network emulation's commands.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use wotemu_gateway::fidelity::Figure;
use wotemu_gateway::{route as rt, Backend, GatewayOptions, Spec};
use wotemu_topology::model::{Conditions, Preset};
use wotemu_topology::units;

use crate::cli::{
    BackendArg, BrokerArgs, ConditionFlags, FidelityArgs, GatewayArgs, LiveTarget, NetCommand,
    RouteArgs,
};
use crate::output;

fn need_root(what: &str) -> anyhow::Result<()> {
    if !wotemu_sys::is_root() {
        bail!("{what} needs root (or CAP_NET_ADMIN): it changes firewall rules, routes and qdiscs");
    }
    Ok(())
}

fn backend(arg: BackendArg, spec: &Spec) -> (Backend, String) {
    match arg {
        BackendArg::Auto => {
            let (b, why) = Backend::choose(spec);
            (b, why.to_owned())
        }
        BackendArg::Kernel => (Backend::Kernel, "asked for".into()),
        BackendArg::Userspace => (Backend::Userspace, "asked for".into()),
    }
}

/// Writes a status file (ready, stats) whole; a failure is logged, the gateway goes on.
fn write_status(path: &Path, bytes: &[u8]) {
    if let Err(e) = wotemu_sys::fs::replace(path, bytes) {
        tracing::warn!(file = %path.display(), error = %e, "Cannot write a status file.");
    }
}

pub(crate) fn gateway(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    need_root("wotemu gateway")?;
    let json = args
        .conditions
        .clone()
        .or(args.legacy.clone())
        .context("give the conditions: --conditions '{\"latency\": 300, \"jitter\": 150, \"rate\": \"1.5mbit\"}'")?;
    let spec = Spec::from_json(&json).context("reading --conditions")?;
    let (backend, why) = backend(args.backend, &spec);
    if backend == Backend::Kernel && !wotemu_gateway::kernel::has_netem() {
        bail!("--backend kernel: this kernel has no sch_netem; use --backend userspace (or auto)");
    }
    let (tcp, udp) = rt::ports_from_env();
    let mut ports: Vec<u16> = tcp
        .into_iter()
        .chain(udp)
        .chain(args.ports.clone())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let net = args.network.clone().unwrap_or_else(|| "network".into());
    tracing::info!(network = %net, ?backend, why = %why, conditions = ?spec.base, "gateway starting");
    let stop = super::stop_on_signal();
    let opts = GatewayOptions {
        backend,
        ports,
        queue_num: args.queue,
        devices: args.devices.clone(),
        seed: args.seed.unwrap_or_else(wotemu_gateway::sys::monotonic_ns),
        windows: true,
        elapsed_ms: args
            .schedule_from_us
            .map(|t| ((wotemu_contract::time_util::now_us() - t) as f64 / 1000.0).max(0.0))
            .unwrap_or(0.0),
    };
    let recorder = if args.record {
        // The environment of an agent (REDIS_URL with the password file, WOTEMU_STACK, WOTEMU_TASK, …).
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let c = wotemu_agent::AgentConfig::from_env(&env, "");
        Some(
            wotemu_agent::gateway::Recorder::start(wotemu_agent::gateway::RecorderConfig {
                redis_url: c.redis_url,
                stack: c.stack,
                task: c.task,
                network: net.clone(),
                spool_dir: c.spool_dir,
                backend,
                reason: why.clone(),
                schedule_from_us: args.schedule_from_us,
            })
            .context("starting the gateway's recorder (--record)")?,
        )
    } else {
        None
    };
    #[derive(Serialize)]
    struct Out<'a> {
        network: &'a str,
        backend: Backend,
        reason: &'a str,
        #[serde(flatten)]
        report: &'a wotemu_gateway::userspace::Report,
    }
    /// The status files, then the recorder.
    struct CliHooks<'a> {
        args: &'a GatewayArgs,
        net: &'a str,
        backend: Backend,
        why: &'a str,
        recorder: Option<wotemu_agent::gateway::Recorder>,
    }
    impl wotemu_gateway::Hooks for CliHooks<'_> {
        fn ready(&mut self, start_ns: u64) {
            if let Some(f) = &self.args.ready_file {
                // `ready <start>`: the monotonic time the schedule counts from (the fidelity check aligns
                // its measurements with it).
                write_status(f, format!("ready {start_ns}\n").as_bytes());
            }
        }
        fn tick(&mut self, r: &wotemu_gateway::userspace::Report) {
            if let Some(f) = &self.args.stats_file {
                let out = Out {
                    network: self.net,
                    backend: self.backend,
                    reason: self.why,
                    report: r,
                };
                write_status(f, &serde_json::to_vec(&out).unwrap_or_default());
            }
            if let Some(rec) = &mut self.recorder {
                rec.tick(r);
            }
        }
        fn changed(&mut self, source: wotemu_gateway::Change, old: &Conditions, new: &Conditions) {
            if let Some(rec) = &mut self.recorder {
                rec.changed(source, old, new);
            }
        }
        fn live(&mut self) -> Option<Conditions> {
            self.recorder.as_mut().and_then(|r| r.live())
        }
    }
    let mut hooks = CliHooks {
        args: &args,
        net: &net,
        backend,
        why: &why,
        recorder,
    };
    let result = wotemu_gateway::run_gateway(&spec, &opts, &stop, &mut hooks);
    if let Some(rec) = hooks.recorder.take() {
        let last = result.as_ref().cloned().unwrap_or_default();
        let drained = rec.finish(&last, result.as_ref().err().map(|e| e.to_string()));
        if drained.left_in_spool > 0 {
            tracing::warn!(
                entries = drained.left_in_spool,
                spool = %drained.spool_path.display(),
                "Redis did not take every window; they wait in the spool for the collector."
            );
        }
    }
    let report = result.context("running the gateway")?;
    let out = Out {
        network: &net,
        backend,
        reason: &why,
        report: &report,
    };
    if let Some(f) = &args.stats_file {
        write_status(f, &serde_json::to_vec(&out)?);
    }
    if args.json {
        output::json(&out)?;
    }
    tracing::info!(?report, "gateway stopped");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn route(args: RouteArgs) -> anyhow::Result<ExitCode> {
    need_root("wotemu route")?;
    let r = rt::plan(
        &args.gateway,
        args.subnet,
        args.index,
        (args.tcp_ports, args.udp_ports),
        Duration::from_secs_f64(args.wait.max(0.0)),
    )?;
    if args.remove {
        rt::remove(&r);
        output::say(&format!(
            "removed the routing of {} via {}",
            r.subnet, r.gateway
        ));
    } else {
        rt::install(&r).context("installing the routing")?;
        say_route(&r);
    }
    Ok(ExitCode::SUCCESS)
}

fn say_route(r: &rt::Route) {
    output::say(&format!(
        "WoT traffic to {} goes via {} (tcp {:?}, udp {:?}; mark {}, table {})",
        r.subnet,
        r.gateway,
        r.tcp_ports,
        r.udp_ports,
        r.mark(),
        r.table()
    ));
}

/// What the agent and the broker do first in a Swarm task (`--route-via gw_<net>` for each network): wait for
/// each gateway's name to resolve, then route the WoT ports of its network through it.
pub(crate) fn route_via_all(gateways: &[String], wait: f64) -> anyhow::Result<()> {
    for (i, gw) in gateways.iter().enumerate() {
        let index = u8::try_from(i).ok().filter(|i| *i < 100).with_context(|| {
            format!(
                "a node can route through at most 100 gateways, not {}",
                gateways.len()
            )
        })?;
        let r = rt::plan(
            gw,
            None,
            index,
            (Vec::new(), Vec::new()),
            Duration::from_secs_f64(wait.max(0.0)),
        )?;
        rt::install(&r).with_context(|| format!("routing the WoT traffic via `{gw}`"))?;
        say_route(&r);
    }
    Ok(())
}

/// Conditions from flags: the preset if one is given, else `base`, then each figure given.
fn conditions_from(a: &ConditionFlags, base: Conditions) -> anyhow::Result<Conditions> {
    let mut c = match &a.conditions {
        Some(p) => Preset::parse(p)
            .with_context(|| {
                format!(
                    "unknown preset `{p}`; presets: {}",
                    Preset::ALL.map(|p| p.name()).join(", ")
                )
            })?
            .conditions(),
        None => base,
    };
    let err = |flag: &'static str| move |e: String| anyhow::anyhow!("--{flag}: {e}");
    if let Some(v) = &a.delay {
        c.latency_ms = units::parse_duration_ms(v).map_err(err("delay"))?;
    }
    if let Some(v) = &a.jitter {
        c.jitter_ms = units::parse_duration_ms(v).map_err(err("jitter"))?;
    }
    if let Some(v) = &a.rate {
        c.rate_bps = Some(units::parse_rate_bps(v).map_err(err("rate"))?);
    }
    if let Some(v) = &a.rate_up {
        c.rate_up_bps = Some(units::parse_rate_bps(v).map_err(err("rate-up"))?);
    }
    for (flag, v, dst) in [
        ("loss", &a.loss, &mut c.loss_pct),
        ("duplicate", &a.duplicate, &mut c.duplicate_pct),
        ("corrupt", &a.corrupt, &mut c.corrupt_pct),
        ("reorder", &a.reorder, &mut c.reorder_pct),
    ] {
        if let Some(v) = v {
            *dst = units::parse_percent(v).map_err(err(flag))?;
        }
    }
    Ok(c)
}

#[derive(Serialize)]
struct FidelityOut {
    conditions: Conditions,
    backend: Backend,
    reason: String,
    pass: bool,
    figures: Vec<Figure>,
    gateway: Option<serde_json::Value>,
}

pub(crate) fn fidelity(args: FidelityArgs) -> anyhow::Result<ExitCode> {
    need_root("wotemu fidelity")?;
    let c = conditions_from(&args.set, Conditions::default())?;
    let spec = Spec::from_json(&wotemu_lab::fidelity::conditions_json(&c))
        .context("checking the conditions")?;
    let (backend, why) = backend(args.backend, &spec);
    let sigs = wotemu_sys::signals::channel();
    let quiet = output::quiet() || args.json;
    let (trace, trace_secs) = match &args.trace {
        None => (None, 0.0),
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the trace {}", file.display()))?;
            let csv = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            let points = if csv {
                wotemu_topology::trace::parse_csv(&text)
            } else {
                wotemu_topology::trace::parse_mahimahi(&text, 1000.0)
            }
            .map_err(|e| anyhow::anyhow!("{}:{}: {}", file.display(), e.line, e.message))?;
            let t = wotemu_topology::model::Trace {
                file: file.display().to_string(),
                format: if csv {
                    wotemu_topology::model::TraceFormat::Csv
                } else {
                    wotemu_topology::model::TraceFormat::Mahimahi
                },
                linear: args.linear,
                looped: false,
                bin_ms: 1000.0,
                points,
            };
            let n = t.points.len();
            let last = t.points[n - 1].at_ms;
            let gap = if n > 1 {
                last - t.points[n - 2].at_ms
            } else {
                1000.0
            };
            let secs = args.duration.unwrap_or(((last + gap) / 1000.0).min(60.0));
            if !(secs.is_finite() && secs >= 2.0) {
                bail!("--duration must be at least 2 seconds, not {secs}");
            }
            (Some(wotemu_topology::compose::trace_json(&t)), secs)
        }
    };
    let opts = wotemu_lab::fidelity::FidelityOptions {
        conditions: c,
        trace,
        trace_secs,
        backend,
        exe: std::env::current_exe().context("finding the wotemu binary")?,
    };
    let measured = wotemu_lab::fidelity::measure(&opts, &sigs, &|phase| {
        if !quiet {
            output::note(&format!("  measuring {phase}…"));
        }
    })?;
    let out = FidelityOut {
        conditions: c,
        backend,
        reason: why,
        pass: measured.figures.iter().all(|f| f.pass != Some(false)),
        figures: measured.figures,
        gateway: measured.gateway,
    };
    if args.json {
        output::json(&out)?;
    } else {
        print_fidelity(&out)?;
    }
    Ok(if out.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn fmt_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    match unit {
        "bit/s" => units::format_rate(v.round() as u64),
        "ms" => format!("{v:.2} ms"),
        "%" => format!("{v:.2} %"),
        _ => format!("{v:.3} {unit}"),
    }
}

fn print_fidelity(o: &FidelityOut) -> anyhow::Result<()> {
    let mut s = format!(
        "Gateway backend: {} ({})\n\n{:<18} {:>14} {:>14} {:>14}  {}\n",
        match o.backend {
            Backend::Kernel => "kernel netem + tbf",
            Backend::Userspace => "userspace shaper (NFQUEUE)",
        },
        o.reason,
        "figure",
        "configured",
        "measured",
        "tolerance",
        "result"
    );
    for f in &o.figures {
        s.push_str(&format!(
            "{:<18} {:>14} {:>14} {:>14}  {}\n",
            f.name,
            f.configured
                .map(|v| fmt_value(v, &f.unit))
                .unwrap_or_else(|| "–".into()),
            fmt_value(f.measured, &f.unit),
            f.tolerance
                .map(|t| format!("±{}", fmt_value(t, &f.unit)))
                .unwrap_or_default(),
            match f.pass {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "",
            }
        ));
    }
    if let Some(g) = &o.gateway {
        if let Some(p99) = g.get("lateness_p99_us").and_then(|v| v.as_f64()) {
            s.push_str(&format!(
                "\nShaper lateness beyond the planned release: p99 {p99:.0} µs\n"
            ));
        }
    }
    s.push_str(if o.pass {
        "\nAll judged figures are within tolerance.\n"
    } else {
        "\nSome figures are out of tolerance.\n"
    });
    output::print(&s)
}

/// `wotemu broker`: routes, then becomes mosquitto.
pub(crate) fn broker(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    if !args.route_via.is_empty() {
        route_via_all(&args.route_via, args.route_wait)?;
    }
    let dir = std::env::temp_dir().join(format!("wotemu-broker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {} 0.0.0.0\nallow_anonymous true\n", args.port),
    )
    .with_context(|| format!("writing {}", conf.display()))?;
    output::say(&format!("MQTT broker on port {} (mosquitto)", args.port));
    // exec: mosquitto takes this process's place, so the container's signals reach it directly.
    let err = std::process::Command::new(&args.mosquitto)
        .arg("-c")
        .arg(&conf)
        .exec();
    Err(anyhow::anyhow!(
        "could not run {}: {err} (install Mosquitto, e.g. apt-get install mosquitto)",
        args.mosquitto.display()
    ))
}

/// The Redis and stack of a running emulation.
fn live_target(t: &LiveTarget) -> anyhow::Result<(String, String)> {
    if let Some(stack) = &t.stack {
        return Ok((
            super::swarm::stack_redis_url(&t.redis_url, stack),
            stack.clone(),
        ));
    }
    let alive: Vec<wotemu_lab::state::RunState> = wotemu_lab::state::runs()
        .into_iter()
        .filter(|(_, alive)| *alive)
        .map(|(s, _)| s)
        .collect();
    let run = match &t.run {
        Some(dir) => {
            let want = std::path::absolute(dir).unwrap_or(dir.clone());
            alive
                .into_iter()
                .find(|s| s.run_dir == want)
                .with_context(|| {
                    format!(
                        "no running `wotemu run` writes to {} (see `wotemu ps`)",
                        dir.display()
                    )
                })?
        }
        None => match alive.len() {
            0 => bail!("no `wotemu run` is running here; name a Swarm stack with --stack NAME"),
            1 => alive.into_iter().next().expect("one"),
            _ => bail!(
                "{} runs are running; say which with --run RUN_DIR: {}",
                alive.len(),
                alive
                    .iter()
                    .map(|s| s.run_dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let url = run
        .redis_url
        .with_context(|| format!("the run {} has no Redis (yet)", run.run_id))?;
    Ok((url, run.stack))
}

pub(crate) fn live(cmd: NetCommand) -> anyhow::Result<ExitCode> {
    let target = match &cmd {
        NetCommand::Show { target, .. } | NetCommand::Set { target, .. } => target,
    };
    let (url, stack) = live_target(target)?;
    let shown = wotemu_contract::redact::redact_url(&url);
    let mut conn = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .with_context(|| format!("connecting to the stack's Redis at {shown}"))?;
    match cmd {
        NetCommand::Show { json, .. } => {
            let states = wotemu_lab::live::states(&mut conn, &stack)?;
            if json {
                output::json(&states)?;
                return Ok(ExitCode::SUCCESS);
            }
            if states.is_empty() {
                output::say(&format!("No gateway of `{stack}` has recorded its state yet (gateways write it every second)."));
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = String::new();
            for st in &states {
                let s = &st.state;
                out.push_str(&format!(
                    "{}  ({} backend; updated {})\n  conditions: {}\n",
                    st.network,
                    s["backend"].as_str().unwrap_or("?"),
                    s["updated_at"].as_str().unwrap_or("?"),
                    s["conditions"]
                ));
                for w in s["window"].as_array().into_iter().flatten() {
                    let f = |k: &str| w[k].as_f64();
                    let secs = f("window_s").unwrap_or(1.0).max(1e-3);
                    out.push_str(&format!(
                        "  {:<5} {:>8.0} packets/s  {:>14}  delay {}  loss {}  lateness p99 {}  drops {} (rate) {} (overflow)\n",
                        w["direction"].as_str().unwrap_or("?"),
                        f("received").unwrap_or(0.0) / secs,
                        units::format_rate(f("rate_bps").unwrap_or(0.0).round() as u64) + "/s",
                        f("delay_mean_ms").map_or("–".into(), |v| format!("{v:.1} ms")),
                        match (f("lost"), f("received")) {
                            (Some(l), Some(r)) if r > 0.0 => format!("{:.1} %", 100.0 * l / r),
                            _ => "–".into(),
                        },
                        f("lateness_p99_us").map_or("–".into(), |v| format!("{v:.0} µs")),
                        f("dropped_rate").unwrap_or(0.0),
                        f("dropped_overflow").unwrap_or(0.0),
                    ));
                }
            }
            output::print(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        NetCommand::Set { network, set, .. } => {
            let states = wotemu_lab::live::states(&mut conn, &stack)?;
            let base = states
                .iter()
                .find(|s| s.network == network)
                .and_then(|s| s.conditions())
                .unwrap_or_default();
            let c = conditions_from(&set, base)?;
            // The same checks as the topology's (percentages, rates above 0).
            Spec::from_json(&wotemu_lab::fidelity::conditions_json(&c))
                .context("checking the conditions")?;
            wotemu_lab::live::set(&mut conn, &stack, &network, &c)?;
            // Applied when the gateway's state shows them (it writes it every second).
            let want = wotemu_gateway::account::conditions_json(&c);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                let now = wotemu_lab::live::states(&mut conn, &stack)?;
                if now
                    .iter()
                    .any(|s| s.network == network && s.state["conditions"] == want)
                {
                    output::say(&format!(
                        "Network {network} now has {want}; the change is in the run's timeline."
                    ));
                    return Ok(ExitCode::SUCCESS);
                }
                if std::time::Instant::now() > deadline {
                    bail!("the gateway of {network} has not applied the change within 5 s (is it running? `wotemu net show`)");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
