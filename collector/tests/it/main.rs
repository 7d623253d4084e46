//! Integration tests of the collector against a real redis-server (see README.md beside this file).

mod common;
mod corrupt;
mod foreign;
mod legacy;
mod roundtrip;
