//! The gateway's side of a relay (IO): holding a reservation, accepting the circuits it
//! offers, and dialling a target through a relay. What runs over a circuit is the ordinary
//! handshake (`crate::peer::transport`); nothing here sees a session key.

use std::net::SocketAddr;

use ed25519_dalek::SigningKey;
use tokio::net::TcpStream;

use super::io::{RelayIoError, expect_ok, read_message, write_message};
use super::proof::prove;
use super::wire::{CircuitId, Grant, RelayMessage};
use crate::identity::PeerId;

/// A reservation held at a relay: the open control connection.
pub struct Reservation {
    stream: TcpStream,
    relay: PeerId,
    /// What the relay granted last.
    pub grant: Grant,
}

/// Proves `identity` to the relay `relay` (its key, as we know it) over `stream`, and
/// returns the reservation; refuses to sign for a relay that shows another key. With no
/// key (a relay found in the DHT, known by its address only) the key it shows is taken.
pub async fn reserve(
    mut stream: TcpStream,
    identity: &SigningKey,
    relay: Option<PeerId>,
) -> Result<Reservation, RelayIoError> {
    let (grant, relay) = prove_and_reserve(&mut stream, identity, relay).await?;
    Ok(Reservation {
        stream,
        relay,
        grant,
    })
}

async fn prove_and_reserve(
    stream: &mut TcpStream,
    identity: &SigningKey,
    relay: Option<PeerId>,
) -> Result<(Grant, PeerId), RelayIoError> {
    let target = PeerId::of(identity);
    write_message(stream, &RelayMessage::Reserve { target }).await?;
    let (shown, nonce) = match read_control(stream).await? {
        RelayMessage::Challenge { relay, nonce } => (relay, nonce),
        RelayMessage::Status {
            code,
            retry_after_s,
        } => return Err(RelayIoError::Refused(code, retry_after_s)),
        _ => return Err(RelayIoError::Unexpected),
    };
    let relay = relay.unwrap_or(shown);
    let signature = prove(identity, &relay, &shown, &nonce)?;
    write_message(stream, &RelayMessage::Proof { signature }).await?;
    match read_control(stream).await? {
        RelayMessage::Reserved(grant) => Ok((grant, relay)),
        RelayMessage::Status {
            code,
            retry_after_s,
        } => Err(RelayIoError::Refused(code, retry_after_s)),
        _ => Err(RelayIoError::Unexpected),
    }
}

/// The next control message other than Ping and Pong (a Ping is answered): a Pong to
/// our keepalive may arrive before the answer to a renewal.
async fn read_control(stream: &mut TcpStream) -> Result<RelayMessage, RelayIoError> {
    loop {
        match read_message(stream).await? {
            RelayMessage::Ping(n) => write_message(stream, &RelayMessage::Pong(n)).await?,
            RelayMessage::Pong(_) => {}
            other => return Ok(other),
        }
    }
}

impl Reservation {
    /// Waits for the relay to offer a circuit, answering its Pings. The caller bounds it
    /// in time and sends [`Reservation::ping`] every 60 s.
    pub async fn next_incoming(&mut self) -> Result<(CircuitId, SocketAddr), RelayIoError> {
        match read_control(&mut self.stream).await? {
            RelayMessage::Incoming { circuit, from } => Ok((circuit, from)),
            _ => Err(RelayIoError::Unexpected),
        }
    }

    /// Keeps the reservation alive.
    pub async fn ping(&mut self, nonce: u64) -> Result<(), RelayIoError> {
        write_message(&mut self.stream, &RelayMessage::Ping(nonce)).await
    }

    /// Renews the reservation on the same connection (a new challenge, a new proof).
    pub async fn renew(&mut self, identity: &SigningKey) -> Result<(), RelayIoError> {
        self.grant = prove_and_reserve(&mut self.stream, identity, Some(self.relay))
            .await?
            .0;
        Ok(())
    }
}

/// The target's side of a circuit: a new connection to the relay at `relay_addr` that
/// accepts `circuit`. The returned stream is joined to the dialler's; the caller runs the
/// handshake as responder on it.
pub async fn accept(relay_addr: SocketAddr, circuit: CircuitId) -> Result<TcpStream, RelayIoError> {
    let mut stream = TcpStream::connect(relay_addr).await?;
    let _ = stream.set_nodelay(true);
    write_message(&mut stream, &RelayMessage::Accept { circuit }).await?;
    expect_ok(&mut stream).await?;
    Ok(stream)
}

/// The dialler's side: asks the relay at `relay_addr` for `target`. The returned stream is
/// joined to the target's; the caller runs the handshake as initiator expecting `target`.
pub async fn connect(relay_addr: SocketAddr, target: PeerId) -> Result<TcpStream, RelayIoError> {
    let mut stream = TcpStream::connect(relay_addr).await?;
    let _ = stream.set_nodelay(true);
    write_message(&mut stream, &RelayMessage::Connect { target }).await?;
    expect_ok(&mut stream).await?;
    Ok(stream)
}

impl Reservation {
    /// The control connection, the relay's key and the grant, for a caller that runs the
    /// connection itself (`crate::reach::hold`: a reader task and timers, cancel-safe).
    pub fn into_parts(self) -> (TcpStream, PeerId, Grant) {
        (self.stream, self.relay, self.grant)
    }
}

impl Reservation {
    /// The relay's key (as it proved it in the challenge).
    pub fn relay(&self) -> PeerId {
        self.relay
    }
}
