//! The Swarm side of wotemu (the engine for more than one host; `wotemu compose` writes the stack):
//!
//! - [`stop`]: `wotemu stop --compose-file FILE --stack NAME`, the end of a Swarm run as WoTemu 0.6 did it —
//!   a snapshot of every task (state, error, logs) into the stack's Redis, every service but Redis removed,
//!   the agents' last data awaited, and the run dataset collected;
//! - [`compose`]: `wotemu compose`, the stack's compose file and the password file beside it;
//! - [`broker`]: `wotemu broker`, a stack's MQTT broker (Mosquitto);
//! - [`proxy`]: `wotemu docker-api-proxy`, the stack's read-only view of the Docker API for its agents;
//! - [`redis_server`]: `wotemu redis-server`, the stack's Redis with its password;
//! - [`password`]: the stack's Redis password (a Docker secret from a file beside the compose file);
//! - [`scenario`]: `wotemu scenario`, the stack's scenario service (the topology's timed events through the
//!   Docker API), and [`host_exec`], `wotemu scenario-exec`, its executor on each other host;
//! - [`stack`]: a stack's deployment and removal (what `wotemu sweep --swarm` does between combinations);
//! - [`hosts`]: `wotemu swarm up | status | down`, a Swarm of several Docker hosts on this one machine.
//!
//! This crate must never write to the Docker engine beyond deploying and removing the stack it is asked to,
//! removing the services of the stack it is asked to stop and what a scenario's steps do to the stack's own
//! tasks and services, and what `wotemu swarm up` makes and `down` removes (its own containers, volumes and
//! node labels; swarm mode only when `up` turned it on), print (progress goes through
//! the collector's `Progress`), or trim the stack's Redis.

pub mod broker;
pub mod compose;
mod engine;
pub mod host_exec;
pub mod hosts;
pub mod password;
pub mod proxy;
pub mod redis_server;
pub mod scenario;
pub mod stack;
pub mod stop;

pub use engine::STACK_LABEL;
pub use stop::{stop, StopOptions, Stopped};

/// Why the stack could not be stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach the Docker engine at {host}: {message}; is dockerd running (and DOCKER_HOST right)?")]
    Engine { host: String, message: String },
    #[error("the Docker engine at {host} is not a Swarm manager ({message}); run wotemu stop on a manager of the Swarm the stack was deployed to")]
    NotManager { host: String, message: String },
    #[error("no stack named `{0}` is deployed on this Swarm (`docker stack ls` lists the stacks; the name is the one given to `docker stack deploy`)")]
    NoStack(String),
    #[error("{what}: {message}")]
    Docker { what: String, message: String },
    #[error("cannot reach the stack's Redis at {url}: {source}; the compose file publishes it on port 6379 of the Swarm's hosts (give --redis-url)")]
    RedisUnreachable {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis: {what}: {source}")]
    Redis {
        what: String,
        #[source]
        source: redis::RedisError,
    },
    #[error(transparent)]
    Collect(#[from] wotemu_collector::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
