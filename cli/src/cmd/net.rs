//! `wotemu gateway`, `wotemu route` and `wotemu fidelity`: the network emulation's commands.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use wotemu_gateway::{route as rt, Backend};

use crate::cli::{
    BackendArg, BrokerArgs, FidelityArgs, GatewayArgs, LiveTarget, NetCommand, RouteArgs, RouteVia,
};
use crate::output;

fn backend_asked(arg: BackendArg) -> Option<Backend> {
    match arg {
        BackendArg::Auto => None,
        BackendArg::Kernel => Some(Backend::Kernel),
        BackendArg::Userspace => Some(Backend::Userspace),
    }
}

pub(crate) fn gateway(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    let req = wotemu_gateway::service::Request {
        conditions: args.conditions.or(args.legacy).context(
            "give the conditions: --conditions '{\"latency\": 300, \"jitter\": 150, \"rate\": \"1.5mbit\"}'",
        )?,
        network: args.network,
        backend: backend_asked(args.backend),
        queue_num: args.queue,
        devices: args.devices,
        extra_ports: args.ports,
        seed: args.seed,
        ready_file: args.ready_file,
        stats_file: args.stats_file,
        record: args.record,
        schedule_from_us: args.schedule_from_us,
    };
    // The environment of an agent (REDIS_URL with the password file, WOTEMU_STACK, WOTEMU_TASK, …).
    let env = std::env::vars().collect();
    let summary = req
        .serve(&env, &wotemu_sys::signals::stop_flag())
        .context("running the gateway")?;
    if args.json {
        output::json(&summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn route(args: RouteArgs) -> anyhow::Result<ExitCode> {
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
        output::say(&r.to_string());
    }
    Ok(ExitCode::SUCCESS)
}

/// What the agent and the broker do first in a Swarm task: route via each network's gateway.
pub(crate) fn route_via_all(route: &RouteVia) -> anyhow::Result<()> {
    for r in rt::via_all(&route.via, Duration::from_secs_f64(route.wait.max(0.0)))? {
        output::say(&r.to_string());
    }
    Ok(())
}

pub(crate) fn fidelity(args: FidelityArgs) -> anyhow::Result<ExitCode> {
    let trace = (args.trace.as_deref(), args.linear, args.duration);
    let exe = std::env::current_exe().context("finding the wotemu binary")?;
    let asked = backend_asked(args.backend);
    let opts = wotemu_lab::fidelity::FidelityOptions::new(&args.set, asked, trace, args.seed, exe)?;
    let quiet = output::quiet() || args.json;
    let sigs = wotemu_sys::signals::channel();
    let measured = wotemu_lab::fidelity::measure(&opts, &sigs, &|phase| {
        if !quiet {
            output::note(&format!("  measuring {phase}…"));
        }
    })?;
    let report = wotemu_lab::fidelity::FidelityReport::new(&opts, measured);
    if args.json {
        output::json(&report)?;
    } else {
        output::print(report.describe())?;
    }
    // 1: a figure is out of tolerance.
    Ok(ExitCode::from(u8::from(!report.pass)))
}

/// `wotemu broker`: routes, then becomes mosquitto.
pub(crate) fn broker(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    if !args.route.via.is_empty() {
        route_via_all(&args.route)?;
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
            redis_url: wotemu_swarm::password::stack_redis_url(&t.redis.redis_url, &stack),
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
                output::json(&wotemu_lab::live::states_json(&states))?;
            } else {
                output::print(wotemu_lab::live::describe(&states, stack))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        NetCommand::Set { network, set, .. } => {
            let now =
                wotemu_lab::live::edit(&mut conn, stack, &network, &set, Duration::from_secs(5))?;
            output::say(&format!(
                "Network {network} now has {now}; the change is in the run's timeline."
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}
