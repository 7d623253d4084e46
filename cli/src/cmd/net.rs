//! `wotemu gateway`, `wotemu route` and `wotemu fidelity`: the network emulation's commands.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use wotemu_gateway::fidelity::Figure;
use wotemu_gateway::{route as rt, Backend, GatewayOptions, Spec};
use wotemu_topology::model::{Conditions, Preset};
use wotemu_topology::units;

use crate::cli::{BackendArg, BrokerArgs, FidelityArgs, GatewayArgs, RouteArgs};
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
        .or(args.legacy)
        .context("give the conditions: --conditions '{\"latency\": 300, \"jitter\": 150, \"rate\": \"1.5mbit\"}'")?;
    let spec = Spec::from_json(&json).context("reading --conditions")?;
    let (backend, why) = backend(args.backend, &spec);
    if backend == Backend::Kernel && !wotemu_gateway::kernel::has_netem() {
        bail!("--backend kernel: this kernel has no sch_netem; use --backend userspace (or auto)");
    }
    let (tcp, udp) = rt::ports_from_env();
    let mut ports: Vec<u16> = tcp.into_iter().chain(udp).chain(args.ports).collect();
    ports.sort_unstable();
    ports.dedup();
    let net = args.network.unwrap_or_else(|| "network".into());
    tracing::info!(network = %net, ?backend, why = %why, conditions = ?spec.base, "gateway starting");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let sigs = wotemu_sys::signals::channel();
        let stop = stop.clone();
        std::thread::spawn(move || {
            if sigs.recv().is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let opts = GatewayOptions {
        backend,
        ports,
        queue_num: args.queue,
        devices: args.devices,
        seed: args.seed.unwrap_or_else(wotemu_gateway::sys::monotonic_ns),
    };
    let stats_file = args.stats_file.clone();
    #[derive(Serialize)]
    struct Out<'a> {
        network: &'a str,
        backend: Backend,
        reason: &'a str,
        #[serde(flatten)]
        report: &'a wotemu_gateway::userspace::Report,
    }
    let report = wotemu_gateway::run_gateway(
        &spec,
        &opts,
        &stop,
        || {
            if let Some(f) = &args.ready_file {
                write_status(f, b"ready\n");
            }
        },
        |r| {
            if let Some(f) = &stats_file {
                let out = Out {
                    network: &net,
                    backend,
                    reason: &why,
                    report: r,
                };
                write_status(f, &serde_json::to_vec(&out).unwrap_or_default());
            }
        },
    )
    .context("running the gateway")?;
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

fn fidelity_conditions(a: &FidelityArgs) -> anyhow::Result<Conditions> {
    let mut c = match &a.conditions {
        Some(p) => Preset::parse(p)
            .with_context(|| {
                format!(
                    "unknown preset `{p}`; presets: {}",
                    Preset::ALL.map(|p| p.name()).join(", ")
                )
            })?
            .conditions(),
        None => Conditions::default(),
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
    let c = fidelity_conditions(&args)?;
    let spec = Spec::from_json(&wotemu_lab::fidelity::conditions_json(&c))
        .context("checking the conditions")?;
    let (backend, why) = backend(args.backend, &spec);
    let sigs = wotemu_sys::signals::channel();
    let quiet = output::quiet() || args.json;
    let opts = wotemu_lab::fidelity::FidelityOptions {
        conditions: c,
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
