//! Accepting peer connections: bounded handshakes in progress (in total and per source),
//! the responder side of the handshake, and refusing blocked peers once their key is proved.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{MAX_PENDING_HANDSHAKES, MAX_PENDING_PER_IP, PeerContext, transport};
use crate::identity::PeerId;

impl PeerContext {
    /// Accepts peer connections until shutdown, bounding handshakes in progress.
    pub async fn accept_loop(self, listener: TcpListener) {
        let global = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
        let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
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
            if self.sessions.load(Ordering::Relaxed) >= self.max_sessions {
                tracing::debug!(%from, max = self.max_sessions, "session cap reached; dropping connection");
                continue;
            }
            let Ok(permit) = global.clone().try_acquire_owned() else {
                tracing::debug!(%from, "too many handshakes in progress; dropping connection");
                continue;
            };
            let Some(ip_slot) = IpSlot::take(&per_ip, from.ip()) else {
                tracing::debug!(%from, "too many handshakes from this address; dropping connection");
                continue;
            };
            let ctx = self.clone();
            self.tracker.spawn(async move {
                let mut stream = stream;
                let _ = stream.set_nodelay(true);
                let result = tokio::select! {
                    _ = ctx.shutdown.cancelled() => return,
                    r = tokio::time::timeout(ctx.timers.handshake, transport::respond(&mut stream, &ctx.identity)) => r,
                };
                drop(ip_slot);
                drop(permit);
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
}

/// A per-IP count of handshakes in progress, released on drop.
struct IpSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl IpSlot {
    fn take(map: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr) -> Option<Self> {
        let mut guard = map.lock().unwrap_or_else(|p| p.into_inner());
        let count = guard.entry(ip).or_insert(0);
        if *count >= MAX_PENDING_PER_IP {
            return None;
        }
        *count += 1;
        Some(Self {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = guard.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                guard.remove(&self.ip);
            }
        }
    }
}
