//! `wotemu report`: a run dataset → a self-contained static site.
//!
//! [`Report::load`] (`load.rs`) aggregates the dataset's Parquet files with Polars (lazy scans; statistics on
//! every row in [`aggregate`], charts bucketed to at most [`charts::MAX_POINTS`] points in [`charts`]);
//! [`Report::render`] (`site.rs`) writes each page from its typed view (`views.rs`, built in `pages.rs`) with
//! Tera from the templates of `site-template/` (compiled in, `assets.rs`), the Vega-Lite specs inline, the
//! vendored Vega bundles with their licences, and every table as Parquet and CSV (`downloads.rs`).
//!
//! The site makes no network request: it works from `file://`, offline, and on GitHub Pages (relative links,
//! `.nojekyll`). This crate must never read Redis or Docker (only a dataset), mix the client's (consumed) and
//! the server's (exposed) side in one latency figure, or let a string from the data close a `<script>`
//! element ([`escape`]).

pub mod aggregate;
pub mod app;
mod assets;
pub mod charts;
pub mod compact;
pub mod compare;
mod downloads;
pub mod error;
pub mod escape;
pub mod format;
mod frames;
mod hosts;
pub mod incident;
mod load;
mod network;
mod pages;
pub mod query;
mod site;
mod task_pages;
mod timeline;
mod truth;
pub mod views;

pub use error::Error;
pub use frames::scan;
pub use load::{Downloads, Report, ReportOptions, DEFAULT_DOWNLOADS_BUDGET};
pub use site::{Rendered, FIGURES_FILE};
