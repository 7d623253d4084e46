//! Running a planned sweep: each combination not complete yet, in order, on this host or as a Swarm stack;
//! a signal to the sweep stops the current run once (it is collected) and ends the sweep, resumable.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::{io, Error, Marker, Observer, Point, Sweep};

/// Where the combinations run.
#[derive(Debug, Clone)]
pub enum Engine {
    /// On this host: a child `wotemu run` of the `wotemu` binary `exe`.
    Here { exe: PathBuf },
    /// As Docker Swarm stacks on the manager this engine is, with the `wotemu` binary `exe` composing,
    /// stopping and reporting.
    Swarm { exe: PathBuf },
}

/// How a sweep ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// A signal stopped it (the same command goes on later).
    pub interrupted: bool,
    /// The combinations that failed this time (folder names).
    pub failed: Vec<String>,
    /// Between combinations (one run's stop to the next one's first interaction), seconds: (mean, max).
    pub gaps: Option<(f64, f64)>,
}

impl Sweep {
    /// Runs every combination that is not complete, in order; `sigs` carries the signals that stop it.
    pub fn run(
        &self,
        engine: &Engine,
        sigs: &Receiver<i32>,
        obs: &dyn Observer,
    ) -> Result<Outcome, Error> {
        let _span = tracing::info_span!("sweep", out = %self.opts.out.display()).entered();
        std::fs::create_dir_all(&self.opts.out)
            .map_err(io(format!("creating {}", self.opts.out.display())))?;
        let mut walls: Vec<f64> = Vec::new();
        let mut out = Outcome::default();
        let total = self.points.len();
        for (k, p) in self.points.iter().enumerate() {
            if self.done(p) {
                continue;
            }
            let dir = self.prepare(p, obs)?;
            let done_n = self.complete().len();
            let each = if walls.is_empty() {
                self.estimate_per_run()
            } else {
                walls.iter().sum::<f64>() / walls.len() as f64
            };
            obs.say(&format!(
                "[{}/{total}] {}{} · {done_n} done · about {} left",
                done_n + 1,
                self.set_text(p),
                if self.opts.repeat > 1 {
                    format!(" (repeat {})", p.repeat)
                } else {
                    String::new()
                },
                wotemu_contract::time_util::human_duration(each * (total - done_n) as f64)
            ));
            let started = Instant::now();
            let topo = dir.join("topology.yml");
            let (code, interrupted) = match engine {
                Engine::Here { exe } => {
                    here(exe, &dir, &topo, &self.opts.duration_text, sigs, obs)?
                }
                Engine::Swarm { exe } => {
                    let stack = format!("{}-sweep{}", self.stack, k + 1);
                    self.swarm(exe, &dir, &topo, &stack, sigs, obs)?
                }
            };
            let wall = started.elapsed().as_secs_f64();
            let ok = matches!(code, Some(0) | Some(3)) && dir.join("manifest.json").exists();
            let status = match (interrupted, ok) {
                (true, _) => "interrupted",
                (false, true) => "complete",
                (false, false) => "failed",
            };
            let marker = Marker {
                status: status.into(),
                set: self.set_of(p),
                repeat: p.repeat,
                duration: self.opts.duration_text.clone(),
                wall_s: wall,
                exit_code: code,
            };
            let json = serde_json::to_vec_pretty(&marker).expect("a marker serializes");
            wotemu_sys::fs::write_atomic(&dir.join("sweep.json"), &json)
                .map_err(io(format!("writing {}", dir.join("sweep.json").display())))?;
            if interrupted {
                out.interrupted = true;
                obs.say(&format!(
                    "Stopped. {} of {total} combinations are done; run the same command again to go on.",
                    self.complete().len()
                ));
                return Ok(out);
            }
            if ok {
                walls.push(wall);
            } else {
                obs.warn(&format!(
                    "the run of {} failed (exit {}); see its output above. The sweep goes on; the next call runs it again",
                    dir.display(),
                    code.map_or("by a signal".into(), |c| c.to_string())
                ));
                out.failed.push(p.name.clone());
            }
        }
        out.gaps = self.gaps();
        Ok(out)
    }

    /// Makes a combination's folder ready to run: an unfinished earlier one is kept aside in `.interrupted/`
    /// (nothing is deleted); writes the document it runs.
    fn prepare(&self, p: &Point, obs: &dyn Observer) -> Result<PathBuf, Error> {
        let dir = self.dir(p);
        if dir.exists() {
            let aside = self.opts.out.join(".interrupted").join(format!(
                "{}-{}",
                p.name,
                wotemu_contract::time_util::now_us()
            ));
            let parent = aside.parent().unwrap_or(&self.opts.out).to_owned();
            std::fs::create_dir_all(&parent)
                .map_err(io(format!("creating {}", parent.display())))?;
            std::fs::rename(&dir, &aside)
                .map_err(io(format!("moving the unfinished {} aside", dir.display())))?;
            obs.warn(&format!(
                "{} was not finished by an earlier call; it is kept in {} and runs again",
                dir.display(),
                aside.display()
            ));
        }
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        wotemu_sys::fs::write_atomic(&dir.join("topology.yml"), self.doc_of(p).as_bytes())
            .map_err(io(format!(
                "writing {}",
                dir.join("topology.yml").display()
            )))?;
        Ok(dir)
    }

    /// The time between one complete combination's end (its stop) and the next one's first interaction:
    /// what a sweep costs beyond the runs themselves; (mean, max) in seconds.
    fn gaps(&self) -> Option<(f64, f64)> {
        let span = |dir: &Path| -> Option<(i64, i64)> {
            let m = wotemu_contract::Manifest::read(dir).ok()?;
            let first = m
                .tables
                .get(&wotemu_contract::Table::Interactions)?
                .time_min
                .as_deref()
                .and_then(wotemu_contract::time_util::rfc3339_to_us)?;
            let stopped = m
                .stopped_at
                .as_deref()
                .and_then(wotemu_contract::time_util::rfc3339_to_us)?;
            Some((first, stopped))
        };
        let spans: Vec<Option<(i64, i64)>> =
            self.complete().iter().map(|p| span(&self.dir(p))).collect();
        let gaps: Vec<f64> = spans
            .windows(2)
            .filter_map(|w| Some((w[1]?.0 - w[0]?.1) as f64 / 1e6))
            .filter(|g| *g > 0.0)
            .collect();
        (!gaps.is_empty()).then(|| {
            (
                gaps.iter().sum::<f64>() / gaps.len() as f64,
                gaps.iter().copied().fold(0.0, f64::max),
            )
        })
    }

    /// One combination on a Docker Swarm: `wotemu compose` → deploy → every agent registered → the duration
    /// → `wotemu stop` (snapshot, collect) → `wotemu report` → the stack removed, waiting until the engine
    /// let go of all of it. Returns (an exit code, whether the sweep was interrupted).
    fn swarm(
        &self,
        exe: &Path,
        dir: &Path,
        topo: &Path,
        stack: &str,
        sigs: &Receiver<i32>,
        obs: &dyn Observer,
    ) -> Result<(Option<i32>, bool), Error> {
        let compose = dir.join("stack.compose.yml");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io("finding a free port for the stack's Redis"))?
            .port();
        let mut c = Command::new(exe);
        c.args(["compose", "--path"])
            .arg(topo)
            .arg("--output")
            .arg(&compose)
            .args(["--redis-port", &port.to_string()]);
        step("wotemu compose", c)?;
        wotemu_swarm::stack::deploy(&compose, stack)?;
        obs.say(&format!(
            "Deployed stack {stack}; waiting for its {} agents to register…",
            self.replicas
        ));
        let result = self.swarm_run(exe, dir, &compose, stack, port, sigs, obs);
        // The stack goes whatever happened, and the engine must have let go of it before the next one.
        match wotemu_swarm::stack::remove(stack, Duration::from_secs(120)) {
            Ok(0) => {}
            Ok(n) => obs.warn(&format!(
                "the engine has not removed {n} things of stack {stack} after 2 minutes; check `docker stack ls`"
            )),
            Err(e) => obs.warn(&format!("removing stack {stack}: {e}")),
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn swarm_run(
        &self,
        exe: &Path,
        dir: &Path,
        compose: &Path,
        stack: &str,
        port: u16,
        sigs: &Receiver<i32>,
        obs: &dyn Observer,
    ) -> Result<(Option<i32>, bool), Error> {
        let password = wotemu_swarm::password::read(&wotemu_swarm::password::file_beside(compose))?;
        let url = format!("redis://:{password}@127.0.0.1:{port}");
        let mut signal = None;
        let registered = wotemu_swarm::stack::wait_registered(
            &url,
            stack,
            self.replicas,
            Duration::from_secs(300),
            &mut |wait| {
                signal = sigs.recv_timeout(wait).ok();
                signal.is_some()
            },
        )?;
        let mut interrupted = registered.is_none();
        if let Some(sig) = signal {
            say_stopping(sig, obs);
        }
        if !interrupted {
            obs.say(&format!(
                "Running stack {stack} for {:?}; Ctrl-C stops early.",
                self.opts.duration
            ));
            // The run itself: the duration, or until a signal.
            if let Ok(sig) = sigs.recv_timeout(self.opts.duration) {
                say_stopping(sig, obs);
                interrupted = true;
            }
        }
        let mut c = Command::new(exe);
        c.args(["stop", "--compose-file"])
            .arg(compose)
            .args([
                "--stack",
                stack,
                "--redis-url",
                &format!("redis://127.0.0.1:{port}"),
                "--out",
            ])
            .arg(dir);
        step("wotemu stop", c)?;
        let mut c = Command::new(exe);
        c.args(["report", "--dataset"])
            .arg(dir)
            .arg("--out")
            .arg(dir.join("site"));
        step("wotemu report", c)?;
        Ok((Some(0), interrupted))
    }
}

/// One combination on this host: a child `wotemu run` in its own process group; a signal to the sweep asks
/// it to stop once. Returns (its exit code, whether the sweep was interrupted).
fn here(
    exe: &Path,
    dir: &Path,
    topo: &Path,
    duration: &str,
    sigs: &Receiver<i32>,
    obs: &dyn Observer,
) -> Result<(Option<i32>, bool), Error> {
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg(topo)
        .args(["--duration", duration])
        .arg("--out")
        .arg(dir);
    let mut child = spawn_own_group(cmd).map_err(io("starting `wotemu run`"))?;
    let mut interrupted = false;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(io("waiting for `wotemu run`"))? {
            break s;
        }
        if let Ok(sig) = sigs.recv_timeout(Duration::from_millis(200)) {
            if !interrupted {
                interrupted = true;
                say_stopping(sig, obs);
                wotemu_sys::process::signal(child.id(), libc::SIGINT);
            }
        }
    };
    Ok((status.code(), interrupted))
}

fn say_stopping(sig: i32, obs: &dyn Observer) {
    obs.say(&format!(
        "Stopping the sweep (signal {sig}): the current run stops and is collected; the same command goes on later."
    ));
}

/// Starts `cmd` in a process group of its own with no signal blocked: Ctrl-C reaches the sweep only.
fn spawn_own_group(mut cmd: Command) -> std::io::Result<std::process::Child> {
    // SAFETY: setpgid and unblock_all are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            wotemu_sys::signals::unblock_all();
            Ok(())
        });
    }
    cmd.spawn()
}

/// Runs a child command to its end (in its own process group), failing with its output.
fn step(what: &str, mut cmd: Command) -> Result<(), Error> {
    cmd.stdin(std::process::Stdio::null());
    let o = spawn_own_group(cmd)
        .and_then(|c| c.wait_with_output())
        .map_err(io(format!("{what}: cannot run it")))?;
    if !o.status.success() && o.status.code() != Some(3) {
        return Err(Error::Step {
            what: what.into(),
            message: format!(
                "{}: {}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        });
    }
    Ok(())
}
