//! Random draws and workload shapes: exponential gaps, log-normal job
//! lengths, weighted size mixes (all from `rand_distr`), and the daily cycle
//! of demand.
//!
//! Every draw takes the RNG it uses as an argument, so each random process
//! of the engine (arrivals, failures) has its own seeded stream and a change
//! in one never shifts the draws of another: two policies compared on one
//! seed see the same jobs and the same failures.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, weighted::WeightedIndex};

/// Seconds to the next event of a Poisson process of `rate_per_s`.
pub fn exp_gap_s(rng: &mut ChaCha8Rng, rate_per_s: f64) -> f64 {
    match Exp::new(rate_per_s) {
        Ok(d) if rate_per_s > 0.0 => d.sample(rng),
        _ => f64::INFINITY,
    }
}

/// A log-normal draw with the given median and sigma, capped at `max`. A
/// sigma the distribution refuses (negative or not finite) gives the median.
pub fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64, max: f64) -> f64 {
    match LogNormal::new(median.ln(), sigma) {
        Ok(d) => d.sample(rng).min(max),
        Err(_) => median.min(max),
    }
}

/// A draw from `weights`, built once per mix; `None` when no weight is
/// positive (validation refuses such a mix, so callers treat it as a fault).
pub fn weighted_index(weights: impl IntoIterator<Item = f64>) -> Option<WeightedIndex<f64>> {
    WeightedIndex::new(weights).ok()
}

/// The share of the daily peak at `utc_hour` for users `offset_h` from UTC
/// whose demand peaks at local `peak_hour`: a cosine from `1 − amplitude`
/// (twelve hours from the peak) to 1 (at the peak).
pub fn diurnal(utc_hour: f64, offset_h: f64, peak_hour: f64, amplitude: f64) -> f64 {
    let local = (utc_hour + offset_h).rem_euclid(24.0);
    let phase = std::f64::consts::TAU * (local - peak_hour) / 24.0;
    1.0 - amplitude * (1.0 - phase.cos()) / 2.0
}

/// `growth_per_year` raised to the years elapsed.
pub fn growth(growth_per_year: f64, years: f64) -> f64 {
    growth_per_year.powf(years)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn diurnal_peaks_at_the_peak_hour() {
        assert!((diurnal(1.0, -5.0, 20.0, 0.4) - 1.0).abs() < 1e-9);
        assert!((diurnal(13.0, -5.0, 20.0, 0.4) - 0.6).abs() < 1e-9);
    }

    #[test]
    fn exponential_gaps_have_the_right_mean() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| exp_gap_s(&mut r, 0.5)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
    }
}
