//! `wotemu agent`

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Context};
use wotemu_agent::AgentConfig;

use crate::cli::AgentArgs;
use crate::output;

pub(crate) fn config(args: &AgentArgs) -> anyhow::Result<AgentConfig> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let site_packages = match args.venv.clone().or_else(wotemu_lab::venv::from_env) {
        Some(v) => Some(wotemu_lab::venv::site_packages(&v)?),
        None => None,
    };
    Ok(AgentConfig::from_env(&env, &args.path).with(args.config.clone(), site_packages)?)
}

pub(crate) fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(&args)?;
    if args.dry_run {
        let checked = wotemu_agent::python::check_app(&cfg);
        if args.json {
            output::json(&serde_json::json!({
                "config": cfg,
                "app_file": checked.as_ref().ok(),
                "error": checked.as_ref().err().map(|f| &f.summary),
            }))?;
        } else {
            output::say(&cfg.describe());
            if let Ok(file) = &checked {
                output::say(&format!("The app loads: {file}"));
            }
        }
        return checked
            .map(|_| ExitCode::SUCCESS)
            .map_err(|f| anyhow::anyhow!("the app does not load: {}\n{}", f.summary, f.traceback));
    }
    if !args.route.via.is_empty() {
        super::net::route_via_all(&args.route)?;
    }
    let task = cfg.task.clone();
    let out =
        wotemu_agent::run(cfg).with_context(|| format!("running the agent of task {task}"))?;
    for w in out.warnings() {
        output::warn(&w);
    }
    match out.failure(&task) {
        Some(why) => bail!("{why}"),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `wotemu zygote`: Python for the replicas' agents, started once (`wotemu_agent::zygote`). Each forked child
/// runs its command line as `wotemu` would, without setting up logging again.
pub(crate) fn zygote() -> anyhow::Result<ExitCode> {
    let mut python_path = Vec::new();
    if let Some(v) = wotemu_lab::venv::from_env() {
        python_path.push(wotemu_lab::venv::site_packages(&v)?);
    }
    wotemu_agent::zygote::serve(&python_path, crate::run_args).context("the zygote")?;
    Ok(ExitCode::SUCCESS)
}
