//! The relay's control messages: typed, pure encode/decode (docs/protocol.md, "Relays").
//!
//! Each message is the body of one record (`u32 L || body`, as in the handshake) of at most
//! [`MAX_RELAY_RECORD`] bytes, and every body starts with [`RELAY_MAGIC`] and
//! [`RELAY_VERSION`], so that the first record of a connection tells a relay request from a
//! handshake's msg1 (which starts with `DSMS`). Integers are big-endian.
//!
//! ```text
//! "DSRL" | u16 version (1) | u8 type | fields
//!  1 Reserve    target key (32)                       gateway -> relay
//!  2 Challenge  relay key (32) | nonce (32)           relay -> gateway
//!  3 Proof      signature (64)                        gateway -> relay
//!  4 Reserved   ttl_s u32 | rate u32 | idle_s u32 | observed address   relay -> gateway
//!  5 Connect    target key (32)                       dialler -> relay
//!  6 Incoming   circuit (16) | dialler's address      relay -> target
//!  7 Accept     circuit (16)                          target -> relay (new connection)
//!  8 Status     code u8 | retry_after_s u16           relay -> either
//!  9 Ping       nonce u64                             either way
//! 10 Pong       nonce u64
//! 11 DialBack        port u16 | nonce (16)                gateway -> relay (reservation)
//! 12 Probe           token (16)                           relay -> gateway (new connection)
//! 13 DialBackResult  nonce (16) | code u8 | retry_after_s u16   relay -> gateway
//! address: family (1: 4 or 6) | IP (4 or 16) | port u16
//! ```
//! Decoding never panics and refuses, in order: a body shorter than 7 bytes, another
//! magic, another version (before the length, so a newer version is named as such), an
//! unknown type, a truncated or over-long body, a key that is not a canonical ed25519 point
//! of large order, an unknown address family or an IPv4-mapped IPv6 address. So a decoded
//! message re-encodes to exactly the bytes it came from.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use crate::directory::record::{AddrError, Mapped, push_addr, read_addr};
use crate::identity::PeerId;

/// First four bytes of every relay control record ("DSRL"); a handshake's msg1 starts
/// with `DSMS` (`crate::crypto::MAGIC`).
pub const RELAY_MAGIC: &[u8; 4] = b"DSRL";
/// Version of the relay control protocol.
pub const RELAY_VERSION: u16 = 1;
/// Largest relay control record body accepted (the largest message is 71 bytes).
pub const MAX_RELAY_RECORD: usize = 128;
/// Magic, version and type.
pub const HEADER_LEN: usize = 7;

const RESERVE: u8 = 1;
const CHALLENGE: u8 = 2;
const PROOF: u8 = 3;
const RESERVED: u8 = 4;
const CONNECT: u8 = 5;
const INCOMING: u8 = 6;
const ACCEPT: u8 = 7;
const STATUS: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;
const DIAL_BACK: u8 = 11;
const PROBE: u8 = 12;
const DIAL_BACK_RESULT: u8 = 13;

/// Domain-separation label of [`probe_token`].
pub const PROBE_LABEL: &[u8] = b"disims v1 relay dial-back";

/// The 16 bytes a relay writes in a Probe for a DialBack's `nonce`: the first 16 bytes of
/// `SHA-256(PROBE_LABEL || nonce)`. Hashed so that no byte the relay writes to a dialled
/// port is chosen by the requester (a cross-protocol write to whatever listens there).
pub fn probe_token(nonce: &[u8; 16]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(PROBE_LABEL)
        .chain_update(nonce)
        .finalize();
    let mut token = [0u8; 16];
    token.copy_from_slice(&digest[..16]);
    token
}

/// Names one circuit between the relay and the target (random, chosen by the relay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CircuitId(pub [u8; 16]);

/// What the relay grants with a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Seconds until the reservation expires unless renewed.
    pub ttl_s: u32,
    /// Bytes a second each circuit may carry in each direction.
    pub rate: u32,
    /// Seconds without a Ping after which the reservation is dropped.
    pub idle_s: u32,
    /// The gateway's address as the relay sees it.
    pub observed: SocketAddr,
}

/// A relay's answer code. Unknown codes decode as [`StatusCode::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCode {
    Ok,
    /// This relay does not serve (`[relay] serve = "off"`).
    ReservationRefused,
    /// A limit is reached (per prefix, per target or in total); try later or elsewhere.
    ResourceLimit,
    /// This relay serves its contacts only and the key is not one.
    PermissionDenied,
    /// The proof does not verify for this relay and challenge, or came too late.
    BadProof,
    /// No live reservation for the requested target.
    NoReservation,
    /// The target did not accept the circuit in time.
    ConnectionFailed,
    /// Accept names a circuit that does not exist (expired, or never offered).
    NoCircuit,
    /// The relay could not connect to the port a DialBack named (refused, or no answer
    /// within its connect timeout).
    DialBackFailed,
    /// A DialBack named a port the relay does not dial (0 or below 1024).
    BadPort,
    Malformed,
    Unexpected,
    UnsupportedVersion,
    Other(u8),
}

impl StatusCode {
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::ReservationRefused => 10,
            Self::ResourceLimit => 11,
            Self::PermissionDenied => 12,
            Self::BadProof => 13,
            Self::NoReservation => 20,
            Self::ConnectionFailed => 21,
            Self::NoCircuit => 22,
            Self::DialBackFailed => 23,
            Self::BadPort => 24,
            Self::Malformed => 30,
            Self::Unexpected => 31,
            Self::UnsupportedVersion => 32,
            Self::Other(c) => c,
        }
    }

    pub fn from_byte(b: u8) -> Self {
        match b {
            0 => Self::Ok,
            10 => Self::ReservationRefused,
            11 => Self::ResourceLimit,
            12 => Self::PermissionDenied,
            13 => Self::BadProof,
            20 => Self::NoReservation,
            21 => Self::ConnectionFailed,
            22 => Self::NoCircuit,
            23 => Self::DialBackFailed,
            24 => Self::BadPort,
            30 => Self::Malformed,
            31 => Self::Unexpected,
            32 => Self::UnsupportedVersion,
            c => Self::Other(c),
        }
    }
}

/// One relay control message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayMessage {
    Reserve {
        target: PeerId,
    },
    Challenge {
        relay: PeerId,
        nonce: [u8; 32],
    },
    Proof {
        signature: [u8; 64],
    },
    Reserved(Grant),
    Connect {
        target: PeerId,
    },
    Incoming {
        circuit: CircuitId,
        from: SocketAddr,
    },
    Accept {
        circuit: CircuitId,
    },
    Status {
        code: StatusCode,
        retry_after_s: u16,
    },
    Ping(u64),
    Pong(u64),
    /// Asks the relay to connect to `port` at the address it sees for this reservation
    /// connection and to write a Probe there.
    DialBack {
        port: u16,
        nonce: [u8; 16],
    },
    /// The only record of a connection the relay opens for a DialBack;
    /// `token` = [`probe_token`] of the DialBack's nonce.
    Probe {
        token: [u8; 16],
    },
    /// The relay's answer to the DialBack with this `nonce`, on the reservation connection.
    DialBackResult {
        nonce: [u8; 16],
        code: StatusCode,
        retry_after_s: u16,
    },
}

/// A relay control message that could not be decoded or encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelayWireError {
    #[error("relay message is {0} bytes, shorter than its 7-byte header")]
    Short(usize),
    #[error("not a relay message (bad magic)")]
    BadMagic,
    #[error("relay protocol version {0} is not supported (this gateway speaks {RELAY_VERSION})")]
    UnsupportedVersion(u16),
    #[error("unknown relay message type {0}")]
    UnknownType(u8),
    #[error("relay message type {0} is truncated")]
    Truncated(u8),
    #[error("relay message type {0} has {1} trailing bytes")]
    Trailing(u8, usize),
    #[error("relay message is {0} bytes, more than {MAX_RELAY_RECORD}")]
    TooLong(usize),
    #[error("relay message carries a key that is not a valid identity key")]
    BadKey,
    #[error("unknown address family {0}")]
    UnknownFamily(u8),
    #[error("IPv4-mapped IPv6 address (written as family 4)")]
    MappedAddress,
}

/// Whether a record body is a relay control message (its magic), as opposed to a
/// handshake's msg1: the one test the accept loop makes on a connection's first record.
pub fn is_relay_record(body: &[u8]) -> bool {
    body.starts_with(RELAY_MAGIC)
}

impl RelayMessage {
    fn kind(&self) -> u8 {
        match self {
            Self::Reserve { .. } => RESERVE,
            Self::Challenge { .. } => CHALLENGE,
            Self::Proof { .. } => PROOF,
            Self::Reserved(_) => RESERVED,
            Self::Connect { .. } => CONNECT,
            Self::Incoming { .. } => INCOMING,
            Self::Accept { .. } => ACCEPT,
            Self::Status { .. } => STATUS,
            Self::Ping(_) => PING,
            Self::Pong(_) => PONG,
            Self::DialBack { .. } => DIAL_BACK,
            Self::Probe { .. } => PROBE,
            Self::DialBackResult { .. } => DIAL_BACK_RESULT,
        }
    }

    /// The record body: magic, version, type, fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 64);
        out.extend_from_slice(RELAY_MAGIC);
        out.extend_from_slice(&RELAY_VERSION.to_be_bytes());
        out.push(self.kind());
        match self {
            Self::Reserve { target } | Self::Connect { target } => {
                out.extend_from_slice(target.as_bytes())
            }
            Self::Challenge { relay, nonce } => {
                out.extend_from_slice(relay.as_bytes());
                out.extend_from_slice(nonce);
            }
            Self::Proof { signature } => out.extend_from_slice(signature),
            Self::Reserved(g) => {
                out.extend_from_slice(&g.ttl_s.to_be_bytes());
                out.extend_from_slice(&g.rate.to_be_bytes());
                out.extend_from_slice(&g.idle_s.to_be_bytes());
                push_addr(&mut out, &g.observed);
            }
            Self::Incoming { circuit, from } => {
                out.extend_from_slice(&circuit.0);
                push_addr(&mut out, from);
            }
            Self::Accept { circuit } => out.extend_from_slice(&circuit.0),
            Self::Status {
                code,
                retry_after_s,
            } => {
                out.push(code.to_byte());
                out.extend_from_slice(&retry_after_s.to_be_bytes());
            }
            Self::Ping(n) | Self::Pong(n) => out.extend_from_slice(&n.to_be_bytes()),
            Self::DialBack { port, nonce } => {
                out.extend_from_slice(&port.to_be_bytes());
                out.extend_from_slice(nonce);
            }
            Self::Probe { token } => out.extend_from_slice(token),
            Self::DialBackResult {
                nonce,
                code,
                retry_after_s,
            } => {
                out.extend_from_slice(nonce);
                out.push(code.to_byte());
                out.extend_from_slice(&retry_after_s.to_be_bytes());
            }
        }
        out
    }

    /// Decodes one record body (untrusted input; never panics).
    pub fn decode(body: &[u8]) -> Result<Self, RelayWireError> {
        if body.len() > MAX_RELAY_RECORD {
            return Err(RelayWireError::TooLong(body.len()));
        }
        let Some((header, rest)) = body.split_first_chunk::<HEADER_LEN>() else {
            return Err(RelayWireError::Short(body.len()));
        };
        if &header[..4] != RELAY_MAGIC {
            return Err(RelayWireError::BadMagic);
        }
        let version = u16::from_be_bytes([header[4], header[5]]);
        if version != RELAY_VERSION {
            return Err(RelayWireError::UnsupportedVersion(version));
        }
        let kind = header[6];
        let mut r = Reader { kind, rest };
        let message = match kind {
            RESERVE => Self::Reserve { target: r.key()? },
            CHALLENGE => Self::Challenge {
                relay: r.key()?,
                nonce: r.take()?,
            },
            PROOF => Self::Proof {
                signature: r.take()?,
            },
            RESERVED => Self::Reserved(Grant {
                ttl_s: u32::from_be_bytes(r.take()?),
                rate: u32::from_be_bytes(r.take()?),
                idle_s: u32::from_be_bytes(r.take()?),
                observed: r.addr()?,
            }),
            CONNECT => Self::Connect { target: r.key()? },
            INCOMING => Self::Incoming {
                circuit: CircuitId(r.take()?),
                from: r.addr()?,
            },
            ACCEPT => Self::Accept {
                circuit: CircuitId(r.take()?),
            },
            STATUS => {
                let [code] = r.take()?;
                Self::Status {
                    code: StatusCode::from_byte(code),
                    retry_after_s: u16::from_be_bytes(r.take()?),
                }
            }
            PING => Self::Ping(u64::from_be_bytes(r.take()?)),
            PONG => Self::Pong(u64::from_be_bytes(r.take()?)),
            DIAL_BACK => Self::DialBack {
                port: u16::from_be_bytes(r.take()?),
                nonce: r.take()?,
            },
            PROBE => Self::Probe { token: r.take()? },
            DIAL_BACK_RESULT => {
                let nonce = r.take()?;
                let [code] = r.take()?;
                Self::DialBackResult {
                    nonce,
                    code: StatusCode::from_byte(code),
                    retry_after_s: u16::from_be_bytes(r.take()?),
                }
            }
            other => return Err(RelayWireError::UnknownType(other)),
        };
        if !r.rest.is_empty() {
            return Err(RelayWireError::Trailing(kind, r.rest.len()));
        }
        Ok(message)
    }
}

struct Reader<'a> {
    kind: u8,
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RelayWireError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(RelayWireError::Truncated(self.kind))?;
        self.rest = rest;
        Ok(*head)
    }

    fn key(&mut self) -> Result<PeerId, RelayWireError> {
        PeerId::from_bytes(self.take()?).map_err(|_| RelayWireError::BadKey)
    }

    fn addr(&mut self) -> Result<SocketAddr, RelayWireError> {
        read_addr(&mut self.rest, Mapped::Refuse).map_err(|e| match e {
            AddrError::Truncated => RelayWireError::Truncated(self.kind),
            AddrError::UnknownFamily(f) => RelayWireError::UnknownFamily(f),
            AddrError::Mapped => RelayWireError::MappedAddress,
        })
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
