//! The log every wotemu process writes on stderr: a level from `-v`/`-q`, `WOTEMU_LOG` overriding it, text
//! (coloured or not) or JSON lines.

/// How a process logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSetup {
    /// `-v` count: 0 info for wotemu, 1 debug, 2 and more trace.
    pub verbose: u8,
    /// Only errors.
    pub quiet: bool,
    /// JSON lines instead of text.
    pub json: bool,
    /// ANSI colours in text.
    pub colour: bool,
}

/// The filter `setup` asks for, unless `env` (`WOTEMU_LOG`'s value, e.g. `wotemu_collector=debug`) is a
/// valid filter.
pub fn filter(setup: &LogSetup, env: Option<&str>) -> tracing_subscriber::EnvFilter {
    let level = if setup.quiet {
        "error"
    } else {
        match setup.verbose {
            0 => "warn,wotemu=info",
            1 => "info,wotemu=debug,wotemu_collector=debug",
            _ => "debug,wotemu=trace,wotemu_collector=trace",
        }
    };
    env.and_then(|e| tracing_subscriber::EnvFilter::try_new(e).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level))
}

/// Installs the process's logger on stderr. Fails only when one is installed already (a test that runs
/// `main` twice): that one is kept.
pub fn init(setup: &LogSetup) -> Result<(), String> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(setup, std::env::var("WOTEMU_LOG").ok().as_deref()))
        .with_writer(std::io::stderr)
        .with_target(false);
    let installed = if setup.json {
        builder.json().try_init()
    } else {
        builder.with_ansi(setup.colour).without_time().try_init()
    };
    installed.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_wins_over_verbose_and_wotemu_log_over_both() {
        let quiet = LogSetup {
            verbose: 2,
            quiet: true,
            ..LogSetup::default()
        };
        assert_eq!(filter(&quiet, None).to_string(), "error");
        assert_eq!(
            filter(&quiet, Some("wotemu_collector=debug")).to_string(),
            "wotemu_collector=debug"
        );
        let v = LogSetup {
            verbose: 1,
            ..LogSetup::default()
        };
        assert!(filter(&v, None).to_string().contains("wotemu=debug"));
    }
}
