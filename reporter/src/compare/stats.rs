//! The statistics of a comparison: distribution-free confidence intervals of quantiles (order statistics),
//! Wilson intervals of rates, z tests of differences, and Holm's correction over every test of a comparison.
//!
//! Everything here is plain arithmetic on sorted samples: no resampling, so a comparison of millions of
//! interactions costs one sort per group, and the same inputs always give the same figures.

/// z of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The family-wise significance level of a comparison (Holm–Bonferroni over all its tests).
pub const ALPHA: f64 = 0.05;

/// A figure with its 95 % confidence interval (`lo`/`hi` are `None` when the sample is too small for one).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

impl Estimate {
    /// The standard error implied by the interval (its half-width over z).
    pub fn se(&self) -> Option<f64> {
        Some((self.hi? - self.lo?) / (2.0 * Z95))
    }
}

/// The `q` quantile of sorted `x` by linear interpolation (as Polars' `QuantileMethod::Linear`, so the figures
/// equal the report's), with the distribution-free 95 % interval from order statistics: the ranks
/// `n·q ± z·√(n·q·(1−q))` (normal approximation of the binomial), rounded outwards. `None` on an empty sample;
/// the interval is `None` when those ranks fall outside the sample (too few values for that quantile).
pub fn quantile(x: &[f64], q: f64) -> Option<Estimate> {
    let n = x.len();
    if n == 0 {
        return None;
    }
    let value = linear(x, q);
    let nf = n as f64;
    let half = Z95 * (nf * q * (1.0 - q)).sqrt();
    // 1-based ranks of the interval's ends.
    let lo_rank = (nf * q - half).floor();
    let hi_rank = (nf * q + half).ceil() + 1.0;
    let (lo, hi) = if lo_rank >= 1.0 && hi_rank <= nf && half > 0.0 {
        (
            Some(x[lo_rank as usize - 1].min(value)),
            Some(x[hi_rank as usize - 1].max(value)),
        )
    } else {
        (None, None)
    };
    Some(Estimate { value, lo, hi })
}

/// The `q` quantile of sorted `x`, linear interpolation between closest ranks.
pub fn linear(x: &[f64], q: f64) -> f64 {
    let n = x.len();
    if n == 1 {
        return x[0];
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    if i + 1 >= n {
        x[n - 1]
    } else {
        x[i] + (x[i + 1] - x[i]) * frac
    }
}

/// A rate `k/n` with its Wilson 95 % interval.
pub fn rate(k: u64, n: u64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Estimate {
        value: p,
        lo: Some((centre - half).max(0.0)),
        hi: Some((centre + half).min(1.0)),
    })
}

/// The difference `b − a` of two estimates with its 95 % interval and the two-sided p-value of a z test
/// (standard errors from each interval, combined as for independent samples). `None` when either interval
/// is missing.
pub fn difference(a: &Estimate, b: &Estimate) -> Option<Change> {
    let (sa, sb) = (a.se()?, b.se()?);
    let d = b.value - a.value;
    let se = (sa * sa + sb * sb).sqrt();
    let p = if se > 0.0 {
        2.0 * (1.0 - normal_cdf((d / se).abs()))
    } else if d == 0.0 {
        1.0
    } else {
        0.0
    };
    Some(Change {
        delta: d,
        lo: d - Z95 * se,
        hi: d + Z95 * se,
        relative: (a.value != 0.0).then(|| d / a.value),
        p,
        significant: false,
    })
}

/// The two-sided p-value of a pooled two-proportion z test of `ka/na` against `kb/nb`.
pub fn proportions_p(ka: u64, na: u64, kb: u64, nb: u64) -> Option<f64> {
    if na == 0 || nb == 0 {
        return None;
    }
    let (pa, pb) = (ka as f64 / na as f64, kb as f64 / nb as f64);
    let pool = (ka + kb) as f64 / (na + nb) as f64;
    let se = (pool * (1.0 - pool) * (1.0 / na as f64 + 1.0 / nb as f64)).sqrt();
    Some(if se > 0.0 {
        2.0 * (1.0 - normal_cdf(((pb - pa) / se).abs()))
    } else if pa == pb {
        1.0
    } else {
        0.0
    })
}

/// A change against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Change {
    /// run − baseline, in the figure's unit.
    pub delta: f64,
    /// Its 95 % interval.
    pub lo: f64,
    pub hi: f64,
    /// delta / baseline (`None` when the baseline is 0).
    pub relative: Option<f64>,
    /// The test's two-sided p-value, before correction.
    pub p: f64,
    /// Significant at [`ALPHA`] after Holm's correction over every test of the comparison.
    pub significant: bool,
}

/// Holm–Bonferroni: which of the p-values are significant at family-wise level `alpha`.
pub fn holm(p: &[f64], alpha: f64) -> Vec<bool> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![false; m];
    for (rank, &i) in order.iter().enumerate() {
        if p[i] <= alpha / (m - rank) as f64 {
            out[i] = true;
        } else {
            break;
        }
    }
    out
}

/// Φ, the standard normal CDF.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The complementary error function: Numerical Recipes' `erfcc` (a Chebyshev fit, fractional error below
/// 1.2e-7 everywhere), enough for p-values compared with 0.05/m.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let ans = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// At most `max` points of the empirical CDF of sorted `x`: (value, cumulative share), evenly spaced in rank,
/// always with the first and last values.
pub fn ecdf(x: &[f64], max: usize) -> Vec<(f64, f64)> {
    let n = x.len();
    if n == 0 || max == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(max.max(2) - 1).max(1);
    let mut out: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (x[i], (i + 1) as f64 / n as f64))
        .collect();
    if out.last().map(|p| p.1) != Some(1.0) {
        out.push((x[n - 1], 1.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_cdf_is_right() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(Z95) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-2.575_829_3) - 0.005).abs() < 1e-6);
        assert!((normal_cdf(3.0) - 0.998_650_1).abs() < 1e-6);
    }

    #[test]
    fn quantiles_interpolate_as_polars_does() {
        let x = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(linear(&x, 0.5), 25.0);
        assert!((linear(&x, 0.95) - 38.5).abs() < 1e-9);
        assert_eq!(linear(&[7.0], 0.99), 7.0);
        assert!(quantile(&[], 0.5).is_none());
        assert_eq!(
            quantile(&x, 0.99).unwrap().lo,
            None,
            "4 values give no p99 interval"
        );
    }

    #[test]
    fn a_median_interval_holds_the_median_and_narrows_with_n() {
        let small: Vec<f64> = (1..=100).map(f64::from).collect();
        let big: Vec<f64> = (1..=10_000).map(|i| f64::from(i) / 100.0).collect();
        let a = quantile(&small, 0.5).unwrap();
        let b = quantile(&big, 0.5).unwrap();
        assert!(a.lo.unwrap() < a.value && a.value < a.hi.unwrap());
        assert!(
            b.hi.unwrap() - b.lo.unwrap() < (a.hi.unwrap() - a.lo.unwrap()) / 100.0 * 100.0 / 5.0
        );
        // n = 100: the ranks are 50 ± 9.8 → 40 and 61.
        assert_eq!((a.lo, a.hi), (Some(40.0), Some(61.0)));
    }

    #[test]
    fn wilson_intervals_stay_in_0_1() {
        let r = rate(0, 10).unwrap();
        assert_eq!(r.value, 0.0);
        assert_eq!(r.lo, Some(0.0));
        assert!(r.hi.unwrap() > 0.2 && r.hi.unwrap() < 0.35);
        let r = rate(97, 100).unwrap();
        assert!(r.lo.unwrap() > 0.9 && r.hi.unwrap() <= 1.0);
        assert!(rate(1, 0).is_none());
    }

    #[test]
    fn holm_rejects_in_order() {
        assert_eq!(
            holm(&[0.01, 0.04, 0.03, 0.2], 0.05),
            [true, false, false, false]
        );
        assert_eq!(holm(&[0.001, 0.012, 0.02], 0.05), [true, true, true]);
        assert!(holm(&[], 0.05).is_empty());
    }

    #[test]
    fn proportions_of_equal_rates_are_not_different() {
        assert_eq!(proportions_p(100, 100, 50, 50), Some(1.0));
        assert!(proportions_p(90, 100, 60, 100).unwrap() < 0.001);
        assert!(proportions_p(1, 0, 1, 1).is_none());
    }

    #[test]
    fn ecdf_keeps_the_ends_and_the_budget() {
        let x: Vec<f64> = (0..100_000).map(f64::from).collect();
        let e = ecdf(&x, 500);
        assert!(e.len() <= 501, "{}", e.len());
        assert_eq!(e[0], (0.0, 1.0 / 100_000.0));
        assert_eq!(*e.last().unwrap(), (99_999.0, 1.0));
        assert_eq!(ecdf(&[3.0], 10), [(3.0, 1.0)]);
    }
}
