//! Relay control records over a stream, and the errors of the relay's IO (client and
//! server): one record is `u32 L || body` (plain) or a sealed frame ([`super::sealed`]),
//! `L` checked before anything is allocated, read with exact-length reads so that nothing
//! past the record is consumed (the bytes after a Connect belong to the circuit).
//!
//! [`Control`] is a control connection with its codec (plain, or sealed after a version 2
//! handshake: [`Control::sealed`]); it splits into a [`ControlReader`] and a
//! [`ControlWriter`] for a reader task, and gives its socket back for a splice
//! ([`Control::into_raw`]).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::proof::ProofError;
use super::sealed::{ControlOpener, ControlSealer, SealedError};
use super::wire::{MAX_RELAY_RECORD, RelayMessage, RelayWireError, StatusCode};
use crate::crypto::{FrameError, SessionKeys};
use crate::identity::{IdentityError, PeerId};

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
    #[error("sealed relay record: {0}")]
    Frame(#[from] FrameError),
    #[error("sealed relay record declares a message of {0} bytes it does not hold")]
    BadLength(usize),
    #[error("relay control handshake: {0}")]
    Handshake(String),
}

impl From<SealedError> for RelayIoError {
    fn from(e: SealedError) -> Self {
        match e {
            SealedError::TooLong(n) => Self::TooLong(n),
            SealedError::Frame(e) => Self::Frame(e),
            SealedError::BadLength(n) => Self::BadLength(n),
            SealedError::Wire(e) => Self::Wire(e),
        }
    }
}

/// Reads one record with `opener` (exact lengths).
pub async fn read_with<R: AsyncRead + Unpin>(
    reader: &mut R,
    opener: &mut ControlOpener,
) -> Result<RelayMessage, RelayIoError> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header).await?;
    let len = opener.body_len(header)?;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(opener.decode(&mut body)?)
}

/// Writes one record with `sealer`.
pub async fn write_with<W: AsyncWrite + Unpin>(
    writer: &mut W,
    sealer: &mut ControlSealer,
    message: &RelayMessage,
) -> Result<(), RelayIoError> {
    let mut out = Vec::new();
    sealer.encode(message, &mut out)?;
    writer.write_all(&out).await?;
    writer.flush().await?;
    Ok(())
}

/// A relay control connection: the stream, its codec, and the key the version 2 handshake
/// proved (`None` on a plain connection).
pub struct Control<S = TcpStream> {
    stream: S,
    sealer: ControlSealer,
    opener: ControlOpener,
    peer: Option<PeerId>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Control<S> {
    /// A plain (version 1) control connection.
    pub fn plain(stream: S) -> Self {
        Self {
            stream,
            sealer: ControlSealer::Plain,
            opener: ControlOpener::Plain,
            peer: None,
        }
    }

    /// A sealed control connection from a version 2 handshake's keys; records carry up to
    /// `pad_max` bytes of padding.
    pub fn sealed(stream: S, keys: SessionKeys, pad_max: usize) -> Result<Self, RelayIoError> {
        let peer = PeerId::from_bytes(keys.peer.to_bytes())
            .map_err(|e| RelayIoError::Handshake(e.to_string()))?;
        let (sealer, opener) =
            super::sealed::sealed(keys, crate::identity::random_bytes()?, pad_max)
                .ok_or_else(|| RelayIoError::Handshake("version 1 keys cannot seal".into()))?;
        Ok(Self {
            stream,
            sealer,
            opener,
            peer: Some(peer),
        })
    }

    /// The key the handshake proved: `None` when plain.
    pub fn peer(&self) -> Option<PeerId> {
        self.peer
    }

    pub fn is_sealed(&self) -> bool {
        self.peer.is_some()
    }

    pub async fn read(&mut self) -> Result<RelayMessage, RelayIoError> {
        read_with(&mut self.stream, &mut self.opener).await
    }

    pub async fn write(&mut self, message: &RelayMessage) -> Result<(), RelayIoError> {
        write_with(&mut self.stream, &mut self.sealer, message).await
    }

    /// Writes a Status with no retry hint.
    pub async fn status(&mut self, code: StatusCode) -> Result<(), RelayIoError> {
        self.write(&no_retry(code)).await
    }

    /// Reads a Status: Ok, or the refusal as an error.
    pub async fn expect_ok(&mut self) -> Result<(), RelayIoError> {
        status_of(self.read().await?)
    }

    /// The stream, the codec dropped: for a circuit's splice once the control exchange is
    /// over (nothing past the last record was read).
    pub fn into_raw(self) -> S {
        self.stream
    }

    /// The parts, for a caller that reads records itself (cancel-safe readers).
    pub fn into_parts(self) -> (S, ControlSealer, ControlOpener, Option<PeerId>) {
        (self.stream, self.sealer, self.opener, self.peer)
    }

    /// Put back together from [`Control::into_parts`] (`peer`: `Some` when sealed).
    pub fn from_parts(
        stream: S,
        sealer: ControlSealer,
        opener: ControlOpener,
        peer: Option<PeerId>,
    ) -> Self {
        Self {
            stream,
            sealer,
            opener,
            peer,
        }
    }
}

impl Control<TcpStream> {
    /// A reader and a writer, for a reader task.
    pub fn into_split(self) -> (ControlReader, ControlWriter) {
        let (rd, wr) = self.stream.into_split();
        (
            ControlReader {
                rd,
                opener: self.opener,
            },
            ControlWriter {
                wr,
                sealer: self.sealer,
            },
        )
    }
}

/// The read half of a [`Control`].
pub struct ControlReader {
    rd: OwnedReadHalf,
    opener: ControlOpener,
}

impl ControlReader {
    pub async fn read(&mut self) -> Result<RelayMessage, RelayIoError> {
        read_with(&mut self.rd, &mut self.opener).await
    }
}

/// The write half of a [`Control`].
pub struct ControlWriter {
    wr: OwnedWriteHalf,
    sealer: ControlSealer,
}

impl ControlWriter {
    pub async fn write(&mut self, message: &RelayMessage) -> Result<(), RelayIoError> {
        write_with(&mut self.wr, &mut self.sealer, message).await
    }

    /// Writes a Status with no retry hint.
    pub async fn status(&mut self, code: StatusCode) -> Result<(), RelayIoError> {
        self.write(&no_retry(code)).await
    }

    pub fn is_sealed(&self) -> bool {
        self.sealer.is_sealed()
    }
}

/// A Status as `Ok(())` or the refusal; anything else is unexpected.
fn status_of(message: RelayMessage) -> Result<(), RelayIoError> {
    match message {
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

/// Reads one control record and decodes it.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<RelayMessage, RelayIoError> {
    read_with(reader, &mut ControlOpener::Plain).await
}

/// Encodes and writes one control record.
pub async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &RelayMessage,
) -> Result<(), RelayIoError> {
    write_with(writer, &mut ControlSealer::Plain, message).await
}

/// Reads a Status: Ok, or the refusal as an error.
pub async fn expect_ok<R: AsyncRead + Unpin>(reader: &mut R) -> Result<(), RelayIoError> {
    status_of(read_message(reader).await?)
}

/// Writes a Status with no retry hint.
pub async fn status<W: AsyncWrite + Unpin>(
    writer: &mut W,
    code: StatusCode,
) -> Result<(), RelayIoError> {
    write_message(writer, &no_retry(code)).await
}

/// A Status with no retry hint.
fn no_retry(code: StatusCode) -> RelayMessage {
    RelayMessage::Status {
        code,
        retry_after_s: 0,
    }
}
