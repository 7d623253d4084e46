//! The Python virtualenv the apps run in (WoTPy and the builtin apps' packages): where it is, its
//! site-packages, and making the installed one (`wotemu venv --create`). One rule for every command that
//! needs it (`wotemu run`, `agent`, `zygote`, `doctor`, `venv`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// What apps need (the repository's `python/requirements.txt`, compiled in).
pub const REQUIREMENTS: &str = include_str!("../../python/requirements.txt");

/// The command that makes the installed venv (said by `wotemu venv` and `wotemu doctor`).
pub const CREATE_HINT: &str =
    "wotemu venv --create (makes ~/.local/share/wotemu/venv with WoTPy; WOTEMU_VENV names another)";

/// The venv the environment names: `WOTEMU_VENV`, else `VIRTUAL_ENV` (what an agent and the zygote use:
/// the runner sets `WOTEMU_VENV` for them).
pub fn from_env() -> Option<PathBuf> {
    std::env::var_os("WOTEMU_VENV")
        .or_else(|| std::env::var_os("VIRTUAL_ENV"))
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The venv a run's agents use: the one the environment names ([`from_env`]), the checkout's `.venv` (beside
/// the binary's `target/`), `./.venv`, or the installed one ([`installed`], made by `wotemu venv --create`).
pub fn find() -> Option<PathBuf> {
    if let Some(v) = from_env() {
        return Some(v);
    }
    // A checkout: target/<profile>/wotemu → <repo>/.venv; else ./.venv.
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            if dir.join(".venv/bin/python").exists() {
                return Some(dir.join(".venv"));
            }
        }
    }
    if Path::new(".venv/bin/python").exists() {
        return Some(PathBuf::from(".venv"));
    }
    installed().filter(|v| v.join("bin/python").exists())
}

/// Where an installed wotemu keeps the apps' venv: `$XDG_DATA_HOME/wotemu/venv`, by default
/// `~/.local/share/wotemu/venv`.
pub fn installed() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("wotemu/venv"))
}

/// The site-packages folder of a virtualenv.
pub fn site_packages(venv: &Path) -> Result<PathBuf, Error> {
    let not = |why: &str| {
        Error::Plan(format!(
            "{} is not a Python virtualenv ({why}); create it with {CREATE_HINT}, or scripts/setup.sh in a checkout",
            venv.display()
        ))
    };
    let entries = std::fs::read_dir(venv.join("lib")).map_err(|_| not("no lib/ folder"))?;
    entries
        .flatten()
        .map(|e| (e.file_name(), e.path().join("site-packages")))
        .find(|(name, sp)| name.to_string_lossy().starts_with("python") && sp.is_dir())
        .map(|(_, sp)| sp)
        .ok_or_else(|| not("no lib/python*/site-packages"))
}

/// The Python 3.11 to make a venv with: the one wotemu was built against (it embeds its libpython), else
/// `python3.11` on the PATH.
pub fn python() -> Option<PathBuf> {
    option_env!("PYO3_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| crate::host::which("python3.11"))
}

fn run(what: &str, cmd: &mut Command, hint: &str) -> Result<(), Error> {
    let st = cmd.status().map_err(|source| Error::Io {
        what: format!("running {what}"),
        source,
    })?;
    if !st.success() {
        return Err(Error::Plan(format!("{what} failed ({st}); {hint}")));
    }
    Ok(())
}

/// Makes the venv `dir` (if it is not one yet) and installs the apps' packages into it with pip.
pub fn create(dir: &Path, say: &dyn Fn(&str)) -> Result<(), Error> {
    let py = python().ok_or_else(|| Error::Missing {
        program: "Python 3.11".into(),
        hint: "wotemu embeds it: apt-get install python3.11-venv, or set PATH".into(),
    })?;
    if !dir.join("bin/python").exists() {
        say(&format!("Making {} with {}…", dir.display(), py.display()));
        run(
            &format!("`{} -m venv {}`", py.display(), dir.display()),
            Command::new(&py).arg("-m").arg("venv").arg(dir),
            "on Debian: apt-get install python3.11-venv",
        )?;
    }
    let req = dir.join("wotemu-requirements.txt");
    std::fs::write(&req, REQUIREMENTS).map_err(|source| Error::Io {
        what: format!("writing {}", req.display()),
        source,
    })?;
    say("Installing WoTPy and the apps' packages (pip)…");
    run(
        &format!("pip install into {}", dir.display()),
        Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&req),
        "is PyPI reachable?",
    )
}
