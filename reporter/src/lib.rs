//! `wotemu report`: a run dataset → a self-contained static site.
//!
//! [`Report::load`] aggregates the dataset's Parquet files with Polars (lazy scans; statistics on every
//! row, charts bucketed to at most [`charts::MAX_POINTS`] points); [`Report::render`] writes the pages with
//! Tera from the templates of `site-template/` (compiled in), the Vega-Lite specs inline, the vendored Vega
//! bundles with their licences, and every table as Parquet and CSV. The site makes no network request: it
//! works from `file://`, offline, and on GitHub Pages (relative links, `.nojekyll`).

pub mod aggregate;
pub mod charts;
pub mod error;
pub mod escape;
mod frames;
mod render;

pub use error::Error;
pub use render::{Rendered, Report, ReportOptions};
