//! `[transport]`: how this gateway's connections look to an observer (issue 14;
//! docs/protocol.md, "Handshake, version 2" and "Padding"): whether version 1 handshakes
//! are still answered, and how much random padding handshakes and data frames carry.

use crate::crypto::MAX_PAD;
use crate::peer::transport::{DEFAULT_PAD_MAX, Obfs};
use crate::peer::{DEFAULT_FRAME_PADDING, MAX_FRAME_PADDING};

use super::raw::RawTransport;
use super::{ConfigError, invalid};

/// The validated `[transport]` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// Version 1 connections are answered (`accept_v1`, default true: peers that have not
    /// upgraded yet still reach us); false: version 2 only, a version 1 msg1 gets silence.
    pub accept_v1: bool,
    /// The bound of each handshake message's random padding (`padding`, 0 to
    /// [`MAX_PAD`], default [`DEFAULT_PAD_MAX`]).
    pub padding: usize,
    /// The bound of each version 2 data frame's random padding (`frame_padding`, 0 to
    /// [`MAX_FRAME_PADDING`], default [`DEFAULT_FRAME_PADDING`]; 0: none).
    pub frame_padding: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            accept_v1: true,
            padding: DEFAULT_PAD_MAX,
            frame_padding: DEFAULT_FRAME_PADDING,
        }
    }
}

impl TransportConfig {
    /// What the handshakes use ([`crate::peer::PeerContext::obfs`]).
    pub fn obfs(&self) -> Obfs {
        Obfs {
            pad_max: self.padding,
            accept_v1: self.accept_v1,
            frame_padding: self.frame_padding,
        }
    }
}

/// Validates `[transport]`, naming the key of a bad value.
pub(super) fn transport_config(raw: &RawTransport) -> Result<TransportConfig, ConfigError> {
    let defaults = TransportConfig::default();
    let padding = bounded("transport.padding", raw.padding, defaults.padding, MAX_PAD)?;
    let frame_padding = bounded(
        "transport.frame_padding",
        raw.frame_padding,
        defaults.frame_padding,
        MAX_FRAME_PADDING,
    )?;
    Ok(TransportConfig {
        accept_v1: raw.accept_v1.unwrap_or(defaults.accept_v1),
        padding,
        frame_padding,
    })
}

/// `value` (or `default`), refused above `max`.
fn bounded(
    key: &'static str,
    value: Option<u64>,
    default: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if v <= max as u64 => Ok(v as usize),
        Some(v) => Err(invalid(key, format!("{v} is more than {max}"))),
    }
}
