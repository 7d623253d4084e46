//! Network emulation with real namespaces and real packets: `wotemu fidelity` for every preset of WoTemu 0.6
//! and the new parameters, `wotemu route`'s rules, and clean-up after kill -9. Needs root.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{stderr, stdout, wotemu};

/// Runs `wotemu fidelity ARGS --json` and returns its result; asserts every judged figure passed.
fn fidelity(args: &[&str]) -> Value {
    let out = wotemu()
        .arg("fidelity")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    let failed: Vec<&Value> = v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["pass"] == false)
        .collect();
    assert!(failed.is_empty(), "out of tolerance: {failed:#?}");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["pass"], true);
    v
}

/// The figure `name` of a `wotemu fidelity --json` result.
pub(crate) fn figure<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no figure {name} in {v:#}"))
}

/// A preset: mean RTT within ±5 % (or ±1 ms) of twice its latency (the cut normal's mean), its rate both
/// ways within ±5 %, nothing lost, the direct path undelayed.
fn preset(name: &str) {
    let v = fidelity(&["--conditions", name]);
    let c = wotemu_topology::model::Preset::parse(name)
        .unwrap()
        .conditions();
    let rtt = figure(&v, "rtt_mean");
    assert!(
        (rtt["configured"].as_f64().unwrap() - 2.0 * c.latency_ms).abs()
            < 0.02 * 2.0 * c.latency_ms + 1.0
    );
    for way in ["rate_up", "rate_down"] {
        let f = figure(&v, way);
        assert_eq!(
            f["configured"].as_f64().unwrap(),
            c.rate_bps.unwrap() as f64
        );
        assert_eq!(f["pass"], true);
    }
    assert_eq!(figure(&v, "loss")["measured"].as_f64().unwrap(), 0.0);
    assert!(figure(&v, "direct_rtt_mean")["measured"].as_f64().unwrap() < 1.0);
    // The gateway really carried the probes.
    assert!(
        v["gateway"]["stats"]["forwarded"].as_u64().unwrap() > 100,
        "{v:#}"
    );
}

#[test]
fn fidelity_gprs() {
    preset("gprs");
}

#[test]
fn fidelity_edge() {
    preset("edge");
}

#[test]
fn fidelity_regular_3g() {
    preset("regular_3g");
}

#[test]
fn fidelity_fast_3g() {
    preset("fast_3g");
}

#[test]
fn fidelity_lte() {
    preset("lte");
}

#[test]
fn fidelity_wifi() {
    preset("wifi");
}

#[test]
fn fidelity_cable() {
    preset("cable");
}

#[test]
fn fidelity_of_the_new_parameters() {
    let v = fidelity(&[
        "--delay",
        "10ms",
        "--jitter",
        "2ms",
        "--rate",
        "10mbit",
        "--rate-up",
        "2mbit",
        "--loss",
        "2%",
        "--duplicate",
        "1%",
        "--corrupt",
        "1%",
        "--reorder",
        "10%",
    ]);
    assert_eq!(
        v["backend"], "userspace",
        "rate_up needs the userspace shaper"
    );
    assert_eq!(figure(&v, "rate_up")["configured"], 2_000_000.0);
    assert_eq!(figure(&v, "rate_down")["configured"], 10_000_000.0);
    let g = &v["gateway"]["stats"];
    for k in ["lost", "duplicated", "corrupted", "reordered"] {
        assert!(g[k].as_u64().unwrap() > 0, "{k}: {g}");
    }
    // Loss and corruption both show as loss at the far end (a corrupted datagram fails its checksum).
    assert!(figure(&v, "loss")["measured"].as_f64().unwrap() > 1.5);
    assert!(figure(&v, "out_of_order")["measured"].as_f64().unwrap() > 0.0);
}

#[test]
fn fidelity_rejects_bad_conditions_clearly() {
    for (args, says) in [
        (vec!["--conditions", "5g"], "unknown preset `5g`"),
        (vec!["--loss", "140%"], "loss"),
        (vec!["--rate", "fast"], "--rate"),
    ] {
        let out = wotemu().arg("fidelity").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

fn ns_exec(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A throwaway namespace with one veth end (`eth0`, 10.79.0.2/24) whose peer sits in `<ns>-peer`.
struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("wtt-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let _ = Command::new("ip")
            .args(["netns", "del", &format!("{name}-peer")])
            .status();
        for n in [&name, &format!("{name}-peer")] {
            assert!(Command::new("ip")
                .args(["netns", "add", n])
                .status()
                .unwrap()
                .success());
        }
        let ok = Command::new("ip")
            .args([
                "-n", &name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
            ])
            .arg(format!("{name}-peer"))
            .status()
            .unwrap()
            .success();
        assert!(ok);
        for (n, a) in [
            (name.clone(), "10.79.0.2/24"),
            (format!("{name}-peer"), "10.79.0.1/24"),
        ] {
            Command::new("ip")
                .args(["-n", &n, "addr", "add", a, "dev", "eth0"])
                .status()
                .unwrap();
            Command::new("ip")
                .args(["-n", &n, "link", "set", "eth0", "up"])
                .status()
                .unwrap();
        }
        Ns(name)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = Command::new("ip")
            .args(["netns", "del", &format!("{}-peer", self.0)])
            .status();
    }
}

fn route(ns: &Ns, extra: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_wotemu"),
            "route",
            "--gateway",
            "10.79.0.1",
        ])
        .args(extra)
        .env("PORT_HTTP", "8080")
        .env("OTHER_PORTS_TCP", "7001,7002")
        .output()
        .unwrap()
}

#[test]
fn route_marks_wot_ports_only_and_never_stacks() {
    let ns = Ns::new("route");
    for _ in 0..2 {
        let out = route(&ns, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("10.79.0.0/24"), "{}", stdout(&out));
    }
    let rules = ns_exec(&ns.0, &["iptables", "-w", "-t", "mangle", "-S"]);
    // One jump from OUTPUT for the subnet, WoT ports of the environment marked both ways.
    assert_eq!(
        rules
            .matches("-A OUTPUT -d 10.79.0.0/24 -j WOTEMU_RT0")
            .count(),
        1,
        "{rules}"
    );
    assert!(
        rules.contains("--dports 81,1883,7001,7002,8080,9090"),
        "{rules}"
    );
    assert!(
        rules.contains("--sports 81,1883,7001,7002,8080,9090"),
        "{rules}"
    );
    assert!(
        rules.contains("-p udp -m multiport --dports 5683"),
        "{rules}"
    );
    assert!(
        !rules.contains("--dports 80,"),
        "PORT_HTTP replaces 80: {rules}"
    );
    let ip_rules = ns_exec(&ns.0, &["ip", "rule", "show"]);
    assert_eq!(
        ip_rules.matches("fwmark 0x7700 lookup 7700").count(),
        1,
        "{ip_rules}"
    );
    let table = ns_exec(&ns.0, &["ip", "route", "show", "table", "7700"]);
    assert!(table.contains("default via 10.79.0.1"), "{table}");
    // A WoT port goes via the gateway; another port does not.
    let via = |port: &str, proto: &str| {
        ns_exec(
            &ns.0,
            &[
                "ip",
                "route",
                "get",
                "10.79.0.9",
                "mark",
                if port == "wot" { "0x7700" } else { "0" },
                "ipproto",
                proto,
            ],
        )
    };
    assert!(
        via("wot", "tcp").contains("via 10.79.0.1"),
        "{}",
        via("wot", "tcp")
    );
    assert!(
        !via("other", "tcp").contains("via"),
        "{}",
        via("other", "tcp")
    );

    let out = route(&ns, &["--remove"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rules = ns_exec(&ns.0, &["iptables", "-w", "-t", "mangle", "-S"]);
    assert!(!rules.contains("WOTEMU"), "{rules}");
    assert!(!ns_exec(&ns.0, &["ip", "rule", "show"]).contains("0x7700"));
}

#[test]
fn route_to_a_gateway_outside_every_network_is_a_clear_error() {
    let ns = Ns::new("route-bad");
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_wotemu"),
            "route",
            "--gateway",
            "192.0.2.1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no local address is in the network of the gateway 192.0.2.1"),
        "{}",
        stderr(&out)
    );
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_gateway_is_cleaned_up_by_wotemu_clean() {
    let ns = Ns::new("gwkill");
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    // A state root of its own: its record is the only one this `wotemu clean` sees.
    let root = dir.path().join("state");
    let mut gw = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_wotemu"),
            "-q",
            "gateway",
            "--backend",
            "userspace",
        ])
        .args([
            "--conditions",
            r#"{"latency": 20, "rate": "5mbit"}"#,
            "--ready-file",
        ])
        .arg(&ready)
        .env("WOTEMU_STATE_DIR", &root)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the gateway's readiness", 15, || ready.exists());
    let rules = ns_exec(&ns.0, &["iptables", "-w", "-t", "mangle", "-S"]);
    assert!(rules.contains("-A FORWARD -j WOTEMU_GW"), "{rules}");
    assert!(rules.contains("NFQUEUE"), "{rules}");
    // The record `wotemu clean` will use.
    let records = || {
        std::fs::read_dir(root.join("records"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| {
                        std::fs::read_to_string(e.path())
                            .unwrap_or_default()
                            .contains(&ns.0)
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(records(), 1);
    gw.kill().unwrap();
    gw.wait().unwrap();
    // The process inside `ip netns exec` is the gateway itself (exec), so it is gone now.
    assert!(ns_exec(&ns.0, &["iptables", "-w", "-t", "mangle", "-S"]).contains("WOTEMU_GW"));
    let out = wotemu()
        .arg("clean")
        .env("WOTEMU_STATE_DIR", &root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed what gateway left"),
        "{}",
        stdout(&out)
    );
    let rules = ns_exec(&ns.0, &["iptables", "-w", "-t", "mangle", "-S"]);
    assert!(!rules.contains("WOTEMU"), "{rules}");
    assert_eq!(records(), 0);
}

#[test]
fn a_killed_fidelity_lab_is_cleaned_up_by_wotemu_clean() {
    // A state root of its own: its lab is the only one this `wotemu clean` sees.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let mut child = wotemu()
        .args(["fidelity", "--conditions", "gprs", "--json"])
        .env("WOTEMU_STATE_DIR", &root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("wtm-f{:04x}", child.id() & 0xffff);
    let gw_ns = format!("{prefix}-gw");
    wait_for("the lab's gateway", 20, || {
        !ns_exec(&gw_ns, &["iptables", "-w", "-t", "mangle", "-S"]).is_empty()
            && ns_exec(&gw_ns, &["iptables", "-w", "-t", "mangle", "-S"]).contains("NFQUEUE")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(Path::new("/run/netns").join(&gw_ns).exists());
    let out = wotemu()
        .arg("clean")
        .env("WOTEMU_STATE_DIR", &root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Its gateway process (whose files are under the lab's state directory) is gone too.
    let state_dir = format!("{}/{}/", root.display(), &prefix["wtm-".len()..]);
    let procs = Command::new("pgrep")
        .args(["-f", &state_dir])
        .output()
        .unwrap();
    assert!(stdout(&procs).trim().is_empty(), "{}", stdout(&procs));
    assert!(!Path::new(&state_dir).exists());
}
