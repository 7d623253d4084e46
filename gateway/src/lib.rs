//! Network emulation for wotemu.
//!
//! - [`gateway`]: what `wotemu gateway` runs in each network's gateway: the network's conditions applied to
//!   forwarded traffic, by the kernel (`tc` netem + tbf, WoTemu 0.6's qdiscs) when `sch_netem` exists, or by
//!   the userspace shaper ([`userspace`], NFQUEUE) otherwise. Both follow netem's semantics ([`shaper`]).
//! - [`service`]: around it, the gateway's status files and its [`recorder`].
//! - [`route`]: what `wotemu route` installs in each node: WoT traffic through the gateways.
//! - [`probe`] and [`fidelity`]: measuring what a gateway achieves against what was configured.
//! - [`recorder`]: what `wotemu gateway --record` ships: its windows and changes as dataset records, its state
//!   now for `wotemu net show`, live changes from `wotemu net set`.
//! - [`cleanup`]: the undo commands of a gateway, in a crash clean-up record of [`wotemu_sys::cleanup`].
//!
//! This crate must never change a firewall rule, qdisc or route without first recording how to undo it,
//! assume `sch_netem` exists (it is detected), or fail open (a packet the shaper cannot take is dropped and
//! counted, never forwarded unshaped).

pub mod account;
pub mod cleanup;
pub mod dist;
pub mod fidelity;
pub mod kernel;
pub mod nfqueue;
pub mod probe;
pub mod recorder;
pub mod route;
pub mod service;
pub mod shaper;
pub mod spec;
pub mod sys;
pub mod userspace;

use std::sync::atomic::{AtomicBool, Ordering};

pub use spec::Spec;
use wotemu_topology::model::Conditions;

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
    #[error("{0} needs root (or CAP_NET_ADMIN): it changes firewall rules, routes and qdiscs")]
    NotRoot(&'static str),
    #[error("the gateway's recorder: {0}")]
    Recorder(#[from] wotemu_ship::Error),
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
    /// The backend `asked` for (`None`: chosen for `spec` on this machine, [`Backend::choose`]) and why; the
    /// kernel's needs `sch_netem`.
    pub fn pick(asked: Option<Backend>, spec: &Spec) -> Result<(Backend, String), Error> {
        let (b, why) = match asked {
            None => {
                let (b, why) = Backend::choose(spec);
                (b, why.to_owned())
            }
            Some(b) => (b, "asked for".to_owned()),
        };
        let refused = spec
            .all_conditions()
            .iter()
            .find_map(kernel::cannot_express);
        if let (Backend::Kernel, Some(what)) = (b, refused) {
            return Err(Error::Spec(format!(
                "--backend kernel cannot apply {what}; use --backend userspace (or auto)"
            )));
        }
        if b == Backend::Kernel && !kernel::has_netem() {
            return Err(Error::Spec(
                "--backend kernel: this kernel has no sch_netem; use --backend userspace (or auto)"
                    .into(),
            ));
        }
        Ok((b, why))
    }

    /// The backend for `spec` on this machine: the kernel's when it has netem and can express every step of
    /// the conditions; the userspace shaper otherwise. Also says why.
    pub fn choose(spec: &Spec) -> (Backend, &'static str) {
        if let Some(what) = spec
            .all_conditions()
            .iter()
            .find_map(kernel::cannot_express)
        {
            (Backend::Userspace, what)
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
    /// Measure each window's delay and lateness per direction (userspace backend).
    pub windows: bool,
    /// How far into its schedule and trace the gateway starts (ms): a restarted gateway goes on from where
    /// the first one was.
    pub elapsed_ms: f64,
}

/// What a running gateway tells its caller, and asks it.
pub trait Hooks {
    /// The conditions apply to forwarded traffic; the schedule's and trace's times count from `start_ns`
    /// (`CLOCK_MONOTONIC`, the same in every process of the host).
    fn ready(&mut self, _start_ns: u64) {}
    /// About once a second: the counters so far and the window since the previous tick.
    fn tick(&mut self, _report: &userspace::Report) {}
    /// The conditions changed, planned at `planned_ms` (from the start) or live.
    fn changed(&mut self, _source: Change, _old: &Conditions, _new: &Conditions) {}
    /// Conditions to apply now (a live change), polled often; `None`: no change.
    fn live(&mut self) -> Option<Conditions> {
        None
    }
}

/// Why the conditions changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// A step of the schedule, planned at this time (ms from the start).
    Schedule(f64),
    /// A row of the trace, planned at this time.
    Trace(f64),
    /// `wotemu net set`.
    Live,
}

impl Change {
    /// The planned time of a schedule step or trace row, or of the change at `(t, schedule?)`.
    fn planned(t: f64, schedule: bool) -> Change {
        if schedule {
            Change::Schedule(t)
        } else {
            Change::Trace(t)
        }
    }
}

/// Hooks that do nothing.
pub struct NoHooks;
impl Hooks for NoHooks {}

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

/// Runs a gateway in the current network namespace until `stop` is set, telling `hooks` what happens.
pub fn run_gateway(
    spec: &Spec,
    opts: &GatewayOptions,
    stop: &AtomicBool,
    hooks: &mut impl Hooks,
) -> Result<userspace::Report, Error> {
    route::gateway_sysctls()?;
    match opts.backend {
        Backend::Userspace => userspace::run(
            spec,
            &userspace::Options {
                queue_num: opts.queue_num,
                ports: opts.ports.clone(),
                seed: opts.seed,
                windows: opts.windows,
                elapsed_ms: opts.elapsed_ms,
            },
            stop,
            hooks,
        ),
        Backend::Kernel => {
            let devs = if opts.devices.is_empty() {
                devices()
            } else {
                opts.devices.clone()
            };
            let mut rec = cleanup::Undo::new("gateway");
            let mut current = spec.at(opts.elapsed_ms);
            kernel::install(&devs, &current, &mut rec)?;
            let start = sys::monotonic_ns().saturating_sub((opts.elapsed_ms * 1e6) as u64);
            hooks.ready(start);
            let mut next = spec.next_change(opts.elapsed_ms);
            let mut next_tick = start + 1_000_000_000;
            let apply = |c: &Conditions| -> Result<(), Error> {
                for d in &devs {
                    kernel::apply(d, c, true)?;
                }
                Ok(())
            };
            let report = |c: Conditions| {
                let k = kernel::stats(&devs);
                userspace::Report {
                    stats: shaper::Stats {
                        received: k.packets + k.dropped,
                        forwarded: k.packets,
                        bytes_forwarded: k.bytes,
                        dropped_rate: k.dropped,
                        ..Default::default()
                    },
                    conditions: c,
                    windows: [
                        userspace::Window::default(),
                        userspace::Window {
                            queue_packets: k.backlog,
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }
            };
            while !stop.load(Ordering::Relaxed) {
                let now = sys::monotonic_ns();
                let t_ms = (now - start) as f64 / 1e6;
                while let Some((at, sched)) = next.filter(|(at, _)| t_ms >= *at) {
                    let c = spec.at(at);
                    if c != current {
                        apply(&c)?;
                        hooks.changed(Change::planned(at, sched), &current, &c);
                        current = c;
                    }
                    next = spec.next_change(at);
                }
                if let Some(c) = hooks.live() {
                    if let Some(what) = kernel::cannot_express(&c) {
                        // The change is refused whole (its sender, which waits to see it in force, says
                        // it was not), never applied in part.
                        tracing::error!(conditions = ?c, "The kernel backend cannot apply {what}; run this network's gateway with --backend userspace.");
                    } else {
                        apply(&c)?;
                        hooks.changed(Change::Live, &current, &c);
                        current = c;
                    }
                }
                if now >= next_tick {
                    hooks.tick(&report(current));
                    next_tick = now + 1_000_000_000;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let r = report(current);
            rec.undo();
            Ok(r)
        }
    }
}
