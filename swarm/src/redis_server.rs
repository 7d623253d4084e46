//! `wotemu redis-server`, a stack's Redis: `redis-server` with the stack's password (from its secret file),
//! handed over through a pipe so that it is on no command line, taking this process's place.

use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::Error;

/// Becomes `program` (a `redis-server`) for the stack, with the password of `password_file` when given and
/// the extra arguments `args`; returns only when it cannot.
pub fn exec(program: &Path, password_file: Option<&Path>, args: &[String]) -> Error {
    let mut config = String::new();
    if let Some(f) = password_file {
        match crate::password::read(f) {
            Ok(pw) if !pw.is_empty() => config.push_str(&format!("requirepass {pw}\n")),
            Ok(_) => return Error::Usage(format!("the password file {} is empty", f.display())),
            Err(e) => return e,
        }
    }
    // The configuration goes through a pipe (it fits its buffer): the password is on no command line.
    let reader = match wotemu_sys::process::pipe_with(config.as_bytes()) {
        Ok(r) => r,
        Err(source) => {
            return Error::Io {
                what: "handing the configuration to redis-server through a pipe".into(),
                source,
            }
        }
    };
    let source = std::process::Command::new(program)
        .arg("-")
        .args([
            "--bind",
            "0.0.0.0",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            // Every agent, gateway and the scenario service hold a connection: Redis's default of 10,000
            // clients is a 10,000-replica stack's ceiling (Redis lowers it to what its open-files limit allows).
            "--maxclients",
            "100000",
        ])
        .args(args)
        .stdin(reader)
        .exec();
    Error::Io {
        what: format!(
            "running {} (install Redis, e.g. apt-get install redis-server)",
            program.display()
        ),
        source,
    }
}
