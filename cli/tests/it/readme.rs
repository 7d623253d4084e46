//! The README and the other Markdown files cannot drift from the code: every YAML block validates as a
//! topology, and every `wotemu …` command of their shell blocks parses (run with `--help` appended, so clap
//! checks its subcommands and flags without running it; an unknown flag or command fails).

use std::path::{Path, PathBuf};

use crate::util::{stderr, stdout, wotemu};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Markdown files a user reads.
const DOCS: [&str; 3] = [
    "README.md",
    "docker/README.md",
    "examples/github-pages/README.md",
];

/// The fenced blocks of `lang` in a Markdown text, with the line each starts at.
fn blocks(text: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        match &mut cur {
            None if t.starts_with("```") && t[3..].trim() == lang => {
                cur = Some((i + 1, String::new()))
            }
            Some(_) if t.starts_with("```") => out.push(cur.take().expect("open block")),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// A shell line's words (quotes removed; `#` outside quotes ends it).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '#') if cur.is_empty() => break,
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every `wotemu` command of the shell blocks: its arguments after `wotemu`, and where it is.
fn commands() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for doc in DOCS {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        for (start, body) in blocks(&text, "sh") {
            let joined = body.replace("\\\n", " ");
            for (k, line) in joined.lines().enumerate() {
                for segment in line.split("&&").flat_map(|s| s.split(['|', ';'])) {
                    // The command of the segment: its first word after `sudo` and `VAR=value`s.
                    let w = words(segment);
                    let Some(at) = w.iter().position(|x| x != "sudo" && !x.contains('=')) else {
                        continue;
                    };
                    let program = &w[at];
                    if program == "wotemu"
                        || ["debug/wotemu", "release/wotemu", "bin/wotemu"]
                            .iter()
                            .any(|p| program.ends_with(p))
                    {
                        out.push((format!("{doc}:{}", start + k + 1), w[at + 1..].to_vec()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_yaml_block_of_the_docs_validates() {
    let dir = tempfile::tempdir().unwrap();
    // Blocks name trace files as the examples hold them.
    std::os::unix::fs::symlink(repo().join("examples/traces"), dir.path().join("traces")).unwrap();
    let mut checked = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        for (line, body) in blocks(&text, "yaml") {
            // A fragment (the `images:` of a topology) is checked inside the smallest topology around it.
            let mut text = body.clone();
            let has = |key: &str| text.lines().any(|l| l.starts_with(&format!("{key}:")));
            if !has("nodes") {
                if !has("networks") {
                    text.push_str("networks: {lan: {conditions: wifi}}\n");
                }
                text.push_str("nodes: {x: {app: {path: clock}, networks: [lan]}}\n");
            }
            let file = dir.path().join(format!("block-{checked}.yml"));
            std::fs::write(&file, &text).unwrap();
            let o = wotemu()
                .args(["topology", "validate"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "the YAML block at {doc}:{line} does not validate:\n{}{}",
                stdout(&o),
                stderr(&o)
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "no YAML block found");
}

#[test]
fn every_wotemu_command_of_the_docs_parses() {
    let cmds = commands();
    assert!(cmds.len() >= 15, "{} commands found: {cmds:?}", cmds.len());
    for (at, args) in &cmds {
        let o = wotemu().args(args).arg("--help").output().unwrap();
        assert!(
            o.status.success() && stdout(&o).contains("Usage: wotemu"),
            "`wotemu {}` ({at}) does not parse:\n{}",
            args.join(" "),
            stderr(&o)
        );
    }
}

#[test]
fn shell_words_are_split_as_a_shell_does() {
    assert_eq!(
        words(r#"wotemu compare a b --fail-if 'p95(x) > 1.10 * baseline'   # exit 4"#),
        [
            "wotemu",
            "compare",
            "a",
            "b",
            "--fail-if",
            "p95(x) > 1.10 * baseline"
        ]
    );
    assert_eq!(
        words(r#"--title "My first run""#),
        ["--title", "My first run"]
    );
}
