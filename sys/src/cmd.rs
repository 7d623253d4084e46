//! Running system commands (`ip`, `tc`, `iptables`, `sysctl`): stdout is returned, stderr becomes the error.

use std::io::Write;
use std::process::{Command, Stdio};

/// A command that could not run or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{command}` failed: {message}")]
pub struct CommandError {
    /// The command line, program first.
    pub command: String,
    /// What it printed on stderr, or why it could not start.
    pub message: String,
}

fn line(program: &str, args: &[&str]) -> String {
    if args.is_empty() {
        program.to_owned()
    } else {
        format!("{program} {}", args.join(" "))
    }
}

/// Runs `program` with `args` (and `input` on stdin when given); returns its stdout.
pub fn run_with_input(
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, CommandError> {
    let fail = |message: String| CommandError {
        command: line(program, args),
        message,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("{e} (is `{program}` installed?)")))?;
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| fail(format!("writing its input: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(fail(if err.is_empty() {
            format!("exited with {}", out.status)
        } else {
            err
        }));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program` with `args`; returns its stdout.
pub fn output(program: &str, args: &[&str]) -> Result<String, CommandError> {
    run_with_input(program, args, None)
}

/// Runs `program` with `args`.
pub fn run(program: &str, args: &[&str]) -> Result<(), CommandError> {
    output(program, args).map(drop)
}

/// `ip …` (iproute2).
pub fn ip(args: &[&str]) -> Result<(), CommandError> {
    run("ip", args)
}

/// `ip -batch -` with `lines` on stdin: many changes for the cost of one process.
pub fn ip_batch(lines: &str) -> Result<(), CommandError> {
    run_with_input("ip", &["-batch", "-"], Some(lines)).map(drop)
}

/// `iptables -w …` (waits for the xtables lock instead of failing).
pub fn iptables(args: &[&str]) -> Result<(), CommandError> {
    let mut a = vec!["-w"];
    a.extend_from_slice(args);
    run("iptables", &a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_returned_and_stderr_is_the_error() {
        assert_eq!(output("echo", &["hi"]).unwrap(), "hi\n");
        let e = run("sh", &["-c", "echo oops >&2; exit 3"]).unwrap_err();
        assert_eq!(e.message, "oops");
        assert_eq!(e.command, "sh -c echo oops >&2; exit 3");
        let e = run("sh", &["-c", "exit 4"]).unwrap_err();
        assert!(e.message.contains("exit status: 4"), "{e}");
        let e = run("/no/such/program", &[]).unwrap_err();
        assert!(
            e.message.contains("is `/no/such/program` installed?"),
            "{e}"
        );
        assert_eq!(
            run_with_input("cat", &[], Some("in")).unwrap(),
            "in",
            "input reaches stdin"
        );
    }
}
