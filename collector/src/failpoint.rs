//! Crash injection for tests: with `WOTEMU_FAILPOINT=N` in the environment, the process aborts (as `kill -9`
//! would end it: no destructor, no flush) at the N-th failpoint it reaches. Failpoints sit between every durable
//! step of the collector (part written, checkpoint saved, Redis trimmed, table merged, manifest written).
//! Without the variable a failpoint costs one relaxed atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static TARGET: OnceLock<u64> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

/// Marks a point where a crash must be survivable.
pub(crate) fn hit(name: &str) {
    let target = *TARGET.get_or_init(|| {
        std::env::var("WOTEMU_FAILPOINT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    if target == 0 {
        return;
    }
    let n = HITS.fetch_add(1, Ordering::Relaxed) + 1;
    if n == target {
        tracing::error!(failpoint = name, hit = n, "Aborting at failpoint.");
        std::process::abort();
    }
}
