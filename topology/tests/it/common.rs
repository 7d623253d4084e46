//! Helpers shared by the tests.

use std::path::{Path, PathBuf};

/// The folder of the repository's examples.
pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The example topologies, as (stem, YAML path, Python path).
pub(crate) fn example_pairs() -> Vec<(String, PathBuf, PathBuf)> {
    let dir = examples();
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("examples folder") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yml")
            && !p.to_string_lossy().ends_with(".compose.yml")
        {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((stem.clone(), p.clone(), dir.join(format!("{stem}.py"))));
        }
    }
    out.sort();
    assert!(
        out.len() >= 3,
        "expected at least 3 example topologies in {}",
        dir.display()
    );
    out
}

/// Error text with the machine-specific crate folder removed.
pub(crate) fn stable(text: &str) -> String {
    text.replace(env!("CARGO_MANIFEST_DIR"), "<crate>")
}
