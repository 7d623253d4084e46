//! The gateway's own accounting as dataset records: each window of a [`Report`] becomes one
//! [`NetworkSample`] per direction (the `network` table), and each change of conditions a
//! [`TimelineEvent`] of kind `conditions` (the `timeline` table). Pure: the caller ships them.

use serde_json::json;
use wotemu_contract::table::{NetworkSample, TimelineEvent};
use wotemu_topology::compose::conditions_object;
use wotemu_topology::model::Conditions;

use crate::shaper::DirStats;
use crate::userspace::Report;
use crate::Backend;

/// Who writes the records.
#[derive(Debug, Clone)]
pub struct Source {
    pub task: String,
    pub node: String,
    pub network: String,
    pub backend: Backend,
    pub reason: String,
}

impl Source {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Kernel => "kernel",
            Backend::Userspace => "userspace",
        }
    }
}

/// The conditions as the topology writes them (`latency`, `jitter`, `rate`…), for events and `net show`.
pub fn conditions_json(c: &Conditions) -> serde_json::Value {
    serde_json::Value::Object(conditions_object(c))
}

/// The rows of the window between `prev` (the previous report, or the default at the start) and `cur`,
/// which ended at `time_us` and lasted `window_s`.
pub fn window_rows(
    src: &Source,
    prev: &Report,
    cur: &Report,
    time_us: i64,
    window_s: f64,
) -> Vec<NetworkSample> {
    let c = cur.conditions;
    let kernel_drops = cur.kernel_dropped.saturating_sub(prev.kernel_dropped);
    let row =
        |direction: &str, d: DirStats, p: DirStats, w: usize, rate: Option<u64>, extra: u64| {
            let win = &cur.windows[w];
            let bytes = d.bytes_forwarded.saturating_sub(p.bytes_forwarded);
            NetworkSample {
                task: src.task.clone(),
                node: src.node.clone(),
                time: time_us,
                network: src.network.clone(),
                direction: direction.into(),
                backend: src.backend().into(),
                reason: src.reason.clone(),
                window_s,
                received: d.received.saturating_sub(p.received) + extra,
                forwarded: d.forwarded.saturating_sub(p.forwarded),
                bytes,
                lost: d.lost.saturating_sub(p.lost),
                dropped_rate: d.dropped_rate.saturating_sub(p.dropped_rate),
                dropped_overflow: d.dropped_overflow.saturating_sub(p.dropped_overflow) + extra,
                duplicated: d.duplicated.saturating_sub(p.duplicated),
                corrupted: d.corrupted.saturating_sub(p.corrupted),
                reordered: d.reordered.saturating_sub(p.reordered),
                delay_mean_ms: win.delay_mean_ms,
                delay_p50_ms: win.delay_p50_ms,
                delay_p99_ms: win.delay_p99_ms,
                rate_bps: if window_s > 0.0 {
                    bytes as f64 * 8.0 / window_s
                } else {
                    0.0
                },
                queue_packets: Some(win.queue_packets),
                lateness_p50_us: win.lateness_p50_us,
                lateness_p99_us: win.lateness_p99_us,
                cfg_latency_ms: c.one_way(direction == "up").0,
                cfg_jitter_ms: c.one_way(direction == "up").1,
                cfg_rate_bps: rate,
                cfg_loss_pct: c.one_way(direction == "up").2,
                cfg_duplicate_pct: c.duplicate_pct,
            }
        };
    match src.backend {
        Backend::Userspace => {
            let (s, p) = (&cur.stats.by_dir, &prev.stats.by_dir);
            vec![
                row("up", s[0], p[0], 0, c.rate_up_bps.or(c.rate_bps), 0),
                // Packets the kernel dropped before the shaper saw them cannot be told apart by
                // direction: they are counted in the `down` row.
                row("down", s[1], p[1], 1, c.rate_bps, kernel_drops),
            ]
        }
        Backend::Kernel => {
            let total = |s: &crate::shaper::Stats| DirStats {
                received: s.received,
                forwarded: s.forwarded,
                bytes_forwarded: s.bytes_forwarded,
                dropped_rate: s.dropped_rate,
                ..Default::default()
            };
            vec![row(
                "both",
                total(&cur.stats),
                total(&prev.stats),
                1,
                c.rate_bps,
                0,
            )]
        }
    }
}

/// The timeline event of a change of conditions: `planned_us` for a schedule step, `None` for a live change.
pub fn change_event(
    src: &Source,
    time_us: i64,
    planned_us: Option<i64>,
    old: &Conditions,
    new: &Conditions,
) -> TimelineEvent {
    TimelineEvent {
        task: src.task.clone(),
        node: src.node.clone(),
        time: time_us,
        planned: planned_us,
        kind: "conditions".into(),
        target: format!("network {}", src.network),
        outcome: if planned_us.is_some() { "schedule" } else { "live" }.into(),
        error: None,
        detail: Some(
            json!({"network": src.network, "old": conditions_json(old), "new": conditions_json(new)})
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userspace::Window;

    fn src(backend: Backend) -> Source {
        Source {
            task: "s_gw_3g.1.x".into(),
            node: "gw_3g".into(),
            network: "3g".into(),
            backend,
            reason: "test".into(),
        }
    }

    #[test]
    fn a_window_is_the_difference_of_two_reports_per_direction() {
        let mut prev = Report::default();
        prev.stats.by_dir[1].received = 10;
        prev.stats.by_dir[1].forwarded = 9;
        prev.stats.by_dir[1].bytes_forwarded = 9_000;
        prev.kernel_dropped = 2;
        let mut cur = prev.clone();
        cur.stats.by_dir[1].received = 110;
        cur.stats.by_dir[1].forwarded = 104;
        cur.stats.by_dir[1].lost = 5;
        cur.stats.by_dir[1].bytes_forwarded = 134_000;
        cur.stats.by_dir[0].received = 7;
        cur.stats.by_dir[0].forwarded = 7;
        cur.kernel_dropped = 5;
        cur.conditions.latency_ms = 100.0;
        cur.conditions.rate_bps = Some(1_000_000);
        cur.windows[1] = Window {
            measured: 95,
            delay_mean_ms: Some(101.0),
            queue_packets: 4,
            ..Default::default()
        };
        let rows = window_rows(&src(Backend::Userspace), &prev, &cur, 5, 0.5);
        assert_eq!(rows.len(), 2);
        let (up, down) = (&rows[0], &rows[1]);
        assert_eq!(
            (up.direction.as_str(), up.received, up.forwarded),
            ("up", 7, 7)
        );
        assert_eq!(down.direction, "down");
        // 100 more received, 3 of them dropped by the kernel before the shaper.
        assert_eq!(down.received, 103);
        assert_eq!(down.forwarded, 95);
        assert_eq!(down.lost, 5);
        assert_eq!(down.dropped_overflow, 3);
        assert_eq!(
            down.received,
            down.forwarded + down.lost + down.dropped_rate + down.dropped_overflow
        );
        assert_eq!(down.rate_bps, 125_000.0 * 8.0 / 0.5);
        assert_eq!(down.delay_mean_ms, Some(101.0));
        assert_eq!(down.queue_packets, Some(4));
        assert_eq!(
            (down.cfg_latency_ms, down.cfg_rate_bps),
            (100.0, Some(1_000_000))
        );
        assert_eq!(
            up.cfg_rate_bps,
            Some(1_000_000),
            "without rate_up both share rate"
        );
    }

    #[test]
    fn a_change_names_the_network_and_both_conditions() {
        let old = Conditions {
            latency_ms: 100.0,
            ..Default::default()
        };
        let new = Conditions {
            latency_ms: 500.0,
            ..Default::default()
        };
        let e = change_event(&src(Backend::Kernel), 10, Some(9), &old, &new);
        assert_eq!(
            (e.kind.as_str(), e.target.as_str()),
            ("conditions", "network 3g")
        );
        let d: serde_json::Value = serde_json::from_str(e.detail.as_deref().unwrap()).unwrap();
        assert_eq!(d["old"]["latency"], 100.0);
        assert_eq!(d["new"]["latency"], 500.0);
        assert_eq!(e.outcome, "schedule");
    }
}
