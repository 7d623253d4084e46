//! Processes: whether one is alive, and whether a pid still names the process that was started (a pid is
//! reused once its process is reaped; the start time, in clock ticks after boot, tells them apart).

/// The fields of `/proc/<pid>/stat` after the command name.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// When `pid` started (clock ticks after boot), if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    // Field 22 of stat; after the command name the state is field 3, so it is the 20th here.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Whether `pid` runs (a zombie, dead but not reaped, does not).
pub fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|st| st != "Z"))
}

/// Whether `pid` is alive and is the process that started at `start` (not another one given its pid).
pub fn is(pid: u32, start: u64) -> bool {
    alive(pid) && start_time(pid) == Some(start)
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Sends `signal` to the process group led by `pid`.
pub fn signal_group(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) of a process group has no memory preconditions.
    unsafe { libc::kill(-pid, signal) == 0 }
}

/// A pipe already holding `bytes` (which must fit its buffer, 64 KiB on Linux): the read end, to hand to a
/// child as its stdin, so that what it reads (a password) is on no command line. Both ends close on exec
/// except where the child's stdin is set to the read end.
pub fn pipe_with(bytes: &[u8]) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::io::Write;
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::fs::File::from(writer).write_all(bytes)?;
    Ok(reader)
}

/// Stops the calling process from getting transparent huge pages from now on (`PR_SET_THP_DISABLE`; its
/// children inherit it). For short-lived, large buffers — a collection's — a huge page only costs its
/// zeroing: 2 MiB cleared at the first touch, a fifth of a 0.6 import's time. False when the kernel refused.
pub fn no_huge_pages() -> bool {
    // SAFETY: prctl(2) with PR_SET_THP_DISABLE takes integers only.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
}

/// Executes this same program again (same pid and arguments) with `var=value` in its environment, unless
/// `var` is set already (then `None`). Returns only when it could not (`Some` with why): for options a
/// library reads before `main` (mimalloc's).
pub fn reexec_with(var: &str, value: &str) -> Option<std::io::Error> {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(var).is_some() {
        return None;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = std::process::Command::new("/proc/self/exe");
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    Some(cmd.args(&args[1..]).env(var, value).exec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_itself_and_a_reaped_child_is_not() {
        let me = std::process::id();
        let start = start_time(me).unwrap();
        assert!(is(me, start));
        assert!(!is(me, start + 1));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn a_pipe_hands_its_bytes_to_a_child() {
        let r = super::pipe_with(b"secret\n").unwrap();
        let out = std::process::Command::new("cat").stdin(r).output().unwrap();
        assert_eq!(out.stdout, b"secret\n");
    }
}
