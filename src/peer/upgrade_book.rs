//! The direct upgrade's bookkeeping (pure; [`super::upgrade`] does the IO): per peer,
//! whether an attempt is in flight, how many failed in a row and when the next may start,
//! the answering side's pace, and a bound on peers remembered and attempts at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::identity::PeerId;

/// First wait after a failed attempt (then doubling).
pub const BACKOFF_MIN: Duration = Duration::from_secs(60);
/// Longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// The side that answers takes at most one attempt per peer in this time.
pub const ANSWER_MIN: Duration = Duration::from_secs(30);
/// Attempts in flight at once, with every peer together.
pub const MAX_IN_FLIGHT: usize = 8;
/// Peers the book remembers at most (the oldest idle entry goes first).
pub const MAX_BOOK: usize = 4096;

/// Which end of the relayed session we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We dialled through the relay: we send Upgrade and Sync, and run the handshake as
    /// responder on the direct connection.
    Initiator,
    /// The relay offered us the circuit: we answer, and run the handshake as initiator.
    Responder,
}

/// The wait after `failures` failed attempts in a row (at least one).
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_MIN.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

#[derive(Clone, Debug, Default)]
struct Entry {
    failures: u32,
    next_at: Option<Instant>,
    in_flight: bool,
    last_answer: Option<Instant>,
    touched: Option<Instant>,
}

/// Attempts per peer: in flight or not, failures in a row, when the next may start.
#[derive(Debug, Default)]
pub struct Book {
    entries: HashMap<PeerId, Entry>,
    in_flight: usize,
}

impl Book {
    /// How long until the initiator may try `peer` (zero: now).
    pub fn wait(&self, peer: &PeerId, now: Instant) -> Duration {
        self.entries
            .get(peer)
            .and_then(|e| e.next_at)
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }

    /// Failed attempts in a row with `peer`.
    pub fn failures(&self, peer: &PeerId) -> u32 {
        self.entries.get(peer).map_or(0, |e| e.failures)
    }

    /// The initiator starts an attempt, unless one is in flight or the backoff runs.
    pub fn start(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.wait(&peer, now) > Duration::ZERO {
            return false;
        }
        if self.in_flight >= MAX_IN_FLIGHT {
            return false;
        }
        let entry = self.entry(peer, now);
        if entry.in_flight {
            return false;
        }
        entry.in_flight = true;
        self.in_flight += 1;
        true
    }

    /// The other side takes an attempt the peer asked for, unless one is in flight or it
    /// answered this peer less than [`ANSWER_MIN`] ago.
    pub fn answer(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.in_flight >= MAX_IN_FLIGHT {
            return false;
        }
        let entry = self.entry(peer, now);
        let recent = entry
            .last_answer
            .is_some_and(|at| now.saturating_duration_since(at) < ANSWER_MIN);
        if entry.in_flight || recent {
            return false;
        }
        entry.in_flight = true;
        entry.last_answer = Some(now);
        self.in_flight += 1;
        true
    }

    /// An attempt ended: a success forgets the peer; a failure of ours (as initiator)
    /// backs off.
    pub fn finish(&mut self, peer: PeerId, role: Role, ok: bool, now: Instant) {
        self.cancel(peer);
        if ok {
            self.entries.remove(&peer);
            return;
        }
        let entry = self.entry(peer, now);
        if role == Role::Initiator {
            entry.failures = entry.failures.saturating_add(1);
            entry.next_at = Some(now + backoff(entry.failures));
        }
    }

    /// An attempt ended without saying anything about the path (the session went away,
    /// we had nothing to offer): not a failure.
    pub fn cancel(&mut self, peer: PeerId) {
        if let Some(entry) = self.entries.get_mut(&peer)
            && std::mem::take(&mut entry.in_flight)
        {
            self.in_flight -= 1;
        }
    }

    /// Attempts in flight, with every peer.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Peers remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&mut self, peer: PeerId, now: Instant) -> &mut Entry {
        if !self.entries.contains_key(&peer) && self.entries.len() >= MAX_BOOK {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| !e.in_flight)
                .min_by_key(|(_, e)| e.touched)
                .map(|(p, _)| *p);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        let entry = self.entries.entry(peer).or_default();
        entry.touched = Some(now);
        entry
    }
}
