//! Durable file operations ([`wotemu_sys::fs`]: temporary file, fsync, rename, fsync of the directory), and
//! the collector's own memory figure.

pub(crate) use wotemu_sys::fs::{commit, sync_dir, tmp_path, write_atomic};

/// The peak resident memory of this process so far (Linux `VmHWM`), for debug logs.
pub(crate) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
