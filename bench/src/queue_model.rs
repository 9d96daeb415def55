//! The rate a run's slots need: the lowest rate at which one first-in-first-out server, taking
//! the slots in the order they fall due and each in the same time, starts 99% of them within
//! a bound. The lateness rows' slots come in waves (interval multiples coincide), so this says
//! how far above their mean rate a product must go to hold the bound on these very slots; the
//! `burst` row measures the rate the product reaches. A product that takes slots ahead of
//! their time, or leaves some of its work for later, can do with less.

use crate::stats::nearest_rank;

/// The bound the rate is sought for: the p99 at 100,000 workflows.
pub const P99_BOUND_SECS: f64 = 0.020;

/// The lowest rate (slots a second, to 0.1%) at which a FIFO server starts 99% of the slots
/// due at `due` (seconds, any order) within `bound` seconds of their time.
pub fn rate_needed(mut due: Vec<f64>, bound: f64) -> f64 {
    due.sort_by(f64::total_cmp);
    let (Some(&first), Some(&last)) = (due.first(), due.last()) else {
        return 0.0;
    };
    // From half the mean rate, which leaves about half the slots waiting at the end of any run
    // longer than the bound, up to a rate that serves every slot within it.
    let mut low = (due.len() as f64 / (last - first).max(bound)) * 0.5;
    let mut high = due.len() as f64 / bound;
    while high / low > 1.001 {
        let mid = (low + high) / 2.0;
        if p99_lateness(&due, mid) <= bound {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
}

/// p99 of (start − due) when one server takes the sorted slots `due` at `rate` a second.
fn p99_lateness(due: &[f64], rate: f64) -> f64 {
    let each = 1.0 / rate;
    let mut free_at = f64::MIN;
    let mut late: Vec<f64> = due
        .iter()
        .map(|&at| {
            let start = free_at.max(at);
            free_at = start + each;
            start - at
        })
        .collect();
    let rank = nearest_rank(late.len(), 99.0);
    *late.select_nth_unstable_by(rank, f64::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_slots_need_about_their_own_rate() {
        // 1,000 a second for 10 s: slower than that, the backlog grows past the bound.
        let due: Vec<f64> = (0..10_000).map(|i| i as f64 / 1000.0).collect();
        let rate = rate_needed(due, P99_BOUND_SECS);
        assert!((990.0..=1010.0).contains(&rate), "rate {rate}");
    }

    #[test]
    fn a_crowd_due_at_once_needs_its_99th_percentile_served_within_the_bound() {
        // 1,000 slots in the same instant: the 990th must start within 20 ms.
        let due = vec![5.0; 1000];
        let rate = rate_needed(due, P99_BOUND_SECS);
        let expected = 989.0 / P99_BOUND_SECS;
        assert!(
            (rate / expected - 1.0).abs() < 0.005,
            "rate {rate}, expected {expected}"
        );
    }

    #[test]
    fn a_wave_needs_more_than_the_mean_rate() {
        // 100 a second, then 2 s at 1,000 a second, then 100 a second again.
        let mut due: Vec<f64> = (0..1000).map(|i| i as f64 / 100.0).collect();
        due.extend((0..2000).map(|i| 10.0 + i as f64 / 1000.0));
        due.extend((0..1000).map(|i| 12.0 + i as f64 / 100.0));
        let mean = due.len() as f64 / 22.0;
        let rate = rate_needed(due, P99_BOUND_SECS);
        assert!(
            rate > 4.0 * mean && rate < 1010.0,
            "rate {rate}, mean {mean}"
        );
    }

    #[test]
    fn no_slots_need_no_rate() {
        assert_eq!(rate_needed(Vec::new(), P99_BOUND_SECS), 0.0);
    }
}
