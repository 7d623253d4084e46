//! `wotemu agent`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use wotemu_agent::AgentConfig;

use crate::cli::AgentArgs;
use crate::output;

/// The site-packages folder of a virtualenv.
fn site_packages(venv: &Path) -> anyhow::Result<PathBuf> {
    let lib = venv.join("lib");
    let entries = std::fs::read_dir(&lib).with_context(|| {
        format!(
            "{} is not a Python virtualenv (no lib/ folder)",
            venv.display()
        )
    })?;
    for e in entries.flatten() {
        let sp = e.path().join("site-packages");
        if e.file_name().to_string_lossy().starts_with("python") && sp.is_dir() {
            return Ok(sp);
        }
    }
    bail!(
        "{} is not a Python virtualenv (no lib/python*/site-packages); create it with scripts/setup.sh",
        venv.display()
    )
}

fn secs(what: &str, v: f64) -> anyhow::Result<Duration> {
    if !(v.is_finite() && v > 0.0) {
        bail!("--{what} must be a positive number of seconds, not {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

pub(crate) fn config(args: &AgentArgs) -> anyhow::Result<AgentConfig> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut cfg = AgentConfig::from_env(&env, &args.path);
    if let Some(v) = &args.redis_url {
        cfg.redis_url = v.clone();
    }
    if let Some(v) = &args.stack {
        cfg.stack = v.clone();
    }
    if let Some(v) = &args.task {
        cfg.task = v.clone();
        let parsed = wotemu_contract::task::TaskName::parse(v);
        cfg.node = parsed.node(Some(&cfg.stack)).to_owned();
        cfg.service = parsed.service.to_owned();
        cfg.slot = parsed.slot;
    }
    for pair in args.func_param.chunks(2) {
        if let [k, v] = pair {
            cfg.params.insert(k.clone(), v.clone());
        }
    }
    cfg.http = args.enable_http;
    cfg.ws = args.enable_ws;
    cfg.mqtt = args.enable_mqtt;
    cfg.coap = args.enable_coap;
    if cfg.mqtt && cfg.mqtt_broker_host.is_none() {
        bail!("--enable-mqtt needs the broker's host: set MQTT_BROKER_HOST (the topology's broker does it)");
    }
    cfg.sample_every = secs("sample-every", args.sample_every)?;
    cfg.flush_every = secs("flush-every", args.flush_every)?;
    cfg.drain_timeout = secs("drain-timeout", args.drain_timeout)?;
    if let Some(d) = &args.spool_dir {
        cfg.spool_dir = d.clone();
    }
    cfg.spool_max_bytes = args.spool_max_mib << 20;
    cfg.capture = !args.no_capture;
    cfg.capture_ifaces = args.capture_iface.clone();
    let venv = args
        .venv
        .clone()
        .or_else(|| env.get("WOTEMU_VENV").map(PathBuf::from))
        .or_else(|| env.get("VIRTUAL_ENV").map(PathBuf::from));
    if let Some(v) = venv {
        cfg.python_path.push(site_packages(&v)?);
    }
    // A relative app file is relative to where the agent was started.
    if Path::new(&cfg.app).extension().is_some_and(|e| e == "py") {
        if let Ok(abs) = std::path::absolute(&cfg.app) {
            cfg.app = abs.to_string_lossy().into_owned();
        }
    }
    Ok(cfg)
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
            output::print(&format!(
                "task {} (node {}, stack {})\napp {} with params {:?}\nbindings: http={} ws={} mqtt={} coap={}; ports {:?}\nredis {}\nsamples every {:?}, ships every {:?}; spool {} (max {} MiB); packets: {}\n",
                cfg.task, cfg.node, cfg.stack, cfg.app, cfg.params, cfg.http, cfg.ws, cfg.mqtt, cfg.coap, cfg.ports,
                wotemu_contract::redact::redact_url(&cfg.redis_url), cfg.sample_every, cfg.flush_every,
                cfg.spool_dir.display(), cfg.spool_max_bytes >> 20,
                if cfg.capture { "counted" } else { "not counted" },
            ))?;
        }
        return match checked {
            Ok(file) => {
                if !args.json {
                    output::say(&format!("The app loads: {file}"));
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(f) => bail!("the app does not load: {}\n{}", f.summary, f.traceback),
        };
    }
    if !args.route_via.is_empty() {
        super::net::route_via_all(&args.route_via, args.route_wait)?;
    }
    let task = cfg.task.clone();
    let out =
        wotemu_agent::run(cfg).with_context(|| format!("running the agent of task {task}"))?;
    if out.left_in_spool > 0 {
        output::warn(&format!(
            "Redis was unreachable until the end: {} batches wait in {}; they are shipped when an agent of this task runs again with the same spool",
            out.left_in_spool,
            out.spool_path.display()
        ));
    }
    if out.dropped_records > 0 {
        output::warn(&format!(
            "{} records were dropped (full buffers or spool); the dataset reports them per task",
            out.dropped_records
        ));
    }
    match (&out.state[..], &out.error) {
        ("failed", Some(e)) => {
            if out.load_error {
                bail!("the app of task {task} cannot be loaded: {e}");
            }
            bail!(
                "the app of task {task} failed: {e}\n{}",
                out.traceback.unwrap_or_default()
            )
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `wotemu zygote`: Python for the replicas' agents, started once (`wotemu_agent::zygote`). Each forked child
/// runs its command line as `wotemu` would, without setting up logging again.
pub(crate) fn zygote() -> anyhow::Result<ExitCode> {
    let mut python_path = Vec::new();
    if let Some(v) = std::env::var_os("WOTEMU_VENV").or_else(|| std::env::var_os("VIRTUAL_ENV")) {
        python_path.push(site_packages(Path::new(&v))?);
    }
    wotemu_agent::zygote::serve(&python_path, crate::run_args).context("the zygote")?;
    Ok(ExitCode::SUCCESS)
}
