//! What the user sees: logs on stderr, errors with their causes, progress bars on a terminal, results on
//! stdout (text or JSON).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Global, LogFormat};

static STYLE: Mutex<(bool, bool)> = Mutex::new((false, false)); // (colour, quiet)

/// Sets up logging from the global flags and `WOTEMU_LOG`.
pub(crate) fn init_logging(g: &Global) {
    let colour = match g.color {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    *STYLE.lock().expect("style") = (colour, g.quiet);
    let installed = wotemu_sys::logging::init(&wotemu_sys::logging::LogSetup {
        verbose: g.verbose,
        quiet: g.quiet,
        json: g.log_format == LogFormat::Json,
        colour,
    });
    if let Err(e) = installed {
        // Only possible when a logger is already installed (tests that call main twice): keep that one.
        eprintln_quiet(&format!("logging not set up again: {e}"));
    }
}

fn colour() -> bool {
    STYLE.lock().map(|s| s.0).unwrap_or(false)
}

pub(crate) fn quiet() -> bool {
    STYLE.lock().map(|s| s.1).unwrap_or(false)
}

/// Prints an error and each of its causes.
pub(crate) fn print_error(err: &anyhow::Error) {
    let (red, bold, reset) = if colour() {
        ("\x1b[31;1m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let mut stderr = std::io::stderr().lock();
    // Writes to the terminal below may fail (a closed stream): there is nowhere left to report that.
    let _ = writeln!(stderr, "{red}error:{reset} {bold}{err}{reset}");
    for cause in wotemu_sys::error_messages(err.as_ref()).iter().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}

/// A warning for the user (not a log line).
pub(crate) fn warn(msg: &str) {
    let (y, reset) = if colour() {
        ("\x1b[33;1m", "\x1b[0m")
    } else {
        ("", "")
    };
    eprintln!("{y}warning:{reset} {msg}");
}

/// A result line on stdout.
pub(crate) fn say(msg: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{msg}");
}

/// A progress note on stderr (stdout stays for results).
pub(crate) fn note(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// Text (or bytes: a query's CSV or Parquet) on stdout as it is.
pub(crate) fn print(text: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_ref())?;
    out.flush()?;
    Ok(())
}

/// Whether stdout is a terminal (results are then formatted for reading).
#[cfg(feature = "report")]
pub(crate) fn stdout_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout())
}

/// Pretty JSON on stdout.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Whether an error is a closed stdout (`wotemu … | head`), which ends quietly.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// A progress bar on stderr when it is a terminal (and not --quiet); otherwise nothing is drawn.
pub(crate) struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    pub(crate) fn new() -> Self {
        Bar {
            bar: Mutex::new(None),
        }
    }
}

impl wotemu_collector::Progress for Bar {
    fn start(&self, step: &str, total: Option<u64>) {
        if quiet() || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>16} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(step.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        *self.bar.lock().expect("bar") = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("bar").as_ref() {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("bar").take() {
            b.finish_and_clear();
        }
    }
}

/// What a run, a clean or a sweep says, through this module; with `tty`, a live status line on stderr.
#[derive(Default)]
pub(crate) struct Shown {
    tty: bool,
}

impl Shown {
    /// With the live status line when stderr is a terminal (and not --quiet).
    pub(crate) fn live() -> Shown {
        Shown {
            tty: std::io::stderr().is_terminal() && !quiet(),
        }
    }
}

impl wotemu_lab::Observer for Shown {
    fn say(&self, msg: &str) {
        say(msg);
    }
    fn warn(&self, msg: &str) {
        warn(msg);
    }
    fn status(&self, s: &wotemu_lab::Status) {
        if self.tty {
            status(&s.line());
        }
    }
    fn status_done(&self) {
        if self.tty {
            status_end();
        }
    }
}

impl wotemu_sweep::Observer for Shown {
    fn say(&self, msg: &str) {
        say(msg);
    }
    fn warn(&self, msg: &str) {
        warn(msg);
    }
}

/// Rewrites the status line on stderr (a terminal only; the caller checks).
fn status(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r\x1b[2K{line}");
    let _ = e.flush();
}

/// Ends the status line.
fn status_end() {
    let _ = writeln!(std::io::stderr().lock());
}

/// A line on stderr when nothing else can be done (a failed write is not reported: there is nowhere to).
fn eprintln_quiet(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}
