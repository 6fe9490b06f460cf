//! The messages inside an established session: typed, versioned by the handshake, pure
//! encode/decode.
//!
//! A frame's plaintext carries zero or more messages, each preceded by its length (u16), so
//! that everything queued at once is sealed once (a burst of chats, the acks for a burst).
//! Every message starts with a one-byte type; integers are big-endian. A frame is all or
//! nothing: a receiver decodes every message of it before acting on any (`session.rs`).
//!
//! ```text
//! 1 Chat   id (16) | sent_at_ms (8) | kind (1: 0 text, 1 notice, 2 action) | len (2) | UTF-8 text (len)
//! 2 Ack    id (16)                          the receiver has taken the chat message with this id
//! 3 Ping   nonce (8)                        keepalive; answered by Pong with the same nonce
//! 4 Pong   nonce (8)
//! 5 Close  reason (1: 0 shutdown, 1 duplicate session, 2 idle)   the sender sends nothing more
//! 6 Away   len (2) | UTF-8 reason (len <= 300)   the sender's user is away; empty: back
//!          (this gateway sends at most 200 bytes: its IRC side's AWAYLEN)
//! 7 Upgrade      count (1, <= 4) | count x address   over a relayed session: the sender's
//!          candidate direct addresses (`peer::upgrade`); an address is family (1: 4 for IPv4,
//!          6 for IPv6) | IP (4 or 16) | port (2)
//! 8 UpgradeSync  (empty)             the receiver dials at once (the sender, the session's
//!          initiator, dials half a round trip later, when Sync has arrived)
//! 9 Padding      n bytes (zeros)      nothing: the receiver skips it (version 2 sessions
//!          pad each frame with one, `peer::padding`); any body is valid
//! 10 GroupOp     11 GroupChat     12 GroupHeads: the group messages, encoded and decoded
//!          by `group::wire` (layouts there and in docs/protocol.md); GroupOp and GroupChat
//!          are acknowledged by Ack(id) like a Chat
//! ```
//! A message of an unknown type is skipped (newer peers may add types); a known type with a
//! malformed body is a protocol error that closes the connection.

use std::net::SocketAddr;

use crate::directory::record::{AddrError, Mapped, push_addr, read_addr};

use crate::group::wire::{GROUP_CHAT, GROUP_HEADS, GROUP_OP, GroupMessage, GroupWireError};
use crate::message::{ChatMessage, MessageId, MessageKind, PeerMessage};

/// Longest chat text, in bytes, one message may carry.
pub const MAX_TEXT: usize = 8192;
/// Longest away reason, in bytes (longer ones are cut at a character boundary when sent).
pub const MAX_AWAY: usize = 300;

const CHAT: u8 = 1;
const ACK: u8 = 2;
const PING: u8 = 3;
const PONG: u8 = 4;
const CLOSE: u8 = 5;
const AWAY: u8 = 6;
const UPGRADE: u8 = 7;
const UPGRADE_SYNC: u8 = 8;
const PADDING: u8 = 9;

/// The longest body of a [`WireMessage::Padding`]: the message (its type byte and body)
/// must fit its u16 length prefix.
pub const MAX_PADDING: usize = u16::MAX as usize - 1;
/// Bytes a [`WireMessage::Padding`] adds to a frame beyond its body: the length prefix and
/// the type byte.
pub const PADDING_OVERHEAD: usize = 3;

/// At most this many candidate addresses in one [`WireMessage::Upgrade`].
pub const MAX_UPGRADE_ADDRS: usize = 4;

/// Why a session is closed, as told to the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Shutdown,
    /// Both ends dialled at once; this connection lost the tie-break.
    Duplicate,
    Idle,
}

/// An away reason as sent: control characters become spaces, and it is cut to
/// [`MAX_AWAY`] bytes at a character boundary.
pub fn clip_away(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_AWAY));
    for c in reason.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if out.len() + c.len_utf8() > MAX_AWAY {
            break;
        }
        out.push(c);
    }
    out
}

/// Appends `message` to the plaintext of a frame being built: its length (u16), then it.
pub fn push(frame: &mut Vec<u8>, message: &WireMessage) -> Result<(), WireError> {
    let start = frame.len();
    frame.extend_from_slice(&[0, 0]);
    if let Err(e) = message.encode(frame) {
        frame.truncate(start);
        return Err(e);
    }
    // A message is at most a GroupChat of 1 + 16 + 8 + 1 + 32 + 1 + 32 * 32 + 2 + MAX_TEXT
    // bytes, well below u16::MAX, or
    // Padding of at most 1 + MAX_PADDING = u16::MAX bytes.
    let len = (frame.len() - start - 2) as u16;
    frame[start..start + 2].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Bytes [`push`] adds for `message`.
pub fn pushed_len(message: &WireMessage) -> usize {
    2 + match message {
        WireMessage::Chat(m) => 1 + 16 + 8 + 1 + 2 + m.text.len(),
        WireMessage::Ack(_) => 1 + 16,
        WireMessage::Ping(_) | WireMessage::Pong(_) => 1 + 8,
        WireMessage::Close(_) => 2,
        WireMessage::Away(reason) => 1 + 2 + reason.len(),
        WireMessage::Upgrade(addrs) => {
            2 + addrs
                .iter()
                .map(|a| if a.is_ipv4() { 1 + 4 + 2 } else { 1 + 16 + 2 })
                .sum::<usize>()
        }
        WireMessage::UpgradeSync => 1,
        WireMessage::Padding(n) => 1 + n,
        WireMessage::Group(GroupMessage::Op { op, .. }) => 1 + 16 + 2 + op.bytes().len(),
        WireMessage::Group(GroupMessage::Chat { deps, message, .. }) => {
            1 + 16 + 8 + 1 + 32 + 1 + 32 * deps.len() + 2 + message.text.len()
        }
        WireMessage::Group(GroupMessage::Heads { heads, .. }) => 1 + 32 + 1 + 32 * heads.len(),
    }
}

/// The messages of a frame's plaintext, in order. A message of an unknown type comes out
/// as `Err(WireError::UnknownType)` and the ones after it still come out; a length prefix
/// that runs past the end is an error that ends the iteration.
pub fn messages(frame: &[u8]) -> impl Iterator<Item = Result<WireMessage, WireError>> + '_ {
    let mut rest = frame;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            rest = &[];
            return Some(Err(WireError::BadLength));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            rest = &[];
            return Some(Err(WireError::BadLength));
        }
        let (message, tail) = tail.split_at(len);
        rest = tail;
        Some(WireMessage::decode(message))
    })
}

/// One session message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireMessage {
    Chat(ChatMessage),
    Ack(MessageId),
    Ping(u64),
    Pong(u64),
    Close(CloseReason),
    /// The sender's user is away with this reason; empty: back.
    Away(String),
    /// Over a relayed session: where the sender can be reached directly (at most
    /// [`MAX_UPGRADE_ADDRS`]); see `peer::upgrade`.
    Upgrade(Vec<SocketAddr>),
    /// The session's initiator dials now: the other side dials at once.
    UpgradeSync,
    /// This many bytes of padding (zeros when sent, anything when read), which the
    /// receiver skips: they only change the frame's length.
    Padding(usize),
    /// A group message (types 10 to 12, `group::wire`).
    Group(GroupMessage),
}

impl From<PeerMessage> for WireMessage {
    fn from(message: PeerMessage) -> WireMessage {
        match message {
            PeerMessage::Chat(m) => WireMessage::Chat(m),
            PeerMessage::GroupChat {
                group,
                deps,
                message,
            } => WireMessage::Group(GroupMessage::Chat {
                group,
                deps,
                message,
            }),
            PeerMessage::GroupOp { id, op } => WireMessage::Group(GroupMessage::Op { id, op }),
        }
    }
}

impl WireMessage {
    /// The message as the hub carries it, when it is one the receiver stores and
    /// acknowledges (a chat, a group chat or a group op); itself otherwise. (Both sides are
    /// the message moved, not an error: their size is the message's.)
    #[allow(clippy::result_large_err)]
    pub fn into_peer_message(self) -> Result<PeerMessage, WireMessage> {
        match self {
            WireMessage::Chat(m) => Ok(PeerMessage::Chat(m)),
            WireMessage::Group(GroupMessage::Chat {
                group,
                deps,
                message,
            }) => Ok(PeerMessage::GroupChat {
                group,
                deps,
                message,
            }),
            WireMessage::Group(GroupMessage::Op { id, op }) => Ok(PeerMessage::GroupOp { id, op }),
            other => Err(other),
        }
    }
}

/// A session message that could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("empty message")]
    Empty,
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("message type {0} is truncated")]
    Truncated(u8),
    #[error("message type {0} has {1} trailing bytes")]
    Trailing(u8, usize),
    #[error("unknown chat kind {0}")]
    UnknownKind(u8),
    #[error("unknown close reason {0}")]
    UnknownReason(u8),
    #[error("chat text is {0} bytes, more than {MAX_TEXT}")]
    TextTooLong(usize),
    #[error("away reason is {0} bytes, more than {MAX_AWAY}")]
    AwayTooLong(usize),
    #[error("chat text is not UTF-8")]
    NotUtf8,
    #[error("a message length runs past the end of its frame")]
    BadLength,
    #[error("{0} upgrade addresses, more than {MAX_UPGRADE_ADDRS}")]
    TooManyAddrs(usize),
    #[error("unknown address family {0}")]
    UnknownFamily(u8),
    #[error("an IPv4-mapped IPv6 address (IPv4 is written as family 4)")]
    MappedAddress,
    #[error("{0} bytes of padding, more than {MAX_PADDING}")]
    PaddingTooLong(usize),
    #[error("group message: {0}")]
    Group(#[from] GroupWireError),
}

impl WireMessage {
    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            WireMessage::Chat(m) => {
                if m.text.len() > MAX_TEXT {
                    return Err(WireError::TextTooLong(m.text.len()));
                }
                out.push(CHAT);
                out.extend_from_slice(&m.id.0);
                out.extend_from_slice(&m.sent_at_ms.to_be_bytes());
                out.push(match m.kind {
                    MessageKind::Text => 0,
                    MessageKind::Notice => 1,
                    MessageKind::Action => 2,
                });
                out.extend_from_slice(&(m.text.len() as u16).to_be_bytes());
                out.extend_from_slice(m.text.as_bytes());
            }
            WireMessage::Ack(id) => {
                out.push(ACK);
                out.extend_from_slice(&id.0);
            }
            WireMessage::Ping(n) => {
                out.push(PING);
                out.extend_from_slice(&n.to_be_bytes());
            }
            WireMessage::Pong(n) => {
                out.push(PONG);
                out.extend_from_slice(&n.to_be_bytes());
            }
            WireMessage::Close(reason) => {
                out.push(CLOSE);
                out.push(match reason {
                    CloseReason::Shutdown => 0,
                    CloseReason::Duplicate => 1,
                    CloseReason::Idle => 2,
                });
            }
            WireMessage::Away(reason) => {
                if reason.len() > MAX_AWAY {
                    return Err(WireError::AwayTooLong(reason.len()));
                }
                out.push(AWAY);
                out.extend_from_slice(&(reason.len() as u16).to_be_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
            WireMessage::Upgrade(addrs) => {
                if addrs.len() > MAX_UPGRADE_ADDRS {
                    return Err(WireError::TooManyAddrs(addrs.len()));
                }
                out.push(UPGRADE);
                out.push(addrs.len() as u8);
                for addr in addrs {
                    push_addr(out, addr);
                }
            }
            WireMessage::UpgradeSync => out.push(UPGRADE_SYNC),
            WireMessage::Padding(n) => {
                if *n > MAX_PADDING {
                    return Err(WireError::PaddingTooLong(*n));
                }
                out.push(PADDING);
                out.resize(out.len() + n, 0);
            }
            WireMessage::Group(message) => message.encode(out)?,
        }
        Ok(())
    }

    /// Decodes one message (untrusted input).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (&kind, body) = bytes.split_first().ok_or(WireError::Empty)?;
        let mut r = Reader { kind, rest: body };
        let message = match kind {
            CHAT => {
                let id = MessageId(r.take()?);
                let sent_at_ms = u64::from_be_bytes(r.take()?);
                let [k] = r.take()?;
                let kind = match k {
                    0 => MessageKind::Text,
                    1 => MessageKind::Notice,
                    2 => MessageKind::Action,
                    other => return Err(WireError::UnknownKind(other)),
                };
                let len = usize::from(u16::from_be_bytes(r.take()?));
                if len > MAX_TEXT {
                    return Err(WireError::TextTooLong(len));
                }
                let text = r.take_slice(len)?;
                let text = std::str::from_utf8(text)
                    .map_err(|_| WireError::NotUtf8)?
                    .to_owned();
                WireMessage::Chat(ChatMessage {
                    id,
                    kind,
                    text,
                    sent_at_ms,
                })
            }
            ACK => WireMessage::Ack(MessageId(r.take()?)),
            PING => WireMessage::Ping(u64::from_be_bytes(r.take()?)),
            PONG => WireMessage::Pong(u64::from_be_bytes(r.take()?)),
            CLOSE => WireMessage::Close(match r.take::<1>()? {
                [0] => CloseReason::Shutdown,
                [1] => CloseReason::Duplicate,
                [2] => CloseReason::Idle,
                [other] => return Err(WireError::UnknownReason(other)),
            }),
            AWAY => {
                let len = usize::from(u16::from_be_bytes(r.take()?));
                if len > MAX_AWAY {
                    return Err(WireError::AwayTooLong(len));
                }
                let reason =
                    std::str::from_utf8(r.take_slice(len)?).map_err(|_| WireError::NotUtf8)?;
                WireMessage::Away(reason.to_owned())
            }
            UPGRADE => {
                let [count] = r.take()?;
                let count = usize::from(count);
                if count > MAX_UPGRADE_ADDRS {
                    return Err(WireError::TooManyAddrs(count));
                }
                let mut addrs = Vec::with_capacity(count);
                for _ in 0..count {
                    let addr = read_addr(&mut r.rest, Mapped::Refuse).map_err(|e| match e {
                        AddrError::Truncated => WireError::Truncated(kind),
                        AddrError::UnknownFamily(f) => WireError::UnknownFamily(f),
                        AddrError::Mapped => WireError::MappedAddress,
                    })?;
                    addrs.push(addr);
                }
                WireMessage::Upgrade(addrs)
            }
            UPGRADE_SYNC => WireMessage::UpgradeSync,
            // Its content is not looked at (a sender writes zeros).
            PADDING => WireMessage::Padding(std::mem::take(&mut r.rest).len()),
            // Decoded whole, type byte included, by `group::wire` (trailing bytes refused).
            GROUP_OP | GROUP_CHAT | GROUP_HEADS => {
                return Ok(WireMessage::Group(GroupMessage::decode(bytes)?));
            }
            other => return Err(WireError::UnknownType(other)),
        };
        if !r.rest.is_empty() {
            return Err(WireError::Trailing(kind, r.rest.len()));
        }
        Ok(message)
    }
}

struct Reader<'a> {
    kind: u8,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(WireError::Truncated(self.kind))?;
        self.rest = rest;
        Ok(*head)
    }

    fn take_slice(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated(self.kind));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
