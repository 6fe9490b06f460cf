//! Relay control records over a stream, and the errors of the relay's IO (client and
//! server): one record is `u32 L || body`, `L` checked against [`MAX_RELAY_RECORD`] before
//! anything is allocated, read with exact-length reads so that nothing past the record is
//! consumed (the bytes after a Connect belong to the circuit).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::proof::ProofError;
use super::wire::{MAX_RELAY_RECORD, RelayMessage, RelayWireError, StatusCode};
use crate::identity::IdentityError;

/// Why a relay exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayIoError {
    #[error("relay connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("relay record of {0} bytes is over the {MAX_RELAY_RECORD}-byte limit")]
    TooLong(usize),
    #[error("relay message: {0}")]
    Wire(#[from] RelayWireError),
    #[error("reservation proof: {0}")]
    Proof(#[from] ProofError),
    #[error("the relay refused: {0:?} (retry after {1} s)")]
    Refused(StatusCode, u16),
    #[error("unexpected relay message")]
    Unexpected,
    #[error("timed out")]
    Timeout,
    #[error(transparent)]
    Random(#[from] IdentityError),
}

/// Reads one control record and decodes it.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<RelayMessage, RelayIoError> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header).await?;
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_RELAY_RECORD {
        return Err(RelayIoError::TooLong(len));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(RelayMessage::decode(&body)?)
}

/// Encodes and writes one control record.
pub async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &RelayMessage,
) -> Result<(), RelayIoError> {
    let body = message.encode();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    writer.write_all(&out).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads a Status: Ok, or the refusal as an error.
pub async fn expect_ok<R: AsyncRead + Unpin>(reader: &mut R) -> Result<(), RelayIoError> {
    match read_message(reader).await? {
        RelayMessage::Status {
            code: StatusCode::Ok,
            ..
        } => Ok(()),
        RelayMessage::Status {
            code,
            retry_after_s,
        } => Err(RelayIoError::Refused(code, retry_after_s)),
        _ => Err(RelayIoError::Unexpected),
    }
}

/// Writes a Status with no retry hint.
pub async fn status<W: AsyncWrite + Unpin>(
    writer: &mut W,
    code: StatusCode,
) -> Result<(), RelayIoError> {
    write_message(
        writer,
        &RelayMessage::Status {
            code,
            retry_after_s: 0,
        },
    )
    .await
}
