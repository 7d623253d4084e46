//! `wotemu venv`: where the apps' Python environment is, and `--create` to make the installed one
//! (`~/.local/share/wotemu/venv`) with the packages of `python/requirements.txt` (compiled in).

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

use crate::cli::VenvArgs;
use crate::output;

/// What apps need (the repository's `python/requirements.txt`).
pub(crate) const REQUIREMENTS: &str = include_str!("../../../python/requirements.txt");

/// The Python 3.11 to make a venv with: the one wotemu was built against (it embeds its libpython), else
/// `python3.11` on the PATH.
fn python() -> Option<PathBuf> {
    option_env!("PYO3_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| wotemu_lab::host::which("python3.11"))
}

/// The command that makes the installed venv (said by `wotemu venv` and `wotemu doctor`).
pub(crate) fn create_hint() -> String {
    "wotemu venv --create (makes ~/.local/share/wotemu/venv with WoTPy; WOTEMU_VENV names another)"
        .into()
}

pub(crate) fn run(args: VenvArgs) -> anyhow::Result<ExitCode> {
    let found = super::run::venv();
    if !args.create {
        return Ok(match found {
            Some(v) if v.join("bin/python").exists() => {
                output::print(&format!("{}\n", v.display()))?;
                ExitCode::SUCCESS
            }
            _ => {
                output::warn(&format!(
                    "no venv for the apps was found; make one with: {}",
                    create_hint()
                ));
                ExitCode::from(1)
            }
        });
    }
    let dir = match &args.path {
        Some(p) => p.clone(),
        None => {
            super::run::installed_venv().context("no HOME or XDG_DATA_HOME to make the venv in")?
        }
    };
    let Some(py) = python() else {
        bail!("Python 3.11 is needed to make the venv (wotemu embeds it): apt-get install python3.11-venv, or set PATH");
    };
    if !dir.join("bin/python").exists() {
        output::say(&format!("Making {} with {}…", dir.display(), py.display()));
        let st = Command::new(&py)
            .arg("-m")
            .arg("venv")
            .arg(&dir)
            .status()
            .context("running python -m venv")?;
        if !st.success() {
            bail!(
                "`{} -m venv {}` failed ({st}); on Debian: apt-get install python3.11-venv",
                py.display(),
                dir.display()
            );
        }
    }
    let req = tempfile::Builder::new()
        .prefix("wotemu-requirements")
        .suffix(".txt")
        .tempfile()
        .context("writing the requirements")?;
    std::fs::write(req.path(), REQUIREMENTS)?;
    output::say("Installing WoTPy and the apps' packages (pip)…");
    let st = Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(req.path())
        .status()
        .context("running pip")?;
    if !st.success() {
        bail!(
            "pip could not install the apps' packages into {} ({st}); is PyPI reachable?",
            dir.display()
        );
    }
    output::say(&format!(
        "Done: {} (found by wotemu run{})",
        dir.display(),
        if args.path.is_some() {
            " when WOTEMU_VENV names it"
        } else {
            ""
        }
    ));
    Ok(ExitCode::SUCCESS)
}
