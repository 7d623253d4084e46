//! `wotemu query`

use std::process::ExitCode;

use anyhow::{bail, Context};
use wotemu_reporter::query::{self, Format, QueryError};

use crate::cli::{QueryArgs, QueryFormat};
use crate::output;

/// Exit code of a query that is wrong (a usage error).
const EXIT_BAD_QUERY: u8 = 2;

pub(crate) fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let (runs, sql) = query::runs_and_sql(args.args, &args.runs).map_err(anyhow::Error::msg)?;
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
            output::print(&buf)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
