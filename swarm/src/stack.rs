//! A stack's life on a Swarm, as `wotemu sweep --swarm` drives it between combinations: deployed from its
//! compose file, its agents awaited in its Redis, then removed and awaited until the engine has let go of
//! everything of it (services, the tasks' containers, networks, configs, secrets), so that the next stack
//! starts on a clean engine.
//!
//! Everything goes through the Engine API (bollard) but the deployment itself: the Engine API has no stacks —
//! `docker stack deploy` is the Docker CLI's translation of a compose file into networks, configs, secrets
//! and services — so [`deploy`] runs the CLI, exactly what a user of the compose file runs.

use std::path::Path;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListConfigsOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListSecretsOptionsBuilder, ListServicesOptionsBuilder,
};

use crate::engine::{engine, label_filter, STACK_LABEL};
use crate::Error;

/// `docker stack deploy --detach=true -c <compose> <stack>` (see the module's docs).
pub fn deploy(compose: &Path, stack: &str) -> Result<(), Error> {
    let out = std::process::Command::new("docker")
        .args(["stack", "deploy", "--detach=true", "-c"])
        .arg(compose)
        .arg(stack)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| Error::Io {
            what: "running `docker stack deploy` (is the Docker CLI installed?)".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Docker {
            what: format!("deploying stack `{stack}` from {}", compose.display()),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// What is left of a stack on the engine: (services, containers, networks, configs and secrets).
pub fn left(stack: &str) -> Result<usize, Error> {
    let (rt, docker, _) = engine()?;
    let filters = label_filter(STACK_LABEL, stack);
    let what = |e: bollard::errors::Error| Error::Docker {
        what: format!("listing what is left of stack `{stack}`"),
        message: e.to_string(),
    };
    rt.block_on(async {
        let services = docker
            .list_services(Some(
                ListServicesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(what)?
            .len();
        let containers = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(what)?
            .len();
        let networks = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(what)?
            .len();
        let configs = docker
            .list_configs(Some(
                ListConfigsOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(what)?
            .len();
        let secrets = docker
            .list_secrets(Some(
                ListSecretsOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(what)?
            .len();
        Ok(services + containers + networks + configs + secrets)
    })
}

/// Removes everything of a stack, as `docker stack rm` does (its services first; its networks, configs and
/// secrets once no task holds them), and waits (at most `within`) until the engine has removed all of it.
/// Returns how much is left when the time is up (0: all gone).
pub fn remove(stack: &str, within: Duration) -> Result<usize, Error> {
    let (rt, docker, _) = engine()?;
    let filters = label_filter(STACK_LABEL, stack);
    let deadline = Instant::now() + within;
    let services = rt
        .block_on(docker.list_services(Some(
            ListServicesOptionsBuilder::new().filters(&filters).build(),
        )))
        .map_err(|e| Error::Docker {
            what: format!("listing the services of stack `{stack}`"),
            message: e.to_string(),
        })?;
    for s in services {
        let Some(id) = s.id else { continue };
        if let Err(e) = rt.block_on(docker.delete_service(&id)) {
            tracing::warn!(service = %id, error = %e, "A service of the stack was not removed.");
        }
    }
    loop {
        // Networks, configs and secrets can go once no container holds them; the engine refuses before.
        rt.block_on(async {
            let opts = || Some(ListNetworksOptionsBuilder::new().filters(&filters).build());
            for n in docker.list_networks(opts()).await.unwrap_or_default() {
                if let Some(id) = n.id {
                    if let Err(e) = docker.remove_network(&id).await {
                        tracing::debug!(network = %id, error = %e, "Network not removed yet.");
                    }
                }
            }
            let opts = Some(ListConfigsOptionsBuilder::new().filters(&filters).build());
            for c in docker.list_configs(opts).await.unwrap_or_default() {
                if let Some(id) = c.id {
                    if let Err(e) = docker.delete_config(&id).await {
                        tracing::debug!(config = %id, error = %e, "Config not removed yet.");
                    }
                }
            }
            let opts = Some(ListSecretsOptionsBuilder::new().filters(&filters).build());
            for s in docker.list_secrets(opts).await.unwrap_or_default() {
                if let Some(id) = s.id {
                    if let Err(e) = docker.delete_secret(&id).await {
                        tracing::debug!(secret = %id, error = %e, "Secret not removed yet.");
                    }
                }
            }
        });
        let n = left(stack)?;
        if n == 0 || Instant::now() > deadline {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until `n` agents of the stack registered in its Redis (`wotemu:<stack>:tasks`), at most `within`;
/// `interrupted` is asked between tries (a signal to the caller ends the wait early: `Ok(None)`). Returns how
/// many registered.
pub fn wait_registered(
    redis_url: &str,
    stack: &str,
    n: usize,
    within: Duration,
    interrupted: &mut dyn FnMut(Duration) -> bool,
) -> Result<Option<usize>, Error> {
    let key = wotemu_contract::keys::StackKeys::new(stack).tasks();
    let deadline = Instant::now() + within;
    loop {
        let got: usize = redis::Client::open(redis_url)
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut c| redis::cmd("HLEN").arg(&key).query(&mut c))
            .unwrap_or(0);
        if got >= n {
            return Ok(Some(got));
        }
        if Instant::now() > deadline {
            return Err(Error::Usage(format!(
                "only {got} of the {n} agents of stack {stack} registered within {} s (images built? `docker service ps {stack}_…` tells)",
                within.as_secs()
            )));
        }
        if interrupted(Duration::from_millis(500)) {
            return Ok(None);
        }
    }
}
