//! `wotemu stop --compose-file FILE --stack NAME`, `wotemu docker-api-proxy` and `wotemu scenario`: glue over
//! `wotemu-swarm`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{DockerApiProxyArgs, RedisServerArgs, ScenarioArgs, StopArgs, SwarmCommand};
use crate::output::{self, Bar};

pub(crate) fn stop(args: StopArgs) -> anyhow::Result<ExitCode> {
    let stack = args.stack.clone().expect("called with --stack");
    let opts = wotemu_swarm::StopOptions::new(
        &stack,
        args.compose_file.as_deref(),
        &args.redis.redis_url,
        args.out.clone(),
        Duration::from_secs_f64(args.wait.max(0.0)),
    )?;
    let bar = Bar::new();
    let done = wotemu_swarm::stop(&opts, &bar)?;
    let summary = done.collected.as_ref().expect("stop collects");
    for w in &done.warnings {
        output::warn(w);
    }
    if args.json {
        output::json(&done.summary(&opts.out))?;
    } else {
        output::say(&done.describe(&opts.out));
    }
    Ok(crate::outcome::of_dataset(&summary.manifest, &opts.out))
}

pub(crate) fn proxy(args: DockerApiProxyArgs) -> anyhow::Result<ExitCode> {
    wotemu_swarm::proxy::serve_forever(&args.listen, &args.socket, |sections| {
        output::say(&format!(
            "docker-api-proxy: read-only Docker API on {} for {sections:?} (socket {})",
            args.listen,
            args.socket.display()
        ));
    })?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn scenario(args: ScenarioArgs) -> anyhow::Result<ExitCode> {
    let events: Vec<wotemu_topology::model::ScenarioEvent> = serde_json::from_str(&args.events)
        .context("--events is not a scenario as `wotemu compose` writes it")?;
    output::say(&format!("scenario: {} events", events.len()));
    wotemu_swarm::scenario::serve(
        events,
        args.nodes,
        Duration::from_secs(args.start_timeout),
        &wotemu_sys::signals::stop_flag(),
    )?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn scenario_exec() -> anyhow::Result<ExitCode> {
    wotemu_swarm::host_exec::serve(&wotemu_sys::signals::stop_flag())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn redis_server(args: RedisServerArgs) -> anyhow::Result<ExitCode> {
    Err(
        wotemu_swarm::redis_server::exec(&args.program, args.password_file.as_deref(), &args.args)
            .into(),
    )
}

/// `wotemu swarm up | status | down`.
pub(crate) fn hosts(cmd: SwarmCommand) -> anyhow::Result<ExitCode> {
    use wotemu_swarm::hosts;
    match cmd {
        SwarmCommand::Up {
            hosts: n,
            cpus,
            memory,
            registry_port,
        } => {
            let mut opts = hosts::UpOptions::new(n.into());
            (opts.cpus, opts.memory, opts.registry_port) = (cpus, memory, registry_port);
            let made = hosts::up(&opts, &|s| output::note(&format!("  {s}")))
                .context("making the local Swarm")?;
            output::say(&made.describe());
        }
        SwarmCommand::Status { json } => {
            let all = hosts::status()?;
            if json {
                output::json(&all)?;
            } else {
                output::print(hosts::describe(&all))?;
            }
        }
        SwarmCommand::Down { prune } => {
            let done = hosts::down(prune)?;
            for p in &done.problems {
                output::warn(p);
            }
            output::say(&done.describe());
            return Ok(ExitCode::from(u8::from(!done.problems.is_empty())));
        }
    }
    Ok(ExitCode::SUCCESS)
}
