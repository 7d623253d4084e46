//! Operating-system helpers shared by wotemu's agent, gateway and one-host runner.
//!
//! - [`cmd`]: running `ip`, `tc`, `iptables` and friends, with their stderr as the error;
//! - [`fs`]: durable, atomic file writes (temporary file, fsync, rename, fsync of the directory);
//! - [`signals`]: SIGINT/SIGTERM delivered to one thread (blocked everywhere else), unblocked in children;
//! - [`net`]: batched datagram receives (`recvmmsg`) into buffers owned by one struct;
//! - [`netns`]: running code inside a named network namespace, and which namespace this is;
//! - [`process`]: whether a process is alive and still the one started (pid reuse);
//! - [`facts`]: what this host and process are (host name, CPU model and count, memory, platform, addresses,
//!   container id);
//! - [`cleanup`]: the crash clean-up records: whatever a process sets up (namespaces, cgroups, child
//!   processes, firewall rules, qdiscs) is written to a record first, so that `wotemu clean` can undo it
//!   after the process was killed.
//!
//! This crate must never depend on another crate of wotemu, hold policy (what a run builds is the runner's
//! business), or print: it logs with `tracing` and returns typed errors.

pub mod cleanup;
pub mod cmd;
pub mod cpu_speed;
pub mod facts;
pub mod fs;
pub mod logging;
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

/// Where wotemu keeps the state of what runs on this host (runs' folders, crash clean-up records):
/// `WOTEMU_STATE_DIR`, by default `/run/wotemu` (children inherit it: a run's agents and gateways write
/// their records where their runner does). A test owns its runs with a folder of its own.
pub fn state_root() -> std::path::PathBuf {
    std::env::var_os("WOTEMU_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(DEFAULT_STATE_ROOT))
}

/// The default [`state_root`].
pub const DEFAULT_STATE_ROOT: &str = "/run/wotemu";

/// The messages of an error and of each of its causes, in order, leaving out a cause that the message
/// before it already quotes (an error that says "cannot reach Redis at …: Connection refused" and has that
/// refusal as its source): the one way wotemu shows an error chain.
pub fn error_messages(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.last().is_some_and(|said| said.contains(&text)) {
            out.push(text);
        }
        cur = c.source();
    }
    out
}

/// [`error_messages`] joined with `: `.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    error_messages(e).join(": ")
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    #[derive(Debug)]
    struct E(String, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let refused = E("Connection refused".into(), None);
        let reach = E(
            "cannot reach Redis at redis://h:1: Connection refused".into(),
            Some(Box::new(refused)),
        );
        let e = E("importing the store".into(), Some(Box::new(reach)));
        assert_eq!(
            super::error_messages(&e),
            [
                "importing the store",
                "cannot reach Redis at redis://h:1: Connection refused"
            ]
        );
        let full = E(
            "writing the dataset".into(),
            Some(Box::new(E("disk full".into(), None))),
        );
        assert_eq!(super::error_chain(&full), "writing the dataset: disk full");
    }
}
