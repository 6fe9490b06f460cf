//! When a peer is dialled again after a session with it ended. Every redial costs a TCP
//! connection to each address the peer's record lists (up to
//! [`crate::policy::address::MAX_DIAL_ADDRS`]) and a handshake, and whoever holds a key can
//! publish a record and end sessions as they like: so a redial comes at once only after a
//! session that proved the peer works, and otherwise backs off as after a failed dial
//! (doubling, capped, with jitter), presence probes included.
//!
//! A session proved the peer works ([`Outcome::Productive`]) when it lasted
//! [`PRODUCTIVE_SESSION`] and carried traffic: the peer acknowledged a message of ours, or
//! sent us one and left nothing of ours unacknowledged. A peer that accepts sessions but
//! never acknowledges our messages is redialled with growing delays, each handshake
//! doubling the wait. Pure: the hub passes the facts in.

use std::time::Duration;

use super::Router;
use crate::identity::PeerId;

/// A session must last this long (and carry traffic) for the peer to be redialled at once
/// when it ends: a peer can then force at most one immediate redial per this time.
pub const PRODUCTIVE_SESSION: Duration = Duration::from_secs(30);
/// A session this long shows the peer reachable even if nothing but keepalives went
/// through (a quiet contact): the backoff starts over from its first step when it ends.
pub const LONG_SESSION: Duration = Duration::from_secs(10 * 60);
/// Delays are lengthened by up to this fraction at random, so that gateways that lost
/// their sessions together (a network outage) do not redial together.
pub const JITTER: f64 = 0.125;

/// What the peer did in the current session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// The peer sent us a message.
    pub received: bool,
    /// The peer acknowledged a message of ours.
    pub acked: bool,
}

/// What an ended session says about redialling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Lasted and carried traffic: redial at once, backoffs start over.
    Productive,
    /// Carried traffic but briefly, or lasted long but quietly: redial after the first
    /// backoff step.
    Working,
    /// Neither: redial after the next, doubled, backoff step, as after a failed dial.
    Unproductive,
}

/// The outcome of a session that lasted `lasted`, with `traffic`, and handed back
/// `unacked` messages of ours the peer did not acknowledge.
pub fn outcome(lasted: Duration, traffic: Traffic, unacked: usize) -> Outcome {
    let carried = traffic.acked || (traffic.received && unacked == 0);
    if carried && lasted >= PRODUCTIVE_SESSION {
        Outcome::Productive
    } else if carried || lasted >= LONG_SESSION {
        Outcome::Working
    } else {
        Outcome::Unproductive
    }
}

/// One backoff step: wait `current` (at least `first`) now, lengthened by `jitter`
/// (0..=1, a fraction of [`JITTER`]); the step after is twice as long, up to `max`.
/// Returns (wait now, next step).
pub fn step(
    current: Duration,
    first: Duration,
    max: Duration,
    jitter: f64,
) -> (Duration, Duration) {
    let delay = current.max(first).min(max.max(first));
    let next = (delay * 2).min(max.max(first));
    (delay.mul_f64(1.0 + JITTER * jitter.clamp(0.0, 1.0)), next)
}

/// A random fraction in 0..=1 for [`step`] (0 should the OS have no randomness).
pub fn random_jitter() -> f64 {
    crate::identity::random_bytes::<2>()
        .map(|b| f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX))
        .unwrap_or(0.0)
}

impl Router {
    /// The peer sent us messages (`received`) or acknowledged ours (`acked`) in the session
    /// now up.
    pub(super) fn note_traffic(&mut self, peer: PeerId, received: bool, acked: bool) {
        if let Some(state) = self.peers.get_mut(&peer).filter(|s| s.active.is_some()) {
            state.traffic.received |= received;
            state.traffic.acked |= acked;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn only_a_lasting_session_with_traffic_earns_an_immediate_redial() {
        let acked = Traffic {
            received: false,
            acked: true,
        };
        let received = Traffic {
            received: true,
            acked: false,
        };
        let none = Traffic::default();
        assert_eq!(outcome(31 * S, acked, 0), Outcome::Productive);
        assert_eq!(outcome(31 * S, received, 0), Outcome::Productive);
        // Chatting while never acknowledging ours is no proof.
        assert_eq!(outcome(31 * S, received, 3), Outcome::Unproductive);
        assert_eq!(outcome(2 * S, acked, 0), Outcome::Working);
        assert_eq!(outcome(29 * S, none, 0), Outcome::Unproductive);
        assert_eq!(outcome(601 * S, none, 5), Outcome::Working);
    }

    #[test]
    fn steps_double_up_to_the_cap_and_jitter_only_lengthens() {
        let (first, max) = (5 * S, 300 * S);
        let mut current = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let (wait, next) = step(current, first, max, 0.0);
            waits.push(wait.as_secs());
            current = next;
        }
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300]);
        let (wait, _) = step(first, first, max, 1.0);
        assert_eq!(wait, first.mul_f64(1.0 + JITTER));
        // A first step above the cap (tests may configure that) is still taken.
        assert_eq!(step(Duration::ZERO, 10 * S, S, 0.0), (10 * S, 10 * S));
    }
}
