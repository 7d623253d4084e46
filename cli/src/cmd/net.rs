//! `wotemu gateway`, `wotemu route` and `wotemu fidelity`: the network emulation's commands.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use wotemu_gateway::{route as rt, Backend, GatewayOptions, Spec};
use wotemu_topology::model::{Conditions, ConditionsEdit};

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

fn backend(arg: BackendArg, spec: &Spec) -> anyhow::Result<(Backend, String)> {
    let asked = match arg {
        BackendArg::Auto => None,
        BackendArg::Kernel => Some(Backend::Kernel),
        BackendArg::Userspace => Some(Backend::Userspace),
    };
    Ok(Backend::pick(asked, spec)?)
}

pub(crate) fn gateway(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    need_root("wotemu gateway")?;
    let json = args
        .conditions
        .clone()
        .or(args.legacy.clone())
        .context("give the conditions: --conditions '{\"latency\": 300, \"jitter\": 150, \"rate\": \"1.5mbit\"}'")?;
    let spec = Spec::from_json(&json).context("reading --conditions")?;
    let (backend, reason) = backend(args.backend, &spec)?;
    let network = args.network.clone().unwrap_or_else(|| "network".into());
    let opts = GatewayOptions {
        backend,
        ports: wotemu_gateway::service::ports(&args.ports),
        queue_num: args.queue,
        devices: args.devices.clone(),
        seed: args.seed.unwrap_or_else(wotemu_gateway::sys::monotonic_ns),
        windows: true,
        elapsed_ms: args
            .schedule_from_us
            .map(|t| ((wotemu_contract::time_util::now_us() - t) as f64 / 1000.0).max(0.0))
            .unwrap_or(0.0),
    };
    // The environment of an agent (REDIS_URL with the password file, WOTEMU_STACK, WOTEMU_TASK, …).
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let svc = wotemu_gateway::service::ServiceOptions {
        network: network.clone(),
        reason: reason.clone(),
        ready_file: args.ready_file.clone(),
        stats_file: args.stats_file.clone(),
        record: args
            .record
            .then(|| wotemu_gateway::recorder::RecorderConfig {
                producer: wotemu_ship::ProducerConfig::from_env(&env),
                network,
                backend,
                reason,
                schedule_from_us: args.schedule_from_us,
            }),
    };
    let summary =
        wotemu_gateway::service::serve(&spec, &opts, &svc, &wotemu_sys::signals::stop_flag())
            .context("running the gateway")?;
    if args.json {
        output::json(&summary)?;
    }
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

/// What the agent and the broker do first in a Swarm task: route via each network's gateway.
pub(crate) fn route_via_all(gateways: &[String], wait: f64) -> anyhow::Result<()> {
    for r in rt::via_all(gateways, Duration::from_secs_f64(wait.max(0.0)))? {
        say_route(&r);
    }
    Ok(())
}

/// Conditions from flags: the preset if one is given, else `base`, then each figure given.
fn conditions_from(a: &ConditionFlags, base: Conditions) -> anyhow::Result<Conditions> {
    Ok(ConditionsEdit {
        preset: a.conditions.clone(),
        delay: a.delay.clone(),
        jitter: a.jitter.clone(),
        rate: a.rate.clone(),
        rate_up: a.rate_up.clone(),
        loss: a.loss.clone(),
        duplicate: a.duplicate.clone(),
        corrupt: a.corrupt.clone(),
        reorder: a.reorder.clone(),
    }
    .apply(base)?)
}

pub(crate) fn fidelity(args: FidelityArgs) -> anyhow::Result<ExitCode> {
    need_root("wotemu fidelity")?;
    let c = conditions_from(&args.set, Conditions::default())?;
    let spec = Spec::from_json(&wotemu_lab::fidelity::conditions_json(&c))
        .context("checking the conditions")?;
    let (backend, why) = backend(args.backend, &spec)?;
    let sigs = wotemu_sys::signals::channel();
    let quiet = output::quiet() || args.json;
    let (trace, trace_secs) = match &args.trace {
        None => (None, 0.0),
        Some(file) => {
            let t =
                wotemu_topology::trace::read_file(file, args.linear).map_err(anyhow::Error::msg)?;
            let secs = args
                .duration
                .unwrap_or_else(|| wotemu_lab::fidelity::trace_secs(&t));
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
    let report = wotemu_lab::fidelity::FidelityReport::new(c, backend, why, measured);
    if args.json {
        output::json(&report)?;
    } else {
        output::print(&report.describe())?;
    }
    Ok(if report.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `wotemu broker`: routes, then becomes mosquitto.
pub(crate) fn broker(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    if !args.route_via.is_empty() {
        route_via_all(&args.route_via, args.route_wait)?;
    }
    output::say(&format!("MQTT broker on port {} (mosquitto)", args.port));
    Err(wotemu_swarm::broker::exec(args.port, &args.mosquitto).into())
}

/// The Redis and stack of a running emulation.
fn live_target(t: &LiveTarget) -> anyhow::Result<wotemu_lab::live::Target> {
    let stack = match &t.run {
        Some(_) => None,
        None => super::stack_or_env(&t.stack),
    };
    Ok(match stack {
        Some(stack) => wotemu_lab::live::Target {
            redis_url: wotemu_swarm::password::stack_redis_url(&t.redis_url, &stack),
            stack,
        },
        None => wotemu_lab::live::running_run(t.run.as_deref())?,
    })
}

pub(crate) fn live(cmd: NetCommand) -> anyhow::Result<ExitCode> {
    let target = match &cmd {
        NetCommand::Show { target, .. } | NetCommand::Set { target, .. } => live_target(target)?,
    };
    let mut conn = wotemu_lab::live::connect(&target)?;
    let stack = &target.stack;
    match cmd {
        NetCommand::Show { json, .. } => {
            let states = wotemu_lab::live::states(&mut conn, stack)?;
            if json {
                // `[{"network": …, "state": …}]`, as `wotemu net show --json` has always printed it.
                let shown: Vec<serde_json::Value> = states
                    .iter()
                    .map(|s| serde_json::json!({"network": s.network, "state": s}))
                    .collect();
                output::json(&shown)?;
            } else if states.is_empty() {
                output::say(&format!("No gateway of `{stack}` has recorded its state yet (gateways write it every second)."));
            } else {
                output::print(&wotemu_lab::live::describe(&states))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        NetCommand::Set { network, set, .. } => {
            let states = wotemu_lab::live::states(&mut conn, stack)?;
            let base = states
                .iter()
                .find(|s| s.network == network)
                .and_then(wotemu_lab::live::conditions)
                .unwrap_or_default();
            let c = conditions_from(&set, base)?;
            // The same checks as the topology's (percentages, rates above 0).
            Spec::from_json(&wotemu_lab::fidelity::conditions_json(&c))
                .context("checking the conditions")?;
            let now =
                wotemu_lab::live::apply(&mut conn, stack, &network, &c, Duration::from_secs(5))?;
            output::say(&format!(
                "Network {network} now has {now}; the change is in the run's timeline."
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}
