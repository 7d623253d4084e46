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
    assert!(
        text.contains("pip install -r python/requirements.txt"),
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
