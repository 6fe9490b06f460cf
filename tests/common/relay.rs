//! A relay on 127.0.0.1 for the relay tests: keys by seed, a [`RelayServer`] serving on a
//! port of its own, a reservation made over a fresh connection.

use std::net::SocketAddr;
use std::sync::Arc;

use disims::identity::PeerId;
use disims::policy::relay::{RelayLimits, Serve};
use disims::relay::client;
use disims::relay::io::RelayIoError;
use disims::relay::server::RelayServer;
use ed25519_dalek::SigningKey;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The seed of the relay's own key in these tests.
pub const RELAY_SEED: u8 = 9;

/// The key of the 32-byte seed `seed, seed, ...`.
pub fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The relay's key.
pub fn relay_key() -> PeerId {
    PeerId::of(&sk(RELAY_SEED))
}

/// A relay serving `serve`, whose contacts are `contacts`, with the default limits;
/// cancel the token to stop it.
pub async fn start_relay(
    serve: Serve,
    contacts: Vec<PeerId>,
) -> (Arc<RelayServer>, SocketAddr, CancellationToken) {
    start_relay_with(serve, contacts, RelayLimits::default()).await
}

/// [`start_relay`] with these limits.
pub async fn start_relay_with(
    serve: Serve,
    contacts: Vec<PeerId>,
    limits: RelayLimits,
) -> (Arc<RelayServer>, SocketAddr, CancellationToken) {
    let relay = RelayServer::new(
        relay_key(),
        limits,
        serve,
        Box::new(move |k| contacts.contains(k)),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(relay.clone().serve(listener, sk(RELAY_SEED), stop.clone()));
    (relay, addr, stop)
}

/// A reservation for `who` at the relay at `addr`, expected to show the key `relay`.
pub async fn reserve(
    addr: SocketAddr,
    who: &SigningKey,
    relay: PeerId,
) -> Result<client::Reservation, RelayIoError> {
    client::reserve(TcpStream::connect(addr).await.unwrap(), who, Some(relay)).await
}

/// A reservation over sealed control (what a gateway makes) for `who` at the relay at
/// `addr`: known by its key, or an open relay when `relay` is `None`.
pub async fn reserve_sealed(
    addr: SocketAddr,
    who: &SigningKey,
    relay: Option<PeerId>,
) -> Result<client::Reservation, RelayIoError> {
    let stream = TcpStream::connect(addr).await.unwrap();
    client::reserve_sealed(stream, who, relay, Default::default()).await
}
