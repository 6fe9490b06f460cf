//! Direct upgrade of a relayed session (DCUtR-style TCP simultaneous open, issue 13).
//!
//! Over a relayed session, the session's initiator (who dialled through the relay) sends
//! `Upgrade` with its candidate direct addresses (the IPv4 address the DHT sees, with our
//! peer port) and notes the time; the other side answers `Upgrade` with its own. The
//! initiator now knows the round trip through the relay: it sends `UpgradeSync` and
//! connects half a round trip later, when Sync has arrived; the other side connects as
//! soon as Sync arrives. Both connect FROM their peer port (`SO_REUSEPORT`, shared with
//! the listener), so that each one's SYN opens the pinhole in its own router that the
//! other's SYN goes through: an endpoint-independent NAT keeps the port, and the two
//! connects meet as one connection (simultaneous open). On it the roles swap: the side
//! that answered runs the handshake as initiator (expecting the peer's key), the relayed
//! session's initiator as responder (checking the key proved). The side that answered is
//! behind a NAT for sure (it was reached through its relay); the other may be reachable,
//! and then the answerer's SYN may land on its listener instead, whose accept path expects
//! msg1: with these roles that connection comes up as an ordinary inbound session too.
//! Either way the new direct session wins the hub's tie-break over the relayed one, which
//! is retired loss-free (`router::session_up`).
//!
//! Budgets: only over relayed sessions; at most one attempt in flight per peer; after a
//! failure the initiator waits [`BACKOFF_MIN`], doubling up to [`BACKOFF_MAX`]; the other
//! side answers a peer at most once per [`ANSWER_MIN`]; at most [`MAX_IN_FLIGHT`]
//! attempts at once; candidates go through the dial rules (never loopback, our own
//! addresses...), at most [`MAX_UPGRADE_ADDRS`], each connected to at most
//! [`MAX_CONNECTS`] times. Only a peer that has proved its key in a session can make us
//! connect anywhere, and the answering side connects only to the IP address the relay saw
//! the peer dial from: nobody can aim our connects at a third party.
//!
//! The timing and the backoff book are pure ([`Book`], [`backoff`], [`dial_delay`]); the
//! IO is the task [`PeerContext::spawn_upgrade`] starts for each relayed session.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

pub use super::upgrade_book::{
    ANSWER_MIN, BACKOFF_MAX, BACKOFF_MIN, Book, MAX_BOOK, MAX_IN_FLIGHT, Role, backoff,
};
use super::wire::MAX_UPGRADE_ADDRS;
use super::{PeerContext, SessionCommand, transport};
use crate::crypto::SessionKeys;
use crate::identity::PeerId;

/// How long the initiator waits for the other side's `Upgrade`, and the other side for
/// `UpgradeSync`.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// Connects (retried) must meet within this time.
pub const PUNCH_WINDOW: Duration = Duration::from_secs(5);
/// Pause before connecting again after a refused connect, within the window.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Connects to one target per attempt at most (a refused one is tried again: the other
/// side's SYN may not have opened its router yet).
pub const MAX_CONNECTS: usize = 3;
/// Without an address of ours to offer (the DHT has not told us ours yet), look again
/// after this long (not counted as a failure).
const NO_CANDIDATE_RETRY: Duration = Duration::from_secs(15);
/// Signals of the peer's waiting for the upgrade task at most (more are dropped).
const SIGNALS_QUEUE: usize = 4;
/// What the session and its upgrade task tell each other (the session turns them into
/// [`super::wire::WireMessage::Upgrade`] and `UpgradeSync` and back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    Addrs(Vec<SocketAddr>),
    Sync,
}

/// Why an attempt failed (logged; the relay stays).
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("no direct address of ours to offer (the DHT has not told us our public address)")]
    NoCandidates,
    #[error("the peer offered no address this gateway dials (from {0:?})")]
    NoPeerCandidates(Vec<SocketAddr>),
    #[error("the peer did not answer in time")]
    NoReply,
    #[error("the relayed session ended")]
    SessionEnded,
    #[error("no direct connection: {0}")]
    Unreachable(String),
    #[error("the direct connection proved key {0}, not the peer's")]
    WrongPeer(String),
    #[error("the peer is blocked")]
    Blocked,
}

/// How long the initiator waits after sending Sync before it connects: half the round
/// trip it measured, when Sync reaches the other side (at most [`REPLY_TIMEOUT`]).
pub fn dial_delay(rtt: Duration) -> Duration {
    rtt.min(REPLY_TIMEOUT) / 2
}

/// A listener on `addr` that connects from the same port may share (`SO_REUSEADDR`,
/// `SO_REUSEPORT`): the daemon's peer listener. A port another listener holds is refused
/// (`AddrInUse`) as a plain bind would, so that two gateways never share one port.
pub fn reuse_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if addr.port() != 0 {
        // Fails if anything listens there, `SO_REUSEPORT` or not.
        drop(std::net::TcpListener::bind(addr)?);
    }
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Connects to `remote` from `local` (our peer port, shared with the listener).
pub async fn connect_from(local: SocketAddr, remote: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(local)?;
    socket.connect(remote).await
}

/// The candidates at the IP address the relay saw the peer dial from (all of them when
/// there is none: we dialled, through a relay of the peer's record), at most
/// [`MAX_UPGRADE_ADDRS`].
pub fn allowed_targets(theirs: &[SocketAddr], observed: Option<SocketAddr>) -> Vec<SocketAddr> {
    theirs
        .iter()
        .filter(|a| observed.is_none_or(|o| o.ip().to_canonical() == a.ip().to_canonical()))
        .take(MAX_UPGRADE_ADDRS)
        .copied()
        .collect()
}

/// The address to connect from towards `remote`: our peer listener's port, its IP when
/// it is a specific one.
fn local_for(listener: SocketAddr, remote: SocketAddr) -> SocketAddr {
    let ip = match (listener.ip().is_unspecified(), remote) {
        (false, _) => listener.ip(),
        (true, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (true, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, listener.port())
}

/// The upgrade task's ends of its session: the session's commands (weak: the session
/// still ends when the hub drops it) and the signals it passes on.
struct Link {
    peer: PeerId,
    /// Where the relay saw the peer dial from (an inbound relayed session): the only IP
    /// address the answering side connects to.
    observed: Option<SocketAddr>,
    commands: mpsc::WeakUnboundedSender<SessionCommand>,
    signals: mpsc::Receiver<Signal>,
}

impl Link {
    fn send(&self, signal: Signal) -> Result<(), UpgradeError> {
        let commands = self.commands.upgrade().ok_or(UpgradeError::SessionEnded)?;
        commands
            .send(SessionCommand::Upgrade(signal))
            .map_err(|_| UpgradeError::SessionEnded)
    }

    /// The next signal within `limit`.
    async fn next(&mut self, limit: Duration) -> Result<Signal, UpgradeError> {
        match tokio::time::timeout(limit, self.signals.recv()).await {
            Ok(Some(signal)) => Ok(signal),
            Ok(None) => Err(UpgradeError::SessionEnded),
            Err(_) => Err(UpgradeError::NoReply),
        }
    }

    /// Waits `d`, dropping signals; false when the session ended meanwhile.
    async fn idle(&mut self, d: Duration) -> bool {
        let until = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                signal = self.signals.recv() => if signal.is_none() { return false },
            }
        }
    }
}

impl PeerContext {
    /// Starts the upgrade task of a relayed session with `peer`, when we have a peer port
    /// to connect from; returns the sender the session passes the peer's signals to.
    pub(super) fn spawn_upgrade(
        &self,
        peer: PeerId,
        role: Role,
        observed: Option<SocketAddr>,
        commands: &mpsc::UnboundedSender<SessionCommand>,
    ) -> Option<mpsc::Sender<Signal>> {
        let listener = *self.dial_rules.listeners.first()?;
        if listener.port() == 0 {
            return None;
        }
        let (tx, signals) = mpsc::channel(SIGNALS_QUEUE);
        let link = Link {
            peer,
            observed,
            commands: commands.downgrade(),
            signals,
        };
        let ctx = self.clone();
        self.tracker.spawn(async move {
            let shutdown = ctx.shutdown.clone();
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = ctx.upgrade_task(link, role, listener) => {}
            }
        });
        Some(tx)
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.upgrades.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn upgrade_task(&self, mut link: Link, role: Role, listener: SocketAddr) {
        let peer = link.peer;
        loop {
            let result = match role {
                Role::Initiator => {
                    let wait = self.book().wait(&peer, Instant::now());
                    if !link.idle(wait).await {
                        return;
                    }
                    if !self.book().start(peer, Instant::now()) {
                        // The other role's attempt with this peer is in flight.
                        if !link.idle(ANSWER_MIN).await {
                            return;
                        }
                        continue;
                    }
                    self.initiate_upgrade(&mut link, listener).await
                }
                Role::Responder => {
                    let theirs = match link.signals.recv().await {
                        None => return,
                        Some(Signal::Sync) => continue,
                        Some(Signal::Addrs(theirs)) => theirs,
                    };
                    if !self.book().answer(peer, Instant::now()) {
                        tracing::debug!(peer = %peer.short(), "upgrade asked too often; not answered");
                        continue;
                    }
                    self.answer_upgrade(&mut link, listener, theirs).await
                }
            };
            let now = Instant::now();
            match result {
                Ok(addr) => {
                    tracing::info!(peer = %peer.short(), %addr, ?role, "relayed session upgraded to a direct connection");
                    self.book().finish(peer, role, true, now);
                    return;
                }
                Err(UpgradeError::SessionEnded) => {
                    // Says nothing about the path; frees our slot (not another session's).
                    self.book().cancel(peer);
                    return;
                }
                Err(UpgradeError::NoCandidates) => {
                    self.book().cancel(peer);
                    if !link.idle(NO_CANDIDATE_RETRY).await {
                        return;
                    }
                }
                Err(e) => {
                    let mut book = self.book();
                    book.finish(peer, role, false, now);
                    match role {
                        Role::Initiator => {
                            tracing::info!(peer = %peer.short(), ?role, error = %e, failures = book.failures(&peer), retry_in = ?book.wait(&peer, now), "direct upgrade failed; staying relayed")
                        }
                        Role::Responder => {
                            tracing::info!(peer = %peer.short(), ?role, error = %e, "direct upgrade failed; staying relayed")
                        }
                    }
                }
            }
        }
    }

    /// The initiator's attempt: Upgrade, the peer's Upgrade (the round trip), Sync, half
    /// the round trip, connect.
    async fn initiate_upgrade(
        &self,
        link: &mut Link,
        listener: SocketAddr,
    ) -> Result<SocketAddr, UpgradeError> {
        let own = self.candidates(listener).await;
        if own.is_empty() {
            return Err(UpgradeError::NoCandidates);
        }
        let sent = tokio::time::Instant::now();
        link.send(Signal::Addrs(own))?;
        let deadline = sent + REPLY_TIMEOUT;
        let theirs = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Signal::Addrs(theirs) = link.next(left).await? {
                break theirs;
            }
        };
        let rtt = sent.elapsed();
        let targets = self.targets(&theirs, None)?;
        link.send(Signal::Sync)?;
        tracing::debug!(peer = %link.peer.short(), ?rtt, ?targets, "direct upgrade: connecting");
        tokio::time::sleep(dial_delay(rtt)).await;
        self.punch(link.peer, Role::Initiator, listener, &targets)
            .await
    }

    /// The other side's attempt: our Upgrade, Sync, connect.
    async fn answer_upgrade(
        &self,
        link: &mut Link,
        listener: SocketAddr,
        theirs: Vec<SocketAddr>,
    ) -> Result<SocketAddr, UpgradeError> {
        let own = self.candidates(listener).await;
        // Sent even when empty: the initiator then knows at once.
        link.send(Signal::Addrs(own.clone()))?;
        if own.is_empty() {
            return Err(UpgradeError::NoCandidates);
        }
        let targets = self.targets(&theirs, link.observed)?;
        // One deadline, however many other signals the peer sends meanwhile.
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if link.next(left).await? == Signal::Sync {
                break;
            }
        }
        tracing::debug!(peer = %link.peer.short(), ?targets, "direct upgrade: connecting");
        self.punch(link.peer, Role::Responder, listener, &targets)
            .await
    }

    /// Where we can be reached directly: the IPv4 address the DHT sees, at our peer port.
    async fn candidates(&self, listener: SocketAddr) -> Vec<SocketAddr> {
        let info = self.directory.info().await;
        info.public_addr
            .map(|a| SocketAddr::new(IpAddr::V4(*a.ip()), listener.port()))
            .into_iter()
            .collect()
    }

    /// The peer's candidates we may connect to: by the dial rules, and only at the IP
    /// address the relay saw when there is one.
    fn targets(
        &self,
        theirs: &[SocketAddr],
        observed: Option<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, UpgradeError> {
        let allowed = allowed_targets(theirs, observed);
        let mut plan = self.dial_rules.plan(&allowed).dial;
        plan.truncate(MAX_UPGRADE_ADDRS);
        if plan.is_empty() {
            return Err(UpgradeError::NoPeerCandidates(theirs.to_vec()));
        }
        Ok(plan)
    }

    /// Connects to every target at once from our peer port; the first connection on
    /// which the handshake proves `peer` becomes a direct session.
    async fn punch(
        &self,
        peer: PeerId,
        role: Role,
        listener: SocketAddr,
        targets: &[SocketAddr],
    ) -> Result<SocketAddr, UpgradeError> {
        let deadline = tokio::time::Instant::now() + PUNCH_WINDOW;
        let mut attempts: FuturesUnordered<_> = targets
            .iter()
            .map(|&addr| async move {
                let local = local_for(listener, addr);
                (
                    addr,
                    self.punch_one(peer, role, local, addr, deadline).await,
                )
            })
            .collect();
        let mut last_error = String::from("no address");
        while let Some((addr, result)) = attempts.next().await {
            match result {
                Ok((stream, keys)) => {
                    drop(attempts);
                    if self.blocked.contains(&peer) {
                        return Err(UpgradeError::Blocked);
                    }
                    let initiator = match role {
                        Role::Initiator => peer,
                        Role::Responder => self.own,
                    };
                    self.start_session(stream, keys, initiator, Some(addr), None);
                    return Ok(addr);
                }
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
        Err(UpgradeError::Unreachable(last_error))
    }

    /// Connects from `local` to `addr` until it succeeds or the window closes, then runs
    /// the handshake in our role.
    async fn punch_one(
        &self,
        peer: PeerId,
        role: Role,
        local: SocketAddr,
        addr: SocketAddr,
        deadline: tokio::time::Instant,
    ) -> Result<(TcpStream, SessionKeys), String> {
        let mut last_error = String::from("timed out");
        let mut connects = 0;
        let mut stream = loop {
            let now = tokio::time::Instant::now();
            if now >= deadline || connects == MAX_CONNECTS {
                return Err(last_error);
            }
            connects += 1;
            match tokio::time::timeout_at(deadline, connect_from(local, addr)).await {
                Ok(Ok(stream)) => break stream,
                Ok(Err(e)) => {
                    last_error = e.to_string();
                    tokio::time::sleep_until((now + RETRY_PAUSE).min(deadline)).await;
                }
                Err(_) => return Err(last_error),
            }
        };
        let _ = stream.set_nodelay(true);
        let handshake = async {
            match role {
                // Roles swap (see the module's documentation).
                // Version 2: a gateway that upgrades is one that speaks it.
                Role::Responder => {
                    transport::initiate_v2(&mut stream, &self.identity, peer, self.obfs.pad_max)
                        .await
                }
                Role::Initiator => transport::respond(&mut stream, &self.identity, self.obfs).await,
            }
        };
        let keys = match tokio::time::timeout(self.timers.handshake, handshake).await {
            Ok(Ok(keys)) => keys,
            Ok(Err(e)) => return Err(format!("handshake: {e}")),
            Err(_) => return Err("handshake timed out".into()),
        };
        // `initiate` checked the key already; `respond` learns it only now.
        if keys.peer.to_bytes() != *peer.as_bytes() {
            let found = PeerId::from_bytes(keys.peer.to_bytes())
                .map(|p| p.nick())
                .unwrap_or_else(|_| "?".into());
            return Err(UpgradeError::WrongPeer(found).to_string());
        }
        Ok((stream, keys))
    }
}

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod tests;
