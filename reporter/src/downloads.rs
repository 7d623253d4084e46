//! The data downloads of a site: every table of the dataset as Parquet (copied) and as CSV (written in
//! slices, so memory stays bounded whatever the table's size).

use polars::prelude::*;
use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, scan};
use crate::load::Report;
use crate::views::DownloadView;

/// Rows per slice when a table is written as CSV.
const CSV_SLICE_ROWS: usize = 256 * 1024;

impl Report {
    /// Copies each table's Parquet file and writes it as CSV under `<site>/data/`.
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
            let pq = data.join(t.file_name());
            std::fs::copy(&src, &pq).map_err(|source| Error::Write {
                path: pq.clone(),
                source,
            })?;
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
                parquet: format!("data/{}", t.file_name()),
                csv: format!("data/{}.csv", t.name()),
            });
        }
        Ok(out)
    }
}
