//! The delay before the next attempt (DESIGN §3): min(initialDelay × multiplier^(n−1), maxDelay),
//! then ±jitter, clamped to maxDelay. A server's `Retry-After` overrides it, within maxDelay.

use super::RetryPolicy;
use std::time::Duration;

/// Delay after failed attempt `attempt` (1-based). `unit_noise` is a sample from [-1, 1].
pub fn retry_delay(policy: &RetryPolicy, attempt: u32, unit_noise: f64) -> Duration {
    let max = policy.max_delay.value().as_secs_f64();
    let exponent = attempt.saturating_sub(1).min(1_000) as i32;
    let base =
        (policy.initial_delay.value().as_secs_f64() * policy.multiplier.powi(exponent)).min(max);
    let jittered = base * (1.0 + policy.jitter * unit_noise.clamp(-1.0, 1.0));
    Duration::try_from_secs_f64(jittered.clamp(0.0, max)).unwrap_or(policy.max_delay.value())
}

/// The delay asked for by a `Retry-After` header, bounded by the policy's maxDelay.
pub fn retry_after_delay(policy: &RetryPolicy, retry_after: Duration) -> Duration {
    retry_after.min(policy.max_delay.value())
}

/// A uniform sample from [-1, 1] for [`retry_delay`].
pub fn sample_noise() -> f64 {
    use rand::Rng;
    rand::thread_rng().gen_range(-1.0..=1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HumanDuration;

    fn policy(initial: &str, multiplier: f64, max: &str, jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_delay: HumanDuration::parse(initial).unwrap(),
            multiplier,
            max_delay: HumanDuration::parse(max).unwrap(),
            jitter,
        }
    }

    #[test]
    fn grows_exponentially_then_caps() {
        let p = policy("1s", 2.0, "5s", 0.0);
        let delays: Vec<u64> = (1..=5)
            .map(|n| retry_delay(&p, n, 0.0).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn jitter_stays_within_bounds_and_under_the_cap() {
        let p = policy("1s", 2.0, "5m", 0.1);
        assert_eq!(retry_delay(&p, 1, -1.0), Duration::from_millis(900));
        assert_eq!(retry_delay(&p, 1, 1.0), Duration::from_millis(1100));
        let capped = policy("1s", 2.0, "4s", 0.5);
        assert_eq!(retry_delay(&capped, 5, 1.0), Duration::from_secs(4));
    }

    #[test]
    fn retry_after_is_bounded_by_max_delay() {
        let p = policy("1s", 2.0, "30s", 0.0);
        assert_eq!(
            retry_after_delay(&p, Duration::from_secs(3600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_after_delay(&p, Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }
}
