//! What `wotemu gateway` runs in each network's gateway, around [`crate::run_gateway`]: the status files its
//! runner reads (`ready <start>` once shaping, the counters every second and at the end) and, with
//! `--record`, the [`Recorder`] that ships its windows and changes and takes live changes.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::Serialize;
use wotemu_topology::model::Conditions;

use crate::recorder::{Recorder, RecorderConfig};
use crate::userspace::Report;
use crate::{Backend, Change, GatewayOptions, Hooks, Spec};

/// The gateway's service: its network, why its backend, where it reports.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub network: String,
    /// Why this backend (`the kernel has no sch_netem`, `asked for`, …).
    pub reason: String,
    /// `ready <start ns>` is written here once the conditions apply.
    pub ready_file: Option<PathBuf>,
    /// The counters ([`Summary`] as JSON), rewritten every second and at the end.
    pub stats_file: Option<PathBuf>,
    /// Ship windows and changes to the stack's Redis and take live changes (`--record`).
    pub record: Option<RecorderConfig>,
}

/// What a gateway did: its counters with its network and backend.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub network: String,
    pub backend: Backend,
    pub reason: String,
    #[serde(flatten)]
    pub report: Report,
}

/// The service ports of the WoT protocols in this environment (`PORT_*`, as `wotemu compose` sets them)
/// and `extra`, sorted, without repeats.
pub fn ports(extra: &[u16]) -> Vec<u16> {
    let (tcp, udp) = crate::route::ports_from_env();
    let mut ports: Vec<u16> = tcp
        .into_iter()
        .chain(udp)
        .chain(extra.iter().copied())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Writes a status file whole; a failure is logged, the gateway goes on.
fn write_status(path: &std::path::Path, bytes: &[u8]) {
    if let Err(e) = wotemu_sys::fs::replace(path, bytes) {
        tracing::warn!(file = %path.display(), error = %e, "Cannot write a status file.");
    }
}

/// The status files, then the recorder.
struct ServiceHooks<'a> {
    svc: &'a ServiceOptions,
    backend: Backend,
    recorder: Option<Recorder>,
}

impl ServiceHooks<'_> {
    fn summary(&self, r: &Report) -> Summary {
        Summary {
            network: self.svc.network.clone(),
            backend: self.backend,
            reason: self.svc.reason.clone(),
            report: r.clone(),
        }
    }
}

impl Hooks for ServiceHooks<'_> {
    fn ready(&mut self, start_ns: u64) {
        if let Some(f) = &self.svc.ready_file {
            // `ready <start>`: the monotonic time the schedule counts from (the fidelity check aligns its
            // measurements with it).
            write_status(f, format!("ready {start_ns}\n").as_bytes());
        }
    }
    fn tick(&mut self, r: &Report) {
        if let Some(f) = &self.svc.stats_file {
            write_status(f, &serde_json::to_vec(&self.summary(r)).unwrap_or_default());
        }
        if let Some(rec) = &mut self.recorder {
            rec.tick(r);
        }
    }
    fn changed(&mut self, source: Change, old: &Conditions, new: &Conditions) {
        if let Some(rec) = &mut self.recorder {
            rec.changed(source, old, new);
        }
    }
    fn live(&mut self) -> Option<Conditions> {
        self.recorder.as_mut().and_then(|r| r.live())
    }
}

/// What `wotemu gateway` is asked for, as its flags say it: turned into the shaper's and the service's
/// options by [`Request::serve`].
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The conditions as JSON, as `wotemu compose` writes them.
    pub conditions: String,
    /// The network's name (`network` when absent).
    pub network: Option<String>,
    /// The backend asked for (`None`: chosen for the conditions on this machine).
    pub backend: Option<Backend>,
    pub queue_num: u16,
    pub devices: Vec<String>,
    /// Service ports beyond the environment's WoT ports.
    pub extra_ports: Vec<u16>,
    /// The random decisions' seed (default: the clock).
    pub seed: Option<u64>,
    pub ready_file: Option<PathBuf>,
    pub stats_file: Option<PathBuf>,
    /// Record in the stack's Redis, with the producer read from `env` (the node's environment contract).
    pub record: bool,
    pub schedule_from_us: Option<i64>,
}

impl Request {
    /// Checks the conditions, picks the backend and runs the service until `stop`.
    pub fn serve(
        &self,
        env: &std::collections::BTreeMap<String, String>,
        stop: &AtomicBool,
    ) -> Result<Summary, crate::Error> {
        if !wotemu_sys::is_root() {
            return Err(crate::Error::NotRoot("wotemu gateway"));
        }
        let spec = Spec::from_json(&self.conditions)?;
        let (backend, reason) = Backend::pick(self.backend, &spec)?;
        let network = self.network.clone().unwrap_or_else(|| "network".into());
        let opts = GatewayOptions {
            backend,
            ports: ports(&self.extra_ports),
            queue_num: self.queue_num,
            devices: self.devices.clone(),
            seed: self
                .seed
                .or(spec.seed)
                .unwrap_or_else(crate::sys::monotonic_ns),
            windows: true,
            elapsed_ms: self
                .schedule_from_us
                .map(|t| ((wotemu_contract::time_util::now_us() - t) as f64 / 1000.0).max(0.0))
                .unwrap_or(0.0),
        };
        let svc = ServiceOptions {
            network: network.clone(),
            reason: reason.clone(),
            ready_file: self.ready_file.clone(),
            stats_file: self.stats_file.clone(),
            record: self.record.then(|| RecorderConfig {
                producer: wotemu_ship::ProducerConfig::from_env(env),
                network,
                backend,
                reason,
                schedule_from_us: self.schedule_from_us,
            }),
        };
        serve(&spec, &opts, &svc, stop)
    }
}

/// Runs the gateway's service until `stop`: shapes, writes its status files, records; returns its summary
/// (also written to the stats file).
pub fn serve(
    spec: &Spec,
    opts: &GatewayOptions,
    svc: &ServiceOptions,
    stop: &AtomicBool,
) -> Result<Summary, crate::Error> {
    let _span = tracing::info_span!("gateway", network = %svc.network).entered();
    tracing::info!(backend = ?opts.backend, why = %svc.reason, conditions = ?spec.base, seed = opts.seed, "Gateway starting.");
    let recorder = match &svc.record {
        Some(cfg) => Some(Recorder::start(cfg.clone())?),
        None => None,
    };
    let mut hooks = ServiceHooks {
        svc,
        backend: opts.backend,
        recorder,
    };
    let result = crate::run_gateway(spec, opts, stop, &mut hooks);
    if let Some(rec) = hooks.recorder.take() {
        let last = result.as_ref().cloned().unwrap_or_default();
        let drained = rec.finish(&last, result.as_ref().err().map(|e| e.to_string()));
        if drained.left_in_spool > 0 {
            tracing::warn!(
                entries = drained.left_in_spool,
                spool = %drained.spool_path.display(),
                "Redis did not take every window; they wait in the spool for the collector."
            );
        }
    }
    let summary = hooks.summary(&result?);
    if let Some(f) = &svc.stats_file {
        write_status(f, &serde_json::to_vec(&summary).unwrap_or_default());
    }
    tracing::info!(report = ?summary.report, "Gateway stopped.");
    Ok(summary)
}
