use std::process::{Command, Output};

/// A command running the real binary, with logs quiet and no colour.
pub(crate) fn wotemu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wotemu"));
    c.env("WOTEMU_COLOR", "never")
        .env_remove("WOTEMU_LOG")
        .env_remove("WOTEMU_FAILPOINT");
    c
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
