//! The goodput-optimal checkpoint interval (Young/Daly): the one piece of
//! run arithmetic the controller needs to decide. How long a run really
//! takes, and what an interruption really throws away, is the backend's
//! truth (gf-sim's world models it for the twin).

/// Checkpoint interval that maximises goodput for a job whose mean time
/// between interruptions is `mtbf_s` and whose checkpoint takes `cost_s`.
///
/// Young (1974) gives `sqrt(2·C·M)`; Daly (2006) adds the higher-order terms
/// used here, valid while `C < 2M` (past that, checkpointing once per MTBF is
/// the best one can do).
pub fn young_daly_interval_s(cost_s: f64, mtbf_s: f64) -> f64 {
    if !(mtbf_s.is_finite()) || mtbf_s <= 0.0 {
        return f64::INFINITY;
    }
    let c = cost_s.max(1.0);
    if c >= 2.0 * mtbf_s {
        return mtbf_s;
    }
    let r = c / (2.0 * mtbf_s);
    ((2.0 * c * mtbf_s).sqrt() * (1.0 + r.sqrt() / 3.0 + r / 9.0) - c).max(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn young_daly_is_near_young_for_cheap_checkpoints() {
        let i = young_daly_interval_s(60.0, 100_000.0);
        let young = (2.0f64 * 60.0 * 100_000.0).sqrt();
        assert!((i - young).abs() / young < 0.05, "{i} vs {young}");
        assert_eq!(young_daly_interval_s(60.0, 0.0), f64::INFINITY);
    }
}
