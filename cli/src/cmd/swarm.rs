//! `wotemu stop --compose-file FILE --stack NAME`, `wotemu docker-api-proxy` and `wotemu scenario`: glue over
//! `wotemu-swarm`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{DockerApiProxyArgs, RedisServerArgs, ScenarioArgs, StopArgs};
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
    // The stack's password: from the file its compose file names, else from its secret's label.
    let password = match (&args.compose_file, &compose) {
        (Some(f), Some(text)) => match wotemu_swarm::password::file_of_compose(f, text) {
            Some(file) => Some(wotemu_swarm::password::read(&file).with_context(|| {
                format!(
                    "the compose file {} names the password file {}",
                    f.display(),
                    file.display()
                )
            })?),
            None => None,
        },
        _ => None,
    };
    let password = match password {
        Some(p) => Some(p),
        None => wotemu_swarm::password::of_stack(&stack).unwrap_or_else(|e| {
            tracing::debug!(error = %e, "No password found for the stack.");
            None
        }),
    };
    let redis_url = match &password {
        Some(p) => wotemu_contract::redact::with_password(&args.redis_url, p),
        None => args.redis_url.clone(),
    };
    let opts = wotemu_swarm::StopOptions {
        out: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(&stack)),
        stack: stack.clone(),
        compose,
        redis_url,
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

pub(crate) fn scenario(args: ScenarioArgs) -> anyhow::Result<ExitCode> {
    let events: Vec<wotemu_topology::model::ScenarioEvent> = serde_json::from_str(&args.events)
        .context("--events is not a scenario as `wotemu compose` writes it")?;
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let c = wotemu_agent::AgentConfig::from_env(&env, "");
    let stop = super::stop_on_signal();
    let recorder = wotemu_agent::events::EventRecorder::start(
        &c,
        serde_json::json!({"events": events.len(), "engine": "swarm"}),
    )
    .context("starting the scenario's recorder")?;
    let cfg = wotemu_swarm::scenario::ScenarioConfig {
        stack: c.stack.clone(),
        redis_url: c.redis_url.clone(),
        events,
        nodes: args.nodes,
        start_timeout: Duration::from_secs(args.start_timeout),
    };
    output::say(&format!(
        "scenario: {} events for stack {}",
        cfg.events.len(),
        cfg.stack
    ));
    let result = wotemu_swarm::scenario::run(&cfg, &stop, &mut |d| {
        recorder.push(wotemu_contract::table::TimelineEvent {
            task: recorder.task().to_owned(),
            node: recorder.node().to_owned(),
            time: wotemu_contract::time_util::now_us(),
            planned: Some(d.planned_us),
            kind: "scenario".into(),
            target: d.target,
            outcome: d.outcome.into(),
            error: d.error,
            detail: Some(d.detail.to_string()),
        });
    });
    let error = result.as_ref().err().map(|e| e.to_string());
    let drained = recorder.finish(error);
    if drained.left_in_spool > 0 {
        tracing::warn!(
            left = drained.left_in_spool,
            spool = %drained.spool_path.display(),
            "Events left in the spool: Redis could not take them."
        );
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The URL of a Swarm stack's Redis with its password, when the stack has one and the URL none.
pub(crate) fn stack_redis_url(url: &str, stack: &str) -> String {
    if !url.starts_with("redis://") || url.contains('@') {
        return url.to_owned();
    }
    match wotemu_swarm::password::of_stack(stack) {
        Ok(Some(p)) => wotemu_contract::redact::with_password(url, &p),
        Ok(None) => url.to_owned(),
        Err(e) => {
            tracing::debug!(error = %e, "The stack's password was not looked up.");
            url.to_owned()
        }
    }
}

pub(crate) fn redis_server(args: RedisServerArgs) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let mut config = String::new();
    if let Some(f) = &args.password_file {
        let pw = wotemu_swarm::password::read(f)?;
        anyhow::ensure!(!pw.is_empty(), "the password file {} is empty", f.display());
        config.push_str(&format!("requirepass {pw}\n"));
    }
    // The configuration goes through a pipe (it fits its buffer): the password is on no command line.
    let reader = wotemu_sys::process::pipe_with(config.as_bytes())
        .context("handing the configuration to redis-server through a pipe")?;
    let err = std::process::Command::new(&args.program)
        .arg("-")
        .args([
            "--bind",
            "0.0.0.0",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            // Every agent, gateway and the scenario service hold a connection: Redis's default of 10,000
            // clients is a 10,000-replica stack's ceiling (Redis lowers it to what its open-files limit allows).
            "--maxclients",
            "100000",
        ])
        .args(&args.args)
        .stdin(reader)
        .exec();
    Err(anyhow::anyhow!(
        "could not run {}: {err} (install Redis, e.g. apt-get install redis-server)",
        args.program.display()
    ))
}
