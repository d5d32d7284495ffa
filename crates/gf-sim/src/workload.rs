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

/// The share of a weekday's demand at `epoch_s` for users `offset_h` from
/// UTC: `weekend_factor` on their Saturdays and Sundays, 1 otherwise.
pub fn weekly(epoch_s: i64, offset_h: f64, weekend_factor: f64) -> f64 {
    let local = epoch_s + (offset_h * 3600.0).round() as i64;
    // 1970-01-01 was a Thursday: day 0 is Thursday, so Saturday is 2.
    let dow = local.div_euclid(86_400).rem_euclid(7);
    if dow == 2 || dow == 3 {
        weekend_factor
    } else {
        1.0
    }
}

/// A minute's rate relative to its curve: log-normal with mean 1 and
/// coefficient of variation `cv` (1 when `cv` is 0).
pub fn burst(rng: &mut ChaCha8Rng, cv: f64) -> f64 {
    if cv <= 0.0 {
        return 1.0;
    }
    let s2 = (1.0 + cv * cv).ln();
    match LogNormal::new(-s2 / 2.0, s2.sqrt()) {
        Ok(d) => d.sample(rng),
        Err(_) => 1.0,
    }
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
    fn weekends_are_saturday_and_sunday_local() {
        // 2026-01-03 was a Saturday, 2026-01-05 a Monday (UTC midnight).
        let sat = gf_model::Date::from_ymd(2026, 1, 3)
            .unwrap()
            .epoch_seconds();
        assert_eq!(weekly(sat + 3600, 0.0, 0.5), 0.5);
        assert_eq!(weekly(sat + 2 * 86_400 + 3600, 0.0, 0.5), 1.0);
        // One in the morning of Saturday UTC is still Friday in New York.
        assert_eq!(weekly(sat + 3600, -5.0, 0.5), 1.0);
    }

    #[test]
    fn bursts_have_mean_one_and_the_asked_spread() {
        let mut r = ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<f64> = (0..40_000).map(|_| burst(&mut r, 0.3)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!((m - 1.0).abs() < 0.01, "{m}");
        assert!((sd - 0.3).abs() < 0.01, "{sd}");
    }

    #[test]
    fn exponential_gaps_have_the_right_mean() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| exp_gap_s(&mut r, 0.5)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
    }
}
