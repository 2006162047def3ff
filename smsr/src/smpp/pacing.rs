//! Pacing for the SMPP binds: the per-bind throughput limit (a token bucket in its GCRA form) and exponential
//! backoff for reconnects and for ESME_RTHROTTLED / ESME_RMSGQFUL (SMPP 3.4 §5.1.3). Pure: time is passed in.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket of `burst` tokens refilled at `rate` per second, kept as the generic cell rate algorithm
/// (one "theoretical arrival time"), which limits a bind to the SMSC's messages-per-second contract.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: u32,
    interval: Duration,
    tolerance: Duration,
    tat: Option<Instant>,
}

impl TokenBucket {
    /// A bucket allowing `rate` submits per second on average and `burst` (≥ 1) back to back.
    pub fn new(rate: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / rate.max(1e-6));
        TokenBucket {
            burst: burst.max(1),
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            tat: None,
        }
    }

    /// The instant from which a token is available (`now` or earlier when one is available already).
    pub fn ready_at(&self, now: Instant) -> Instant {
        match self.tat {
            None => now,
            Some(tat) => tat.checked_sub(self.tolerance).unwrap_or(now),
        }
    }

    /// The average rate, submits per second.
    pub fn rate(&self) -> f64 {
        1.0 / self.interval.as_secs_f64()
    }

    /// Changes the average rate to `rate` per second from now on (tokens already taken keep their spacing).
    pub fn set_rate(&mut self, rate: f64) {
        let tat = self.tat;
        *self = TokenBucket::new(rate, self.burst);
        self.tat = tat;
    }

    /// Takes a token at `now`; call only when `ready_at(now) <= now`.
    pub fn take(&mut self, now: Instant) {
        let base = match self.tat {
            Some(tat) if tat > now => tat,
            _ => now,
        };
        self.tat = Some(base + self.interval);
    }
}

/// The submit_sm rate of one of `binds` binds (SMPP 3.4 §2.7): the configured per-bind limit or an equal part
/// of this node's share of the account's budget, whichever is lower; `None` for no limit.
pub fn bind_rate(per_bind: Option<f64>, node_share: Option<f64>, binds: usize) -> Option<f64> {
    let share = node_share.map(|r| r / binds.max(1) as f64);
    match (per_bind, share) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Exponential backoff between `min` and `max`, doubling at each step, back to `min` after `reset`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff starting at `min` and never above `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay to wait now; the following one doubles.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Back to `min` (after a successful bind or an accepted submit).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_spaces_submits_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 1);
        assert_eq!(b.ready_at(t0), t0);
        b.take(t0);
        assert_eq!(b.ready_at(t0), t0 + Duration::from_millis(100));
        b.take(t0 + Duration::from_millis(100));
        assert_eq!(b.ready_at(t0), t0 + Duration::from_millis(200));
        // Idle for a long time: no credit beyond the burst.
        let later = t0 + Duration::from_secs(10);
        assert!(b.ready_at(later) <= later);
        b.take(later);
        assert_eq!(b.ready_at(later), later + Duration::from_millis(100));
    }

    #[test]
    fn bucket_allows_its_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100.0, 3);
        for _ in 0..3 {
            assert!(b.ready_at(t0) <= t0);
            b.take(t0);
        }
        assert_eq!(b.ready_at(t0), t0 + Duration::from_millis(10));
    }

    #[test]
    fn a_new_rate_applies_from_the_next_token() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 1);
        b.take(t0);
        b.set_rate(5.0);
        assert_eq!(b.rate(), 5.0);
        // The token taken at 10/s keeps its 100 ms; the next one is spaced at 5/s.
        assert_eq!(b.ready_at(t0), t0 + Duration::from_millis(100));
        b.take(t0 + Duration::from_millis(100));
        assert_eq!(b.ready_at(t0), t0 + Duration::from_millis(300));
    }

    #[test]
    fn a_bind_takes_the_lower_of_its_limit_and_its_part_of_the_node_share() {
        assert_eq!(bind_rate(None, None, 2), None);
        assert_eq!(bind_rate(Some(50.0), None, 2), Some(50.0));
        // 300/s for the account, 3 live nodes → 100/s for this node, 2 binds → 50/s each.
        assert_eq!(bind_rate(None, Some(300.0 / 3.0), 2), Some(50.0));
        assert_eq!(bind_rate(Some(20.0), Some(100.0), 2), Some(20.0));
        assert_eq!(bind_rate(Some(80.0), Some(100.0), 2), Some(50.0));
    }

    #[test]
    fn backoff_doubles_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let seq: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(seq, vec![100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
