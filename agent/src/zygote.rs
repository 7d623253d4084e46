//! The zygote: one process with Python and WoTPy already imported that forks a replica's agent on request,
//! so that a run of hundreds of replicas pays for the interpreter's start once, and its imports are shared
//! copy-on-write by every agent instead of being loaded again in each.
//!
//! The one-host runner starts `wotemu zygote` (in the host's namespaces) and writes a request per line on
//! its stdin (`wotemu_contract::zygote::Request`, JSON); the zygote forks, and the child enters the replica (its cgroups, network
//! namespace, hosts file and hostname: [`wotemu_sys::netns::ReplicaEntry`]), takes the replica's
//! environment and log, and runs the agent's command line as `wotemu` would. The zygote answers each
//! request with a line (`Reply`): the new process's pid, or why it could not fork.
//!
//! The fork is a `clone(CLONE_PARENT)`: the agent is the runner's child, not the zygote's, so the runner
//! waits for it, sees how it ended and restarts it exactly as one it spawned itself. The zygote forks only
//! while it is single-threaded (checked before every fork), so no lock is held by a thread that the child
//! would not have; Python's own fork hooks run around it (`PyOS_BeforeFork`/`PyOS_AfterFork_*`).
//!
//! This module must never let a child return into the zygote's loop: whatever the agent does, the child
//! ends with `exit`.

use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;

use pyo3::prelude::*;
use wotemu_contract::zygote::{Reply, Request, READY};
use wotemu_sys::netns::ReplicaEntry;

use crate::error::Error;

/// Whether this process is an agent the zygote forked.
static FORKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process is an agent the zygote forked (its Python was started by the zygote).
pub fn forked() -> bool {
    FORKED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The modules every agent imports, loaded once in the zygote: WoTPy's servient and the protocols'
/// servers and clients, the recorder and the builtin apps. A module that does not import is left to the
/// agent that needs it (it then reports the error as its own).
const PRELOAD: &[&str] = &[
    "asyncio",
    "json",
    "tornado.ioloop",
    "tornado.web",
    "tornado.websocket",
    // Imported by every agent at start (the asyncio loop's tornado glue, 0.6's `conf`): 30-40 ms each when
    // 100 agents start together.
    "tornado.platform.asyncio",
    "wotemu.config",
    "wotpy",
    "wotpy.wot.servient",
    "wotpy.wot.wot",
    "wotpy.wot.consumed.thing",
    "wotpy.wot.exposed.thing",
    "wotpy.protocols.http.server",
    "wotpy.protocols.http.client",
    "wotpy.protocols.ws.server",
    "wotpy.protocols.ws.client",
    "wotpy.protocols.coap.server",
    "wotpy.protocols.coap.client",
    "wotpy.protocols.mqtt.server",
    "wotpy.protocols.mqtt.client",
    "wotemu_agent.apps.reader",
    "wotemu_agent.apps.clock",
    "wotemu_agent.apps.worker",
    "wotemu_agent.apps.caller",
    "wotemu_agent.apps.subscriber",
    "wotemu_agent.apps.error",
];

/// Imports the recorder's package and [`PRELOAD`]; the modules that did not import, with why.
fn preload(python_path: &[PathBuf]) -> Result<Vec<String>, Error> {
    let pkg = crate::python::install_package()?;
    Python::attach(|py| {
        let agent = crate::python::prepare(py, &pkg, python_path)
            .map_err(|e| Error::Python(format!("importing the wotemu_agent package: {e}")))?;
        let importlib = py
            .import("importlib")
            .map_err(|e| Error::Python(e.to_string()))?;
        let mut failed: Vec<String> = PRELOAD
            .iter()
            .filter_map(|m| {
                importlib
                    .call_method1("import_module", (*m,))
                    .err()
                    .map(|e| format!("{m}: {e}"))
            })
            .collect();
        // WoTPy's classes wrapped, and its TD validator built, once for every agent forked.
        if let Err(e) = agent.call_method0("instrument") {
            failed.push(format!("wotemu_agent.instrument: {e}"));
        }
        // The imported objects move to the GC's permanent generation: collections in the agents then do
        // not write to them, so their pages stay shared instead of being copied into every agent.
        py.import("gc")
            .and_then(|gc| {
                gc.call_method0("collect")?;
                gc.call_method0("freeze")
            })
            .map_err(|e| Error::Python(format!("freezing the preloaded objects: {e}")))?;
        Ok(failed)
    })
}

/// Threads of this process (`/proc/self/status`).
fn threads() -> Option<u32> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Serves requests from stdin until it closes; `agent` runs a command line (what `wotemu` does with its
/// arguments) in each forked child.
pub fn serve(python_path: &[PathBuf], agent: fn(Vec<String>) -> ExitCode) -> Result<(), Error> {
    let failed = preload(python_path)?;
    for f in &failed {
        tracing::debug!(module = %f, "Not preloaded.");
    }
    let io = |e: std::io::Error| Error::Python(format!("the zygote's pipe to the runner: {e}"));
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}").map_err(io)?;
    out.flush().map_err(io)?;
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        line.clear();
        if stdin.lock().read_line(&mut line).map_err(io)? == 0 {
            return Ok(());
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(req) => match fork(&req, agent) {
                Ok(pid) => Reply::Pid(pid),
                Err(e) => Reply::Error(e),
            },
            Err(e) => Reply::Error(format!("a request the zygote cannot read: {e}")),
        };
        let text = serde_json::to_string(&reply).expect("a reply serialises");
        writeln!(out, "{text}").map_err(io)?;
        out.flush().map_err(io)?;
    }
}

/// Forks the agent of `req`; its pid.
fn fork(req: &Request, agent: fn(Vec<String>) -> ExitCode) -> Result<u32, String> {
    match threads() {
        Some(1) => {}
        n => {
            return Err(format!(
                "the zygote is not single-threaded ({n:?} threads); it cannot fork safely"
            ))
        }
    }
    // Everything the child needs is opened and allocated before the fork.
    let entry = ReplicaEntry::prepare(&req.ns, &req.hostname, &req.cgroups)
        .map_err(|e| format!("preparing the replica: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&req.log)
        .map_err(|e| format!("opening the log {}: {e}", req.log.display()))?;
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))?;
    // SAFETY: the process is single-threaded (checked above); Python's fork protocol is followed: its
    // thread state is taken, its locks made consistent before and reinitialised after the clone. The raw
    // clone (like fork(2), sharing nothing, with CLONE_PARENT) makes a child of our parent.
    let pid = unsafe {
        let gil = pyo3::ffi::PyGILState_Ensure();
        pyo3::ffi::PyOS_BeforeFork();
        let pid = libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        // errno before Python's hooks can change it.
        let err = (pid < 0).then(std::io::Error::last_os_error);
        if pid == 0 {
            pyo3::ffi::PyOS_AfterFork_Child();
        } else {
            pyo3::ffi::PyOS_AfterFork_Parent();
        }
        pyo3::ffi::PyGILState_Release(gil);
        if let Some(e) = err {
            return Err(format!("clone: {e}"));
        }
        pid
    };
    if pid > 0 {
        return Ok(pid as u32);
    }
    // The child: never returns.
    FORKED.store(true, std::sync::atomic::Ordering::Relaxed);
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        child(req, &entry, &log, &null, agent)
    }));
    let code = match code {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            // Its stderr is the replica's log by now, or still the zygote's when the log could not be
            // made its own.
            tracing::error!(task = %req.hostname, "The zygote's child could not become the replica's agent: {e}");
            ExitCode::from(126)
        }
        Err(_) => ExitCode::from(101),
    };
    // ExitCode has no stable getter: find the byte it was made from.
    let byte = (0..=u8::MAX)
        .find(|b| ExitCode::from(*b) == code)
        .unwrap_or(1);
    std::process::exit(i32::from(byte))
}

/// In the forked child: becomes the replica's process and runs the agent.
fn child(
    req: &Request,
    entry: &ReplicaEntry,
    log: &std::fs::File,
    null: &std::fs::File,
    agent: fn(Vec<String>) -> ExitCode,
) -> Result<ExitCode, String> {
    // SAFETY: setpgid(2) and dup2(2) on descriptors owned by this process; prctl(2) with a static name.
    unsafe {
        // Named as what it is in `ps` and `top` (its command line stays the zygote's).
        libc::prctl(libc::PR_SET_NAME, c"wotemu-agent".as_ptr());
        if libc::setpgid(0, 0) != 0 {
            return Err(format!("setpgid: {}", std::io::Error::last_os_error()));
        }
        for (from, to) in [
            (null.as_raw_fd(), 0),
            (log.as_raw_fd(), 1),
            (log.as_raw_fd(), 2),
        ] {
            if libc::dup2(from, to) < 0 {
                return Err(format!("dup2: {}", std::io::Error::last_os_error()));
            }
        }
    }
    entry
        .enter()
        .map_err(|e| format!("entering the replica: {e}"))?;
    // The environment, for Rust and Python alike: os.environ.update sets the process's too.
    Python::attach(|py| -> PyResult<()> {
        let environ = py.import("os")?.getattr("environ")?;
        for (k, v) in &req.env {
            environ.set_item(k, v)?;
        }
        Ok(())
    })
    .map_err(|e| format!("setting the environment: {e}"))?;
    let mut args = vec!["wotemu".to_owned()];
    args.extend(req.args.iter().cloned());
    Ok(agent(args))
}
