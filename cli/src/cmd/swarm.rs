//! `wotemu stop --compose-file FILE --stack NAME` and `wotemu docker-api-proxy`: glue over `wotemu-swarm`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{DockerApiProxyArgs, StopArgs};
use crate::output::{self, Bar};

pub(crate) fn stop(args: StopArgs) -> anyhow::Result<ExitCode> {
    let stack = args.stack.clone().expect("called with --stack");
    let compose = match &args.compose_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the compose file {}", f.display()))?,
        ),
        None => None,
    };
    let opts = wotemu_swarm::StopOptions {
        out: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(&stack)),
        stack: stack.clone(),
        compose,
        redis_url: args.redis_url.clone(),
        wait: Duration::from_secs_f64(args.wait.max(0.0)),
    };
    let bar = Bar::new();
    let done = wotemu_swarm::stop(&opts, &bar)?;
    let summary = done.collected.as_ref().expect("stop collects");
    for w in &done.warnings {
        output::warn(w);
    }
    if args.json {
        output::json(&serde_json::json!({
            "stack": done.stack,
            "tasks": done.tasks.len(),
            "failed_tasks": done.failed_tasks,
            "removed_services": done.removed_services,
            "kept_services": done.kept_services,
            "agents_finished": done.agents_finished,
            "agents_waited_for": done.agents_waited_for,
            "dataset": opts.out,
            "records": summary.records,
            "problems": summary.manifest.problems.len(),
            "seconds": done.seconds,
        }))?;
    } else {
        output::say(&format!(
            "Stopped stack `{stack}`: {} tasks recorded ({} failed), {} services removed, {}/{} agents finished ({:.1} s).",
            done.tasks.len(),
            done.failed_tasks.len(),
            done.removed_services.len(),
            done.agents_finished,
            done.agents_waited_for,
            done.seconds.values().sum::<f64>()
        ));
        output::say(&format!(
            "Dataset: {} ({} records). Report: wotemu report --dataset {} --out {}/site",
            opts.out.display(),
            summary.records,
            opts.out.display(),
            opts.out.display()
        ));
        output::say(&format!(
            "Redis ({}) is still up for `wotemu report --stack {stack}`; remove it when done: docker stack rm {stack}",
            done.kept_services.join(", ")
        ));
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
