//! Integration tests of the `wotemu` binary (see README.md beside this file).

mod collect;
mod report;
mod topology;
mod util;
