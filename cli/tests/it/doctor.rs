//! The commands around the others: `wotemu doctor` on this machine, shell completions, man pages, and help
//! texts that keep their lines.

use serde_json::Value;

use crate::run::repo;
use crate::util::{stderr, stdout, wotemu};

#[test]
fn help_keeps_the_grammar_and_the_examples_as_written() {
    let o = wotemu().args(["compare", "--help"]).output().unwrap();
    let help = stdout(&o);
    assert!(
        help.contains(
            "\n  GATE     := METRIC(SELECTOR) OP EXPR          OP: >  >=  <  <=  ==  !=\n"
        ),
        "{help}"
    );
    assert!(
        help.contains("\n  wotemu compare runs/3g runs/lte --out compare-site\n"),
        "{help}"
    );
    let o = wotemu().args(["run", "--help"]).output().unwrap();
    assert!(
        stdout(&o).contains("\n  sudo wotemu run examples/quickstart.yml --duration 30s\n"),
        "{}",
        stdout(&o)
    );
}

/// `wotemu doctor` on this machine: what it has (root, namespaces, veth, bridges, NFQUEUE, cgroups, Redis,
/// the venv) is ok; the gateway backend it names follows from sch_netem; a missing venv is MISSING with its fix.
#[test]
fn doctor_tells_what_this_host_has_and_lacks() {
    let o = wotemu()
        .args(["doctor", "--json"])
        .env("WOTEMU_VENV", repo().join(".venv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["ready_for_runs"], true);
    let checks = j["checks"].as_array().unwrap();
    let get = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    for name in [
        "root",
        "network namespaces",
        "veth",
        "bridge",
        "cgroups",
        "redis-server",
        "Python with WoTPy",
    ] {
        assert_eq!(get(name)["status"], "ok", "{}", get(name));
    }
    for c in checks {
        assert!(
            !c["found"].as_str().unwrap().is_empty() && !c["fix"].as_str().unwrap().is_empty(),
            "{c}"
        );
    }
    // The limits at scale are this host's own, read from the kernel.
    let limits = get("host limits at scale")["found"]
        .as_str()
        .unwrap()
        .to_owned();
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    assert!(
        limits.starts_with("about ") && limits.contains(&format!("pid_max {}", pid_max.trim())),
        "{limits}"
    );
    let netem = get("sch_netem and tbf (the kernel backend)")["status"] == "ok";
    let backend = get("backend runs will use")["found"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(backend.starts_with("kernel"), netem, "{backend}");
    assert_eq!(
        netem,
        wotemu_gateway::kernel::has_netem(),
        "the doctor and the gateway agree on sch_netem"
    );
    let o = wotemu()
        .arg("doctor")
        .env("WOTEMU_VENV", "/nonexistent/venv")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("MISSING Python with WoTPy"), "{text}");
    assert!(text.contains("fix: wotemu venv --create"), "{text}");
    assert!(
        text.contains("/nonexistent/venv has no bin/python"),
        "{text}"
    );
    assert!(text.contains("cannot run `wotemu run` yet"), "{text}");
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let o = wotemu().args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for command in ["run", "compare", "sweep", "doctor"] {
            assert!(script.contains(command), "{shell}: {command}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for page in [
        "wotemu.1",
        "wotemu-run.1",
        "wotemu-compare.1",
        "wotemu-sweep.1",
        "wotemu-doctor.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
}

/// The binary alone (as `cargo install` or a release tarball leaves it), run from a folder outside the
/// clone: it finds the apps' venv in its documented place and runs the quickstart, with nothing of the
/// source tree; without a venv it says the command that makes one.
#[test]
fn an_installed_binary_runs_outside_the_clone() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin/wotemu");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_wotemu"), &bin).unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(share.join("wotemu")).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("apps")).unwrap();
    std::fs::copy(
        repo().join("examples/quickstart.yml"),
        work.join("quickstart.yml"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("examples/apps/quickstart_server.py"),
        work.join("apps/quickstart_server.py"),
    )
    .unwrap();
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(&bin);
        c.args(args)
            .current_dir(&work)
            .env("XDG_DATA_HOME", &share)
            .env("WOTEMU_COLOR", "never")
            .env_remove("WOTEMU_VENV")
            .env_remove("VIRTUAL_ENV");
        c
    };
    let o = cmd(&["venv"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("wotemu venv --create"),
        "{}",
        stderr(&o)
    );
    // The venv where `wotemu venv --create` puts it (the checkout's, linked: making one is tested below).
    std::os::unix::fs::symlink(repo().join(".venv"), share.join("wotemu/venv")).unwrap();
    let o = cmd(&["venv"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        share.join("wotemu/venv").display().to_string()
    );
    let o = cmd(&["run", "quickstart.yml", "--duration", "10s", "--out", "run"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("no Python venv"), "{}", stderr(&o));
    let reads = crate::rows::rows(&work.join("run"), wotemu_contract::Table::Interactions)
        .into_iter()
        .filter(|r| r["side"] == "consumed" && r["ok"] == true)
        .count();
    assert!(
        reads > 0,
        "the readers read: the apps ran in the installed venv"
    );
}

/// `wotemu venv --create` makes a venv with Python 3.11 and the apps' packages (a real pip install; wheels
/// come from pip's cache after scripts/setup.sh).
#[test]
fn venv_create_makes_a_venv_with_wotpy() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("venv");
    let o = wotemu()
        .args(["venv", "--create", "--path"])
        .arg(&v)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let o = std::process::Command::new(v.join("bin/python"))
        .args([
            "-c",
            "import wotpy, cv2, skimage, sys; print(sys.version_info[:2])",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "(3, 11)");
}

/// `scripts/package.sh` makes a tarball with the binary, man pages, completions and licences, and the
/// packaged binary works.
#[test]
fn the_release_tarball_holds_what_it_says() {
    let o = std::process::Command::new(repo().join("scripts/package.sh"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_wotemu"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let tarball = repo().join(stdout(&o).trim().lines().last().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(&tarball).unwrap();
    let _ = std::fs::remove_dir_all(
        tarball.with_file_name(
            tarball
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".tar.gz"),
        ),
    );
    let root = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for f in [
        "bin/wotemu",
        "share/man/man1/wotemu.1",
        "share/man/man1/wotemu-run.1",
        "share/completions/wotemu.bash",
        "share/completions/_wotemu",
        "share/completions/wotemu.fish",
        "licences/LICENSE",
        "licences/LICENSE.vega-lite",
        "README.md",
    ] {
        assert!(root.join(f).exists(), "{f}");
    }
    let o = std::process::Command::new(root.join("bin/wotemu"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(stdout(&o).starts_with("wotemu "), "{}", stdout(&o));
}

/// `WOTEMU_STACK` and `WOTEMU_REDIS_URL` are the defaults of `--stack` and `--redis-url` of every command
/// that reaches a stack (README, "Commands"), and `--run`/`--dataset` on the command line win over them.
#[test]
fn the_environment_names_the_stack_and_its_redis_of_every_command() {
    let redis = wotemu_testkit::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = |c: &mut std::process::Command| {
        c.env("WOTEMU_STACK", "wtmenvstack")
            .env("WOTEMU_REDIS_URL", redis.url())
            .env("WOTEMU_STATE_DIR", dir.path().join("state"));
    };
    // `net show` reaches the stack's Redis: a stack without gateways has no networks to show.
    let mut c = wotemu();
    c.args(["net", "show", "--json"]);
    env(&mut c);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "[]", "{}", stdout(&o));
    // Without the environment it looks for a run of this host instead.
    let o = wotemu()
        .args(["net", "show"])
        .env_remove("WOTEMU_STACK")
        .env("WOTEMU_STATE_DIR", dir.path().join("state"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("wtmenvstack"), "{}", stderr(&o));
    // `collect` and `report` collect that stack from that Redis (nothing registered there).
    for args in [
        vec!["collect", "--out", "ds"],
        vec!["report", "--out", "site"],
    ] {
        let mut c = wotemu();
        c.args(&args).current_dir(dir.path());
        env(&mut c);
        let o = c.output().unwrap();
        let err = stderr(&o);
        assert!(err.contains("wtmenvstack"), "{args:?}: {err}");
        assert!(!err.contains("say what"), "{args:?}: {err}");
    }
    // `--dataset` on the command line wins over WOTEMU_STACK (clap's `env` would call them conflicting).
    let mut c = wotemu();
    c.args(["report", "--dataset", "nosuchdataset", "--out", "site2"])
        .current_dir(dir.path());
    env(&mut c);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("nosuchdataset"), "{}", stderr(&o));
    // `stop` without --run stops the stack WOTEMU_STACK names (a Swarm stack: this engine says why not).
    let mut c = wotemu();
    c.arg("stop");
    env(&mut c);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("say what to stop"), "{}", stderr(&o));
}
