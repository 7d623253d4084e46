//! `wotemu cpu-speed`: this host's CPU speed calibration (emulated `target_cpu_speed`).

use std::process::ExitCode;

use anyhow::Context;
use wotemu_lab::cpu::{self, Source};
use wotemu_sys::cpu_speed::Calibration;

use crate::cli::CpuSpeedArgs;
use crate::output;

/// This host's calibration, saying whether it was measured now (about 10 s) or reused.
fn calibration(fresh: bool) -> anyhow::Result<(Calibration, Source)> {
    if !fresh && cpu::cached(&cpu::cache_path()).is_none() {
        output::note(
            "Calibrating this host's CPU speed (sysbench's CPU test at 5 CFS quotas, about 10 s)…",
        );
    }
    let exe = std::env::current_exe().context("locating the wotemu binary")?;
    cpu::host_calibration(fresh, &|s| wotemu_lab::launch::measure_cmd(&exe, s))
        .context("calibrating the host's CPU speed")
}

pub(crate) fn run(args: CpuSpeedArgs) -> anyhow::Result<ExitCode> {
    if let Some(secs) = args.measure {
        let v = cpu::measure_when_told(secs).context("running the CPU benchmark")?;
        output::say(&v.to_string());
        return Ok(ExitCode::SUCCESS);
    }
    let (c, source) = calibration(args.recalibrate)?;
    if args.json {
        output::say(&serde_json::to_string_pretty(&cpu::calibration_json(
            &c, source,
        ))?);
    } else {
        output::say(&cpu::describe(&c, source));
    }
    Ok(ExitCode::SUCCESS)
}
