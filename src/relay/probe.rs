//! The gateway's side of a dial-back: the nonces it is waiting to see come back as a Probe
//! on its peer port ([`Probes`]), and what to conclude ([`Verdict`]).
//!
//! How a caller (the task that owns a [`super::client::Reservation`]) checks reachability:
//!
//! 1. `let (nonce, waiter) = probes.expect()?;`
//! 2. `reservation.request_dial_back(port, nonce).await?;` with `port` the published one
//!    (the external port of a mapping, else `[peer] listen`'s);
//! 3. in its `select!` loop, for at most [`DIAL_BACK_WAIT`]: `reservation.next_event()`
//!    (cancel-safe) yields `RelayEvent::DialBackResult { nonce: n, code, .. }` with
//!    `n == nonce` (other events are handled as always), and `&mut waiter` yields
//!    `Some(from)` when the accept loop has seen the probe; after an `Ok` result it waits
//!    up to [`PROBE_GRACE`] more for the probe, since the relay reports Ok once written;
//! 4. `Verdict::of(result, probe_arrived)`.
//!
//! The probe is a version 2 first message MACed with
//! [`ProberKey::dial_back`]`(our key, nonce)` (a plain reservation's relay writes a plain
//! `RelayMessage::Probe { token }` instead, `token` = [`probe_token`]`(nonce)`). The
//! accept loop tries the keys of the nonces awaited ([`Probes::keys`]) on a first message
//! no other key opened, and calls [`Probes::arrived`] with the matching token, then closes
//! the connection unanswered; unknown probes are ignored, so a forged probe cannot make a
//! gateway believe it is reachable without the nonce, which travels only inside the
//! reservation connection to the relay (sealed).

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use ed25519_dalek::VerifyingKey;

use super::wire::{StatusCode, probe_token};
use crate::crypto::obfs::ProberKey;
use crate::identity::{IdentityError, random_bytes};

/// Dial-backs awaited at once; a seventeenth drops the oldest.
pub const MAX_PENDING_PROBES: usize = 16;
/// A nonce not seen back within this time is forgotten.
pub const PROBE_TTL: Duration = Duration::from_secs(30);
/// How long a caller waits for the relay's DialBackResult: the relay's connect timeout
/// (5 s) and two round trips.
pub const DIAL_BACK_WAIT: Duration = Duration::from_secs(10);
/// How long after the relay's `Ok` the probe may still be on its way to the accept loop.
pub const PROBE_GRACE: Duration = Duration::from_secs(2);

/// What one dial-back says about the port it named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The relay's connection to our published address reached our accept loop.
    Reachable,
    /// The relay could not connect (refused, filtered), or it connected to something that
    /// was not us (a mapping to another host, a middlebox): publish relays.
    Unreachable,
    /// No answer, or a refusal (limits, port, reservation gone): ask later or another
    /// relay; keep what was believed before.
    Unknown,
}

impl Verdict {
    /// `result`: the DialBackResult's code for our nonce, `None` if none came in time;
    /// `probe_arrived`: whether [`Probes::arrived`] matched our nonce (after waiting
    /// [`PROBE_GRACE`] past an `Ok`). A probe that arrived is proof whatever the result
    /// (it carries the hash of a nonce only the relay was told).
    pub fn of(result: Option<StatusCode>, probe_arrived: bool) -> Self {
        match (probe_arrived, result) {
            (true, _) => Self::Reachable,
            (false, Some(StatusCode::Ok | StatusCode::DialBackFailed)) => Self::Unreachable,
            (false, _) => Self::Unknown,
        }
    }
}

/// Pending tokens with their expiry, oldest first, at most [`MAX_PENDING_PROBES`]; `T` is
/// what is handed over when a token comes back (pure: `now` is passed in).
pub struct PendingProbes<T> {
    entries: VecDeque<([u8; 16], Instant, T)>,
}

impl<T> Default for PendingProbes<T> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }
}

impl<T> PendingProbes<T> {
    /// Awaits `token` until `now + PROBE_TTL`; drops expired entries, then the oldest if
    /// the table is full.
    pub fn insert(&mut self, token: [u8; 16], value: T, now: Instant) {
        self.expire(now);
        if self.entries.len() >= MAX_PENDING_PROBES {
            self.entries.pop_front();
        }
        self.entries.push_back((token, now + PROBE_TTL, value));
    }

    /// The value awaiting `token`, removed, if it has not expired.
    pub fn take(&mut self, token: &[u8; 16], now: Instant) -> Option<T> {
        self.expire(now);
        let at = self.entries.iter().position(|(t, _, _)| t == token)?;
        self.entries.remove(at).map(|(_, _, value)| value)
    }

    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|(_, expires, _)| now < *expires);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The live entries' tokens and values, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8; 16], &T)> {
        self.entries.iter().map(|(token, _, value)| (token, value))
    }
}

/// What a pending dial-back keeps: its nonce (for the version 2 probe's key) and its waiter.
type Pending = ([u8; 16], oneshot::Sender<SocketAddr>);

/// The dial-backs this gateway awaits, shared by the relay keepers (which ask) and the
/// accept loop (which sees probes arrive).
#[derive(Clone, Default)]
pub struct Probes {
    inner: Arc<Mutex<PendingProbes<Pending>>>,
}

impl Probes {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, PendingProbes<Pending>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh random nonce to send in a DialBack, and the waiter that resolves when its
    /// probe arrives (or to `None` once it is forgotten: expired or pushed out).
    pub fn expect(&self) -> Result<([u8; 16], ProbeWaiter), IdentityError> {
        let nonce: [u8; 16] = random_bytes()?;
        let (tx, rx) = oneshot::channel();
        self.lock()
            .insert(probe_token(&nonce), (nonce, tx), Instant::now());
        Ok((nonce, ProbeWaiter { rx }))
    }

    /// For each dial-back awaited by the gateway `own`: its token (for [`Probes::arrived`])
    /// and the key its version 2 probe is MACed with. Empty, and no hashing, when none is.
    pub fn keys(&self, own: &VerifyingKey) -> Vec<([u8; 16], ProberKey)> {
        let mut table = self.lock();
        table.expire(Instant::now());
        table
            .iter()
            .map(|(token, (nonce, _))| (*token, ProberKey::dial_back(own, nonce)))
            .collect()
    }

    /// A Probe with `token` arrived on a connection from `from`: true if it was awaited
    /// (its waiter is woken), false if unknown, expired or already seen.
    pub fn arrived(&self, token: [u8; 16], from: SocketAddr) -> bool {
        let waiter = self.lock().take(&token, Instant::now());
        // The waiter may have given up already; the probe was still ours.
        waiter.map(|(_, tx)| tx.send(from)).is_some()
    }

    /// Dial-backs awaited (expired ones are dropped first).
    pub fn pending(&self) -> usize {
        let mut table = self.lock();
        table.expire(Instant::now());
        table.len()
    }
}

/// Resolves to the address the probe came from, or `None` once the nonce is forgotten.
/// Poll it as `&mut waiter` in a `select!`; bound it in time (it is not woken by expiry
/// itself, only by the next use of [`Probes`]).
#[derive(Debug)]
pub struct ProbeWaiter {
    rx: oneshot::Receiver<SocketAddr>,
}

impl Future for ProbeWaiter {
    type Output = Option<SocketAddr>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(Result::ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> SocketAddr {
        "192.0.2.7:40000".parse().unwrap()
    }

    #[test]
    fn verdicts() {
        use StatusCode::*;
        assert_eq!(Verdict::of(Some(Ok), true), Verdict::Reachable);
        assert_eq!(Verdict::of(None, true), Verdict::Reachable);
        assert_eq!(Verdict::of(Some(Ok), false), Verdict::Unreachable);
        assert_eq!(
            Verdict::of(Some(DialBackFailed), false),
            Verdict::Unreachable
        );
        for code in [ResourceLimit, BadPort, NoReservation, Other(99)] {
            assert_eq!(Verdict::of(Some(code), false), Verdict::Unknown);
        }
        assert_eq!(Verdict::of(None, false), Verdict::Unknown);
    }

    #[test]
    fn the_pending_table_is_bounded_and_entries_expire() {
        let t0 = Instant::now();
        let mut p = PendingProbes::default();
        for n in 0..MAX_PENDING_PROBES as u8 + 3 {
            p.insert([n; 16], n, t0);
        }
        assert_eq!(p.len(), MAX_PENDING_PROBES);
        // The three oldest were dropped.
        assert_eq!(p.take(&[0; 16], t0), None);
        assert_eq!(p.take(&[2; 16], t0), None);
        assert_eq!(p.take(&[3; 16], t0), Some(3));
        // Taken once only.
        assert_eq!(p.take(&[3; 16], t0), None);
        // Expired at 30 s.
        let late = t0 + PROBE_TTL;
        assert_eq!(p.take(&[4; 16], late - Duration::from_millis(1)), Some(4));
        assert_eq!(p.take(&[5; 16], late), None);
        assert!(p.is_empty());
    }

    #[tokio::test]
    async fn an_awaited_probe_wakes_its_waiter_once() {
        let probes = Probes::new();
        let (nonce, waiter) = probes.expect().unwrap();
        let (other, _other_waiter) = probes.expect().unwrap();
        assert_ne!(nonce, other);
        assert_eq!(probes.pending(), 2);
        // The nonce itself is not the token: a probe must carry its hash.
        assert!(!probes.arrived(nonce, from()));
        assert!(probes.arrived(probe_token(&nonce), from()));
        assert_eq!(waiter.await, Some(from()));
        // A replay of the same probe, or an unknown token, is ignored.
        assert!(!probes.arrived(probe_token(&nonce), from()));
        assert!(!probes.arrived([7; 16], from()));
        assert_eq!(probes.pending(), 1);
    }

    #[tokio::test]
    async fn a_forgotten_nonce_resolves_its_waiter_to_none() {
        let probes = Probes::new();
        let (first, waiter) = probes.expect().unwrap();
        let clone = probes.clone();
        for _ in 0..MAX_PENDING_PROBES {
            clone.expect().unwrap();
        }
        assert_eq!(waiter.await, None);
        assert!(!probes.arrived(probe_token(&first), from()));
        assert_eq!(probes.pending(), MAX_PENDING_PROBES);
    }
}
