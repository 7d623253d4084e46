//! The host's cgroup hierarchy as runs use it: which version it mounts, and the removal of what runs and
//! CPU calibrations leave under `wotemu/` (the shared parents, a killed calibration's cgroup).

use std::path::Path;

/// The cgroup hierarchy of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Which cgroup version this host mounts at `/sys/fs/cgroup`.
pub fn version() -> Version {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Version::V2
    } else {
        Version::V1
    }
}

/// Removes the shared `wotemu` cgroup parents when no run uses them (an `rmdir` fails while one does).
pub fn remove_parents() {
    remove_stale_calibrations();
    for parent in [
        "/sys/fs/cgroup/cpu/wotemu",
        "/sys/fs/cgroup/cpuacct/wotemu",
        "/sys/fs/cgroup/memory/wotemu",
        "/sys/fs/cgroup/wotemu",
    ] {
        // Fails while another run uses it, and when it does not exist: both are fine.
        let _ = std::fs::remove_dir(parent);
    }
}

/// Removes calibration cgroups left by a killed runner (no process in them).
pub fn remove_stale_calibrations() {
    for base in ["/sys/fs/cgroup/cpu/wotemu", "/sys/fs/cgroup/wotemu"] {
        let Ok(rd) = std::fs::read_dir(base) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix("calibrate-") else {
                continue;
            };
            let alive = pid
                .parse::<i32>()
                .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let dir = e.path();
                if let Err(err) = std::fs::remove_dir(&dir) {
                    tracing::debug!(cgroup = %dir.display(), error = %err, "Stale calibration cgroup not removed.");
                }
            }
        }
    }
}
