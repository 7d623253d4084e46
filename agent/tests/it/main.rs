//! Agent integration tests of the library (real redis-server; the collector reads what the agent wrote).
//! The `wotemu agent` binary with real Python and WoTPy is tested in `cli/tests/it/agent.rs`.

mod python_apps;
