//! The fuzz target's corpus (`topology/fuzz/corpus/yaml`), replayed as the fuzz target does it: any input
//! is an error or a topology, never a panic; compose never panics on a valid one.

use std::path::Path;

#[test]
fn the_fuzz_corpus_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/yaml");
    let mut n = 0;
    let mut valid = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        n += 1;
        let r = std::panic::catch_unwind(|| {
            wotemu_topology::from_yaml_str(Path::new("fuzz.yml"), text).map(|v| {
                wotemu_topology::compose::to_yaml(&v.topology, "fuzz.yml");
            })
        });
        match r {
            Ok(Ok(())) => valid += 1,
            Ok(Err(e)) => assert!(!e.to_string().is_empty(), "{}: an empty error", p.display()),
            Err(_) => panic!("{} panicked", p.display()),
        }
    }
    assert!(n >= 25, "the corpus has {n} files");
    assert!(
        valid >= 3,
        "the examples in the corpus are valid ({valid} were)"
    );
}
