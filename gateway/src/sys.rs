//! Small system helpers: running `ip`/`tc`/`iptables`, entering a named network namespace, the clock.

use std::process::Command;

use crate::Error;

/// Runs a command; its stderr becomes the error.
pub fn cmd(program: &str, args: &[&str]) -> Result<(), Error> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Command {
            command: format!("{program} {}", args.join(" ")),
            message: format!("{e} (is {program} installed? iproute2 and iptables are needed)"),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// Runs a command with `input` on its stdin; its stderr becomes the error.
pub fn cmd_stdin(program: &str, args: &[&str], input: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::process::Stdio;
    let fail = |message: String| Error::Command {
        command: format!("{program} {}", args.join(" ")),
        message,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("{e} (is {program} installed?)")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(())
}

/// Runs a command and returns its stdout.
pub fn output(program: &str, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Command {
            command: format!("{program} {}", args.join(" ")),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip …`
pub fn ip(args: &[&str]) -> Result<(), Error> {
    cmd("ip", args)
}

/// `iptables -w …` (waits for the xtables lock instead of failing).
pub fn iptables(args: &[&str]) -> Result<(), Error> {
    let mut a = vec!["-w"];
    a.extend_from_slice(args);
    cmd("iptables", &a)
}

/// Moves the calling thread into the named network namespace (`/run/netns/NAME`). Other threads are not
/// affected; processes this thread starts afterwards are in it too.
pub fn enter_netns(name: &str) -> Result<(), Error> {
    let path = std::path::Path::new("/run/netns").join(name);
    let f = std::fs::File::open(&path).map_err(|e| Error::Netns {
        name: name.to_owned(),
        message: e.to_string(),
    })?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) with a namespace file we hold open.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(Error::Netns {
            name: name.to_owned(),
            message: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(())
}

/// The name of the calling thread's network namespace under /run/netns, if it has one.
pub fn current_netns_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    for e in std::fs::read_dir("/run/netns").ok()?.flatten() {
        if let Ok(m) = std::fs::metadata(e.path()) {
            if m.ino() == me.ino() && m.dev() == me.dev() {
                return Some(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    None
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) into a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sets a sysctl under /proc/sys (`net.ipv4.ip_forward` style name).
pub fn sysctl(name: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| Error::Command {
        command: format!("sysctl {name}={value}"),
        message: e.to_string(),
    })
}

/// CPU time (user + system) of this process so far, in seconds.
pub fn process_cpu_s() -> f64 {
    // SAFETY: getrusage(2) into a local struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time of the calling thread, in seconds.
pub fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) into a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}
