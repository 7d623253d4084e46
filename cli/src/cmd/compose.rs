//! `wotemu compose`: glue over `wotemu_swarm::compose`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::ComposeArgs;
use crate::cmd::load_topology;
use crate::output;

pub(crate) fn run(args: ComposeArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_topology(&args.path)?;
    let t = &loaded.topology;
    let done = wotemu_swarm::compose::compose(
        t,
        &wotemu_swarm::compose::ComposeFile {
            topology: args.path.clone(),
            output: args.output.clone(),
            redis_port: args.redis_port,
        },
    )?;
    if done.out == Path::new("-") {
        output::print(&done.text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let services = 2 + t.networks.len() + t.nodes.len() + t.brokers.len() + t.services.len();
    if args.json {
        output::json(&serde_json::json!({
            "topology": args.path,
            "output": done.out,
            "services": services,
            "networks": t.networks.iter().map(|n| &n.name).collect::<Vec<_>>(),
            "replicas": t.replicas(),
        }))?;
    } else {
        output::say(&format!(
            "Wrote {} ({services} services, {} networks, {} node replicas).\nDeploy it with: docker stack deploy -c {} <stack>",
            done.out.display(),
            t.networks.len(),
            t.replicas(),
            done.out.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
