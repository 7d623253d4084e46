//! What a gateway applies: conditions and their schedule, read from the JSON that `wotemu compose` writes
//! into the gateway's command (0.6's `{"latency": ms, "jitter": ms, "rate": "1.5mbit"}` plus the new
//! fields `rate_up`, `loss`, `duplicate`, `corrupt`, `reorder` and a `schedule` of steps with `at`/`for` ms).

use serde_json::Value;
use wotemu_topology::model::{Conditions, Distribution, Fairness, QueueLimit, TracePoint};
use wotemu_topology::units;

use crate::Error;

/// A change of conditions at a time of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at_ms: f64,
    pub for_ms: Option<f64>,
    pub conditions: Conditions,
}

/// A trace being replayed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    /// Interpolate between rows every [`TRACE_STEP_MS`] (else each row holds until the next).
    pub linear: bool,
    /// Start again after the last row; the last row lasts as long as the one before it.
    pub looped: bool,
    pub points: Vec<TracePoint>,
}

/// How often a linearly interpolated trace changes the conditions (ms); the kernel backend runs one `tc
/// change` per change.
pub const TRACE_STEP_MS: f64 = 100.0;

impl Trace {
    /// The length of one pass when looped.
    fn period(&self) -> Option<f64> {
        if !self.looped {
            return None;
        }
        let n = self.points.len();
        let last = self.points.last()?.at_ms;
        let gap = if n >= 2 {
            last - self.points[n - 2].at_ms
        } else {
            0.0
        };
        Some(last + gap).filter(|p| *p > 0.0)
    }

    /// (the pass's start, the time within the pass).
    fn within(&self, t_ms: f64) -> (f64, f64) {
        match self.period() {
            Some(p) if t_ms >= 0.0 => {
                let k = (t_ms / p).floor();
                (k * p, t_ms - k * p)
            }
            _ => (0.0, t_ms),
        }
    }

    /// The figures the trace gives at `t_ms` (none before its first row).
    fn at(&self, t_ms: f64) -> Option<TracePoint> {
        let (_, tt) = self.within(t_ms);
        let i = self.points.iter().rposition(|p| p.at_ms <= tt)?;
        let a = self.points[i];
        let Some(b) = self.points.get(i + 1).filter(|_| self.linear) else {
            return Some(a);
        };
        let f = ((tt - a.at_ms) / (b.at_ms - a.at_ms)).clamp(0.0, 1.0);
        let lerp = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => Some(x + (y - x) * f),
            (x, _) => x,
        };
        let lerp_u = |x: Option<u64>, y: Option<u64>| {
            lerp(x.map(|v| v as f64), y.map(|v| v as f64)).map(|v| v.round().max(8.0) as u64)
        };
        Some(TracePoint {
            at_ms: tt,
            latency_ms: lerp(a.latency_ms, b.latency_ms),
            jitter_ms: lerp(a.jitter_ms, b.jitter_ms),
            rate_bps: lerp_u(a.rate_bps, b.rate_bps),
            rate_up_bps: lerp_u(a.rate_up_bps, b.rate_up_bps),
            loss_pct: lerp(a.loss_pct, b.loss_pct),
        })
    }

    /// The first time after `t_ms` at which the trace changes the conditions.
    fn next_change(&self, t_ms: f64) -> Option<f64> {
        let first = self.points.first()?.at_ms;
        let last = self.points.last()?.at_ms;
        let (start, tt) = self.within(t_ms);
        if self.linear && tt >= first && tt < last {
            return Some(t_ms + TRACE_STEP_MS);
        }
        if let Some(p) = self.points.iter().find(|p| p.at_ms > tt) {
            return Some(start + p.at_ms);
        }
        self.period().map(|p| start + p + first)
    }
}

/// A gateway's conditions over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec {
    pub base: Conditions,
    pub schedule: Vec<Step>,
    pub trace: Option<Trace>,
    /// The seed of the random decisions (`seed`: the network's, derived from the run's by compose).
    pub seed: Option<u64>,
    /// The network's delays measured by ping (`ping`: one-way delays at evenly spaced quantiles).
    pub ping: Option<std::sync::Arc<crate::dist::Measured>>,
}

impl Spec {
    /// A spec without schedule.
    pub fn constant(c: Conditions) -> Spec {
        Spec {
            base: c,
            schedule: Vec::new(),
            trace: None,
            seed: None,
            ping: None,
        }
    }

    /// Reads the gateway's `--conditions` JSON.
    pub fn from_json(s: &str) -> Result<Spec, Error> {
        let v: Value =
            serde_json::from_str(s).map_err(|e| Error::Spec(format!("not JSON ({e}): {s}")))?;
        let base = conditions(&v)?;
        let mut schedule = Vec::new();
        if let Some(steps) = v.get("schedule") {
            let steps = steps
                .as_array()
                .ok_or_else(|| Error::Spec("`schedule` must be a list of steps".into()))?;
            for st in steps {
                let at_ms = number(st, "at")?.ok_or_else(|| {
                    Error::Spec("every schedule step needs `at` (ms from the start)".into())
                })?;
                schedule.push(Step {
                    at_ms,
                    for_ms: number(st, "for")?,
                    conditions: conditions(st)?,
                });
            }
        }
        schedule.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        let trace = match v.get("trace") {
            None | Some(Value::Null) => None,
            Some(t) => Some(trace(t)?),
        };
        let seed = match v.get("seed") {
            None | Some(Value::Null) => None,
            Some(x) => Some(x.as_u64().ok_or_else(|| {
                Error::Spec(format!(
                    "`seed` must be a whole number from 0 to 2^64 − 1, not {x}"
                ))
            })?),
        };
        let ping = match v.get("ping") {
            None | Some(Value::Null) => None,
            Some(q) => Some(std::sync::Arc::new(crate::dist::Measured::new(
                serde_json::from_value::<Vec<f64>>(q.clone())
                    .ok()
                    .filter(|q| q.len() >= 2 && q.iter().all(|x| x.is_finite() && *x >= 0.0))
                    .ok_or_else(|| {
                        Error::Spec(format!(
                            "`ping` must be a list of delays in ms (at least two), not {q}"
                        ))
                    })?,
            ))),
        };
        let spec = Spec {
            base,
            schedule,
            trace,
            seed,
            ping,
        };
        for c in spec.all_conditions() {
            crate::dist::Shape::of(c.distribution, spec.ping.as_deref())?;
        }
        Ok(spec)
    }

    /// One set of conditions (a live change, or a gateway's state), checked as a spec's are except for what
    /// only the network's spec carries: `distribution: ping` needs the measured delays the gateway started
    /// with, which a change cannot bring (a gateway without them keeps its distribution and says so).
    pub fn live_conditions(s: &str) -> Result<Conditions, Error> {
        let v: Value =
            serde_json::from_str(s).map_err(|e| Error::Spec(format!("not JSON ({e}): {s}")))?;
        conditions(&v)
    }

    /// The conditions in force `t_ms` after the start.
    pub fn at(&self, t_ms: f64) -> Conditions {
        let mut c = self.base;
        for s in &self.schedule {
            if s.at_ms <= t_ms {
                c = match s.for_ms {
                    Some(f) if t_ms >= s.at_ms + f => self.base,
                    _ => s.conditions,
                };
            }
        }
        if let Some(p) = self.trace.as_ref().and_then(|t| t.at(t_ms)) {
            c.latency_ms = p.latency_ms.unwrap_or(c.latency_ms);
            c.jitter_ms = p.jitter_ms.unwrap_or(c.jitter_ms);
            c.rate_bps = p.rate_bps.or(c.rate_bps);
            c.rate_up_bps = p.rate_up_bps.or(c.rate_up_bps);
            c.loss_pct = p.loss_pct.unwrap_or(c.loss_pct);
        }
        c
    }

    /// The first time after `t_ms` at which the conditions may change (a schedule step or a trace row),
    /// and whether it is a step of the schedule; `None`: they never change again.
    pub fn next_change(&self, t_ms: f64) -> Option<(f64, bool)> {
        let sched = self.changes().into_iter().find(|c| *c > t_ms);
        let trace = self.trace.as_ref().and_then(|t| t.next_change(t_ms));
        match (sched, trace) {
            (Some(s), Some(t)) if t < s => Some((t, false)),
            (Some(s), _) => Some((s, true)),
            (None, Some(t)) => Some((t, false)),
            (None, None) => None,
        }
    }

    /// Every set of conditions the spec can give (for choosing a backend and knowing whether packets'
    /// bytes are needed).
    pub fn all_conditions(&self) -> Vec<Conditions> {
        let mut v = vec![self.base];
        v.extend(self.schedule.iter().map(|s| s.conditions));
        if let Some(t) = &self.trace {
            v.extend(t.points.iter().map(|p| self.at_point(p)));
        }
        v
    }

    fn at_point(&self, p: &TracePoint) -> Conditions {
        let mut c = self.base;
        c.latency_ms = p.latency_ms.unwrap_or(c.latency_ms);
        c.jitter_ms = p.jitter_ms.unwrap_or(c.jitter_ms);
        c.rate_bps = p.rate_bps.or(c.rate_bps);
        c.rate_up_bps = p.rate_up_bps.or(c.rate_up_bps);
        c.loss_pct = p.loss_pct.unwrap_or(c.loss_pct);
        c
    }

    /// The times (ms) at which the conditions change.
    pub fn changes(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self
            .schedule
            .iter()
            .flat_map(|s| std::iter::once(s.at_ms).chain(s.for_ms.map(|f| s.at_ms + f)))
            .collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        t
    }
}

fn number(v: &Value, key: &str) -> Result<Option<f64>, Error> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => units::parse_duration_ms(s)
            .map(Some)
            .or_else(|_| s.trim().parse::<f64>().map(Some))
            .map_err(|_| Error::Spec(format!("`{key}`: `{s}` is not a duration in ms"))),
        Some(other) => Err(Error::Spec(format!("`{key}`: {other} is not a number"))),
    }
}

fn rate(v: &Value, key: &str) -> Result<Option<u64>, Error> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().map(|f| f as u64)),
        Some(Value::String(s)) => units::parse_rate_bps(s)
            .map(Some)
            .map_err(|e| Error::Spec(format!("`{key}`: {e}"))),
        Some(other) => Err(Error::Spec(format!("`{key}`: {other} is not a rate"))),
    }
}

fn percent(v: &Value, key: &str) -> Result<f64, Error> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(0.0),
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(0.0)),
        Some(Value::String(s)) => {
            units::parse_percent(s).map_err(|e| Error::Spec(format!("`{key}`: {e}")))
        }
        Some(other) => Err(Error::Spec(format!("`{key}`: {other} is not a percentage"))),
    }
}

/// `{"interpolate", "loop", "points": [[ms, latency, jitter, rate, rate_up, loss], …]}` (compose's form).
fn trace(v: &Value) -> Result<Trace, Error> {
    let bad = |m: String| Error::Spec(format!("`trace`: {m}"));
    let linear = match v.get("interpolate").and_then(Value::as_str) {
        None | Some("step") => false,
        Some("linear") => true,
        Some(o) => return Err(bad(format!("`{o}` is not `step` or `linear`"))),
    };
    let looped = v.get("loop").and_then(Value::as_bool).unwrap_or(false);
    let rows = v
        .get("points")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`points` must be a list of rows".into()))?;
    let mut points: Vec<TracePoint> = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let r = r.as_array().filter(|r| r.len() == 6).ok_or_else(|| {
            bad(format!(
                "row {i} is not [ms, latency, jitter, rate, rate_up, loss]"
            ))
        })?;
        let f = |k: usize| r[k].as_f64();
        let at_ms = f(0).ok_or_else(|| bad(format!("row {i} has no time")))?;
        if points.last().is_some_and(|p| p.at_ms >= at_ms) {
            return Err(bad(format!("row {i} is not after the one before it")));
        }
        let p = TracePoint {
            at_ms,
            latency_ms: f(1),
            jitter_ms: f(2),
            rate_bps: f(3).map(|x| x as u64),
            rate_up_bps: f(4).map(|x| x as u64),
            loss_pct: f(5),
        };
        if p.latency_ms.is_some_and(|x| x < 0.0)
            || p.jitter_ms.is_some_and(|x| x < 0.0)
            || p.rate_bps == Some(0)
            || p.rate_up_bps == Some(0)
            || p.loss_pct.is_some_and(|x| !(0.0..=100.0).contains(&x))
        {
            return Err(bad(format!("row {i} has a value out of range")));
        }
        points.push(p);
    }
    if points.is_empty() {
        return Err(bad("it has no rows".into()));
    }
    Ok(Trace {
        linear,
        looped,
        points,
    })
}

fn conditions(v: &Value) -> Result<Conditions, Error> {
    let c = Conditions {
        latency_ms: number(v, "latency")?.unwrap_or(0.0),
        jitter_ms: number(v, "jitter")?.unwrap_or(0.0),
        rate_bps: rate(v, "rate")?,
        rate_up_bps: rate(v, "rate_up")?,
        loss_pct: percent(v, "loss")?,
        duplicate_pct: percent(v, "duplicate")?,
        corrupt_pct: percent(v, "corrupt")?,
        reorder_pct: percent(v, "reorder")?,
        latency_up_ms: number(v, "latency_up")?,
        jitter_up_ms: number(v, "jitter_up")?,
        loss_up_pct: match v.get("loss_up") {
            None | Some(Value::Null) => None,
            Some(_) => Some(percent(v, "loss_up")?),
        },
        loss_gilbert: gilbert(v)?,
        distribution: match v.get("distribution") {
            None | Some(Value::Null) => Distribution::Normal,
            Some(Value::String(s)) => {
                Distribution::parse(s).ok_or_else(|| Error::Spec(Distribution::unknown(s)))?
            }
            Some(other) => {
                return Err(Error::Spec(format!(
                    "`distribution`: {other} is not a name"
                )))
            }
        },
        correlation_pct: percent(v, "correlation")?,
        queue: queue(v)?,
        fairness: match v.get("fairness") {
            None | Some(Value::Null) => Fairness::Fifo,
            Some(Value::String(s)) => Fairness::parse(s).map_err(Error::Spec)?,
            Some(other) => {
                return Err(Error::Spec(format!(
                    "`fairness`: {other} is not fifo or per-node"
                )))
            }
        },
    };
    // A table that cannot be read is an error now, not a shaper silently drawing normal delays.
    crate::dist::table(c.distribution)?;
    if !(0.0..=100.0).contains(&c.correlation_pct) {
        return Err(Error::Spec(format!(
            "`correlation` must be within 0–100 %, not {}",
            c.correlation_pct
        )));
    }
    let (up_latency, up_jitter, up_loss) = c.one_way(true);
    if !(0.0..=100.0).contains(&up_loss) {
        return Err(Error::Spec(format!(
            "`loss_up` must be within 0–100 %, not {up_loss}"
        )));
    }
    if up_latency < 0.0 || up_jitter < 0.0 || !up_latency.is_finite() || !up_jitter.is_finite() {
        return Err(Error::Spec(
            "`latency_up` and `jitter_up` must be ≥ 0 ms".into(),
        ));
    }
    for (k, p) in c.percentages() {
        if !(0.0..=100.0).contains(&p) {
            return Err(Error::Spec(format!(
                "`{k}` must be within 0–100 %, not {p}"
            )));
        }
    }
    if c.latency_ms < 0.0
        || c.jitter_ms < 0.0
        || !c.latency_ms.is_finite()
        || !c.jitter_ms.is_finite()
    {
        return Err(Error::Spec("`latency` and `jitter` must be ≥ 0 ms".into()));
    }
    if c.rate_bps == Some(0) || c.rate_up_bps == Some(0) {
        return Err(Error::Spec(
            "a rate must be above 0 (leave it out for no limit)".into(),
        ));
    }
    Ok(c)
}

/// `queue_packets` (a whole number ≥ 1) or `queue_ms` (> 0).
fn queue(v: &Value) -> Result<Option<QueueLimit>, Error> {
    let packets = v.get("queue_packets").filter(|x| !x.is_null());
    let ms = v.get("queue_ms").filter(|x| !x.is_null());
    match (packets, ms) {
        (None, None) => Ok(None),
        (Some(n), None) => n
            .as_u64()
            .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
            .map(|n| Some(QueueLimit::Packets(n as u32)))
            .ok_or_else(|| {
                Error::Spec(format!(
                    "`queue_packets` must be a whole number ≥ 1, not {n}"
                ))
            }),
        (None, Some(t)) => t
            .as_f64()
            .filter(|t| *t > 0.0 && t.is_finite())
            .map(|t| Some(QueueLimit::Ms(t)))
            .ok_or_else(|| {
                Error::Spec(format!("`queue_ms` must be a time in ms above 0, not {t}"))
            }),
        (Some(_), Some(_)) => Err(Error::Spec(
            "give `queue_packets` or `queue_ms`, not both".into(),
        )),
    }
}

/// `loss_gilbert`: `[p, r, h, k]`, percentages (see [`wotemu_topology::model::Gilbert`]).
fn gilbert(v: &Value) -> Result<Option<wotemu_topology::model::Gilbert>, Error> {
    let Some(g) = v.get("loss_gilbert").filter(|g| !g.is_null()) else {
        return Ok(None);
    };
    let bad = || {
        Error::Spec(format!(
            "`loss_gilbert` must be [p, r, h, k], four percentages, not {g}"
        ))
    };
    let nums: Vec<f64> = g
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|x| x.as_f64().filter(|p| (0.0..=100.0).contains(p)))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let [p_pct, r_pct, h_pct, k_pct] = nums[..] else {
        return Err(bad());
    };
    Ok(Some(wotemu_topology::model::Gilbert {
        p_pct,
        r_pct,
        h_pct,
        k_pct,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_06_dict_and_new_fields() {
        let s = Spec::from_json(
            r#"{"latency": 300, "jitter": 150, "rate": "1.5mbit", "loss": 1, "rate_up": "500kbit",
                "schedule": [{"at": 1000, "for": 500, "latency": 10, "jitter": 0}]}"#,
        )
        .unwrap();
        assert_eq!(s.base.latency_ms, 300.0);
        assert_eq!(s.base.rate_bps, Some(1_500_000));
        assert_eq!(s.base.rate_up_bps, Some(500_000));
        assert_eq!(s.base.loss_pct, 1.0);
        assert_eq!(s.at(999.0).latency_ms, 300.0);
        assert_eq!(s.at(1000.0).latency_ms, 10.0);
        assert_eq!(s.at(1500.0).latency_ms, 300.0);
        assert_eq!(s.changes(), vec![1000.0, 1500.0]);
    }

    #[test]
    fn a_trace_replays_steps_lines_and_loops() {
        let s = Spec::from_json(
            r#"{"latency": 10, "rate": "1mbit",
                "trace": {"interpolate": "step", "loop": true,
                          "points": [[0, 100, null, null, null, null], [1000, 200, null, 500000, null, 5], [2000, 300, null, null, null, null]]}}"#,
        )
        .unwrap();
        assert_eq!(s.at(500.0).latency_ms, 100.0);
        assert_eq!(
            s.at(500.0).rate_bps,
            Some(1_000_000),
            "a missing cell keeps the network's own"
        );
        assert_eq!(s.at(1500.0).latency_ms, 200.0);
        assert_eq!(s.at(1500.0).rate_bps, Some(500_000));
        assert_eq!(s.at(1500.0).loss_pct, 5.0);
        // The last row lasts as long as the one before: the pass is 3 s, then it starts again.
        assert_eq!(s.at(2500.0).latency_ms, 300.0);
        assert_eq!(s.at(3100.0).latency_ms, 100.0);
        assert_eq!(s.at(4100.0).latency_ms, 200.0);
        assert_eq!(s.next_change(500.0), Some((1000.0, false)));
        assert_eq!(s.next_change(2500.0), Some((3000.0, false)));
        assert_eq!(s.next_change(3000.0), Some((4000.0, false)));

        let lin = Spec::from_json(
            r#"{"trace": {"interpolate": "linear", "points": [[0, 100, null, 1000000, null, null], [1000, 200, null, 2000000, null, null]]}}"#,
        )
        .unwrap();
        assert_eq!(lin.at(250.0).latency_ms, 125.0);
        assert_eq!(lin.at(500.0).rate_bps, Some(1_500_000));
        assert_eq!(
            lin.at(5000.0).latency_ms,
            200.0,
            "without loop the last row holds"
        );
        assert_eq!(lin.next_change(250.0), Some((250.0 + TRACE_STEP_MS, false)));
        assert_eq!(lin.next_change(1000.0), None);
    }

    #[test]
    fn bad_values_are_explained() {
        for bad in [
            "nope",
            r#"{"loss": 120}"#,
            r#"{"latency": -1}"#,
            r#"{"rate": "fast"}"#,
            r#"{"rate": 0}"#,
            r#"{"schedule": [{"latency": 1}]}"#,
            r#"{"schedule": 3}"#,
            r#"{"trace": {"points": []}}"#,
            r#"{"trace": {"points": [[0, -1, null, null, null, null]]}}"#,
            r#"{"trace": {"points": [[5, 1, null, null, null, null], [5, 2, null, null, null, null]]}}"#,
            r#"{"trace": {"interpolate": "cubic", "points": [[0, 1, null, null, null, null]]}}"#,
        ] {
            let e = Spec::from_json(bad).unwrap_err().to_string();
            assert!(e.len() > 10, "{bad}: {e}");
        }
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What compose writes for a network, the gateway reads back as the same conditions.
        #[test]
        fn conditions_survive_compose_json(
            latency in 0u32..100_000,
            jitter in 0u32..10_000,
            rate in proptest::option::of(8u64..10_000_000_000),
            rate_up in proptest::option::of(8u64..10_000_000_000),
            loss in 0u32..10_000,
            duplicate in 0u32..10_000,
            corrupt in 0u32..10_000,
            reorder in 0u32..10_000,
            latency_up in proptest::option::of(0u32..100_000),
            jitter_up in proptest::option::of(0u32..10_000),
            loss_up in proptest::option::of(0u32..10_000),
            gilbert in proptest::option::of([0u32..10_000, 0u32..10_000, 0u32..10_000, 0u32..10_000]),
            distribution in 0usize..4,
            correlation in 0u32..10_000,
            per_node in proptest::bool::ANY,
            queue in proptest::option::of(prop_oneof![
                (1u32..100_000).prop_map(QueueLimit::Packets),
                (1u32..100_000).prop_map(|t| QueueLimit::Ms(f64::from(t) / 4.0)),
            ]),
        ) {
            let c = Conditions {
                latency_ms: f64::from(latency) / 4.0,
                jitter_ms: f64::from(jitter) / 4.0,
                rate_bps: rate,
                rate_up_bps: rate_up,
                loss_pct: f64::from(loss) / 100.0,
                duplicate_pct: f64::from(duplicate) / 100.0,
                corrupt_pct: f64::from(corrupt) / 100.0,
                reorder_pct: f64::from(reorder) / 100.0,
                latency_up_ms: latency_up.map(|v| f64::from(v) / 4.0),
                jitter_up_ms: jitter_up.map(|v| f64::from(v) / 4.0),
                loss_up_pct: loss_up.map(|v| f64::from(v) / 100.0),
                loss_gilbert: gilbert.map(|[p, r, h, k]| wotemu_topology::model::Gilbert {
                    p_pct: f64::from(p) / 100.0,
                    r_pct: f64::from(r) / 100.0,
                    h_pct: f64::from(h) / 100.0,
                    k_pct: f64::from(k) / 100.0,
                }),
                // (Measured delays need their quantiles beside the conditions: their own test.)
                distribution: Distribution::ALL[distribution],
                correlation_pct: f64::from(correlation) / 100.0,
                queue,
                fairness: if per_node { Fairness::PerNode } else { Fairness::Fifo },
            };
            let json = serde_json::Value::Object(wotemu_topology::compose::conditions_object(&c)).to_string();
            let back = Spec::from_json(&json).unwrap();
            prop_assert_eq!(back.base, c);
            prop_assert!(back.schedule.is_empty());
        }
    }
}
