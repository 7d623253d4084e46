//! `wotemu cpu-speed`: this host's CPU speed calibration (emulated `target_cpu_speed`).

use std::process::{Command, ExitCode};

use anyhow::Context;
use wotemu_lab::cpu::{self, Source};
use wotemu_sys::cpu_speed::Calibration;

use crate::cli::CpuSpeedArgs;
use crate::output;

/// The command that measures one calibration point: this binary's hidden `cpu-speed --measure`.
pub(crate) fn measure_cmd(seconds: f64) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "wotemu".into());
    let mut c = Command::new(exe);
    c.args(["cpu-speed", "--measure", &seconds.to_string()]);
    c
}

/// This host's calibration, saying whether it was measured now (about 10 s) or reused.
pub(crate) fn calibration(fresh: bool) -> anyhow::Result<(Calibration, Source)> {
    if !fresh && cpu::cached(&cpu::cache_path()).is_none() {
        output::note(
            "Calibrating this host's CPU speed (sysbench's CPU test at 5 CFS quotas, about 10 s)…",
        );
    }
    cpu::host_calibration(fresh, &measure_cmd).context("calibrating the host's CPU speed")
}

pub(crate) fn run(args: CpuSpeedArgs) -> anyhow::Result<ExitCode> {
    if let Some(secs) = args.measure {
        let v = cpu::measure_when_told(secs).context("running the CPU benchmark")?;
        output::say(&v.to_string());
        return Ok(ExitCode::SUCCESS);
    }
    let (c, source) = calibration(args.recalibrate)?;
    if args.json {
        let mut v = serde_json::to_value(&c)?;
        v["source"] = serde_json::json!(match source {
            Source::Cached => "cached",
            Source::Measured => "measured",
        });
        v["file"] = serde_json::json!(cpu::cache_path());
        output::say(&serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = vec![
        format!("CPU:          {} ({} cores)", c.cpu_model, c.cores),
        format!(
            "Speed:        {:.1} events/s on one CPU (sysbench cpu, --cpu-max-prime={}, one thread)",
            c.host_speed, c.max_prime
        ),
        format!(
            "Fit:          speed = {:.1} × quota {} {:.1}",
            c.slope,
            if c.intercept < 0.0 { "-" } else { "+" },
            c.intercept.abs()
        ),
    ];
    for p in &c.points {
        lines.push(format!(
            "  quota {:>5.1} % of a CPU: {:>9.1} events/s",
            p.quota * 100.0,
            p.speed
        ));
    }
    lines.push(format!(
        "Measured:     {} in {:.1} s ({})",
        c.measured_at,
        c.took_seconds,
        match source {
            Source::Cached => "cached, reused",
            Source::Measured => "measured now",
        }
    ));
    lines.push(format!("File:         {}", cpu::cache_path().display()));
    output::say(&lines.join("\n"));
    Ok(ExitCode::SUCCESS)
}
