//! A quick, deterministic fuzz of the YAML path on every test run: mutated example files must give an
//! error or a topology, never a panic. (The coverage-guided fuzzer is in `topology/fuzz`.)

use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: [&str; 16] = [
    ":", "-", "{", "}", "[", "]", "\n", "  ", "'", "\"", "&a", "*a", "!!str", "~", "1e400", "\t",
];

#[test]
fn mutated_yaml_never_panics() {
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(crate::common::examples()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yml") {
            inputs.push(std::fs::read_to_string(p).unwrap());
        }
    }
    for e in std::fs::read_dir("tests/invalid").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yml") {
            inputs.push(std::fs::read_to_string(p).unwrap());
        }
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut errors = 0;
    for i in 0..3000 {
        let mut s: Vec<char> = inputs[i % inputs.len()].chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(s.len());
            match rng.below(3) {
                0 => {
                    s.remove(at.min(s.len().saturating_sub(1)));
                }
                1 => {
                    for c in TOKENS[rng.below(TOKENS.len())].chars().rev() {
                        s.insert(at, c);
                    }
                }
                _ => {
                    let len = rng.below(20).min(s.len() - at);
                    let chunk: Vec<char> = s[at..at + len].to_vec();
                    let to = rng.below(s.len());
                    for c in chunk.into_iter().rev() {
                        s.insert(to, c);
                    }
                }
            }
            if s.is_empty() {
                break;
            }
        }
        let text: String = s.into_iter().collect();
        if let Err(e) = wotemu_topology::from_yaml_str(Path::new("fuzz.yml"), &text) {
            errors += 1;
            assert!(!e.to_string().is_empty());
        }
    }
    assert!(
        errors > 100,
        "mutations should mostly break the files ({errors})"
    );
}

#[test]
fn hostile_documents_are_refused_cleanly() {
    let deep = format!("nodes: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(wotemu_topology::from_yaml_str(Path::new("x.yml"), &deep).is_err());
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nnodes: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
    assert!(wotemu_topology::from_yaml_str(Path::new("x.yml"), bomb).is_err());
    assert!(wotemu_topology::from_yaml_str(Path::new("x.yml"), "\u{0}\u{1}").is_err());
}
