//! `wotemu compose`: a topology's Docker Swarm stack written to a compose file (the text is the topology
//! crate's, [`wotemu_topology::compose`]), with what lives beside it: the stack's Redis password file (made
//! once, [`crate::password`]) and app files referred to relative to the compose file.

use std::path::{Path, PathBuf};

use wotemu_topology::Topology;

use crate::Error;

/// Where to write the stack of the topology file `topology`.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    pub topology: PathBuf,
    /// The compose file; `-` for stdout; default: beside the topology ([`default_output`]).
    pub output: Option<PathBuf>,
    /// The host port the stack's Redis is published on.
    pub redis_port: u16,
}

/// A compose file made.
#[derive(Debug, Clone)]
pub struct Composed {
    /// Where it was written (`-`: not written, the caller prints `text`).
    pub out: PathBuf,
    pub text: String,
    /// The seed of the gateways' random decisions: the topology's, else drawn.
    pub seed: u64,
}

impl Composed {
    /// What `wotemu compose --json` prints: the topology, the file, its services, networks and replicas.
    pub fn summary(&self, t: &Topology, topology: &Path) -> serde_json::Value {
        serde_json::json!({
            "topology": topology,
            "output": self.out,
            "services": services(t),
            "networks": t.networks.iter().map(|n| &n.name).collect::<Vec<_>>(),
            "replicas": t.replicas(),
            "seed": self.seed,
        })
    }

    /// What `wotemu compose` says it wrote, and how to deploy it.
    pub fn describe(&self, t: &Topology) -> String {
        format!(
            "Wrote {} ({} services, {} networks, {} node replicas; seed {}).\nDeploy it with: docker stack deploy -c {} <stack>",
            self.out.display(),
            services(t),
            t.networks.len(),
            t.replicas(),
            self.seed,
            self.out.display()
        )
    }
}

/// The stack's services of the topology's own (Redis and the Docker API proxy, the gateways, nodes, brokers
/// and linked services).
fn services(t: &Topology) -> usize {
    2 + t.networks.len() + t.nodes.len() + t.brokers.len() + t.services.len()
}

/// The default output of 0.6 (FILE with `.yml`), except for YAML topologies, which it would overwrite.
pub fn default_output(path: &Path) -> PathBuf {
    match wotemu_topology::Format::of(path) {
        Some(wotemu_topology::Format::Python) | None => path.with_extension("yml"),
        Some(wotemu_topology::Format::Yaml) => path.with_extension("compose.yml"),
    }
}

/// The directory of a file path (`.` for a bare file name, whose parent is the empty path).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

/// Makes the compose file of `t` (read from `f.topology`) and writes it, unless it goes to stdout.
pub fn compose(t: &Topology, f: &ComposeFile) -> Result<Composed, Error> {
    let stdout = f.output.as_deref() == Some(Path::new("-"));
    let out = match &f.output {
        Some(o) => o.clone(),
        None => {
            let o = default_output(&f.topology);
            // 0.6's default (FILE.yml beside FILE.py) may be a YAML topology of the same name: never
            // overwrite a file that wotemu did not generate.
            if let Ok(existing) = std::fs::read_to_string(&o) {
                if !existing.starts_with(wotemu_topology::compose::HEADER_START) {
                    return Err(Error::Usage(format!(
                        "{} exists and is not a compose file written by wotemu (it may be a topology); \
                         choose where to write with --output, e.g. --output {}",
                        o.display(),
                        f.topology.with_extension("compose.yml").display()
                    )));
                }
            }
            o
        }
    };
    // App files are shipped as Swarm configs whose paths are relative to the compose file.
    let topo_dir = std::path::absolute(parent_dir(&f.topology))
        .map_err(io("finding the topology's directory".into()))?;
    let topology_dir = if stdout {
        topo_dir.to_string_lossy().into_owned()
    } else {
        let out_dir = std::path::absolute(parent_dir(&out))
            .map_err(io("finding the output's directory".into()))?;
        wotemu_sys::fs::relative_path(&out_dir, &topo_dir)
    };
    // The stack's Redis password: a file beside the compose file (beside the topology for stdout), made once.
    let password_file = if stdout {
        crate::password::file_beside(
            &std::path::absolute(&f.topology).map_err(io("finding the topology".into()))?,
        )
    } else {
        crate::password::file_beside(&out)
    };
    crate::password::ensure(&password_file)?;
    let password_abs =
        std::path::absolute(&password_file).map_err(io("finding the password file".into()))?;
    let opts = wotemu_topology::compose::ComposeOptions {
        redis_port: f.redis_port,
        topology_dir,
        password_file: if stdout {
            password_abs.to_string_lossy().into_owned()
        } else {
            format!(
                "./{}",
                password_file
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            )
        },
        password_file_abs: Some(password_abs.to_string_lossy().into_owned()),
    };
    let source = f
        .topology
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A seed for the gateways' random decisions: the topology's (or `--seed`), else drawn; in the compose
    // file, so that the stack repeats it wherever it is deployed.
    let seed = t.seed.unwrap_or_else(wotemu_topology::compose::draw_seed);
    let seeded = Topology {
        seed: Some(seed),
        ..t.clone()
    };
    let text = wotemu_topology::compose::to_yaml_with(&seeded, &source, &opts);
    if !stdout {
        if std::fs::canonicalize(&out).ok() == std::fs::canonicalize(&f.topology).ok() {
            return Err(Error::Usage(format!(
                "the output {} is the topology file itself; choose another --output",
                out.display()
            )));
        }
        std::fs::write(&out, &text).map_err(io(format!("writing {}", out.display())))?;
    }
    Ok(Composed { out, text, seed })
}
