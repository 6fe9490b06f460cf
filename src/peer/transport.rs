//! The handshake and record IO over any `AsyncRead + AsyncWrite` stream: TCP in the
//! gateway, `tokio::io::duplex` and fault-injecting streams in tests.

use ed25519_dalek::SigningKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::PeerError;
use crate::crypto::{
    self, Initiator, MAX_HANDSHAKE_RECORD, RECORD_HEADER_LEN, Responder, SessionKeys,
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

/// Runs the responder side; the initiator's identity is in the returned keys.
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &SigningKey,
) -> Result<SessionKeys, PeerError> {
    let mut msg1 = Vec::new();
    read_record(stream, MAX_HANDSHAKE_RECORD, &mut msg1).await?;
    respond_to_msg1(stream, identity, msg1).await
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
