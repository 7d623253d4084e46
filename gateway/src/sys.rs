//! The gateway's system helpers: commands and namespaces from [`wotemu_sys`] with this crate's error, sysctls,
//! CPU time.

use crate::Error;

pub use wotemu_sys::cmd::{iptables, output, run as cmd};
pub use wotemu_sys::monotonic_ns;

/// `ip …`
pub fn ip(args: &[&str]) -> Result<(), Error> {
    Ok(wotemu_sys::cmd::ip(args)?)
}

/// Runs a command with `input` on its stdin; its stderr becomes the error.
pub fn cmd_stdin(program: &str, args: &[&str], input: &str) -> Result<(), Error> {
    Ok(wotemu_sys::cmd::run_with_input(program, args, Some(input)).map(drop)?)
}

/// Moves the calling thread into the named network namespace.
pub fn enter_netns(name: &str) -> Result<(), Error> {
    wotemu_sys::netns::enter(name).map_err(|e| Error::Netns {
        name: name.to_owned(),
        message: e.to_string(),
    })
}

/// Sets a sysctl under /proc/sys (`net.ipv4.ip_forward` style name).
pub fn sysctl(name: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| {
        Error::Command(wotemu_sys::CommandError {
            command: format!("sysctl {name}={value}"),
            message: e.to_string(),
        })
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
