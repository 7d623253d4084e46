//! The `wotemu` Python package (python/): its pytest suite against datasets (the test kit's here; the
//! quickstart's real run in `run.rs`), and WoTemu 0.6's own topology tests, unchanged. The wheel is built with
//! maturin and installed into .venv by scripts/python-package.sh, which the README's test command runs first.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::repo;
use crate::util::{stderr, stdout};

fn venv_python() -> PathBuf {
    repo().join(".venv/bin/python")
}

fn python() -> Command {
    let mut c = Command::new(venv_python());
    // The installed package, not the sources beside the tests.
    c.env_remove("PYTHONPATH").current_dir(std::env::temp_dir());
    c
}

/// Runs the package's pytest suite on `runs` (dataset, site rendered from it).
pub(crate) fn pytest_on(runs: &[(&Path, &Path)]) {
    let installed = python()
        .args([
            "-c",
            "import wotemu._native, polars; print(wotemu._native.VERSION)",
        ])
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "the wotemu package is not installed in .venv: run scripts/python-package.sh\n{}",
        stderr(&installed)
    );
    let pairs: Vec<String> = runs
        .iter()
        .map(|(d, s)| format!("{}={}", d.display(), s.display()))
        .collect();
    let o = python()
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"])
        .arg(repo().join("python/tests/test_package.py"))
        .env("WOTEMU_TEST_RUNS", pairs.join(";"))
        .env("WOTEMU_BIN", env!("CARGO_BIN_EXE_wotemu"))
        .env("WOTEMU_REPO", repo())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(!out.contains("skipped"), "no test may be skipped:\n{out}");
    assert!(out.contains(" passed"), "{out}");
}

#[test]
fn the_python_package_passes_its_tests_on_a_testkit_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, site) = crate::query::testkit_dataset(dir.path(), "py", 5);
    pytest_on(&[(&dataset, &site)]);
}

#[test]
fn wotemu_06s_own_topology_tests_pass_unchanged_against_the_package() {
    let original = repo().join("target/wotemu-0.6.0/tests/test_topology.py");
    assert!(
        original.is_file(),
        "{} is missing: scripts/python-package.sh fetches it from WoTemu 0.6's sdist on PyPI",
        original.display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&original, dir.path().join("test_topology.py")).unwrap();
    let o = python()
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "test_topology.py",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // Its Docker Compose check skips itself without docker-compose: here it must run.
    assert!(out.contains("9 passed"), "{out}");
    assert!(!out.contains("skipped"), "{out}");
}
