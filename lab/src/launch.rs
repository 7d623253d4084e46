//! `wotemu run` from a validated topology to a dataset, in two steps: [`plan`] checks everything that can be
//! checked before anything is built (the scenario against the duration, the output folder, emulated CPU
//! speeds against this host's calibration, the host's limits at this scale) and plans the run; [`run`]
//! builds the lab, supervises it for the duration (or until a signal), stops it, collects its dataset, lets
//! the caller report, and tears the lab down — keeping the run's data when it recorded something but its
//! dataset could not be written, so that `wotemu clean` saves it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use wotemu_contract::time_util::{now_us, us_to_rfc3339};
use wotemu_topology::Topology;

use crate::{Ended, Error, Lab, Observer, PlanOptions, RunPlan, Teardown};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub topology: Topology,
    /// The topology's text (kept in the run's Redis and the dataset's manifest).
    pub text: String,
    pub file: PathBuf,
    pub duration: Duration,
    /// Where the dataset goes (default `runs/<stack>-<time>`).
    pub out: Option<PathBuf>,
    /// An external Redis instead of the run's own (`--redis-url`, else the topology's).
    pub redis_url: Option<String>,
    /// The `wotemu` binary (gateways, agents, the zygote and the CPU benchmark run it).
    pub exe: PathBuf,
    /// Leave the lab as it is at the end (`--keep`).
    pub keep: bool,
}

/// A run planned, not built yet.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: RunPlan,
    pub out: PathBuf,
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    pub manifest: wotemu_contract::Manifest,
    pub ended: Ended,
    /// Outages of the run's parts and replica restarts.
    pub outages: u32,
    pub restarts: u32,
    /// From the build to the end; from the stop to the end.
    pub seconds: f64,
    pub stop_seconds: f64,
}

impl Finished {
    /// What `wotemu run` says at the end: how long, where the dataset is, and the report's page (`None`:
    /// `--no-report`).
    pub fn describe(&self, out: &Path, report: Option<&Path>) -> String {
        format!(
            "Done in {:.1} s (stop, collect and report: {:.1} s).\n  dataset: {}\n  report:  {}",
            self.seconds,
            self.stop_seconds,
            out.display(),
            report.map_or("(--no-report)".to_owned(), |r| r.display().to_string())
        )
    }
}

/// The command that measures one point of this host's CPU calibration: `exe cpu-speed --measure SECONDS`.
pub fn measure_cmd(exe: &Path, seconds: f64) -> Command {
    let mut c = Command::new(exe);
    c.args(["cpu-speed", "--measure", &seconds.to_string()]);
    c
}

/// `wotemu run -D`: starts the same command line (`argv`, without the program, whose `-D`/`--detach` is
/// dropped and an `--out` added when it has none) again in the background, in a session of its own, its
/// output into `OUT.log`; returns (its pid, the log).
pub fn detach(argv: &[String], out: &Path) -> Result<(u32, PathBuf), Error> {
    use std::os::unix::process::CommandExt;
    let io = |what: String| move |source| Error::Io { what, source };
    let exe = std::env::current_exe().map_err(io("locating the wotemu binary".into()))?;
    let mut argv: Vec<String> = argv
        .iter()
        .filter(|a| *a != "-D" && *a != "--detach")
        .cloned()
        .collect();
    if !argv
        .iter()
        .any(|a| a == "--out" || a == "-o" || a.starts_with("--out="))
    {
        argv.extend(["--out".into(), out.to_string_lossy().into_owned()]);
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let log_path = out.with_extension("log");
    let log =
        std::fs::File::create(&log_path).map_err(io(format!("creating {}", log_path.display())))?;
    let mut cmd = Command::new(exe);
    cmd.args(&argv)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(io("sharing the log".into()))?)
        .stderr(log)
        .env("WOTEMU_COLOR", "never");
    // SAFETY: setsid(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(io("starting the run in the background".into()))?;
    Ok((child.id(), log_path))
}

/// Checks and plans a run (see the module's docs); nothing is built.
pub fn plan(req: &RunRequest, obs: &dyn Observer) -> Result<Planned, Error> {
    let t = &req.topology;
    let stack = t.stack_name(&req.file);
    if !t.services.is_empty() {
        let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
        obs.warn(&format!(
            "linked services ({}) are Docker containers: they run in the Swarm stack (`wotemu compose`), not in `wotemu run`, which leaves them out",
            names.join(", ")
        ));
    }
    let placed = t.placed();
    if !placed.is_empty() {
        obs.warn(&format!(
            "placement ({}) applies to Swarm stacks (`wotemu compose`); `wotemu run` runs everything on this host",
            placed.join(", ")
        ));
    }
    let late = wotemu_topology::scenario::check(&t.scenario, req.duration.as_secs_f64() * 1000.0);
    if !late.is_empty() {
        return Err(Error::Plan(late.join("\n")));
    }
    let out = req.out.clone().unwrap_or_else(|| {
        let ts: String = us_to_rfc3339(now_us())
            .replace([':', '-'], "")
            .chars()
            .take(15)
            .collect();
        PathBuf::from("runs").join(format!("{stack}-{ts}"))
    });
    if out.join("manifest.json").exists() {
        return Err(Error::Plan(format!(
            "{} already holds a run dataset; choose another --out or remove it",
            out.display()
        )));
    }
    let venv = crate::venv::find();
    if venv.is_none() {
        obs.warn("no Python venv with WoTPy found (set WOTEMU_VENV or run scripts/setup.sh; `wotemu doctor` checks this host); apps may not load");
    }
    let run_id = crate::state::new_run_id();
    let mut popts = PlanOptions::new(&run_id, &stack);
    // `--redis-url` wins over the topology's external Redis (0.6's `TopologyRedis(enabled=False, …)`).
    popts.redis_url = req.redis_url.clone().or_else(|| t.external_redis.clone());
    popts.topology_dir = req.file.parent().map(Path::to_path_buf).unwrap_or_default();
    popts.venv = venv;
    // The gateways' random decisions repeat with the same seed: the topology's or `--seed`, else drawn.
    let seed = t.seed.unwrap_or_else(wotemu_topology::compose::draw_seed);
    popts.seed = Some(seed);
    obs.say(&format!(
        "Seed {seed}: the gateways' random decisions (loss, jitter, …) repeat with `--seed {seed}`"
    ));
    if crate::cpu::wanted(t) {
        // Before anything is built: a target the host cannot give stops the run here.
        if crate::cpu::cached(&crate::cpu::cache_path()).is_none() {
            obs.say("Calibrating this host's CPU speed (sysbench's CPU test at 5 CFS quotas, about 10 s)…");
        }
        let (c, _) = crate::cpu::host_calibration(false, &|s| measure_cmd(&req.exe, s))
            .map_err(|e| e.context("calibrating the host's CPU speed".into()))?;
        popts.cpu_speeds =
            crate::cpu::plan_speeds(t, &c).map_err(|e| e.context("emulated CPU speed".into()))?;
        for (node, s) in &popts.cpu_speeds {
            obs.say(&format!(
                "CPU speed: node {node} at {} events/s = {:.1} % of one CPU (this host: {:.0} events/s)",
                s.target,
                s.quota * 100.0,
                s.host_speed
            ));
        }
    }
    let plan = RunPlan::new(t, &popts).map_err(|e| e.context("planning the run".into()))?;
    // The host's limits at this scale (process ids, open files, neighbour table, conntrack), before
    // anything is built.
    crate::limits::check(&plan)?;
    Ok(Planned { plan, out })
}

/// Runs a planned run to its dataset (see the module's docs). `report(out)` is called once the dataset is
/// written (the caller renders its report; an error there fails the run, its dataset stays).
pub fn run(
    planned: Planned,
    req: &RunRequest,
    sigs: &Receiver<i32>,
    obs: &dyn Observer,
    progress: &dyn wotemu_collector::Progress,
    report: &mut dyn FnMut(&Path) -> Result<(), String>,
) -> Result<Finished, Error> {
    let Planned { plan, out } = planned;
    let run_id = plan.run_id.clone();
    let _span = tracing::info_span!("run", run = %run_id, stack = %plan.stack).entered();
    let mut lab = Lab::new(plan, &req.exe, &out)?;
    let mut started = false;
    let result = run_lab(
        &mut lab,
        req,
        &out,
        sigs,
        obs,
        progress,
        report,
        &mut started,
    );
    let how = if req.keep {
        obs.say(&format!(
            "Kept the lab of run {run_id} (--keep); remove it with `wotemu clean`"
        ));
        Teardown::KeepAll
    } else if result.is_err() && started && !out.join("manifest.json").exists() {
        // The run recorded something but its dataset was not written: keep its data for a salvage.
        obs.warn(&format!(
            "the run's records are kept in {}: once the problem below is solved, `wotemu clean` saves them into {} (marked incomplete)",
            crate::state::RunState::dir_of(&wotemu_sys::state_root(), &run_id).display(),
            out.display()
        ));
        Teardown::KeepData
    } else {
        Teardown::All
    };
    for p in lab.teardown(how) {
        obs.warn(&format!("clean-up: {p}; run `wotemu clean`"));
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn run_lab(
    lab: &mut Lab,
    req: &RunRequest,
    out: &Path,
    sigs: &Receiver<i32>,
    obs: &dyn Observer,
    progress: &dyn wotemu_collector::Progress,
    report: &mut dyn FnMut(&Path) -> Result<(), String>,
    started: &mut bool,
) -> Result<Finished, Error> {
    let t0 = Instant::now();
    lab.build(&req.text, obs).map_err(|e| {
        e.context(
            "building the run's lab (`wotemu doctor` checks everything a run needs on this host)"
                .into(),
        )
    })?;
    let plan = lab.plan();
    obs.say(&format!(
        "Running {} (run {}): {} replicas{} on {} networks for {:?}; Ctrl-C stops early. Logs: {}",
        plan.stack,
        plan.run_id,
        plan.initial_nodes().count(),
        match plan.nodes().count() - plan.initial_nodes().count() {
            0 => String::new(),
            later => format!(" (+{later} the scenario scales up to)"),
        },
        plan.networks.len(),
        req.duration,
        plan.logs_dir().display()
    ));
    *started = true;
    let ended = lab.supervise(req.duration, sigs, obs);
    obs.status_done();
    let ended = ended?;
    if let Ended::Signal(sig) = ended {
        obs.say(&format!("Stopping early (signal {sig})."));
    }
    let stopping = Instant::now();
    let gateway_stats = lab
        .stop(sigs)
        .map_err(|e| e.context("stopping the run".into()))?;
    let summary = lab.collect(out, &gateway_stats, progress)?;
    report(out).map_err(|e| {
        Error::Plan(format!(
            "the run's dataset is in {}, but {e}",
            out.display()
        ))
    })?;
    let (outages, restarts) = lab.incidents();
    if outages + restarts > 0 {
        obs.warn(&format!(
            "{outages} outages of the run's parts and {restarts} replica restarts; each is in the dataset's timeline and the report"
        ));
    }
    Ok(Finished {
        manifest: summary.manifest,
        ended,
        outages,
        restarts,
        seconds: t0.elapsed().as_secs_f64(),
        stop_seconds: stopping.elapsed().as_secs_f64(),
    })
}
