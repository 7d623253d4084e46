//! WoTemu 0.6, complete, in `wotemu run`: its camera, detector and historian apps end to end, 0.6-style apps
//! using its app API (`wotemu.utils`, `wotemu.monitor.utils.write_metric`, `conf`), and emulated CPU speed
//! checked against `sysbench cpu` inside the nodes' cgroups. Needs root.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wotemu_contract::Table;

use crate::rows::{of_task, rows};
use crate::run::{leftovers, repo, run_cmd, run_id};
use crate::util::{stderr, stdout};

/// The `app` rows of `key` whose task starts with `prefix`, with their JSON value parsed.
fn metrics(dir: &Path, prefix: &str, key: &str) -> Vec<Value> {
    let app = rows(dir, Table::App);
    of_task(&app, prefix)
        .into_iter()
        .filter(|r| r["key"] == key)
        .map(|r| serde_json::from_str(r["value"].as_str().unwrap()).unwrap())
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Cameras → face detector across a gateway, in the cloud (LTE) and on a constrained edge node (3G, a
/// quarter of a CPU), run side by side: faces are detected and the cameras moved in both, and a frame takes
/// longer from capture to detection on the constrained one.
#[test]
fn surveillance_detects_faces_and_is_slower_on_the_constrained_edge() {
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    for name in ["surveillance_cloud", "surveillance_edge_constrained"] {
        let out = dir.path().join(name);
        let child = run_cmd(&repo().join(format!("examples/{name}.py")), &out, "45s")
            .arg("--no-report")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push((name, out, child));
    }
    let mut latency = Vec::new();
    for (name, out, child) in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{name}: {}\n{}", stdout(&o), stderr(&o));
        let id = run_id(&stdout(&o));
        let detector = if name == "surveillance_cloud" {
            "cloud"
        } else {
            "edge"
        };
        let prefix = format!("{name}_{detector}.");
        let frames = metrics(&out, &prefix, "detection_latency");
        assert!(
            frames.len() >= 5,
            "{name}: {} frames detected",
            frames.len()
        );
        let with_faces = frames
            .iter()
            .filter(|f| f["faces"].as_u64().unwrap() > 0)
            .count();
        // In the cloud every frame is searched; the constrained detector (a quarter of a CPU, frames queued on
        // 3G) searches far fewer, and whether one of them shows a face depends on the patrol's timing.
        if name == "surveillance_cloud" {
            assert!(
                with_faces >= 1,
                "{name}: no face in {} frames",
                frames.len()
            );
        }
        // Both cameras were watched.
        for cam in ["camera_a", "camera_b"] {
            assert!(
                frames
                    .iter()
                    .any(|f| f["camera_id"].as_str().unwrap().starts_with(cam)),
                "{name}: no frame of {cam}"
            );
        }
        // A camera moves exactly when a detection found a face (controlPTZ with time_capture records
        // ptz_latency in the camera): at most one move per frame with faces, and one at least once there was
        // one; in the cloud (every frame searched) there always is.
        let ptz = metrics(&out, &format!("{name}_camera_"), "ptz_latency");
        let inter = rows(&out, Table::Interactions);
        let moves = of_task(&inter, &prefix)
            .iter()
            .filter(|r| r["verb"] == "invokeaction" && r["name"] == "controlPTZ" && r["ok"] == true)
            .count();
        assert!(
            moves <= with_faces,
            "{name}: {moves} moves for {with_faces} frames with faces"
        );
        assert_eq!(
            (moves > 0, !ptz.is_empty()),
            (with_faces > 0, with_faces > 0),
            "{name}: {moves} moves, {} recorded by the cameras, {with_faces} frames with faces",
            ptz.len()
        );
        let total: Vec<f64> = frames
            .iter()
            .map(|f| f["latency_frame"].as_f64().unwrap() + f["latency_detect"].as_f64().unwrap())
            .collect();
        latency.push(mean(&total));
        // No node restarted.
        for t in rows(&out, Table::Tasks) {
            assert!(t["restarts"].as_u64().unwrap_or(0) == 0, "{name}: {t}");
        }
        assert_eq!(leftovers(&id), Vec::<String>::new());
    }
    assert!(
        latency[1] > latency[0] * 1.5,
        "capture → detection: cloud {:.3} s, constrained edge {:.3} s",
        latency[0],
        latency[1]
    );
}

/// Edge and cloud historians over WoT, and a 0.6-style app (`examples/apps/historian_dashboard.py`: it uses
/// `wait_node`, `consume_from_catalogue`, `conf.port_catalogue` and `write_metric`): the cloud historian
/// answers `get` with values it copied from the edge one, and the app's metrics reach the `app` table.
#[test]
fn historians_store_and_answer_get_and_a_0_6_app_records_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_cmd(&repo().join("examples/historian.py"), &out, "35s")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let id = run_id(&stdout(&o));
    let got = metrics(&out, "historian_dashboard.", "historian_get");
    assert!(got.len() >= 3, "{got:?}");
    assert!(
        got.iter().any(|g| g["values"].as_u64().unwrap() > 0),
        "the cloud historian never had values: {got:?}"
    );
    assert!(got
        .iter()
        .all(|g| g["servient"] == "cloud_historian.uplink" && g["created_at"].as_f64().is_some()));
    let inter = rows(&out, Table::Interactions);
    let ok = |prefix: &str, verb: &str, name: &str| {
        of_task(&inter, prefix)
            .iter()
            .filter(|r| {
                r["verb"] == verb && r["name"] == name && r["side"] == "consumed" && r["ok"] == true
            })
            .count()
    };
    assert!(ok("historian_edge_historian.", "readproperty", "time") > 0);
    assert!(ok("historian_cloud_historian.", "invokeaction", "list") > 0);
    assert!(ok("historian_cloud_historian.", "invokeaction", "get") > 0);
    assert!(ok("historian_dashboard.", "invokeaction", "get") > 0);
    // The report shows the app metrics.
    let index = std::fs::read_to_string(out.join("site/index.html")).unwrap();
    assert!(
        index.contains("App metrics") && index.contains("historian_get"),
        "no app metrics in the report"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

/// Whether `got` is within `tol` of `target` at the calibrated speed or at the host's speed now (`drift` =
/// now / calibrated: another process on the machine only lowers the unthrottled figure, so the higher of two
/// measurements is taken, and either side may hold).
pub(crate) fn within(got: f64, target: f64, drift: f64, tol: f64) -> bool {
    (got / target - 1.0).abs() <= tol || (got / (target * drift) - 1.0).abs() <= tol
}

/// Events per second `sysbench cpu` measures in the cgroup folders `cgroups` (one thread, 3 s).
pub(crate) fn sysbench_in(cgroups: &[String]) -> f64 {
    let joins: String = cgroups
        .iter()
        .map(|c| format!("echo $$ > {c}/cgroup.procs && "))
        .collect();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("{joins}exec sysbench cpu --threads=1 --time=3 run"))
        .output()
        .expect("sysbench runs (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text.lines()
        .find_map(|l| l.trim().strip_prefix("events per second:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The host's speed now against the calibration's `host`, in two units: sysbench's (taken after `before`, the
/// better of the two) and the calibration's own benchmark, run again into a file in `dir`.
///
/// This host's speed drifts (up to 30 % from one minute to the next on some machines: Intel Xeon VMs here),
/// and sysbench's figure differs from the calibration's benchmark by CPU model (a few % on an AMD EPYC, 25 %
/// slower on an Intel Xeon): sysbench in a node's cgroup is checked against the target at sysbench's speed
/// on the host now, within 25 % (on that Intel host sysbench under a CFS quota read 18 % above what its
/// full-speed ratio predicts), and the agents' start measurement — in the calibration's units — against the
/// calibration's benchmark now, within 15 %. Both drifts must be of the calibration's order, so that a
/// calibration off by a factor does not pass unseen.
pub(crate) fn drifts(dir: &Path, before: f64, host: f64) -> (f64, f64) {
    let drift = before.max(sysbench_in(&[])) / host;
    assert!(
        (0.6..1.6).contains(&drift),
        "sysbench now gives {:.0} events/s, the calibration {host:.0}: not the same order",
        drift * host
    );
    let again = dir.join("cpu-speed-again.json");
    let o = crate::util::wotemu()
        .env("WOTEMU_CPU_CALIBRATION", &again)
        .args(["cpu-speed", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let own_drift = serde_json::from_slice::<Value>(&o.stdout).unwrap()["host_speed"]
        .as_f64()
        .unwrap()
        / host;
    assert!(
        (own_drift - 1.0).abs() <= 0.3,
        "the calibration's benchmark now gives ×{own_drift:.3} of the calibration"
    );
    (drift, own_drift)
}

/// Waits until the processes of the cgroup `cpu_dir` (v1 `cpu` folder; its `cpuacct` twin holds the usage)
/// use less than 3 % of a CPU over half a second.
pub(crate) fn wait_idle(cpu_dir: &str, deadline: Instant) {
    let usage = cpu_dir.replace("/cpu/", "/cpuacct/") + "/cpuacct.usage";
    let read = || -> u64 {
        std::fs::read_to_string(&usage)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    loop {
        let (a, t) = (read(), Instant::now());
        std::thread::sleep(Duration::from_millis(500));
        let busy = (read() - a) as f64 / t.elapsed().as_nanos() as f64;
        if busy < 0.03 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{cpu_dir} stayed busy ({busy:.2} of a CPU)"
        );
    }
}

/// Two nodes with `target_cpu_speed` S and S/2 (S half this host's speed): `sysbench cpu` run in each node's
/// cgroup measures its target within ±25 % (corrected by how far the host's own speed moved since the
/// calibration; `drifts` says why not closer on these VMs), the agent's own measurement at start within ±15 %
/// (the dataset records it); a second run
/// reuses the calibration; a target above the host's speed is refused before anything starts.
#[test]
fn target_cpu_speed_gives_each_node_its_speed_and_the_calibration_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cal = dir.path().join("cpu-speed.json");
    let wotemu = || {
        let mut c = crate::util::wotemu();
        c.env("WOTEMU_CPU_CALIBRATION", &cal);
        c
    };
    let o = wotemu().args(["cpu-speed", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["source"], "measured");
    assert!(c["took_seconds"].as_f64().unwrap() <= 15.0, "{c}");
    let host = c["host_speed"].as_f64().unwrap();
    let s = (host * 0.5).round();
    let topo = dir.path().join("speeds.yml");
    std::fs::write(
        &topo,
        format!(
            "networks: {{lan: {{conditions: cable}}}}\nnodes:\n  fast:\n    app: {{path: clock}}\n    networks: [lan]\n    resources: {{target_cpu_speed: {s}}}\n  slow:\n    app: {{path: clock}}\n    networks: [lan]\n    resources: {{target_cpu_speed: {}}}\n",
            s / 2.0
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    // Ended by Ctrl-C once measured: long enough to outlast every measurement.
    let child = run_cmd(&topo, &out, "180s")
        .env("WOTEMU_CPU_CALIBRATION", &cal)
        .arg("--no-report")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once both nodes' cgroups exist (the run id is in their path), measure with sysbench inside them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let cgroup = |node: &str| -> Option<String> {
        let base = Path::new("/sys/fs/cgroup/cpu/wotemu");
        for run in std::fs::read_dir(base).ok()?.flatten() {
            let Ok(tasks) = std::fs::read_dir(run.path()) else {
                continue; // a file of the cgroup, not a run's folder
            };
            for t in tasks.flatten() {
                let n = t.file_name().to_string_lossy().into_owned();
                if n.starts_with(&format!("speeds_{node}.")) {
                    return Some(t.path().to_string_lossy().into_owned());
                }
            }
        }
        None
    };
    let (fast, slow) = loop {
        if let (Some(f), Some(s)) = (cgroup("fast"), cgroup("slow")) {
            break (f, s);
        }
        assert!(
            Instant::now() < deadline,
            "the nodes' cgroups did not appear"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The agents start Python and WoTPy in those cgroups first: measure once they are idle.
    wait_idle(&fast, deadline);
    wait_idle(&slow, deadline);
    let before = sysbench_in(&[]);
    // The best of two each: a transient load elsewhere on this 2-core host only ever slows a measurement down.
    let measured_fast = sysbench_in(std::slice::from_ref(&fast)).max(sysbench_in(&[fast]));
    let measured_slow = sysbench_in(std::slice::from_ref(&slow)).max(sysbench_in(&[slow]));
    let (drift, own_drift) = drifts(dir.path(), before, host);
    // SAFETY: kill(2) on our own child: Ctrl-C ends the run early, which still collects.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let (so, se) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{so}\n{se}");
    for (what, got, target) in [("fast", measured_fast, s), ("slow", measured_slow, s / 2.0)] {
        assert!(
            within(got, target, drift, 0.25),
            "{what}: sysbench measured {got:.1} events/s in the node's cgroup for a target of {target} (host drift ×{drift:.3})"
        );
    }
    let tasks = rows(&out, Table::Tasks);
    for (node, target) in [("speeds_fast.", s), ("speeds_slow.", s / 2.0)] {
        let t = of_task(&tasks, node)[0];
        assert_eq!(t["cpu_speed_target"].as_f64(), Some(target), "{t}");
        assert_eq!(
            t["cpu_speed_host"].as_f64().map(|h| (h - host).abs() < 1.0),
            Some(true),
            "{t}"
        );
        let quota = t["cpu_quota"].as_f64().unwrap();
        assert!(quota > 0.0 && quota < 1.0, "{t}");
        let m = t["cpu_speed_measured"].as_f64().unwrap();
        assert!(
            within(m, target, own_drift, 0.15),
            "measured at start {m:.1} for {target} (host drift ×{own_drift:.3})"
        );
    }
    assert!(so.contains("CPU speed: node fast"), "{so}");
    assert!(
        !se.contains("Calibrating"),
        "the calibration was measured again: {se}"
    );
    assert_eq!(leftovers(&run_id(&so)), Vec::<String>::new());

    // A target above the host's speed stops the run before anything is built.
    let too_fast = dir.path().join("too_fast.yml");
    std::fs::write(
        &too_fast,
        format!(
            "networks: {{lan: {{conditions: cable}}}}\nnodes:\n  turbo:\n    app: {{path: clock}}\n    networks: [lan]\n    resources: {{target_cpu_speed: {}}}\n",
            (host * 2.0).round()
        ),
    )
    .unwrap();
    let o = run_cmd(&too_fast, &dir.path().join("never"), "5s")
        .env("WOTEMU_CPU_CALIBRATION", &cal)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("node `turbo`") && e.contains(&format!("{host:.0} events/s")),
        "{e}"
    );
    assert!(!dir.path().join("never/manifest.json").exists());

    // `wotemu cpu-speed` prints the cached calibration without measuring; --recalibrate measures again.
    let o = wotemu().arg("cpu-speed").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("cached, reused") && text.contains(&format!("{host:.1} events/s on one CPU")),
        "{text}"
    );
    assert!(!stderr(&o).contains("Calibrating"));
    let o = wotemu()
        .args(["cpu-speed", "--recalibrate", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["source"], "measured");
    assert_ne!(again["measured_at"], c["measured_at"]);
}
