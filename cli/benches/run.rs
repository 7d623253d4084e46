//! `wotemu run` benchmark: prints the figures of the run issue.
//!
//! `cargo bench -p wotemu --bench run` (root, the project's venv from scripts/setup.sh):
//!
//! 1. start-up: 50 replicas (1 server + 49 readers on an LTE network): time from starting `wotemu run` to the
//!    first interaction, and to the first interaction of every reader;
//! 2. scale: 100 replicas (1 server + 99 readers reading every 10 s) for `WOTEMU_BENCH_SECS` (default 60 s):
//!    memory per replica (cgroup, agent + Python + app), the agents' CPU at steady state, the machine's
//!    available memory and idle CPU, and whether every reader interacted;
//! 3. stop + collect + report of the quickstart (as `wotemu run` prints it);
//! 4. salvage: the quickstart's runner is killed (SIGKILL) once it runs, its Redis is filled up to
//!    `WOTEMU_BENCH_SALVAGE_RECORDS` (default 1,000,000) records, and `wotemu clean` is timed saving them into
//!    a dataset (and its report).
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType, UInt64Type};
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

/// First interaction time (µs) of each task.
fn first_interactions(out: &Path) -> std::collections::BTreeMap<String, i64> {
    let mut first = std::collections::BTreeMap::new();
    for b in read_table(out, Table::Interactions).unwrap() {
        let task = b.column_by_name("task").unwrap().as_string::<i32>().clone();
        let time = b
            .column_by_name("time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        let side = b.column_by_name("side").unwrap().as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            if side.value(i) != "consumed" {
                continue;
            }
            let e = first.entry(task.value(i).to_owned()).or_insert(i64::MAX);
            *e = (*e).min(time.value(i));
        }
    }
    first
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

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("this benchmark needs root (wotemu run)");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().unwrap();

    // 1. Start-up of 50 replicas.
    let topo = topology(dir.path(), 49, "lte", 2.0);
    let out = dir.path().join("run50");
    let (t0, _) = run(&topo, &out, 25, false);
    let first = first_interactions(&out);
    let readers: Vec<i64> = first
        .iter()
        .filter(|(t, _)| t.contains("_reader."))
        .map(|(_, &v)| v)
        .collect();
    let any = readers.iter().min().copied().unwrap_or(i64::MAX);
    let all = readers.iter().max().copied().unwrap_or(i64::MAX);
    println!(
        "start-up, 50 replicas (LTE): first interaction {:.2} s after `wotemu run` started; every reader's first interaction within {:.2} s ({} of 49 readers)",
        (any - t0) as f64 / 1e6,
        (all - t0) as f64 / 1e6,
        readers.len()
    );

    // 2. 100 replicas.
    let secs: u64 = std::env::var("WOTEMU_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let topo = topology(dir.path(), 99, "lte", 10.0);
    let out = dir.path().join("run100");
    let avail0 = meminfo_available();
    let sampler = std::thread::spawn(move || {
        // Machine figures over the second half of the run.
        std::thread::sleep(Duration::from_secs(secs / 2));
        let (i0, t0) = cpu_idle();
        let a = meminfo_available();
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs(secs / 4));
        let (i1, t1) = cpu_idle();
        let idle = (i1 - i0) as f64 / (t1 - t0).max(1) as f64;
        (a, idle, start.elapsed())
    });
    let (t0, _) = run(&topo, &out, secs, false);
    let (avail_mid, idle, _) = sampler.join().unwrap();
    let first = first_interactions(&out);
    let readers = first.keys().filter(|t| t.contains("_reader.")).count();
    // Memory and CPU per replica from the system table (second half of the run).
    let half = t0 + (secs as i64 * 1_000_000) / 2;
    let mut mem: std::collections::BTreeMap<String, u64> = Default::default();
    let mut cpu: std::collections::BTreeMap<String, (f64, u32)> = Default::default();
    for b in read_table(&out, Table::System).unwrap() {
        let task = b.column_by_name("task").unwrap().as_string::<i32>().clone();
        let time = b
            .column_by_name("time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        let m = b
            .column_by_name("mem_bytes")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .clone();
        let c = b
            .column_by_name("cpu_percent")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        for i in 0..b.num_rows() {
            if time.value(i) < half {
                continue;
            }
            if !m.is_null(i) {
                let e = mem.entry(task.value(i).to_owned()).or_default();
                *e = (*e).max(m.value(i));
            }
            if !c.is_null(i) {
                let e = cpu.entry(task.value(i).to_owned()).or_default();
                e.0 += c.value(i);
                e.1 += 1;
            }
        }
    }
    let n = mem.len().max(1) as f64;
    let mem_avg = mem.values().sum::<u64>() as f64 / n;
    let mem_max = mem.values().copied().max().unwrap_or(0);
    let cpu_avg = cpu
        .values()
        .map(|(s, k)| s / (*k).max(1) as f64)
        .sum::<f64>()
        / cpu.len().max(1) as f64;
    println!(
        "100 replicas (1 server + 99 readers reading every 10 s, LTE) for {secs} s: {readers} of 99 readers interacted; memory per replica (cgroup: agent + Python + WoTPy app) mean {:.1} MiB, max {:.1} MiB; CPU per replica at steady state {:.2}% of a core; machine: {:.2} GiB in use by the run, {:.0}% CPU idle (2 cores)",
        mem_avg / 1048576.0,
        mem_max as f64 / 1048576.0,
        cpu_avg,
        (avail0.saturating_sub(avail_mid)) as f64 / 1073741824.0,
        idle * 100.0
    );

    // 3. Stop + collect + report of the quickstart.
    let out = dir.path().join("quickstart");
    let (_, stdout) = run(&repo().join("examples/quickstart.yml"), &out, 15, true);
    let line = stdout
        .lines()
        .find(|l| l.contains("stop, collect and report"))
        .unwrap_or("");
    println!("quickstart: {}", line.trim());

    // 4. Salvage of a crashed run with many records in its Redis.
    let n: usize = std::env::var("WOTEMU_BENCH_SALVAGE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    salvage(dir.path(), n);
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
