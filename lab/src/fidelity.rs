//! The lab of `wotemu fidelity`: a throwaway bridge with three hosts (`gw`, `a`, `b` on 10.78.0.0/24), the
//! real `wotemu gateway` in `gw`, and `a` and `b` routing their WoT ports through it — the same namespaces,
//! veths and clean-up records as a run, so that the same teardown and `wotemu clean` apply.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use wotemu_gateway::fidelity::{self, Figure};
use wotemu_gateway::route::Route;
use wotemu_gateway::Backend;
use wotemu_sys::cleanup::{Item, Record};
use wotemu_topology::model::{Conditions, ConditionsEdit};

use crate::host;
use crate::Error;

/// What to measure.
#[derive(Debug, Clone)]
pub struct FidelityOptions {
    pub conditions: Conditions,
    /// Delays measured by ping (`--distribution ping:FILE`): one-way delays at evenly spaced quantiles.
    pub ping: Option<Vec<f64>>,
    /// A trace to replay on top of the conditions (the gateway's JSON `trace`), measured for `trace_secs`.
    pub trace: Option<serde_json::Value>,
    pub trace_secs: f64,
    pub backend: Backend,
    /// Why that backend (`wotemu_gateway::Backend::pick`'s reason).
    pub reason: String,
    /// The seed of the gateway's random decisions.
    pub seed: u64,
    /// The `wotemu` binary (it runs the gateway).
    pub exe: PathBuf,
}

impl FidelityOptions {
    /// What `wotemu fidelity` measures: the conditions the flags give (delays measured by ping read from
    /// their file, which set the latency and jitter the flags do not), on the backend asked for (`None`: the
    /// one this machine picks for them), with the trace file if any (see [`read_trace`]), the seed (`None`:
    /// drawn).
    pub fn new(
        set: &ConditionsEdit,
        backend: Option<Backend>,
        trace: (Option<&std::path::Path>, bool, Option<f64>),
        seed: Option<u64>,
        exe: PathBuf,
    ) -> Result<FidelityOptions, Error> {
        let mut conditions = set
            .apply(Conditions::default())
            .map_err(|e| Error::Plan(e.to_string()))?;
        let ping = match set.ping_file() {
            Some(f) => {
                let p = wotemu_topology::ping::read_file(std::path::Path::new(f))
                    .map_err(|e| Error::Plan(format!("--distribution: {e}")))?;
                let (mean, sd) = p.mean_sd();
                conditions.latency_ms = if set.delay.is_some() {
                    conditions.latency_ms
                } else {
                    mean
                };
                conditions.jitter_ms = if set.jitter.is_some() {
                    conditions.jitter_ms
                } else {
                    sd
                };
                Some(p.quantiles_ms)
            }
            None => None,
        };
        let mut opts = FidelityOptions {
            conditions,
            ping,
            trace: None,
            trace_secs: 0.0,
            backend: Backend::Userspace,
            reason: String::new(),
            seed: seed.unwrap_or_else(wotemu_topology::compose::draw_seed),
            exe,
        };
        let spec = wotemu_gateway::Spec::from_json(&opts.gateway_json().to_string())?;
        (opts.backend, opts.reason) = Backend::pick(backend, &spec)?;
        (opts.trace, opts.trace_secs) = read_trace(trace.0, trace.1, trace.2)?;
        Ok(opts)
    }

    /// The gateway's conditions JSON: the conditions, the measured delays, the trace, the seed.
    fn gateway_json(&self) -> serde_json::Value {
        let mut v = serde_json::Value::Object(wotemu_topology::compose::conditions_object(
            &self.conditions,
        ));
        if let Some(p) = &self.ping {
            v["ping"] = serde_json::json!(p);
        }
        if let Some(t) = &self.trace {
            v["trace"] = t.clone();
        }
        v["seed"] = self.seed.into();
        v
    }
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct FidelityOutcome {
    pub figures: Vec<Figure>,
    /// The gateway's own counters (`--stats-file`), when it wrote them.
    pub gateway: Option<serde_json::Value>,
}

/// The fidelity check's result, as `wotemu fidelity` prints it (`--json`: this document).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FidelityReport {
    pub conditions: Conditions,
    pub backend: Backend,
    pub reason: String,
    /// The gateway's seed (`--seed` repeats its random decisions).
    pub seed: u64,
    /// Every judged figure within its tolerance.
    pub pass: bool,
    pub figures: Vec<Figure>,
    pub gateway: Option<serde_json::Value>,
}

impl FidelityReport {
    pub fn new(opts: &FidelityOptions, measured: FidelityOutcome) -> FidelityReport {
        FidelityReport {
            conditions: opts.conditions,
            backend: opts.backend,
            reason: opts.reason.clone(),
            seed: opts.seed,
            pass: measured.figures.iter().all(|f| f.pass != Some(false)),
            figures: measured.figures,
            gateway: measured.gateway,
        }
    }

    /// The report for people: a table of configured, measured, tolerance and verdict per figure.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "Gateway backend: {} ({}); seed {}\n\n{:<18} {:>14} {:>14} {:>14}  {}\n",
            match self.backend {
                Backend::Kernel => "kernel netem + tbf",
                Backend::Userspace => "userspace shaper (NFQUEUE)",
            },
            self.reason,
            self.seed,
            "figure",
            "configured",
            "measured",
            "tolerance",
            "result"
        );
        for f in &self.figures {
            s.push_str(&format!(
                "{:<18} {:>14} {:>14} {:>14}  {}\n",
                f.name,
                f.configured
                    .map(|v| value(v, &f.unit))
                    .unwrap_or_else(|| "–".into()),
                value(f.measured, &f.unit),
                f.tolerance
                    .map(|t| format!("±{}", value(t, &f.unit)))
                    .unwrap_or_default(),
                match f.pass {
                    Some(true) => "pass",
                    Some(false) => "FAIL",
                    None => "",
                }
            ));
        }
        if let Some(p99) = self
            .gateway
            .as_ref()
            .and_then(|g| g.get("lateness_p99_us"))
            .and_then(|v| v.as_f64())
        {
            s.push_str(&format!(
                "\nShaper lateness beyond the planned release: p99 {p99:.0} µs\n"
            ));
        }
        s.push_str(if self.pass {
            "\nAll judged figures are within tolerance.\n"
        } else {
            "\nSome figures are out of tolerance.\n"
        });
        s
    }
}

/// A figure's value for people, in its unit.
fn value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    match unit {
        "bit/s" => wotemu_topology::units::format_rate(v.round() as u64),
        "ms" => format!("{v:.2} ms"),
        "%" => format!("{v:.2} %"),
        _ => format!("{v:.3} {unit}"),
    }
}

/// How long a trace replay measures by default: the trace once, its last row lasting as long as the one
/// before it, at most a minute.
pub fn trace_secs(t: &wotemu_topology::model::Trace) -> f64 {
    let n = t.points.len();
    let Some(last) = t.points.last().map(|p| p.at_ms) else {
        return 0.0;
    };
    let gap = if n > 1 {
        last - t.points[n - 2].at_ms
    } else {
        1000.0
    };
    ((last + gap) / 1000.0).min(60.0)
}

/// The trace file to replay, if any (`wotemu fidelity --trace`), as the gateway reads it, and how long to
/// measure it: `duration` seconds (at least 2), else [`trace_secs`]; `(None, 0)` without a file.
pub fn read_trace(
    file: Option<&std::path::Path>,
    linear: bool,
    duration: Option<f64>,
) -> Result<(Option<serde_json::Value>, f64), Error> {
    let Some(file) = file else {
        return Ok((None, 0.0));
    };
    let t = wotemu_topology::trace::read_file(file, linear).map_err(Error::Plan)?;
    let secs = duration.unwrap_or_else(|| trace_secs(&t));
    if !(secs.is_finite() && secs >= 2.0) {
        return Err(Error::Plan(format!(
            "--duration must be at least 2 seconds, not {secs}"
        )));
    }
    Ok((Some(wotemu_topology::compose::trace_json(&t)), secs))
}

/// The conditions as the gateway reads them: the JSON `wotemu compose` writes.
pub fn conditions_json(c: &Conditions) -> String {
    serde_json::Value::Object(wotemu_topology::compose::conditions_object(c)).to_string()
}

/// Builds the lab, runs the gateway, measures (calling `on_phase` as it goes), and removes the lab — also
/// when measuring fails or a signal arrives.
pub fn measure(
    opts: &FidelityOptions,
    signals: &mpsc::Receiver<i32>,
    on_phase: &(dyn Fn(&str) + Sync),
) -> Result<FidelityOutcome, Error> {
    if !wotemu_sys::is_root() {
        return Err(Error::NotRoot {
            what: "wotemu fidelity",
        });
    }
    let id = format!("f{:04x}", std::process::id() & 0xffff);
    let lab_ns = format!("wtm-{id}");
    let dir = wotemu_sys::state_root().join(&id);
    let mut rec = Record::create(&format!("fidelity {id}")).map_err(|source| Error::Io {
        what: "creating the clean-up record".into(),
        source,
    })?;
    let mut gateway: Option<Child> = None;
    let result = (|| {
        host::record(&mut rec, Item::Path { path: dir.clone() })?;
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        let lab = build(&mut rec, &lab_ns)?;
        let ready = dir.join("gateway.ready");
        let stats = dir.join("gateway.json");
        let json = opts.gateway_json().to_string();
        let spec = wotemu_gateway::Spec::from_json(&json)?;
        // One gateway per pass: a trace starts again at its first row for each.
        let passes: Vec<Option<fidelity::TracePass>> = if opts.trace.is_some() {
            fidelity::trace_passes(&spec)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None]
        };
        let mut figures = Vec::new();
        for pass in passes {
            let _ = std::fs::remove_file(&ready);
            let args: Vec<String> = [
                "-q",
                "gateway",
                "--network",
                "fidelity",
                "--conditions",
                &json,
                "--backend",
                match opts.backend {
                    Backend::Kernel => "kernel",
                    Backend::Userspace => "userspace",
                },
                "--ready-file",
                &ready.to_string_lossy(),
                "--stats-file",
                &stats.to_string_lossy(),
            ]
            .map(str::to_owned)
            .to_vec();
            let child = host::spawn_netns_exec(
                &mut rec,
                &format!("{lab_ns}-gw"),
                &opts.exe,
                &args,
                &[],
                &dir.join("gateway.log"),
            )?;
            let child = gateway.insert(child);
            wait_ready(child, &ready, &dir.join("gateway.log"))?;
            // `ready <start>`: the time the trace counts from.
            let start_ns: u64 = std::fs::read_to_string(&ready)
                .ok()
                .and_then(|t| t.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or_else(wotemu_gateway::sys::monotonic_ns);
            let more = std::thread::scope(|s| {
                let h = s.spawn(|| match pass {
                    None => {
                        fidelity::measure(&lab, &opts.conditions, spec.ping.as_deref(), on_phase)
                    }
                    Some(p) => {
                        fidelity::measure_trace(&lab, &spec, p, start_ns, opts.trace_secs, on_phase)
                    }
                });
                // A signal stops the waiting; the lab is removed below either way.
                loop {
                    if h.is_finished() {
                        return h
                            .join()
                            .unwrap_or_else(|p| std::panic::resume_unwind(p))
                            .map_err(Error::from);
                    }
                    if signals.recv_timeout(Duration::from_millis(50)).is_ok() {
                        return Err(Error::Interrupted);
                    }
                }
            })?;
            figures.extend(more);
            // Stop the gateway so that it writes its final counters.
            wotemu_sys::process::signal_group(child.id(), libc::SIGTERM);
            if let Err(e) = child.wait() {
                tracing::debug!(error = %e, "Gateway already reaped.");
            }
        }
        let gateway = std::fs::read(&stats)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        Ok(FidelityOutcome { figures, gateway })
    })();
    let gateway_pid = gateway.as_ref().map(Child::id);
    let mut problems = rec.undo_all();
    if let Some(mut g) = gateway {
        if let Err(e) = g.wait() {
            tracing::debug!(error = %e, "Gateway already reaped.");
        }
    }
    for found in wotemu_sys::cleanup::list(&wotemu_sys::cleanup::dir()) {
        if !found.alive && Some(found.header.owner) == gateway_pid {
            problems.extend(wotemu_sys::cleanup::undo(&found));
        }
    }
    for p in problems {
        tracing::warn!(problem = %p, "The fidelity lab left something behind; run `wotemu clean`.");
    }
    result
}

/// Waits until the gateway wrote its ready file (15 s at most); a gateway that exits first is an error with
/// its log.
fn wait_ready(
    child: &mut Child,
    ready: &std::path::Path,
    log: &std::path::Path,
) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !ready.exists() {
        if let Some(st) = child.try_wait().map_err(|source| Error::Io {
            what: "waiting for the gateway".into(),
            source,
        })? {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(Error::Plan(format!(
                "the gateway exited before it was ready ({st}): {}",
                log.trim()
            )));
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Timeout {
                what: "the fidelity gateway".into(),
                secs: 15,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The lab: `wtm-fXXXX` (bridge `br0`) and `-gw`, `-a`, `-b` hosts on 10.78.0.0/24.
fn build(rec: &mut Record, lab_ns: &str) -> Result<fidelity::Lab, Error> {
    host::add_namespace(rec, lab_ns)?;
    host::add_bridge(lab_ns, "br0")?;
    host::bridge_netfilter_off(lab_ns);
    for (i, name) in ["gw", "a", "b"].iter().enumerate() {
        let ns = format!("{lab_ns}-{name}");
        host::add_namespace(rec, &ns)?;
        host::plug(
            lab_ns,
            "br0",
            &format!("p{i}"),
            &ns,
            "eth0",
            &format!("10.78.0.{}/24", i + 1),
        )?;
    }
    let route = Route {
        subnet: "10.78.0.0/24".into(),
        gateway: "10.78.0.1".into(),
        index: 0,
        tcp_ports: vec![80, 81, 1883, 9090],
        udp_ports: vec![5683],
    };
    for name in ["a", "b"] {
        let r = route.clone();
        wotemu_sys::netns::run_in(&format!("{lab_ns}-{name}"), move || {
            wotemu_gateway::route::install(&r).map_err(Error::from)
        })?;
    }
    Ok(fidelity::Lab {
        a_ns: format!("{lab_ns}-a"),
        a_addr: Ipv4Addr::new(10, 78, 0, 2),
        b_ns: format!("{lab_ns}-b"),
        b_addr: Ipv4Addr::new(10, 78, 0, 3),
        wot_port: 5683,
        other_port: 7000,
    })
}
