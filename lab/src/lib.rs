//! The one-host runner of wotemu (`wotemu run`): a validated topology becomes a [`RunPlan`] (pure: names,
//! addresses, hosts files, routes, commands, limits — unit-tested without root), then a [`Lab`] that builds
//! it in network namespaces, bridges and cgroups, starts Redis, the gateways and the replicas, supervises
//! them (restarts, live status), stops them so that the caller can collect from the run's Redis, and tears
//! everything down. The fidelity lab of `wotemu fidelity` ([`fidelity`]) is built the same way.
//!
//! Everything the runner creates on the host is first written to a crash clean-up record
//! ([`wotemu_sys::cleanup`]), so that `wotemu clean` removes it after a crash; the run's state file
//! ([`state`]) says who runs it and where its dataset goes.
//!
//! After [`Lab::stop`], [`Lab::collect`] writes the run's dataset; crashed runs are saved and what they left
//! is removed by [`clean`] (with [`salvage`]).
//!
//! This crate must never render a report (its callers do, with the reporter), print (progress goes through
//! [`Observer`]), or leave anything on the host that is not in a record.

pub mod cgroups;
pub mod clean;
pub mod cpu;
pub mod doctor;
pub mod fidelity;
pub mod host;
pub mod launch;
pub mod limits;
pub mod live;
pub mod plan;
mod run;
pub mod salvage;
pub mod scenario;
pub mod state;
mod timeline;
pub mod venv;
pub mod zygote;

pub use plan::{PlanOptions, RunPlan};
pub use run::{Ended, Lab, Observer, Status, Teardown};
pub use timeline::{runner_task, RUNNER_NODE};

use std::path::PathBuf;

/// Why a run (or the fidelity lab) could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology does not fit a one-host run.
    #[error("{0}")]
    Plan(String),
    #[error("{what} needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces and cgroups; run it with sudo")]
    NotRoot { what: &'static str },
    #[error("{program} is missing: {hint}")]
    Missing { program: String, hint: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Redis: {what}: {source}")]
    Redis {
        what: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("waited {secs} s for {what} in vain")]
    Timeout { what: String, secs: u64 },
    #[error("the gateway of network {network} exited ({status}); its log: {}", log.display())]
    GatewayExited {
        network: String,
        status: String,
        log: PathBuf,
    },
    #[error(transparent)]
    Command(#[from] wotemu_sys::CommandError),
    #[error(transparent)]
    Gateway(#[from] wotemu_gateway::Error),
    #[error("{what}: {source}")]
    Context {
        what: String,
        #[source]
        source: Box<Error>,
    },
    #[error("interrupted")]
    Interrupted,
    /// Someone else does it already.
    #[error("{0}")]
    Busy(String),
    #[error("{what}")]
    Collect {
        what: String,
        #[source]
        source: wotemu_collector::Error,
    },
}

impl Error {
    /// This error, said to have happened while doing `what`.
    pub fn context(self, what: String) -> Error {
        Error::Context {
            what,
            source: Box::new(self),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            what: "a system call".into(),
            source,
        }
    }
}
