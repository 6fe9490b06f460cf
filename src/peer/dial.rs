//! Dialling a peer found in the directory: look its record up, sort its addresses out by
//! the dial rules ([`crate::policy::address`]: never loopback, link-local, our own
//! listeners...; at most a few), connect to the ones left (each started at a fixed time, so
//! that timing tells a record's author nothing about the other addresses), and run the
//! handshake as initiator, checking that the responder proves the key that was dialled.
//!
//! The IO the rules need lives here: the host's interface addresses (read at each dial, as
//! a laptop moves between networks) and the gateway's own listening and published
//! addresses ([`DialRules`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::net::TcpStream;

use super::transport::Version;
use super::{CONNECT_TIMEOUT, DialError, PeerContext, PeerError, transport};
use crate::crypto::{HandshakeError, SessionKeys};
use crate::directory::{Found, RelayEntry};
use crate::identity::PeerId;
use crate::policy::address::{DIAL_STAGGER, DialPlan, DialScope, Host, Skip};
use crate::relay::client;

/// What the dialler may connect to: the configured scope and what it must recognise as
/// this gateway itself.
#[derive(Clone, Debug, Default)]
pub struct DialRules {
    pub scope: DialScope,
    /// The peer and IRC listeners, as bound.
    pub listeners: Vec<SocketAddr>,
    /// The addresses last published in our own record (the publisher updates them).
    published: Arc<RwLock<Vec<SocketAddr>>>,
}

impl DialRules {
    pub fn new(scope: DialScope, listeners: Vec<SocketAddr>) -> Self {
        Self {
            scope,
            listeners,
            published: Arc::default(),
        }
    }

    /// Our record now lists `addrs`.
    pub fn set_published(&self, addrs: &[SocketAddr]) {
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = addrs.to_vec();
    }

    /// Which of a record's addresses to dial, and which not (and why).
    pub fn plan(&self, addrs: &[SocketAddr]) -> DialPlan {
        let interfaces = interface_addresses();
        let published = self
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let host = Host {
            interfaces: &interfaces,
            listeners: &self.listeners,
            published: &published,
        };
        DialPlan::of(addrs, self.scope, &host)
    }
}

/// The host's interface addresses now; none when they cannot be read (then no private
/// range counts as one the host is on).
fn interface_addresses() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.iter().map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the interface addresses");
            Vec::new()
        }
    }
}

impl PeerContext {
    /// Finds `peer` in the directory, connects, authenticates it, and starts a session.
    pub async fn dial(&self, peer: PeerId) -> Result<(), DialError> {
        if self.blocked.contains(&peer) {
            return Err(DialError::Blocked);
        }
        let mut fresh_lookup_done = false;
        loop {
            let found = self
                .directory
                .lookup(peer)
                .await
                .map_err(|e| DialError::Directory(e.to_string()))?
                .ok_or(DialError::NotFound)?;
            fresh_lookup_done |= !found.from_cache;
            let version = self.version_for(&found);
            let mut plan = self.dial_rules.plan(found.record.addrs());
            if plan.lists_own() {
                tracing::info!(peer = %peer.short(), "the peer's record lists this gateway's own address; skipped");
            }
            if !plan.skipped.is_empty() {
                tracing::debug!(peer = %peer.short(), skipped = %plan.describe_skipped(), "record addresses not dialled");
            }
            let mut last_error = String::from("no address");
            // Each address starts at its fixed time (`DIAL_STAGGER`), whatever the others
            // did; the first to prove the peer's key wins and the others are dropped.
            let mut attempts: FuturesUnordered<_> = plan
                .dial
                .iter()
                .enumerate()
                .map(|(i, &addr)| async move {
                    tokio::time::sleep(DIAL_STAGGER * i as u32).await;
                    (addr, self.connect(peer, addr, version).await)
                })
                .collect();
            while let Some((addr, result)) = attempts.next().await {
                match result {
                    Ok((stream, keys)) => {
                        drop(attempts);
                        // Blocked while the dial was under way: close before any session.
                        if self.blocked.contains(&peer) {
                            return Err(DialError::Blocked);
                        }
                        self.start_session(stream, keys, self.own, Some(addr), None);
                        return Ok(());
                    }
                    Err(PeerError::Handshake(HandshakeError::WrongPeer { found, .. }))
                        if &found == self.own.as_bytes() =>
                    {
                        // We reached ourselves (through a NAT's hairpin, or an address we
                        // did not know as ours): a wrong record, not a hijack of the peer.
                        tracing::info!(peer = %peer.short(), %addr, "the peer's record lists an address that reaches this gateway itself; skipped");
                        plan.skipped.push((addr, Skip::Own));
                        last_error = "that address reaches this gateway itself".into();
                    }
                    Err(PeerError::Handshake(HandshakeError::WrongPeer { found, .. })) => {
                        let found = PeerId::from_bytes(found)
                            .map(|p| p.nick())
                            .unwrap_or_else(|_| "?".into());
                        tracing::warn!(peer = %peer.short(), %addr, %found, "peer at the published address proved another key");
                        self.directory.forget(&peer);
                        return Err(DialError::WrongPeer { addr, found });
                    }
                    Err(e) => {
                        tracing::debug!(peer = %peer.short(), %addr, error = %e, "dial failed");
                        last_error = e.to_string();
                    }
                }
            }
            drop(attempts);
            // Then the relays the peer lists, in order.
            let relays = found.record.relays();
            for relay in relays {
                match self.dial_via(peer, relay, version).await {
                    Ok(()) => return Ok(()),
                    Err(DialError::Blocked) => return Err(DialError::Blocked),
                    Err(e) => {
                        tracing::debug!(peer = %peer.short(), relay = %relay.key.short(), error = %e, "dial via relay failed");
                        last_error = format!("via relay {}: {e}", relay.key.short());
                    }
                }
            }
            // A cached address may be stale: ask the network once before giving up.
            if found.from_cache && !fresh_lookup_done {
                self.directory.forget(&peer);
                fresh_lookup_done = true;
                continue;
            }
            if found.record.behind_nat() {
                return Err(DialError::BehindNat {
                    relays: relays.len(),
                    last_error,
                });
            }
            if plan.dial.is_empty() {
                return Err(DialError::NoDialableAddress {
                    skipped: plan.describe_skipped(),
                });
            }
            let addrs = plan
                .dial
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let skipped = match plan.describe_skipped() {
                s if s.is_empty() => s,
                s => format!("; skipped: {s}"),
            };
            return Err(DialError::Unreachable {
                addrs,
                last_error,
                skipped,
            });
        }
    }

    /// Reaches `peer` through `relay` (one of its addresses, by the dial rules; this
    /// gateway's own relay over loopback), authenticates it end to end, starts a session.
    async fn dial_via(
        &self,
        peer: PeerId,
        relay: &RelayEntry,
        version: Version,
    ) -> Result<(), DialError> {
        let addrs = if relay.key == self.own {
            // We are the peer's relay: ask our own relay, on our own port.
            match self.dial_rules.listeners.first() {
                Some(own) if self.relay.is_some() => {
                    vec![SocketAddr::new(IpAddr::from([127, 0, 0, 1]), own.port())]
                }
                _ => Vec::new(),
            }
        } else {
            self.dial_rules.plan(&relay.addrs).dial
        };
        let mut last_error = String::from("no relay address this gateway dials");
        for addr in addrs {
            // A gateway that publishes blinded records holds its reservations over sealed
            // control (docs/protocol.md, "Relay control, version 2"); an old one's relays
            // speak plain records.
            let connecting = async {
                match version {
                    Version::V2(obfs) => client::connect_sealed(addr, relay.key, peer, obfs).await,
                    Version::V1 => client::connect(addr, peer).await,
                }
            };
            let connected =
                tokio::time::timeout(CONNECT_TIMEOUT + self.timers.handshake, connecting).await;
            let mut stream = match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    last_error = format!("{addr}: {e}");
                    continue;
                }
                Err(_) => {
                    last_error = format!("{addr}: timed out");
                    continue;
                }
            };
            let keys = tokio::time::timeout(
                self.timers.handshake,
                transport::initiate_version(&mut stream, &self.identity, peer, version),
            )
            .await;
            match keys {
                Ok(Ok(keys)) => {
                    if self.blocked.contains(&peer) {
                        return Err(DialError::Blocked);
                    }
                    self.start_session(stream, keys, self.own, Some(addr), Some(relay.key));
                    return Ok(());
                }
                Ok(Err(e)) => last_error = format!("{addr}: {e}"),
                Err(_) => last_error = format!("{addr}: handshake timed out"),
            }
        }
        Err(DialError::Unreachable {
            addrs: relay
                .addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            last_error,
            skipped: String::new(),
        })
    }

    /// The handshake a found record's gateway speaks: version 2 for a blinded record, version
    /// 1 for an old gateway's unblinded one (never a fallback from 2 to 1).
    fn version_for(&self, found: &Found) -> Version {
        if found.blinded {
            Version::V2(self.obfs)
        } else {
            Version::V1
        }
    }

    async fn connect(
        &self,
        peer: PeerId,
        addr: SocketAddr,
        version: Version,
    ) -> Result<(TcpStream, SessionKeys), PeerError> {
        let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| PeerError::Io(std::io::ErrorKind::TimedOut.into()))??;
        stream.set_nodelay(true)?;
        let keys = tokio::time::timeout(
            self.timers.handshake,
            transport::initiate_version(&mut stream, &self.identity, peer, version),
        )
        .await
        .map_err(|_| PeerError::HandshakeTimeout)??;
        Ok((stream, keys))
    }
}
