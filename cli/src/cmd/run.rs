//! `wotemu run`, `ps`, `stop --run` and `clean`: glue over the one-host runner (`wotemu-lab`), the collector
//! and the reporter.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wotemu_collector::{CollectOptions, Progress};
use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_lab::state;
use wotemu_lab::{Ended, Lab, Observer, PlanOptions, RunPlan, Status, Teardown};

use crate::cli::{CleanArgs, PsArgs, RunArgs, StopArgs};
use crate::output::{self, Bar};

/// Reads a duration flag: `60s`, `2m`, `1.5s`, or seconds as a plain number.
pub(crate) fn parse_duration(flag: &str, s: &str) -> anyhow::Result<Duration> {
    let ms = wotemu_topology::units::parse_duration_ms(s)
        .or_else(|_| {
            s.trim()
                .parse::<f64>()
                .map(|v| v * 1000.0)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            anyhow::anyhow!("{flag} {s:?} is not a duration ({e}); write e.g. 60s, 2m or 90")
        })?;
    if !(ms.is_finite() && ms >= 0.0) {
        bail!("{flag} {s:?} is not a duration; write e.g. 60s, 2m or 90");
    }
    Ok(Duration::from_millis(ms as u64))
}

/// The Python venv agents use: `WOTEMU_VENV`, `VIRTUAL_ENV`, the checkout's `.venv` (beside the binary's
/// `target/`), `./.venv`, or the installed one ([`installed_venv`], made by `wotemu venv --create`).
pub(crate) fn venv() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("WOTEMU_VENV").or_else(|| std::env::var_os("VIRTUAL_ENV")) {
        return Some(PathBuf::from(v));
    }
    // A checkout: target/<profile>/wotemu → <repo>/.venv; else ./.venv.
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            if dir.join(".venv/bin/python").exists() {
                return Some(dir.join(".venv"));
            }
        }
    }
    if Path::new(".venv/bin/python").exists() {
        return Some(PathBuf::from(".venv"));
    }
    installed_venv().filter(|v| v.join("bin/python").exists())
}

/// Where an installed wotemu keeps the apps' venv: `$XDG_DATA_HOME/wotemu/venv`, by default
/// `~/.local/share/wotemu/venv`.
pub(crate) fn installed_venv() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("wotemu/venv"))
}

/// The CLI side of a run's progress.
struct Shown {
    tty: bool,
}

impl Observer for Shown {
    fn say(&self, msg: &str) {
        output::say(msg);
    }
    fn warn(&self, msg: &str) {
        output::warn(msg);
    }
    fn status(&self, s: &Status) {
        if self.tty {
            let down = if s.down.is_empty() {
                String::new()
            } else {
                format!(" · DOWN: {}", s.down.join(", "))
            };
            output::status(&format!(
                "{:>4.0}s left of {:.0}s · {}/{} replicas running · {} interactions ({:.1}/s) · {} errors · {} restarts · {} outages{down}",
                s.left_s, s.total_s, s.running, s.nodes, s.interactions, s.rate, s.errors, s.restarts, s.outages
            ));
        }
    }
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let duration = parse_duration("--duration", &args.duration)?;
    let loaded = super::load_topology(&args.topology)?;
    let t = &loaded.topology;
    let stack = wotemu_lab::plan::stack_name(t, &args.topology);
    if !t.services.is_empty() {
        let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
        output::warn(&format!(
            "linked services ({}) are Docker containers: they run in the Swarm stack (`wotemu compose`), not in `wotemu run`, which leaves them out",
            names.join(", ")
        ));
    }
    let late = wotemu_topology::scenario::check(&t.scenario, duration.as_secs_f64() * 1000.0);
    if !late.is_empty() {
        bail!("{}", late.join("\n"));
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let ts: String = us_to_rfc3339(now_us())
            .replace([':', '-'], "")
            .chars()
            .take(15)
            .collect();
        PathBuf::from("runs").join(format!("{stack}-{ts}"))
    });
    if out.join("manifest.json").exists() {
        bail!(
            "{} already holds a run dataset; choose another --out or remove it",
            out.display()
        );
    }
    if cfg!(not(feature = "report")) && !args.no_report {
        bail!("this wotemu was built without the report (the images' binary): run with --no-report, or use a full wotemu (`cargo install --path cli`, or `scripts/setup.sh`)");
    }
    if args.detach {
        return detach(&out);
    }
    // A run that crashed before is saved first: its data is on this host and nobody else will save it.
    salvage_all("before this run")?;
    let exe = std::env::current_exe().context("locating the wotemu binary")?;
    let venv = venv();
    if venv.is_none() {
        output::warn("no Python venv with WoTPy found (set WOTEMU_VENV or run scripts/setup.sh; `wotemu doctor` checks this host); apps may not load");
    }
    let run_id = state::new_run_id();
    let mut popts = PlanOptions::new(&run_id, &stack);
    // `--redis-url` wins over the topology's external Redis (0.6's `TopologyRedis(enabled=False, …)`).
    popts.redis_url = args.redis_url.clone().or_else(|| t.external_redis.clone());
    popts.topology_dir = args
        .topology
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    popts.venv = venv;
    if wotemu_lab::cpu::wanted(t) {
        // Before anything is built: a target the host cannot give stops the run here.
        let (c, _) = super::cpu::calibration(false)?;
        popts.cpu_speeds = wotemu_lab::cpu::plan_speeds(t, &c).context("emulated CPU speed")?;
        for (node, s) in &popts.cpu_speeds {
            output::say(&format!(
                "CPU speed: node {node} at {} events/s = {:.1} % of one CPU (this host: {:.0} events/s)",
                s.target,
                s.quota * 100.0,
                s.host_speed
            ));
        }
    }
    let plan = RunPlan::new(t, &popts).context("planning the run")?;
    // The host's limits at this scale (process ids, open files, neighbour table, conntrack), before
    // anything is built.
    wotemu_lab::limits::check(&plan)?;
    let _span = tracing::info_span!("run", run = %run_id, stack = %stack).entered();
    let sigs = wotemu_sys::signals::channel();
    let mut lab = Lab::new(plan, &exe, &out)?;
    let mut started = false;
    let result = run_lab(
        &args,
        &loaded.text,
        &mut lab,
        duration,
        &sigs,
        &out,
        &mut started,
    );
    let how = if args.keep {
        output::say(&format!(
            "Kept the lab of run {run_id} (--keep); remove it with `wotemu clean`"
        ));
        Teardown::KeepAll
    } else if result.is_err() && started {
        // The run recorded something but its dataset was not written: keep its data for a salvage.
        output::warn(&format!(
            "the run's records are kept in {}: once the problem below is solved, `wotemu clean` saves them into {} (marked incomplete)",
            wotemu_lab::state::RunState::dir_of(std::path::Path::new(wotemu_lab::plan::STATE_ROOT), &run_id).display(),
            out.display()
        ));
        Teardown::KeepData
    } else {
        Teardown::All
    };
    let problems = lab.teardown(how);
    for p in &problems {
        output::warn(&format!("clean-up: {p}; run `wotemu clean`"));
    }
    result.map(|manifest| crate::outcome::of_dataset(&manifest, &out))
}

fn run_lab(
    args: &RunArgs,
    topology_text: &str,
    lab: &mut Lab,
    duration: Duration,
    sigs: &std::sync::mpsc::Receiver<i32>,
    out: &Path,
    ran: &mut bool,
) -> anyhow::Result<wotemu_contract::Manifest> {
    let started = Instant::now();
    let shown = Shown {
        tty: std::io::stderr().is_terminal() && !output::quiet(),
    };
    lab.build(topology_text, &shown).context(
        "building the run's lab (`wotemu doctor` checks everything a run needs on this host)",
    )?;
    let plan = lab.plan();
    output::say(&format!(
        "Running {} (run {}): {} replicas{} on {} networks for {:?}; Ctrl-C stops early. Logs: {}",
        plan.stack,
        plan.run_id,
        plan.initial_nodes().count(),
        match plan.nodes().count() - plan.initial_nodes().count() {
            0 => String::new(),
            later => format!(" (+{later} the scenario scales up to)"),
        },
        plan.networks.len(),
        duration,
        plan.logs_dir().display()
    ));
    *ran = true;
    let ended = lab.supervise(duration, sigs, &shown)?;
    if shown.tty {
        output::status_end();
    }
    if let Ended::Signal(sig) = ended {
        output::say(&format!("Stopping early (signal {sig})."));
    }
    let stop_started = Instant::now();
    let gateway_stats = lab.stop(sigs).context("stopping the run")?;

    // Collect and report.
    let bar = Bar::new();
    let mut opts = CollectOptions::new(&lab.redis_url(), &lab.plan().stack, out);
    opts.spool_dir = Some(lab.plan().state_dir.join("spool"));
    let summary = wotemu_collector::collect(&opts, &bar)
        .with_context(|| format!("collecting the run into {}", out.display()))?;
    bar.finish();
    // What each gateway did (backend, packets forwarded, lost, dropped, timing), beside the dataset.
    wotemu_sys::fs::write_atomic(
        &out.join("gateways.json"),
        &serde_json::to_vec_pretty(&gateway_stats)?,
    )
    .context("writing gateways.json")?;
    let site = out.join("site");
    if !args.no_report {
        super::render_report(out, &site)?;
    }
    let (outages, restarts) = lab.incidents();
    if outages + restarts > 0 {
        output::warn(&format!(
            "{outages} outages of the run's parts and {restarts} replica restarts; each is in the dataset's timeline and the report"
        ));
    }
    output::say(&format!(
        "Done in {:.1} s (stop, collect and report: {:.1} s).\n  dataset: {}\n  report:  {}",
        started.elapsed().as_secs_f64(),
        stop_started.elapsed().as_secs_f64(),
        out.display(),
        if args.no_report {
            "(--no-report)".to_owned()
        } else {
            site.join("index.html").display().to_string()
        }
    ));
    Ok(summary.manifest)
}

/// Starts this same command in the background (its own session), with an explicit --out, and returns.
fn detach(out: &Path) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the wotemu binary")?;
    let mut argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "-D" && a != "--detach")
        .collect();
    if !argv
        .iter()
        .any(|a| a == "--out" || a == "-o" || a.starts_with("--out="))
    {
        argv.extend(["--out".into(), out.to_string_lossy().into_owned()]);
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let log_path = out.with_extension("log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.args(&argv)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("WOTEMU_COLOR", "never");
    // SAFETY: setsid(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting the run in the background")?;
    output::say(&format!(
        "Started in the background (pid {}).\n  log:  {}\n  stop: wotemu stop --run {}",
        child.id(),
        log_path.display(),
        out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn ps(args: PsArgs) -> anyhow::Result<ExitCode> {
    let runs = state::runs();
    if args.json {
        let v: Vec<_> = runs
            .iter()
            .map(|(s, alive)| {
                serde_json::json!({"run_id": s.run_id, "stack": s.stack, "pid": s.pid, "running": alive,
                    "phase": s.phase, "run_dir": s.run_dir, "replicas": s.replicas, "networks": s.networks})
            })
            .collect();
        output::json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        output::say("No runs.");
    }
    for (s, alive) in &runs {
        output::say(&format!(
            "{}  {:<20} {:<10} pid {:<8} {} replicas  {}",
            s.run_id,
            s.stack,
            if *alive {
                format!("{:?}", s.phase).to_lowercase()
            } else {
                "LEFT (wotemu clean)".to_owned()
            },
            s.pid,
            s.replicas,
            s.run_dir.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stop(args: StopArgs) -> anyhow::Result<ExitCode> {
    let Some(run) = args.run else {
        if args.stack.is_some() {
            return super::swarm::stop(args);
        }
        bail!("say what to stop: --run RUN_DIR (a `wotemu run -D`, see `wotemu ps`) or --compose-file FILE --stack NAME (a Swarm stack)");
    };
    let want = std::path::absolute(&run).unwrap_or(run.clone());
    let Some((s, alive)) = state::runs().into_iter().find(|(s, _)| s.run_dir == want) else {
        bail!("no run writes to {} (see `wotemu ps`)", run.display());
    };
    if !alive {
        if s.run_dir.join("manifest.json").exists() {
            bail!(
                "the run {} is not running any more and its dataset is in {}; `wotemu clean` removes what it left",
                s.run_id,
                s.run_dir.display()
            );
        }
        output::say(&format!(
            "The run {} ({}) ended without writing its dataset; saving what it recorded…",
            s.run_id, s.stack
        ));
        let manifest = salvage(s.clone())?;
        undo_run_records(&s.run_id);
        return Ok(crate::outcome::of_dataset(&manifest, &s.run_dir));
    }
    // As Ctrl-C would.
    wotemu_sys::process::signal(s.pid, libc::SIGINT);
    output::say(&format!(
        "Stopping run {} ({}); collecting and reporting…",
        s.run_id, s.stack
    ));
    let deadline = Instant::now() + Duration::from_secs(600);
    while s.alive() {
        if Instant::now() > deadline {
            bail!("the run {} did not end within 10 minutes", s.run_id);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let manifest = wotemu_contract::Manifest::read(&s.run_dir).with_context(|| {
        format!(
            "the run {} ended without writing its dataset to {}; its output is in {}",
            s.run_id,
            s.run_dir.display(),
            s.run_dir.with_extension("log").display()
        )
    })?;
    output::say(&format!(
        "Stopped. Dataset: {}; report: {}",
        s.run_dir.display(),
        s.run_dir.join("site/index.html").display()
    ));
    Ok(crate::outcome::of_dataset(&manifest, &s.run_dir))
}

/// Saves what a crashed run recorded into its run directory (a dataset marked incomplete, and its report).
fn salvage(s: wotemu_lab::state::RunState) -> anyhow::Result<wotemu_contract::Manifest> {
    let run_dir = s.run_dir.clone();
    let sv = wotemu_lab::salvage::prepare(s).with_context(|| {
        format!(
            "getting the records of the crashed run ready for {}",
            run_dir.display()
        )
    })?;
    let mut opts = CollectOptions::new(&sv.redis_url, &sv.state.stack, &run_dir);
    opts.spool_dir = sv.spool_dir.clone();
    opts.incomplete = Some(wotemu_contract::manifest::Incomplete {
        reason: sv.reason.clone(),
        at: sv.at.clone(),
    });
    let bar = Bar::new();
    let collected = wotemu_collector::collect(&opts, &bar);
    bar.finish();
    sv.finish();
    let summary = collected
        .with_context(|| format!("collecting the crashed run into {}", run_dir.display()))?;
    let site = run_dir.join("site");
    match super::render_report(&run_dir, &site) {
        Ok(_) => output::say(&format!(
            "Saved the crashed run into {} ({} records, marked incomplete); report: {}",
            run_dir.display(),
            summary.records,
            site.join("index.html").display()
        )),
        Err(e) => output::warn(&format!(
            "saved the crashed run into {}, but its report failed: {e:#}; try `wotemu report --dataset {}`",
            run_dir.display(),
            run_dir.display()
        )),
    }
    Ok(summary.manifest)
}

/// Salvages every crashed run with data (a message says `when`); returns the runs left as they were (saved by
/// another process now, or whose salvage failed): their data and records must stay.
fn salvage_all(when: &str) -> anyhow::Result<Vec<String>> {
    let mut left = Vec::new();
    for s in wotemu_lab::salvage::salvageable() {
        output::say(&format!(
            "Run {} ({}) crashed {when}; saving what it recorded into {}",
            s.run_id,
            s.stack,
            s.run_dir.display()
        ));
        let id = s.run_id.clone();
        let again = s.clone();
        if let Err(e) = salvage(s) {
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<wotemu_lab::Error>(),
                    Some(wotemu_lab::Error::Busy(_))
                )
            }) {
                output::say(&format!(
                    "run {id} is being saved by another wotemu; waiting for it"
                ));
                if wotemu_lab::salvage::wait_for_other(&again) {
                    output::say(&format!(
                        "run {id} was saved into {}",
                        again.run_dir.display()
                    ));
                } else {
                    left.push(id.clone());
                }
                continue;
            }
            left.push(id.clone());
            output::warn(&format!(
                "could not save run {id}: {e:#}; its data is kept (`wotemu clean` tries again, `wotemu clean --discard` drops it)"
            ));
            continue;
        }
        // Only this run's records: others may still be being salvaged.
        undo_run_records(&id);
    }
    Ok(left)
}

/// Removes what a dead run left (its clean-up records), once its data is saved.
fn undo_run_records(run_id: &str) {
    let label = format!("run {run_id}");
    for found in wotemu_sys::cleanup::list(Path::new(wotemu_sys::cleanup::DIR)) {
        if !found.alive && found.header.label == label {
            for p in wotemu_sys::cleanup::undo(&found) {
                output::warn(&p);
            }
        }
    }
}

/// Undoes the clean-up records of dead owners but those of the runs in `keep` (data still to be saved);
/// returns (how many, problems).
fn clean_records(force: bool, keep: &[String]) -> (usize, Vec<String>) {
    let keep: Vec<String> = keep.iter().map(|id| format!("run {id}")).collect();
    let mut problems = Vec::new();
    let mut n = 0;
    for found in wotemu_sys::cleanup::list(Path::new(wotemu_sys::cleanup::DIR)) {
        if (found.alive && !force) || keep.contains(&found.header.label) {
            continue;
        }
        if found.alive {
            // Forced: stop the owner first so it does not make more.
            wotemu_sys::process::signal(found.header.owner, libc::SIGKILL);
        }
        output::say(&format!(
            "removed what {} left ({} items)",
            found.header.label,
            found.items.len()
        ));
        problems.extend(wotemu_sys::cleanup::undo(&found));
        n += 1;
    }
    (n, problems)
}

pub(crate) fn clean(args: CleanArgs) -> anyhow::Result<ExitCode> {
    if !wotemu_sys::is_root() {
        bail!("wotemu clean needs root, as wotemu run does");
    }
    let mut known = Vec::new();
    for (s, alive) in state::runs() {
        if alive && !args.force {
            output::say(&format!(
                "run {} ({}) is still running (pid {}); stop it with Ctrl-C or `wotemu stop --run`, or use --force",
                s.run_id, s.stack, s.pid
            ));
            known.push(s.lab_ns());
        }
    }
    let keep = if args.discard {
        for s in wotemu_lab::salvage::salvageable() {
            output::say(&format!(
                "dropping what run {} ({}) recorded (--discard)",
                s.run_id, s.stack
            ));
        }
        Vec::new()
    } else {
        salvage_all("earlier")?
    };
    let (mut removed, mut problems) = clean_records(args.force, &keep);
    known.extend(keep.iter().map(|id| format!("wtm-{id}")));
    for ns in state::orphan_namespaces(&known) {
        if let Err(e) = wotemu_sys::cmd::ip(&["netns", "del", &ns]) {
            problems.push(e.to_string());
        }
        if let Err(e) = std::fs::remove_dir_all(Path::new("/etc/netns").join(&ns)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                problems.push(format!("removing /etc/netns/{ns}: {e}"));
            }
        }
        output::say(&format!("removed orphan namespace {ns}"));
        removed += 1;
    }
    // State folders of runs whose record is gone (a crash before the record, or records removed by hand).
    for (s, alive) in state::runs() {
        if (!alive || args.force) && !keep.contains(&s.run_id) {
            let dir = s.dir();
            if dir.exists() {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    problems.push(format!("removing {}: {e}", dir.display()));
                } else {
                    removed += 1;
                }
            }
        }
    }
    wotemu_lab::host::remove_cgroup_parents();
    for p in &problems {
        output::warn(p);
    }
    if removed == 0 {
        output::say("Nothing to clean.");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
