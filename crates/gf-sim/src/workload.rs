//! Random draws and workload shapes: exponential gaps, log-normal job
//! lengths, weighted size mixes, and the daily cycle of demand.
//!
//! Every draw takes the RNG it uses as an argument, so each random process
//! of the engine (arrivals, failures) has its own seeded stream and a change
//! in one never shifts the draws of another: two policies compared on one
//! seed see the same jobs and the same failures.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A uniform draw in (0, 1], safe to take the logarithm of.
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// Seconds to the next event of a Poisson process of `rate_per_s`.
pub fn exp_gap_s(rng: &mut ChaCha8Rng, rate_per_s: f64) -> f64 {
    if rate_per_s <= 0.0 {
        return f64::INFINITY;
    }
    -unit(rng).ln() / rate_per_s
}

/// A standard normal draw (Box–Muller; one of the pair is dropped, which
/// keeps the stream's position independent of earlier calls).
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = unit(rng);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and sigma, capped at `max`.
pub fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64, max: f64) -> f64 {
    (median.ln() + sigma * normal(rng)).exp().min(max)
}

/// An index drawn with probability proportional to `weights`.
pub fn weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
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
