//! What a gateway applies: conditions and their schedule, read from the JSON that `wotemu compose` writes
//! into the gateway's command (0.6's `{"latency": ms, "jitter": ms, "rate": "1.5mbit"}` plus the new
//! fields `rate_up`, `loss`, `duplicate`, `corrupt`, `reorder` and a `schedule` of steps with `at`/`for` ms).

use serde_json::Value;
use wotemu_topology::model::Conditions;
use wotemu_topology::units;

use crate::Error;

/// A change of conditions at a time of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at_ms: f64,
    pub for_ms: Option<f64>,
    pub conditions: Conditions,
}

/// A gateway's conditions over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec {
    pub base: Conditions,
    pub schedule: Vec<Step>,
}

impl Spec {
    /// A spec without schedule.
    pub fn constant(c: Conditions) -> Spec {
        Spec {
            base: c,
            schedule: Vec::new(),
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
        Ok(Spec { base, schedule })
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
    };
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
    fn bad_values_are_explained() {
        for bad in [
            "nope",
            r#"{"loss": 120}"#,
            r#"{"latency": -1}"#,
            r#"{"rate": "fast"}"#,
            r#"{"rate": 0}"#,
            r#"{"schedule": [{"latency": 1}]}"#,
            r#"{"schedule": 3}"#,
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
            };
            let json = serde_json::Value::Object(wotemu_topology::compose::conditions_object(&c)).to_string();
            let back = Spec::from_json(&json).unwrap();
            prop_assert_eq!(back.base, c);
            prop_assert!(back.schedule.is_empty());
        }
    }
}
