//! A run's scenario: the topology's timed events expanded into steps (each occurrence of a repeated event,
//! and the undo of each event with a `for`), in time order. The runner ([`crate::Lab::supervise`]) does each
//! step when its time comes and records it in the run's timeline (kind `scenario`, its planned time, what
//! it did, and whether it worked).

use wotemu_topology::model::{Action, ScenarioEvent};

/// One thing to do at a time of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// From the start of the run (the moment every replica was started).
    pub at_ms: f64,
    /// The event (index in the topology's scenario).
    pub event: usize,
    /// Undo the event (the end of its `for`).
    pub undo: bool,
    /// Which occurrence of a repeated event (1-based).
    pub occurrence: u32,
}

/// Every step of `events` within a run of `duration_ms`, in time order (an undo before a new start at the
/// same time).
pub fn steps(events: &[ScenarioEvent], duration_ms: f64) -> Vec<Step> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let mut k = 0u32;
        loop {
            let at = e.at_ms + f64::from(k) * e.every_ms.unwrap_or(0.0);
            if at >= duration_ms || e.count.is_some_and(|c| k >= c) {
                break;
            }
            k += 1;
            out.push(Step {
                at_ms: at,
                event: i,
                undo: false,
                occurrence: k,
            });
            if let Some(f) = e.for_ms {
                out.push(Step {
                    at_ms: (at + f).min(duration_ms),
                    event: i,
                    undo: true,
                    occurrence: k,
                });
            }
            if e.every_ms.is_none() {
                break;
            }
        }
    }
    out.sort_by(|a, b| {
        a.at_ms
            .total_cmp(&b.at_ms)
            .then(b.undo.cmp(&a.undo))
            .then(a.event.cmp(&b.event))
    });
    out
}

/// Events that would never happen in a run of `duration_ms`: an error for each, naming it.
pub fn check(events: &[ScenarioEvent], duration_ms: f64) -> Vec<String> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.at_ms >= duration_ms)
        .map(|(i, e)| {
            format!(
                "scenario event {i} ({} {}) is at {:.1} s, after the end of the run ({:.1} s): make the run longer (--duration) or the event earlier",
                e.action.name(),
                e.action.target(),
                e.at_ms / 1000.0,
                duration_ms / 1000.0
            )
        })
        .collect()
}

/// What a step does, for the timeline: (`start`/`end`/`done`, action name).
pub fn outcome(e: &ScenarioEvent, undo: bool) -> &'static str {
    match (&e.action, undo) {
        (_, true) => "end",
        (Action::Kill { .. } | Action::Resume { .. } | Action::Restart { .. }, false) => "done",
        (Action::Stress { .. }, false) => "start",
        (_, false) if e.for_ms.is_some() => "start",
        _ => "done",
    }
}

/// What a `stress` step runs inside a node's cgroups (`wotemu stress-load`): `memory_bytes` allocated and
/// every page written (so that the cgroup counts it), and `cpu_pct` % of one core kept busy — a thread per
/// started 100 %, each busy its share of every 100 ms. Runs until it is killed.
pub fn load(cpu_pct: f64, memory_bytes: u64) -> ! {
    let mut held: Vec<u8> = Vec::new();
    if memory_bytes > 0 {
        held = vec![0u8; memory_bytes as usize];
        for i in (0..held.len()).step_by(4096) {
            held[i] = 1;
        }
    }
    let threads = (cpu_pct / 100.0).ceil().max(0.0) as usize;
    for t in 0..threads {
        let share = ((cpu_pct - 100.0 * t as f64).min(100.0) / 100.0).max(0.0);
        std::thread::spawn(move || loop {
            let start = std::time::Instant::now();
            let busy = std::time::Duration::from_secs_f64(0.1 * share);
            while start.elapsed() < busy {
                std::hint::spin_loop();
            }
            if share < 1.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(0.1 * (1.0 - share)));
            }
        });
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        std::hint::black_box(&held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wotemu_topology::model::Target;

    fn ev(at: f64, for_ms: Option<f64>, every: Option<f64>, count: Option<u32>) -> ScenarioEvent {
        ScenarioEvent {
            at_ms: at,
            for_ms,
            every_ms: every,
            count,
            action: Action::Pause {
                target: Target {
                    node: "reader".into(),
                    slot: None,
                    share_pct: None,
                },
            },
        }
    }

    #[test]
    fn repeats_and_undos_come_in_time_order() {
        let s = steps(
            &[
                ev(1000.0, Some(500.0), Some(2000.0), Some(3)),
                ev(1500.0, None, None, None),
            ],
            10_000.0,
        );
        let got: Vec<(f64, usize, bool)> = s.iter().map(|s| (s.at_ms, s.event, s.undo)).collect();
        assert_eq!(
            got,
            [
                (1000.0, 0, false),
                (1500.0, 0, true),
                (1500.0, 1, false),
                (3000.0, 0, false),
                (3500.0, 0, true),
                (5000.0, 0, false),
                (5500.0, 0, true),
            ]
        );
        // Without a count a repeat goes on until the end; an undo past the end happens at the end.
        let s = steps(&[ev(0.0, Some(3000.0), Some(4000.0), None)], 10_000.0);
        assert_eq!(s.len(), 6);
        assert_eq!(s.last().unwrap().at_ms, 10_000.0);
        assert_eq!(check(&[ev(12_000.0, None, None, None)], 10_000.0).len(), 1);
    }
}
