//! Node side: WoT traffic to the other nodes of a network goes through the network's gateway, transparently
//! to the app. As in WoTemu 0.6: iptables `mangle` OUTPUT rules mark packets to (and from) the WoT ports
//! within the network's subnet, an `ip rule` sends marked packets to a table of their own, whose default
//! route is the gateway. Other traffic is untouched.
//!
//! The rules live as long as the node's network namespace (container); `remove` undoes them explicitly.
//! Installing twice replaces, never stacks.

use crate::sys;
use crate::Error;

/// The routing of one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The network's subnet, CIDR (`10.64.0.0/16`).
    pub subnet: String,
    /// The gateway's address in that network.
    pub gateway: String,
    /// Which of the node's networks this is (0–99): picks the mark, table and chain.
    pub index: u8,
    pub tcp_ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
}

/// What the routing does, for people: `WoT traffic to 10.64.0.0/16 goes via 10.64.0.2 (tcp [80], …)`.
impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WoT traffic to {} goes via {} (tcp {:?}, udp {:?}; mark {}, table {})",
            self.subnet,
            self.gateway,
            self.tcp_ports,
            self.udp_ports,
            self.mark(),
            self.table()
        )
    }
}

impl Route {
    pub fn mark(&self) -> String {
        format!("0x{:x}", 0x7700 + self.index as u32)
    }

    pub fn table(&self) -> String {
        (7700 + self.index as u32).to_string()
    }

    pub fn chain(&self) -> String {
        format!("WOTEMU_RT{}", self.index)
    }
}

/// The WoT ports of a node from its environment, as 0.6 reads them: `PORT_HTTP`, `PORT_WS`, `PORT_MQTT`,
/// `PORT_CATALOGUE` (TCP), `PORT_COAP` (UDP), plus `OTHER_PORTS_TCP` / `OTHER_PORTS_UDP` (comma separated).
pub fn ports_from_env() -> (Vec<u16>, Vec<u16>) {
    let get = |k: &str, d: u16| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(d)
    };
    let list = |k: &str| -> Vec<u16> {
        std::env::var(k)
            .unwrap_or_default()
            .split([',', ' '])
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    };
    let mut tcp = vec![
        get("PORT_HTTP", 80),
        get("PORT_WS", 81),
        get("PORT_MQTT", 1883),
        get("PORT_CATALOGUE", 9090),
    ];
    tcp.extend(list("OTHER_PORTS_TCP"));
    let mut udp = vec![get("PORT_COAP", 5683)];
    udp.extend(list("OTHER_PORTS_UDP"));
    tcp.sort_unstable();
    tcp.dedup();
    udp.sort_unstable();
    udp.dedup();
    (tcp, udp)
}

/// What an agent or a broker does first in a Swarm task (`--route-via gw_<net>` for each of its networks):
/// waits (at most `wait` each) for each gateway's name to resolve, then routes the WoT ports of its network
/// through it; returns the routes installed. At most 100 gateways.
pub fn via_all(gateways: &[String], wait: std::time::Duration) -> Result<Vec<Route>, Error> {
    let mut out = Vec::new();
    for (i, gw) in gateways.iter().enumerate() {
        let index = u8::try_from(i).ok().filter(|i| *i < 100).ok_or_else(|| {
            Error::Route(format!(
                "a node can route through at most 100 gateways, not {}",
                gateways.len()
            ))
        })?;
        let r = plan(gw, None, index, (Vec::new(), Vec::new()), wait)?;
        install(&r)
            .map_err(|e| Error::Route(format!("routing the WoT traffic via `{gw}`: {e}")))?;
        out.push(r);
    }
    Ok(out)
}

/// The routing via `gateway` (an address, or a name resolved with retries for `wait`) in the local network it
/// belongs to (its subnet found from this namespace's addresses unless given), with the ports given or
/// else those of the environment ([`ports_from_env`]). Refuses without root: what it plans is installed or
/// removed as root only.
pub fn plan(
    gateway: &str,
    subnet: Option<String>,
    index: u8,
    (tcp_ports, udp_ports): (Vec<u16>, Vec<u16>),
    wait: std::time::Duration,
) -> Result<Route, Error> {
    use std::net::{Ipv4Addr, ToSocketAddrs};
    if !wotemu_sys::is_root() {
        return Err(Error::NotRoot("changing the routing (wotemu route)"));
    }
    let deadline = std::time::Instant::now() + wait;
    let gw: Ipv4Addr = loop {
        if let Ok(a) = gateway.parse() {
            break a;
        }
        let found = (gateway, 0).to_socket_addrs().ok().and_then(|mut it| {
            it.find_map(|a| match a.ip() {
                std::net::IpAddr::V4(v) => Some(v),
                _ => None,
            })
        });
        if let Some(a) = found {
            break a;
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Route(format!(
                "the gateway `{gateway}` does not resolve (waited {:.0} s); is its service running?",
                wait.as_secs_f64()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let subnet = match subnet {
        Some(s) => s,
        None => {
            let (a, p) = local_addrs()?
                .into_iter()
                .find(|(a, p)| in_subnet(gw, *a, *p))
                .ok_or_else(|| {
                    Error::Route(format!(
                        "no local address is in the network of the gateway {gw}; give --subnet"
                    ))
                })?;
            format!("{}/{p}", Ipv4Addr::from(u32::from(a) & mask(p)))
        }
    };
    let (mut tcp, mut udp) = ports_from_env();
    if !tcp_ports.is_empty() {
        tcp = tcp_ports;
    }
    if !udp_ports.is_empty() {
        udp = udp_ports;
    }
    Ok(Route {
        subnet,
        gateway: gw.to_string(),
        index: index.min(99),
        tcp_ports: tcp,
        udp_ports: udp,
    })
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

fn in_subnet(a: std::net::Ipv4Addr, net: std::net::Ipv4Addr, prefix: u8) -> bool {
    u32::from(a) & mask(prefix) == u32::from(net) & mask(prefix)
}

/// The local IPv4 addresses with their prefix lengths (`ip -o -4 addr`).
fn local_addrs() -> Result<Vec<(std::net::Ipv4Addr, u8)>, Error> {
    let out = sys::output("ip", &["-o", "-4", "addr", "show"])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            it.find(|w| *w == "inet")?;
            let (a, p) = it.next()?.split_once('/')?;
            Some((a.parse().ok()?, p.parse().ok()?))
        })
        .collect())
}

/// Removes the routing of `r` from the current namespace (what is not there is skipped).
pub fn remove(r: &Route) {
    let chain = r.chain();
    while sys::iptables(&[
        "-t", "mangle", "-D", "OUTPUT", "-d", &r.subnet, "-j", &chain,
    ])
    .is_ok()
    {}
    // What is not there cannot be removed: those failures are expected.
    for r in [
        sys::iptables(&["-t", "mangle", "-F", &chain]),
        sys::iptables(&["-t", "mangle", "-X", &chain]),
    ] {
        if let Err(e) = r {
            tracing::debug!(error = %e, "Nothing to remove.");
        }
    }
    while sys::ip(&["rule", "del", "fwmark", &r.mark(), "table", &r.table()]).is_ok() {}
    if let Err(e) = sys::ip(&["route", "flush", "table", &r.table()]) {
        tracing::debug!(error = %e, "No routes to flush.");
    }
}

/// The `mangle` rules of `r` as `iptables-restore` lines (its chain, the jump to it, its marks), without the
/// table's header and `COMMIT`.
fn mangle_rules(r: &Route) -> String {
    let chain = r.chain();
    let mark = r.mark();
    let mut rules = format!(
        ":{chain} - [0:0]\n-A OUTPUT -d {subnet} -j {chain}\n-A {chain} -d {gw}/32 -j RETURN\n",
        subnet = r.subnet,
        gw = r.gateway
    );
    for (proto, ports) in [("tcp", &r.tcp_ports), ("udp", &r.udp_ports)] {
        // multiport takes at most 15 ports.
        for chunk in ports.chunks(15) {
            let list = chunk
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",");
            for way in ["--dports", "--sports"] {
                rules.push_str(&format!(
                    "-A {chain} -p {proto} -m multiport {way} {list} -j MARK --set-mark {mark}\n"
                ));
            }
        }
    }
    rules
}

fn check_ports(r: &Route) -> Result<(), Error> {
    if r.tcp_ports.is_empty() && r.udp_ports.is_empty() {
        return Err(Error::Spec("no ports to route through the gateway".into()));
    }
    Ok(())
}

/// The `ip -batch` lines that send `r`'s marked packets to its gateway, for a namespace without them yet.
pub fn fresh_ip_lines(r: &Route) -> String {
    format!(
        "rule add fwmark {mark} table {table} priority {table}\nroute replace default via {gw} table {table}\n",
        mark = r.mark(),
        table = r.table(),
        gw = r.gateway
    )
}

/// Installs the rules of `routes` in the current namespace, which has none of wotemu's yet (a replica being
/// built): one `iptables-restore` for all of them, and the redirects off. Their `ip` lines
/// ([`fresh_ip_lines`]) are the caller's to run, in the batch that sets up the namespace's interfaces.
pub fn install_fresh_rules(routes: &[Route]) -> Result<(), Error> {
    let mut rules = String::from("*mangle\n");
    for r in routes {
        check_ports(r)?;
        rules.push_str(&mangle_rules(r));
    }
    rules.push_str("COMMIT\n");
    sys::cmd_stdin("iptables-restore", &["-w", "--noflush"], &rules)?;
    redirects_off()
}

/// Installs the routing of `r` in the current namespace: one `iptables-restore` and one `ip -batch` (three
/// processes in all when nothing was there before, so that a run's many replicas start quickly).
pub fn install(r: &Route) -> Result<(), Error> {
    check_ports(r)?;
    let chain = r.chain();
    let mark = r.mark();
    let existing = sys::output("iptables-save", &["-t", "mangle"]).unwrap_or_default();
    if existing.contains(&format!(":{chain} ")) {
        remove(r);
    }
    let rules = format!("*mangle\n{}COMMIT\n", mangle_rules(r));
    sys::cmd_stdin("iptables-restore", &["-w", "--noflush"], &rules)?;
    let table = r.table();
    // `-force`: a rule or table that is not there yet is fine to fail to delete.
    let batch = format!(
        "rule del fwmark {mark} table {table}\nroute flush table {table}\n{}",
        fresh_ip_lines(r)
    );
    let out = std::process::Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("piped").write_all(batch.as_bytes())?;
            c.wait_with_output()
        })
        .map_err(|e| {
            Error::Command(wotemu_sys::CommandError {
                command: "ip -batch".into(),
                message: e.to_string(),
            })
        })?;
    let rules_now = sys::output("ip", &["rule", "show"]).unwrap_or_default();
    if !rules_now.contains(&format!("fwmark {mark} lookup {table}")) {
        return Err(Error::Command(wotemu_sys::CommandError {
            command: format!("ip rule add fwmark {mark} table {table}"),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }));
    }
    redirects_off()
}

/// The gateway forwards back into the same network; its ICMP redirects must not shortcut it. In a container
/// /proc/sys is read-only: drop them with a rule instead (it lives as long as the container).
fn redirects_off() -> Result<(), Error> {
    let a = sys::sysctl("net.ipv4.conf.all.accept_redirects", "0");
    let d = sys::sysctl("net.ipv4.conf.default.accept_redirects", "0");
    if a.is_err() || d.is_err() {
        drop_redirects("INPUT")?;
    }
    Ok(())
}

/// `iptables -A <chain> -p icmp --icmp-type redirect -j DROP`, once.
fn drop_redirects(chain: &str) -> Result<(), Error> {
    let rule = ["-p", "icmp", "--icmp-type", "redirect", "-j", "DROP"];
    let mut check = vec!["-C", chain];
    check.extend(rule);
    if sys::iptables(&check).is_ok() {
        return Ok(());
    }
    let mut add = vec!["-A", chain];
    add.extend(rule);
    Ok(sys::iptables(&add)?)
}

/// Prepares the current namespace to be a gateway: forwarding on, no redirects (packets come in and go out
/// of the same interface), no reverse-path filter.
pub fn gateway_sysctls() -> Result<(), Error> {
    // In a container /proc/sys is read-only and forwarding is set by the service (`sysctls:`): that is
    // fine as long as it is on.
    if let Err(e) = sys::sysctl("net.ipv4.ip_forward", "1") {
        let on =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1");
        if !on {
            return Err(e);
        }
    }
    let mut redirects_off = true;
    for k in ["all", "default"] {
        redirects_off &= sys::sysctl(&format!("net.ipv4.conf.{k}.send_redirects"), "0").is_ok();
        if let Err(e) = sys::sysctl(&format!("net.ipv4.conf.{k}.rp_filter"), "0") {
            // Read-only in a container, where Docker leaves it loose already.
            tracing::debug!(error = %e, "rp_filter left as it is.");
        }
    }
    if !redirects_off {
        // Read-only /proc/sys (a container): a rule does it, for as long as the container lives.
        drop_redirects("OUTPUT")?;
    }
    if let Ok(rd) = std::fs::read_dir("/proc/sys/net/ipv4/conf") {
        for e in rd.flatten() {
            if let Err(err) = std::fs::write(e.path().join("send_redirects"), "0") {
                tracing::debug!(error = %err, iface = ?e.file_name(), "send_redirects left as it is.");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn subnets_are_matched_by_prefix() {
        use std::net::Ipv4Addr;
        let a = Ipv4Addr::new(10, 64, 3, 7);
        assert!(super::in_subnet(a, Ipv4Addr::new(10, 64, 0, 1), 16));
        assert!(!super::in_subnet(a, Ipv4Addr::new(10, 65, 0, 1), 16));
        assert!(super::in_subnet(a, Ipv4Addr::new(1, 2, 3, 4), 0));
    }
}
