//! The dataset fuzz target's one step, shared by the target (`fuzz_targets/dataset.rs`) and the replay of its
//! corpus in every test run (`tests/corpus.rs`).
//!
//! An input is one file of a dataset: its first byte chooses which file of the base dataset (the GitHub Pages
//! example's, `examples/github-pages/dataset`) it replaces, the rest is the file's new content (an empty
//! input leaves the dataset as it is). The dataset is then read as every command reads it: `wotemu dataset
//! info` and every table ([`wotemu_collector::dataset`]), and `wotemu report` (load and render). Each must
//! end with a result or an error that says something; a panic is the bug the fuzzer looks for.

use std::path::{Path, PathBuf};

/// The base dataset: the committed GitHub Pages example.
pub fn base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/github-pages/dataset")
}

/// The base dataset's files, sorted: what an input's first byte chooses from.
pub fn files(base: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(base)
        .expect("the base dataset")
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// What reading one input's dataset gave.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The file the input replaced, if any.
    pub file: Option<String>,
    /// Readers that refused the dataset, with their error.
    pub errors: Vec<(String, String)>,
    /// Whether the report was rendered.
    pub rendered: bool,
}

/// Writes the input's dataset into `dir` (a copy of `base` with one file replaced), then reads it as
/// every command does.
pub fn exercise(base: &Path, dir: &Path, data: &[u8]) -> Outcome {
    let files = files(base);
    let dataset = dir.join("dataset");
    std::fs::create_dir_all(&dataset).expect("a scratch folder");
    for f in &files {
        std::fs::copy(base.join(f), dataset.join(f)).expect("copying the base dataset");
    }
    let mut out = Outcome::default();
    if let Some((&which, content)) = data.split_first() {
        let f = &files[usize::from(which) % files.len()];
        std::fs::write(dataset.join(f), content).expect("writing the input");
        out.file = Some(f.clone());
    }
    let mut refused = |who: &str, e: String| out.errors.push((who.to_owned(), e));
    if let Err(e) = wotemu_collector::dataset::info(&dataset) {
        refused("dataset info", e.to_string());
    }
    for t in wotemu_contract::Table::ALL {
        if let Err(e) = wotemu_collector::dataset::read_table(&dataset, t) {
            refused(t.name(), e.to_string());
        }
    }
    let opts = wotemu_reporter::ReportOptions::new(&dataset, &dir.join("site"));
    match wotemu_reporter::Report::load(opts).and_then(|r| r.render()) {
        Ok(_) => out.rendered = true,
        Err(e) => refused("report", chain(&e)),
    }
    out
}

/// An error and its causes, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
