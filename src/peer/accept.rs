//! Accepting peer connections: a slot in the table of handshakes in progress (per address,
//! per prefix and in total, evicting the oldest connection that has not sent msg1 rather
//! than refusing a newcomer), a short wait for the first record, then either the
//! responder's work (only within the handshake budget; blocked peers refused once their
//! key is proved) or, for a first record that is a relay control message (`DSRL`), the
//! relay's side ([`crate::relay::server`]) or a reachability probe. A circuit a relay
//! offers us ([`PeerContext::admit_relayed`]) goes through the same slot and budget,
//! charged to the dialler's address as the relay saw it. The numbers and rules are in
//! [`crate::policy::inbound`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{PeerContext, PeerError, transport};
use crate::crypto::{MAX_HANDSHAKE_RECORD, SessionKeys};
use crate::identity::PeerId;
use crate::policy::inbound::{HandshakeBudget, InboundLimits, PendingId, PendingTable};
use crate::relay::io::status;
use crate::relay::wire::{RELAY_MAGIC, RelayMessage, StatusCode};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The peer port's shared admission state: handshakes in progress and the msg1 budget,
/// for direct connections and relayed circuits alike.
pub struct InboundGate {
    pending: Mutex<PendingTable<CancellationToken>>,
    budget: Mutex<HandshakeBudget>,
}

impl InboundGate {
    pub fn new(limits: &InboundLimits) -> Arc<Self> {
        Arc::new(Self {
            pending: Mutex::new(PendingTable::new(limits)),
            budget: Mutex::new(HandshakeBudget::new(limits, Instant::now())),
        })
    }
}

/// How a connection reached us.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// On our peer port: its first record may be a relay control message.
    Direct,
    /// A circuit the relay with this key joined to a dialler: only a handshake may run
    /// on it.
    Relayed(PeerId),
}

impl PeerContext {
    /// Accepts peer connections until shutdown, bounding handshakes in progress.
    pub async fn accept_loop(self, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, from) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a peer connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            self.admit(stream, from, Arrival::Direct);
        }
    }

    /// Takes a circuit a relay joined to a dialler at `from` (as the relay saw it): the
    /// same admission as a direct connection from `from`.
    pub fn admit_relayed(&self, stream: TcpStream, from: SocketAddr, relay: PeerId) {
        self.admit(stream, from, Arrival::Relayed(relay));
    }

    fn admit(&self, stream: TcpStream, from: SocketAddr, arrival: Arrival) {
        // No session could be given even to a contact: spare the handshake.
        if !self.registry().room_for_someone(&self.session_limits()) {
            tracing::debug!(%from, max = self.max_sessions, "session cap reached; dropping connection");
            return;
        }
        // Cancelled when evicted (before the first record) or at shutdown.
        let evict = self.shutdown.child_token();
        let admitted = lock(&self.gate.pending).admit(from.ip(), evict.clone());
        let (id, evicted) = match admitted {
            Ok(admitted) => admitted,
            Err(why) => {
                tracing::debug!(%from, %why, "no handshake slot; dropping connection");
                return;
            }
        };
        if let Some(evicted) = evicted {
            tracing::debug!(%from, "handshake table full: evicting a connection that sent no msg1");
            evicted.cancel();
        }
        let slot = PendingSlot {
            gate: self.gate.clone(),
            id,
        };
        let ctx = self.clone();
        self.tracker.spawn(async move {
            let mut stream = stream;
            let _ = stream.set_nodelay(true);
            let first = tokio::select! {
                _ = evict.cancelled() => return,
                r = tokio::time::timeout(ctx.inbound.msg1_wait, first_record(&mut stream)) => r,
            };
            let first = match first {
                Ok(Ok(first)) => first,
                Ok(Err(e)) => return tracing::debug!(%from, error = %e, "inbound connection failed"),
                Err(_) => return tracing::debug!(%from, error = %PeerError::Msg1Timeout, "inbound connection failed"),
            };
            if first.starts_with(RELAY_MAGIC) {
                drop(slot);
                if arrival == Arrival::Direct {
                    ctx.relay_connection(stream, from, &first).await;
                }
                return;
            }
            lock(&ctx.gate.pending).got_msg1(slot.id);
            let result = tokio::select! {
                _ = evict.cancelled() => return,
                r = tokio::time::timeout(ctx.timers.handshake, ctx.respond(&mut stream, first, from)) => r,
            };
            drop(slot);
            match result {
                Ok(Ok(keys)) => ctx.after_handshake(stream, keys, from, arrival),
                Ok(Err(e)) => tracing::debug!(%from, error = %e, "inbound handshake failed"),
                Err(_) => tracing::debug!(%from, "inbound handshake timed out"),
            }
        });
    }

    /// A proved initiator: refused if blocked, else a session.
    fn after_handshake(
        &self,
        stream: TcpStream,
        keys: SessionKeys,
        from: SocketAddr,
        arrival: Arrival,
    ) {
        let Ok(initiator) = PeerId::from_bytes(keys.peer.to_bytes()) else {
            return;
        };
        // The handshake has just proved who dialled: a blocked peer's connection is
        // closed here, before any session exists.
        if self.blocked.contains(&initiator) {
            tracing::debug!(%from, peer = %initiator.short(), "refusing a blocked peer");
            return;
        }
        let via = match arrival {
            Arrival::Direct => None,
            Arrival::Relayed(relay) => Some(relay),
        };
        self.start_session(stream, keys, initiator, Some(from), via);
    }

    /// The responder side once msg1 is read: no X25519 or signature for a msg1 over the
    /// budget (the connection is closed unanswered).
    async fn respond(
        &self,
        stream: &mut TcpStream,
        msg1: Vec<u8>,
        from: SocketAddr,
    ) -> Result<SessionKeys, PeerError> {
        if !lock(&self.gate.budget).answer(from.ip(), Instant::now()) {
            return Err(PeerError::OverBudget);
        }
        transport::respond_to_msg1(stream, &self.identity, msg1).await
    }

    /// A connection whose first record is a relay control message: a dial-back probe we
    /// asked for, the relay's work when this gateway serves, else a refusal.
    async fn relay_connection(&self, mut stream: TcpStream, from: SocketAddr, first: &[u8]) {
        let message = match RelayMessage::decode(first) {
            Ok(message) => message,
            Err(e) => {
                tracing::debug!(%from, error = %e, "bad relay message");
                let _ = status(&mut stream, StatusCode::Unexpected).await;
                return;
            }
        };
        if let RelayMessage::Probe { token } = message {
            // A relay dialling us back: the answer is that the connection arrived.
            let ours = self.probes.arrived(token, from);
            tracing::debug!(%from, ours, "dial-back probe");
            return;
        }
        match &self.relay {
            Some(server) => {
                let server = server.clone();
                tokio::select! {
                    _ = self.shutdown.cancelled() => {}
                    _ = server.handle(stream, from, message) => {}
                }
            }
            None => {
                let _ = status(&mut stream, StatusCode::ReservationRefused).await;
            }
        }
    }
}

/// Reads the first record of a connection: a handshake's msg1 or a relay control record.
async fn first_record(stream: &mut TcpStream) -> Result<Vec<u8>, PeerError> {
    let mut buf = Vec::new();
    transport::read_record(stream, MAX_HANDSHAKE_RECORD, &mut buf).await?;
    Ok(buf)
}

/// A connection's slot in the pending table, freed on drop.
struct PendingSlot {
    gate: Arc<InboundGate>,
    id: PendingId,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        lock(&self.gate.pending).remove(self.id);
    }
}
