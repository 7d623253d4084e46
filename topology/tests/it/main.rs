//! Integration tests of the topology crate; see README.md in this folder.

mod common;
mod compose;
mod fuzz_corpus;
mod invalid;
mod model;
mod mutate;
mod overrides;
