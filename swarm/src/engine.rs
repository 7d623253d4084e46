//! The Docker engine this process talks to (`DOCKER_HOST`, or the local socket), through bollard on a
//! current-thread runtime: one way to reach it for the whole crate.

use std::time::Duration;

use bollard::Docker;

use crate::Error;

/// The label `docker stack deploy` puts on everything of a stack (services, networks, configs, secrets and
/// the tasks' containers).
pub const STACK_LABEL: &str = "com.docker.stack.namespace";

/// The engine's address, for messages.
pub(crate) fn host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// A client of the engine, answering, with the runtime its calls run on and the engine's address.
pub(crate) fn engine() -> Result<(tokio::runtime::Runtime, Docker, String), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Engine {
            host: "(local)".into(),
            message: format!("starting the Docker API client: {e}"),
        })?;
    let host = host();
    let docker = Docker::connect_with_defaults()
        .map_err(|e| Error::Engine {
            host: host.clone(),
            message: e.to_string(),
        })?
        .with_timeout(Duration::from_secs(30));
    rt.block_on(docker.ping()).map_err(|e| Error::Engine {
        host: host.clone(),
        message: e.to_string(),
    })?;
    Ok((rt, docker, host))
}

/// Filters that select what carries the label `key=value`.
pub(crate) fn label_filter(
    key: &str,
    value: &str,
) -> std::collections::HashMap<&'static str, Vec<String>> {
    let mut f = std::collections::HashMap::new();
    f.insert("label", vec![format!("{key}={value}")]);
    f
}
