//! The gateway's side of a relay (IO): holding a reservation, accepting the circuits it
//! offers, and dialling a target through a relay. What runs over a circuit is the ordinary
//! handshake (`crate::peer::transport`); nothing here sees a session key. The reservation
//! connection also carries dial-back requests and their answers ([`RelayEvent`];
//! [`super::probe`] says how to combine them with the probe's arrival).
//!
//! Each function comes sealed ([`reserve_sealed`], [`connect_sealed`], [`accept_sealed`]:
//! a version 2 handshake with the relay first, then sealed records, so that the connection
//! looks random like any other; what a gateway uses) and plain ([`reserve`], [`connect`],
//! [`accept`]: version 1 records, for relays of the transition and for tests).

use std::collections::VecDeque;
use std::net::SocketAddr;

use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::io::{Control, RelayIoError};
use super::proof::prove;
use super::sealed::{ControlOpener, ControlSealer, MAX_SEALED_RECORD};
use super::wire::{CircuitId, Grant, RelayMessage, StatusCode};
use crate::crypto::RECORD_HEADER_LEN;
use crate::crypto::obfs::ProberKey;
use crate::identity::PeerId;
use crate::peer::transport::{self, Obfs};

/// Events read during a renewal and kept for [`Reservation::next_event`]: the relay sends
/// none while it waits for a proof, so only those already on the way (a few) can cross it.
const MAX_QUEUED_EVENTS: usize = 16;

/// What the relay tells the holder of a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// A dialler asks for us: accept with [`accept`] on a new connection.
    Incoming {
        circuit: CircuitId,
        from: SocketAddr,
    },
    /// The answer to [`Reservation::request_dial_back`] with this nonce: `Ok` (the relay
    /// connected and wrote the probe), `DialBackFailed`, `ResourceLimit` (retry after
    /// `retry_after_s`) or `BadPort`.
    DialBackResult {
        nonce: [u8; 16],
        code: StatusCode,
        retry_after_s: u16,
    },
}

/// A reservation held at a relay: the open control connection.
///
/// Reads and writes go through buffers kept here, so [`Reservation::next_event`],
/// [`Reservation::ping`] and [`Reservation::request_dial_back`] are cancel-safe: a keeper
/// may race `next_event` against its timers in a `select!` without losing half a record.
/// [`Reservation::renew`] is not (it is one exchange; await it to the end).
pub struct Reservation {
    stream: TcpStream,
    sealer: ControlSealer,
    opener: ControlOpener,
    relay: PeerId,
    /// What the relay granted last.
    pub grant: Grant,
    /// The record being read, `have` bytes of it so far (exact-length reads: nothing past
    /// the record is read, so [`Reservation::into_parts`] loses nothing), and its body's
    /// length once its header is read (unmasked once: the mask is a keystream).
    inbox: Vec<u8>,
    have: usize,
    body_len: Option<usize>,
    /// Records to write; `outbox[sent..]` is not written yet.
    outbox: Vec<u8>,
    sent: usize,
    queued: VecDeque<RelayEvent>,
}

/// Proves `identity` to the relay `relay` (its key, as we know it) over `stream`, and
/// returns the reservation; refuses to sign for a relay that shows another key. With no
/// key (a relay found in the DHT, known by its address only) the key it shows is taken.
pub async fn reserve(
    stream: TcpStream,
    identity: &SigningKey,
    relay: Option<PeerId>,
) -> Result<Reservation, RelayIoError> {
    // Replaced by the key shown in the challenge when none was given.
    let shown = relay.unwrap_or(PeerId::of(identity));
    let mut reservation = Reservation::new(Control::plain(stream), shown);
    reservation
        .prove_and_reserve(identity, relay.is_none())
        .await?;
    Ok(reservation)
}

/// A version 2 handshake with the relay `relay` over `stream` (msg1 under
/// [`ProberKey::relay`]), or, with no key (a relay found in the DHT), with whichever relay
/// answers [`ProberKey::open`] (its proved key is taken); then a sealed Reserve and
/// Reserved. No challenge: the handshake proved both keys.
pub async fn reserve_sealed(
    stream: TcpStream,
    identity: &SigningKey,
    relay: Option<PeerId>,
    obfs: Obfs,
) -> Result<Reservation, RelayIoError> {
    let control = sealed_control(stream, identity, relay, obfs).await?;
    let shown = control.peer().expect("a sealed connection proved a key");
    let mut reservation = Reservation::new(control, shown);
    reservation.prove_and_reserve(identity, false).await?;
    Ok(reservation)
}

/// A sealed control connection over `stream`: the relay control handshake (version 2)
/// under `identity` towards `relay`, or towards an open relay when `None` (a handshake
/// error is reported as such), then records padded up to `obfs.frame_padding`.
async fn sealed_control(
    mut stream: TcpStream,
    identity: &SigningKey,
    relay: Option<PeerId>,
    obfs: Obfs,
) -> Result<Control, RelayIoError> {
    let expected = relay.map(|r| r.verifying_key());
    let key = match &expected {
        Some(r) => ProberKey::relay(r),
        None => ProberKey::open(),
    };
    let keys =
        transport::initiate_v2_with(&mut stream, identity, &key, expected.as_ref(), obfs.pad_max)
            .await
            .map_err(|e| RelayIoError::Handshake(e.to_string()))?;
    Control::sealed(stream, keys, obfs.frame_padding)
}

/// A new connection to the relay at `relay_addr`, without Nagle's delay.
async fn dial(relay_addr: SocketAddr) -> Result<TcpStream, RelayIoError> {
    let stream = TcpStream::connect(relay_addr).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sends `request` (an Accept or a Connect) and waits for the relay's Ok; then the stream,
/// its control codec dropped (nothing past the Ok was read), is the circuit.
async fn join(mut control: Control, request: RelayMessage) -> Result<TcpStream, RelayIoError> {
    control.write(&request).await?;
    control.expect_ok().await?;
    Ok(control.into_raw())
}

impl Reservation {
    fn new(control: Control, relay: PeerId) -> Self {
        let (stream, sealer, opener, _) = control.into_parts();
        Self {
            stream,
            sealer,
            opener,
            relay,
            grant: Grant {
                ttl_s: 0,
                rate: 0,
                idle_s: 0,
                observed: SocketAddr::from(([0, 0, 0, 0], 0)),
            },
            inbox: vec![0; RECORD_HEADER_LEN + MAX_SEALED_RECORD],
            have: 0,
            body_len: None,
            outbox: Vec::new(),
            sent: 0,
            queued: VecDeque::new(),
        }
    }

    /// The next event, answering the relay's Pings and skipping Pongs. Cancel-safe. The
    /// caller sends [`Reservation::ping`] every 60 s. A Status here is the relay ending
    /// the reservation (returned as [`RelayIoError::Refused`]).
    pub async fn next_event(&mut self) -> Result<RelayEvent, RelayIoError> {
        if let Some(event) = self.queued.pop_front() {
            return Ok(event);
        }
        match self.next_control().await? {
            RelayMessage::Status {
                code,
                retry_after_s,
            } => Err(RelayIoError::Refused(code, retry_after_s)),
            other => event_of(other).ok_or(RelayIoError::Unexpected),
        }
    }

    /// Keeps the reservation alive.
    pub async fn ping(&mut self, nonce: u64) -> Result<(), RelayIoError> {
        self.send(&RelayMessage::Ping(nonce)).await
    }

    /// Asks the relay to connect to `port` at the address it sees us at (`grant.observed`)
    /// and to write there a Probe for `nonce` (from [`super::probe::Probes::expect`]). The
    /// answer comes as [`RelayEvent::DialBackResult`]; how to conclude:
    /// [`super::probe::Verdict`].
    pub async fn request_dial_back(
        &mut self,
        port: u16,
        nonce: [u8; 16],
    ) -> Result<(), RelayIoError> {
        self.send(&RelayMessage::DialBack { port, nonce }).await
    }

    /// Renews the reservation on the same connection (plain: a new challenge, a new proof;
    /// sealed: Reserve and Reserved). Events that cross it are kept for
    /// [`Reservation::next_event`].
    pub async fn renew(&mut self, identity: &SigningKey) -> Result<(), RelayIoError> {
        self.prove_and_reserve(identity, false).await
    }

    /// The relay's key (as it proved it in the challenge).
    pub fn relay(&self) -> PeerId {
        self.relay
    }

    /// The control connection, the relay's key and the grant, for a caller that runs the
    /// connection itself (`crate::reach::hold`: a reader task and timers, cancel-safe).
    /// Lossless right after [`reserve`] (records are read with exact lengths); events kept
    /// from a renewal or half a record left by a cancelled `next_event` would be dropped,
    /// so use it instead of those, not after.
    pub fn into_parts(self) -> (Control, PeerId, Grant) {
        let sealed = self.sealer.is_sealed().then_some(self.relay);
        let control = Control::from_parts(self.stream, self.sealer, self.opener, sealed);
        (control, self.relay, self.grant)
    }

    /// Whether the control connection is sealed (version 2).
    pub fn is_sealed(&self) -> bool {
        self.sealer.is_sealed()
    }

    /// Reserve, Challenge, Proof, Reserved (sealed: Reserve, Reserved); with `take_shown`,
    /// the relay's key is the one it shows (no key was known), else it must be
    /// `self.relay`.
    async fn prove_and_reserve(
        &mut self,
        identity: &SigningKey,
        take_shown: bool,
    ) -> Result<(), RelayIoError> {
        let target = PeerId::of(identity);
        self.send(&RelayMessage::Reserve { target }).await?;
        if self.sealer.is_sealed() {
            return match self.next_answer().await? {
                RelayMessage::Reserved(grant) => {
                    self.grant = grant;
                    Ok(())
                }
                other => Err(refusal(other)),
            };
        }
        let (shown, nonce) = match self.next_answer().await? {
            RelayMessage::Challenge { relay, nonce } => (relay, nonce),
            other => return Err(refusal(other)),
        };
        if take_shown {
            self.relay = shown;
        }
        let signature = prove(identity, &self.relay, &shown, &nonce)?;
        self.send(&RelayMessage::Proof { signature }).await?;
        match self.next_answer().await? {
            RelayMessage::Reserved(grant) => {
                self.grant = grant;
                Ok(())
            }
            other => Err(refusal(other)),
        }
    }

    /// The next control message that is not an event (kept) nor a Ping or Pong.
    async fn next_answer(&mut self) -> Result<RelayMessage, RelayIoError> {
        loop {
            let message = self.next_control().await?;
            match event_of(message.clone()) {
                Some(event) if self.queued.len() < MAX_QUEUED_EVENTS => {
                    self.queued.push_back(event)
                }
                // Over the bound: an offer not accepted fails on the dialler's side.
                Some(_) => {}
                None => return Ok(message),
            }
        }
    }

    /// The next control message other than Ping and Pong (a Ping is answered): a Pong to
    /// our keepalive may arrive before the answer to a renewal.
    async fn next_control(&mut self) -> Result<RelayMessage, RelayIoError> {
        loop {
            match self.read_record().await? {
                RelayMessage::Ping(n) => self.queue(&RelayMessage::Pong(n))?,
                RelayMessage::Pong(_) => {}
                other => return Ok(other),
            }
        }
    }

    /// Reads the next record, header then body, never past it (what is owed is written
    /// first). Cancel-safe: the bytes read so far stay in the inbox.
    async fn read_record(&mut self) -> Result<RelayMessage, RelayIoError> {
        const H: usize = RECORD_HEADER_LEN;
        loop {
            if self.body_len.is_none() && self.have == H {
                let header = *self
                    .inbox
                    .first_chunk::<H>()
                    .expect("the inbox holds a header");
                self.body_len = Some(self.opener.body_len(header)?);
            }
            let need = self.body_len.map_or(H, |len| H + len);
            if self.have == need && self.body_len.is_some() {
                self.have = 0;
                self.body_len = None;
                return Ok(self.opener.decode(&mut self.inbox[H..need])?);
            }
            self.flush().await?;
            let n = self.stream.read(&mut self.inbox[self.have..need]).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            self.have += n;
        }
    }

    fn queue(&mut self, message: &RelayMessage) -> Result<(), RelayIoError> {
        Ok(self.sealer.encode(message, &mut self.outbox)?)
    }

    async fn send(&mut self, message: &RelayMessage) -> Result<(), RelayIoError> {
        self.queue(message)?;
        self.flush().await
    }

    /// Writes the outbox. Cancel-safe: `sent` moves only by what was written.
    async fn flush(&mut self) -> Result<(), RelayIoError> {
        while self.sent < self.outbox.len() {
            let n = self.stream.write(&self.outbox[self.sent..]).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
            }
            self.sent += n;
        }
        self.outbox.clear();
        self.sent = 0;
        Ok(())
    }
}

fn event_of(message: RelayMessage) -> Option<RelayEvent> {
    match message {
        RelayMessage::Incoming { circuit, from } => Some(RelayEvent::Incoming { circuit, from }),
        RelayMessage::DialBackResult {
            nonce,
            code,
            retry_after_s,
        } => Some(RelayEvent::DialBackResult {
            nonce,
            code,
            retry_after_s,
        }),
        _ => None,
    }
}

/// A Status as the refusal it is; anything else as unexpected.
fn refusal(message: RelayMessage) -> RelayIoError {
    match message {
        RelayMessage::Status {
            code,
            retry_after_s,
        } => RelayIoError::Refused(code, retry_after_s),
        _ => RelayIoError::Unexpected,
    }
}

/// The target's side of a circuit: a new connection to the relay at `relay_addr` that
/// accepts `circuit`. The returned stream is joined to the dialler's; the caller runs the
/// handshake as responder on it.
pub async fn accept(relay_addr: SocketAddr, circuit: CircuitId) -> Result<TcpStream, RelayIoError> {
    let control = Control::plain(dial(relay_addr).await?);
    join(control, RelayMessage::Accept { circuit }).await
}

/// The dialler's side: asks the relay at `relay_addr` for `target`. The returned stream is
/// joined to the target's; the caller runs the handshake as initiator expecting `target`.
pub async fn connect(relay_addr: SocketAddr, target: PeerId) -> Result<TcpStream, RelayIoError> {
    let control = Control::plain(dial(relay_addr).await?);
    join(control, RelayMessage::Connect { target }).await
}

/// [`accept`] over a sealed control connection: a version 2 handshake with the relay
/// `relay` under our own key (the relay checks that the circuit is ours), a sealed Accept
/// and Ok; then the stream, its control keys dropped, is the circuit.
pub async fn accept_sealed(
    relay_addr: SocketAddr,
    relay: PeerId,
    identity: &SigningKey,
    circuit: CircuitId,
    obfs: Obfs,
) -> Result<TcpStream, RelayIoError> {
    let control = sealed_control(dial(relay_addr).await?, identity, Some(relay), obfs).await?;
    join(control, RelayMessage::Accept { circuit }).await
}

/// [`connect`] over a sealed control connection to the relay `relay`: the handshake with
/// the relay runs under a throwaway key made for this circuit (the relay learns nothing
/// of who dials), then a sealed Connect and Ok; then the stream is the circuit, on which
/// the caller runs the handshake with `target`.
pub async fn connect_sealed(
    relay_addr: SocketAddr,
    relay: PeerId,
    target: PeerId,
    obfs: Obfs,
) -> Result<TcpStream, RelayIoError> {
    let throwaway = SigningKey::from_bytes(&crate::identity::random_bytes()?);
    let control = sealed_control(dial(relay_addr).await?, &throwaway, Some(relay), obfs).await?;
    join(control, RelayMessage::Connect { target }).await
}
