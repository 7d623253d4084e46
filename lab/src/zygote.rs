//! The runner's side of the zygote (`wotemu zygote`, the agent crate's `zygote` module): started once per run before the replicas, it
//! forks each replica's agent with Python and WoTPy already imported. When it cannot start, or cannot
//! fork one replica, the runner starts that agent itself ([`crate::host::spawn_in`]): slower, never wrong.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wotemu_contract::zygote::{Reply, Request, READY};
use wotemu_sys::cleanup::{Item, Record};

use crate::host::{Proc, Spawn};
use crate::Error;

/// How long the zygote may take to import Python and WoTPy, and then to answer a request.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const FORK_TIMEOUT: Duration = Duration::from_secs(10);

/// `WOTEMU_ZYGOTE=0` starts every agent on its own (to compare, or to rule the zygote out).
pub fn enabled() -> bool {
    std::env::var("WOTEMU_ZYGOTE").map_or(true, |v| v != "0")
}

/// A running zygote.
pub(crate) struct Zygote {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Whether it said it finished its imports (it is launched before the lab is built, and waited for at
    /// the first fork).
    ready: bool,
    log: PathBuf,
}

impl Zygote {
    /// Launches `exe zygote --run <state_dir>/` with `env` (the replicas' common settings: the venv), its log
    /// in `log`. It imports Python and WoTPy while the runner builds the lab; the first fork waits for it.
    pub(crate) fn launch(
        rec: &mut Record,
        exe: &Path,
        state_dir: &Path,
        env: &BTreeMap<String, String>,
        log: &Path,
    ) -> Result<Zygote, Error> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        let log_file = std::fs::File::create(log)
            .map_err(io(&format!("creating the zygote's log {}", log.display())))?;
        let mut child = Command::new(exe)
            .arg("zygote")
            .arg("--run")
            .arg(format!("{}/", state_dir.display()))
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .map_err(io("starting the zygote"))?;
        crate::host::record(rec, Item::process(child.id()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        // Detached: it ends when the zygote's stdout closes.
        std::thread::Builder::new()
            .name("wotemu-zygote".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            })
            .map_err(io("starting the zygote's reader thread"))?;
        Ok(Zygote {
            child,
            stdin,
            lines,
            ready: false,
            log: log.to_owned(),
        })
    }

    /// Waits until the zygote's imports are done (once).
    fn wait_ready(&mut self) -> Result<(), String> {
        if self.ready {
            return Ok(());
        }
        match self.lines.recv_timeout(START_TIMEOUT) {
            Ok(l) if l == READY => {
                self.ready = true;
                Ok(())
            }
            other => Err(format!(
                "the zygote did not start ({}); see {}",
                match other {
                    Ok(l) => format!("it said {l:?}"),
                    Err(_) => "no answer".to_owned(),
                },
                self.log.display()
            )),
        }
    }

    /// Forks the agent `s` describes (its program must be the zygote's own); the new process is recorded
    /// before the answer is used.
    pub(crate) fn spawn(&mut self, rec: &mut Record, s: &Spawn<'_>) -> Result<Proc, String> {
        self.wait_ready()?;
        let req = Request {
            ns: s.ns.to_owned(),
            hostname: s.hostname.to_owned(),
            args: s.args.to_vec(),
            env: s.env.clone(),
            cgroups: s.cgroups.to_vec(),
            log: s.log.to_owned(),
        };
        let text = serde_json::to_string(&req).expect("a request serialises");
        writeln!(self.stdin, "{text}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("writing to the zygote: {e}"))?;
        let line = self
            .lines
            .recv_timeout(FORK_TIMEOUT)
            .map_err(|_| "the zygote did not answer".to_owned())?;
        match serde_json::from_str::<Reply>(&line) {
            Ok(Reply::Pid(pid)) => {
                crate::host::record(rec, Item::process(pid)).map_err(|e| e.to_string())?;
                Ok(Proc::of_pid(pid))
            }
            Ok(Reply::Error(e)) => Err(e),
            Err(e) => Err(format!("the zygote answered {line:?}: {e}")),
        }
    }

    /// Ends the zygote (its agents are the runner's and go on).
    pub(crate) fn stop(mut self) {
        wotemu_sys::process::signal(self.child.id(), libc::SIGKILL);
        if let Err(e) = self.child.wait() {
            tracing::debug!(error = %e, "The zygote was already reaped.");
        }
    }
}
