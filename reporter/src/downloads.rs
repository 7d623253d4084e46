//! The data downloads of a site: the tables of the dataset as Parquet (copied) and as CSV (written in
//! slices, so memory stays bounded whatever the table's size), as [`Downloads`] says.
//!
//! **The CSV budget.** CSV is many times larger than zstd Parquet (an 0.9 MB `packets.parquet` is an 83 MB
//! CSV), and a site must stay publishable (GitHub Pages: 100 MB per file, 1 GB per site). So with
//! [`Downloads::Parquet`] (the default) each table's CSV size is *estimated before anything is written* —
//! its rows × the mean width of a sample of its rows written as CSV — and tables get a CSV copy, smallest
//! first, only while the estimates add up to at most [`ReportOptions::downloads_budget`] bytes. The data
//! page says, for each table, whether it has a CSV copy and why not.
//!
//! [`ReportOptions::downloads_budget`]: crate::ReportOptions::downloads_budget

use polars::prelude::*;
use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, scan};
use crate::load::{Downloads, Report};
use crate::views::DownloadView;

/// Rows per slice when a table is written as CSV.
const CSV_SLICE_ROWS: usize = 256 * 1024;

/// Rows written as CSV (in memory) to estimate a table's mean CSV row width.
const SAMPLE_ROWS: u32 = 2_000;

/// What the site holds of one table, decided before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) table: Table,
    pub(crate) rows: usize,
    /// The CSV copy's estimated size, bytes.
    pub(crate) csv_estimate: u64,
    pub(crate) parquet: bool,
    pub(crate) csv: bool,
    /// Why the CSV copy is not in the site, for people (empty when it is).
    pub(crate) why_not: String,
}

/// Chooses the CSV copies: every table's with [`Downloads::Csv`], none with [`Downloads::None`], and with
/// [`Downloads::Parquet`] the smallest estimates first while their sum stays within `budget`. `tables` is
/// (table, rows, estimated CSV bytes).
pub(crate) fn choose(mode: Downloads, budget: u64, tables: &[(Table, usize, u64)]) -> Vec<Plan> {
    let mut plans: Vec<Plan> = tables
        .iter()
        .map(|&(table, rows, csv_estimate)| Plan {
            table,
            rows,
            csv_estimate,
            parquet: mode != Downloads::None,
            csv: mode == Downloads::Csv,
            why_not: match mode {
                Downloads::None => "no copies in this site (--downloads none)".into(),
                _ => String::new(),
            },
        })
        .collect();
    if mode != Downloads::Parquet {
        return plans;
    }
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| (plans[i].csv_estimate, plans[i].table.name()));
    let mut used = 0u64;
    for i in order {
        let p = &mut plans[i];
        if used.saturating_add(p.csv_estimate) <= budget {
            used += p.csv_estimate;
            p.csv = true;
        } else {
            p.why_not = format!(
                "its CSV would be about {}, beyond the {} the site's CSV copies may take in all \
                 ({} already used; wotemu report --downloads-budget or --downloads csv)",
                crate::format::bytes(p.csv_estimate as i64),
                crate::format::bytes(budget as i64),
                crate::format::bytes(used as i64),
            );
        }
    }
    plans
}

/// Writes `df` as CSV into `out`.
fn write_csv<W: std::io::Write>(
    out: &mut W,
    df: &mut DataFrame,
    header: bool,
    t: Table,
) -> Result<(), Error> {
    CsvWriter::new(out)
        .include_header(header)
        .finish(df)
        .map_err(|source| Error::Table {
            table: t.name(),
            source,
        })
}

impl Report {
    /// Each table's rows and estimated CSV size: rows × the mean width of the first rows written as CSV.
    fn estimates(&self) -> Result<Vec<(Table, usize, u64)>, Error> {
        let mut out = Vec::new();
        for t in Table::ALL {
            let Some(lf) = scan(&self.opts.dataset, t)? else {
                continue;
            };
            let rows = self.counts.get(&t).copied().unwrap_or(0).max(0) as usize;
            let mut sample = collect(lf.slice(0, SAMPLE_ROWS), t)?;
            let n = sample.height();
            let mut header = Vec::new();
            write_csv(&mut header, &mut sample.clear(), true, t)?;
            let mut body = Vec::new();
            write_csv(&mut body, &mut sample, false, t)?;
            let width = if n == 0 {
                0.0
            } else {
                body.len() as f64 / n as f64
            };
            out.push((
                t,
                rows,
                header.len() as u64 + (width * rows as f64).ceil() as u64,
            ));
        }
        Ok(out)
    }

    /// Copies each table's Parquet file and writes the CSV copies [`choose`] picks under `<site>/data/`;
    /// lists every table (with no link for a copy the site does not hold, and why).
    pub(crate) fn write_downloads(
        &self,
        site: &std::path::Path,
    ) -> Result<Vec<DownloadView>, Error> {
        let data = site.join("data");
        std::fs::create_dir_all(&data).map_err(|source| Error::Write {
            path: data.clone(),
            source,
        })?;
        let plans = choose(
            self.opts.downloads,
            self.opts.downloads_budget,
            &self.estimates()?,
        );
        let mut out = Vec::new();
        for p in plans {
            let t = p.table;
            let mut view = DownloadView {
                name: t.name(),
                rows: p.rows,
                parquet: None,
                csv: None,
                csv_estimate: crate::format::bytes(p.csv_estimate as i64),
                why_not: p.why_not.clone(),
            };
            if p.parquet {
                let src = self.opts.dataset.join(t.file_name());
                let pq = data.join(t.file_name());
                std::fs::copy(&src, &pq).map_err(|source| Error::Write {
                    path: pq.clone(),
                    source,
                })?;
                view.parquet = Some(format!("data/{}", t.file_name()));
            }
            if p.csv {
                let Some(lf) = scan(&self.opts.dataset, t)? else {
                    continue;
                };
                let csv = data.join(format!("{}.csv", t.name()));
                view.rows = self.write_table_csv(&lf, t, &csv)?;
                view.csv = Some(format!("data/{}.csv", t.name()));
            }
            out.push(view);
        }
        Ok(out)
    }

    /// Writes one table as CSV in slices; returns its rows.
    fn write_table_csv(
        &self,
        lf: &LazyFrame,
        t: Table,
        csv: &std::path::Path,
    ) -> Result<usize, Error> {
        let file = std::fs::File::create(csv).map_err(|source| Error::Write {
            path: csv.to_owned(),
            source,
        })?;
        let mut f = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut rows = 0usize;
        loop {
            let mut df = collect(lf.clone().slice(rows as i64, CSV_SLICE_ROWS as u32), t)?;
            let n = df.height();
            if n == 0 && rows > 0 {
                break;
            }
            write_csv(&mut f, &mut df, rows == 0, t)?;
            rows += n;
            if n < CSV_SLICE_ROWS {
                break;
            }
        }
        std::io::Write::flush(&mut f).map_err(|source| Error::Write {
            path: csv.to_owned(),
            source,
        })?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Vec<(Table, usize, u64)> {
        vec![
            (Table::Packets, 750_000, 83_000_000),
            (Table::Interactions, 60_000, 6_000_000),
            (Table::System, 10_000, 900_000),
            (Table::Tasks, 1_000, 3_500_000),
            (Table::Logs, 0, 20),
        ]
    }

    #[test]
    fn csv_copies_go_smallest_first_while_the_budget_holds() {
        let plans = choose(Downloads::Parquet, 10_000_000, &tables());
        let csv: Vec<&str> = plans
            .iter()
            .filter(|p| p.csv)
            .map(|p| p.table.name())
            .collect();
        // 20 + 900,000 + 3,500,000 fit; interactions (6 MB) would take the sum to 10.4 MB.
        assert_eq!(csv, ["system", "tasks", "logs"]);
        assert!(plans.iter().all(|p| p.parquet));
        let packets = plans.iter().find(|p| p.table == Table::Packets).unwrap();
        assert!(
            packets.why_not.contains("79.2 MiB") && packets.why_not.contains("--downloads-budget"),
            "{}",
            packets.why_not
        );
        let used: u64 = plans.iter().filter(|p| p.csv).map(|p| p.csv_estimate).sum();
        assert!(used <= 10_000_000);
    }

    #[test]
    fn the_other_modes_ignore_the_budget() {
        let all = choose(Downloads::Csv, 0, &tables());
        assert!(all
            .iter()
            .all(|p| p.csv && p.parquet && p.why_not.is_empty()));
        let none = choose(Downloads::None, u64::MAX, &tables());
        assert!(none
            .iter()
            .all(|p| !p.csv && !p.parquet && !p.why_not.is_empty()));
        let nothing = choose(Downloads::Parquet, 0, &tables());
        assert!(nothing.iter().all(|p| p.csv == (p.csv_estimate == 0)));
    }
}
