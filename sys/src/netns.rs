//! Named network namespaces (`/run/netns/<name>`, as `ip netns` makes them): entering one from a thread,
//! running code inside one, and which namespace this thread is in; probes in a throwaway namespace.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Runs `probe` on a short-lived thread moved into a fresh, unnamed network namespace (`unshare`): commands
/// it starts are in that namespace too, and whatever it creates there (links, qdiscs, rules) goes with the
/// thread, even if the process dies. `None` when no namespace can be made (not root).
pub fn in_throwaway<T: Send + 'static>(probe: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        // SAFETY: unshare(2) affects only this short-lived thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        Some(probe())
    })
    .join()
    .ok()
    .flatten()
}

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Moves the calling thread into the named network namespace.
pub fn enter(name: &str) -> io::Result<()> {
    let path = Path::new(NETNS_DIR).join(name);
    let f = std::fs::File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("network namespace {name}: {e}")))?;
    // SAFETY: setns(2) with a namespace file held open for the call.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("entering network namespace {name}: {e}"),
        ));
    }
    Ok(())
}

/// Runs `f` in a new thread inside the named network namespace and waits for it.
pub fn run_in<T: Send, E: From<io::Error> + Send>(
    name: &str,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(name)?;
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Whether a named namespace exists.
pub fn exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// The inode of the calling thread's network namespace (0 when it cannot be read).
pub fn current_ino() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// The name of the calling thread's network namespace under /run/netns, if it has one.
pub fn current_name() -> Option<String> {
    let me = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    for e in std::fs::read_dir(NETNS_DIR).ok()?.flatten() {
        if let Ok(m) = std::fs::metadata(e.path()) {
            if m.ino() == me.ino() && m.dev() == me.dev() {
                return Some(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    None
}

/// Processes inside a named namespace (`ip netns pids`).
pub fn pids(name: &str) -> Vec<i32> {
    crate::cmd::output("ip", &["netns", "pids", name])
        .map(|out| {
            out.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What a new process needs to become a replica's, prepared before it is forked: its network namespace
/// (held open), its cgroups, its `/etc/hosts` (`/etc/netns/<ns>/hosts`, as `ip netns exec` would show it)
/// and its hostname (the task name). [`ReplicaEntry::enter`] is all system calls on what was prepared, so
/// that it can run between fork and exec (the runner's spawns) or in a zygote's fork.
pub struct ReplicaEntry {
    netns: std::fs::File,
    procs: Vec<std::path::PathBuf>,
    hosts_src: std::ffi::CString,
    hosts_dst: std::ffi::CString,
    root: std::ffi::CString,
    hostname: Vec<u8>,
}

impl ReplicaEntry {
    /// Opens the namespace `ns` and prepares the rest for a process named `hostname` in `cgroups` (each
    /// controller's folder).
    pub fn prepare(ns: &str, hostname: &str, cgroups: &[std::path::PathBuf]) -> io::Result<Self> {
        let netns = std::fs::File::open(Path::new(NETNS_DIR).join(ns)).map_err(|e| {
            io::Error::new(e.kind(), format!("opening the network namespace {ns}: {e}"))
        })?;
        let cstr = |v: &str| {
            std::ffi::CString::new(v).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a path contains a NUL byte: {v:?}"),
                )
            })
        };
        let hosts = Path::new("/etc/netns").join(ns).join("hosts");
        Ok(ReplicaEntry {
            netns,
            procs: cgroups.iter().map(|d| d.join("cgroup.procs")).collect(),
            hosts_src: cstr(&hosts.to_string_lossy())?,
            hosts_dst: cstr("/etc/hosts")?,
            root: cstr("/")?,
            hostname: hostname.as_bytes().to_vec(),
        })
    }

    /// Moves the calling (single-threaded, just forked) process into the replica: its cgroups, its network
    /// namespace, a mount and UTS namespace of its own with the replica's hosts file and hostname, and
    /// every signal unblocked. Unlike `ip netns exec`, /sys is left as it is, so the agent reads its cgroup
    /// under /sys/fs/cgroup.
    pub fn enter(&self) -> io::Result<()> {
        for p in &self.procs {
            std::fs::write(p, b"0")?;
        }
        let check = |r: libc::c_int| {
            if r == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: system calls on buffers and a file prepared before the fork, all alive for the calls.
        unsafe {
            check(libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET))?;
            check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS))?;
            check(libc::mount(
                std::ptr::null(),
                self.root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                self.hosts_src.as_ptr(),
                self.hosts_dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            check(libc::sethostname(
                self.hostname.as_ptr().cast(),
                self.hostname.len(),
            ))?;
        }
        crate::signals::unblock_all();
        Ok(())
    }
}
