//! Operating-system helpers shared by wotemu's agent, gateway and one-host runner.
//!
//! - [`cmd`]: running `ip`, `tc`, `iptables` and friends, with their stderr as the error;
//! - [`fs`]: durable, atomic file writes (temporary file, fsync, rename, fsync of the directory);
//! - [`signals`]: SIGINT/SIGTERM delivered to one thread (blocked everywhere else), unblocked in children;
//! - [`net`]: batched datagram receives (`recvmmsg`) into buffers owned by one struct;
//! - [`netns`]: running code inside a named network namespace, and which namespace this is;
//! - [`process`]: whether a process is alive and still the one started (pid reuse);
//! - [`cleanup`]: the crash clean-up records: whatever a process sets up (namespaces, cgroups, child
//!   processes, firewall rules, qdiscs) is written to a record first, so that `wotemu clean` can undo it
//!   after the process was killed.
//!
//! This crate must never depend on another crate of wotemu, hold policy (what a run builds is the runner's
//! business), or print: it logs with `tracing` and returns typed errors.

pub mod cleanup;
pub mod cmd;
pub mod cpu_speed;
pub mod fs;
pub mod net;
pub mod netns;
pub mod process;
pub mod signals;

pub use cmd::CommandError;

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes into a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
