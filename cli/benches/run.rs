//! `wotemu run` benchmark: prints the figures of the run issue.
//!
//! `cargo bench -p wotemu --bench run` (root, the project's venv from scripts/setup.sh):
//!
//! 1. scales: `WOTEMU_BENCH_SCALES` replicas (default 100, 300 and 1,000: 1 server + readers reading every
//!    10 s on an LTE network), each for `WOTEMU_BENCH_SECS` (default 60 s): time from starting `wotemu run`
//!    until every reader interacted, PSS per replica (`/proc/PID/smaps_rollup` of the replicas' processes
//!    and the zygote, mid-run), the run's Redis's CPU until then (with or without its append-only file: a
//!    `redis-server` on `PATH` that passes `--appendonly no` makes the A/B), CPU per replica at steady
//!    state, interactions per reader per minute against the configured rate (and readers that stopped),
//!    stop + collect + report time and the site's size (`WOTEMU_ZYGOTE=0` to compare with agents started
//!    one by one);
//! 2. ingest: the agents' Redis load replayed against one Redis (entries and records per second), and the
//!    replicas that makes at the rate the last scale's replicas shipped; then against a Redis kept durable
//!    as `wotemu run` keeps its own (append-only file, fsync every second): the cost of that durability;
//! 3. stop + collect + report of the quickstart (as `wotemu run` prints it);
//! 4. salvage: the quickstart's runner is killed (SIGKILL) once it runs, its Redis is filled up to
//!    `WOTEMU_BENCH_SALVAGE_RECORDS` (default 1,000,000) records, and `wotemu clean` is timed saving them into
//!    a dataset (and its report).
//!
//! `WOTEMU_BENCH_PARTS=scales,ingest` (any of scales, ingest, quickstart, salvage) runs only those parts.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
use wotemu_collector::dataset::read_table;
use wotemu_contract::Table;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn topology(dir: &Path, readers: u32, preset: &str, read_sleep: f64) -> PathBuf {
    let server = repo().join("examples/apps/quickstart_server.py");
    let text = format!(
        "networks:\n  net:\n    conditions: {preset}\nnodes:\n  server:\n    app:\n      path: {}\n      http: true\n    networks: [net]\n  reader:\n    app:\n      path: reader\n      params:\n        servient_host: server.net\n        thing_id: \"urn:wotemu:quickstart:thing\"\n        read_sleep: \"{read_sleep}\"\n    networks: [net]\n    resources:\n      mem_limit: 150M\n    scale: {readers}\n",
        server.display()
    );
    let p = dir.join(format!("bench-{readers}.yml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn run(topology: &Path, out: &Path, secs: u64, report: bool) -> (i64, String) {
    let t0 = now_us();
    let mut c = Command::new(env!("CARGO_BIN_EXE_wotemu"));
    c.arg("-q")
        .arg("run")
        .arg(topology)
        .args(["--duration", &format!("{secs}s"), "--out"])
        .arg(out)
        .env("WOTEMU_VENV", repo().join(".venv"))
        .stderr(Stdio::inherit());
    if !report {
        c.arg("--no-report");
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "wotemu run failed");
    (t0, String::from_utf8_lossy(&o.stdout).into_owned())
}

fn meminfo_available() -> u64 {
    let s = std::fs::read_to_string("/proc/meminfo").unwrap();
    s.lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap()
        * 1024
}

fn cpu_idle() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v[3] + v.get(4).copied().unwrap_or(0), v.iter().sum())
}

/// CPU seconds the machine has been busy (all cores, from `/proc/stat`).
fn busy_secs() -> f64 {
    let (idle, total) = cpu_idle();
    // SAFETY: sysconf has no preconditions.
    (total - idle) as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Proportional set size (kB) of a process: its share of every page it maps (`smaps_rollup`).
fn pss_kb(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// PSS (bytes) of the run's replicas (processes in a `wotemu/<run>/` cgroup) and of the zygote, and how many
/// replica processes there were.
fn run_pss() -> (u64, u64, usize) {
    let (mut replicas, mut zygote, mut n) = (0u64, 0u64, 0usize);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cg.contains(":/wotemu/") || cg.contains("::/wotemu/") {
            replicas += pss_kb(&pid).unwrap_or(0) * 1024;
            n += 1;
        } else if cmd.windows(13).any(|w| w == b"zygote\0--run\0") {
            zygote += pss_kb(&pid).unwrap_or(0) * 1024;
        }
    }
    (replicas, zygote, n)
}

/// The run's own Redis (`redis-server unixsocket:/run/wotemu/…`, as Redis titles itself): its pid and whether
/// it keeps an append-only file.
fn run_redis() -> Option<(u32, bool)> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default()
            != "redis-server\n"
        {
            continue;
        }
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if let Some((_, sock)) = cmd.split_once(" unixsocket:/run/wotemu/") {
            let sock = Path::new("/run/wotemu").join(sock.trim_end_matches(['\0', ' ']));
            let aof = sock.with_file_name("redis").join("appendonlydir");
            return Some((pid, aof.exists()));
        }
    }
    None
}

/// The time (s) a process's live threads have run (`/proc/PID/task/*/schedstat`, in nanoseconds): finer
/// than `testkit::cpu_secs_of`'s clock ticks (10 ms), which a start-up's tens of milliseconds of Redis need;
/// threads that ended are not counted (Redis's run for its life).
fn run_secs(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        ns += s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(ns as f64 / 1e9)
}

/// (unix µs, the run's Redis's CPU seconds, the machine's busy CPU seconds) samples.
type RedisCpu = Vec<(i64, f64, f64)>;

/// Every 50 ms until `stop`: the run's Redis's CPU samples, and whether that Redis kept an append-only file.
fn redis_cpu_series(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(RedisCpu, Option<bool>)> {
    std::thread::spawn(move || {
        let mut series = Vec::new();
        let mut redis = None;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if redis.is_none() {
                redis = run_redis();
            }
            if let Some((pid, _)) = redis {
                if let Some(cpu) = run_secs(pid) {
                    series.push((now_us(), cpu, busy_secs()));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (series, redis.map(|r| r.1))
    })
}

/// A task's consumed interactions.
#[derive(Default)]
struct Reads {
    n: u64,
    latency_ms: f64,
    /// When the first and the last ended (µs; an interaction's time is its end).
    first: i64,
    last: i64,
    /// Per name read: when each read began (µs: time - latency).
    names: std::collections::BTreeMap<String, Vec<i64>>,
}

impl Reads {
    /// Rounds a minute from `from` (µs): a round reads every name once, so the name read most often counts
    /// them, and the time from its first read's start to its last's holds one round fewer than it read.
    fn rounds_per_minute(&self, from: i64) -> Option<f64> {
        let began: Vec<i64> = self
            .names
            .values()
            .max_by_key(|v| v.len())?
            .iter()
            .copied()
            .filter(|&t| t >= from)
            .collect();
        let (first, last) = (*began.iter().min()?, *began.iter().max()?);
        (began.len() >= 2 && last > first)
            .then(|| (began.len() - 1) as f64 * 60e6 / (last - first) as f64)
    }
}

/// Per task, its consumed interactions; and the last one's time of all.
fn interactions(out: &Path) -> (std::collections::BTreeMap<String, Reads>, i64) {
    let mut per: std::collections::BTreeMap<String, Reads> = Default::default();
    let mut last = 0;
    for b in read_table(out, Table::Interactions).unwrap() {
        let task = b.column_by_name("task").unwrap().as_string::<i32>().clone();
        let side = b.column_by_name("side").unwrap().as_string::<i32>().clone();
        let name = b.column_by_name("name").unwrap().as_string::<i32>().clone();
        let lat = b
            .column_by_name("latency_ms")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        let time = b
            .column_by_name("time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        for i in 0..b.num_rows() {
            if side.value(i) == "consumed" {
                let r = per.entry(task.value(i).to_owned()).or_insert(Reads {
                    first: i64::MAX,
                    ..Default::default()
                });
                let t = time.value(i);
                let latency_ms = if lat.is_null(i) { 0.0 } else { lat.value(i) };
                r.n += 1;
                r.latency_ms += latency_ms;
                (r.first, r.last) = (r.first.min(t), r.last.max(t));
                let began = t - (latency_ms * 1e3) as i64;
                r.names
                    .entry(name.value(i).to_owned())
                    .or_default()
                    .push(began);
                last = last.max(t);
            }
        }
    }
    (per, last)
}

/// Mean CPU (% of a core) per task over samples after `from_us`.
fn cpu_after(out: &Path, from_us: i64) -> f64 {
    let mut cpu: std::collections::BTreeMap<String, (f64, u32)> = Default::default();
    for b in read_table(out, Table::System).unwrap() {
        let task = b.column_by_name("task").unwrap().as_string::<i32>().clone();
        let time = b
            .column_by_name("time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        let c = b
            .column_by_name("cpu_percent")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        for i in 0..b.num_rows() {
            if time.value(i) >= from_us && !c.is_null(i) {
                let e = cpu.entry(task.value(i).to_owned()).or_default();
                e.0 += c.value(i);
                e.1 += 1;
            }
        }
    }
    cpu.values()
        .map(|(s, k)| s / (*k).max(1) as f64)
        .sum::<f64>()
        / cpu.len().max(1) as f64
}

/// One scale: `replicas` (the server and readers reading every `READ_SLEEP` s on LTE) for `secs`.
fn scale(dir: &Path, replicas: u32, secs: u64) -> (f64, f64) {
    const READ_SLEEP: f64 = 10.0;
    let topo = topology(dir, replicas - 1, "lte", READ_SLEEP);
    let out = dir.join(format!("run{replicas}"));
    let avail0 = meminfo_available();
    // Memory and CPU of the machine in the second half of the run, PSS in its middle.
    let sampler = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs / 2));
        let pss = run_pss();
        let (i0, t0) = cpu_idle();
        let a = meminfo_available();
        std::thread::sleep(Duration::from_secs(secs / 4));
        let (i1, t1) = cpu_idle();
        (pss, a, (i1 - i0) as f64 / (t1 - t0).max(1) as f64)
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let redis_cpu = redis_cpu_series(stop.clone());
    let busy0 = busy_secs();
    let (t0, stdout) = run(&topo, &out, secs, true);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (redis_series, durable) = redis_cpu.join().unwrap();
    let ((pss_replicas, pss_zygote, procs), avail_mid, idle) = sampler.join().unwrap();
    let (per, last) = interactions(&out);
    let readers: Vec<i64> = per
        .iter()
        .filter(|(t, _)| t.contains("_reader."))
        .map(|(_, r)| r.first)
        .collect();
    let all = readers.iter().max().copied().unwrap_or(i64::MAX);
    let t_all = (all - t0) as f64 / 1e6;
    // The durable Redis's share of the start-up: its CPU until every reader interacted, against what the
    // whole machine spent (on a busy host, CPU it takes is CPU the agents wait for).
    let redis_line = match redis_series.iter().rev().find(|s| s.0 <= all) {
        Some(&(_, cpu, busy)) => format!(
            "its Redis ({}): {:.3} s of CPU until every reader interacted, {:.1} % of the {:.1} CPU-seconds the machine spent",
            match durable {
                Some(true) => "append-only file",
                _ => "no append-only file",
            },
            cpu,
            cpu * 100.0 / (busy - busy0).max(1e-9),
            busy - busy0
        ),
        None => "its Redis: not seen".to_owned(),
    };
    // A reader's round reads each of the thing's properties, and a round starts every READ_SLEEP s (the
    // builtin reader's pace "period"): the configured rate is properties × 60 / READ_SLEEP a minute, whatever
    // the reads' latency. A starved replica reads less often, or stops reading before the run's end (its
    // last read more than two periods before the run's last). Measured once every reader runs (from the
    // moment every reader has interacted: the replicas running together), and over each reader's whole run
    // (start-up included, when the server answers a thousand readers that start).
    let rates = |steady: bool| {
        let (mut rates, mut within, mut stopped) = (Vec::new(), 0, 0);
        for r in per
            .iter()
            .filter(|(t, _)| t.contains("_reader."))
            .map(|(_, r)| r)
        {
            let from = if steady { all } else { r.first };
            // Less than half a minute of it is no rate to speak of; a reader with less than two rounds in
            // half a minute or more read at a rate of nothing.
            if ((last - from) as f64 / 60e6) < 0.5 {
                continue;
            }
            let rounds = r.rounds_per_minute(from).unwrap_or(0.0);
            let props = r.names.len() as f64;
            let (rate, expected) = (rounds * props, props * 60.0 / READ_SLEEP);
            if (last - r.last) as f64 / 1e6 > 2.0 * READ_SLEEP {
                stopped += 1;
            } else if (rate - expected).abs() <= expected * 0.1 {
                within += 1;
            }
            rates.push((rate, expected));
        }
        if rates.is_empty() {
            return "not measured (less than half a minute of it: a longer WOTEMU_BENCH_SECS)"
                .to_owned();
        }
        let n = rates.len() as f64;
        format!(
            "mean {:.2} against the configured {:.2} (lowest ratio {:.2}); {within} of {} within 10 %, {stopped} stopped reading",
            rates.iter().map(|r| r.0).sum::<f64>() / n,
            rates.iter().map(|r| r.1).sum::<f64>() / n,
            rates.iter().map(|(r, e)| r / e).fold(f64::INFINITY, f64::min),
            rates.len()
        )
    };
    let (reads, lat_sum) = per
        .iter()
        .filter(|(t, _)| t.contains("_reader."))
        .fold((0u64, 0.0), |(n, l), (_, r)| (n + r.n, l + r.latency_ms));
    let cpu = cpu_after(&out, t0 + (secs as i64 * 1_000_000) / 2);
    let m = wotemu_contract::Manifest::read(&out).expect("the dataset");
    let t = &m.accounting.totals;
    let tail = stdout
        .lines()
        .find(|l| l.contains("stop, collect and report"))
        .unwrap_or("")
        .trim()
        .to_owned();
    let site_bytes = dir_size(&out.join("site"));
    // What the network's one gateway forwarded, per second of the run (both directions).
    let mut forwarded = 0u64;
    for b in read_table(&out, Table::Network).unwrap() {
        let f = b
            .column_by_name("forwarded")
            .unwrap()
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .clone();
        forwarded += (0..b.num_rows())
            .filter(|i| !f.is_null(*i))
            .map(|i| f.value(i))
            .sum::<u64>();
    }
    let gw_pps = forwarded as f64 / secs as f64;
    let rate_line = format!(
        "interactions per reader per minute, all readers running: {}\n  \
         the same over each reader's whole run: {}; a read's latency {:.0} ms on average",
        rates(true),
        rates(false),
        lat_sum / reads.max(1) as f64
    );
    println!(
        "{replicas} replicas (1 server + {} readers, every {READ_SLEEP} s, LTE, {secs} s{}):\n  \
         every reader interacting {t_all:.2} s after `wotemu run` started ({} of {} readers)\n  \
         PSS per replica {:.1} MiB (replicas {:.0} MiB + zygote {:.0} MiB over {procs} processes); machine: {:.2} GiB in use, {:.0}% CPU idle\n  \
         {redis_line}\n  \
         CPU per replica at steady state {cpu:.2}% of a core\n  \
         {rate_line}\n  \
         {tail}; site {:.1} MiB\n  \
         shipped: {:.1} entries and {:.1} records per replica per second; the gateway forwarded {gw_pps:.0} packets/s ({:.2} per replica)",
        replicas - 1,
        if zygote_enabled() { "" } else { ", WOTEMU_ZYGOTE=0" },
        readers.len(),
        replicas - 1,
        (pss_replicas + pss_zygote) as f64 / f64::from(replicas) / 1048576.0,
        pss_replicas as f64 / 1048576.0,
        pss_zygote as f64 / 1048576.0,
        avail0.saturating_sub(avail_mid) as f64 / 1073741824.0,
        idle * 100.0,
        site_bytes as f64 / 1048576.0,
        t.entries_read as f64 / f64::from(replicas) / secs as f64,
        t.records_written as f64 / f64::from(replicas) / secs as f64,
        gw_pps / f64::from(replicas),
    );
    (
        t.entries_read as f64 / f64::from(replicas) / secs as f64,
        t.records_written as f64 / f64::from(replicas) / secs as f64,
    )
}

fn zygote_enabled() -> bool {
    std::env::var("WOTEMU_ZYGOTE").map_or(true, |v| v != "0")
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    };
    rd.flatten().map(|e| dir_size(&e.path())).sum()
}

/// The agents' Redis load replayed against one Redis: `threads` clients writing agent-sized entries
/// (`rows` rows of one table each) as fast as they can; entries and records per second it took.
fn ingest(threads: usize, rows: usize, durable: bool) -> (f64, f64) {
    // A Redis of its own over TCP, as a Swarm stack's agents reach theirs; `durable` as `wotemu run` keeps its
    // own (append-only file fsynced every second).
    let server = if durable {
        wotemu_testkit::RedisServer::start_as_a_run()
    } else {
        wotemu_testkit::RedisServer::start()
    };
    let url = server.url();
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = redis::Client::open(url.as_str())
                    .and_then(|c| c.get_connection())
                    .unwrap();
                let mut synth = wotemu_testkit::synth::Synth::new(k as u64 + 1, "ingest");
                let tasks = synth.tasks(&[(&format!("n{k}"), 25)]);
                wotemu_testkit::load::load_synthetic(
                    &mut conn,
                    &mut synth,
                    "ingest",
                    &tasks,
                    rows * 40,
                    rows,
                    false,
                )
                .records
            })
        })
        .collect();
    let records: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = t.elapsed().as_secs_f64();
    let entries = records as f64 / rows as f64;
    let cpu = server.cpu_secs();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut server.conn())
        .unwrap();
    let used: f64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    println!(
        "  Redis used {:.0} % of a core; it holds {:.0} bytes per record ({:.0} MiB for {records} records)",
        cpu / secs * 100.0,
        used / records.max(1) as f64,
        used / 1048576.0
    );
    (entries / secs, records as f64 / secs)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("this benchmark needs root (wotemu run)");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().unwrap();
    println!(
        "machine: {} cores, {:.1} GiB available",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        meminfo_available() as f64 / 1073741824.0
    );

    // WOTEMU_BENCH_PARTS picks parts (default: all of scales,ingest,quickstart,salvage).
    let parts = std::env::var("WOTEMU_BENCH_PARTS")
        .unwrap_or_else(|_| "scales,ingest,quickstart,salvage".into());
    let part = |p: &str| parts.split(',').any(|x| x.trim() == p);

    // 1. Scales: WOTEMU_BENCH_SCALES replicas (default 100,300,1000), each for WOTEMU_BENCH_SECS (60 s).
    let secs: u64 = std::env::var("WOTEMU_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let scales: Vec<u32> = std::env::var("WOTEMU_BENCH_SCALES")
        .unwrap_or_else(|_| "100,300,1000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    // What a replica ships (entries/s, records/s): the last scale's, else the quickstart-like default the
    // 100-replica run measured.
    let mut per_replica = (1.0, 20.0);
    if part("scales") {
        for n in scales {
            per_replica = scale(dir.path(), n, secs);
        }
    }

    // 2. The Swarm note's ingest figure: what one Redis takes, against what a replica ships.
    if part("ingest") {
        let rows = 8;
        let (eps, rps) = ingest(4, rows, false);
        println!(
        "one Redis ingests {eps:.0} entries/s ({rps:.0} records/s, {rows} rows per entry, 4 clients); at the rate a replica ships ({:.2} entries/s) that is {:.0} replicas; 1,000 replicas need {:.0} entries/s, 10,000 need {:.0}",
        per_replica.0,
        eps / per_replica.0.max(1e-9),
        per_replica.0 * 1000.0,
        per_replica.0 * 10000.0,
    );
        let (durable_eps, _) = ingest(4, rows, true);
        println!(
            "the same into a Redis kept durable as `wotemu run`'s (append-only file, fsync every second): {durable_eps:.0} entries/s, {:+.1} %",
            (durable_eps / eps - 1.0) * 100.0
        );
    }

    // 3. Stop + collect + report of the quickstart.
    if part("quickstart") {
        let out = dir.path().join("quickstart");
        let (_, stdout) = run(&repo().join("examples/quickstart.yml"), &out, 15, true);
        let line = stdout
            .lines()
            .find(|l| l.contains("stop, collect and report"))
            .unwrap_or("");
        println!("quickstart: {}", line.trim());
    }

    // 4. Salvage of a crashed run with many records in its Redis.
    let n: usize = std::env::var("WOTEMU_BENCH_SALVAGE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if part("salvage") {
        salvage(dir.path(), n);
    }
}

/// The state of the run writing to `out`.
fn state_of(out: &Path) -> Option<serde_json::Value> {
    for e in std::fs::read_dir("/run/wotemu").ok()?.flatten() {
        let Ok(b) = std::fs::read(e.path().join("state.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) else {
            continue;
        };
        if v["run_dir"] == out.to_string_lossy().as_ref() {
            return Some(v);
        }
    }
    None
}

fn salvage(dir: &Path, n: usize) {
    let out = dir.join("crashed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wotemu"))
        .args(["-q", "run"])
        .arg(repo().join("examples/quickstart.yml"))
        .args(["--duration", "10m", "--no-report", "--out"])
        .arg(&out)
        .env("WOTEMU_VENV", repo().join(".venv"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let state = loop {
        if let Some(s) = state_of(&out).filter(|s| s["phase"] == "running") {
            break s;
        }
        assert!(Instant::now() < deadline, "the quickstart did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let mut conn = redis::Client::open(state["redis_url"].as_str().unwrap())
        .and_then(|c| c.get_connection())
        .unwrap();
    let mut synth = wotemu_testkit::synth::Synth::new(3, "quickstart");
    let tasks = synth.tasks(&[("filler", 19)]);
    let per_table = n / (tasks.len() * wotemu_testkit::load::STREAMED.len());
    let loaded = wotemu_testkit::load::load_synthetic(
        &mut conn,
        &mut synth,
        "quickstart",
        &tasks,
        per_table,
        1000,
        false,
    );
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_wotemu"))
        .args(["-q", "clean"])
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = wotemu_contract::Manifest::read(&out).expect("the salvaged dataset");
    assert!(m.incomplete.is_some());
    println!(
        "salvage of a crashed run with {} records in its Redis: `wotemu clean` saved {} records (dataset and report) in {secs:.2} s   (target: <= 3 s)",
        loaded.records,
        m.accounting.totals.records_written
    );
}
