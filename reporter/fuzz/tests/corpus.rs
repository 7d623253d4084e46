//! The dataset fuzz target's corpus (`corpus/dataset`), replayed as the target does it: every damaged,
//! truncated, foreign-written or odd dataset is read or refused with an error that says something, never a
//! panic; the untouched base dataset and the foreign-written tables are read and reported.

use std::path::Path;

#[test]
fn the_dataset_corpus_never_panics() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/dataset");
    let base = wotemu_dataset_fuzz::base();
    let mut names: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    assert!(names.len() >= 30, "the corpus has {} inputs", names.len());
    let (mut refused, mut rendered) = (0, Vec::new());
    for p in &names {
        let data = std::fs::read(p).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out =
            std::panic::catch_unwind(|| wotemu_dataset_fuzz::exercise(&base, dir.path(), &data))
                .unwrap_or_else(|_| panic!("{} panicked", p.display()));
        for (who, e) in &out.errors {
            assert!(
                !e.trim().is_empty(),
                "{}: {who} gave an empty error",
                p.display()
            );
        }
        if out.errors.is_empty() {
            rendered.push(p.file_name().unwrap().to_string_lossy().into_owned());
        } else {
            refused += 1;
        }
        assert!(
            out.rendered || !out.errors.is_empty(),
            "{}: no report and no error",
            p.display()
        );
    }
    // The untouched dataset and the tables other tools wrote back are whole datasets.
    for want in ["base", "foreign-"] {
        assert!(
            rendered.iter().any(|n| n.starts_with(want)),
            "no {want}* input was read without an error: {rendered:?}"
        );
    }
    assert!(refused >= 20, "only {refused} inputs were refused");
}
