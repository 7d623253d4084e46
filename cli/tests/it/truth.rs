//! Network truth in runs (real namespaces, real packets): each gateway's windows and changes of conditions
//! reach the dataset (`network`, `timeline`), the report shows them (network pages, the fidelity panel,
//! condition changes on the charts, the overload banner), `wotemu net set` changes a running network, and
//! `wotemu fidelity --trace` measures a replay. Needs root.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use wotemu_contract::Table;

use crate::net::figure;
use crate::rows::rows;
use crate::run::{leftovers, repo, run_cmd, run_id};
use crate::util::{stderr, stdout, wotemu};

fn topology(dir: &Path, schedule: &str) -> std::path::PathBuf {
    let server = repo().join("examples/apps/quickstart_server.py");
    let text = format!(
        r#"networks:
  3g:
    conditions: regular_3g
{schedule}
nodes:
  server:
    app: {{path: {}, http: true}}
    networks: [3g]
  reader:
    app:
      path: reader
      params: {{servient_host: server.3g, thing_id: "urn:wotemu:quickstart:thing"}}
    networks: [3g]
    scale: 2
"#,
        server.display()
    );
    let p = dir.join("truth.yml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Windows of `direction` (or all) as (end µs, applied delay mean ms, configured latency ms, forwarded).
fn windows(out: &Path) -> Vec<(i64, Option<f64>, f64, u64)> {
    rows(out, Table::Network)
        .iter()
        .map(|r| {
            (
                r["time"].as_i64().unwrap(),
                r["delay_mean_ms"].as_f64(),
                r["cfg_latency_ms"].as_f64().unwrap(),
                r["forwarded"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `wotemu fidelity --json ARGS`: its result and how it exited (a figure out of tolerance exits 1, which
/// the caller judges).
fn fidelity_json(args: &[&str]) -> (Value, std::process::Output) {
    let o = wotemu()
        .args(["fidelity", "--json"])
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}\n{}", stdout(&o), stderr(&o)));
    (v, o)
}

fn conditions_events(out: &Path) -> Vec<Value> {
    rows(out, Table::Timeline)
        .into_iter()
        .filter(|e| e["kind"] == "conditions")
        .collect()
}

/// The quickstart on 3G with a schedule (GPRS for 20 s from 12 s): the gateway's windows show the applied
/// delay step within a second of its time, the step is an event, the report marks it, reads during the
/// GPRS window are slower, and the overload banner shows only when the run's own figures say so.
#[test]
fn a_schedule_step_is_in_the_gateway_table_the_timeline_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(
        dir.path(),
        "    schedule:\n      - at: 12s\n        for: 20s\n        conditions: gprs\n",
    );
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "42s").output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));

    // Two events: GPRS at 12 s, 3G again at 32 s, with the old and new conditions.
    let ev = conditions_events(&out);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[0]["outcome"], "schedule");
    assert_eq!(ev[0]["target"], "network 3g");
    let d: Value = serde_json::from_str(ev[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(d["old"]["latency"], 300.0);
    assert_eq!(d["new"]["latency"], 700.0);
    let step_us = ev[0]["time"].as_i64().unwrap();
    let planned_us = ev[0]["planned"].as_i64().unwrap();
    assert!(
        (step_us - planned_us).abs() < 100_000,
        "applied {} ms from its plan",
        (step_us - planned_us) / 1000
    );

    // The gateway's windows: the configured latency switches at the step (within a second), and the
    // delay it applied follows.
    let w = windows(&out);
    assert!(w.len() >= 60, "{} windows", w.len());
    let first_gprs = w
        .iter()
        .filter(|x| x.2 == 700.0)
        .map(|x| x.0)
        .min()
        .expect("windows under GPRS");
    assert!(
        (first_gprs - step_us).abs() <= 1_100_000,
        "the first GPRS window ends {} ms from the step",
        (first_gprs - step_us) / 1000
    );
    let mean_delay = |latency: f64| {
        let (mut n, mut s) = (0u64, 0.0);
        for x in w
            .iter()
            .filter(|x| x.2 == latency && (latency == 300.0 || x.0 > step_us + 2_000_000))
        {
            if let Some(d) = x.1 {
                n += x.3;
                s += d * x.3 as f64;
            }
        }
        assert!(n > 10, "packets delayed under {latency} ms: {n}");
        s / n as f64
    };
    let (g, t) = (mean_delay(700.0), mean_delay(300.0));
    assert!((600.0..800.0).contains(&g), "GPRS windows: {g} ms applied");
    assert!((240.0..360.0).contains(&t), "3G windows: {t} ms applied");

    // Reads that started within the GPRS window are slower than the others.
    let inter = rows(&out, Table::Interactions);
    let (mut slow, mut fast) = (Vec::new(), Vec::new());
    for r in inter
        .iter()
        .filter(|r| r["side"] == "consumed" && r["ok"] == true)
    {
        let end = r["time"].as_i64().unwrap();
        let lat = r["latency_ms"].as_f64().unwrap();
        let start = end - (lat * 1000.0) as i64;
        if start > step_us + 1_000_000 && end < step_us + 20_000_000 {
            slow.push(lat);
        } else if end < step_us || start > step_us + 22_000_000 {
            fast.push(lat);
        }
    }
    let median = |v: &mut Vec<f64>| {
        assert!(!v.is_empty());
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (s, f) = (median(&mut slow), median(&mut fast));
    assert!(s > f * 1.5, "reads under GPRS {s} ms, under 3G {f} ms");

    // The report: a page for the network with its changes, the fidelity panel, the step on the charts, no
    // overload banner.
    let site = out.join("site");
    let page = std::fs::read_to_string(site.join("networks/3g.html")).unwrap();
    assert!(
        page.contains("latency 300 → 700 ms"),
        "the change is listed"
    );
    assert!(page.contains("c-delay") && page.contains("c-lateness") && page.contains("c-drops"));
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("Did the networks behave as configured?"));
    assert!(
        index.contains("3g.html\""),
        "the panel links to the network's page"
    );
    // The banner shows exactly when the run's own windows say the host fell behind: this test cannot make
    // its host quiet (CI runs tests side by side on two cores), so it checks the banner against the data.
    let net = rows(&out, Table::Network);
    let late = net.iter().any(|r| {
        r["lateness_p99_us"].as_f64().unwrap_or(0.0) > 10_000.0
            && r["forwarded"].as_u64().unwrap() >= 100
    });
    let overflow = net
        .iter()
        .any(|r| r["dropped_overflow"].as_u64().unwrap() > 0);
    let banner = index.contains("The host was overloaded");
    if late || overflow {
        assert!(banner, "windows released late or overflowed, yet no banner");
        let at = index.find("The host was overloaded").unwrap();
        assert!(
            index[at..].contains(if late {
                "released packets late"
            } else {
                "overflow"
            }),
            "the banner names the cause"
        );
    } else {
        // Without late or overflowing windows only the tasks' CPU at the host's capacity can raise it.
        let at = index.find("The host was overloaded");
        assert!(
            at.is_none_or(|at| index[at..].contains("of the host's")),
            "a banner without late windows, overflow or saturated CPU"
        );
    }
    // The latency-over-time chart carries a rule for each change.
    let charts = wotemu_reporter::compact::page_charts(&out.join("site"), "index.html");
    let spec = charts
        .get("c-latency-time")
        .map(|c| c.to_string())
        .unwrap_or_default();
    assert!(
        spec.contains("\"rule\"") && spec.contains("3g: latency 300"),
        "rules on the latency chart: {spec:.2000}"
    );
    // The gateway is a task of the run, with its own state.
    let tasks = rows(&out, Table::Tasks);
    assert!(
        tasks
            .iter()
            .any(|t| t["node"] == "gw_3g" && t["state"] == "shutdown"),
        "{tasks:#?}"
    );
    let m = wotemu_contract::Manifest::read(&out).unwrap();
    assert!(m.accounting.totals.balanced(), "{:?}", m.accounting.totals);
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// `wotemu net show` / `net set` on a running run: the change lands as a `live` event and the delay the
/// gateway applies follows it; then a flood beyond what the shaper can take makes the report's banner say
/// the host was overloaded, and when.
#[test]
fn a_live_change_and_an_overload_are_in_the_dataset_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(dir.path(), "");
    let out = dir.path().join("run");
    let child = run_cmd(&topo, &out, "40s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The gateway records its state every second once the run is up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let o = wotemu()
            .args(["net", "show", "--json", "--run"])
            .arg(&out)
            .output()
            .unwrap();
        if o.status.success() {
            let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
            if v.as_array().is_some_and(|a| !a.is_empty()) {
                break v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no network state: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(shown[0]["network"], "3g");
    assert_eq!(shown[0]["state"]["conditions"]["latency"], 300.0);
    // A mistake is explained, and changes nothing.
    let bad = wotemu()
        .args(["net", "set", "4g", "--delay", "50ms", "--run"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("no network `4g`; its networks: 3g"),
        "{}",
        stderr(&bad)
    );
    std::thread::sleep(Duration::from_secs(6));
    let set = wotemu()
        .args([
            "net", "set", "3g", "--delay", "50ms", "--jitter", "0ms", "--run",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(
        stdout(&set).contains("\"latency\":50.0"),
        "{}",
        stdout(&set)
    );
    // Then a flood through the gateway, from a reader's namespace to the server's CoAP port (a WoT port,
    // routed through the gateway), more than the shaper can hold: with 8 s of delay its delay line (200,000
    // packets) overflows.
    std::thread::sleep(Duration::from_secs(8));
    let set = wotemu()
        .args(["net", "set", "3g", "--delay", "8s", "--run"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", stderr(&set));
    let id = {
        let runs = wotemu().args(["ps", "--json"]).output().unwrap();
        let v: Value = serde_json::from_str(&stdout(&runs)).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_dir"].as_str() == Some(out.to_str().unwrap()))
            .expect("the run is listed")["run_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A reader's namespace: one whose address is not the server's.
    let hosts = std::fs::read_to_string(format!("/etc/netns/wtm-{id}-0/hosts")).unwrap();
    let server_ip = hosts
        .lines()
        .find(|l| l.split_whitespace().any(|n| n == "server.3g"))
        .and_then(|l| l.split_whitespace().next())
        .expect("server.3g in the hosts file")
        .to_owned();
    let ns = (0..3)
        .map(|i| format!("wtm-{id}-{i}"))
        .find(|ns| {
            let o = std::process::Command::new("ip")
                .args(["-n", ns, "-4", "-o", "addr", "show"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            o.status.success() && !text.contains(&format!("{server_ip}/"))
        })
        .expect("a reader's namespace");
    let flood = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "python3", "-c"])
        .arg(
            format!("SERVER = '{server_ip}'\n")
                + "import socket, time\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)\n\
             addr = (SERVER, 5683)\n\
             end = time.time() + 8\n\
             p = b'x' * 32\n\
             n = 0\n\
             while time.time() < end:\n\
             \x20   for _ in range(1000):\n\
             \x20       try:\n\
             \x20           s.sendto(p, addr)\n\
             \x20           n += 1\n\
             \x20       except OSError:\n\
             \x20           pass\n\
             print(n)\n",
        )
        .output()
        .unwrap();
    assert!(flood.status.success(), "{}", stderr(&flood));
    let sent: u64 = stdout(&flood).trim().parse().unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let ev = conditions_events(&out);
    let live: Vec<&Value> = ev.iter().filter(|e| e["outcome"] == "live").collect();
    assert_eq!(live.len(), 2, "{ev:#?}");
    let at = live[0]["time"].as_i64().unwrap();
    let w = windows(&out);
    let after: Vec<f64> = w
        .iter()
        .filter(|x| x.0 > at + 1_500_000 && x.0 < at + 7_000_000)
        .filter_map(|x| x.1)
        .collect();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|d| *d < 80.0),
        "delays after the change: {after:?}"
    );
    assert!(
        w.iter().any(|x| x.0 < at && x.1.is_some_and(|d| d > 150.0)),
        "3G delays before it"
    );

    // The flood: packets the shaper could not take are counted, and the banner says so.
    let net = rows(&out, Table::Network);
    let overflow: u64 = net
        .iter()
        .map(|r| r["dropped_overflow"].as_u64().unwrap())
        .sum();
    let received: u64 = net.iter().map(|r| r["received"].as_u64().unwrap()).sum();
    assert!(received > sent / 10, "{received} received of {sent} sent");
    let rate: u64 = net
        .iter()
        .map(|r| r["dropped_rate"].as_u64().unwrap())
        .sum();
    assert!(overflow > 0, "a flood of {sent} packets overflowed nothing ({received} received, {rate} dropped by the rate limit)");
    let index = std::fs::read_to_string(out.join("site/index.html")).unwrap();
    assert!(index.contains("The host was overloaded"), "no banner");
    assert!(index.contains("overflow"), "the banner says why");
    let page = std::fs::read_to_string(out.join("site/networks/3g.html")).unwrap();
    assert!(
        page.contains("verdict-fail"),
        "the network's page fails the overflow figure"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// `wotemu fidelity --trace`: throughput per second follows the trace's rate steps, and delay steps land
/// within 50 ms of their time.
#[test]
fn fidelity_measures_a_trace_replay() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("steps.csv");
    std::fs::write(
        &trace,
        "time,delay,rate\n0,20,2mbit\n3,120,500kbit\n6,40,1mbit\n",
    )
    .unwrap();
    let o = wotemu()
        .args(["fidelity", "--json", "--duration", "9", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&o), stderr(&o)));
    let figs = v["figures"].as_array().unwrap();
    let find = |p: &str| {
        figs.iter()
            .find(|f| f["name"].as_str().unwrap().starts_with(p))
            .unwrap_or_else(|| panic!("no {p} in {v:#}"))
    };
    assert_eq!(find("trace_rate_worst_second")["pass"], true, "{v:#}");
    assert_eq!(find("trace_delay_step_landing")["pass"], true, "{v:#}");
    assert_eq!(find("trace_delay_steps_measured")["measured"], 2.0, "{v:#}");
    assert!(o.status.success(), "{}", stderr(&o));
    // A wrong row names its line.
    std::fs::write(&trace, "time,delay\n0,20\n1,fast\n").unwrap();
    let o = wotemu()
        .args(["fidelity", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("steps.csv:3: `delay`"),
        "{}",
        stderr(&o)
    );
}

/// The trace example on one host: each window's configured conditions follow the trace files' rows in
/// order (cellular.csv: delay and rate per second; commute.mahi: a rate per second of delivery
/// opportunities), and the delay the gateway applied follows them.
#[test]
fn the_trace_example_replays_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&repo().join("examples/trace.yml"), &out, "14s")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let text = std::fs::read_to_string(repo().join("examples/traces/cellular.csv")).unwrap();
    let delays: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("time"))
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let net = rows(&out, Table::Network);
    let mut seen: Vec<f64> = net
        .iter()
        .filter(|r| r["network"] == "cell" && r["direction"] == "down")
        .map(|r| r["cfg_latency_ms"].as_f64().unwrap())
        .collect();
    seen.dedup();
    assert!(seen.len() >= 6, "{seen:?}");
    // In the rows' order (a window may miss a row that lasted less than it).
    let mut next = 0;
    for d in &seen {
        let at = delays[next..]
            .iter()
            .position(|x| x == d)
            .unwrap_or_else(|| {
                panic!("{d} ms is not a later row of the trace: {seen:?} vs {delays:?}")
            });
        next += at;
    }
    // The applied delay follows the configured one where traffic went through.
    for r in net.iter().filter(|r| r["network"] == "cell") {
        if let (Some(d), Some(n)) = (r["delay_mean_ms"].as_f64(), r["forwarded"].as_u64()) {
            let cfg = r["cfg_latency_ms"].as_f64().unwrap();
            if n >= 5 {
                assert!(
                    (d - cfg).abs() < cfg * 0.5 + 20.0,
                    "applied {d} ms, configured {cfg} ms"
                );
            }
        }
    }
    // The mahimahi trace: every configured rate of `commute` is one of its per-second rates.
    let mahi = std::fs::read_to_string(repo().join("examples/traces/commute.mahi")).unwrap();
    let rates = wotemu_topology::trace::parse_mahimahi(&mahi, 1000.0).unwrap();
    let rates: Vec<u64> = rates.iter().map(|p| p.rate_bps.unwrap()).collect();
    let commute: Vec<u64> = net
        .iter()
        .filter(|r| r["network"] == "commute")
        .map(|r| r["cfg_rate_bps"].as_u64().unwrap())
        .collect();
    assert!(!commute.is_empty());
    assert!(commute.iter().all(|r| rates.contains(r)), "{commute:?}");
    // The report's network pages exist for both.
    for n in ["cell", "commute"] {
        assert!(out.join(format!("site/networks/{n}.html")).exists());
    }
}

/// A gateway killed mid-run is restarted by the runner and goes on with its schedule where the first one
/// was: the conditions after the restart are the schedule's at that time, and no step is recorded twice.
#[test]
fn a_restarted_gateway_continues_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(
        dir.path(),
        "    schedule:\n      - at: 6s\n        conditions: gprs\n",
    );
    let out = dir.path().join("run");
    let child = run_cmd(&topo, &out, "30s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the gateway applies GPRS, kill it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = wotemu()
            .args(["net", "show", "--json", "--run"])
            .arg(&out)
            .output()
            .unwrap();
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
        if v[0]["state"]["conditions"]["latency"] == 700.0 {
            break;
        }
        assert!(Instant::now() < deadline, "GPRS never applied: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let runs = wotemu().args(["ps", "--json"]).output().unwrap();
    let v: Value = serde_json::from_str(&stdout(&runs)).unwrap();
    let id = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_dir"].as_str() == Some(out.to_str().unwrap()))
        .unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ready = format!("/run/wotemu/{id}/gw-0.ready");
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains(" gateway ") && cmd.contains(&ready) && !cmd.starts_with("ip "))
                .then(|| e.file_name().to_string_lossy().parse::<i32>().ok())
                .flatten()
        })
        .expect("the gateway's process");
    // SAFETY: kill(2) on a process of this test's run.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The runner saw the outage and restarted the gateway.
    let outage_end = rows(&out, Table::Timeline)
        .into_iter()
        .find(|e| e["kind"] == "outage" && e["outcome"] == "end")
        .expect("the gateway's outage was recorded");
    let back = outage_end["time"].as_i64().unwrap();
    // One schedule step in all; every window after the restart is under GPRS.
    assert_eq!(
        conditions_events(&out).len(),
        1,
        "{:#?}",
        conditions_events(&out)
    );
    let after: Vec<f64> = windows(&out)
        .into_iter()
        .filter(|w| w.0 > back + 500_000)
        .map(|w| w.2)
        .collect();
    assert!(after.len() >= 10, "{after:?}");
    assert!(after.iter().all(|l| *l == 700.0), "{after:?}");
}

/// `examples/traces/make_traces.py` writes the example traces as they are committed: run from a copy in
/// an empty folder, it writes both files byte for byte (a fixed seed, nothing from elsewhere).
#[test]
fn the_example_traces_are_what_make_traces_writes() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("make_traces.py");
    std::fs::copy(repo().join("examples/traces/make_traces.py"), &script).unwrap();
    let o = std::process::Command::new("python3")
        .arg(&script)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["cellular.csv", "commute.mahi", "walk.csv"] {
        let made = std::fs::read(dir.path().join(name)).unwrap();
        let committed = std::fs::read(repo().join("examples/traces").join(name)).unwrap();
        assert!(
            made == committed,
            "{name}: make_traces.py wrote {} bytes, the committed file has {}",
            made.len(),
            committed.len()
        );
    }
}

/// `wotemu fidelity --trace --linear`: the rate ramps between the trace's rows (every 100 ms) instead of
/// holding the first row, and the measured rate follows the ramp second by second.
#[test]
fn fidelity_measures_a_linear_trace_replay() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("ramp.csv");
    std::fs::write(&trace, "time,rate\n0,500kbit\n6,2500kbit\n").unwrap();
    let o = wotemu()
        .args([
            "fidelity",
            "--json",
            "--duration",
            "6",
            "--seed",
            "5",
            "--linear",
            "--trace",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let find = |p: &str| {
        v["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"].as_str().unwrap().starts_with(p))
            .unwrap_or_else(|| panic!("no {p} in {v:#}"))
            .clone()
    };
    assert_eq!(v["seed"], 5, "the gateway's seed");
    let worst = find("trace_rate_worst_second");
    assert_eq!(worst["pass"], true, "{v:#}");
    assert_eq!(
        find("trace_rate_seconds_within")["measured"],
        100.0,
        "{v:#}"
    );
    // Held, every second of [1 s, 5 s) would expect the first row's 500 kbit/s.
    let expected = worst["configured"].as_f64().unwrap();
    assert!(
        expected > 600_000.0 && expected < 2_400_000.0,
        "the worst second expected {expected} bit/s: not on the ramp"
    );
}

/// `examples/conditions.yml` (its first 25 s: LTE with loss, duplication, corruption, reordering and an
/// uplink rate; an explicit lab network): the readers on both networks read; the rural gateway's windows
/// carry its configuration each way (15 mbit/s down, 2 mbit/s up, 1 % loss, 0.2 % duplication) and it
/// lost, duplicated and reordered packets; the lab gateway delays by its 2 ms.
#[test]
fn the_conditions_example_runs_with_what_it_configures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&repo().join("examples/conditions.yml"), &out, "25s")
        .arg("--no-report")
        .output()
        .unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let id = run_id(&stdout(&o));
    let inter = rows(&out, Table::Interactions);
    for node in ["reader", "lab_reader"] {
        assert!(
            inter
                .iter()
                .any(|r| r["node"] == node && r["side"] == "consumed" && r["ok"] == true),
            "{node} did not read"
        );
    }
    let net = rows(&out, Table::Network);
    let of = |network: &str, dir: &str| -> Vec<&Value> {
        net.iter()
            .filter(|w| w["network"] == network && w["direction"] == dir)
            .collect()
    };
    for (dir, rate) in [("down", 15_000_000), ("up", 2_000_000)] {
        let w = of("rural", dir);
        assert!(!w.is_empty(), "no rural {dir} windows");
        assert!(w.iter().all(|w| w["cfg_rate_bps"] == rate), "{dir}: {w:?}");
        assert!(w.iter().all(|w| w["cfg_loss_pct"] == 1.0), "{dir}: {w:?}");
        assert!(
            w.iter().all(|w| w["cfg_duplicate_pct"] == 0.2),
            "{dir}: {w:?}"
        );
    }
    let sum = |network: &str, col: &str| -> u64 {
        net.iter()
            .filter(|w| w["network"] == network)
            .map(|w| w[col].as_u64().unwrap())
            .sum()
    };
    let received = sum("rural", "received");
    assert!(received > 500, "the rural gateway saw {received} packets");
    assert!(
        sum("rural", "lost") > 0,
        "1 % of {received} packets, none lost"
    );
    assert!(
        sum("rural", "reordered") > 0,
        "5 % of {received} packets, none reordered"
    );
    let lab: Vec<f64> = of("lab", "down")
        .iter()
        .filter_map(|w| w["delay_p50_ms"].as_f64())
        .collect();
    assert!(!lab.is_empty(), "no lab delays");
    assert!(
        lab.iter().all(|d| (1.0..4.0).contains(d)),
        "the lab network's 2 ± 0.5 ms: {lab:?}"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// An asymmetric link on one host: what the readers send (up, to the server's WoT port) waits
/// `latency_up` (120 ms) and loses `loss_up`, what comes back (down) waits `latency` (20 ms) and loses
/// nothing; each direction's windows carry its own configuration and the delay the gateway applied.
#[test]
fn an_asymmetric_link_delays_and_loses_each_way_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = repo().join("examples/apps/quickstart_server.py");
    let topo = dir.path().join("asym.yml");
    std::fs::write(
        &topo,
        format!(
            r#"networks:
  radio: {{latency: 20ms, latency_up: 120ms, loss_up: 2%}}
nodes:
  server:
    app: {{path: {}, http: true}}
    networks: [radio]
  reader:
    app:
      path: reader
      params: {{servient_host: server.radio, thing_id: "urn:wotemu:quickstart:thing", read_sleep: "0.2"}}
    networks: [radio]
    scale: 2
"#,
            server.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&topo, &out, "15s")
        .arg("--no-report")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    let net = rows(&out, Table::Network);
    let of = |d: &str| -> Vec<&Value> {
        net.iter()
            .filter(|w| w["direction"] == d && w["forwarded"].as_u64().unwrap() > 0)
            .collect()
    };
    for (d, latency, loss) in [("up", 120.0, 2.0), ("down", 20.0, 0.0)] {
        let w = of(d);
        assert!(w.len() >= 5, "{} {d} windows with traffic", w.len());
        for x in &w {
            assert_eq!(x["cfg_latency_ms"], latency, "{d}: {x}");
            assert_eq!(x["cfg_loss_pct"], loss, "{d}: {x}");
            assert_eq!(x["backend"], "userspace", "{d}: {x}");
            let p50 = x["delay_p50_ms"].as_f64().unwrap();
            assert!(
                (p50 - latency).abs() < 5.0,
                "{d}: the gateway delayed by {p50} ms, not {latency}"
            );
        }
    }
    let lost = |d: &str| -> u64 { of(d).iter().map(|w| w["lost"].as_u64().unwrap()).sum() };
    assert!(lost("up") > 0, "2 % of what the readers sent, none lost");
    assert_eq!(lost("down"), 0, "the down direction has no loss");
    // A round trip crosses both: the reads' median is above 140 ms.
    let reads: Vec<f64> = rows(&out, Table::Interactions)
        .iter()
        .filter(|r| r["side"] == "consumed" && r["ok"] == true)
        .filter_map(|r| r["latency_ms"].as_f64())
        .collect();
    let mut sorted = reads.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        sorted[sorted.len() / 2] > 140.0,
        "reads' median {}",
        sorted[sorted.len() / 2]
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// `wotemu fidelity --loss gilbert:2%,25%`: the gateway loses the probes in bursts of about 1 / r = 4 (the
/// `loss_burst_mean` figure, judged ±50 %) at the model's mean share (7.4 %, its tolerance widened for
/// correlated losses); the burst figure is what tells it from independent losses of the same share (the
/// shaper's own test shows those come in runs of ~1).
#[test]
fn fidelity_measures_bursts_of_loss() {
    let (v, o) = fidelity_json(&["--delay", "5ms", "--seed", "9", "--loss", "gilbert:2%,25%"]);
    let find = |p: &str| figure(&v, p);
    let burst = find("loss_burst_mean");
    assert_eq!(burst["configured"], 4.0, "{v:#}");
    assert_eq!(burst["pass"], true, "{v:#}");
    assert!(burst["measured"].as_f64().unwrap() > 2.0, "{v:#}");
    assert_eq!(find("loss")["pass"], true, "{v:#}");
    // (The round trips' figures depend on the machine's load: other tests run beside this one.)
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));

    // Correlated losses: 5 % on average, each following the last by 60 %: runs of 1 / (0.95 × 0.4).
    let (v, _) = fidelity_json(&[
        "--delay",
        "5ms",
        "--seed",
        "9",
        "--loss",
        "5%",
        "--loss-correlation",
        "60%",
    ]);
    let burst = figure(&v, "loss_burst_mean");
    assert!(
        (burst["configured"].as_f64().unwrap() - 1.0 / 0.38).abs() < 1e-6,
        "{v:#}"
    );
    assert_eq!(burst["pass"], true, "{v:#}");
    let loss = figure(&v, "loss");
    assert!(
        (loss["configured"].as_f64().unwrap() - 5.0).abs() < 1e-6,
        "{v:#}"
    );
    assert_eq!(loss["pass"], true, "{v:#}");
}

/// `wotemu fidelity --distribution pareto|paretonormal|ping:FILE`: the round trip's p50, p90 and p99 are
/// judged within 10 % of what the distribution gives (netem's tables; the file's measured delays, which set
/// the latency and jitter), and a normal distribution's quantiles are only reported.
#[test]
fn fidelity_judges_the_quantiles_of_delay_distributions() {
    let dir = tempfile::tempdir().unwrap();
    let ping = dir.path().join("walk.ping");
    // Round trips of 60–140 ms with a long tail, as a lossy radio link's.
    let rtts: String = (0..400)
        .map(|i| {
            format!(
                "{:.1}\n",
                60.0 + 80.0 * (f64::from(i % 100) / 100.0).powi(3)
            )
        })
        .collect();
    std::fs::write(&ping, rtts).unwrap();
    let ping_arg = format!("ping:{}", ping.display());
    for (dist, extra) in [
        ("pareto", vec!["--delay", "40ms", "--jitter", "10ms"]),
        ("paretonormal", vec!["--delay", "40ms", "--jitter", "10ms"]),
        (ping_arg.as_str(), vec![]),
        ("normal", vec!["--delay", "40ms", "--jitter", "10ms"]),
    ] {
        let args = [&["--seed", "5", "--distribution", dist][..], &extra].concat();
        let (v, _) = fidelity_json(&args);
        for q in ["rtt_p50", "rtt_p90", "rtt_p99"] {
            let f = figure(&v, q);
            let (want, got) = (
                f["configured"].as_f64().unwrap(),
                f["measured"].as_f64().unwrap(),
            );
            if dist == "normal" {
                assert!(
                    f["pass"].is_null(),
                    "{dist} {q} is reported, not judged: {f}"
                );
            } else {
                assert_eq!(f["pass"], true, "{dist} {q}: {f}\n{v:#}");
                assert!(
                    (got - want).abs() <= (0.1 * want).max(1.5),
                    "{dist} {q}: {f}"
                );
            }
        }
        if dist.starts_with("ping:") {
            // The file's one-way mean: half of its round trips' mean (60 + 80 × E[x³] ≈ 79.6 ms).
            let latency = v["conditions"]["latency_ms"].as_f64().unwrap();
            assert!((latency - 39.8).abs() < 0.5, "{latency}: {v:#}");
            assert_eq!(v["conditions"]["distribution"], "ping");
        } else {
            assert_eq!(
                v["conditions"]["distribution"].as_str().unwrap_or("normal"),
                dist
            );
        }
    }
    // Named wrongly: refused before any lab is built, with the names there are.
    let o = wotemu()
        .args(["fidelity", "--distribution", "lognormal"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pareto, paretonormal, uniform"),
        "{}",
        stderr(&o)
    );
}

/// `wotemu fidelity --fairness per-node`: two nodes sending up at once at 3× and 1.2× a 2 Mbit/s rate get
/// 1 Mbit/s ± 10 % each, and a small flow's round trips beside a bulk upload do not wait behind it; with
/// one line and `--queue 100ms`, the small flow's round trips rise by the full queue's drain time at each
/// of the two crossings of the shared bucket (2 × (100 ms + the burst's 50 ms)), measured within 25 %.
#[test]
fn fidelity_measures_how_the_rate_is_shared() {
    let figures = |extra: &[&str]| {
        let args = [
            &["--seed", "3", "--delay", "10ms", "--rate", "2mbit"][..],
            extra,
        ]
        .concat();
        fidelity_json(&args).0
    };
    let fig = |v: &Value, name: &str| figure(v, name).clone();
    let v = figures(&["--fairness", "per-node"]);
    assert_eq!(v["conditions"]["fairness"], "per-node", "{v:#}");
    for name in ["share_a", "share_b", "bulk_rtt_rise"] {
        assert_eq!(fig(&v, name)["pass"], true, "{name}: {v:#}");
    }
    assert_eq!(fig(&v, "share_a")["configured"], 1_000_000.0);
    let v = figures(&["--queue", "100ms"]);
    let rise = fig(&v, "bulk_rtt_rise");
    assert_eq!(rise["configured"], 300.0, "{v:#}");
    assert_eq!(rise["pass"], true, "{v:#}");
    // One line: the bulk sender gets more than half.
    let (a, b) = (
        fig(&v, "share_a")["measured"].as_f64().unwrap(),
        fig(&v, "share_b")["measured"].as_f64().unwrap(),
    );
    assert!(
        a > 1.3 * b,
        "fifo shares in proportion to what is offered: {a} / {b}"
    );
    assert!(fig(&v, "share_a")["pass"].is_null());
}

/// `examples/mobility.yml`: the walker's link follows its walk (traces/walk.csv): near the access point for
/// the first seconds (10 ms, 20 Mbit/s), then each band of the distance table in turn as it walks away (30,
/// 80, 200 ms), out of range (every packet lost) past 300 m; it reads while near, and its reads fail or stop
/// once out of range.
#[test]
fn the_mobility_example_follows_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&repo().join("examples/mobility.yml"), &out, "34s")
        .arg("--no-report")
        .output()
        .unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let net = rows(&out, Table::Network);
    let mut down: Vec<(i64, f64, f64)> = net
        .iter()
        .filter(|r| r["network"] == "radio" && r["direction"] == "down")
        .map(|r| {
            (
                r["time"].as_i64().unwrap(),
                r["cfg_latency_ms"].as_f64().unwrap(),
                r["cfg_loss_pct"].as_f64().unwrap(),
            )
        })
        .collect();
    down.sort_by_key(|w| w.0);
    let mut bands: Vec<f64> = down.iter().map(|w| w.1).collect();
    bands.dedup();
    // (The first band lasts the first 4 s: the gateway's first window may come after it.)
    assert!(
        bands == [10.0, 30.0, 80.0, 200.0] || bands == [30.0, 80.0, 200.0],
        "the walk's bands in order: {down:?}"
    );
    assert!(
        down.iter().any(|w| w.2 == 100.0),
        "never out of range: {down:?}"
    );
    let inter = rows(&out, Table::Interactions);
    let reads = |ok: bool| {
        inter
            .iter()
            .filter(|r| r["node"] == "walker" && r["side"] == "consumed" && r["ok"] == ok)
            .count()
    };
    assert!(reads(true) >= 10, "the walker read {} times", reads(true));
    let out_of_range = down.iter().find(|w| w.2 == 100.0).unwrap().0;
    let ok_late = inter.iter().filter(|r| {
        r["node"] == "walker"
            && r["ok"] == true
            && r["time"]
                .as_i64()
                .is_some_and(|t| t > out_of_range + 2_000_000)
    });
    assert_eq!(ok_late.count(), 0, "reads succeeded out of range");
}

/// A network whose delays were measured by ping (`distribution: {ping: FILE}`): the gateway applies them
/// (its state says `ping` with the file's mean one way), a live change of another figure keeps them, a
/// change to another distribution and back (`--distribution ping`) works, and `ping:FILE` in a live change
/// is refused with what to do instead.
#[test]
fn measured_delays_are_applied_and_survive_live_changes() {
    let dir = tempfile::tempdir().unwrap();
    // Round trips of 100–200 ms: one way 50–100 ms, 75 on average.
    let rtts: String = (0..200).map(|i| format!("{}\n", 100 + i % 101)).collect();
    std::fs::write(dir.path().join("rtt.ping"), rtts).unwrap();
    let topo = topology(dir.path(), "    distribution: {ping: rtt.ping}\n");
    let out = dir.path().join("run");
    let child = run_cmd(&topo, &out, "30s")
        .arg("--no-report")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let o = wotemu()
            .args(["net", "show", "--json", "--run"])
            .arg(&out)
            .output()
            .unwrap();
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
        // Once the readers read through the gateway (its last second forwarded packets).
        let s = v.as_array().and_then(|a| a.first());
        let busy = s
            .and_then(|s| s["state"]["window"].as_array())
            .is_some_and(|w| {
                w.iter()
                    .any(|w| w["forwarded"].as_u64().is_some_and(|n| n > 0))
            });
        if let (Some(s), true) = (s, busy) {
            break s["state"]["conditions"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no network state: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(state["distribution"], "ping", "{state}");
    let latency = state["latency"].as_f64().unwrap();
    assert!((latency - 75.0).abs() < 1.0, "{state}");
    let set = |args: &[&str]| {
        wotemu()
            .args(["net", "set", "3g"])
            .args(args)
            .arg("--run")
            .arg(&out)
            .output()
            .unwrap()
    };
    let o = set(&["--loss", "2%"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("\"distribution\":\"ping\"") && stdout(&o).contains("\"loss\":2.0"),
        "{}",
        stdout(&o)
    );
    let o = set(&["--distribution", "pareto"]);
    assert!(
        stdout(&o).contains("\"distribution\":\"pareto\""),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let o = set(&["--distribution", "ping"]);
    assert!(
        stdout(&o).contains("\"distribution\":\"ping\""),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let file = format!("ping:{}", dir.path().join("rtt.ping").display());
    let o = set(&["--distribution", &file]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("a live change cannot bring measured delays"),
        "{}",
        stderr(&o)
    );
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The delays applied before the first change: within the file's one-way range (50–100 ms; a window's
    // mean of them).
    let ev = conditions_events(&out);
    let first = ev
        .iter()
        .filter(|e| e["outcome"] == "live")
        .filter_map(|e| e["time"].as_i64())
        .min()
        .expect("the live changes are in the timeline");
    let applied: Vec<f64> = windows(&out)
        .iter()
        .filter(|w| w.0 < first)
        .filter_map(|w| w.1)
        .collect();
    assert!(!applied.is_empty());
    assert!(
        applied.iter().all(|d| (45.0..110.0).contains(d)),
        "applied delays: {applied:?}"
    );
}
