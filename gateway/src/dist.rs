//! Delay distributions, as netem draws them: a uniform number (correlated with the last one when asked),
//! turned into a deviation from the latency by the distribution's inverse table. `pareto` and
//! `paretonormal` use netem's own tables, the `.dist` files iproute2 installs (read once, the first time
//! they are needed); `normal` uses the inverse of the normal distribution (what `normal.dist` tabulates,
//! computed); `uniform` is netem without a table (latency ± jitter).

use std::sync::OnceLock;

use wotemu_topology::model::Distribution;

use crate::Error;

/// netem's scale of table values: a table entry `t` is `t / NETEM_DIST_SCALE` standard units.
pub const NETEM_DIST_SCALE: f64 = 8192.0;

/// Where iproute2 installs its tables (Debian's multiarch directory, then the classic one); `TC_LIB_DIR`
/// first when it is set, as `tc` does.
fn table_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("TC_LIB_DIR")
        .map(Into::into)
        .into_iter()
        .collect();
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu/tc",
            "/usr/lib/aarch64-linux-gnu/tc",
            "/usr/lib/tc",
            "/usr/lib64/tc",
        ]
        .map(Into::into),
    );
    dirs
}

/// Reads a netem `.dist` table: whitespace-separated integers, `#` comments.
pub fn parse_table(text: &str) -> Result<Vec<i16>, String> {
    let mut v = Vec::with_capacity(4096);
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for w in line.split_whitespace() {
            v.push(
                w.parse::<i16>()
                    .map_err(|_| format!("line {}: `{w}` is not a table value", n + 1))?,
            );
        }
    }
    if v.is_empty() {
        return Err("it holds no values".into());
    }
    Ok(v)
}

fn load(name: &str) -> Result<Vec<i16>, String> {
    let dirs = table_dirs();
    for d in &dirs {
        let path = d.join(format!("{name}.dist"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return parse_table(&text).map_err(|e| format!("{}: {e}", path.display()));
        }
    }
    Err(format!(
        "netem's `{name}` table ({name}.dist) is in none of {}: install iproute2, or set TC_LIB_DIR to the directory that holds it",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

static PARETO: OnceLock<Result<Vec<i16>, String>> = OnceLock::new();
static PARETONORMAL: OnceLock<Result<Vec<i16>, String>> = OnceLock::new();

/// The table a distribution draws from (`None` for those computed without one).
pub fn table(d: Distribution) -> Result<Option<&'static [i16]>, Error> {
    let cell = match d {
        Distribution::Normal | Distribution::Uniform | Distribution::Ping => return Ok(None),
        Distribution::Pareto => &PARETO,
        Distribution::Paretonormal => &PARETONORMAL,
    };
    cell.get_or_init(|| load(d.name()))
        .as_deref()
        .map(Some)
        .map_err(|e| Error::Spec(e.clone()))
}

/// The standard normal quantile of `p` (Acklam's rational approximation: within 2e-5 of the exact value,
/// 0.002 % of the jitter).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549671348283185,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Delays measured by ping (`distribution: {ping: FILE}`): their quantiles, mean and spread.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    quantiles: Vec<f64>,
    mean: f64,
    sd: f64,
}

impl Measured {
    /// From one-way delays at evenly spaced quantiles (see `wotemu_topology::ping`).
    pub fn new(quantiles: Vec<f64>) -> Measured {
        let (mean, sd) = wotemu_topology::model::quantiles_mean_sd(&quantiles);
        Measured {
            quantiles,
            mean,
            sd,
        }
    }

    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }
}

/// How delays are drawn: the distribution, with its table or measured delays when it has them.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub distribution: Distribution,
    pub table: Option<&'static [i16]>,
    pub ping: Option<&'a Measured>,
}

impl<'a> Shape<'a> {
    /// The shape of `d` (its table read when it has one; `ping` the network's measured delays).
    pub fn of(d: Distribution, ping: Option<&'a Measured>) -> Result<Shape<'a>, Error> {
        if d == Distribution::Ping && ping.is_none() {
            return Err(Error::Spec(
                "`distribution: ping` needs the network's measured delays (`ping`: their quantiles); give `distribution: {ping: FILE}` in the topology, or --distribution ping:FILE".into(),
            ));
        }
        Ok(Shape {
            distribution: d,
            table: table(d)?,
            ping,
        })
    }

    /// One delay, ms: `latency` moved by `jitter` times the distribution's deviation at the uniform `u`
    /// (in [0, 1)), never below zero. Measured delays are shifted to `latency` and scaled to `jitter` (their
    /// own mean and spread give them back as they were measured).
    pub fn delay_ms(&self, latency: f64, jitter: f64, u: f64) -> f64 {
        if jitter <= 0.0 {
            return latency.max(0.0);
        }
        let z = match (self.distribution, self.table, self.ping) {
            (Distribution::Uniform, ..) => 2.0 * u - 1.0,
            (Distribution::Ping, _, Some(m)) if m.sd > 0.0 => {
                (wotemu_topology::ping::draw(&m.quantiles, u) - m.mean) / m.sd
            }
            (Distribution::Ping, ..) => 0.0,
            (_, Some(t), _) => {
                let i = ((u * t.len() as f64) as usize).min(t.len() - 1);
                f64::from(t[i]) / NETEM_DIST_SCALE
            }
            _ => normal_quantile(u),
        };
        (latency + jitter * z).max(0.0)
    }
}

/// netem's correlated uniform numbers: each draw is `1 − ρ` of a fresh number and `ρ` of the last draw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Correlated {
    last: f64,
}

impl Correlated {
    pub fn next(&mut self, fresh: f64, correlation_pct: f64) -> f64 {
        let rho = (correlation_pct / 100.0).clamp(0.0, 1.0);
        let u = fresh * (1.0 - rho) + self.last * rho;
        self.last = u;
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_is_the_normal_distributions() {
        for (p, z) in [
            (0.5, 0.0),
            (0.8413447, 1.0),
            (0.975, 1.959964),
            (0.99, 2.326348),
            (0.01, -2.326348),
            (0.001, -3.090232),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 2e-5,
                "{p}: {}",
                normal_quantile(p)
            );
        }
    }

    /// The pareto and paretonormal tables are iproute2's, read from where it installs them; they are
    /// skewed to the right (a long tail of late packets) and the uniform one is flat.
    #[test]
    fn netem_tables_are_read_and_shaped_as_their_distributions() {
        for d in [Distribution::Pareto, Distribution::Paretonormal] {
            let shape = Shape::of(d, None).unwrap();
            let t = shape.table.expect("a table");
            assert!(t.len() >= 4096, "{d:?}: {}", t.len());
            let q = |p: f64| shape.delay_ms(100.0, 10.0, p);
            assert!(
                q(0.99) - q(0.5) > 2.0 * (q(0.5) - q(0.01)),
                "{d:?} is not skewed"
            );
            assert!(
                q(0.0) <= q(0.5) && q(0.5) <= q(0.999),
                "{d:?} is not monotonic"
            );
        }
        let uniform = Shape::of(Distribution::Uniform, None).unwrap();
        assert_eq!(uniform.delay_ms(100.0, 10.0, 0.0), 90.0);
        assert_eq!(uniform.delay_ms(100.0, 10.0, 0.75), 105.0);
        let normal = Shape::of(Distribution::Normal, None).unwrap();
        assert_eq!(normal.delay_ms(5.0, 10.0, 0.0), 0.0);
    }

    /// Measured delays come back as measured at their own mean and spread, shifted and scaled otherwise.
    #[test]
    fn measured_delays_are_drawn_from_their_quantiles() {
        let m = Measured::new((0..=100).map(|i| 10.0 + f64::from(i)).collect());
        assert!(Shape::of(Distribution::Ping, None).is_err());
        let s = Shape::of(Distribution::Ping, Some(&m)).unwrap();
        let (mean, sd) = (m.mean, m.sd);
        assert!((s.delay_ms(mean, sd, 0.5) - 60.0).abs() < 1e-9);
        assert!((s.delay_ms(mean, sd, 0.9) - 100.0).abs() < 1e-9);
        assert!((s.delay_ms(mean + 40.0, sd, 0.9) - 140.0).abs() < 1e-9);
        assert!((s.delay_ms(mean, sd / 2.0, 0.9) - 80.0).abs() < 1e-9);
    }

    #[test]
    fn a_missing_table_says_where_it_was_looked_for() {
        let e = load("no-such-distribution").unwrap_err();
        assert!(
            e.contains("install iproute2") && e.contains("/usr/lib/tc"),
            "{e}"
        );
        assert!(parse_table("# only a comment\n").is_err());
        assert_eq!(parse_table("1 -2\n# x\n3").unwrap(), vec![1, -2, 3]);
    }

    /// With correlation, consecutive draws stay close; without it they do not.
    #[test]
    fn correlation_ties_each_draw_to_the_last() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let step = |rho: f64, rng: &mut rand::rngs::SmallRng| {
            let mut c = Correlated::default();
            let v: Vec<f64> = (0..20_000).map(|_| c.next(rng.random(), rho)).collect();
            v.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / v.len() as f64
        };
        let (free, tied) = (step(0.0, &mut rng), step(75.0, &mut rng));
        assert!((free - 1.0 / 3.0).abs() < 0.02, "{free}");
        assert!(tied < free / 3.0, "{tied} vs {free}");
    }
}
