//! Dialling a peer found in the directory: look its record up, connect to its addresses in
//! turn, and run the handshake as initiator, checking that the responder proves the key
//! that was dialled.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::{CONNECT_TIMEOUT, DialError, PeerContext, PeerError, transport};
use crate::crypto::{HandshakeError, SessionKeys};
use crate::identity::PeerId;

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
            let mut last_error = String::from("no address");
            for &addr in &found.record.addrs {
                match self.connect(peer, addr).await {
                    Ok((stream, keys)) => {
                        // Blocked while the dial was under way: close before any session.
                        if self.blocked.contains(&peer) {
                            return Err(DialError::Blocked);
                        }
                        self.start_session(stream, keys, self.own, Some(addr));
                        return Ok(());
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
            // A cached address may be stale: ask the network once before giving up.
            if found.from_cache && !fresh_lookup_done {
                self.directory.forget(&peer);
                fresh_lookup_done = true;
                continue;
            }
            let addrs = found
                .record
                .addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(DialError::Unreachable { addrs, last_error });
        }
    }

    async fn connect(
        &self,
        peer: PeerId,
        addr: SocketAddr,
    ) -> Result<(TcpStream, SessionKeys), PeerError> {
        let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| PeerError::Io(std::io::ErrorKind::TimedOut.into()))??;
        stream.set_nodelay(true)?;
        let keys = tokio::time::timeout(
            self.timers.handshake,
            transport::initiate(&mut stream, &self.identity, peer),
        )
        .await
        .map_err(|_| PeerError::HandshakeTimeout)??;
        Ok((stream, keys))
    }
}
