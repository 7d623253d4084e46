//! `wotemu run` end to end: real namespaces, veths, bridges, cgroups, redis-server, agents running WoTPy apps.
//! Needs root, as the command does.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wotemu_contract::{Manifest, Table};

use crate::rows::{median_latency_ms, of_task, rows};
use crate::util::{stderr, stdout, wotemu};

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn run_cmd(topology: &Path, out: &Path, duration: &str) -> std::process::Command {
    let mut c = wotemu();
    c.arg("run")
        .arg(topology)
        .args(["--duration", duration, "--out"])
        .arg(out)
        .env("WOTEMU_VENV", repo().join(".venv"));
    c
}

/// The run id a `wotemu run` printed ("… (run abcd) …").
pub(crate) fn run_id(stdout: &str) -> String {
    let i = stdout.find("(run ").expect("the run id is printed") + 5;
    stdout[i..i + 4].to_owned()
}

/// Everything a run could leave behind, by its id.
pub(crate) fn leftovers(id: &str) -> Vec<String> {
    leftovers_in(Path::new("/run/wotemu"), id)
}

/// What a run left, with the state root `root` (its state folder and records are there).
pub(crate) fn leftovers_in(root: &Path, id: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n == format!("wtm-{id}") || n.starts_with(&format!("wtm-{id}-")) {
                found.push(format!("namespace {n}"));
            }
        }
    }
    for p in [
        root.join(id).display().to_string(),
        format!("/sys/fs/cgroup/cpu/wotemu/{id}"),
        format!("/sys/fs/cgroup/cpuacct/wotemu/{id}"),
        format!("/sys/fs/cgroup/memory/wotemu/{id}"),
        format!("/sys/fs/cgroup/wotemu/{id}"),
    ] {
        if Path::new(&p).exists() {
            found.push(p);
        }
    }
    if let Ok(rd) = std::fs::read_dir("/etc/netns") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!("wtm-{id}")) {
                found.push(format!("/etc/netns/{n}"));
            }
        }
    }
    // Clean-up records: the run's own and its gateways' (removed when they stop).
    if let Ok(rd) = std::fs::read_dir(root.join("records")) {
        for e in rd.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if text.contains(&format!("wtm-{id}")) || text.contains(&format!("\"run {id}\"")) {
                found.push(e.path().display().to_string());
            }
        }
    }
    // Processes: agents carry the run id in their task name, Redis its socket path.
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(&format!("/run/wotemu/{id}/")) || cmd.contains(&format!(".{id} ")) {
                    found.push(format!("process {cmd}"));
                }
            }
        }
    }
    found
}

fn check_quickstart_dataset(out: &Path) {
    let m = Manifest::read(out).unwrap();
    assert_eq!(m.accounting.totals.seq_missing, 0);
    assert_eq!(m.accounting.totals.records_rejected, 0);
    let inter = rows(out, Table::Interactions);
    for slot in 1..=4 {
        let reads = of_task(&inter, &format!("quickstart_reader.{slot}."));
        assert!(!reads.is_empty(), "reader {slot} has interactions");
        assert!(reads.iter().all(|r| r["verb"] == "readproperty"));
        // Every read succeeded, but the one a reader may have been waiting for when the run stopped: that one
        // is recorded as such, with the time it waited.
        let (done, pending): (Vec<&Value>, Vec<&Value>) = reads
            .iter()
            .partition(|r| r["error_type"] != "PendingAtStop");
        assert!(
            done.iter().all(|r| r["ok"] == true),
            "reader {slot}: {done:?}"
        );
        assert!(pending.len() <= 1, "reader {slot}: {pending:?}");
        assert!(pending
            .iter()
            .all(|r| r["ok"] == false && r["latency_ms"].as_f64().is_some_and(|l| l >= 0.0)));
        assert!(reads
            .iter()
            .all(|r| r["thing"] == "urn:wotemu:quickstart:thing"));
    }
    // Latencies are those of the 3G preset (300 ms ± 150 ms each way through the gateway): a read takes
    // at least one round trip (~600 ms), mostly more (connection set-up).
    let median = median_latency_ms(&inter, "quickstart_reader.");
    assert!(
        (500.0..5000.0).contains(&median),
        "median read latency {median} ms"
    );
    let gw: Value =
        serde_json::from_slice(&std::fs::read(out.join("gateways.json")).unwrap()).unwrap();
    assert!(
        gw["3g"]["stats"]["forwarded"].as_u64().unwrap() > 100,
        "{gw:#}"
    );
    let all = rows(out, Table::Tasks);
    // The five replicas, the runner, which records the run's timeline as a task of its own, and the
    // network's gateway, which records what it applied.
    let (gateways, all): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|t| t["node"] == "gw_3g");
    assert_eq!(gateways.len(), 1, "{gateways:?}");
    assert_eq!(gateways[0]["state"], "shutdown", "{gateways:?}");
    assert_eq!(gateways[0]["networks"], "3g");
    assert!(
        !of_task(
            &rows(out, Table::Network),
            gateways[0]["task"].as_str().unwrap()
        )
        .is_empty(),
        "the gateway's windows"
    );
    let (runner, tasks): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|t| t["node"] == "runner");
    assert_eq!(tasks.len(), 5, "{tasks:?}");
    assert_eq!(runner.len(), 1, "{runner:?}");
    assert_eq!(runner[0]["state"], "shutdown", "{runner:?}");
    let packets = rows(out, Table::Packets);
    let system = rows(out, Table::System);
    for t in &tasks {
        let name = t["task"].as_str().unwrap();
        assert!(!of_task(&packets, name).is_empty(), "{name} has packets");
        assert!(of_task(&packets, name).iter().all(|p| p["iface"] == "3g"));
        let samples = of_task(&system, name);
        assert!(samples.len() >= 3, "{name} has system samples");
        if name.contains("reader") {
            assert!(
                samples
                    .iter()
                    .all(|s| s["mem_limit_bytes"] == 150 * 1024 * 1024),
                "{name}: {samples:?}"
            );
        }
        assert_eq!(t["networks"], "3g");
        assert_eq!(
            t["hostname"], name,
            "the replica's hostname is its task name"
        );
    }
    let index = std::fs::read_to_string(out.join("site/index.html")).unwrap();
    assert!(index.contains("quickstart"));
    assert!(out.join("site/tasks.html").exists());
}

/// Three networks, a broker on two of them, nodes on several: every protocol works across the gateways, and
/// names resolve to an address the asking replica can reach (as Docker's DNS does).
#[test]
fn mixed_protocols_and_networks_work_through_the_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&repo().join("examples/mixed.yml"), &out, "20s")
        .arg("--no-report")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    // Without --seed or `seed:`, a seed is drawn, said, and kept in the manifest.
    let seed = Manifest::read(&out).unwrap().seed.expect("a drawn seed");
    assert!(
        stdout(&o).contains(&format!("Seed {seed}: ")),
        "{}",
        stdout(&o)
    );
    let inter = rows(&out, Table::Interactions);
    let ok = |prefix: &str, verb: &str| {
        of_task(&inter, prefix)
            .iter()
            .filter(|r| r["verb"] == verb && r["side"] == "consumed" && r["ok"] == true)
            .count()
    };
    assert!(
        ok("mixed_reader.", "readproperty") > 0,
        "HTTP reads on field_wifi"
    );
    assert!(
        ok("mixed_caller.", "invokeaction") > 0,
        "MQTT invocations through the broker"
    );
    assert!(
        ok("mixed_historian.", "readproperty") > 0,
        "the historian observes the clock on backhaul"
    );
    // No node in a restart loop: every builtin of the example stays up.
    for t in rows(&out, Table::Tasks) {
        assert_eq!(t["restarts"].as_u64().unwrap_or(0), 0, "{t}");
    }
    let events = rows(&out, Table::Events);
    assert!(
        !of_task(&events, "mixed_subscriber.").is_empty(),
        "WebSocket events on backhaul"
    );
    let gw: Value =
        serde_json::from_slice(&std::fs::read(out.join("gateways.json")).unwrap()).unwrap();
    for net in ["field_wifi", "cellular", "backhaul"] {
        assert!(
            gw[net]["stats"]["forwarded"].as_u64().unwrap() > 0,
            "{net}: {gw:#}"
        );
    }
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[test]
fn quickstart_runs_end_to_end_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&repo().join("examples/quickstart.yml"), &out, "20s")
        .args(["--seed", "42"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    assert!(stdout(&o).contains("report:"), "{}", stdout(&o));
    assert!(stdout(&o).contains("Seed 42: "), "{}", stdout(&o));
    assert_eq!(Manifest::read(&out).unwrap().seed, Some(42));
    check_quickstart_dataset(&out);
    assert_eq!(leftovers(&id), Vec::<String>::new());
    // The Python package reads the real run and gives the report's figures.
    crate::python_package::pytest_on(&[(&out, &out.join("site"))]);
}

fn wait_for_file(p: &Path, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} did not appear", p.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn interrupt(child: &Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

#[test]
fn ctrl_c_still_collects_reports_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = run_cmd(&repo().join("examples/quickstart.yml"), &out, "10m")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The readers' first interactions are in their logs once the apps run.
    let id = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = crate::run::runs_of(child.id());
            if let Some(id) = found {
                break id;
            }
            assert!(Instant::now() < deadline, "the run did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Interrupt once every reader's interactions have reached the run's Redis.
    let sock = PathBuf::from(format!("/run/wotemu/{id}/redis.sock"));
    wait_for_file(&sock, 60);
    let mut conn = redis::Client::open(format!("unix://{}", sock.display()))
        .and_then(|c| c.get_connection())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(1..=4).all(|slot| {
        let task = format!("quickstart_reader.{slot}.{id}");
        crate::agent::stream_rows_in(&mut conn, "quickstart", &task, Table::Interactions) > 0
    }) {
        assert!(Instant::now() < deadline, "the readers did not read");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The live totals behind the status line count them too (each read on both sides).
    let (live, errors): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
        .arg("wotemu:quickstart:live")
        .arg("interactions")
        .arg("errors")
        .query(&mut conn)
        .unwrap();
    assert!(live.unwrap_or(0) >= 4, "{live:?}");
    assert_eq!(errors.unwrap_or(0), 0);
    interrupt(&child);
    let o: Output = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Stopping early"), "{}", stdout(&o));
    check_quickstart_dataset(&out);
    assert_eq!(leftovers(&id), Vec::<String>::new());
    // The Python package reads the real run and gives the report's figures.
    crate::python_package::pytest_on(&[(&out, &out.join("site"))]);
}

/// The run id of the `wotemu run` process `pid`, from its state file.
pub(crate) fn runs_of(pid: u32) -> Option<String> {
    for e in std::fs::read_dir("/run/wotemu").ok()?.flatten() {
        // Other entries (the gateways' records in `net/`, runs starting) have no readable state.
        let Some(s) = std::fs::read(e.path().join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            continue;
        };
        // Every replica started.
        if s["pid"] == pid && s["phase"] == "running" {
            return s["run_id"].as_str().map(str::to_owned);
        }
    }
    None
}

#[test]
fn a_crashing_app_is_restarted_and_its_failure_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("crash.yml");
    std::fs::write(
        &topo,
        "networks:\n  lan: {}\nnodes:\n  crasher:\n    app:\n      path: error\n      params: {delay: '0.5'}\n    networks: [lan]\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "8s")
        .arg("--no-report")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    assert!(stderr(&o).contains("restarting"), "{}", stderr(&o));
    let tasks = rows(&out, Table::Tasks);
    assert!(
        tasks.len() >= 2,
        "the first attempt and at least one restart: {tasks:?}"
    );
    let failed: Vec<_> = tasks.iter().filter(|t| t["state"] == "failed").collect();
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|t| t["exit_error"]
        .as_str()
        .unwrap()
        .contains("WotemuBuiltinError")));
    let logs = rows(&out, Table::Logs);
    assert!(logs
        .iter()
        .any(|l| l["line"].as_str().unwrap().starts_with("Traceback")));
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[test]
fn records_an_agent_could_not_keep_make_the_run_exit_3() {
    // Agents keep at most one record per table between shipments here: the rest is dropped, and counted.
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("lossy.yml");
    std::fs::write(
        &topo,
        "networks:\n  lan: {}\nnodes:\n  clock:\n    app: {path: clock, http: true}\n    networks: [lan]\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "6s")
        .arg("--no-report")
        .env("WOTEMU_MAX_BUFFERED_ROWS", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("records they could not keep"),
        "{}",
        stderr(&o)
    );
    let m = Manifest::read(&out).unwrap();
    assert!(m.accounting.totals.records_dropped_by_agent > 0);
    assert_eq!(leftovers(&run_id(&stdout(&o))), Vec::<String>::new());
}

#[test]
fn detached_runs_are_listed_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bg");
    let o = run_cmd(&repo().join("examples/quickstart.yml"), &out, "10m")
        .arg("-D")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("wotemu stop --run"), "{}", stdout(&o));
    let out_abs = std::path::absolute(&out).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let ps = wotemu().args(["ps", "--json"]).output().unwrap();
        let v: Value = serde_json::from_str(&stdout(&ps)).unwrap();
        let mine = v
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_dir"] == out_abs.to_string_lossy().as_ref())
            .cloned();
        if let Some(r) = mine.filter(|r| r["running"] == true && r["phase"] == "running") {
            break r["run_id"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the detached run does not show in `wotemu ps`"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let o = wotemu()
        .arg("stop")
        .arg("--run")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(out.with_extension("log")).unwrap_or_default();
    assert!(
        Manifest::read(&out).is_ok(),
        "the stopped run has its dataset; its log:\n{log}"
    );
    assert!(out.join("site/index.html").exists());
    assert_eq!(leftovers(&id), Vec::<String>::new());
    let o = wotemu()
        .arg("stop")
        .arg("--run")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success(), "stopping it again is an error");
}

/// 0.6's `TopologyRedis(enabled=False, redis_url=…)` (YAML `redis: {url}`): the run uses that Redis instead of
/// one of its own — here a `redis-server` on a unix socket, which every namespace reaches.
#[test]
fn an_external_redis_of_the_topology_is_used_by_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("redis.sock");
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--unixsocket",
        ])
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (scripts/setup.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let topo = dir.path().join("external.yml");
    std::fs::write(
        &topo,
        format!(
            "redis: {{url: 'unix://{}'}}\nnetworks: {{lan: {{conditions: cable}}}}\nnodes:\n  clock: {{app: {{path: clock, http: true}}, networks: [lan]}}\n  reader:\n    app: {{path: reader, params: {{servient_host: clock.lan, thing_id: 'urn:org:fundacionctic:thing:clock'}}}}\n    networks: [lan]\n",
            sock.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "8s")
        .arg("--no-report")
        .output()
        .unwrap();
    let mut conn = redis::Client::open(format!("unix://{}", sock.display()))
        .unwrap()
        .get_connection()
        .unwrap();
    let tasks: Vec<String> = redis::cmd("HKEYS")
        .arg("wotemu:external:tasks")
        .query(&mut conn)
        .unwrap();
    let _ = redis.kill();
    let _ = redis.wait();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        tasks.iter().any(|t| t.starts_with("external_reader.")),
        "the agents registered in the external Redis: {tasks:?}"
    );
    let inter = rows(&out, Table::Interactions);
    assert!(!of_task(&inter, "external_reader.").is_empty());
    assert_eq!(leftovers(&run_id(&stdout(&o))), Vec::<String>::new());
}

/// A run beyond a limit of the host fails before anything is built, naming the limit and how to raise it:
/// here the open-files limit, lowered for the run's process only (the run's Redis would need a descriptor
/// per agent).
#[test]
fn a_run_beyond_a_host_limit_fails_before_it_starts() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("big.yml");
    std::fs::write(
        &topo,
        "networks:\n  a: {conditions: lte}\n  b: {conditions: lte}\n\
         nodes:\n  ca: {app: {path: clock}, networks: [a], scale: 150}\n  \
         cb: {app: {path: clock}, networks: [b], scale: 150}\n",
    )
    .unwrap();
    let mut cmd = run_cmd(&topo, &dir.path().join("run"), "10s");
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let r = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("this host's limits are too low for 300 replicas (nothing was built)"),
        "{err}"
    );
    assert!(
        err.contains("open files: 300 replicas need about 400 descriptors")
            && err.contains("the hard limit (RLIMIT_NOFILE) is 256")
            && err.contains("ulimit -Hn 512"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it failed at once"
    );
    // No run was registered (its id is printed once its state exists).
    assert!(!stdout(&o).contains("(run "), "{}", stdout(&o));
}
