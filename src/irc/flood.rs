//! Flood control: a token bucket per IRC client. Each line takes a token; tokens come back
//! at `lines_per_second` up to `burst`. The conn task takes a line only when a token is
//! there and reads no more from the socket while lines wait, so a flooding client is read
//! more slowly (TCP pushes back on it) and nobody else notices. Pure: `now` is passed in.

use std::time::Instant;

/// A token bucket of lines (`policy::TokenBucket`, one token a line); `lines_per_second == 0`
/// means no limit.
#[derive(Clone, Debug)]
pub struct TokenBucket(Option<crate::policy::TokenBucket>);

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(lines_per_second: u32, burst: u32, now: Instant) -> Self {
        Self((lines_per_second > 0).then(|| {
            crate::policy::TokenBucket::new(
                f64::from(lines_per_second),
                f64::from(burst.max(1)),
                now,
            )
        }))
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.0.as_mut().is_none_or(|b| b.try_take(1.0, now))
    }

    /// When the next token will be there (now if there is one, or without a limit).
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        match &mut self.0 {
            Some(b) => now + b.wait_for(1.0, now),
            None => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 5, t0);
        assert_eq!((0..20).filter(|_| bucket.try_take(t0)).count(), 5);
        assert!(bucket.ready_at(t0) > t0);
        let later = t0 + Duration::from_millis(100);
        assert_eq!(bucket.ready_at(later), later);
        assert!(bucket.try_take(later));
        assert!(!bucket.try_take(later));
        // Idle time refills up to the burst, never beyond.
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!((0..20).filter(|_| bucket.try_take(much_later)).count(), 5);
    }

    #[test]
    fn zero_rate_means_no_limit() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0, 1, t0);
        assert!((0..100_000).all(|_| bucket.try_take(t0)));
        assert_eq!(bucket.ready_at(t0), t0);
    }

    #[test]
    fn ready_at_is_when_a_token_comes_back() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(4, 1, t0);
        assert!(bucket.try_take(t0));
        let ready = bucket.ready_at(t0);
        assert!(
            ready >= t0 + Duration::from_millis(249) && ready <= t0 + Duration::from_millis(251)
        );
        assert!(bucket.try_take(ready));
    }
}
