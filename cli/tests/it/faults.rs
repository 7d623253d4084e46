//! The fault suite: during the quickstart, a part of the run is killed with SIGKILL in turn — the runner, an
//! agent, the run's Redis, a gateway, a broker — or the disk under the run directory fills up. After each, the
//! accounting balances, what was recorded is in a dataset (marked incomplete when the run could not end
//! normally), the outage is in the timeline, and nothing is left behind. Real processes, namespaces and
//! packets; root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wotemu_contract::{Manifest, Table};

use crate::rows::{of_task, rows};
use crate::util::{stderr, stdout, wotemu};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn quickstart(out: &Path, duration: &str) -> Command {
    let mut c = wotemu();
    c.arg("run")
        .arg(repo().join("examples/quickstart.yml"))
        .args(["--duration", duration, "--no-report", "--out"])
        .arg(out)
        .env("WOTEMU_VENV", repo().join(".venv"));
    c
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The state of the run writing to `out`, in the state root `root`.
pub(crate) fn state_in(root: &Path, out: &Path) -> Option<Value> {
    let want = std::path::absolute(out).ok()?;
    for e in std::fs::read_dir(root).ok()?.flatten() {
        let Ok(b) = std::fs::read(e.path().join("state.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&b) else {
            continue;
        };
        if v["run_dir"] == want.to_string_lossy().as_ref() {
            return Some(v);
        }
    }
    None
}

/// A connection to the run's Redis.
fn redis_of(state: &Value) -> redis::Connection {
    redis::Client::open(state["redis_url"].as_str().unwrap())
        .and_then(|c| c.get_connection())
        .unwrap()
}

/// Interactions of the readers in the run's Redis so far.
fn reads_in_redis(state: &Value) -> usize {
    let mut conn = redis_of(state);
    let id = state["run_id"].as_str().unwrap();
    (1..=4)
        .map(|slot| {
            crate::agent::stream_rows_in(
                &mut conn,
                "quickstart",
                &format!("quickstart_reader.{slot}.{id}"),
                Table::Interactions,
            )
        })
        .sum()
}

/// Starts the quickstart and waits until every reader has read at least once.
fn started(out: &Path) -> (Child, Value) {
    started_in(Path::new("/run/wotemu"), out)
}

/// The same with the state root `root` (`WOTEMU_STATE_DIR`): a run no other test's `wotemu run` or `wotemu
/// clean` sees, so that what happens to it is this test's doing.
fn started_in(root: &Path, out: &Path) -> (Child, Value) {
    let child = quickstart(out, "10m")
        .env("WOTEMU_STATE_DIR", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut state = Value::Null;
    wait_for("the run's start", 90, || {
        state = state_in(root, out).unwrap_or(Value::Null);
        state["phase"] == "running"
    });
    let id = state["run_id"].as_str().unwrap().to_owned();
    wait_for("a read by every reader", 90, || {
        let mut conn = redis_of(&state);
        (1..=4).all(|slot| {
            crate::agent::stream_rows_in(
                &mut conn,
                "quickstart",
                &format!("quickstart_reader.{slot}.{id}"),
                Table::Interactions,
            ) > 0
        })
    });
    (child, state)
}

/// The first process whose command line and cgroups (`/proc/PID/cgroup`) satisfy `pred`.
fn pid_where(pred: impl Fn(&str, &str) -> bool) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let cgroups = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        if pred(&cmd, &cgroups) {
            return Some(pid);
        }
    }
    None
}

/// The agent of a replica's first task: the process in the task's cgroup (`wotemu/<run>/<task>`), forked
/// by the run's zygote (`wotemu zygote --run /run/wotemu/<run>/`) or started on its own (`wotemu agent`).
fn agent_of(run: &str, task: &str) -> Option<u32> {
    let cgroup = format!("/wotemu/{run}/{task}");
    pid_where(|cmd, cgroups| {
        (cmd.contains(" zygote ") || cmd.contains(" agent "))
            && cgroups.lines().any(|l| l.ends_with(&cgroup))
    })
}

fn kill9(pid: u32) {
    // SAFETY: kill(2) of a process of the test's own run.
    assert_eq!(
        unsafe { libc::kill(pid as i32, libc::SIGKILL) },
        0,
        "kill {pid}"
    );
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Ends a run with Ctrl-C and returns its output.
fn interrupt(child: Child) -> std::process::Output {
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait_with_output().unwrap()
}

fn timeline(out: &Path) -> Vec<Value> {
    rows(out, Table::Timeline)
}

/// Both accounting equations hold, per task and in total.
fn balanced(m: &Manifest) {
    for (task, a) in &m.accounting.tasks {
        assert!(a.balanced(), "{task}: {a:?}");
    }
    assert!(m.accounting.totals.balanced(), "{:?}", m.accounting.totals);
}

fn nothing_left(id: &str) {
    assert_eq!(crate::run::leftovers(id), Vec::<String>::new());
}

/// The run has a state root of its own, so no other test's `wotemu run` (which saves crashed runs first)
/// can save it: the salvage checked here is `wotemu clean`'s, which says so and exits 3.
#[test]
fn a_killed_runner_is_salvaged_by_wotemu_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let root = dir.path().join("state");
    let (child, state) = started_in(&root, &out);
    let id = state["run_id"].as_str().unwrap().to_owned();
    let before = reads_in_redis(&state);
    assert!(before > 0);
    let pid = child.id();
    kill9(pid);
    let mut child = child;
    child.wait().unwrap();
    assert!(!alive(pid), "the runner is dead");
    assert!(
        !out.join("manifest.json").exists(),
        "no dataset before the clean"
    );
    // Its Redis and agents still hold what it recorded; `wotemu clean` saves it (exit 3: a dataset marked
    // incomplete was written).
    let o = wotemu()
        .arg("clean")
        .env("WOTEMU_STATE_DIR", &root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("Run {id} (quickstart) crashed earlier; saving")),
        "{}",
        stdout(&o)
    );
    let m = Manifest::read(&out).unwrap_or_else(|e| panic!("{e}\n{}", stdout(&o)));
    let why = m.incomplete.as_ref().expect("marked incomplete");
    assert!(
        why.reason.contains("ended without writing its dataset"),
        "{why:?}"
    );
    let inter = rows(&out, Table::Interactions);
    assert!(
        inter.len() >= before,
        "every read Redis held is in the dataset: {} < {before}",
        inter.len()
    );
    balanced(&m);
    nothing_left(&id);
    assert_eq!(crate::run::leftovers_in(&root, &id), Vec::<String>::new());
}

/// A runner killed with SIGKILL in `root`, once every reader has read: its run's id, its reads so far.
fn crashed_in(root: &Path, out: &Path) -> (String, usize) {
    let (mut child, state) = started_in(root, out);
    let before = reads_in_redis(&state);
    kill9(child.id());
    child.wait().unwrap();
    assert!(!out.join("manifest.json").exists(), "no dataset yet");
    (state["run_id"].as_str().unwrap().to_owned(), before)
}

/// `wotemu clean --discard` drops a crashed run's data (no dataset, nothing left, exit 0); `wotemu clean`
/// leaves a live run alone, and `--force` ends it and removes what it made. An own state root, as above.
#[test]
fn clean_discard_drops_a_crashed_run_and_only_force_ends_a_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let clean = |args: &[&str]| {
        let o = wotemu()
            .arg("clean")
            .args(args)
            .env("WOTEMU_STATE_DIR", &root)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
        stdout(&o)
    };
    let crashed = dir.path().join("crashed");
    let (id, _) = crashed_in(&root, &crashed);
    let said = clean(&["--discard"]);
    assert!(
        said.contains(&format!(
            "dropping what run {id} (quickstart) recorded (--discard)"
        )),
        "{said}"
    );
    assert!(
        !crashed.join("manifest.json").exists(),
        "a dataset of discarded data"
    );
    assert_eq!(crate::run::leftovers_in(&root, &id), Vec::<String>::new());

    let live = dir.path().join("live");
    let (mut child, state) = started_in(&root, &live);
    let id = state["run_id"].as_str().unwrap().to_owned();
    let said = clean(&[]);
    assert!(
        said.contains(&format!(
            "run {id} (quickstart) is still running (pid {})",
            child.id()
        )),
        "{said}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "a plain clean ended a live run"
    );
    assert!(
        !crate::run::leftovers_in(&root, &id).is_empty(),
        "a plain clean removed a live run's lab"
    );
    let said = clean(&["--force"]);
    assert!(
        said.contains(&format!("removed what run {id} left")),
        "{said}"
    );
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the forced run ended by itself: {status}"
    );
    assert_eq!(crate::run::leftovers_in(&root, &id), Vec::<String>::new());
}

/// A crashed run is saved by `wotemu stop --run` (exit 3, marked incomplete, every read Redis held), and
/// another by the next `wotemu run` before it starts; that run, with `--keep`, leaves its lab for inspection
/// until `wotemu clean` removes it (without saving it again: its dataset is written).
#[test]
fn crashed_runs_are_saved_by_stop_run_and_by_the_next_run_and_keep_leaves_the_lab() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let first = dir.path().join("first");
    let (id, before) = crashed_in(&root, &first);
    let o = wotemu()
        .args(["stop", "--run"])
        .arg(&first)
        .env("WOTEMU_STATE_DIR", &root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "The run {id} (quickstart) ended without writing its dataset"
        )),
        "{}",
        stdout(&o)
    );
    let m = Manifest::read(&first).unwrap();
    assert!(m.incomplete.is_some(), "the saved run is marked incomplete");
    balanced(&m);
    assert!(rows(&first, Table::Interactions).len() >= before);
    assert_eq!(crate::run::leftovers_in(&root, &id), Vec::<String>::new());

    let second = dir.path().join("second");
    let (id, before) = crashed_in(&root, &second);
    let third = dir.path().join("third");
    let o = quickstart(&third, "3s")
        .arg("--keep")
        .env("WOTEMU_STATE_DIR", &root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let said = stdout(&o);
    assert!(
        said.contains(&format!(
            "Run {id} (quickstart) crashed before this run; saving"
        )),
        "{said}"
    );
    let m = Manifest::read(&second).unwrap();
    assert!(m.incomplete.is_some(), "the saved run is marked incomplete");
    balanced(&m);
    assert!(rows(&second, Table::Interactions).len() >= before);
    assert_eq!(crate::run::leftovers_in(&root, &id), Vec::<String>::new());
    // The kept lab: its namespaces, cgroups and state are there after the run, its dataset too.
    let kept = said
        .split("Kept the lab of run ")
        .nth(1)
        .and_then(|r| r.get(..4))
        .unwrap_or_else(|| panic!("the lab is not said to be kept: {said}"))
        .to_owned();
    let left = crate::run::leftovers_in(&root, &kept);
    assert!(
        left.iter().any(|l| l.starts_with("namespace wtm-")),
        "{left:?}"
    );
    assert!(Manifest::read(&third).unwrap().incomplete.is_none());
    let o = wotemu()
        .arg("clean")
        .env("WOTEMU_STATE_DIR", &root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("crashed"), "{}", stdout(&o));
    assert_eq!(crate::run::leftovers_in(&root, &kept), Vec::<String>::new());
}

#[test]
fn a_killed_agent_is_restarted_and_its_task_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (child, state) = started(&out);
    let id = state["run_id"].as_str().unwrap().to_owned();
    let task = format!("quickstart_reader.2.{id}");
    let agent = agent_of(&id, &task).expect("the reader's agent runs");
    kill9(agent);
    let restarted = format!("quickstart_reader.2.{id}r1");
    wait_for("the restarted reader's first read", 90, || {
        let mut conn = redis_of(&state);
        crate::agent::stream_rows_in(&mut conn, "quickstart", &restarted, Table::Interactions) > 0
    });
    let o = interrupt(child);
    // A killed agent may have held records no count includes: the run says so (exit 3).
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("ended without their final report"),
        "{}",
        stderr(&o)
    );
    let m = Manifest::read(&out).unwrap();
    balanced(&m);
    assert_eq!(m.accounting.tasks[&task].without_final_report, 1);
    let tasks = rows(&out, Table::Tasks);
    assert!(tasks.iter().any(|t| t["task"] == task.as_str()));
    assert!(tasks.iter().any(|t| t["task"] == restarted.as_str()));
    let inter = rows(&out, Table::Interactions);
    assert!(!of_task(&inter, &restarted).is_empty());
    let tl = timeline(&out);
    assert!(
        tl.iter()
            .any(|e| e["kind"] == "restart" && e["target"] == "node reader.2"),
        "{tl:?}"
    );
    nothing_left(&id);
}

#[test]
fn a_killed_redis_is_restarted_and_the_agents_replay_what_they_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (child, state) = started(&out);
    let id = state["run_id"].as_str().unwrap().to_owned();
    let sock = state["redis_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("unix://")
        .to_owned();
    let redis = pid_where(|cmd, _| cmd.starts_with("redis-server") && cmd.contains(&sock))
        .expect("the run's redis-server runs");
    let before = reads_in_redis(&state);
    kill9(redis);
    // It comes back (a new process) with what it had, and reads go on past the outage.
    wait_for("Redis restarted with more reads", 120, || {
        pid_where(|cmd, _| cmd.starts_with("redis-server") && cmd.contains(&sock))
            .is_some_and(|p| p != redis)
            && std::panic::catch_unwind(|| reads_in_redis(&state)).is_ok_and(|n| n > before + 4)
    });
    let o = interrupt(child);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let m = Manifest::read(&out).unwrap();
    balanced(&m);
    assert_eq!(m.accounting.totals.records_missing, 0);
    assert_eq!(m.accounting.totals.seq_missing, 0);
    let tl = timeline(&out);
    let outage: Vec<&Value> = tl
        .iter()
        .filter(|e| e["kind"] == "outage" && e["target"] == "redis")
        .collect();
    assert_eq!(outage.len(), 2, "start and end: {tl:?}");
    assert!(rows(&out, Table::Interactions).len() > before);
    nothing_left(&id);
}

#[test]
fn a_killed_gateway_is_restarted_and_its_outage_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (child, state) = started(&out);
    let id = state["run_id"].as_str().unwrap().to_owned();
    let ns = format!("wtm-{id}-g0");
    // The gateway of this run: the `wotemu gateway` process in the run's gateway namespace.
    let gateway_in = |ns: &str| -> Option<u32> {
        let o = Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .ok()?;
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("gateway"))
            })
    };
    let gateway = gateway_in(&ns).expect("the 3g gateway of the run");
    kill9(gateway);
    let at = wotemu_contract::time_util::now_us();
    // Reads succeed again after the restart.
    wait_for("the gateway's restart", 120, || {
        gateway_in(&ns).is_some_and(|p| p != gateway)
    });
    std::thread::sleep(Duration::from_secs(6));
    let o = interrupt(child);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let m = Manifest::read(&out).unwrap();
    balanced(&m);
    let tl = timeline(&out);
    let ends: Vec<&Value> = tl
        .iter()
        .filter(|e| e["kind"] == "outage" && e["target"] == "gateway 3g" && e["outcome"] == "end")
        .collect();
    assert_eq!(ends.len(), 1, "{tl:?}");
    let detail: Value = serde_json::from_str(ends[0]["detail"].as_str().unwrap()).unwrap();
    assert!(detail["down_s"].as_f64().is_some(), "{detail}");
    // What the dead gateway's queue dropped was counted: the readers went on sending to it (every second,
    // and TCP's retries) while it was down, so the count cannot be zero.
    let down_s = detail["down_s"].as_f64().unwrap();
    assert!(down_s > 0.0, "{detail}");
    assert!(
        detail["packets_dropped"].as_u64().is_some_and(|n| n >= 1),
        "no packet counted as dropped in {down_s} s without a gateway: {detail}"
    );
    let inter = rows(&out, Table::Interactions);
    let ok_after = inter.iter().any(|r| {
        r["ok"] == true && r["side"] == "consumed" && r["time"].as_i64().is_some_and(|t| t > at)
    });
    assert!(ok_after, "a read succeeded after the outage");
    nothing_left(&id);
}

/// A tmpfs of `size` mounted on `dir` (unmounted on drop).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs on {}", dir.display());
        Tmpfs(dir.to_owned())
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_during_collection_keeps_the_records_for_a_second_try() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("disk"), "64k");
    let out = disk.0.join("run");
    let o = quickstart(&out, "8s").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("`wotemu clean` saves them"), "{err}");
    assert!(
        !out.join("manifest.json").exists(),
        "no dataset is marked complete"
    );
    let id = crate::run::run_id(&stdout(&o));
    // More room, and the records are saved.
    disk.resize("64m");
    let c = wotemu().arg("clean").output().unwrap();
    // 3: a crashed run's data was saved (a dataset marked incomplete).
    assert_eq!(c.status.code(), Some(3), "{}\n{}", stdout(&c), stderr(&c));
    let m = Manifest::read(&out).unwrap_or_else(|e| panic!("{e}\n{}{}", stdout(&c), stderr(&c)));
    assert!(
        m.incomplete.as_ref().unwrap().reason.contains("collection"),
        "{:?}",
        m.incomplete
    );
    assert!(!rows(&out, Table::Interactions).is_empty());
    balanced(&m);
    nothing_left(&id);
}

#[test]
fn a_full_disk_during_a_report_leaves_the_previous_site_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = quickstart(&out, "5s").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let disk = Tmpfs::mount(&dir.path().join("disk"), "256k");
    let site = disk.0.join("site");
    // A first report that fits, then one that cannot (the data is bigger than what is left).
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "the previous site").unwrap();
    let r = wotemu()
        .args(["report", "--dataset"])
        .arg(&out)
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert!(
        stderr(&r).contains("No space left on device"),
        "{}",
        stderr(&r)
    );
    assert_eq!(
        std::fs::read_to_string(site.join("index.html")).unwrap(),
        "the previous site",
        "the previous site is untouched"
    );
    let left: Vec<_> = std::fs::read_dir(&disk.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "no partial site is left: {left:?}");
    disk.resize("128m");
    let r = wotemu()
        .args(["report", "--dataset"])
        .arg(&out)
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(std::fs::read_to_string(site.join("index.html"))
        .unwrap()
        .contains("wotemu report"));
}

/// The mosquitto process of the run `id` (in one of its namespaces), if any.
fn broker_of(id: &str) -> Option<u32> {
    let list = Command::new("ip").args(["netns", "list"]).output().ok()?;
    let prefix = format!("wtm-{id}-");
    for ns in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
    {
        let o = Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .ok()?;
        let found = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                    let program = c.split(|b| *b == 0).next().unwrap_or_default();
                    String::from_utf8_lossy(program).ends_with("mosquitto")
                })
            });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A dead broker is restarted, and its outage is in the timeline as the run's Redis's and gateways' are:
/// a start with why, an end with how long it was down.
#[test]
fn a_killed_broker_is_restarted_and_its_outage_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let topo = dir.path().join("mqtt.yml");
    std::fs::write(
        &topo,
        "networks:\n  lan: {conditions: cable}\nbrokers:\n  broker: {networks: [lan]}\nnodes:\n  worker:\n    app: {path: worker, mqtt: true}\n    networks: [lan]\n    broker: broker\n  caller:\n    app:\n      path: caller\n      mqtt: true\n      params: {servient_host: worker.lan, thing_id: \"urn:org:fundacionctic:thing:worker\"}\n    networks: [lan]\n    broker: broker\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let child = wotemu()
        .arg("run")
        .arg(&topo)
        .args(["--duration", "10m", "--no-report", "--out"])
        .arg(&out)
        .env("WOTEMU_VENV", repo().join(".venv"))
        .env("WOTEMU_STATE_DIR", &root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut state = Value::Null;
    wait_for("the run's start", 90, || {
        state = state_in(&root, &out).unwrap_or(Value::Null);
        state["phase"] == "running"
    });
    let id = state["run_id"].as_str().unwrap().to_owned();
    let broker = broker_of(&id).expect("the run's broker");
    kill9(broker);
    wait_for("the broker's restart", 60, || {
        broker_of(&id).is_some_and(|p| p != broker)
    });
    let o = interrupt(child);
    // 3 when the caller, whose MQTT client was cut by the outage, had to be killed at its grace's end: its
    // last flush is then counted as unknown (the manifest says so).
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let m = Manifest::read(&out).unwrap();
    balanced(&m);
    let tl = timeline(&out);
    let of_broker: Vec<&Value> = tl
        .iter()
        .filter(|e| e["kind"] == "outage" && e["target"] == "broker broker")
        .collect();
    let outcomes: Vec<&str> = of_broker
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["start", "end"], "{tl:?}");
    let detail: Value = serde_json::from_str(of_broker[1]["detail"].as_str().unwrap()).unwrap();
    assert!(
        detail["down_s"].as_f64().is_some_and(|d| d >= 0.0),
        "{detail}"
    );
    assert!(
        tl.iter()
            .any(|e| e["kind"] == "restart" && e["target"] == "broker broker"),
        "{tl:?}"
    );
    nothing_left(&id);
}
