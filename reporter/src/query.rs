//! `wotemu query`: SQL over the tables of one or more run datasets, with Polars SQL.
//!
//! Every table of the dataset ([`Table::ALL`]) is registered under its name as a lazy Parquet scan, so a
//! query reads only the columns and row groups it needs. Several runs are queried together by name: each
//! table is then the union of the runs' tables with a `run` column first. Errors locate themselves in the
//! query text where they can (the parser's line and column, or the first mention of an unknown name).

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;
use wotemu_contract::table::Table;

use crate::frames::scan;

/// The column that names the run when several runs are queried together.
pub const RUN_COLUMN: &str = "run";

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{} is not a run dataset: {reason}", path.display())]
    NotADataset { path: PathBuf, reason: String },
    /// The query itself is wrong (syntax, an unknown table or column, a type mismatch).
    #[error("{}", render_bad_query(.message, .sql, .at))]
    BadQuery {
        message: String,
        sql: String,
        /// Line and column (1-based) where the query is wrong, when known.
        at: Option<(usize, usize)>,
    },
    #[error("the query failed while running: {0}")]
    Run(PolarsError),
    #[error("cannot write the result")]
    Write(#[source] std::io::Error),
}

impl QueryError {
    /// Whether the user's SQL is at fault (a usage error), rather than the data or the machine.
    pub fn is_bad_query(&self) -> bool {
        matches!(self, QueryError::BadQuery { .. })
    }
}

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    Csv,
    /// An array of objects, one per row.
    Json,
    Parquet,
}

/// Runs `sql` over the datasets in `runs` (name, directory). With one run the name is ignored and no `run`
/// column is added.
pub fn query(runs: &[(String, PathBuf)], sql: &str) -> Result<DataFrame, QueryError> {
    let ctx = context(runs)?;
    execute(ctx, sql)?
        .collect_with_engine(Engine::Auto)
        .map_err(|e| classify(e, sql))
}

/// The tables of `runs`, registered for SQL.
fn context(runs: &[(String, PathBuf)]) -> Result<SQLContext, QueryError> {
    for (_, dir) in runs {
        if !dir.join("manifest.json").is_file() {
            return Err(QueryError::NotADataset {
                path: dir.clone(),
                reason: "it has no manifest.json (make one with `wotemu run`, `wotemu stop` or `wotemu collect`)"
                    .into(),
            });
        }
    }
    let ctx = SQLContext::new();
    for table in Table::ALL {
        let mut frames = Vec::new();
        for (name, dir) in runs {
            let lf = scan(dir, table).map_err(|e| QueryError::NotADataset {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            let Some(lf) = lf else { continue };
            frames.push(if runs.len() > 1 {
                lf.select([lit(name.as_str()).alias(RUN_COLUMN), all().as_expr()])
            } else {
                lf
            });
        }
        let lf = match frames.len() {
            0 => continue,
            1 => frames.remove(0),
            _ => concat(
                frames,
                UnionArgs {
                    diagonal: true,
                    to_supertypes: true,
                    ..UnionArgs::default()
                },
            )
            .map_err(QueryError::Run)?,
        };
        ctx.register(table.name(), lf);
    }
    Ok(ctx)
}

fn execute(mut ctx: SQLContext, sql: &str) -> Result<LazyFrame, QueryError> {
    ctx.execute(sql).map_err(|e| classify(e, sql))
}

/// A Polars error as a located bad query when it is about the query, else as a failure while running.
fn classify(err: PolarsError, sql: &str) -> QueryError {
    let bad = matches!(
        err,
        PolarsError::SQLInterface(_)
            | PolarsError::SQLSyntax(_)
            | PolarsError::ColumnNotFound(_)
            | PolarsError::SchemaMismatch(_)
            | PolarsError::InvalidOperation(_)
            | PolarsError::SchemaFieldNotFound(_)
    );
    if !bad {
        return QueryError::Run(err);
    }
    let message = err.to_string();
    let at = parser_position(&message).or_else(|| named_position(&message, sql));
    let hint = if message.contains("relation") && message.contains("not found") {
        format!(
            " (the tables are: {})",
            Table::ALL
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        String::new()
    };
    QueryError::BadQuery {
        message: format!("{}{hint}", first_line(&message)),
        sql: sql.to_string(),
        at,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// The parser's `Line: L, Column: C`.
fn parser_position(message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.find("Line: ")? + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, col.parse().ok()?))
}

/// The first mention in the query of the name an error quotes (`"x"`, `'x'` or `` `x` ``).
fn named_position(message: &str, sql: &str) -> Option<(usize, usize)> {
    let name = ['"', '\'', '`'].iter().find_map(|q| {
        let start = message.find(*q)? + 1;
        let len = message[start..].find(*q)?;
        Some(&message[start..start + len]).filter(|n| !n.is_empty())
    })?;
    let lower = sql.to_lowercase();
    let needle = name.to_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let at = from + i;
        let before = lower[..at].chars().next_back();
        let after = lower[at + needle.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !word(before) && !word(after) {
            let line = sql[..at].matches('\n').count() + 1;
            let col = sql[..at].rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
            return Some((line, col));
        }
        from = at + needle.len();
    }
    None
}

fn render_bad_query(message: &str, sql: &str, at: &Option<(usize, usize)>) -> String {
    let Some((line, col)) = *at else {
        return format!("the query is wrong: {message}");
    };
    let text = sql.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let pad: String = text
        .chars()
        .take(col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("the query is wrong at {line}:{col}: {message}\n  {text}\n  {pad}^")
}

/// Writes `df` as `format`.
pub fn write(df: &mut DataFrame, format: Format, mut out: impl Write) -> Result<(), QueryError> {
    match format {
        Format::Table => out
            .write_all(table_text(df).as_bytes())
            .map_err(QueryError::Write),
        Format::Csv => CsvWriter::new(&mut out)
            .include_header(true)
            .finish(&mut csv_ready(df)?)
            .map_err(QueryError::Run),
        Format::Json => {
            let rows = json_rows(df);
            serde_json::to_writer(&mut out, &rows).map_err(|e| QueryError::Write(e.into()))?;
            out.write_all(b"\n").map_err(QueryError::Write)
        }
        Format::Parquet => ParquetWriter::new(&mut out)
            .finish(df)
            .map(|_| ())
            .map_err(QueryError::Run),
    }
}

/// `df` with its durations as integers (CSV has no duration type), each column's name saying the unit
/// (`late` → `late_us`).
fn csv_ready(df: &DataFrame) -> Result<DataFrame, QueryError> {
    let mut out = df.clone();
    for c in df.columns() {
        if let DataType::Duration(unit) = c.dtype() {
            let suffix = match unit {
                TimeUnit::Nanoseconds => "ns",
                TimeUnit::Microseconds => "us",
                TimeUnit::Milliseconds => "ms",
            };
            let ints = c.cast(&DataType::Int64).map_err(QueryError::Run)?;
            out.replace(c.name(), ints).map_err(QueryError::Run)?;
            out.rename(c.name(), format!("{}_{suffix}", c.name()).into())
                .map_err(QueryError::Run)?;
        }
    }
    Ok(out)
}

/// Writes `df` as `format` to the file `path`.
pub fn write_file(df: &mut DataFrame, format: Format, path: &Path) -> Result<(), QueryError> {
    let file = std::fs::File::create(path).map_err(QueryError::Write)?;
    let mut w = std::io::BufWriter::new(file);
    write(df, format, &mut w)?;
    w.flush().map_err(QueryError::Write)
}

/// A cell as text: strings bare, nulls empty, the rest as Polars shows them.
fn cell(v: &AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn numeric(dtype: &DataType) -> bool {
    dtype.is_primitive_numeric()
}

/// The frame as aligned columns (numbers right-aligned), with a line under the header and the row count.
fn table_text(df: &DataFrame) -> String {
    let columns = df.columns();
    let mut cells: Vec<Vec<String>> = columns
        .iter()
        .map(|c| {
            let s = c.as_materialized_series();
            (0..s.len())
                .map(|i| s.get(i).map(|v| cell(&v)).unwrap_or_default())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .zip(&cells)
        .map(|(c, vals)| {
            vals.iter()
                .map(|v| v.chars().count())
                .chain([c.name().chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let right: Vec<bool> = columns.iter().map(|c| numeric(c.dtype())).collect();
    let mut out = String::new();
    let line = |out: &mut String, vals: &mut dyn Iterator<Item = String>| {
        let row: Vec<String> = vals
            .zip(widths.iter().zip(&right))
            .map(|(v, (&w, &r))| {
                if r {
                    format!("{v:>w$}")
                } else {
                    format!("{v:<w$}")
                }
            })
            .collect();
        out.push_str(row.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut out, &mut columns.iter().map(|c| c.name().to_string()));
    line(&mut out, &mut widths.iter().map(|&w| "-".repeat(w)));
    for i in 0..df.height() {
        line(
            &mut out,
            &mut cells.iter_mut().map(|col| std::mem::take(&mut col[i])),
        );
    }
    let rows = df.height();
    out.push_str(&format!(
        "({rows} row{})\n",
        if rows == 1 { "" } else { "s" }
    ));
    out
}

/// The frame as JSON objects, one per row, keys in column order.
fn json_rows(df: &DataFrame) -> Vec<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let columns = df.columns();
    (0..df.height())
        .map(|i| {
            columns
                .iter()
                .map(|c| {
                    let v = c.get(i).unwrap_or(AnyValue::Null);
                    let json = match v {
                        AnyValue::Null => Value::Null,
                        AnyValue::Boolean(b) => Value::Bool(b),
                        AnyValue::Float32(f) => serde_json::Number::from_f64(f64::from(f))
                            .map_or(Value::Null, Value::Number),
                        AnyValue::Float64(f) => {
                            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                        }
                        ref v if v.dtype().is_integer() => v.extract::<i64>().map_or_else(
                            || {
                                v.extract::<u64>()
                                    .map_or_else(|| Value::String(cell(v)), Value::from)
                            },
                            Value::from,
                        ),
                        ref v => Value::String(cell(v)),
                    };
                    (c.name().to_string(), json)
                })
                .collect()
        })
        .collect()
}

/// The runs (name, directory) and the query of `wotemu query`'s arguments: `RUN_DIR… SQL` (a run is named
/// after its folder) or `--run NAME=DIR … SQL`.
pub fn runs_and_sql(
    mut args: Vec<String>,
    named: &[String],
) -> Result<(Vec<(String, PathBuf)>, String), String> {
    let sql = args.pop().ok_or("the query is missing")?;
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
            return Err(format!(
                "--run {r}: expected NAME=DIR, e.g. --run baseline=runs/baseline"
            ));
        };
        if runs.iter().any(|(n, _)| n == name) {
            return Err(format!(
                "--run {r}: the name `{name}` is given twice; name each run differently"
            ));
        }
        runs.push((name.to_string(), PathBuf::from(dir)));
    }
    if runs.is_empty() {
        return Err(
            "no run to query: give the run directory before the query, or --run NAME=DIR".into(),
        );
    }
    Ok((runs, sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_positions_are_read_from_the_message() {
        assert_eq!(
            parser_position(
                "sql parser error: Expected: end of statement, found: FRM at Line: 2, Column: 8"
            ),
            Some((2, 8))
        );
        assert_eq!(parser_position("no position"), None);
    }

    #[test]
    fn unknown_names_are_found_as_whole_words() {
        let sql = "SELECT thing, thingy\nFROM interactions";
        assert_eq!(
            named_position(r#"unable to find column "thingy""#, sql),
            Some((1, 15))
        );
        assert_eq!(
            named_position("relation 'interactions' was not found", sql),
            Some((2, 6))
        );
        assert_eq!(named_position("no quotes", sql), None);
    }

    #[test]
    fn a_located_error_points_at_its_column() {
        let text = render_bad_query("boom", "SELECT x FRM t", &Some((1, 10)));
        assert_eq!(
            text,
            "the query is wrong at 1:10: boom\n  SELECT x FRM t\n           ^"
        );
    }
}
