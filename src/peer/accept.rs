//! Accepting peer connections: a slot in the table of handshakes in progress (per address,
//! per prefix and in total, evicting the oldest connection that has not sent msg1 rather
//! than refusing a newcomer), a short wait for the first message, then either the
//! responder's work (version 2, or version 1 while it is accepted; only within the
//! handshake budget; blocked peers refused once their key is proved), or, for a first
//! record that is a relay control message (`DSRL`), the relay's side
//! ([`crate::relay::server`]) or a reachability probe, or silence: a version 2 first message
//! without our MAC (a prober), a replayed one, or version 1 when it is refused get no byte
//! back and are closed after a random delay. A circuit a relay
//! offers us ([`PeerContext::admit_relayed`]) goes through the same slot and budget,
//! charged to the dialler's address as the relay saw it. The numbers and rules are in
//! [`crate::policy::inbound`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::transport::{FirstMessage, Purpose};
use super::{PeerContext, PeerError, transport};
use crate::crypto::SessionKeys;
use crate::crypto::obfs::ProberKey;
use crate::identity::PeerId;
use crate::policy::inbound::{HandshakeBudget, InboundLimits, PendingId, PendingTable};
use crate::policy::replay::ReplayCache;
use crate::relay::io::Control;
use crate::relay::wire::RelayMessage;
use tokio::io::AsyncReadExt;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The peer port's shared admission state: handshakes in progress and the msg1 budget,
/// for direct connections and relayed circuits alike.
pub struct InboundGate {
    pending: Mutex<PendingTable<CancellationToken>>,
    budget: Mutex<HandshakeBudget>,
    /// Version 2 first messages already answered ([`ReplayCache`]).
    replays: Mutex<ReplayCache>,
}

impl InboundGate {
    pub fn new(limits: &InboundLimits) -> Arc<Self> {
        Arc::new(Self {
            pending: Mutex::new(PendingTable::new(limits)),
            budget: Mutex::new(HandshakeBudget::new(limits, Instant::now())),
            replays: Mutex::new(ReplayCache::default()),
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
            let arrived = tokio::time::Instant::now();
            let _ = stream.set_nodelay(true);
            let first = tokio::select! {
                _ = evict.cancelled() => return,
                r = tokio::time::timeout(ctx.inbound.msg1_wait, ctx.first_message(&mut stream, arrival)) => r,
            };
            let first = match first {
                Ok(Ok(first)) => Ok(first),
                Ok(Err(e)) => return tracing::debug!(%from, error = %e, "inbound connection failed"),
                Err(_) => Err("no complete first message in time"),
            };
            let (msg1, version) = match first {
                Ok(FirstMessage::Relay(first)) => {
                    drop(slot);
                    if arrival == Arrival::Direct {
                        let close_at = arrived + silence_delay(ctx.inbound.msg1_wait);
                        ctx.relay_connection(stream, from, &first, close_at).await;
                    }
                    return;
                }
                Ok(FirstMessage::V2 { purpose: Purpose::DialBack(token), .. }) => {
                    // A relay dialling us back: that it arrived is the answer. Nothing is
                    // written back (a probe looks like any first message, and so does our
                    // silence).
                    drop(slot);
                    let ours = ctx.probes.arrived(token, from);
                    return tracing::debug!(%from, ours, "dial-back probe");
                }
                Ok(FirstMessage::V1(msg1)) => (msg1, None),
                Ok(FirstMessage::V2 { msg1, hour, purpose, key }) => (msg1, Some((hour, purpose, key))),
                unanswered => {
                    // A prober, a replay, or a version 1 dialler we no longer answer: no
                    // byte back, and the close comes after a random delay, not at once.
                    let why = match unanswered {
                        Ok(FirstMessage::RefusedV1) => "version 1, which this gateway no longer answers",
                        Ok(FirstMessage::Replayed) => "a replayed first message",
                        Ok(_) => "its first bytes do not prove knowledge of our key",
                        Err(why) => why,
                    };
                    tracing::debug!(%from, why, "inbound connection gets no answer");
                    // Timed from the connection's start, whatever the reason.
                    let close_at = arrived + silence_delay(ctx.inbound.msg1_wait);
                    tokio::select! {
                        _ = evict.cancelled() => {}
                        _ = silence(&mut stream, close_at) => {}
                    }
                    return;
                }
            };
            lock(&ctx.gate.pending).got_msg1(slot.id);
            let purpose = version.as_ref().map_or(Purpose::Session, |(_, p, _)| *p);
            let result = tokio::select! {
                _ = evict.cancelled() => return,
                r = tokio::time::timeout(ctx.timers.handshake, ctx.respond(&mut stream, msg1, version, from)) => r,
            };
            drop(slot);
            match result {
                Ok(Ok(keys)) if purpose == Purpose::Session => {
                    ctx.after_handshake(stream, keys, from, arrival)
                }
                Ok(Ok(keys)) => {
                    let open = purpose == Purpose::OpenRelay;
                    ctx.sealed_relay_connection(stream, keys, from, open).await
                }
                Ok(Err(e)) => tracing::debug!(%from, error = %e, "inbound handshake failed"),
                Err(_) => tracing::debug!(%from, "inbound handshake timed out"),
            }
        });
    }

    /// Reads a connection's first message ([`transport::read_first_message`]) with the
    /// replay cache and `[transport] accept_v1`. On our peer port a version 2 first
    /// message may be for a session, for relay control when we relay, or a dial-back
    /// probe we await; on a relayed circuit only for a session.
    async fn first_message(
        &self,
        stream: &mut TcpStream,
        arrival: Arrival,
    ) -> Result<FirstMessage, PeerError> {
        let us = self.identity.verifying_key();
        let mut keys = vec![(Purpose::Session, ProberKey::of(&us))];
        if arrival == Arrival::Direct {
            if let Some(relay) = &self.relay {
                keys.extend(relay.purpose_keys(&us));
            }
            let probes = self.probes.keys(&us);
            keys.extend(probes.into_iter().map(|(t, k)| (Purpose::DialBack(t), k)));
        }
        transport::read_first_message(stream, &keys, self.obfs.accept_v1, |mac| {
            lock(&self.gate.replays).fresh(*mac, Instant::now())
        })
        .await
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
        v2: Option<(u64, Purpose, ProberKey)>,
        from: SocketAddr,
    ) -> Result<SessionKeys, PeerError> {
        if !lock(&self.gate.budget).answer(from.ip(), Instant::now()) {
            return Err(PeerError::OverBudget);
        }
        match v2 {
            Some((hour, _, key)) => {
                let pad_max = self.obfs.pad_max;
                transport::respond_v2(stream, &self.identity, key, &msg1, hour, pad_max).await
            }
            None => transport::respond_to_msg1(stream, &self.identity, msg1).await,
        }
    }

    /// A sealed relay control connection (its version 2 handshake done, under
    /// [`ProberKey::relay`] or, when `open`, [`ProberKey::open`]): its first record within
    /// the first message's wait, then the relay's work.
    async fn sealed_relay_connection(
        &self,
        stream: TcpStream,
        keys: SessionKeys,
        from: SocketAddr,
        open: bool,
    ) {
        let Some(server) = self.relay.clone() else {
            return;
        };
        let mut control = match Control::sealed(stream, keys, self.obfs.frame_padding) {
            Ok(control) => control,
            Err(e) => return tracing::debug!(%from, error = %e, "sealed relay connection"),
        };
        let first = match tokio::time::timeout(self.inbound.msg1_wait, control.read()).await {
            Ok(Ok(first)) => first,
            Ok(Err(e)) => return tracing::debug!(%from, error = %e, "sealed relay connection"),
            Err(_) => return tracing::debug!(%from, "sealed relay connection: no request in time"),
        };
        tokio::select! {
            _ = self.shutdown.cancelled() => {}
            _ = server.handle(control, from, first, open) => {}
        }
    }

    /// A connection whose first record is a plain relay control message: the relay's work
    /// when this gateway serves and answers plain control (`[relay] plain_control`), else
    /// silence (a status would tell a scanner that a DiSIMS gateway is here). A plain
    /// Probe is never ours: our dial-backs are asked for on sealed reservations.
    async fn relay_connection(
        &self,
        mut stream: TcpStream,
        from: SocketAddr,
        first: &[u8],
        close_at: tokio::time::Instant,
    ) {
        let message = match RelayMessage::decode(first) {
            Ok(message) => message,
            Err(e) => {
                tracing::debug!(%from, error = %e, "bad relay message: no answer");
                return self.silence(&mut stream, close_at).await;
            }
        };
        match &self.relay {
            Some(server)
                if server.plain_control() && !matches!(message, RelayMessage::Probe { .. }) =>
            {
                let server = server.clone();
                tokio::select! {
                    _ = self.shutdown.cancelled() => {}
                    _ = server.handle(Control::plain(stream), from, message, false) => {}
                }
            }
            _ => {
                tracing::debug!(%from, "plain relay record not answered here: no answer");
                self.silence(&mut stream, close_at).await;
            }
        }
    }

    /// [`silence`] until `close_at`, or until shutdown.
    async fn silence(&self, stream: &mut TcpStream, close_at: tokio::time::Instant) {
        tokio::select! {
            _ = self.shutdown.cancelled() => {}
            _ = silence(stream, close_at) => {}
        }
    }
}

/// How long after its start a connection that gets no answer is closed: random, between
/// the first message's wait and four times it (also when the first message did not come
/// in time), so that the close tells a prober nothing.
fn silence_delay(msg1_wait: Duration) -> Duration {
    let r = crate::identity::random_bytes::<8>().map_or(0, u64::from_be_bytes);
    let fraction = (r >> 11) as f64 / (1u64 << 53) as f64;
    msg1_wait + msg1_wait.mul_f64(3.0 * fraction)
}

/// Reads and drops whatever arrives until `close_at` (or until the other side closes),
/// answering nothing; at most 64 KiB are read, then the socket is just left to wait.
async fn silence(stream: &mut TcpStream, close_at: tokio::time::Instant) {
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < 64 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
        std::future::pending::<()>().await
    };
    let _ = tokio::time::timeout_at(close_at, drain).await;
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
