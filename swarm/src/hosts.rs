//! `wotemu swarm up | status | down`: a Swarm of several Docker hosts on this one machine, to try many hosts
//! as `kind` lets one try Kubernetes.
//!
//! This machine's engine is the manager (it advertises its `docker0` address); each worker host is a
//! container of the `wotemu/host` image (Debian's `docker.io`) running a `dockerd` of its own with the
//! `fuse-overlayfs` storage driver on a volume, every capability but the ones the engine will not give
//! (`--privileged` fails where the engine's bounding set lacks `CAP_SYS_RESOURCE`), its own CPU and memory
//! limits, and the Swarm node label `wotemu.host=worker-N`. Images reach the workers as in a real cluster:
//! through a registry (Debian's `docker-registry`, in the same image) published on the manager's
//! `127.0.0.1:PORT`; each worker forwards its own `127.0.0.1:PORT` to it, so one image name
//! (`127.0.0.1:PORT/wotemu/wotemu:…`) works on every host and no engine needs an insecure-registry setting.
//! Services must resolve each other with `endpoint_mode: dnsrr` (this kernel has no IPVS), which is what
//! `wotemu compose` writes.
//!
//! What `up` creates is written to `<state root>/swarm-hosts.json` before it is created, so `down` (and
//! `wotemu clean`) undo exactly that, also after a crashed `up`, and leave the engine as found: swarm mode
//! left only if `up` turned it on, `docker_gwbridge` removed only if it was not there, images only with
//! `--prune`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, NodeSpec, NodeState, PortBinding,
    SwarmInitRequest, SwarmJoinRequest, TaskState,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DeleteNodeOptionsBuilder, LeaveSwarmOptionsBuilder,
    ListImagesOptionsBuilder, ListNodesOptions, ListTasksOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, UpdateNodeOptions,
};
use bollard::Docker;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The Swarm node label naming a host (`placement: {host: worker-1}` is the constraint on it).
pub use wotemu_topology::placement::HOST_LABEL;
/// The label on every container and volume `up` creates.
const OWNER_LABEL: &str = "wotemu.swarm-hosts";
/// The port each worker's engine API listens on, in the workers' bridge network only.
const WORKER_API_PORT: u16 = 2375;

/// The capabilities a worker's `dockerd` gets: every one but `CAP_SYS_RESOURCE` (which an engine whose own
/// bounding set lacks it refuses, as it refuses `--privileged`).
const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
];

/// What `wotemu swarm up` is asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Hosts in all, the manager (this engine) included: at least 2.
    pub hosts: usize,
    /// CPUs of each worker, in order; the last one given holds for the rest.
    pub cpus: Vec<f64>,
    /// Memory of each worker in bytes, in order; the last one given holds for the rest.
    pub memory: Vec<u64>,
    /// The workers' image (Debian's docker.io and docker-registry): `wotemu/host:VERSION`.
    pub image: String,
    /// The registry's port on the manager's 127.0.0.1 (and on each worker's).
    pub registry_port: u16,
}

impl UpOptions {
    /// Three hosts, 1 CPU and 4 GiB per worker, the registry on port 5000.
    pub fn new(hosts: usize) -> UpOptions {
        UpOptions {
            hosts,
            cpus: vec![1.0],
            memory: vec![4 << 30],
            image: format!("wotemu/host:{}", env!("CARGO_PKG_VERSION")),
            registry_port: 5000,
        }
    }
}

/// A worker host: a container with a `dockerd` of its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerHost {
    /// Its Swarm node's hostname and `wotemu.host` label: `worker-N`.
    pub name: String,
    pub container: String,
    /// Its `/var/lib/docker`.
    pub volume: String,
    pub cpus: f64,
    pub memory_bytes: u64,
    /// Its address in the engine's bridge network, once started.
    pub addr: Option<String>,
}

/// What `up` made (written before it is made), for `status`, `down` and `wotemu clean`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LocalSwarm {
    /// The `wotemu swarm up` that made it, and whether it finished: one that died before (a crashed `up`)
    /// is what `wotemu clean` removes.
    pub up_pid: u32,
    pub complete: bool,
    /// `up` turned swarm mode on (so `down` turns it off).
    pub swarm_initialised: bool,
    /// `docker_gwbridge` was there before `up`.
    pub had_gwbridge: bool,
    /// The manager's address the workers join (its `docker0` address).
    pub manager_addr: String,
    pub registry_port: u16,
    /// The registry's container and volume.
    pub registry: Option<(String, String)>,
    pub workers: Vec<WorkerHost>,
}

impl LocalSwarm {
    /// What `wotemu swarm up` says once it is up.
    pub fn describe(&self) -> String {
        format!(
            "A Swarm of {} hosts is up (`wotemu swarm status`). Push the images with `WOTEMU_IMAGE_PREFIX={} docker/build.sh`; `wotemu swarm down` removes it all.",
            self.workers.len() + 1,
            self.image_prefix()
        )
    }

    /// The prefix of images pushed to the local registry: `127.0.0.1:PORT/wotemu`.
    pub fn image_prefix(&self) -> String {
        format!("127.0.0.1:{}/wotemu", self.registry_port)
    }
}

/// Where the state of the local Swarm is kept.
pub fn state_file() -> PathBuf {
    wotemu_sys::state_root().join("swarm-hosts.json")
}

/// The local Swarm `up` made, if there is one (also a crashed `up`'s).
pub fn current() -> Option<LocalSwarm> {
    serde_json::from_slice(&std::fs::read(state_file()).ok()?).ok()
}

fn save(state: &LocalSwarm) -> Result<(), Error> {
    let f = state_file();
    let io = |source| Error::Io {
        what: format!("writing {}", f.display()),
        source,
    };
    if let Some(dir) = f.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let json = serde_json::to_vec_pretty(state).unwrap_or_default();
    wotemu_sys::fs::write_atomic(&f, &json).map_err(io)
}

fn docker_err(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
    let what = what.into();
    move |e| Error::Docker {
        what,
        message: e.to_string(),
    }
}

/// A host of the local Swarm, as `wotemu swarm status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub role: String,
    pub state: String,
    pub labels: HashMap<String, String>,
    /// The host's limit (a worker's container) or what the engine reports (the manager).
    pub cpus: f64,
    pub memory_bytes: u64,
    /// Tasks running on it now.
    pub running_tasks: usize,
}

/// `wotemu swarm up`: makes the hosts, joins them to this engine's Swarm and labels them; returns what it
/// made. Refuses when a local Swarm is up already, when the engine is in a Swarm with other nodes, without
/// VXLAN, without the image, or when the registry's port is taken.
pub fn up(opts: &UpOptions, on_step: &dyn Fn(&str)) -> Result<LocalSwarm, Error> {
    let _span = tracing::info_span!("swarm_up", hosts = opts.hosts).entered();
    if opts.hosts < 2 {
        return Err(Error::Usage(
            "--hosts counts this engine (the manager) too: give at least 2".into(),
        ));
    }
    if opts.cpus.iter().any(|c| !(c.is_finite() && *c > 0.0)) || opts.memory.contains(&0) {
        return Err(Error::Usage(
            "--cpus and --memory take positive figures, e.g. --cpus 1,0.5 --memory 4g,2g".into(),
        ));
    }
    if current().is_some() {
        return Err(Error::Usage(
            "a local Swarm is up already (`wotemu swarm status`); `wotemu swarm down` removes it"
                .into(),
        ));
    }
    check_vxlan()?;
    check_port(opts.registry_port)?;
    let (rt, docker, _) = crate::engine::engine()?;
    rt.block_on(async {
        let mut state = prepare(&docker, opts).await?;
        save(&state)?;
        match make(&docker, &mut state, opts, on_step).await {
            Ok(()) => {
                state.complete = true;
                save(&state)?;
                Ok(state)
            }
            Err(e) => {
                // What it made goes again: a half-made Swarm is of no use, and would be in the way.
                let undone = take_down(&docker, &state, false).await;
                if undone.problems.is_empty() {
                    let _ = std::fs::remove_file(state_file());
                    return Err(Error::Usage(format!(
                        "{e} (what it had made is removed again)"
                    )));
                }
                Err(Error::Usage(format!(
                    "{e}; removing what it had made left: {} (`wotemu swarm down` tries again)",
                    undone.problems.join("; ")
                )))
            }
        }
    })
}

async fn make(
    docker: &Docker,
    state: &mut LocalSwarm,
    opts: &UpOptions,
    on_step: &dyn Fn(&str),
) -> Result<(), Error> {
    if state.swarm_initialised {
        on_step(&format!(
            "swarm mode on, this engine the manager ({})",
            state.manager_addr
        ));
        docker
            .init_swarm(SwarmInitRequest {
                listen_addr: Some("0.0.0.0:2377".into()),
                advertise_addr: Some(state.manager_addr.clone()),
                ..Default::default()
            })
            .await
            .map_err(docker_err("turning swarm mode on"))?;
    }
    start_registry(docker, state, opts).await?;
    on_step(&format!(
        "registry on 127.0.0.1:{} (images named {}/…)",
        opts.registry_port,
        state.image_prefix()
    ));
    for i in 0..state.workers.len() {
        start_worker(docker, state, i, opts).await?;
        on_step(&format!(
            "{} started ({} CPU, {} MB)",
            state.workers[i].name,
            state.workers[i].cpus,
            state.workers[i].memory_bytes / 1_000_000
        ));
    }
    join_and_label(docker, state).await?;
    on_step(&format!("{} hosts joined and labelled", opts.hosts));
    Ok(())
}

/// `wotemu clean`: removes the local Swarm of a `wotemu swarm up` that died before it finished, if there is
/// one (a running or finished `up`'s is left alone); what could not be removed is in its `problems`.
pub fn clean_crashed() -> Option<Down> {
    match current() {
        Some(s) if !s.complete && !wotemu_sys::process::alive(s.up_pid) => {
            Some(down(false).unwrap_or_else(|e| Down {
                problems: vec![format!("a crashed `wotemu swarm up`: {e}")],
                ..Down::default()
            }))
        }
        _ => None,
    }
}

/// The state `up` will make, checked against the engine as it is.
async fn prepare(docker: &Docker, opts: &UpOptions) -> Result<LocalSwarm, Error> {
    docker
        .inspect_image(&opts.image)
        .await
        .map_err(|_| Error::Usage(format!(
            "the image {} is missing: build it with `docker/build.sh` (or `docker/build.sh --debug`)",
            opts.image
        )))?;
    let info = docker
        .info()
        .await
        .map_err(docker_err("reading the engine's state"))?;
    let swarm = info.swarm.unwrap_or_default();
    let active = swarm
        .local_node_state
        .is_some_and(|s| s.to_string() == "active");
    if active && swarm.nodes.unwrap_or(1) > 1 {
        return Err(Error::Usage(format!(
            "this engine is already in a Swarm with {} nodes: leave it first (`docker swarm leave --force`), or deploy on that Swarm as it is",
            swarm.nodes.unwrap_or(0)
        )));
    }
    if active && !swarm.control_available.unwrap_or(false) {
        return Err(Error::Usage(
            "this engine is a worker of another Swarm: leave it first (`docker swarm leave`)"
                .into(),
        ));
    }
    let bridge = docker
        .inspect_network("bridge", None)
        .await
        .map_err(docker_err("reading the engine's bridge network"))?;
    // The bridge's gateway, as its IPAM says, else the address of its interface (the default bridge's IPAM
    // often names no gateway).
    let device = bridge
        .options
        .as_ref()
        .and_then(|o| o.get("com.docker.network.bridge.name").cloned())
        .unwrap_or_else(|| "docker0".into());
    let manager_addr = bridge
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().find_map(|c| c.gateway))
        .or_else(|| interface_addr(&device))
        .ok_or_else(|| {
            Error::Usage(format!(
                "the engine's bridge network ({device}) has no address for the workers to reach the manager at"
            ))
        })?;
    let had_gwbridge = docker
        .inspect_network("docker_gwbridge", None)
        .await
        .is_ok();
    let workers = (1..opts.hosts)
        .map(|n| {
            let i = n - 1;
            WorkerHost {
                name: format!("worker-{n}"),
                container: format!("wotemu-worker-{n}"),
                volume: format!("wotemu-worker-{n}"),
                cpus: nth_or_last(&opts.cpus, i).unwrap_or(1.0),
                memory_bytes: nth_or_last(&opts.memory, i).unwrap_or(4 << 30),
                addr: None,
            }
        })
        .collect();
    Ok(LocalSwarm {
        up_pid: std::process::id(),
        complete: false,
        swarm_initialised: !active,
        had_gwbridge,
        manager_addr,
        registry_port: opts.registry_port,
        registry: Some(("wotemu-registry".into(), "wotemu-registry".into())),
        workers,
    })
}

/// The `i`-th of a per-worker list (`--cpus 1,0.5`), the last one given holding for the rest.
fn nth_or_last<T: Copy>(v: &[T], i: usize) -> Option<T> {
    v.get(i).or(v.last()).copied()
}

fn owner_labels() -> HashMap<String, String> {
    HashMap::from([(OWNER_LABEL.to_owned(), "1".to_owned())])
}

async fn create_and_start(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<(), Error> {
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(name).build()),
            body,
        )
        .await
        .map_err(docker_err(format!("creating the container {name}")))?;
    docker.start_container(name, None).await.map_err(|e| {
        let message = e.to_string();
        if message.contains("caps") || message.contains("capabilit") {
            Error::Usage(format!("the engine refused the capabilities of {name} ({message}): worker hosts need a rootful engine that grants containers CAP_SYS_ADMIN and CAP_NET_ADMIN"))
        } else {
            Error::Docker {
                what: format!("starting the container {name}"),
                message,
            }
        }
    })
}

/// The registry: published on the manager's 127.0.0.1 only.
async fn start_registry(
    docker: &Docker,
    state: &mut LocalSwarm,
    opts: &UpOptions,
) -> Result<(), Error> {
    let Some((name, volume)) = state.registry.clone() else {
        return Ok(());
    };
    let ports = HashMap::from([(
        "5000/tcp".to_owned(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(opts.registry_port.to_string()),
        }]),
    )]);
    let body = ContainerCreateBody {
        image: Some(opts.image.clone()),
        entrypoint: Some(vec!["/usr/bin/docker-registry".into()]),
        cmd: Some(vec![
            "serve".into(),
            "/etc/docker/registry/config.yml".into(),
        ]),
        labels: Some(owner_labels()),
        exposed_ports: Some(vec!["5000/tcp".to_owned()]),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{volume}:/var/lib/docker-registry")]),
            port_bindings: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    };
    create_and_start(docker, &name, body).await?;
    let addr = container_addr(docker, &name).await?;
    wait_for(
        &format!("the registry ({name})"),
        Duration::from_secs(30),
        || std::net::TcpStream::connect((addr.as_str(), 5000)).is_ok(),
    )
    .await?;
    Ok(())
}

async fn container_addr(docker: &Docker, name: &str) -> Result<String, Error> {
    let c = docker
        .inspect_container(name, None)
        .await
        .map_err(docker_err(format!("inspecting {name}")))?;
    c.network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get("bridge").and_then(|b| b.ip_address.clone()))
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::Docker {
            what: format!("reading the address of {name}"),
            message: "it has none in the engine's bridge network".into(),
        })
}

async fn wait_for(
    what: &str,
    within: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + within;
    while !ready() {
        if Instant::now() > deadline {
            return Err(Error::Docker {
                what: format!("waiting {} s for {what}", within.as_secs()),
                message: "it did not answer".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// A worker: its `dockerd` on a volume, the registry's port forwarded to the manager's registry.
async fn start_worker(
    docker: &Docker,
    state: &mut LocalSwarm,
    i: usize,
    opts: &UpOptions,
) -> Result<(), Error> {
    let w = state.workers[i].clone();
    let registry = match &state.registry {
        Some((name, _)) => container_addr(docker, name).await?,
        None => state.manager_addr.clone(),
    };
    // The worker's engine makes its containers' cgroups under the worker's own (the cgroup hierarchy it sees
    // is the machine's): so the worker's CPU and memory limits bound everything that runs on it.
    let script = format!(
        "parent=$(grep -E '^[0-9]+:([^:]*,)?cpu(,[^:]*)?:' /proc/self/cgroup | head -1 | cut -d: -f3); \
         [ -n \"$parent\" ] || parent=$(grep '^0::' /proc/self/cgroup | cut -d: -f3); \
         [ \"$parent\" = / ] && parent=; \
         socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr TCP:{registry}:5000 & \
         exec dockerd ${{parent:+--cgroup-parent \"$parent\"}} --storage-driver fuse-overlayfs \
         -H unix:///var/run/docker.sock -H tcp://0.0.0.0:{WORKER_API_PORT}",
        port = opts.registry_port
    );
    let body = ContainerCreateBody {
        image: Some(opts.image.clone()),
        hostname: Some(w.name.clone()),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        cmd: Some(vec![script]),
        labels: Some(owner_labels()),
        host_config: Some(HostConfig {
            cap_add: Some(CAPS.iter().map(|c| (*c).to_owned()).collect()),
            security_opt: Some(vec![
                "seccomp=unconfined".into(),
                "apparmor=unconfined".into(),
            ]),
            devices: Some(vec![DeviceMapping {
                path_on_host: Some("/dev/fuse".into()),
                path_in_container: Some("/dev/fuse".into()),
                cgroup_permissions: Some("rwm".into()),
            }]),
            binds: Some(vec![
                "/sys/fs/cgroup:/sys/fs/cgroup:rw".into(),
                format!("{}:/var/lib/docker", w.volume),
                "/lib/modules:/lib/modules:ro".into(),
            ]),
            nano_cpus: Some((w.cpus * 1e9) as i64),
            memory: Some(w.memory_bytes as i64),
            ..Default::default()
        }),
        ..Default::default()
    };
    create_and_start(docker, &w.container, body).await?;
    let addr = container_addr(docker, &w.container).await?;
    state.workers[i].addr = Some(addr.clone());
    save(state)?;
    let api = worker_api(&addr)?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while api.ping().await.is_err() {
        if Instant::now() > deadline {
            return Err(Error::Docker {
                what: format!("waiting 90 s for the engine of {}", w.name),
                message: format!("it did not answer (its log: `docker logs {}`)", w.container),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

fn worker_api(addr: &str) -> Result<Docker, Error> {
    Docker::connect_with_http(
        &format!("http://{addr}:{WORKER_API_PORT}"),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(docker_err(format!(
        "connecting to the worker engine at {addr}"
    )))
}

/// Joins every worker to the manager's Swarm, waits until they are ready and labels every host.
async fn join_and_label(docker: &Docker, state: &LocalSwarm) -> Result<(), Error> {
    let token = docker
        .inspect_swarm()
        .await
        .map_err(docker_err("reading the Swarm's join token"))?
        .join_tokens
        .and_then(|t| t.worker)
        .ok_or_else(|| Error::Usage("the Swarm gave no worker join token".into()))?;
    for w in &state.workers {
        let addr = w.addr.clone().unwrap_or_default();
        worker_api(&addr)?
            .join_swarm(SwarmJoinRequest {
                listen_addr: Some("0.0.0.0:2377".into()),
                advertise_addr: Some(addr.clone()),
                remote_addrs: Some(vec![format!("{}:2377", state.manager_addr)]),
                join_token: Some(token.clone()),
                ..Default::default()
            })
            .await
            .map_err(docker_err(format!("joining {} to the Swarm", w.name)))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let nodes = docker
            .list_nodes(None::<ListNodesOptions>)
            .await
            .map_err(docker_err("listing the Swarm's nodes"))?;
        let ready = |name: &str| {
            nodes.iter().any(|n| {
                hostname(n) == name
                    && n.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY)
            })
        };
        if state.workers.iter().all(|w| ready(&w.name)) {
            for n in &nodes {
                let host = hostname(n);
                let label = match state.workers.iter().find(|w| w.name == host) {
                    Some(w) => w.name.clone(),
                    None if n
                        .spec
                        .as_ref()
                        .and_then(|s| s.role.as_ref())
                        .map(|r| r.to_string())
                        == Some("manager".into()) =>
                    {
                        "manager".into()
                    }
                    None => continue,
                };
                label_node(docker, n, &label).await?;
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Docker {
                what: "waiting 60 s for the workers to be ready in the Swarm".into(),
                message: "`docker node ls` shows where they are".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Each of the Swarm's `nodes`' host name, by node id: its `wotemu.host` label (`wotemu swarm up`'s hosts, or
/// real hosts labelled so), else the host name it reports.
pub fn host_names(nodes: &[bollard::models::Node]) -> std::collections::HashMap<String, String> {
    nodes
        .iter()
        .filter_map(|n| Some((n.id.clone()?, host_name(n))))
        .filter(|(_, h)| !h.is_empty())
        .collect()
}

/// The Swarm's nodes (none when the engine is in no Swarm or cannot say).
pub async fn swarm_nodes(docker: &Docker) -> Vec<bollard::models::Node> {
    docker
        .list_nodes(None::<ListNodesOptions>)
        .await
        .unwrap_or_default()
}

/// A node's host name: its `wotemu.host` label, else the host name it reports.
fn host_name(n: &bollard::models::Node) -> String {
    n.spec
        .as_ref()
        .and_then(|s| s.labels.as_ref())
        .and_then(|l| l.get(HOST_LABEL))
        .filter(|l| !l.is_empty())
        .cloned()
        .unwrap_or_else(|| hostname(n))
}

/// A Swarm host that is not ready (`down`, `unknown`, `disconnected`): its tasks are lost to the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct DownHost {
    pub node_id: String,
    pub name: String,
    pub state: String,
    /// When the manager last changed the node (the state change that took it down), RFC 3339.
    pub since: Option<String>,
}

/// The hosts among `nodes` that are not ready.
pub fn down_hosts(nodes: &[bollard::models::Node]) -> Vec<DownHost> {
    nodes
        .iter()
        .filter_map(|n| {
            let state = n.status.as_ref()?.state?;
            (state != bollard::models::NodeState::READY).then(|| DownHost {
                node_id: n.id.clone().unwrap_or_default(),
                name: host_name(n),
                state: state.to_string(),
                since: n.updated_at.clone(),
            })
        })
        .collect()
}

fn hostname(n: &bollard::models::Node) -> String {
    n.description
        .as_ref()
        .and_then(|d| d.hostname.clone())
        .unwrap_or_default()
}

async fn label_node(docker: &Docker, n: &bollard::models::Node, host: &str) -> Result<(), Error> {
    let id = n.id.clone().unwrap_or_default();
    let mut spec: NodeSpec = n.spec.clone().unwrap_or_default();
    let mut labels = spec.labels.unwrap_or_default();
    labels.insert(HOST_LABEL.into(), host.into());
    spec.labels = Some(labels);
    let version = n.version.as_ref().and_then(|v| v.index).unwrap_or(0) as i64;
    docker
        .update_node(&id, spec, UpdateNodeOptions { version })
        .await
        .map_err(docker_err(format!("labelling the node {host}")))
}

/// `wotemu swarm status`: every host of the Swarm this engine manages.
pub fn status() -> Result<Vec<HostStatus>, Error> {
    let local = current();
    let (rt, docker, _) = crate::engine::engine()?;
    rt.block_on(async {
        let nodes = docker
            .list_nodes(None::<ListNodesOptions>)
            .await
            .map_err(|e| {
                Error::Usage(format!(
                    "this engine manages no Swarm ({e}); `wotemu swarm up` makes one"
                ))
            })?;
        let running = docker
            .list_tasks(Some(
                ListTasksOptionsBuilder::new()
                    .filters(&HashMap::from([("desired-state", vec!["running"])]))
                    .build(),
            ))
            .await
            .map_err(docker_err("listing the Swarm's tasks"))?;
        let mut out: Vec<HostStatus> = nodes
            .iter()
            .map(|n| {
                let id = n.id.clone().unwrap_or_default();
                let name = hostname(n);
                let resources = n.description.as_ref().and_then(|d| d.resources.clone());
                let worker = local
                    .as_ref()
                    .and_then(|l| l.workers.iter().find(|w| w.name == name));
                HostStatus {
                    role: n
                        .spec
                        .as_ref()
                        .and_then(|s| s.role.as_ref())
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                    state: n
                        .status
                        .as_ref()
                        .and_then(|s| s.state)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    labels: n
                        .spec
                        .as_ref()
                        .and_then(|s| s.labels.clone())
                        .unwrap_or_default(),
                    cpus: worker.map(|w| w.cpus).unwrap_or_else(|| {
                        resources.as_ref().and_then(|r| r.nano_cpus).unwrap_or(0) as f64 / 1e9
                    }),
                    memory_bytes: worker.map(|w| w.memory_bytes).unwrap_or_else(|| {
                        resources.as_ref().and_then(|r| r.memory_bytes).unwrap_or(0) as u64
                    }),
                    running_tasks: running
                        .iter()
                        .filter(|t| {
                            t.node_id.as_deref() == Some(id.as_str())
                                && t.status.as_ref().and_then(|s| s.state)
                                    == Some(TaskState::RUNNING)
                        })
                        .count(),
                    name,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.role != "manager", &a.name).cmp(&(b.role != "manager", &b.name)));
        Ok(out)
    })
}

/// `wotemu swarm status` for people.
pub fn describe(hosts: &[HostStatus]) -> String {
    let mut out = format!(
        "{:<12} {:<8} {:<8} {:>5} {:>9} {:>6}  {}\n",
        "HOST", "ROLE", "STATE", "CPUS", "MEMORY", "TASKS", "LABELS"
    );
    for h in hosts {
        let mut labels: Vec<String> = h.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        out.push_str(&format!(
            "{:<12} {:<8} {:<8} {:>5} {:>6} MiB {:>6}  {}\n",
            h.name,
            h.role,
            h.state,
            h.cpus,
            h.memory_bytes >> 20,
            h.running_tasks,
            labels.join(",")
        ));
    }
    out
}

/// What `down` removed, and what it could not.
#[derive(Debug, Default)]
pub struct Down {
    pub removed: Vec<String>,
    pub problems: Vec<String>,
}

impl Down {
    /// What was removed, for people.
    pub fn describe(&self) -> String {
        match self.removed.len() {
            0 => "Nothing of a local Swarm to remove.".into(),
            _ => format!("Removed {}.", self.removed.join(", ")),
        }
    }
}

/// `wotemu swarm down` (and `wotemu clean` after a crashed `up`): removes what `up` made — the workers
/// (their nodes, containers and volumes), the registry, swarm mode if `up` turned it on (and
/// `docker_gwbridge` if it was not there) — and, with `prune`, the images pushed to the local registry's
/// name. Nothing to do without a local Swarm.
pub fn down(prune: bool) -> Result<Down, Error> {
    let Some(state) = current() else {
        return Ok(Down::default());
    };
    let _span = tracing::info_span!("swarm_down").entered();
    let (rt, docker, _) = crate::engine::engine()?;
    let done = rt.block_on(take_down(&docker, &state, prune));
    if done.problems.is_empty() {
        let _ = std::fs::remove_file(state_file());
    }
    Ok(done)
}

async fn take_down(docker: &Docker, state: &LocalSwarm, prune: bool) -> Down {
    let mut done = Down::default();
    let mut note = |r: Result<(), String>, what: String| match r {
        Ok(()) => done.removed.push(what),
        Err(e) => done.problems.push(format!("{what}: {e}")),
    };
    let force = || {
        Some(
            RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build(),
        )
    };
    for w in &state.workers {
        if let Some(api) = w.addr.as_deref().and_then(|a| worker_api(a).ok()) {
            let leave = api.leave_swarm(Some(LeaveSwarmOptionsBuilder::new().force(true).build()));
            let _ = tokio::time::timeout(Duration::from_secs(10), leave).await;
        }
        note(
            gone(docker.remove_container(&w.container, force()).await),
            format!("container {}", w.container),
        );
        note(
            gone(
                docker
                    .remove_volume(
                        &w.volume,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                    .await,
            ),
            format!("volume {}", w.volume),
        );
    }
    if let Some((c, v)) = &state.registry {
        note(
            gone(docker.remove_container(c, force()).await),
            format!("container {c}"),
        );
        note(
            gone(
                docker
                    .remove_volume(v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                    .await,
            ),
            format!("volume {v}"),
        );
    }
    if state.swarm_initialised {
        let r = docker
            .leave_swarm(Some(LeaveSwarmOptionsBuilder::new().force(true).build()))
            .await;
        note(
            r.map_err(|e| e.to_string()).or_else(|e| {
                if e.contains("not part of a swarm") {
                    Ok(())
                } else {
                    Err(e)
                }
            }),
            "swarm mode".into(),
        );
        if !state.had_gwbridge {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match docker.remove_network("docker_gwbridge").await {
                    Ok(()) => break note(Ok(()), "network docker_gwbridge".into()),
                    Err(e) if is_not_found(&e) => break,
                    Err(e) if Instant::now() > deadline => {
                        break note(Err(e.to_string()), "network docker_gwbridge".into())
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    } else {
        // The Swarm was there before: its workers' nodes go, its manager keeps no label of ours.
        if let Ok(nodes) = docker.list_nodes(None::<ListNodesOptions>).await {
            for n in &nodes {
                let name = hostname(n);
                if state.workers.iter().any(|w| w.name == name) {
                    let id = n.id.clone().unwrap_or_default();
                    let r = docker
                        .delete_node(
                            &id,
                            Some(DeleteNodeOptionsBuilder::new().force(true).build()),
                        )
                        .await;
                    note(gone(r), format!("node {name}"));
                } else if n
                    .spec
                    .as_ref()
                    .and_then(|s| s.labels.as_ref())
                    .is_some_and(|l| l.contains_key(HOST_LABEL))
                {
                    let mut n = n.clone();
                    if let Some(l) = n.spec.as_mut().and_then(|s| s.labels.as_mut()) {
                        l.remove(HOST_LABEL);
                    }
                    let id = n.id.clone().unwrap_or_default();
                    let version = n.version.as_ref().and_then(|v| v.index).unwrap_or(0) as i64;
                    let r = docker
                        .update_node(
                            &id,
                            n.spec.clone().unwrap_or_default(),
                            UpdateNodeOptions { version },
                        )
                        .await;
                    note(
                        r.map_err(|e| e.to_string()),
                        format!("label {HOST_LABEL} of {name}"),
                    );
                }
            }
        }
    }
    if prune {
        let prefix = format!("127.0.0.1:{}/", state.registry_port);
        let images = docker
            .list_images(Some(ListImagesOptionsBuilder::new().build()))
            .await
            .unwrap_or_default();
        for tag in images
            .iter()
            .flat_map(|i| i.repo_tags.iter())
            .filter(|t| t.starts_with(&prefix))
        {
            let r = docker
                .remove_image(tag, Some(RemoveImageOptionsBuilder::new().build()), None)
                .await;
            note(
                r.map(drop).map_err(|e| e.to_string()),
                format!("image {tag}"),
            );
        }
    }
    done
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Removed, or already gone.
fn gone(r: Result<(), bollard::errors::Error>) -> Result<(), String> {
    match r {
        Err(e) if !is_not_found(&e) => Err(e.to_string()),
        _ => Ok(()),
    }
}

/// The first IPv4 address of a network interface (`ip -4 -o addr show dev NAME`).
fn interface_addr(device: &str) -> Option<String> {
    let out = wotemu_sys::cmd::output("ip", &["-4", "-o", "addr", "show", "dev", device]).ok()?;
    let cidr = out.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
    cidr.split('/').next().map(str::to_owned)
}

/// The overlay networks between hosts are VXLAN: refused early, with what to do, on a kernel without it.
fn check_vxlan() -> Result<(), Error> {
    let name = format!("wtmvx{}", std::process::id() % 100_000);
    let added = wotemu_sys::cmd::ip(&[
        "link",
        "add",
        &name,
        "type",
        "vxlan",
        "id",
        "4242",
        "dstport",
        "4789",
        "local",
        "127.0.0.1",
    ]);
    match added {
        Ok(()) => {
            let _ = wotemu_sys::cmd::ip(&["link", "del", &name]);
            Ok(())
        }
        Err(e) => Err(Error::Usage(format!(
            "this kernel cannot make VXLAN devices ({e}): the Swarm's overlay networks between hosts need them (`modprobe vxlan`, or a kernel with CONFIG_VXLAN); `wotemu swarm up` also needs root"
        ))),
    }
}

fn check_port(port: u16) -> Result<(), Error> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|e| Error::Usage(format!(
            "port {port} on 127.0.0.1 is taken ({e}): the local registry needs it; free it, or give --registry-port"
        )))
}
