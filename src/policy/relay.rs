//! What a relay gives others ([`RelayTable`]): challenges awaiting their proof, per source
//! prefix and in total; reservations per source prefix, for strangers and in total; circuits per dialler prefix, per target, for strangers' targets
//! and in total; bytes a second per circuit and in total; idle and expiry times. Pure
//! bookkeeping: the relay task does the IO and passes `now` (docs/protocol.md, "Relays").
//!
//! Every entry is bounded: at most `challenges_total` challenges, `reservations_total`
//! reservations and `circuits_total` circuits, and a prefix count exists only while it is not zero, so the
//! table's memory is bounded whatever arrives. Contacts are never counted per prefix (a
//! stranger cannot make their keys), and a share of each table is theirs alone, so a flood
//! of strangers, from one prefix or many, leaves the relay serving its own users.
//!
//! The numbers, with their reasons, and [`RelayLimits`] are in `relay_limits.rs`; the
//! dial-back budget ([`DialBackBudget`]) is in `relay_dialback.rs`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{SourcePrefix, TokenBucket};
use crate::identity::PeerId;
use crate::relay::wire::{CircuitId, StatusCode};

/// Why a reservation or a circuit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayRefusal {
    #[error("this gateway does not relay")]
    Off,
    #[error("this gateway relays for its contacts only")]
    NotAContact,
    #[error("its prefix has every challenge one prefix may have awaiting a proof")]
    PrefixChallenges,
    #[error("every challenge slot awaits a proof")]
    ChallengesFull,
    #[error("its prefix holds every reservation strangers may hold from one prefix")]
    PrefixReservations,
    #[error("strangers hold every reservation not kept for contacts")]
    StrangerReservations,
    #[error("every reservation is taken")]
    ReservationsFull,
    #[error("the target holds no live reservation here")]
    NoReservation,
    #[error("the target has all the circuits one target may have")]
    TargetCircuits,
    #[error("the dialler's prefix holds every circuit one prefix may hold")]
    PrefixCircuits,
    #[error("strangers' targets hold every circuit not kept for contacts")]
    StrangerCircuits,
    #[error("every circuit is taken")]
    CircuitsFull,
    #[error("no such circuit waiting to be accepted")]
    NoCircuit,
}

impl RelayRefusal {
    /// The code told to the requester.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Off => StatusCode::ReservationRefused,
            Self::NotAContact => StatusCode::PermissionDenied,
            Self::NoReservation => StatusCode::NoReservation,
            Self::NoCircuit => StatusCode::NoCircuit,
            _ => StatusCode::ResourceLimit,
        }
    }
}

struct Reservation {
    prefix: SourcePrefix,
    contact: bool,
    expires: Instant,
    last_seen: Instant,
    circuits: usize,
}

impl Reservation {
    fn live(&self, now: Instant, idle: Duration) -> bool {
        now < self.expires && now.saturating_duration_since(self.last_seen) < idle
    }
}

struct Circuit {
    target: PeerId,
    prefix: SourcePrefix,
    contact: bool,
    accepted: bool,
    opened: Instant,
    last_active: Instant,
    bucket: TokenBucket,
}

/// What [`RelayTable::expire`] removed: the relay closes their connections.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub reservations: Vec<PeerId>,
    pub circuits: Vec<CircuitId>,
}

/// The relay's reservations and circuits.
pub struct RelayTable {
    limits: RelayLimits,
    serve: Serve,
    /// Challenges awaiting their proof, per prefix (no zero entries) and in total.
    challenges_by_prefix: HashMap<SourcePrefix, usize>,
    challenges: usize,
    reservations: HashMap<PeerId, Reservation>,
    /// Strangers' reservations per prefix (no zero entries).
    reservations_by_prefix: HashMap<SourcePrefix, usize>,
    stranger_reservations: usize,
    circuits: HashMap<CircuitId, Circuit>,
    /// Circuits per dialler prefix (no zero entries).
    circuits_by_prefix: HashMap<SourcePrefix, usize>,
    stranger_circuits: usize,
    total: TokenBucket,
}

fn dec(map: &mut HashMap<SourcePrefix, usize>, prefix: SourcePrefix) {
    if let Some(n) = map.get_mut(&prefix) {
        *n -= 1;
        if *n == 0 {
            map.remove(&prefix);
        }
    }
}

impl RelayTable {
    pub fn new(limits: RelayLimits, serve: Serve, now: Instant) -> Self {
        Self {
            limits,
            serve,
            challenges_by_prefix: HashMap::new(),
            challenges: 0,
            reservations: HashMap::new(),
            reservations_by_prefix: HashMap::new(),
            stranger_reservations: 0,
            circuits: HashMap::new(),
            circuits_by_prefix: HashMap::new(),
            stranger_circuits: 0,
            total: TokenBucket::new(limits.total_rate, limits.total_burst, now),
        }
    }

    pub fn limits(&self) -> &RelayLimits {
        &self.limits
    }

    /// Whom this relay serves.
    pub fn serve(&self) -> Serve {
        self.serve
    }

    /// Reservations and circuits held (for `status`).
    pub fn counts(&self) -> (usize, usize) {
        (self.reservations.len(), self.circuits.len())
    }

    /// Challenges awaiting their proof (for tests and `status`).
    pub fn challenges(&self) -> usize {
        self.challenges
    }

    /// A Reserve from `ip` is about to be challenged: takes a slot until
    /// [`RelayTable::end_challenge`] (the proof arrived, failed or came too late), or says
    /// why not. `Off` and the serve mode are not checked here: the key is not proved yet.
    pub fn begin_challenge(&mut self, ip: IpAddr) -> Result<(), RelayRefusal> {
        let l = &self.limits;
        let prefix = SourcePrefix::of(ip);
        if self.challenges >= l.challenges_total {
            return Err(RelayRefusal::ChallengesFull);
        }
        if self.challenges_by_prefix.get(&prefix).copied().unwrap_or(0) >= l.challenges_per_prefix {
            return Err(RelayRefusal::PrefixChallenges);
        }
        *self.challenges_by_prefix.entry(prefix).or_insert(0) += 1;
        self.challenges += 1;
        Ok(())
    }

    /// Frees the slot [`RelayTable::begin_challenge`] took for `ip`.
    pub fn end_challenge(&mut self, ip: IpAddr) {
        let prefix = SourcePrefix::of(ip);
        if self.challenges_by_prefix.contains_key(&prefix) {
            dec(&mut self.challenges_by_prefix, prefix);
            self.challenges -= 1;
        }
    }

    /// Grants or renews the reservation of `key` (its proof checked) from `ip`; returns
    /// when it expires. A renewal keeps its place: it is checked as if the old one were
    /// gone, and on refusal the old one stays.
    /// Whether a first Reserve for a key (a contact or not) gets a challenge at all. The
    /// challenge names the relay, so one this relay would refuse anyway (a stranger's, on a
    /// contacts-only relay) gets no answer: a scanner with a made-up key learns nothing.
    pub fn answers_reserve(&self, contact: bool) -> bool {
        match self.serve {
            Serve::Off => false,
            Serve::Contacts => contact,
            Serve::Anyone => true,
        }
    }

    pub fn reserve(
        &mut self,
        key: PeerId,
        ip: IpAddr,
        contact: bool,
        now: Instant,
    ) -> Result<Instant, RelayRefusal> {
        match self.serve {
            Serve::Off => return Err(RelayRefusal::Off),
            Serve::Contacts if !contact => return Err(RelayRefusal::NotAContact),
            _ => {}
        }
        let prefix = SourcePrefix::of(ip);
        let old = self.take_reservation(&key);
        if let Err(why) = self.room_for_reservation(prefix, contact) {
            if let Some(old) = old {
                self.put_reservation(key, old);
            }
            return Err(why);
        }
        let expires = now + self.limits.reservation_ttl;
        // Circuits outlive a reservation: a new one counts those still joined to its key.
        let circuits = match old {
            Some(o) => o.circuits,
            None => self.circuits.values().filter(|c| c.target == key).count(),
        };
        self.put_reservation(
            key,
            Reservation {
                prefix,
                contact,
                expires,
                last_seen: now,
                circuits,
            },
        );
        Ok(expires)
    }

    fn room_for_reservation(
        &self,
        prefix: SourcePrefix,
        contact: bool,
    ) -> Result<(), RelayRefusal> {
        let l = &self.limits;
        if self.reservations.len() >= l.reservations_total {
            return Err(RelayRefusal::ReservationsFull);
        }
        if !contact {
            if self
                .reservations_by_prefix
                .get(&prefix)
                .copied()
                .unwrap_or(0)
                >= l.reservations_per_prefix
            {
                return Err(RelayRefusal::PrefixReservations);
            }
            if self.stranger_reservations
                >= l.reservations_total.saturating_sub(l.reserved_for_contacts)
            {
                return Err(RelayRefusal::StrangerReservations);
            }
        }
        Ok(())
    }

    fn put_reservation(&mut self, key: PeerId, r: Reservation) {
        if !r.contact {
            *self.reservations_by_prefix.entry(r.prefix).or_insert(0) += 1;
            self.stranger_reservations += 1;
        }
        self.reservations.insert(key, r);
    }

    fn take_reservation(&mut self, key: &PeerId) -> Option<Reservation> {
        let r = self.reservations.remove(key)?;
        if !r.contact {
            dec(&mut self.reservations_by_prefix, r.prefix);
            self.stranger_reservations -= 1;
        }
        Some(r)
    }

    /// A Ping on the reservation's connection: it is alive.
    pub fn ping(&mut self, key: &PeerId, now: Instant) {
        if let Some(r) = self.reservations.get_mut(key) {
            r.last_seen = now;
        }
    }

    /// The reservation's connection closed. Its circuits go on (they are sessions).
    pub fn unreserve(&mut self, key: &PeerId) {
        self.take_reservation(key);
    }

    /// A dialler at `ip` asks for `target`: takes a circuit slot under `id` (random, from
    /// the relay), waiting for the target's Accept.
    pub fn open_circuit(
        &mut self,
        id: CircuitId,
        target: PeerId,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(), RelayRefusal> {
        let l = self.limits;
        let r = match self.reservations.get(&target) {
            Some(r) if r.live(now, l.reservation_idle) => r,
            _ => return Err(RelayRefusal::NoReservation),
        };
        let contact = r.contact;
        if r.circuits >= l.circuits_per_target {
            return Err(RelayRefusal::TargetCircuits);
        }
        if self.circuits.len() >= l.circuits_total || self.circuits.contains_key(&id) {
            return Err(RelayRefusal::CircuitsFull);
        }
        let prefix = SourcePrefix::of(ip);
        if self.circuits_by_prefix.get(&prefix).copied().unwrap_or(0) >= l.circuits_per_prefix {
            return Err(RelayRefusal::PrefixCircuits);
        }
        if !contact
            && self.stranger_circuits >= l.circuits_total.saturating_sub(l.circuits_for_contacts)
        {
            return Err(RelayRefusal::StrangerCircuits);
        }
        if let Some(r) = self.reservations.get_mut(&target) {
            r.circuits += 1;
        }
        *self.circuits_by_prefix.entry(prefix).or_insert(0) += 1;
        if !contact {
            self.stranger_circuits += 1;
        }
        self.circuits.insert(
            id,
            Circuit {
                target,
                prefix,
                contact,
                accepted: false,
                opened: now,
                last_active: now,
                bucket: TokenBucket::new(l.circuit_rate, l.circuit_burst, now),
            },
        );
        Ok(())
    }

    /// The target's Accept for `id`: the circuit must be waiting, and not for too long;
    /// when the connection proved its key (`by`, sealed control), it must be the circuit's
    /// target. Returns the target the circuit was opened for.
    pub fn accept_circuit(
        &mut self,
        id: CircuitId,
        by: Option<PeerId>,
        now: Instant,
    ) -> Result<PeerId, RelayRefusal> {
        let wait = self.limits.accept_wait;
        match self.circuits.get_mut(&id) {
            Some(c)
                if !c.accepted
                    && now.saturating_duration_since(c.opened) < wait
                    && by.is_none_or(|k| k == c.target) =>
            {
                c.accepted = true;
                c.last_active = now;
                Ok(c.target)
            }
            _ => Err(RelayRefusal::NoCircuit),
        }
    }

    /// The circuit ended (either side closed, or it was refused): frees its slots.
    pub fn close_circuit(&mut self, id: &CircuitId) {
        let Some(c) = self.circuits.remove(id) else {
            return;
        };
        dec(&mut self.circuits_by_prefix, c.prefix);
        if !c.contact {
            self.stranger_circuits -= 1;
        }
        if let Some(r) = self.reservations.get_mut(&c.target) {
            r.circuits = r.circuits.saturating_sub(1);
        }
    }

    /// `bytes` read from one side of circuit `id` are to be written to the other: zero
    /// when they may go now (taken from the circuit's and the total budget), otherwise how
    /// long to wait before asking again (nothing taken). A chunk larger than a burst is
    /// charged a burst (callers read at most [`MAX_CHUNK`]).
    pub fn transfer(
        &mut self,
        id: &CircuitId,
        bytes: usize,
        now: Instant,
    ) -> Result<Duration, RelayRefusal> {
        let c = self.circuits.get_mut(id).ok_or(RelayRefusal::NoCircuit)?;
        let cost = bytes as f64;
        let own = cost.min(self.limits.circuit_burst);
        let all = cost.min(self.limits.total_burst);
        let wait = c
            .bucket
            .wait_for(own, now)
            .max(self.total.wait_for(all, now));
        if wait.is_zero() {
            c.bucket.try_take(own, now);
            self.total.try_take(all, now);
            c.last_active = now;
        }
        Ok(wait)
    }

    /// Drops what has expired: reservations past their time or silent too long, circuits
    /// not accepted in time or idle too long.
    pub fn expire(&mut self, now: Instant) -> Expired {
        let l = self.limits;
        let mut out = Expired::default();
        let dead: Vec<PeerId> = self
            .reservations
            .iter()
            .filter(|(_, r)| !r.live(now, l.reservation_idle))
            .map(|(k, _)| *k)
            .collect();
        for key in dead {
            self.take_reservation(&key);
            out.reservations.push(key);
        }
        let dead: Vec<CircuitId> = self
            .circuits
            .iter()
            .filter(|(_, c)| {
                if c.accepted {
                    now.saturating_duration_since(c.last_active) >= l.circuit_idle
                } else {
                    now.saturating_duration_since(c.opened) >= l.accept_wait
                }
            })
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.close_circuit(&id);
            out.circuits.push(id);
        }
        out.reservations.sort();
        out.circuits.sort();
        out
    }
}

#[cfg(test)]
impl RelayTable {
    /// Recounts everything from the entries and compares with the running counters.
    fn check_invariants(&self) {
        let l = &self.limits;
        assert!(self.challenges <= l.challenges_total);
        assert_eq!(
            self.challenges_by_prefix.values().sum::<usize>(),
            self.challenges
        );
        assert!(
            self.challenges_by_prefix
                .values()
                .all(|&n| 0 < n && n <= l.challenges_per_prefix)
        );
        assert!(self.reservations.len() <= l.reservations_total);
        assert!(self.circuits.len() <= l.circuits_total);
        let mut by_prefix: HashMap<SourcePrefix, usize> = HashMap::new();
        for r in self.reservations.values().filter(|r| !r.contact) {
            *by_prefix.entry(r.prefix).or_insert(0) += 1;
        }
        assert_eq!(by_prefix, self.reservations_by_prefix);
        assert_eq!(
            by_prefix.values().sum::<usize>(),
            self.stranger_reservations
        );
        assert!(by_prefix.values().all(|&n| n <= l.reservations_per_prefix));
        let mut by_prefix: HashMap<SourcePrefix, usize> = HashMap::new();
        for c in self.circuits.values() {
            *by_prefix.entry(c.prefix).or_insert(0) += 1;
        }
        assert_eq!(by_prefix, self.circuits_by_prefix);
        assert!(by_prefix.values().all(|&n| n <= l.circuits_per_prefix));
        let strangers = self.circuits.values().filter(|c| !c.contact).count();
        assert_eq!(strangers, self.stranger_circuits);
        for (key, r) in &self.reservations {
            let n = self.circuits.values().filter(|c| c.target == *key).count();
            assert_eq!(r.circuits, n);
            assert!(n <= l.circuits_per_target);
        }
    }
}

/// Bytes the relay reads from one side of a circuit at once (below every burst): two
/// such buffers a circuit, 16 KiB, keep 10,000 circuits within 160 MiB of buffers.
pub const MAX_CHUNK: usize = 8 * 1024;

#[path = "relay_limits.rs"]
mod limits;
pub use limits::*;

#[path = "relay_dialback.rs"]
mod dialback;
pub use dialback::*;

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
