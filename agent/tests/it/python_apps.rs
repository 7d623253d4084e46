//! The builtin apps' own logic (camera, detector, historian) and 0.6's `wotemu.config`, tested in the
//! checkout's venv (`scripts/setup.sh` makes it) on real frames: scikit-image's sample photographs, OpenCV's
//! Haar cascade, SQLite; the agent's speed-ups of WoTPy (same verdicts and documents as its own); and its stop,
//! which ends even when a task swallows its cancellations. The tests are `agent/python/tests/test_apps.py`,
//! `test_td_validation.py` and `test_stop.py`.

use std::path::Path;
use std::process::Command;

#[test]
fn the_apps_logic_passes_its_python_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let out = Command::new(&python)
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(root.join("agent/python/tests"))
        .env(
            "PYTHONPATH",
            format!(
                "{}:{}",
                root.join("agent/python").display(),
                root.join("python").display()
            ),
        )
        .output()
        .expect("running Python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // unittest reports how many ran: all of them, none skipped.
    assert!(stderr.contains("Ran 21 tests"), "{stderr}");
    assert!(!stderr.contains("skipped"), "{stderr}");
}
