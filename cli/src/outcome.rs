//! The exit code of every command that writes a run dataset (`collect`, `stop`, `run`, `report --stack`, …).
//!
//! `0`: everything produced is in the dataset. `3`: the dataset was written, but something was rejected or
//! lost ([`Manifest::losses`]); each loss is printed as a warning and is in `manifest.json`. Errors (`1`)
//! and usage errors (`2`) are decided in `main`.

use std::path::Path;
use std::process::ExitCode;

use wotemu_contract::Manifest;

use crate::output;

/// Exit code: finished, but some input was rejected or lost.
pub(crate) const EXIT_PARTIAL: u8 = 3;

/// The exit code for a dataset written to `dir`, after warning about each loss.
pub(crate) fn of_dataset(manifest: &Manifest, dir: &Path) -> ExitCode {
    let losses = manifest.losses();
    for l in &losses {
        output::warn(&format!(
            "{l} (details in {})",
            dir.join("manifest.json").display()
        ));
    }
    code(&losses)
}

/// `0` without losses, else `3`.
pub(crate) fn code(losses: &[String]) -> ExitCode {
    if losses.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    }
}
