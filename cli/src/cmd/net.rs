//! `wotemu gateway`, `wotemu route` and `wotemu fidelity`: the network emulation's commands.

use std::net::{Ipv4Addr, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use wotemu_gateway::fidelity::{self, Figure};
use wotemu_gateway::{route as rt, Backend, GatewayOptions, Spec};
use wotemu_topology::model::{Conditions, Preset};
use wotemu_topology::units;

use crate::cli::{BackendArg, BrokerArgs, FidelityArgs, GatewayArgs, RouteArgs};
use crate::lab::{self, State};
use crate::output;

fn need_root(what: &str) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
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

fn write_atomic(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, path);
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
        let sigs = super::run::signals();
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
    let ready_file = args.ready_file.clone();
    let mut ready_done = false;
    let mut mark_ready = move || {
        if !ready_done {
            if let Some(f) = &ready_file {
                write_atomic(f, b"ready\n");
            }
            ready_done = true;
        }
    };
    if backend == Backend::Kernel {
        mark_ready();
    }
    #[derive(Serialize)]
    struct Out<'a> {
        network: &'a str,
        backend: Backend,
        reason: &'a str,
        #[serde(flatten)]
        report: &'a wotemu_gateway::userspace::Report,
    }
    // The userspace backend is in place once its first tick runs; mark ready from a thread that waits
    // for the rules instead of the first second.
    let report = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        if backend == Backend::Userspace {
            s.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if rx.recv_timeout(Duration::from_millis(5)).is_ok() {
                        return;
                    }
                    let ok = Command::new("iptables")
                        .args([
                            "-w",
                            "-t",
                            "mangle",
                            "-C",
                            "WOTEMU_GW",
                            "-j",
                            "NFQUEUE",
                            "--queue-num",
                        ])
                        .arg(args.queue.to_string())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                    if ok {
                        mark_ready();
                        return;
                    }
                }
            });
        }
        let r = wotemu_gateway::run_gateway(&spec, &opts, &stop, |r| {
            if let Some(f) = &stats_file {
                let out = Out {
                    network: &net,
                    backend,
                    reason: &why,
                    report: r,
                };
                write_atomic(f, &serde_json::to_vec(&out).unwrap_or_default());
            }
        });
        drop(tx);
        r
    })
    .context("running the gateway")?;
    let out = Out {
        network: &net,
        backend,
        reason: &why,
        report: &report,
    };
    if let Some(f) = &args.stats_file {
        write_atomic(f, &serde_json::to_vec(&out)?);
    }
    if args.json {
        output::json(&out)?;
    }
    tracing::info!(?report, "gateway stopped");
    Ok(ExitCode::SUCCESS)
}

/// The local IPv4 addresses with their prefix lengths (`ip -o -4 addr`).
fn local_addrs() -> anyhow::Result<Vec<(Ipv4Addr, u8)>> {
    let out = wotemu_gateway::sys::output("ip", &["-o", "-4", "addr", "show"])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            it.find(|w| *w == "inet")?;
            let (a, p) = it.next()?.split_once('/')?;
            Some((a.parse().ok()?, p.parse().ok()?))
        })
        .collect())
}

fn in_subnet(a: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    };
    u32::from(a) & mask == u32::from(net) & mask
}

pub(crate) fn route(args: RouteArgs) -> anyhow::Result<ExitCode> {
    need_root("wotemu route")?;
    let r = plan_route(
        &args.gateway,
        args.subnet,
        args.index,
        (args.tcp_ports, args.udp_ports),
        args.wait,
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
        let r = plan_route(gw, None, index, (Vec::new(), Vec::new()), wait)?;
        rt::install(&r).with_context(|| format!("routing the WoT traffic via `{gw}`"))?;
        say_route(&r);
    }
    Ok(())
}

/// The routing via `gateway` (an address or a name resolved with retries for `wait` seconds) in the local
/// network it belongs to, with the ports given or else those of the environment.
fn plan_route(
    gateway: &str,
    subnet: Option<String>,
    index: u8,
    (tcp_ports, udp_ports): (Vec<u16>, Vec<u16>),
    wait: f64,
) -> anyhow::Result<rt::Route> {
    let deadline = Instant::now() + Duration::from_secs_f64(wait.max(0.0));
    let gw: Ipv4Addr = loop {
        if let Ok(a) = gateway.parse() {
            break a;
        }
        let found = (gateway, 0).to_socket_addrs().ok().and_then(|mut it| {
            it.find_map(|a| match a.ip() {
                std::net::IpAddr::V4(v) => Some(v),
                _ => None,
            })
        });
        if let Some(a) = found {
            break a;
        }
        if Instant::now() > deadline {
            bail!(
                "the gateway `{gateway}` does not resolve (waited {wait} s); is its service running?"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let subnet = match subnet {
        Some(s) => s,
        None => {
            let (a, p) = local_addrs()?
                .into_iter()
                .find(|(a, p)| in_subnet(gw, *a, *p))
                .with_context(|| {
                    format!("no local address is in the network of the gateway {gw}; give --subnet")
                })?;
            let mask = if p == 0 {
                0
            } else {
                u32::MAX << (32 - p as u32)
            };
            format!("{}/{p}", Ipv4Addr::from(u32::from(a) & mask))
        }
    };
    let (mut tcp, mut udp) = rt::ports_from_env();
    if !tcp_ports.is_empty() {
        tcp = tcp_ports;
    }
    if !udp_ports.is_empty() {
        udp = udp_ports;
    }
    Ok(rt::Route {
        subnet,
        gateway: gw.to_string(),
        index: index.min(99),
        tcp_ports: tcp,
        udp_ports: udp,
    })
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

/// The conditions as the gateway reads them: the JSON `wotemu compose` writes.
fn conditions_json(c: &Conditions) -> String {
    serde_json::Value::Object(wotemu_topology::compose::conditions_object(c)).to_string()
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

/// The fidelity lab: `wtm-fXXXX` (bridge) and `-a`, `-b`, `-gw` hosts on 10.78.0.0/24.
fn build_fidelity_lab(state: &mut State) -> anyhow::Result<fidelity::Lab> {
    let lab_ns = state.lab_ns();
    state.add_ns(&lab_ns)?;
    lab::ip(&["-n", &lab_ns, "link", "add", "br0", "type", "bridge"])?;
    lab::ip(&["-n", &lab_ns, "link", "set", "br0", "up"])?;
    state.bridge_netfilter_off();
    for (i, host) in ["gw", "a", "b"].iter().enumerate() {
        let ns = format!("{lab_ns}-{host}");
        state.add_ns(&ns)?;
        lab::plug(
            &lab_ns,
            "br0",
            &format!("p{i}"),
            &ns,
            "eth0",
            &format!("10.78.0.{}/24", i + 1),
        )?;
    }
    let route = rt::Route {
        subnet: "10.78.0.0/24".into(),
        gateway: "10.78.0.1".into(),
        index: 0,
        tcp_ports: vec![80, 81, 1883, 9090],
        udp_ports: vec![5683],
    };
    for host in ["a", "b"] {
        let r = route.clone();
        wotemu_gateway::probe::in_netns(&format!("{lab_ns}-{host}"), move || rt::install(&r))
            .join()
            .map_err(|_| anyhow::anyhow!("routing thread panicked"))??;
    }
    Ok(fidelity::Lab {
        a_ns: format!("{lab_ns}-a"),
        a_addr: Ipv4Addr::new(10, 78, 0, 2),
        b_ns: format!("{lab_ns}-b"),
        b_addr: Ipv4Addr::new(10, 78, 0, 3),
        wot_port: 5683,
        other_port: 7000,
    })
}

pub(crate) fn fidelity(args: FidelityArgs) -> anyhow::Result<ExitCode> {
    need_root("wotemu fidelity")?;
    let c = fidelity_conditions(&args)?;
    let spec = Spec::from_json(&conditions_json(&c)).context("checking the conditions")?;
    let (backend, why) = backend(args.backend, &spec);
    let mut state = State {
        run_id: format!("f{:04x}", std::process::id() & 0xffff),
        stack: "fidelity".into(),
        pid: std::process::id(),
        ..State::default()
    };
    state.save()?;
    let sigs = super::run::signals();
    let result = (|| -> anyhow::Result<FidelityOut> {
        let labcfg = build_fidelity_lab(&mut state).context("building the fidelity lab")?;
        let dir = state.dir();
        let ready = dir.join("gateway.ready");
        let stats = dir.join("gateway.json");
        let exe = std::env::current_exe().context("finding the wotemu binary")?;
        let gw_ns = format!("{}-gw", state.lab_ns());
        let mut child = Command::new("ip")
            .args(["netns", "exec", &gw_ns])
            .arg(&exe)
            .args(["-q", "gateway", "--network", "fidelity", "--conditions"])
            .arg(conditions_json(&c))
            .args([
                "--backend",
                if backend == Backend::Kernel {
                    "kernel"
                } else {
                    "userspace"
                },
            ])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--stats-file")
            .arg(&stats)
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting the gateway")?;
        state.pids.push(child.id());
        state.save()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while !ready.exists() {
            if let Some(st) = child.try_wait()? {
                bail!("the gateway exited before it was ready ({st}); see its messages above");
            }
            if Instant::now() > deadline {
                bail!("the gateway was not ready after 15 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let quiet = output::quiet() || args.json;
        let figures = std::thread::scope(|s| {
            let h = s.spawn(|| {
                fidelity::measure(&labcfg, &c, |phase| {
                    if !quiet {
                        output::note(&format!("  measuring {phase}…"));
                    }
                })
            });
            // Ctrl-C: stop waiting; the lab is removed below either way.
            loop {
                if h.is_finished() {
                    return h
                        .join()
                        .map_err(|_| anyhow::anyhow!("measurement panicked"));
                }
                if sigs.recv_timeout(Duration::from_millis(50)).is_ok() {
                    bail!("interrupted");
                }
            }
        })??;
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
        let _ = child.wait();
        let gateway = std::fs::read(&stats)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        Ok(FidelityOut {
            conditions: c,
            backend,
            reason: why.clone(),
            pass: figures.iter().all(|f| f.pass != Some(false)),
            figures,
            gateway,
        })
    })();
    let problems = state.teardown();
    for p in problems {
        output::warn(&p);
    }
    let out = result?;
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
