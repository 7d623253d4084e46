//! A scenario's timeline: the topology's timed events expanded into steps (each occurrence of a repeated
//! event, and the undo of each event with a `for`), in time order, shared by both engines — the one-host
//! runner (`wotemu run`) and the Swarm stack's `scenario` service — and by `wotemu topology show`. Also the
//! checks that need the timeline: events past the end of a run, and contradictory events (one event's
//! change falling inside another's `for` on the same network, node or link, so that one undo would restore
//! what the other had changed).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{Action, ScenarioEvent};

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
/// same time); an undo past the end happens at the end.
pub fn steps(events: &[ScenarioEvent], duration_ms: f64) -> Vec<Step> {
    steps_in(events, 0.0, f64::INFINITY, duration_ms)
}

/// The steps whose time is in `[from_ms, to_ms)`, of events whose occurrences start before `end_ms` (an
/// undo past `end_ms` happens at `end_ms`), in time order. A run without a set end (a Swarm stack, which
/// ends when it is stopped) takes them a window at a time with `end_ms` infinite.
pub fn steps_in(events: &[ScenarioEvent], from_ms: f64, to_ms: f64, end_ms: f64) -> Vec<Step> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let every = e.every_ms.filter(|v| *v > 0.0);
        // The first occurrence that may still have a step at or after `from_ms`.
        let mut k: u32 = match every {
            Some(ev) if from_ms > e.at_ms + e.for_ms.unwrap_or(0.0) => {
                ((from_ms - e.at_ms - e.for_ms.unwrap_or(0.0)) / ev)
                    .floor()
                    .max(0.0) as u32
            }
            _ => 0,
        };
        loop {
            let at = e.at_ms + f64::from(k) * every.unwrap_or(0.0);
            if at >= end_ms || at >= to_ms || e.count.is_some_and(|c| k >= c) {
                break;
            }
            k += 1;
            if at >= from_ms {
                out.push(Step {
                    at_ms: at,
                    event: i,
                    undo: false,
                    occurrence: k,
                });
            }
            if let Some(f) = e.for_ms {
                let undo = (at + f).min(end_ms);
                if undo >= from_ms && undo < to_ms {
                    out.push(Step {
                        at_ms: undo,
                        event: i,
                        undo: true,
                        occurrence: k,
                    });
                }
            }
            if every.is_none() {
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

/// What a step does, for the timeline's `outcome`: `start`, `end` or `done`.
pub fn outcome(e: &ScenarioEvent, undo: bool) -> &'static str {
    match (&e.action, undo) {
        (_, true) => "end",
        (Action::Kill { .. } | Action::Resume { .. } | Action::Restart { .. }, false) => "done",
        (Action::Stress { .. }, false) => "start",
        (_, false) if e.for_ms.is_some() => "start",
        _ => "done",
    }
}

/// What a step does, in a word, for the timeline's `detail.action`: the action's name, or its undo
/// (`resume`, `unstress`, `reconnect`, `scale back`, `restore`).
pub fn action_word(e: &ScenarioEvent, undo: bool) -> &'static str {
    if !undo {
        return e.action.name();
    }
    match e.action {
        Action::Pause { .. } => "resume",
        Action::Stress { .. } => "unstress",
        Action::Partition { .. } | Action::Disconnect { .. } => "reconnect",
        Action::Scale { .. } => "scale back",
        _ => "restore",
    }
}

/// The `wotemu` arguments of a `stress` step's load (`wotemu stress-load`, run inside the node: in its cgroups
/// on one host, by `docker exec` in its container in Swarm, where it ends by itself after `for_ms`).
pub fn stress_args(
    cpu_pct: Option<f64>,
    memory_bytes: Option<u64>,
    for_ms: Option<f64>,
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-q".into(),
        "stress-load".into(),
        "--cpu-pct".into(),
        cpu_pct.unwrap_or(0.0).to_string(),
        "--memory-bytes".into(),
        memory_bytes.unwrap_or(0).to_string(),
    ];
    if let Some(f) = for_ms {
        args.extend(["--for-ms".into(), (f.round() as u64).to_string()]);
    }
    args
}

/// The conditions a `partition` or `conditions` step asks a network's gateway for, given the conditions in
/// force now (`current`, the gateway's JSON) — the same in both engines. What a step replaces is kept in
/// `saved` (under the event and network) for its undo, which asks for it back. `None` for other actions.
pub fn network_change(
    e: &ScenarioEvent,
    event: usize,
    undo: bool,
    current: Option<Value>,
    saved: &mut BTreeMap<String, Value>,
) -> Option<Result<Value, String>> {
    let (Action::Partition { network } | Action::Conditions { network, .. }) = &e.action else {
        return None;
    };
    let key = format!("{event}:{network}");
    let not_yet = || format!("the gateway of {network} has not said its conditions yet");
    Some(match (&e.action, undo) {
        (_, true) => saved
            .remove(&key)
            .ok_or_else(|| "the conditions to go back to were not recorded".to_owned()),
        (Action::Partition { .. }, false) => match current {
            Some(mut c) => {
                saved.insert(key, c.clone());
                c["loss"] = serde_json::json!(100.0);
                Ok(c)
            }
            None => Err(not_yet()),
        },
        (Action::Conditions { conditions, .. }, false) => {
            if let Some(c) = current {
                saved.insert(key, c);
            }
            Ok(Value::Object(crate::compose::conditions_object(conditions)))
        }
        _ => Err(not_yet()),
    })
}

/// What an event changes that another event may change back: events on the same key contradict each
/// other when one starts inside the other's `for`. `None` for events that change nothing an undo restores
/// (kill, restart, churn, stress — loads add up).
fn resource(a: &Action) -> Option<(String, Option<u32>)> {
    match a {
        Action::Partition { network } | Action::Conditions { network, .. } => {
            Some((format!("the conditions of network {network}"), None))
        }
        Action::Pause { target } | Action::Resume { target } => {
            Some((format!("the pause of {}", target.node), target.slot))
        }
        Action::Scale { node, .. } => Some((format!("the scale of {node}"), None)),
        Action::Disconnect { node, network } => {
            Some((format!("the link of {node} to {network}"), None))
        }
        Action::Kill { .. }
        | Action::Restart { .. }
        | Action::Churn { .. }
        | Action::Stress { .. } => None,
    }
}

/// The most occurrences of one event looked at for contradictions.
const MAX_OCCURRENCES: usize = 10_000;

/// Pairs of contradictory events `(first, second, why)` (indices in `events`): the second starts while the
/// first's `for` is in force and both change the same thing, so the first's undo would put back what was
/// there before either. Repeats are expanded over the longest span any event reaches (at most
/// 10,000 occurrences each; events repeating without end are followed for ten of their periods past the
/// last start).
pub fn contradictions(events: &[ScenarioEvent]) -> Vec<(usize, usize, String)> {
    let last_at = events.iter().map(|e| e.at_ms).fold(0.0, f64::max);
    let longest = events
        .iter()
        .map(|e| e.for_ms.unwrap_or(0.0) + e.every_ms.unwrap_or(0.0) * 10.0)
        .fold(0.0, f64::max);
    let horizon = last_at + longest + 1.0;
    let windows: Vec<Vec<(f64, f64)>> = events
        .iter()
        .map(|e| {
            let mut v = Vec::new();
            let mut k = 0u32;
            loop {
                let at = e.at_ms + f64::from(k) * e.every_ms.unwrap_or(0.0);
                if at > horizon || e.count.is_some_and(|c| k >= c) || v.len() >= MAX_OCCURRENCES {
                    break;
                }
                v.push((at, at + e.for_ms.unwrap_or(0.0)));
                k += 1;
                if e.every_ms.is_none_or(|ev| ev <= 0.0) {
                    break;
                }
            }
            v
        })
        .collect();
    let mut out = Vec::new();
    for (i, a) in events.iter().enumerate() {
        if a.for_ms.is_none() {
            continue;
        }
        let Some((key_a, slot_a)) = resource(&a.action) else {
            continue;
        };
        for (j, b) in events.iter().enumerate() {
            if i == j {
                continue;
            }
            let Some((key_b, slot_b)) = resource(&b.action) else {
                continue;
            };
            if key_a != key_b || matches!((slot_a, slot_b), (Some(x), Some(y)) if x != y) {
                continue;
            }
            let hit = windows[j].iter().find_map(|&(bs, _)| {
                windows[i]
                    .iter()
                    .find(|&&(s, e)| bs >= s && bs < e && !(bs == s && j < i))
                    .map(|&(s, e)| (bs, s, e))
            });
            if let Some((bs, s, e)) = hit {
                let (first, second) = if j < i { (j, i) } else { (i, j) };
                if out.iter().any(|&(f, s2, _)| (f, s2) == (first, second)) {
                    continue;
                }
                out.push((
                    first,
                    second,
                    format!(
                        "`{} {}` at {:.1} s changes {key_a} while `{} {}` (from {:.1} s for {:.1} s) is in force: its end would undo both",
                        b.action.name(),
                        b.action.target(),
                        bs / 1000.0,
                        a.action.name(),
                        a.action.target(),
                        s / 1000.0,
                        (e - s) / 1000.0
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Target;

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

    fn partition(at: f64, for_ms: Option<f64>, network: &str) -> ScenarioEvent {
        ScenarioEvent {
            at_ms: at,
            for_ms,
            every_ms: None,
            count: None,
            action: Action::Partition {
                network: network.into(),
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

    #[test]
    fn windows_of_an_endless_run_add_up_to_the_whole() {
        let events = [
            ev(1000.0, Some(1500.0), Some(2000.0), None),
            ev(2500.0, None, None, None),
        ];
        let whole = steps_in(&events, 0.0, 20_000.0, f64::INFINITY);
        let mut parts = Vec::new();
        let mut from = 0.0;
        while from < 20_000.0 {
            parts.extend(steps_in(
                &events,
                from,
                (from + 3000.0).min(20_000.0),
                f64::INFINITY,
            ));
            from += 3000.0;
        }
        assert_eq!(parts, whole);
        // Starts at 1, 3, …, 19 s and undos at 2.5, 4.5, …, 18.5 s (20.5 s is past the window), one more
        // event.
        assert_eq!(whole.len(), 10 + 9 + 1);
        assert!(whole.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }

    #[test]
    fn contradictory_events_are_found() {
        // A partition inside another partition's `for` of the same network.
        let c = contradictions(&[
            partition(1000.0, Some(5000.0), "3g"),
            partition(3000.0, Some(5000.0), "3g"),
        ]);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].0, c[0].1), (0, 1));
        assert!(c[0].2.contains("network 3g"), "{}", c[0].2);
        // Other networks, or one after the other, are fine.
        assert!(contradictions(&[
            partition(1000.0, Some(5000.0), "3g"),
            partition(3000.0, Some(5000.0), "wifi"),
            partition(6000.0, Some(1000.0), "3g"),
        ])
        .is_empty());
        // A pause of one replica while all are paused, found in the third repeat.
        let mut one = ev(4500.0, None, None, None);
        if let Action::Pause { target } = &mut one.action {
            target.slot = Some(2);
        }
        let c = contradictions(&[ev(0.0, Some(1000.0), Some(2000.0), None), one.clone()]);
        assert_eq!(c.len(), 1, "{c:?}");
        // Kills and stress change nothing an undo restores.
        let kill = ScenarioEvent {
            action: Action::Kill {
                target: Target {
                    node: "reader".into(),
                    slot: None,
                    share_pct: None,
                },
            },
            ..one
        };
        assert!(contradictions(&[ev(0.0, Some(10_000.0), None, None), kill]).is_empty());
    }
}
