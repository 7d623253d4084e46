//! Everything notable the collector does is one of these events: each writes one structured log line with
//! fields. The counters behind them live in the manifest's accounting, so nothing is dropped unreported.

use wotemu_contract::manifest::Problem;

/// An interrupted collection was resumed from its checkpoint.
pub(crate) struct Resumed {
    pub(crate) parts: usize,
    pub(crate) orphans_removed: usize,
}

impl Resumed {
    pub(crate) fn emit(self) {
        tracing::info!(
            parts = self.parts,
            orphans_removed = self.orphans_removed,
            "Resuming an interrupted collection."
        );
    }
}

/// A batch seen before (same task and sequence number) was skipped.
pub(crate) struct DuplicateSkipped<'a> {
    pub(crate) task: &'a str,
    pub(crate) seq: u64,
    pub(crate) records: u64,
}

impl DuplicateSkipped<'_> {
    pub(crate) fn emit(self) {
        tracing::debug!(
            task = self.task,
            seq = self.seq,
            records = self.records,
            "Duplicate batch skipped."
        );
    }
}

/// An entry could not be decoded; it is listed in the manifest's problems.
pub(crate) struct EntryRejected<'a> {
    pub(crate) problem: &'a Problem,
}

impl EntryRejected<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(
            stream = %self.problem.stream,
            id = %self.problem.id,
            error = %self.problem.error,
            "Stream entry rejected."
        );
    }
}

/// A legacy key or member could not be read.
pub(crate) struct LegacyRejected<'a> {
    pub(crate) problem: &'a Problem,
}

impl LegacyRejected<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(
            key = %self.problem.stream,
            member = %self.problem.id,
            error = %self.problem.error,
            "WoTemu 0.6 record rejected."
        );
    }
}

/// Lets the first `limit` warnings of a kind through, then counts the rest and reports them once.
pub(crate) struct RateLimit {
    limit: u64,
    seen: u64,
}

impl RateLimit {
    pub(crate) fn new(limit: u64) -> Self {
        RateLimit { limit, seen: 0 }
    }

    pub(crate) fn allow(&mut self) -> bool {
        self.seen += 1;
        self.seen <= self.limit
    }

    pub(crate) fn summary(&self, what: &str) {
        if self.seen > self.limit {
            tracing::warn!(
                suppressed = self.seen - self.limit,
                total = self.seen,
                "More {what} than shown; all are listed in manifest.json."
            );
        }
    }
}
