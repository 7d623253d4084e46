//! The run's timeline (outages, restarts, condition changes, scenario events), read once for the report.

use std::path::Path;

use serde::Serialize;
use wotemu_contract::table::Table;

use crate::error::Error;
use crate::frames::{collect, i64s, scan, strs};

/// One event of the run's timeline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TimelineRow {
    pub(crate) time_us: i64,
    pub(crate) kind: String,
    pub(crate) target: String,
    pub(crate) outcome: String,
    pub(crate) error: String,
    pub(crate) detail: String,
}

/// The timeline's events, in time order.
pub(crate) fn load(dir: &Path) -> Result<Vec<TimelineRow>, Error> {
    let Some(lf) = scan(dir, Table::Timeline)? else {
        return Ok(Vec::new());
    };
    let df = collect(lf.sort(["time"], Default::default()), Table::Timeline)?;
    let s = |n: &str| strs(&df, n);
    let (kind, target, outcome, error, detail) = (
        s("kind"),
        s("target"),
        s("outcome"),
        s("error"),
        s("detail"),
    );
    let time = i64s(&df, "time");
    Ok((0..df.height())
        .map(|i| TimelineRow {
            time_us: time[i].unwrap_or(0),
            kind: kind[i].clone().unwrap_or_default(),
            target: target[i].clone().unwrap_or_default(),
            outcome: outcome[i].clone().unwrap_or_default(),
            error: error[i].clone().unwrap_or_default(),
            detail: detail[i].clone().unwrap_or_default(),
        })
        .collect())
}
