//! Facts about the host a task runs on, for the `tasks` table.

use std::ffi::CStr;

/// This host's name.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    CStr::from_bytes_until_nul(&buf)
        .ok()
        .map(|c| c.to_string_lossy().into_owned())
}

/// The CPU model (`model name` of /proc/cpuinfo).
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// CPUs this process may run on.
pub fn cpu_count() -> Option<u32> {
    std::thread::available_parallelism()
        .ok()
        .map(|n| n.get() as u32)
}

/// Total memory of the host (MemTotal of /proc/meminfo).
pub fn mem_total_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `sysname release machine` of uname.
pub fn platform() -> Option<String> {
    // SAFETY: utsname is plain data filled in by the kernel.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let s = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Some(format!(
        "{} {} {}",
        s(&u.sysname),
        s(&u.release),
        s(&u.machine)
    ))
}

/// The addresses of the host's interfaces but loopback, as `name=address/prefix`-free plain addresses.
pub fn ip_addresses() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return out;
    }
    let mut p = ifap;
    while !p.is_null() {
        // SAFETY: p is a node of the list getifaddrs returned.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and its family tells its real type.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
        let addr = match family {
            libc::AF_INET => {
                // SAFETY: AF_INET addresses are sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                std::net::IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())
            }
            libc::AF_INET6 => {
                // SAFETY: AF_INET6 addresses are sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                if ip.segments()[0] & 0xffc0 == 0xfe80 {
                    continue; // link-local
                }
                std::net::IpAddr::V6(ip)
            }
            _ => continue,
        };
        if addr.is_loopback() {
            continue;
        }
        out.push((name, addr.to_string()));
    }
    // SAFETY: ifap came from getifaddrs.
    unsafe { libc::freeifaddrs(ifap) };
    out
}

/// The container id when running in Docker (from /proc/self/mountinfo), if any.
pub fn container_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    for line in text.lines() {
        if let Some(i) = line.find("/containers/") {
            let id: String = line[i + 12..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            if id.len() == 64 {
                return Some(id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_this_host() {
        assert!(hostname().is_some_and(|h| !h.is_empty()));
        assert!(cpu_count().is_some_and(|n| n >= 1));
        assert!(mem_total_bytes().is_some_and(|b| b > 1 << 20));
        assert!(platform().is_some_and(|p| p.starts_with("Linux")));
    }

    #[test]
    fn addresses_are_those_iproute2_lists_but_loopback() {
        // An independent reading: `ip -o addr` (iproute2), without loopback and IPv6 link-local scope.
        let out = std::process::Command::new("ip")
            .args(["-o", "addr", "show"])
            .output()
            .unwrap();
        let mut want: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let name = w
                    .get(1)?
                    .trim_end_matches(':')
                    .split('@')
                    .next()?
                    .to_owned();
                let addr = w
                    .get(3)?
                    .split('/')
                    .next()?
                    .parse::<std::net::IpAddr>()
                    .ok()?;
                let link_local =
                    matches!(addr, std::net::IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
                (!addr.is_loopback() && !link_local).then(|| (name, addr.to_string()))
            })
            .collect();
        let mut got = ip_addresses();
        want.sort();
        got.sort();
        // The premise: the test host has a network address besides loopback.
        assert!(!want.is_empty(), "this host has no address but loopback");
        assert_eq!(got, want);
    }
}
