//! `wotemu sweep`: every combination of a topology's parameters, run one after the other with the one-host
//! runner (`wotemu run` in a child process of its own process group) or, with `--swarm`, as Docker Swarm
//! stacks (`wotemu compose`, `docker stack deploy`, `wotemu stop`, `docker stack rm`), then compared.
//!
//! Each combination's folder holds its dataset, its report, the topology it ran (`topology.yml`) and
//! `sweep.json` (its parameters and whether it completed), which makes a sweep resumable.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use wotemu_reporter::compare::SweepInfo;
use wotemu_topology::Override;

use crate::cli::{CompareArgs, SweepArgs};
use crate::output;

/// One `--set PATH=V1,V2,…`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Param {
    pub(crate) path: String,
    /// The values as written, and as document values (YAML scalars: `4` is a number, `1mbit` a string).
    pub(crate) values: Vec<(String, serde_json::Value)>,
}

pub(crate) fn parse_set(s: &str) -> anyhow::Result<Param> {
    let Some((path, values)) = s.split_once('=') else {
        bail!("--set {s:?}: write PATH=V1,V2,… (e.g. --set nodes.reader.scale=4,16)");
    };
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        bail!("--set {s:?}: `{path}` is not a path (keys separated by dots, e.g. networks.3g.conditions)");
    }
    let mut out = Vec::new();
    for v in values.split(',') {
        let v = v.trim();
        if v.is_empty() {
            bail!("--set {s:?}: an empty value (values are separated by commas)");
        }
        let parsed: serde_json::Value =
            serde_yaml::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
        if out.iter().any(|(w, _)| w == v) {
            bail!("--set {s:?}: the value {v:?} is given twice");
        }
        out.push((v.to_owned(), parsed));
    }
    Ok(Param {
        path: path.to_owned(),
        values: out,
    })
}

/// One run of the sweep.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// Index of each parameter's value.
    pub(crate) choice: Vec<usize>,
    /// 1-based.
    pub(crate) repeat: u32,
    pub(crate) name: String,
}

/// The shortest suffix of each path's keys that tells it apart from the others (`3g.rate` and `lte.rate`).
fn short_names(params: &[Param]) -> Vec<String> {
    let keys: Vec<Vec<&str>> = params.iter().map(|p| p.path.split('.').collect()).collect();
    keys.iter()
        .map(|k| {
            for n in 1..=k.len() {
                let suffix = &k[k.len() - n..];
                let clash = keys
                    .iter()
                    .filter(|o| o.len() >= n && &o[o.len() - n..] == suffix)
                    .count();
                if clash == 1 {
                    return suffix.join(".");
                }
            }
            k.join(".")
        })
        .collect()
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every combination (the first parameter varies slowest), times `repeat`, with readable folder names (a
/// parameter with one value is the same in every combination and is left out of the names).
pub(crate) fn points(params: &[Param], repeat: u32) -> Vec<Point> {
    let names = short_names(params);
    let mut choices: Vec<Vec<usize>> = vec![Vec::new()];
    for p in params {
        choices = choices
            .into_iter()
            .flat_map(|c| {
                (0..p.values.len()).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for c in choices {
        let base: Vec<String> = c
            .iter()
            .enumerate()
            .filter(|(k, _)| params[*k].values.len() > 1)
            .map(|(k, &i)| format!("{}-{}", safe(&names[k]), safe(&params[k].values[i].0)))
            .collect();
        let base = if base.is_empty() {
            "run".to_owned()
        } else {
            base.join("--")
        };
        for r in 1..=repeat {
            out.push(Point {
                choice: c.clone(),
                repeat: r,
                name: if repeat > 1 {
                    format!("{base}-r{r}")
                } else {
                    base.clone()
                },
            });
        }
    }
    out
}

/// What a combination's `sweep.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Marker {
    /// `complete`, `interrupted` or `failed`.
    status: String,
    set: Vec<(String, String)>,
    repeat: u32,
    duration: String,
    wall_s: f64,
    exit_code: Option<i32>,
}

fn read_marker(dir: &Path) -> Option<Marker> {
    serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).ok()?).ok()
}

/// Whether `dir` holds a complete run of exactly this combination.
fn done(dir: &Path, set: &[(String, String)], repeat: u32) -> bool {
    dir.join("manifest.json").exists()
        && read_marker(dir)
            .is_some_and(|m| m.status == "complete" && m.set == set && m.repeat == repeat)
}

/// Makes the app paths of a document absolute (relative to the topology's folder) when they name files, so
/// that the document runs from the combination's folder.
fn absolute_apps(doc: &mut serde_json::Value, dir: &Path) {
    let Some(nodes) = doc.get_mut("nodes").and_then(|n| n.as_object_mut()) else {
        return;
    };
    for node in nodes.values_mut() {
        if let Some(path) = node.pointer_mut("/app/path") {
            if let Some(p) = path.as_str() {
                let file = dir.join(p);
                if Path::new(p).is_relative() && file.exists() {
                    if let Ok(abs) = std::path::absolute(&file) {
                        *path = serde_json::Value::String(abs.to_string_lossy().into_owned());
                    }
                }
            }
        }
    }
}

pub(crate) fn run(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let duration = super::run::parse_duration("--duration", &args.duration)?;
    let params: Vec<Param> = args
        .set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<_, _>>()?;
    for (i, p) in params.iter().enumerate() {
        if params[..i].iter().any(|q| q.path == p.path) {
            bail!(
                "--set {}: the path is given twice; give all its values in one --set",
                p.path
            );
        }
    }
    let points = points(&params, args.repeat);
    // Every combination is validated before anything runs.
    let topo_dir = args
        .topology
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let mut docs = Vec::new();
    let mut stack_base = String::new();
    let mut replicas = 0;
    for p in points.iter().filter(|p| p.repeat == 1) {
        let overrides: Vec<Override> = params
            .iter()
            .zip(&p.choice)
            .map(|(q, &i)| Override {
                path: q.path.clone(),
                value: q.values[i].1.clone(),
            })
            .collect();
        let (loaded, yaml) =
            wotemu_topology::load_with(&args.topology, &overrides).map_err(|e| {
                let set: Vec<String> = params
                    .iter()
                    .zip(&p.choice)
                    .map(|(q, &i)| format!("{}={}", q.path, q.values[i].0))
                    .collect();
                anyhow::Error::new(e).context(format!(
                    "the combination {} does not validate",
                    set.join(" ")
                ))
            })?;
        stack_base = wotemu_lab::plan::stack_name(&loaded.topology, &args.topology);
        replicas = replicas.max(
            loaded
                .topology
                .nodes
                .iter()
                .map(|n| n.scale as usize)
                .sum::<usize>(),
        );
        let mut doc: serde_json::Value =
            serde_yaml::from_str(&yaml).context("re-reading the document")?;
        absolute_apps(&mut doc, &topo_dir);
        // The stack keeps the original file's name (the copy is `topology.yml`).
        if let (Some(obj), Some(stem)) = (doc.as_object_mut(), args.topology.file_stem()) {
            obj.entry("name")
                .or_insert_with(|| stem.to_string_lossy().into_owned().into());
        }
        docs.push((p.choice.clone(), serde_yaml::to_string(&doc)?));
    }
    let doc_of = |p: &Point| {
        docs.iter()
            .find(|(c, _)| *c == p.choice)
            .map(|(_, d)| d.clone())
            .unwrap_or_default()
    };
    let set_of = |p: &Point| -> Vec<(String, String)> {
        params
            .iter()
            .zip(&p.choice)
            .map(|(q, &i)| (q.path.clone(), q.values[i].0.clone()))
            .collect()
    };
    // A folder of another sweep (other values under the same name) is never mixed in nor replaced.
    for p in &points {
        let dir = args.out.join(&p.name);
        if let Some(m) = read_marker(&dir).filter(|m| m.set != set_of(p)) {
            let theirs: Vec<String> = m.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            bail!(
                "{} holds a run of other values ({}): this sweep's parameters changed; give another --out",
                dir.display(),
                theirs.join(" ")
            );
        }
    }
    let todo: Vec<&Point> = points
        .iter()
        .filter(|p| !done(&args.out.join(&p.name), &set_of(p), p.repeat))
        .collect();
    let per_run = duration.as_secs_f64() + 20.0;
    if args.dry_run {
        for p in &points {
            let state = if done(&args.out.join(&p.name), &set_of(p), p.repeat) {
                "done"
            } else {
                "to run"
            };
            output::say(&format!(
                "  {:<8} {}",
                state,
                args.out.join(&p.name).display()
            ));
        }
        output::say(&format!(
            "{} combinations ({} to run), about {} in all ({} each: the duration and ~20 s to start, stop, collect and report)",
            points.len(),
            todo.len(),
            wotemu_reporter::format::duration(per_run * todo.len() as f64),
            wotemu_reporter::format::duration(per_run)
        ));
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let exe = std::env::current_exe().context("locating the wotemu binary")?;
    let sigs = wotemu_sys::signals::channel();
    let mut walls: Vec<f64> = Vec::new();
    let mut failed = Vec::new();
    let total = points.len();
    for p in &points {
        let dir = args.out.join(&p.name);
        if done(&dir, &set_of(p), p.repeat) {
            continue;
        }
        if dir.exists() {
            // An earlier call stopped in it (Ctrl-C, a crash, a failure): keep it aside, run it again.
            let aside = args.out.join(".interrupted").join(format!(
                "{}-{}",
                p.name,
                wotemu_contract::time_util::now_us()
            ));
            std::fs::create_dir_all(aside.parent().unwrap_or(&args.out))?;
            std::fs::rename(&dir, &aside)
                .with_context(|| format!("moving the unfinished {} aside", dir.display()))?;
            output::warn(&format!(
                "{} was not finished by an earlier call; it is kept in {} and runs again",
                dir.display(),
                aside.display()
            ));
        }
        std::fs::create_dir_all(&dir)?;
        let topo = dir.join("topology.yml");
        wotemu_sys::fs::write_atomic(&topo, doc_of(p).as_bytes())?;
        let done_n = points
            .iter()
            .filter(|q| done(&args.out.join(&q.name), &set_of(q), q.repeat))
            .count();
        let left = points.len() - done_n;
        let each = if walls.is_empty() {
            per_run
        } else {
            walls.iter().sum::<f64>() / walls.len() as f64
        };
        let set: Vec<String> = set_of(p).iter().map(|(k, v)| format!("{k}={v}")).collect();
        output::say(&format!(
            "[{}/{total}] {}{} · {done_n} done · about {} left",
            done_n + 1,
            set.join(" "),
            if args.repeat > 1 {
                format!(" (repeat {})", p.repeat)
            } else {
                String::new()
            },
            wotemu_reporter::format::duration(each * left as f64)
        ));
        let started = Instant::now();
        let (code, interrupted) = if args.swarm {
            let stack = format!(
                "{}-sweep{}",
                stack_base,
                points.iter().position(|q| q.name == p.name).unwrap_or(0) + 1
            );
            swarm_point(&exe, &dir, &topo, &stack, replicas, duration, &sigs)?
        } else {
            here_point(&exe, &dir, &topo, &args.duration, &sigs)?
        };
        let wall = started.elapsed().as_secs_f64();
        let ok = matches!(code, Some(0) | Some(3)) && dir.join("manifest.json").exists();
        let status_word = match (interrupted, ok) {
            (true, _) => "interrupted",
            (false, true) => "complete",
            (false, false) => "failed",
        };
        let marker = Marker {
            status: status_word.into(),
            set: set_of(p),
            repeat: p.repeat,
            duration: args.duration.clone(),
            wall_s: wall,
            exit_code: code,
        };
        wotemu_sys::fs::write_atomic(
            &dir.join("sweep.json"),
            &serde_json::to_vec_pretty(&marker)?,
        )?;
        if interrupted {
            output::say(&format!(
                "Stopped. {} of {total} combinations are done; run the same command again to go on.",
                points.iter().filter(|q| done(&args.out.join(&q.name), &set_of(q), q.repeat)).count()
            ));
            return Ok(ExitCode::from(130));
        }
        if ok {
            walls.push(wall);
        } else {
            output::warn(&format!(
                "the run of {} failed (exit {}); see its output above. The sweep goes on; the next call runs it again",
                dir.display(),
                code.map_or("by a signal".into(), |c| c.to_string())
            ));
            failed.push(p.name.clone());
        }
    }
    let complete: Vec<&Point> = points
        .iter()
        .filter(|p| done(&args.out.join(&p.name), &set_of(p), p.repeat))
        .collect();
    if complete.len() >= 2 {
        report_overheads(&args.out, &complete);
        let info = SweepInfo {
            params: params.iter().map(|p| p.path.clone()).collect(),
            points: complete
                .iter()
                .map(|p| (set_of(p).into_iter().map(|(_, v)| v).collect(), p.repeat))
                .collect(),
        };
        let cargs = CompareArgs {
            runs: Vec::new(),
            baseline: None,
            out: Some(args.out.join("compare")),
            json: false,
            fail_if: Vec::new(),
            title: Some(format!("wotemu sweep · {}", args.topology.display())),
            base_url: None,
        };
        let runs: Vec<PathBuf> = complete.iter().map(|p| args.out.join(&p.name)).collect();
        super::compare::compare(runs, 0, &cargs, Some(info))?;
        output::say(&format!(
            "Sweep page: {}",
            args.out.join("compare/sweep.html").display()
        ));
    }
    if !failed.is_empty() {
        bail!(
            "{} of {total} combinations failed ({}); run the same command again to retry them",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the time between one combination's end (its last record) and the next one's first interaction:
/// what a sweep costs beyond the runs themselves.
fn report_overheads(out: &Path, points: &[&Point]) {
    let span = |dir: &Path| -> Option<(i64, i64)> {
        let m = wotemu_contract::Manifest::read(dir).ok()?;
        let first = m
            .tables
            .get(&wotemu_contract::Table::Interactions)?
            .time_min
            .as_deref()
            .and_then(wotemu_contract::time_util::rfc3339_to_us)?;
        let stopped = m
            .stopped_at
            .as_deref()
            .and_then(wotemu_contract::time_util::rfc3339_to_us)?;
        Some((first, stopped))
    };
    let spans: Vec<Option<(i64, i64)>> = points.iter().map(|p| span(&out.join(&p.name))).collect();
    let gaps: Vec<f64> = spans
        .windows(2)
        .filter_map(|w| Some((w[1]?.0 - w[0]?.1) as f64 / 1e6))
        .filter(|g| *g > 0.0)
        .collect();
    if !gaps.is_empty() {
        output::say(&format!(
            "Between combinations (one run's stop to the next one's first interaction): mean {:.1} s, max {:.1} s",
            gaps.iter().sum::<f64>() / gaps.len() as f64,
            gaps.iter().copied().fold(0.0, f64::max)
        ));
    }
}

/// One combination on this host: a child `wotemu run` in its own process group; a signal to the sweep asks
/// it to stop once. Returns (its exit code, whether the sweep was interrupted).
fn here_point(
    exe: &Path,
    dir: &Path,
    topo: &Path,
    duration: &str,
    sigs: &std::sync::mpsc::Receiver<i32>,
) -> anyhow::Result<(Option<i32>, bool)> {
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg(topo)
        .args(["--duration", duration])
        .arg("--out")
        .arg(dir);
    let mut child = spawn_own_group(cmd).context("starting `wotemu run`")?;
    let mut interrupted = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Ok(sig) = sigs.recv_timeout(Duration::from_millis(200)) {
            if !interrupted {
                interrupted = true;
                say_stopping(sig);
                wotemu_sys::process::signal(child.id(), libc::SIGINT);
            }
        }
    };
    Ok((status.code(), interrupted))
}

fn say_stopping(sig: i32) {
    output::say(&format!(
        "Stopping the sweep (signal {sig}): the current run stops and is collected; the same command goes on later."
    ));
}

/// Starts `cmd` in a process group of its own with no signal blocked: Ctrl-C reaches the sweep only.
fn spawn_own_group(mut cmd: Command) -> std::io::Result<std::process::Child> {
    // SAFETY: setpgid and unblock_all are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            wotemu_sys::signals::unblock_all();
            Ok(())
        });
    }
    cmd.spawn()
}

/// Runs a child command to its end (in its own process group), failing with its output's tail.
fn step(what: &str, cmd: Command) -> anyhow::Result<()> {
    let mut cmd = cmd;
    cmd.stdin(std::process::Stdio::null());
    let o = spawn_own_group(cmd)
        .with_context(|| format!("{what}: cannot start it"))?
        .wait_with_output()?;
    if !o.status.success() && o.status.code() != Some(3) {
        bail!(
            "{what} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

fn docker(args: &[&str]) -> Command {
    let mut c = Command::new("docker");
    c.args(args);
    c
}

/// What is left of a stack: services, containers (stopped ones too), networks, configs, secrets (the engine
/// removes them asynchronously after `docker stack rm`).
fn stack_left(stack: &str) -> usize {
    let label = format!("label=com.docker.stack.namespace={stack}");
    let count = |args: &[&str]| {
        docker(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    };
    ["service", "network", "config", "secret"]
        .iter()
        .map(|kind| count(&[kind, "ls", "-q", "--filter", &label]))
        .sum::<usize>()
        + count(&["ps", "-a", "-q", "--filter", &label])
}

/// One combination on a Docker Swarm: `wotemu compose` → `docker stack deploy` → the agents registered →
/// the duration → `wotemu stop` (snapshot, collect) → `wotemu report` → `docker stack rm`, waiting until
/// the engine has removed the stack. Returns (an exit code, whether the sweep was interrupted).
fn swarm_point(
    exe: &Path,
    dir: &Path,
    topo: &Path,
    stack: &str,
    replicas: usize,
    duration: Duration,
    sigs: &std::sync::mpsc::Receiver<i32>,
) -> anyhow::Result<(Option<i32>, bool)> {
    let compose = dir.join("stack.compose.yml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port for the stack's Redis")?
        .port();
    let mut c = Command::new(exe);
    c.args(["compose", "--path"])
        .arg(topo)
        .arg("--output")
        .arg(&compose)
        .args(["--redis-port", &port.to_string()]);
    step("wotemu compose", c)?;
    let path = compose.to_string_lossy().into_owned();
    step(
        "docker stack deploy",
        docker(&["stack", "deploy", "--detach=true", "-c", &path, stack]),
    )?;
    output::say(&format!(
        "Deployed stack {stack}; waiting for its {replicas} agents to register…"
    ));
    let result = swarm_run(exe, dir, &compose, stack, port, replicas, duration, sigs);
    // The stack goes whatever happened: `docker stack rm`, then wait until the engine removed it.
    if let Err(e) = docker(&["stack", "rm", stack]).output() {
        output::warn(&format!("docker stack rm {stack}: {e}"));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while stack_left(stack) > 0 {
        if Instant::now() > deadline {
            output::warn(&format!(
                "the engine has not removed everything of stack {stack} after 2 minutes; check `docker stack ls`"
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn swarm_run(
    exe: &Path,
    dir: &Path,
    compose: &Path,
    stack: &str,
    port: u16,
    replicas: usize,
    duration: Duration,
    sigs: &std::sync::mpsc::Receiver<i32>,
) -> anyhow::Result<(Option<i32>, bool)> {
    let password = wotemu_swarm::password::read(&wotemu_swarm::password::file_beside(compose))?;
    let url = format!("redis://:{password}@127.0.0.1:{port}");
    let key = wotemu_contract::keys::StackKeys::new(stack).tasks();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut interrupted = false;
    loop {
        let n: usize = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut c| redis::cmd("HLEN").arg(&key).query(&mut c))
            .unwrap_or(0);
        if n >= replicas {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {n} of the {replicas} agents of stack {stack} registered within 5 minutes (images built? `docker service ps {stack}_…` tells)");
        }
        if let Ok(sig) = sigs.recv_timeout(Duration::from_millis(500)) {
            say_stopping(sig);
            interrupted = true;
            break;
        }
    }
    if !interrupted {
        output::say(&format!(
            "Running stack {stack} for {duration:?}; Ctrl-C stops early."
        ));
        // The run itself: the duration, or until a signal.
        if let Ok(sig) = sigs.recv_timeout(duration) {
            say_stopping(sig);
            interrupted = true;
        }
    }
    let mut c = Command::new(exe);
    c.args(["stop", "--compose-file"])
        .arg(compose)
        .args([
            "--stack",
            stack,
            "--redis-url",
            &format!("redis://127.0.0.1:{port}"),
            "--out",
        ])
        .arg(dir);
    step("wotemu stop", c)?;
    let mut c = Command::new(exe);
    c.args(["report", "--dataset"])
        .arg(dir)
        .arg("--out")
        .arg(dir.join("site"));
    step("wotemu report", c)?;
    Ok((Some(0), interrupted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_parse_values_as_yaml_scalars() {
        let p = parse_set("nodes.reader.scale=2, 4").unwrap();
        assert_eq!(p.path, "nodes.reader.scale");
        assert_eq!(p.values[1], ("4".to_owned(), serde_json::json!(4)));
        let p = parse_set("networks.3g.rate=1mbit").unwrap();
        assert_eq!(p.values[0].1, serde_json::json!("1mbit"));
        for bad in ["nodes.reader.scale", "=1", "a..b=1", "a=1,,2", "a=1,1"] {
            assert!(parse_set(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn combinations_are_the_cartesian_product_with_readable_names() {
        let params = vec![
            parse_set("networks.3g.conditions=regular_3g,lte").unwrap(),
            parse_set("nodes.reader.scale=2,4").unwrap(),
        ];
        let pts = points(&params, 1);
        let names: Vec<&str> = pts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conditions-regular_3g--scale-2",
                "conditions-regular_3g--scale-4",
                "conditions-lte--scale-2",
                "conditions-lte--scale-4"
            ]
        );
        let pts = points(&params[1..], 2);
        assert_eq!(
            pts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["scale-2-r1", "scale-2-r2", "scale-4-r1", "scale-4-r2"]
        );
        let clash = vec![
            parse_set("networks.a.rate=1mbit,2mbit").unwrap(),
            parse_set("networks.b.rate=2mbit,3mbit").unwrap(),
        ];
        assert_eq!(points(&clash, 1)[0].name, "a.rate-1mbit--b.rate-2mbit");
    }
}
