//! `wotemu compose`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::ComposeArgs;
use crate::cmd::load_topology;
use crate::output;

/// The default output of 0.6 (FILE with `.yml`), except for YAML topologies, which it would overwrite.
fn default_output(path: &Path) -> PathBuf {
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

pub(crate) fn run(args: ComposeArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_topology(&args.path)?;
    let t = &loaded.topology;
    let source = args
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = match &args.output {
        Some(o) => o.clone(),
        None => {
            let o = default_output(&args.path);
            // 0.6's default (FILE.yml beside FILE.py) may be a YAML topology of the same name: never
            // overwrite a file that wotemu did not generate.
            if let Ok(existing) = std::fs::read_to_string(&o) {
                if !existing.starts_with(wotemu_topology::compose::HEADER_START) {
                    anyhow::bail!(
                        "{} exists and is not a compose file written by wotemu (it may be a topology); \
                         choose where to write with --output, e.g. --output {}",
                        o.display(),
                        args.path.with_extension("compose.yml").display()
                    );
                }
            }
            o
        }
    };
    // App files are shipped as Swarm configs whose paths are relative to the compose file.
    let topo_dir =
        std::path::absolute(parent_dir(&args.path)).context("finding the topology's directory")?;
    let topology_dir = if out == Path::new("-") {
        topo_dir.to_string_lossy().into_owned()
    } else {
        let out_dir =
            std::path::absolute(parent_dir(&out)).context("finding the output's directory")?;
        wotemu_sys::fs::relative_path(&out_dir, &topo_dir)
    };
    // The stack's Redis password: a file beside the compose file (beside the topology for stdout), made once.
    let password_file = if out == Path::new("-") {
        wotemu_swarm::password::file_beside(&std::path::absolute(&args.path)?)
    } else {
        wotemu_swarm::password::file_beside(&out)
    };
    wotemu_swarm::password::ensure(&password_file)?;
    let password_abs = std::path::absolute(&password_file)?;
    let opts = wotemu_topology::compose::ComposeOptions {
        redis_port: args.redis_port,
        topology_dir,
        password_file: if out == Path::new("-") {
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
    let text = wotemu_topology::compose::to_yaml_with(t, &source, &opts);
    if out == Path::new("-") {
        output::print(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    if std::fs::canonicalize(&out).ok() == std::fs::canonicalize(&args.path).ok() {
        anyhow::bail!(
            "the output {} is the topology file itself; choose another --output",
            out.display()
        );
    }
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    let services = 2 + t.networks.len() + t.nodes.len() + t.brokers.len() + t.services.len();
    if args.json {
        output::json(&serde_json::json!({
            "topology": args.path,
            "output": out,
            "services": services,
            "networks": t.networks.iter().map(|n| &n.name).collect::<Vec<_>>(),
            "replicas": t.replicas(),
        }))?;
    } else {
        output::say(&format!(
            "Wrote {} ({services} services, {} networks, {} node replicas).\nDeploy it with: docker stack deploy -c {} <stack>",
            out.display(),
            t.networks.len(),
            t.replicas(),
            out.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
