//! Agent benchmark: prints the figures of the agent issue.
//!
//! `cargo bench -p wotemu --bench agent` runs the real `wotemu agent` binary against a redis-server of its own:
//!
//! 1. packet accounting: UDP datagrams are sent on loopback at a steady rate to a port nobody else uses, the
//!    agent counts them from its AF_PACKET socket; the dataset's count is compared with the sender's, and the
//!    agent's CPU time over the sending window (from /proc) is reported per core;
//! 2. memory: the agent's RSS with a no-op app, and the RSS of a bare `python3.11` importing the same WoTPy
//!    modules, whose difference is the agent's own memory;
//! 3. recording overhead: a tight read loop with and without the interaction recording (see apps/read_loop.py).
//!
//! Needs root (AF_PACKET) and the project's venv (scripts/setup.sh). `WOTEMU_BENCH_PPS` (default 100000) and
//! `WOTEMU_BENCH_PACKETS` (default 1000000) set the load.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::UInt16Type;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::Table;
use wotemu_testkit::{cpu_secs_of, free_port, RedisServer};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv")
}

fn apps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/apps")
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

fn agent(redis: &RedisServer, task: &str, spool: &Path, app: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wotemu"))
        .args(["-q", "agent", "--path", app, "--venv"])
        .arg(venv())
        .args([
            "--stack",
            "bench",
            "--task",
            task,
            "--redis-url",
            &redis.url(),
            "--spool-dir",
        ])
        .arg(spool)
        .args(extra)
        .env("PORT_CATALOGUE", free_port().to_string())
        .env("PORT_HTTP", free_port().to_string())
        .env("PORT_WS", free_port().to_string())
        .env("WOTEMU_SERVIENT_HOST", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run wotemu agent")
}

fn stop(child: &mut Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "the agent failed: {status}");
}

fn wait_for_stream(redis: &RedisServer, task: &str) {
    let mut conn = redis.conn();
    let key = StackKeys::new("bench").stream(task);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: u64 = redis::cmd("XLEN").arg(&key).query(&mut conn).unwrap();
        if n > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the agent did not ship anything");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    assert!(
        venv().join("bin/python").exists(),
        "run scripts/setup.sh first (the venv with WoTPy)"
    );
    let pps = env_u64("WOTEMU_BENCH_PPS", 100_000);
    let total = env_u64("WOTEMU_BENCH_PACKETS", 1_000_000);
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let noop = apps().join("noop.py");

    // 1 + 2: packets and memory.
    let mut a = agent(
        &redis,
        "bench_pkt.1.a",
        &spool,
        noop.to_str().unwrap(),
        &["--capture-iface", "lo"],
    );
    wait_for_stream(&redis, "bench_pkt.1.a");
    std::thread::sleep(Duration::from_secs(1)); // settle, then read the idle RSS
    let idle_rss = rss_mib(a.id());
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sink.local_addr().unwrap().port();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.connect(("127.0.0.1", port)).unwrap();
    let payload = [0u8; 64];
    let cpu0 = cpu_secs_of(a.id()).expect("the agent runs");
    let start = Instant::now();
    let mut sent = 0u64;
    let tick = Duration::from_millis(1);
    let per_tick = (pps / 1000).max(1);
    let mut next = start;
    while sent < total {
        for _ in 0..per_tick.min(total - sent) {
            sender.send(&payload).unwrap();
            sent += 1;
        }
        next += tick;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs_of(a.id()).expect("the agent runs") - cpu0;
    let busy_rss = rss_mib(a.id());
    stop(&mut a);
    let run = dir.path().join("run");
    let st = Command::new(env!("CARGO_BIN_EXE_wotemu"))
        .args([
            "-q",
            "collect",
            "--stack",
            "bench",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(&run)
        .status()
        .unwrap();
    assert!(st.success());
    let counted: usize = wotemu_collector::dataset::read_table(&run, Table::Packets)
        .unwrap()
        .iter()
        .map(|b| {
            let c = b
                .column_by_name("dstport")
                .unwrap()
                .as_primitive::<UInt16Type>();
            c.iter().filter(|p| *p == Some(port)).count()
        })
        .sum();
    let m = wotemu_contract::Manifest::read(&run).unwrap();
    println!(
        "packets: sent {sent} at {:.0}/s; the agent counted {counted} ({}), kernel drops reported {}; agent CPU {:.1}% of one core ({:.1}% per 10k pps)   (targets: >= 100,000/s, <= 25%, exact)",
        sent as f64 / secs,
        if counted as u64 == sent { "exact" } else { "NOT exact" },
        m.accounting.totals.records_dropped_by_agent,
        cpu / secs * 100.0,
        cpu / secs * 100.0 / (sent as f64 / secs / 10_000.0),
    );

    // Python's own memory: a bare interpreter with the same imports.
    let py = Command::new(venv().join("bin/python"))
        .args(["-c", "import asyncio, wotpy.wot.servient, wotpy.protocols.http.server, wotpy.protocols.ws.server, reactivex; import os; print(open('/proc/self/status').read())"])
        .output()
        .unwrap();
    let py_rss = String::from_utf8_lossy(&py.stdout)
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .map(|v| v.parse::<f64>().unwrap() / 1024.0)
        })
        .unwrap_or(0.0);
    println!(
        "memory: agent RSS {idle_rss:.1} MiB idle, {busy_rss:.1} MiB under load; a bare Python with WoTPy {py_rss:.1} MiB; the agent's own ≈ {:.1} MiB idle, {:.1} MiB under load   (target: <= 30 MB)",
        idle_rss - py_rss,
        busy_rss - py_rss
    );

    // 3: recording overhead.
    let mut a = agent(
        &redis,
        "bench_loop.1.a",
        &spool,
        apps().join("read_loop.py").to_str().unwrap(),
        &["--no-capture", "--enable-http"],
    );
    let stdout = a.stdout.take().unwrap();
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("WOTEMU_BENCH "))
        .expect("the read loop reports");
    stop(&mut a);
    let v: serde_json::Value = serde_json::from_str(&line["WOTEMU_BENCH ".len()..]).unwrap();
    for k in ["exposed", "consumed"] {
        println!(
            "recording overhead, {k} read loop: {:.1} µs plain, {:.1} µs recorded: {:+.1}%   (target: <= 5%)",
            v[k]["plain_us"].as_f64().unwrap(),
            v[k]["recorded_us"].as_f64().unwrap(),
            v[k]["overhead_pct"].as_f64().unwrap()
        );
    }
}
