//! The handshake and record IO over any `AsyncRead + AsyncWrite` stream: TCP in the
//! gateway, `tokio::io::duplex` and fault-injecting streams in tests. Version 1 (plain
//! records) and version 2 (every byte random-looking, padded; [`Obfs`] says how much).

use ed25519_dalek::SigningKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::PeerError;
use crate::crypto::obfs::{Ephemeral, ProberKey};
use crate::crypto::{
    self, Initiator, InitiatorV2, MAX_HANDSHAKE_RECORD, MAX_PAD, MSG2_HEAD_LEN, MSG3_HEAD_LEN,
    RECORD_HEADER_LEN, Responder, ResponderV2, SessionKeys,
};
use crate::identity::{PeerId, random_bytes};

/// Reads one record body into `buf`, refusing a declared length above `max` before
/// allocating anything for it.
pub async fn read_record<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> Result<(), PeerError> {
    let mut header = [0u8; RECORD_HEADER_LEN];
    reader.read_exact(&mut header).await?;
    let len = crypto::record_len(header, max)?;
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    Ok(())
}

async fn write_record<W: AsyncWrite + Unpin>(writer: &mut W, body: &[u8]) -> Result<(), PeerError> {
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + body.len());
    crypto::encode_record(body, &mut out);
    writer.write_all(&out).await?;
    writer.flush().await?;
    Ok(())
}

/// How a gateway uses version 2 ([transport] in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obfs {
    /// Each handshake message carries a random amount of padding up to this (bytes, at
    /// most [`MAX_PAD`]).
    pub pad_max: usize,
    /// Version 1 connections are answered (the transition); false: version 2 only.
    pub accept_v1: bool,
    /// Each version 2 data frame carries a random amount of padding up to this (bytes, at
    /// most [`super::padding::MAX_FRAME_PADDING`]; 0: none).
    pub frame_padding: usize,
}

impl Default for Obfs {
    fn default() -> Self {
        Self {
            pad_max: DEFAULT_PAD_MAX,
            accept_v1: true,
            frame_padding: super::padding::DEFAULT_FRAME_PADDING,
        }
    }
}

/// The default padding bound of a handshake message: msg1 is then 50 to 306 bytes, msg2
/// 146 to 402, msg3 114 to 370.
pub const DEFAULT_PAD_MAX: usize = 256;

/// The current Unix hour (msg1's MAC binds it).
pub fn hour_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 3600)
        .unwrap_or(0)
}

/// A random length in `0..=max` (at most [`MAX_PAD`]).
pub fn random_pad_len(max: usize) -> Result<usize, PeerError> {
    let max = max.min(MAX_PAD);
    let r = u64::from_be_bytes(random_bytes::<8>()?);
    Ok((r % (max as u64 + 1)) as usize)
}

/// Which handshake a dial runs: the version the peer's record says it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2(Obfs),
}

/// Runs the initiator side of `version`.
pub async fn initiate_version<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
    expected: PeerId,
    version: Version,
) -> Result<SessionKeys, PeerError> {
    match version {
        Version::V1 => initiate(stream, identity, expected).await,
        Version::V2(obfs) => initiate_v2(stream, identity, expected, obfs.pad_max).await,
    }
}

/// The version 2 initiator: msg1 with random padding, msg2's head then box, msg3.
pub async fn initiate_v2<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
    expected: PeerId,
    pad_max: usize,
) -> Result<SessionKeys, PeerError> {
    let expected = expected.verifying_key();
    let key = ProberKey::of(&expected);
    initiate_v2_with(stream, identity, &key, Some(&expected), pad_max).await
}

/// [`initiate_v2`] with msg1 MACed under `key` (relay control: [`ProberKey::relay`],
/// [`ProberKey::open`]), expecting `expected`, or any key when `None` (the proved key is in
/// the returned keys).
pub async fn initiate_v2_with<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
    key: &ProberKey,
    expected: Option<&ed25519_dalek::VerifyingKey>,
    pad_max: usize,
) -> Result<SessionKeys, PeerError> {
    let mut pad = vec![0u8; random_pad_len(pad_max)?];
    crate::identity::fill_random(&mut pad)?;
    let ephemeral = Ephemeral::from_seed(random_bytes()?);
    let (initiator, msg1) =
        InitiatorV2::with_prober_key(identity, key, expected, ephemeral, &pad, hour_now());
    stream.write_all(&msg1).await?;
    stream.flush().await?;
    let mut head = [0u8; MSG2_HEAD_LEN];
    stream.read_exact(&mut head).await?;
    let waiting = initiator.read_msg2_head(&head)?;
    let mut sealed = vec![0u8; waiting.box_len()];
    stream.read_exact(&mut sealed).await?;
    let (msg3, keys) = waiting.read_msg2_box(&sealed, random_pad_len(pad_max)?)?;
    stream.write_all(&msg3).await?;
    stream.flush().await?;
    Ok(keys)
}

/// The version 2 responder once the whole msg1 is read (its MAC checked and not a replay:
/// the accept loop's work), for the hour it was checked at.
pub async fn respond_v2<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
    key: ProberKey,
    msg1: &[u8],
    hour: u64,
    pad_max: usize,
) -> Result<SessionKeys, PeerError> {
    let ephemeral = Ephemeral::from_seed(random_bytes()?);
    let responder = ResponderV2::with_prober_key(identity, key, ephemeral);
    let (awaiting, msg2) = responder.read_msg1(msg1, hour, random_pad_len(pad_max)?)?;
    stream.write_all(&msg2).await?;
    stream.flush().await?;
    let mut msg3 = vec![0u8; MSG3_HEAD_LEN];
    stream.read_exact(&mut msg3).await?;
    let len = awaiting.box_len(&msg3)?;
    msg3.resize(MSG3_HEAD_LEN + len, 0);
    stream.read_exact(&mut msg3[MSG3_HEAD_LEN..]).await?;
    Ok(awaiting.read_msg3(&msg3)?)
}

/// Runs the initiator side: proves our identity and checks that the responder proves
/// `expected`. The caller bounds it in time.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
    expected: PeerId,
) -> Result<SessionKeys, PeerError> {
    let (initiator, msg1) = Initiator::new(identity, &expected.verifying_key(), random_bytes()?);
    write_record(stream, &msg1).await?;
    let mut buf = Vec::new();
    read_record(stream, MAX_HANDSHAKE_RECORD, &mut buf).await?;
    let (msg3, keys) = initiator.read_msg2(&buf)?;
    write_record(stream, &msg3).await?;
    Ok(keys)
}

/// What a version 2 first message is for: told by the key its MAC is under
/// ([`ProberKey`]), before any curve operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A peer session ([`ProberKey::of`]).
    Session,
    /// Relay control from someone who knows our key ([`ProberKey::relay`]).
    Relay,
    /// Relay control from someone who found our address only ([`ProberKey::open`]).
    OpenRelay,
    /// A relay's dial-back probe for the dial-back with this token
    /// ([`ProberKey::dial_back`]).
    DialBack([u8; 16]),
}

/// A connection's first message, told apart by its first 8 bytes: a relay control record
/// and a version 1 msg1 start with a record header and a 4-byte magic (`DSRL`, `DSMS`);
/// anything else is read as a version 2 first message.
#[derive(Debug)]
pub enum FirstMessage {
    /// A relay control record (its body).
    Relay(Vec<u8>),
    /// A version 1 msg1 (the record's body).
    V1(Vec<u8>),
    /// A version 2 first message, whole, the hour its MAC was checked for, and the purpose
    /// and key that checked it.
    V2 {
        msg1: Vec<u8>,
        hour: u64,
        purpose: Purpose,
        key: ProberKey,
    },
    /// A version 1 msg1 while version 1 is refused (read no further).
    RefusedV1,
    /// A version 2 head without our MAC (a prober, or a dial of another key) or with too
    /// much padding.
    NotForUs(crypto::HandshakeError),
    /// A version 2 head that `fresh` said was answered already (a replay).
    Replayed,
}

/// Reads a connection's first message for a responder that answers version 2 first
/// messages MACed with one of `keys` (tried in order, each for three hours: three HMACs a
/// key); `fresh` is asked about a version 2 head's MAC once the MAC checks out (the accept
/// loop's replay cache).
pub async fn read_first_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    keys: &[(Purpose, ProberKey)],
    accept_v1: bool,
    fresh: impl FnOnce(&[u8; crypto::obfs::MAC_LEN]) -> bool,
) -> Result<FirstMessage, PeerError> {
    let mut start = [0u8; 8];
    stream.read_exact(&mut start).await?;
    let magic = &start[4..8];
    if magic == crate::relay::wire::RELAY_MAGIC || magic == crypto::MAGIC {
        if magic == crypto::MAGIC && !accept_v1 {
            return Ok(FirstMessage::RefusedV1);
        }
        let header = [start[0], start[1], start[2], start[3]];
        let len = crypto::record_len(header, MAX_HANDSHAKE_RECORD)?;
        let mut body = magic.to_vec();
        body.resize(len.max(4), 0);
        stream.read_exact(&mut body[4..]).await?;
        body.truncate(len);
        return Ok(if magic == crypto::MAGIC {
            FirstMessage::V1(body)
        } else {
            FirstMessage::Relay(body)
        });
    }
    let mut msg1 = start.to_vec();
    msg1.resize(crypto::MSG1_HEAD_LEN, 0);
    stream.read_exact(&mut msg1[start.len()..]).await?;
    let hour = hour_now();
    let mut refused = crypto::HandshakeError::NotForUs;
    let mut matched = None;
    for (purpose, key) in keys {
        match crypto::read_msg1_head(key, &msg1, hour) {
            Ok(head) => {
                matched = Some((head, *purpose, key.clone()));
                break;
            }
            Err(e) => refused = e,
        }
    }
    let Some((head, purpose, key)) = matched else {
        return Ok(FirstMessage::NotForUs(refused));
    };
    if !fresh(&head.mac) {
        return Ok(FirstMessage::Replayed);
    }
    msg1.resize(crypto::MSG1_HEAD_LEN + head.pad_len, 0);
    stream
        .read_exact(&mut msg1[crypto::MSG1_HEAD_LEN..])
        .await?;
    Ok(FirstMessage::V2 {
        msg1,
        hour,
        purpose,
        key,
    })
}

/// Runs the responder side of either version ([`read_first_message`], without the accept
/// loop's replay cache and budgets: for a connection that is expected, such as a direct
/// upgrade's); the initiator's identity is in the returned keys.
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
    obfs: Obfs,
) -> Result<SessionKeys, PeerError> {
    let keys = [(Purpose::Session, ProberKey::of(&identity.verifying_key()))];
    match read_first_message(stream, &keys, true, |_| true).await? {
        FirstMessage::V1(msg1) => respond_to_msg1(stream, identity, msg1).await,
        FirstMessage::V2 {
            msg1, hour, key, ..
        } => respond_v2(stream, identity, key, &msg1, hour, obfs.pad_max).await,
        FirstMessage::NotForUs(e) => Err(e.into()),
        FirstMessage::Relay(_) | FirstMessage::RefusedV1 | FirstMessage::Replayed => {
            Err(crypto::HandshakeError::NotForUs.into())
        }
    }
}

/// The responder side once msg1 (the record's body) has been read: the gateway's accept
/// loop reads msg1 itself, to bound the wait for it and to check its handshake budget
/// before any X25519 or signature.
pub async fn respond_to_msg1<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
    mut msg1: Vec<u8>,
) -> Result<SessionKeys, PeerError> {
    let responder = Responder::new(identity, random_bytes()?);
    let (awaiting, msg2) = responder.read_msg1(&msg1)?;
    write_record(stream, &msg2).await?;
    let msg3 = &mut msg1;
    read_record(stream, MAX_HANDSHAKE_RECORD, msg3).await?;
    Ok(awaiting.read_msg3(msg3)?)
}
