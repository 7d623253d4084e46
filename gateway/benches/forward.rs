//! Userspace shaper benchmark (issue: ≥ 200,000 packets/s forwarded, ≥ 1 Gbit/s unshaped, ≤ 0.2 ms added at
//! p99 beyond the configured delay; CPU per 10k pps). Needs root: builds two hosts and a gateway in network
//! namespaces and runs the real gateway loop (the code `wotemu gateway` runs) in the gateway's namespace.
//!
//!   cargo bench -p wotemu-gateway --bench forward

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wotemu_gateway::probe::{self, in_netns};
use wotemu_gateway::route::{self, Route};
use wotemu_gateway::{sys, Backend, GatewayOptions, Spec};

struct Lab(String);

impl Lab {
    fn new() -> Lab {
        let p = format!("wtb-{}", std::process::id());
        let ip = |a: &[&str]| {
            assert!(
                Command::new("ip").args(a).status().unwrap().success(),
                "ip {a:?}"
            )
        };
        ip(&["netns", "add", &p]);
        ip(&["-n", &p, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &p, "link", "set", "br0", "up"]);
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &p,
                "sysctl",
                "-q",
                "-w",
                "net.bridge.bridge-nf-call-iptables=0",
            ])
            .status();
        for (i, h) in ["gw", "a", "b"].iter().enumerate() {
            let ns = format!("{p}-{h}");
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            let peer = format!("p{i}");
            ip(&[
                "-n", &p, "link", "add", &peer, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            ip(&["-n", &p, "link", "set", &peer, "master", "br0", "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.80.0.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        let r = Route {
            subnet: "10.80.0.0/24".into(),
            gateway: "10.80.0.1".into(),
            index: 0,
            tcp_ports: vec![80],
            udp_ports: vec![5683],
        };
        for h in ["a", "b"] {
            let r = r.clone();
            in_netns(&format!("{p}-{h}"), move || route::install(&r))
                .join()
                .unwrap()
                .unwrap();
        }
        Lab(p)
    }

    fn ns(&self, h: &str) -> String {
        format!("{}-{h}", self.0)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in ["a", "b", "gw"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(h)])
                .status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Keeps the windows the gateway reports, as `wotemu gateway` turns each into rows.
#[derive(Default)]
struct Ticks(Vec<[wotemu_gateway::userspace::Window; 2]>);

impl wotemu_gateway::Hooks for Ticks {
    fn tick(&mut self, r: &wotemu_gateway::userspace::Report) {
        self.0.push(r.windows);
    }
}

/// A gateway loop running in the lab; stopped on drop. Reports its thread's CPU seconds.
struct Gw {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<(f64, wotemu_gateway::userspace::Report)>>,
}

impl Gw {
    fn start(lab: &Lab, json: &str) -> Gw {
        Gw::start_with(lab, json, true)
    }

    /// `windows`: the gateway's own accounting per window and direction (what runs ship to the dataset).
    fn start_with(lab: &Lab, json: &str, windows: bool) -> Gw {
        let spec = Spec::from_json(json).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let ns = lab.ns("gw");
        let handle = std::thread::spawn(move || {
            sys::enter_netns(&ns).unwrap();
            let opts = GatewayOptions {
                backend: Backend::Userspace,
                ports: vec![80, 5683],
                queue_num: 0,
                devices: vec![],
                seed: 1,
                windows,
                elapsed_ms: 0.0,
            };
            let c0 = sys::thread_cpu_s();
            let r = wotemu_gateway::run_gateway(&spec, &opts, &s, &mut Ticks::default()).unwrap();
            (sys::thread_cpu_s() - c0, r)
        });
        // Ready when the rule is in (the loop has bound its queue by then).
        let gw_ns = lab.ns("gw");
        for _ in 0..500 {
            let out = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &gw_ns,
                    "iptables",
                    "-w",
                    "-t",
                    "mangle",
                    "-S",
                    "WOTEMU_GW",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("NFQUEUE") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Gw {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> (f64, wotemu_gateway::userspace::Report) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap()
    }
}

fn udp_pps(lab: &Lab, size: usize, secs: f64) -> (f64, f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let sink = {
        let (s, r) = (stop.clone(), ready.clone());
        in_netns(&lab.ns("b"), move || probe::sink(5683, s, r))
    };
    while !ready.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let to = SocketAddr::from((Ipv4Addr::new(10, 80, 0, 3), 5683));
    let (sent, t0, t1) = in_netns(&lab.ns("a"), move || probe::flood(0, to, None, secs, size))
        .join()
        .unwrap()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let arrivals = sink.join().unwrap().unwrap();
    let dt = (t1 - t0) as f64 / 1e9;
    (
        arrivals.len() as f64 / dt,
        sent as f64 / dt,
        arrivals.len() as u64,
    )
}

fn tcp_gbps(lab: &Lab, secs: f64) -> f64 {
    let ready = Arc::new(AtomicBool::new(false));
    let server = {
        let r = ready.clone();
        in_netns(&lab.ns("b"), move || {
            let l = TcpListener::bind("0.0.0.0:80").unwrap();
            r.store(true, Ordering::SeqCst);
            let (mut s, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            let t0 = sys::monotonic_ns();
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n as u64,
                }
            }
            Ok((total, (sys::monotonic_ns() - t0) as f64 / 1e9))
        })
    };
    while !ready.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    in_netns(&lab.ns("a"), move || {
        let mut s = TcpStream::connect("10.80.0.3:80").unwrap();
        let buf = vec![0x5au8; 1 << 20];
        let end = sys::monotonic_ns() + (secs * 1e9) as u64;
        while sys::monotonic_ns() < end {
            s.write_all(&buf).unwrap();
        }
        Ok(())
    })
    .join()
    .unwrap()
    .unwrap();
    let (bytes, dt) = server.join().unwrap().unwrap();
    bytes as f64 * 8.0 / dt / 1e9
}

fn rtt_p99(lab: &Lab, port: u16, n: u64, pps: f64) -> (f64, f64) {
    let l = wotemu_gateway::fidelity::Lab {
        a_ns: lab.ns("a"),
        a_addr: Ipv4Addr::new(10, 80, 0, 2),
        b_ns: lab.ns("b"),
        b_addr: Ipv4Addr::new(10, 80, 0, 3),
        wot_port: port,
        other_port: 7000,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let server = {
        let (s, r) = (stop.clone(), ready.clone());
        in_netns(&l.b_ns, move || probe::echo_server(port, s, r))
    };
    while !ready.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let to = SocketAddr::from((l.b_addr, port));
    let mut r = in_netns(&l.a_ns, move || {
        probe::prober(to, n, pps, Duration::from_millis(500))
    })
    .join()
    .unwrap()
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap().unwrap();
    r.rtts_ms.sort_by(f64::total_cmp);
    let q = |p: f64| r.rtts_ms[((r.rtts_ms.len() - 1) as f64 * p) as usize];
    (q(0.5), q(0.99))
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("this benchmark needs root (network namespaces)");
        std::process::exit(1);
    }
    let lab = Lab::new();
    println!(
        "userspace shaper (NFQUEUE) on this machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // Reference: the same path with the kernel forwarding alone (no queue rule in the gateway).
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("gw"),
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ])
        .status();
    let (kpps, _, _) = udp_pps(&lab, 18, 3.0);
    println!(
        "reference: kernel forwarding alone through the gateway namespace: {kpps:.0} packets/s"
    );

    let gw = Gw::start(&lab, "{}");
    let (pps, offered, n) = udp_pps(&lab, 18, 4.0);
    let (cpu, rep) = gw.finish();
    let secs = 4.0;
    println!(
        "small packets (46 B IP), unshaped: {:.0} packets/s forwarded (offered {:.0}/s; {} received; kernel queue drops {}); gateway loop CPU {:.1}% of a core, {:.2}% per 10k pps",
        pps, offered, n, rep.kernel_dropped, 100.0 * cpu / secs, 100.0 * cpu / secs / (pps / 10_000.0)
    );

    // The cost of the gateway's own accounting (delay and lateness per window and direction): the same
    // flood with and without it, alternated, medians of three.
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..3 {
        for (windows, out) in [(false, &mut without), (true, &mut with)] {
            let gw = Gw::start_with(&lab, "{}", windows);
            let (pps, _, _) = udp_pps(&lab, 18, 3.0);
            gw.finish();
            out.push(pps);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    println!(
        "gateway accounting: {w:.0} packets/s forwarded with it, {wo:.0} without ({:+.1} %)",
        100.0 * (w - wo) / wo
    );

    let gw = Gw::start(&lab, "{}");
    let gbps = tcp_gbps(&lab, 4.0);
    let (cpu, rep) = gw.finish();
    println!(
        "TCP stream, unshaped: {:.2} Gbit/s ({} packets through the shaper); gateway loop CPU {:.1}% of a core",
        gbps, rep.stats.forwarded, 100.0 * cpu / 4.0
    );

    let direct = rtt_p99(&lab, 7000, 2000, 1000.0);
    let gw = Gw::start(&lab, r#"{"latency": 10}"#);
    let shaped = rtt_p99(&lab, 5683, 4000, 1000.0);
    let (_, rep) = gw.finish();
    println!(
        "added latency, 10 ms configured each way, 1000 probes/s: RTT p50 {:.3} ms, p99 {:.3} ms (direct path p50 {:.3}, p99 {:.3} ms) → p99 beyond configured and direct: {:.3} ms; shaper release lateness p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        shaped.0, shaped.1, direct.0, direct.1, shaped.1 - 20.0 - direct.1, rep.lateness_p50_us, rep.lateness_p99_us, rep.lateness_max_us
    );

    // Under load: 10 ms delay while 50k pps of other traffic goes through.
    let gw = Gw::start(&lab, r#"{"latency": 10}"#);
    let bg = {
        let a = lab.ns("a");
        std::thread::spawn(move || {
            in_netns(&a, move || {
                probe::flood(
                    0,
                    SocketAddr::from((Ipv4Addr::new(10, 80, 0, 3), 5683)),
                    Some(50_000.0 * 46.0 * 8.0),
                    5.0,
                    18,
                )
            })
            .join()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let loaded = rtt_p99(&lab, 5683, 3000, 1000.0);
    let _ = bg.join();
    let (_, rep) = gw.finish();
    println!(
        "added latency under 50k pps of other traffic: RTT p50 {:.3} ms, p99 {:.3} ms → p99 beyond configured and direct: {:.3} ms; shaper lateness p99 {:.0} µs",
        loaded.0, loaded.1, loaded.1 - 20.0 - direct.1, rep.lateness_p99_us
    );
}
