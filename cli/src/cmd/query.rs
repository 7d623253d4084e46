//! `wotemu query`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use wotemu_reporter::query::{self, Format, QueryError};

use crate::cli::{QueryArgs, QueryFormat};
use crate::output;

/// Exit code of a query that is wrong (a usage error).
const EXIT_BAD_QUERY: u8 = 2;

pub(crate) fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let (runs, sql) = runs_and_sql(args.args, &args.runs)?;
    let format = match args.format {
        Some(QueryFormat::Table) => Format::Table,
        Some(QueryFormat::Csv) => Format::Csv,
        Some(QueryFormat::Json) => Format::Json,
        Some(QueryFormat::Parquet) => Format::Parquet,
        None if args.out.is_none() && output::stdout_is_terminal() => Format::Table,
        None => Format::Csv,
    };
    if format == Format::Parquet && args.out.is_none() && output::stdout_is_terminal() {
        bail!("Parquet is binary: give --out FILE, or pipe the output to a file");
    }
    let mut df = match query::query(&runs, &sql) {
        Ok(df) => df,
        Err(e @ QueryError::BadQuery { .. }) => {
            output::print_error(&anyhow::Error::new(e));
            return Ok(ExitCode::from(EXIT_BAD_QUERY));
        }
        Err(e) => return Err(e).context("running the query"),
    };
    match &args.out {
        Some(path) => {
            query::write_file(&mut df, format, path)
                .with_context(|| format!("writing {}", path.display()))?;
            output::say(&format!(
                "{} rows written to {}",
                df.height(),
                path.display()
            ));
        }
        None => {
            let mut buf = Vec::new();
            query::write(&mut df, format, &mut buf).context("formatting the result")?;
            output::print_bytes(&buf)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The runs (name, directory) and the query, from `RUN_DIR SQL` or `--run NAME=DIR … SQL`.
fn runs_and_sql(
    mut args: Vec<String>,
    named: &[String],
) -> anyhow::Result<(Vec<(String, PathBuf)>, String)> {
    let sql = args.pop().context("the query is missing")?;
    let mut runs: Vec<(String, PathBuf)> = args
        .into_iter()
        .map(|dir| {
            let path = PathBuf::from(&dir);
            let name = path
                .file_name()
                .map_or(dir.clone(), |n| n.to_string_lossy().into_owned());
            (name, path)
        })
        .collect();
    for r in named {
        let Some((name, dir)) = r
            .split_once('=')
            .filter(|(n, d)| !n.is_empty() && !d.is_empty())
        else {
            bail!("--run {r}: expected NAME=DIR, e.g. --run baseline=runs/baseline");
        };
        if runs.iter().any(|(n, _)| n == name) {
            bail!("--run {r}: the name `{name}` is given twice; name each run differently");
        }
        runs.push((name.to_string(), PathBuf::from(dir)));
    }
    if runs.is_empty() {
        bail!("no run to query: give the run directory before the query, or --run NAME=DIR");
    }
    Ok((runs, sql))
}
