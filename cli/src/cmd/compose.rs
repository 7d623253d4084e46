//! `wotemu compose`: glue over `wotemu_swarm::compose`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::ComposeArgs;
use crate::cmd::load_topology;
use crate::output;

pub(crate) fn run(args: ComposeArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = load_topology(&args.path)?;
    if let Some(prefix) = &args.image_prefix {
        loaded.topology.images.with_prefix(prefix);
    }
    loaded.topology.seed = args.seed.or(loaded.topology.seed);
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
    if args.json {
        output::json(&done.summary(t, &args.path))?;
    } else {
        output::say(&done.describe(t));
    }
    Ok(ExitCode::SUCCESS)
}
