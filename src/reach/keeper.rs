//! The keeper (IO): decides whether this gateway needs relays, finds them, keeps
//! `[relay] keep` reservations while it is not reachable directly, moves to another relay
//! when one goes away, and tells the publisher and `status` where things stand
//! ([`ReachState`]). A gateway that serves anyone and is reachable announces itself in
//! the DHT as a relay.
//!
//! Relays are tried in this order: `[relay] use`, contacts whose gateways are reachable
//! directly (one that does not serve us refuses, and is not asked again for a while),
//! then relays found in the DHT (their key is the one they prove in the reservation's
//! challenge). A relay that failed or refused is avoided for [`AVOID_FOR`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::hold::{self, Held, Lost};
use super::{ReachState, Verdict};
use crate::config::{RelayConfig, Serve};
use crate::directory::RelayEntry;
use crate::identity::PeerId;
use crate::net::portmap;
use crate::peer::{CONNECT_TIMEOUT, PeerContext};
use crate::relay::client;
use crate::relay::probe::Verdict as ProbeVerdict;

/// A relay that failed or refused is not asked again for this long.
pub const AVOID_FOR: Duration = Duration::from_secs(10 * 60);
/// Contacts looked up at most per search for relays.
pub const CONTACTS_ASKED: usize = 16;
/// How long the first dial-back waits for the router's answer about a port mapping (PCP,
/// NAT-PMP and UPnP each take a few seconds to give up on a router that does not answer).
pub const MAPPING_WAIT: Duration = Duration::from_secs(15);
/// Look for relays again after this long while fewer are held than wanted (doubling up to
/// [`SEARCH_BACKOFF_MAX`]).
pub const SEARCH_BACKOFF_MIN: Duration = Duration::from_secs(5);
pub const SEARCH_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// How often to look again while our DHT node is still joining.
pub const JOINING_POLL: Duration = Duration::from_secs(1);
/// Check the verdict again this often when nothing changes.
pub const RECHECK_EVERY: Duration = Duration::from_secs(10 * 60);
/// A relay that serves anyone announces itself in the DHT this often (announcements
/// expire after about 30 minutes in common DHT nodes).
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(20 * 60);

/// The verdict from what is known: a public interface; else the last dial-back's answer for
/// the port we publish; else a mapping (unchecked, published as reachable); else relays held
/// (unreachable until a check says otherwise) or none (probably behind a NAT).
fn verdict_of(
    public_interface: bool,
    known: Option<Verdict>,
    mapped: bool,
    held: usize,
) -> Verdict {
    match known {
        _ if public_interface => Verdict::Reachable,
        Some(known) => known,
        None if mapped => Verdict::Unchecked,
        None if held == 0 => Verdict::NoRelayToAsk,
        None => Verdict::Unreachable,
    }
}

/// A relay to try: its key when we know it, and where to reach it.
#[derive(Clone, Debug)]
struct Candidate {
    key: Option<PeerId>,
    addrs: Vec<SocketAddr>,
}

impl Candidate {
    fn avoid_key(&self) -> String {
        match (&self.key, self.addrs.first()) {
            (Some(key), _) => key.to_string(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// What the keeper works from.
pub struct Keeper {
    pub ctx: PeerContext,
    pub config: RelayConfig,
    /// The peer listener's port (what a relay dials back, without a mapping).
    pub port: u16,
    /// The router's port mapping, when one is asked for.
    pub mapping: watch::Receiver<portmap::State>,
    /// True when the port mapper runs (then its first answer is awaited).
    pub mapping_asked: bool,
    pub state: watch::Sender<ReachState>,
}

impl Keeper {
    /// Runs until shutdown.
    pub async fn run(mut self) {
        let shutdown = self.ctx.shutdown.clone();
        let started = Instant::now();
        let (lost_tx, mut lost_rx) = mpsc::unbounded_channel::<Lost>();
        let mut held: Vec<Held> = Vec::new();
        let mut avoid: HashMap<String, Instant> = HashMap::new();
        let mut backoff = SEARCH_BACKOFF_MIN;
        let mut announced: Option<Instant> = None;
        // What the last dial-back said, for which port, and when.
        let mut checked: Option<(Verdict, u16, Instant)> = None;
        loop {
            let mapping = self.mapping.borrow_and_update().mapped().cloned();
            let port = mapping.as_ref().map_or(self.port, |m| m.external.port());
            let public_interface = !portmap::needed(&portmap::interface_addresses());
            // The first check waits for the router's first answer, so that it tests the
            // mapped port when there is one; relays are sought meanwhile.
            let mapping_pending = self.mapping_asked
                && matches!(*self.mapping.borrow(), portmap::State::Idle)
                && started.elapsed() < MAPPING_WAIT;
            let check_due = !public_interface
                && !mapping_pending
                && checked.is_none_or(|(_, p, at)| p != port || at.elapsed() >= RECHECK_EVERY);
            let known = checked.filter(|(_, p, _)| *p == port).map(|(v, _, _)| v);
            // Relays are held while we are not known to be reachable, and one at least
            // while a check is due (it is the relay that dials us back).
            let want = if public_interface || known == Some(Verdict::Reachable) {
                0
            } else {
                self.config.keep
            };
            let want_now = if check_due { want.max(1) } else { want };
            let mut problem = None;
            if held.len() < want_now {
                avoid.retain(|_, at| at.elapsed() < AVOID_FOR);
                problem = self.fill(&mut held, want_now, &mut avoid, &lost_tx).await;
            }
            if check_due && let Some(first) = held.first() {
                // Peers may use the relays while the check runs (a filtered port takes the
                // relay's whole connect timeout to fail).
                let known = checked.filter(|(_, p, _)| *p == port).map(|(v, _, _)| v);
                let interim = verdict_of(false, known, mapping.is_some(), held.len());
                self.tell(interim, &held[..held.len().min(want.max(1))], None);
                let verdict = first.dial_back(port, &self.ctx.probes).await;
                tracing::info!(port, ?verdict, relay = %first.entry.key.short(), "reachability checked by a dial-back");
                match verdict {
                    ProbeVerdict::Reachable => {
                        checked = Some((Verdict::Reachable, port, Instant::now()))
                    }
                    ProbeVerdict::Unreachable => {
                        checked = Some((Verdict::Unreachable, port, Instant::now()))
                    }
                    ProbeVerdict::Unknown => {}
                }
            }
            let known = checked.filter(|(_, p, _)| *p == port).map(|(v, _, _)| v);
            let verdict = verdict_of(public_interface, known, mapping.is_some(), held.len());
            if verdict == Verdict::Reachable {
                held.clear();
            } else {
                held.truncate(want);
            }
            self.tell(
                verdict,
                &held,
                (held.len() < want).then_some(problem).flatten(),
            );
            if self.config.serve == Serve::Anyone
                && verdict == Verdict::Reachable
                && announced.is_none_or(|at| at.elapsed() >= ANNOUNCE_EVERY)
            {
                let plain = self.config.plain_control;
                match self.ctx.directory.announce_relay(self.port, plain).await {
                    Ok(()) => {
                        tracing::info!(
                            port = self.port,
                            "announced in the DHT as a relay for anyone"
                        );
                        announced = Some(Instant::now());
                    }
                    Err(e) => tracing::debug!(error = %e, "announcing as a relay failed"),
                }
            }
            let announce_due = self.config.serve == Serve::Anyone
                && verdict == Verdict::Reachable
                && announced.is_none();
            let mut wait = if held.len() < want || announce_due {
                let wait = backoff;
                backoff = (backoff * 2).min(SEARCH_BACKOFF_MAX);
                wait
            } else {
                backoff = SEARCH_BACKOFF_MIN;
                RECHECK_EVERY.min(ANNOUNCE_EVERY)
            };
            if mapping_pending {
                wait = wait.min(MAPPING_WAIT.saturating_sub(started.elapsed()));
            }
            // A DHT node still joining has found nothing and announced nothing yet: look
            // again as soon as it has joined, not after a backoff.
            if wait > JOINING_POLL && self.ctx.directory.info().await.nodes == Some(0) {
                wait = JOINING_POLL;
                backoff = SEARCH_BACKOFF_MIN;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                Some(lost) = lost_rx.recv() => {
                    held.retain(|h| h.entry.key != lost.relay);
                    avoid.insert(lost.relay.to_string(), Instant::now());
                    backoff = SEARCH_BACKOFF_MIN;
                }
                Ok(()) = self.mapping.changed() => {}
            }
        }
    }

    /// Tells the publisher and `status` (only what changed goes out).
    fn tell(&self, verdict: Verdict, held: &[Held], problem: Option<String>) {
        let state = ReachState {
            verdict,
            relays: held.iter().map(|h| h.entry.clone()).collect(),
            problem,
        };
        self.state.send_if_modified(|old| {
            let changed = *old != state;
            *old = state;
            changed
        });
    }

    /// Reserves at candidates until `want` are held; says why when none could be had.
    async fn fill(
        &self,
        held: &mut Vec<Held>,
        want: usize,
        avoid: &mut HashMap<String, Instant>,
        lost: &mpsc::UnboundedSender<Lost>,
    ) -> Option<String> {
        let candidates = self.candidates(held, avoid).await;
        let mut problem = candidates.is_empty().then(|| {
            "no relay found: none in [relay] use, no contact serving, none announced in the DHT"
                .to_string()
        });
        for candidate in candidates {
            if held.len() >= want {
                break;
            }
            match self.reserve(&candidate).await {
                Ok((reservation, entry)) if !held.iter().any(|h| h.entry.key == entry.key) => {
                    tracing::info!(relay = %entry.key.short(), addr = %entry.addrs[0], "relay reservation made");
                    held.push(hold::spawn(&self.ctx, reservation, entry, lost.clone()));
                }
                Ok(_) => {}
                Err(why) => {
                    tracing::debug!(relay = %candidate.avoid_key(), %why, "no reservation at this relay");
                    problem = Some(format!("last relay tried: {why}"));
                    avoid.insert(candidate.avoid_key(), Instant::now());
                }
            }
        }
        problem
    }

    /// Relays to try now, in order, without those held or avoided.
    async fn candidates(&self, held: &[Held], avoid: &HashMap<String, Instant>) -> Vec<Candidate> {
        let own = self.ctx.own;
        let mut out: Vec<Candidate> = Vec::new();
        let mut keys: Vec<PeerId> = self.config.use_relays.clone();
        let mut contacts = self.ctx.contacts.list();
        contacts.sort_by_key(|p| p.to_string());
        contacts.truncate(CONTACTS_ASKED);
        keys.extend(
            contacts
                .into_iter()
                .filter(|c| !self.config.use_relays.contains(c)),
        );
        keys.retain(|k| *k != own && !held.iter().any(|h| h.entry.key == *k));
        let mut lookups: FuturesUnordered<_> = keys
            .iter()
            .enumerate()
            .map(|(i, &key)| async move { (i, key, self.ctx.directory.lookup(key).await) })
            .collect();
        let mut found: Vec<(usize, Candidate)> = Vec::new();
        while let Some((i, key, result)) = lookups.next().await {
            let Ok(Some(found_record)) = result else {
                continue;
            };
            // Only a gateway reachable directly can relay, and only one of this version
            // (blinded records) holds a reservation over sealed control.
            if found_record.record.behind_nat() || !found_record.blinded {
                continue;
            }
            let plan = self.ctx.dial_rules.plan(found_record.record.addrs());
            if !plan.dial.is_empty() {
                found.push((
                    i,
                    Candidate {
                        key: Some(key),
                        addrs: plan.dial,
                    },
                ));
            }
        }
        found.sort_by_key(|(i, _)| *i);
        out.extend(found.into_iter().map(|(_, c)| c));
        for addr in self.ctx.directory.find_relays().await {
            let plan = self.ctx.dial_rules.plan(&[addr]);
            let known = out.iter().any(|c| c.addrs.contains(&addr))
                || held.iter().any(|h| h.entry.addrs.contains(&addr));
            if plan.dial.is_empty() || known {
                continue;
            }
            out.push(Candidate {
                key: None,
                addrs: plan.dial,
            });
        }
        out.retain(|c| !avoid.contains_key(&c.avoid_key()));
        out
    }

    /// A reservation at `candidate`, over the first of its addresses that answers.
    async fn reserve(
        &self,
        candidate: &Candidate,
    ) -> Result<(client::Reservation, RelayEntry), String> {
        let mut last = String::from("no address");
        for &addr in &candidate.addrs {
            let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    last = format!("{addr}: {e}");
                    continue;
                }
                Err(_) => {
                    last = format!("{addr}: connection timed out");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // Always sealed: a relay known by its key under its key, one found in the DHT
            // as an open relay (docs/protocol.md, "Relay control, version 2").
            let reserved = tokio::time::timeout(
                self.ctx.timers.handshake,
                client::reserve_sealed(stream, &self.ctx.identity, candidate.key, self.ctx.obfs),
            )
            .await;
            match reserved {
                Ok(Ok(reservation)) => {
                    let relay = reservation.relay();
                    if relay == self.ctx.own {
                        return Err("that relay is this gateway itself".into());
                    }
                    let entry = RelayEntry {
                        key: relay,
                        addrs: vec![addr],
                    };
                    return Ok((reservation, entry));
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: reservation timed out"),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_prefers_evidence_over_guesses() {
        // A public address of our own: reachable, whatever else.
        assert_eq!(
            verdict_of(true, Some(Verdict::Unreachable), false, 2),
            Verdict::Reachable
        );
        // A dial-back's answer beats a mapping (a carrier-grade NAT behind the home router
        // makes the router's mapping useless) and beats holding relays.
        assert_eq!(
            verdict_of(false, Some(Verdict::Unreachable), true, 2),
            Verdict::Unreachable
        );
        assert_eq!(
            verdict_of(false, Some(Verdict::Reachable), false, 1),
            Verdict::Reachable
        );
        // No answer yet: a mapping is published unchecked; relays held mean we use them;
        // nothing at all means probably behind a NAT.
        assert_eq!(verdict_of(false, None, true, 0), Verdict::Unchecked);
        assert_eq!(verdict_of(false, None, false, 1), Verdict::Unreachable);
        assert_eq!(verdict_of(false, None, false, 0), Verdict::NoRelayToAsk);
    }

    #[test]
    fn a_candidate_is_avoided_by_key_or_else_by_address() {
        let key = PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[4; 32]));
        let addr: SocketAddr = "11.0.113.9:7667".parse().unwrap();
        let known = Candidate {
            key: Some(key),
            addrs: vec![addr],
        };
        let found = Candidate {
            key: None,
            addrs: vec![addr],
        };
        assert_eq!(known.avoid_key(), key.to_string());
        assert_eq!(found.avoid_key(), addr.to_string());
    }
}
