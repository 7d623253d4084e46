//! Network emulation for wotemu.
//!
//! - [`gateway`]: what `wotemu gateway` runs in each network's gateway: the network's conditions applied to
//!   forwarded traffic, by the kernel (`tc` netem + tbf, WoTemu 0.6's qdiscs) when `sch_netem` exists, or by
//!   the userspace shaper ([`userspace`], NFQUEUE) otherwise. Both follow netem's semantics ([`shaper`]).
//! - [`route`]: what `wotemu route` installs in each node: WoT traffic through the gateways.
//! - [`probe`] and [`fidelity`]: measuring what a gateway achieves against what was configured.
//! - [`cleanup`]: the undo commands of a gateway, in a crash clean-up record of [`wotemu_sys::cleanup`].
//!
//! This crate must never change a firewall rule, qdisc or route without first recording how to undo it,
//! assume `sch_netem` exists (it is detected), or fail open (a packet the shaper cannot take is dropped and
//! counted, never forwarded unshaped).

pub mod cleanup;
pub mod fidelity;
pub mod kernel;
pub mod nfqueue;
pub mod probe;
pub mod route;
pub mod shaper;
pub mod spec;
pub mod sys;
pub mod userspace;

use std::sync::atomic::{AtomicBool, Ordering};

pub use spec::Spec;

/// Errors of the network emulation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid conditions: {0}")]
    Spec(String),
    #[error(transparent)]
    Command(#[from] wotemu_sys::CommandError),
    #[error("cannot enter network namespace {name}: {message}")]
    Netns { name: String, message: String },
    #[error("{0}")]
    Queue(String),
    #[error("measurement failed: {0}")]
    Probe(String),
    #[error("{0}")]
    Route(String),
}

/// Which shaper applies the conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `tc` netem + tbf.
    Kernel,
    /// The NFQUEUE shaper of this crate.
    Userspace,
}

impl Backend {
    /// The backend for `spec` on this machine: the kernel's when it has netem and can express every step of
    /// the conditions; the userspace shaper otherwise. Also says why.
    pub fn choose(spec: &Spec) -> (Backend, &'static str) {
        let expressible = std::iter::once(&spec.base)
            .chain(spec.schedule.iter().map(|s| &s.conditions))
            .all(kernel::can_express);
        if !expressible {
            (Backend::Userspace, "rate_up needs the userspace shaper")
        } else if kernel::has_netem() {
            (Backend::Kernel, "the kernel has sch_netem")
        } else {
            (Backend::Userspace, "the kernel has no sch_netem")
        }
    }
}

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub backend: Backend,
    /// Service ports (TCP and UDP): packets to them count as "up" for `rate_up`.
    pub ports: Vec<u16>,
    pub queue_num: u16,
    /// Devices the kernel backend shapes; all but `lo` when empty.
    pub devices: Vec<String>,
    pub seed: u64,
}

/// The network devices of the current namespace except `lo`.
pub fn devices() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs a gateway in the current network namespace until `stop` is set. `on_ready` is called once the
/// conditions apply to forwarded traffic; `on_tick` gets the counters about once a second (userspace
/// backend).
pub fn run_gateway(
    spec: &Spec,
    opts: &GatewayOptions,
    stop: &AtomicBool,
    on_ready: impl FnOnce(),
    on_tick: impl FnMut(&userspace::Report),
) -> Result<userspace::Report, Error> {
    route::gateway_sysctls()?;
    match opts.backend {
        Backend::Userspace => userspace::run(
            spec,
            &userspace::Options {
                queue_num: opts.queue_num,
                ports: opts.ports.clone(),
                seed: opts.seed,
            },
            stop,
            on_ready,
            on_tick,
        ),
        Backend::Kernel => {
            let devs = if opts.devices.is_empty() {
                devices()
            } else {
                opts.devices.clone()
            };
            let mut rec = cleanup::Undo::new("gateway");
            kernel::install(&devs, &spec.at(0.0), &mut rec)?;
            on_ready();
            let start = sys::monotonic_ns();
            let changes = spec.changes();
            let mut next = 0;
            while !stop.load(Ordering::Relaxed) {
                let t_ms = (sys::monotonic_ns() - start) as f64 / 1e6;
                while next < changes.len() && t_ms >= changes[next] {
                    let c = spec.at(changes[next]);
                    for d in &devs {
                        kernel::apply(d, &c, true)?;
                    }
                    next += 1;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            rec.undo();
            Ok(userspace::Report::default())
        }
    }
}
