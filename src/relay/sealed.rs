//! Relay control records, plain or sealed (pure; docs/protocol.md, "Relay control,
//! version 2").
//!
//! A plain record is `u32 L || body` (version 1, [`super::wire`]). A sealed record is one
//! version 2 data frame of the session a relay control connection opened with: its
//! 4-byte header masked by the sender's length mask, then the frame (`tag || ciphertext`),
//! whose plaintext is
//!
//! ```text
//! u16 n || body (n bytes: the plain record's body, "DSRL" header included) || zeros(p)
//! ```
//!
//! with `n <= MAX_RELAY_RECORD` and `p` random in `0..=pad_max`, at most
//! [`MAX_CONTROL_PADDING`]; the receiver ignores the padding's bytes. So every control
//! message looks like a session's frame and varies in length.
//!
//! [`ControlSealer`] writes records, [`ControlOpener`] reads them in two steps (the header,
//! which gives the body's length and must be unmasked exactly once, then the body), so that
//! a reader can read exact lengths and never a byte past a record (the bytes after a
//! Connect's answer belong to the circuit).

use crate::crypto::obfs::{LengthMask, PadRng};
use crate::crypto::{
    FrameError, FrameOpener, FrameSealer, RECORD_HEADER_LEN, SessionKeys, TAG_LEN,
};

use super::wire::{MAX_RELAY_RECORD, RelayMessage, RelayWireError};

/// The most padding a sealed control record may carry (the bound of a session frame's
/// padding, `[transport] frame_padding`).
pub const MAX_CONTROL_PADDING: usize = crate::peer::padding::MAX_FRAME_PADDING;
/// The longest body a record may declare: plain, [`MAX_RELAY_RECORD`]; sealed, the tag,
/// the length prefix, the largest message and the most padding.
pub const MAX_SEALED_RECORD: usize = TAG_LEN + 2 + MAX_RELAY_RECORD + MAX_CONTROL_PADDING;

/// Why a control record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    #[error("relay record of {0} bytes is over the limit")]
    TooLong(usize),
    #[error("sealed relay record: {0}")]
    Frame(#[from] FrameError),
    #[error("sealed relay record declares {0} bytes of message in fewer")]
    BadLength(usize),
    #[error("relay message: {0}")]
    Wire(#[from] RelayWireError),
}

/// Writes control records: plain, or sealed with padding.
pub enum ControlSealer {
    Plain,
    Sealed(Box<SealedOut>),
}

/// The sealing side of a sealed control connection.
pub struct SealedOut {
    sealer: FrameSealer,
    pad: PadRng,
    pad_max: usize,
}

/// Reads control records: plain, or sealed (the peer's length mask taken from its opener).
pub enum ControlOpener {
    Plain,
    Sealed(Box<SealedIn>),
}

/// The opening side of a sealed control connection.
pub struct SealedIn {
    opener: FrameOpener,
    mask: LengthMask,
}

/// The two halves of a sealed control channel from a version 2 session's keys; `pad_key`:
/// 32 fresh random bytes for the padding lengths. `None` if the keys are version 1's (no
/// length mask).
pub fn sealed(
    keys: SessionKeys,
    pad_key: [u8; 32],
    pad_max: usize,
) -> Option<(ControlSealer, ControlOpener)> {
    let SessionKeys {
        sealer, mut opener, ..
    } = keys;
    let mask = opener.take_length_mask()?;
    Some((
        ControlSealer::Sealed(Box::new(SealedOut {
            sealer,
            pad: PadRng::new(pad_key),
            pad_max: pad_max.min(MAX_CONTROL_PADDING),
        })),
        ControlOpener::Sealed(Box::new(SealedIn { opener, mask })),
    ))
}

impl ControlSealer {
    /// Appends `message`'s whole record to `out`.
    pub fn encode(&mut self, message: &RelayMessage, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let body = message.encode();
        match self {
            Self::Plain => {
                out.extend_from_slice(&(body.len() as u32).to_be_bytes());
                out.extend_from_slice(&body);
                Ok(())
            }
            Self::Sealed(sealed) => {
                let SealedOut {
                    sealer,
                    pad,
                    pad_max,
                } = &mut **sealed;
                let p = pad.below(*pad_max + 1);
                let mut plain = Vec::with_capacity(2 + body.len() + p);
                plain.extend_from_slice(&(body.len() as u16).to_be_bytes());
                plain.extend_from_slice(&body);
                plain.resize(plain.len() + p, 0);
                sealer.seal_into(&plain, out)
            }
        }
    }

    pub fn is_sealed(&self) -> bool {
        matches!(self, Self::Sealed(_))
    }
}

impl ControlOpener {
    /// The length of the body that follows `header`; unmasks it, so call it exactly once
    /// per record. Refused before anything is allocated when over the limit.
    pub fn body_len(&mut self, mut header: [u8; RECORD_HEADER_LEN]) -> Result<usize, SealedError> {
        let max = match self {
            Self::Plain => MAX_RELAY_RECORD,
            Self::Sealed(input) => {
                input.mask.apply(&mut header);
                MAX_SEALED_RECORD
            }
        };
        let len = u32::from_be_bytes(header) as usize;
        if len > max {
            return Err(SealedError::TooLong(len));
        }
        Ok(len)
    }

    /// Decodes a record's body (opened in place when sealed).
    pub fn decode(&mut self, body: &mut [u8]) -> Result<RelayMessage, SealedError> {
        match self {
            Self::Plain => Ok(RelayMessage::decode(body)?),
            Self::Sealed(input) => {
                let plain = input.opener.open(body)?;
                let n = match plain.first_chunk::<2>() {
                    Some(n) => usize::from(u16::from_be_bytes(*n)),
                    None => return Err(SealedError::BadLength(0)),
                };
                let message = plain
                    .get(2..2 + n)
                    .filter(|_| n <= MAX_RELAY_RECORD)
                    .ok_or(SealedError::BadLength(n))?;
                Ok(RelayMessage::decode(message)?)
            }
        }
    }

    pub fn is_sealed(&self) -> bool {
        matches!(self, Self::Sealed(_))
    }
}

#[cfg(test)]
#[path = "sealed_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "sealed_vectors.rs"]
mod vectors;
