//! The replay cache of version 2 first messages: a prober that replays a first message it
//! saw on the wire must get no answer, like any other prober (docs/protocol.md, "Handshake,
//! version 2"). A msg1's MAC binds the hour it was made in and is accepted for an hour
//! either side, so a MAC is remembered for [`REPLAY_WINDOW`]; the cache holds at most
//! [`REPLAY_CAPACITY`] of them, the oldest forgotten first. Only first messages whose MAC
//! checked out are entered: making them takes the nick, and each costs the msg1 budget.
//! Pure: callers pass `now`.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How long a MAC is remembered: its hour and the next two (the widest a responder's
/// clock accepts it in), plus a margin.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(3 * 3600 + 600);
/// MACs remembered at most (16 bytes each, about 3 MiB in all with the bookkeeping): more
/// than the msg1 budget lets through from one prefix in the window; a flood from many
/// prefixes makes the oldest be forgotten early (a replay of one of those is answered,
/// which tells the replayer that the address speaks DiSIMS, nothing more).
pub const REPLAY_CAPACITY: usize = 65_536;

/// Remembers the MACs of answered first messages.
#[derive(Debug)]
pub struct ReplayCache {
    seen: HashSet<[u8; 16]>,
    order: VecDeque<([u8; 16], Instant)>,
    capacity: usize,
    window: Duration,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(REPLAY_CAPACITY, REPLAY_WINDOW)
    }
}

impl ReplayCache {
    pub fn new(capacity: usize, window: Duration) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            window,
        }
    }

    /// Enters `mac`; false if it was seen within the window (a replay: no answer).
    pub fn fresh(&mut self, mac: [u8; 16], now: Instant) -> bool {
        while let Some((old, at)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.window && self.order.len() < self.capacity
            {
                break;
            }
            self.seen.remove(old);
            self.order.pop_front();
        }
        if !self.seen.insert(mac) {
            return false;
        }
        self.order.push_back((mac, now));
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_is_refused_within_the_window_and_forgotten_after() {
        let t0 = Instant::now();
        let mut cache = ReplayCache::new(10, Duration::from_secs(100));
        assert!(cache.fresh([1; 16], t0));
        assert!(!cache.fresh([1; 16], t0 + Duration::from_secs(99)));
        assert!(cache.fresh([2; 16], t0 + Duration::from_secs(50)));
        // [1] is past its window: forgotten, so accepted again; [2] still remembered.
        assert!(cache.fresh([1; 16], t0 + Duration::from_secs(101)));
        assert!(!cache.fresh([2; 16], t0 + Duration::from_secs(120)));
    }

    #[test]
    fn the_cache_is_bounded_and_forgets_the_oldest_first() {
        let t0 = Instant::now();
        let mut cache = ReplayCache::new(3, Duration::from_secs(100));
        for i in 0..10u8 {
            assert!(cache.fresh([i; 16], t0));
            assert!(cache.len() <= 3);
        }
        assert!(!cache.fresh([9; 16], t0), "the newest is remembered");
        assert!(cache.fresh([0; 16], t0), "the oldest was forgotten");
    }
}
