//! `wotemu agent` with real parts: a redis-server of the test's own, the real binary, embedded Python 3.11 with
//! WoTPy from the project's venv (scripts/setup.sh creates it), packets counted from a real AF_PACKET socket.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wotemu_contract::keys::StackKeys;
use wotemu_contract::{Manifest, StreamEntry, Table};
use wotemu_testkit::{free_port, RedisServer};

use crate::rows::rows;
use crate::util::{stderr, wotemu};

fn venv() -> PathBuf {
    let v = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv");
    assert!(
        v.join("bin/python").exists(),
        "the project's Python venv with WoTPy is missing: run scripts/setup.sh"
    );
    v
}

/// An agent process of a test.
struct Agent {
    child: Child,
    task: String,
}

struct Ports {
    catalogue: u16,
    http: u16,
}

fn ports() -> Ports {
    Ports {
        catalogue: free_port(),
        http: free_port(),
    }
}

fn agent(
    redis: &RedisServer,
    stack: &str,
    task: &str,
    p: &Ports,
    spool: &Path,
    args: &[&str],
) -> Agent {
    let mut c = wotemu();
    c.args(["agent", "--venv"])
        .arg(venv())
        .args([
            "--stack",
            stack,
            "--task",
            task,
            "--redis-url",
            &redis.url(),
        ])
        .args([
            "--sample-every",
            "0.25",
            "--flush-every",
            "0.25",
            "--capture-iface",
            "lo",
        ])
        .arg("--spool-dir")
        .arg(spool)
        .args(args)
        .env("PORT_CATALOGUE", p.catalogue.to_string())
        .env("PORT_HTTP", p.http.to_string())
        .env("PORT_WS", free_port().to_string())
        .env("WOTEMU_SERVIENT_HOST", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Agent {
        child: c.spawn().unwrap(),
        task: task.to_owned(),
    }
}

impl Agent {
    /// SIGTERM, then the exit status and stderr.
    fn stop(mut self) -> Output {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        out.wait_with_output().unwrap()
    }

    fn wait(self) -> Output {
        let Agent { child, .. } = self;
        child.wait_with_output().unwrap()
    }
}

/// Records of `table` the task has in its stream so far.
fn stream_rows(redis: &RedisServer, stack: &str, task: &str, table: Table) -> usize {
    stream_rows_in(&mut redis.conn(), stack, task, table)
}

/// Records of `table` in a task's stream, through any connection.
pub(crate) fn stream_rows_in(
    conn: &mut redis::Connection,
    stack: &str,
    task: &str,
    table: Table,
) -> usize {
    let Ok(reply) = redis::cmd("XRANGE")
        .arg(StackKeys::new(stack).stream(task))
        .arg("-")
        .arg("+")
        .query::<redis::streams::StreamRangeReply>(conn)
    else {
        return 0;
    };
    reply
        .ids
        .iter()
        .filter_map(|id| {
            let fields: Vec<(String, Vec<u8>)> = id
                .map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        redis::from_redis_value::<Vec<u8>>(v.clone()).unwrap(),
                    )
                })
                .collect();
            StreamEntry::decode(fields.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).ok()
        })
        .filter(|d| d.entry.table == table)
        .map(|d| d.entry.batch.num_rows())
        .sum()
}

/// Waits (polling, with a deadline) until `cond` holds.
fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn collect(redis: &RedisServer, stack: &str, out: &Path) -> Manifest {
    let o = wotemu()
        .args([
            "-q",
            "collect",
            "--stack",
            stack,
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    Manifest::read(out).unwrap()
}

fn of_task<'a>(rows: &'a [Value], task: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["task"] == task).collect()
}

#[test]
fn clock_reader_and_subscriber_record_interactions_events_system_and_packets() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let server = ports();
    let clock = agent(
        &redis,
        "demo",
        "demo_clock.1.a",
        &server,
        &spool,
        &[
            "--path",
            "clock",
            "--enable-http",
            "--func-param",
            "interval",
            "0.3",
        ],
    );
    let catalogue = server.catalogue.to_string();
    let reader_args = [
        "--path",
        "wotemu_reader",
        "--func-param",
        "servient_host",
        "127.0.0.1",
        "--func-param",
        "thing_id",
        "urn:org:fundacionctic:thing:clock",
        "--func-param",
        "read_sleep",
        "0.2",
        "--func-param",
        "port_catalogue",
        &catalogue,
        "--no-capture",
    ];
    let reader = agent(
        &redis,
        "demo",
        "demo_reader.1.b",
        &ports(),
        &spool,
        &reader_args,
    );
    let sub_args = [
        "--path",
        "subscriber",
        "--func-param",
        "servient_host",
        "127.0.0.1",
        "--func-param",
        "port_catalogue",
        &catalogue,
        "--no-capture",
    ];
    let sub = agent(
        &redis,
        "demo",
        "demo_subscriber.1.c",
        &ports(),
        &spool,
        &sub_args,
    );

    // Known traffic the clock's agent must count exactly: datagrams to a port nobody else uses.
    wait_until("the clock's first system sample", 30, || {
        stream_rows(&redis, "demo", &clock.task, Table::System) > 0
    });
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let probe_port = sink.local_addr().unwrap().port();
    let probe_src_port = probe.local_addr().unwrap().port();
    for _ in 0..25 {
        probe
            .send_to(&[7u8; 300], ("127.0.0.1", probe_port))
            .unwrap();
    }
    wait_until("10 reads by the reader", 60, || {
        stream_rows(&redis, "demo", &reader.task, Table::Interactions) >= 10
    });
    wait_until("3 tick events at the subscriber", 60, || {
        stream_rows(&redis, "demo", &sub.task, Table::Events) >= 4
    });
    for a in [reader, sub, clock] {
        let task = a.task.clone();
        let o = a.stop();
        assert!(o.status.success(), "{task}: {}", stderr(&o));
    }

    let run = dir.path().join("run");
    let m = collect(&redis, "demo", &run);
    assert_eq!(m.accounting.totals.seq_missing, 0);
    assert_eq!(m.accounting.totals.records_rejected, 0);

    let inter = rows(&run, Table::Interactions);
    let reads = of_task(&inter, "demo_reader.1.b");
    assert!(reads.len() >= 10, "{reads:?}");
    // The reader is stopped while it reads every second: its last read may still be waiting then, and is
    // recorded as such (`PendingAtStop`); every other read succeeded.
    let last_time = reads.iter().filter_map(|r| r["time"].as_i64()).max();
    for r in &reads {
        assert_eq!(r["thing"], "urn:org:fundacionctic:thing:clock");
        assert_eq!(
            (r["name"].as_str(), r["verb"].as_str(), r["side"].as_str()),
            (Some("time"), Some("readproperty"), Some("consumed"))
        );
        if r["error_type"] == "PendingAtStop" {
            assert_eq!(r["time"].as_i64(), last_time, "only the last read: {r}");
            assert_eq!(r["ok"], false, "{r}");
        } else {
            assert_eq!(r["ok"], true, "{r}");
        }
        assert!(
            r["latency_ms"]
                .as_f64()
                .is_some_and(|l| l > 0.0 && l < 5000.0),
            "{r}"
        );
        assert_eq!(r["host"], "127.0.0.1");
        assert_eq!(r["node"], "reader");
    }
    let exposed = of_task(&inter, "demo_clock.1.a");
    assert!(
        exposed
            .iter()
            .any(|r| r["verb"] == "readproperty" && r["side"] == "exposed"),
        "served reads are recorded"
    );
    assert!(exposed.iter().any(|r| r["verb"] == "writeproperty"));
    assert!(exposed
        .iter()
        .any(|r| r["verb"] == "emitevent" && r["name"] == "tick"));

    let events = rows(&run, Table::Events);
    let sub_events = of_task(&events, "demo_subscriber.1.c");
    assert!(sub_events.iter().any(|e| e["kind"] == "subscribe"));
    let nexts: Vec<_> = sub_events.iter().filter(|e| e["kind"] == "next").collect();
    assert!(nexts.len() >= 3, "{sub_events:?}");
    assert!(nexts
        .iter()
        .all(|e| e["name"] == "tick" && e["thing"] == "urn:org:fundacionctic:thing:clock"));
    assert!(nexts
        .iter()
        .all(|e| e["subscription"] == sub_events[0]["subscription"]));

    let system = rows(&run, Table::System);
    for t in ["demo_clock.1.a", "demo_reader.1.b", "demo_subscriber.1.c"] {
        let s = of_task(&system, t);
        assert!(s.len() >= 2, "{t}: {s:?}");
        assert!(
            s.iter()
                .all(|r| r["mem_bytes"].as_u64().is_some_and(|m| m > 0)),
            "{t}: {s:?}"
        );
        assert!(
            s.iter()
                .skip(1)
                .all(|r| r["cpu_percent"].as_f64().is_some()),
            "{t}"
        );
    }

    let packets = rows(&run, Table::Packets);
    let probe_pkts: Vec<_> = of_task(&packets, "demo_clock.1.a")
        .into_iter()
        // Both ports: other traffic on this host (containers of a concurrent test, on their own network
        // namespaces' ephemeral ports) may reuse one of them.
        .filter(|p| p["dstport"] == probe_port && p["srcport"] == probe_src_port)
        .collect();
    assert_eq!(probe_pkts.len(), 25, "every datagram sent is counted once");
    for p in &probe_pkts {
        // 300 bytes of payload + 8 UDP + 20 IPv4 + 14 Ethernet (loopback has a link header).
        assert_eq!(p["len"], 342, "{p}");
        assert_eq!(
            (
                p["transport"].as_str(),
                p["proto"].as_str(),
                p["iface"].as_str()
            ),
            (Some("udp"), Some("udp"), Some("lo"))
        );
        assert_eq!(p["src"], "127.0.0.1");
    }
    let http = server.http;
    assert!(of_task(&packets, "demo_clock.1.a")
        .iter()
        .any(|p| p["proto"] == "http" && (p["srcport"] == http || p["dstport"] == http)));

    let tasks = rows(&run, Table::Tasks);
    assert_eq!(tasks.len(), 3);
    for t in &tasks {
        assert_eq!(t["state"], "shutdown", "{t}");
        assert!(
            t["python_version"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.11")),
            "{t}"
        );
        assert!(t["stopped_at"].as_i64().is_some());
        let env: Value = serde_json::from_str(t["env"].as_str().unwrap()).unwrap();
        assert!(env.get("PORT_HTTP").is_some());
    }
}

#[test]
fn redis_outage_loses_nothing_and_doubles_nothing() {
    let mut redis = RedisServer::start_persistent();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let task = "out_clock.1.a";
    let a = agent(
        &redis,
        "out",
        task,
        &ports(),
        &spool,
        &[
            "--path",
            "clock",
            "--func-param",
            "interval",
            "0.1",
            "--no-capture",
        ],
    );
    wait_until("the first batches", 30, || {
        stream_rows(&redis, "out", task, Table::System) >= 2
    });
    redis.kill();
    let spool_file = spool.join(format!("{task}.spool"));
    let size = || std::fs::metadata(&spool_file).map(|m| m.len()).unwrap_or(0);
    // Several seconds of outage: the spool grows batch after batch.
    let mut seen = Vec::new();
    wait_until("12 spooled flushes", 60, || {
        let s = size();
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        seen.len() > 12
    });
    redis.restart();
    wait_until("the spool to be replayed", 60, || size() == 0);
    wait_until("batches after the outage", 30, || {
        stream_rows(&redis, "out", task, Table::System) > 20
    });
    let o = a.stop();
    assert!(o.status.success(), "{}", stderr(&o));

    let run = dir.path().join("run");
    let m = collect(&redis, "out", &run);
    let acc = &m.accounting.tasks[task];
    assert_eq!(acc.seq_missing, 0, "{acc:?}");
    assert_eq!(acc.records_dropped_by_agent, 0, "{acc:?}");
    assert_eq!(acc.entries_rejected, 0, "{acc:?}");
    // Samples every 0.25 s: no hole anywhere, the outage included.
    let mut times: Vec<i64> = rows(&run, Table::System)
        .iter()
        .map(|r| r["time"].as_i64().unwrap())
        .collect();
    times.sort();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap < 1_000_000, "a {gap} µs hole in the system samples");
    let unique: std::collections::BTreeSet<i64> = times.iter().copied().collect();
    assert_eq!(unique.len(), times.len(), "a sample was written twice");
    assert!(times.len() >= 20);
}

#[test]
fn failing_apps_mark_the_task_failed_with_the_traceback() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let missing = dir.path().join("missing_app.py");
    let missing = missing.to_string_lossy().into_owned();
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "fail_error.1.a",
            vec!["--path", "error", "--func-param", "delay", "0.2"],
            "WotemuBuiltinError",
        ),
        (
            "fail_missing.1.b",
            vec!["--path", &missing],
            "does not exist",
        ),
        ("fail_params.1.c", vec!["--path", "reader"], "servient_host"),
    ];
    for (task, args, expect) in &cases {
        let mut args = args.clone();
        args.push("--no-capture");
        let o = agent(&redis, "fail", task, &ports(), &spool, &args).wait();
        assert!(!o.status.success(), "{task} must exit non-zero");
        let err = stderr(&o);
        assert!(err.contains(expect), "{task}: {err}");
        assert!(
            err.contains(task),
            "{task}: the message names the task: {err}"
        );
    }
    let run = dir.path().join("run");
    collect(&redis, "fail", &run);
    let tasks = rows(&run, Table::Tasks);
    let logs = rows(&run, Table::Logs);
    for (task, _, expect) in &cases {
        let t = tasks.iter().find(|t| t["task"] == *task).unwrap();
        assert_eq!(t["state"], "failed", "{t}");
        assert!(
            t["exit_error"].as_str().is_some_and(|e| e.contains(expect)),
            "{t}"
        );
        let lines: Vec<&str> = of_task(&logs, task)
            .iter()
            .filter_map(|l| l["line"].as_str())
            .collect();
        assert!(
            lines.iter().any(|l| l.contains(expect)),
            "{task}: {lines:?}"
        );
    }
    let error_lines: Vec<&str> = of_task(&logs, "fail_error.1.a")
        .iter()
        .filter_map(|l| l["line"].as_str())
        .collect();
    assert!(
        error_lines.iter().any(|l| l.starts_with("Traceback")),
        "{error_lines:?}"
    );
    assert!(
        error_lines.iter().any(|l| l.contains("error.py")),
        "the traceback points at the app: {error_lines:?}"
    );
}

#[test]
fn dry_run_checks_that_the_app_loads() {
    let o = wotemu()
        .args(["agent", "--path", "clock", "--dry-run", "--json", "--venv"])
        .arg(venv())
        .env("REDIS_URL", "redis://:s3cret@redis:6379")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&crate::util::stdout(&o)).unwrap();
    assert!(v["app_file"].as_str().unwrap().ends_with("clock.py"));
    assert!(
        !crate::util::stdout(&o).contains("s3cret"),
        "the Redis password is redacted"
    );
    let o = wotemu()
        .args([
            "agent",
            "--path",
            "reader",
            "--dry-run",
            "--func-param",
            "no_such_param",
            "1",
            "--venv",
        ])
        .arg(venv())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no_such_param"), "{}", stderr(&o));
    // The reader takes 0.6's `interval` and a pace, whose value is checked before a run.
    let reader = |pace: &str| {
        wotemu()
            .args(["agent", "--path", "reader", "--dry-run", "--func-param"])
            .args(["interval", "5", "--func-param", "pace", pace, "--venv"])
            .arg(venv())
            .output()
            .unwrap()
    };
    let o = reader("after");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = reader("fast");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("pace 'fast'") && stderr(&o).contains("\"period\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dry_run_loads_every_builtin_of_the_one_list() {
    for b in wotemu_contract::apps::available() {
        let o = wotemu()
            .args([
                "agent",
                "--path",
                &b.path(),
                "--dry-run",
                "--json",
                "--venv",
            ])
            .arg(venv())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {}", b.name, stderr(&o));
        let v: Value = serde_json::from_str(&crate::util::stdout(&o)).unwrap();
        let file = v["app_file"].as_str().unwrap();
        assert!(
            file.ends_with(&format!("wotemu_agent/apps/{}.py", b.name)),
            "{}: {file}",
            b.name
        );
    }
}

#[test]
fn worker_and_caller_builtins_invoke_an_action() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let server = ports();
    let worker = agent(
        &redis,
        "wk",
        "wk_worker.1.a",
        &server,
        &spool,
        &[
            "--path",
            "worker",
            "--enable-http",
            "--func-param",
            "iterations",
            "2000",
            "--no-capture",
        ],
    );
    let catalogue = server.catalogue.to_string();
    let caller = agent(
        &redis,
        "wk",
        "wk_caller.1.b",
        &ports(),
        &spool,
        &[
            "--path",
            "caller",
            "--func-param",
            "servient_host",
            "127.0.0.1",
            "--func-param",
            "call_sleep",
            "0.2",
            "--func-param",
            "port_catalogue",
            &catalogue,
            "--no-capture",
        ],
    );
    wait_until("3 invocations", 60, || {
        stream_rows(&redis, "wk", &caller.task, Table::Interactions) >= 3
    });
    for a in [caller, worker] {
        let o = a.stop();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let run = dir.path().join("run");
    collect(&redis, "wk", &run);
    let inter = rows(&run, Table::Interactions);
    let calls = of_task(&inter, "wk_caller.1.b");
    assert!(calls.len() >= 3);
    assert!(
        calls
            .iter()
            .all(|c| c["verb"] == "invokeaction" && c["name"] == "work"),
        "{calls:?}"
    );
    // The caller is stopped while it calls every 0.2 s: its last call may still be waiting then, and is
    // recorded as such (`PendingAtStop`); every other call succeeded.
    let last_time = calls.iter().filter_map(|c| c["time"].as_i64()).max();
    for c in &calls {
        if c["error_type"] == "PendingAtStop" {
            assert_eq!(c["time"].as_i64(), last_time, "only the last call: {c}");
        } else {
            assert_eq!(c["ok"], true, "{c}");
        }
    }
    assert!(calls
        .iter()
        .all(|c| c["thing"] == "urn:org:fundacionctic:thing:worker"));
    let served = of_task(&inter, "wk_worker.1.a");
    assert!(served
        .iter()
        .any(|c| c["verb"] == "invokeaction" && c["side"] == "exposed"));
}

/// `wotemu agent --help` names every builtin app of the one list (nine), so none is missing from the help.
#[test]
fn the_path_help_names_every_builtin() {
    let o = wotemu().args(["agent", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let names: Vec<&str> = wotemu_contract::apps::available().map(|b| b.name).collect();
    assert_eq!(names.len(), 9);
    assert!(
        help.contains(&format!("a builtin ({};", names.join(", "))),
        "not every builtin is in the help: {help}"
    );
}

/// A reader whose server stops answering, stopped while it waits: the read under way is in the dataset as
/// failed (`PendingAtStop`) with the time it waited, not lost (`wotemu_agent.record_pending`).
#[test]
fn a_read_still_waiting_at_stop_is_recorded_with_its_wait() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let server = ports();
    let clock = agent(
        &redis,
        "pend",
        "pend_clock.1.a",
        &server,
        &spool,
        &["--path", "clock", "--enable-http"],
    );
    let catalogue = server.catalogue.to_string();
    let reader = agent(
        &redis,
        "pend",
        "pend_reader.1.b",
        &ports(),
        &spool,
        &[
            "--path",
            "reader",
            "--func-param",
            "servient_host",
            "127.0.0.1",
            "--func-param",
            "thing_id",
            "urn:org:fundacionctic:thing:clock",
            "--func-param",
            "interval",
            "0.2",
            "--func-param",
            "port_catalogue",
            &catalogue,
            "--no-capture",
        ],
    );
    wait_until("3 reads", 60, || {
        stream_rows(&redis, "pend", &reader.task, Table::Interactions) >= 3
    });
    // The server stops answering (it is stopped, its socket stays open): the reader's next read waits.
    let clock_pid = clock.child.id() as i32;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(clock_pid, libc::SIGSTOP) };
    let stopped_at = Instant::now();
    // How long the pending read waits before the reader is stopped: the premise is checked below.
    std::thread::sleep(Duration::from_millis(1500));
    let o = reader.stop();
    let waited_at_most = stopped_at.elapsed().as_secs_f64() * 1e3;
    // SAFETY: as above.
    unsafe { libc::kill(clock_pid, libc::SIGCONT) };
    assert!(o.status.success(), "{}", stderr(&o));
    let o = clock.stop();
    assert!(o.status.success(), "{}", stderr(&o));

    let run = dir.path().join("run");
    collect(&redis, "pend", &run);
    let inter = rows(&run, Table::Interactions);
    let reads = of_task(&inter, "pend_reader.1.b");
    let pending: Vec<&&Value> = reads
        .iter()
        .filter(|r| r["error_type"] == "PendingAtStop")
        .collect();
    assert_eq!(pending.len(), 1, "one read was under way: {reads:?}");
    let p = pending[0];
    assert_eq!(p["ok"], false, "{p}");
    assert_eq!(p["verb"], "readproperty", "{p}");
    let waited = p["latency_ms"].as_f64().unwrap_or_default();
    assert!(
        (1000.0..=waited_at_most).contains(&waited),
        "the pending read waited {waited:.0} ms (the server was stopped {waited_at_most:.0} ms before): {p}"
    );
    assert!(
        p["error_message"]
            .as_str()
            .is_some_and(|e| e.contains("no answer after")),
        "{p}"
    );
}
