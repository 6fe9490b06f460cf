//! Accepting peer connections: a slot in the table of handshakes in progress (per address,
//! per prefix and in total, evicting the oldest connection that has not sent msg1 rather
//! than refusing a newcomer), a short wait for msg1, the responder's work only within the
//! handshake budget, and refusing blocked peers once their key is proved. The numbers and
//! rules are in [`crate::policy::inbound`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{PeerContext, PeerError, transport};
use crate::crypto::{MAX_HANDSHAKE_RECORD, SessionKeys};
use crate::identity::PeerId;
use crate::policy::inbound::{HandshakeBudget, PendingId, PendingTable};

type Pending = Arc<Mutex<PendingTable<CancellationToken>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PeerContext {
    /// Accepts peer connections until shutdown, bounding handshakes in progress.
    pub async fn accept_loop(self, listener: TcpListener) {
        let pending: Pending = Arc::new(Mutex::new(PendingTable::new(&self.inbound)));
        let budget = Arc::new(Mutex::new(HandshakeBudget::new(
            &self.inbound,
            Instant::now(),
        )));
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
            // No session could be given even to a contact: spare the handshake.
            if !self.registry().room_for_someone(&self.session_limits()) {
                tracing::debug!(%from, max = self.max_sessions, "session cap reached; dropping connection");
                continue;
            }
            // Cancelled when evicted (before msg1) or at shutdown.
            let evict = self.shutdown.child_token();
            let admitted = lock(&pending).admit(from.ip(), evict.clone());
            let (id, evicted) = match admitted {
                Ok(admitted) => admitted,
                Err(why) => {
                    tracing::debug!(%from, %why, "no handshake slot; dropping connection");
                    continue;
                }
            };
            if let Some(evicted) = evicted {
                tracing::debug!(%from, "handshake table full: evicting a connection that sent no msg1");
                evicted.cancel();
            }
            let slot = PendingSlot {
                table: pending.clone(),
                id,
            };
            let ctx = self.clone();
            let budget = budget.clone();
            self.tracker.spawn(async move {
                let mut stream = stream;
                let _ = stream.set_nodelay(true);
                let result = tokio::select! {
                    _ = evict.cancelled() => return,
                    r = tokio::time::timeout(ctx.timers.handshake, ctx.respond(&mut stream, &slot, &budget, from)) => r,
                };
                drop(slot);
                match result {
                    Ok(Ok(keys)) => {
                        let initiator = PeerId::from_bytes(keys.peer.to_bytes());
                        match initiator {
                            // The handshake has just proved who dialled: a blocked peer's
                            // connection is closed here, before any session exists.
                            Ok(initiator) if ctx.blocked.contains(&initiator) => {
                                tracing::debug!(%from, peer = %initiator.short(), "refusing a blocked peer");
                            }
                            Ok(initiator) => ctx.start_session(stream, keys, initiator, Some(from)),
                            Err(_) => {}
                        }
                    }
                    Ok(Err(e)) => tracing::debug!(%from, error = %e, "inbound handshake failed"),
                    Err(_) => tracing::debug!(%from, "inbound handshake timed out"),
                }
            });
        }
    }

    /// The responder side of the handshake, with a short wait for msg1 and no X25519 or
    /// signature for a msg1 over the budget (the connection is closed unanswered).
    async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        slot: &PendingSlot,
        budget: &Mutex<HandshakeBudget>,
        from: SocketAddr,
    ) -> Result<SessionKeys, PeerError> {
        let mut buf = Vec::new();
        tokio::time::timeout(
            self.inbound.msg1_wait,
            transport::read_record(stream, MAX_HANDSHAKE_RECORD, &mut buf),
        )
        .await
        .map_err(|_| PeerError::Msg1Timeout)??;
        lock(&slot.table).got_msg1(slot.id);
        if !lock(budget).answer(from.ip(), Instant::now()) {
            return Err(PeerError::OverBudget);
        }
        transport::respond_to_msg1(stream, &self.identity, buf).await
    }
}

/// A handshake's slot in the pending table, freed on drop.
struct PendingSlot {
    table: Pending,
    id: PendingId,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        lock(&self.table).remove(self.id);
    }
}
