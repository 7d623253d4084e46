//! The data downloads of a site: the tables of the dataset as Parquet (copied) and as CSV (written in
//! slices, so memory stays bounded whatever the table's size), as [`Downloads`] says.

use polars::prelude::*;
use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, scan};
use crate::load::{Downloads, Report};
use crate::views::DownloadView;

/// Rows per slice when a table is written as CSV.
const CSV_SLICE_ROWS: usize = 256 * 1024;

impl Report {
    /// Copies each table's Parquet file and writes it as CSV under `<site>/data/`, as the options say; lists
    /// every table (with no link for a copy the site does not hold).
    pub(crate) fn write_downloads(
        &self,
        site: &std::path::Path,
    ) -> Result<Vec<DownloadView>, Error> {
        let data = site.join("data");
        std::fs::create_dir_all(&data).map_err(|source| Error::Write {
            path: data.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for t in Table::ALL {
            let src = self.opts.dataset.join(t.file_name());
            let Some(lf) = scan(&self.opts.dataset, t)? else {
                continue;
            };
            let size = std::fs::metadata(&src).map(|m| m.len()).unwrap_or(0);
            let mode = self.opts.downloads;
            let rows_of = || -> Result<usize, Error> {
                let df = collect(lf.clone().select([len().alias("n")]), t)?;
                Ok(crate::frames::i64s(&df, "n")[0].unwrap_or(0) as usize)
            };
            if mode == Downloads::None {
                out.push(DownloadView {
                    name: t.name(),
                    rows: rows_of()?,
                    parquet: None,
                    csv: None,
                });
                continue;
            }
            let pq = data.join(t.file_name());
            std::fs::copy(&src, &pq).map_err(|source| Error::Write {
                path: pq.clone(),
                source,
            })?;
            if mode == Downloads::Parquet && size > self.opts.csv_under {
                out.push(DownloadView {
                    name: t.name(),
                    rows: rows_of()?,
                    parquet: Some(format!("data/{}", t.file_name())),
                    csv: None,
                });
                continue;
            }
            let csv = data.join(format!("{}.csv", t.name()));
            let file = std::fs::File::create(&csv).map_err(|source| Error::Write {
                path: csv.clone(),
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
                CsvWriter::new(&mut f)
                    .include_header(rows == 0)
                    .finish(&mut df)
                    .map_err(|source| Error::Table {
                        table: t.name(),
                        source,
                    })?;
                rows += n;
                if n < CSV_SLICE_ROWS {
                    break;
                }
            }
            std::io::Write::flush(&mut f).map_err(|source| Error::Write {
                path: csv.clone(),
                source,
            })?;
            out.push(DownloadView {
                name: t.name(),
                rows,
                parquet: Some(format!("data/{}", t.file_name())),
                csv: Some(format!("data/{}.csv", t.name())),
            });
        }
        Ok(out)
    }
}
