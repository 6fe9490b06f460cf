//! The session messages that carry groups over the pairwise sessions: types 10, 11 and 12
//! of `peer::wire` (a peer that predates them skips them, as any unknown type). Pure
//! encode/decode of the whole message, its type byte included; integers big-endian.
//!
//! ```text
//! 10 GroupOp    id (16) | len (2) | op (len <= MAX_OP_BYTES, see op.rs)
//!               acknowledged by Ack(id), like a Chat; the op's signature is checked here
//! 11 GroupChat  id (16) | sent_at_ms (8) | kind (1: 0 text, 1 notice, 2 action) | group (32)
//!               | n (1, 1..=32) | deps (32n, op ids) | len (2) | UTF-8 text (len <= 8192)
//!               acknowledged by Ack(id); `deps`: the sender's heads when it sent it
//! 12 GroupHeads group (32) | n (1, 0..=64) | heads (32n)
//!               "these are my heads": the receiver answers with the GroupOps the sender
//!               lacks, and with its own GroupHeads when it lacks some of these
//! ```

use super::machine::MAX_DEPS;
use super::op::{GroupId, MAX_OP_BYTES, OpError, OpId, SignedOp};
use crate::message::{ChatMessage, MessageId, MessageKind};
use crate::peer::wire::MAX_TEXT;

pub const GROUP_OP: u8 = 10;
pub const GROUP_CHAT: u8 = 11;
pub const GROUP_HEADS: u8 = 12;
/// At most this many heads in one GroupHeads (a group with more sends its latest).
pub const MAX_HEADS: usize = 64;

/// A group session message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupMessage {
    /// An op, with the message id its Ack names.
    Op { id: MessageId, op: SignedOp },
    /// A chat to a group, with its causal context.
    Chat {
        group: GroupId,
        deps: Vec<OpId>,
        message: ChatMessage,
    },
    /// The sender's heads of a group.
    Heads { group: GroupId, heads: Vec<OpId> },
}

/// A group message that cannot be encoded or decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupWireError {
    #[error("not a group message type: {0}")]
    NotGroup(u8),
    #[error("group message type {0} is truncated")]
    Truncated(u8),
    #[error("group message type {0} has {1} trailing bytes")]
    Trailing(u8, usize),
    #[error("an op of {0} bytes, more than {MAX_OP_BYTES}")]
    OpTooLong(usize),
    #[error("bad op: {0}")]
    Op(#[from] OpError),
    #[error("{0} deps, not 1..={MAX_DEPS}")]
    Deps(usize),
    #[error("{0} heads, more than {MAX_HEADS}")]
    TooManyHeads(usize),
    #[error("unknown chat kind {0}")]
    UnknownKind(u8),
    #[error("chat text is {0} bytes, more than {MAX_TEXT}")]
    TextTooLong(usize),
    #[error("chat text is not UTF-8")]
    NotUtf8,
}

impl GroupMessage {
    /// Appends the message, type byte first, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), GroupWireError> {
        match self {
            GroupMessage::Op { id, op } => {
                out.push(GROUP_OP);
                out.extend_from_slice(&id.0);
                // At most MAX_OP_BYTES (SignedOp makes no longer ones).
                out.extend_from_slice(&(op.bytes().len() as u16).to_be_bytes());
                out.extend_from_slice(op.bytes());
            }
            GroupMessage::Chat {
                group,
                deps,
                message,
            } => {
                if deps.is_empty() || deps.len() > MAX_DEPS {
                    return Err(GroupWireError::Deps(deps.len()));
                }
                if message.text.len() > MAX_TEXT {
                    return Err(GroupWireError::TextTooLong(message.text.len()));
                }
                out.push(GROUP_CHAT);
                out.extend_from_slice(&message.id.0);
                out.extend_from_slice(&message.sent_at_ms.to_be_bytes());
                out.push(match message.kind {
                    MessageKind::Text => 0,
                    MessageKind::Notice => 1,
                    MessageKind::Action => 2,
                });
                out.extend_from_slice(&group.0);
                out.push(deps.len() as u8);
                for dep in deps {
                    out.extend_from_slice(&dep.0);
                }
                out.extend_from_slice(&(message.text.len() as u16).to_be_bytes());
                out.extend_from_slice(message.text.as_bytes());
            }
            GroupMessage::Heads { group, heads } => {
                if heads.len() > MAX_HEADS {
                    return Err(GroupWireError::TooManyHeads(heads.len()));
                }
                out.push(GROUP_HEADS);
                out.extend_from_slice(&group.0);
                out.push(heads.len() as u8);
                for head in heads {
                    out.extend_from_slice(&head.0);
                }
            }
        }
        Ok(())
    }

    /// Decodes one message, type byte first (untrusted input).
    pub fn decode(bytes: &[u8]) -> Result<GroupMessage, GroupWireError> {
        let (&kind, body) = bytes.split_first().ok_or(GroupWireError::NotGroup(0))?;
        let mut r = Reader { kind, rest: body };
        let message = match kind {
            GROUP_OP => {
                let id = MessageId(r.take()?);
                let len = usize::from(u16::from_be_bytes(r.take()?));
                if len > MAX_OP_BYTES {
                    return Err(GroupWireError::OpTooLong(len));
                }
                let op = SignedOp::decode(r.slice(len)?)?;
                GroupMessage::Op { id, op }
            }
            GROUP_CHAT => {
                let id = MessageId(r.take()?);
                let sent_at_ms = u64::from_be_bytes(r.take()?);
                let kind = match r.take::<1>()? {
                    [0] => MessageKind::Text,
                    [1] => MessageKind::Notice,
                    [2] => MessageKind::Action,
                    [other] => return Err(GroupWireError::UnknownKind(other)),
                };
                let group = GroupId(r.take()?);
                let [n] = r.take()?;
                let n = usize::from(n);
                if n == 0 || n > MAX_DEPS {
                    return Err(GroupWireError::Deps(n));
                }
                let deps = r.ids(n)?;
                let len = usize::from(u16::from_be_bytes(r.take()?));
                if len > MAX_TEXT {
                    return Err(GroupWireError::TextTooLong(len));
                }
                let text = std::str::from_utf8(r.slice(len)?)
                    .map_err(|_| GroupWireError::NotUtf8)?
                    .to_owned();
                GroupMessage::Chat {
                    group,
                    deps,
                    message: ChatMessage {
                        id,
                        kind,
                        text,
                        sent_at_ms,
                    },
                }
            }
            GROUP_HEADS => {
                let group = GroupId(r.take()?);
                let [n] = r.take()?;
                let n = usize::from(n);
                if n > MAX_HEADS {
                    return Err(GroupWireError::TooManyHeads(n));
                }
                GroupMessage::Heads {
                    group,
                    heads: r.ids(n)?,
                }
            }
            other => return Err(GroupWireError::NotGroup(other)),
        };
        if !r.rest.is_empty() {
            return Err(GroupWireError::Trailing(kind, r.rest.len()));
        }
        Ok(message)
    }
}

struct Reader<'a> {
    kind: u8,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], GroupWireError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(GroupWireError::Truncated(self.kind))?;
        self.rest = rest;
        Ok(*head)
    }

    fn slice(&mut self, n: usize) -> Result<&'a [u8], GroupWireError> {
        if self.rest.len() < n {
            return Err(GroupWireError::Truncated(self.kind));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn ids(&mut self, n: usize) -> Result<Vec<OpId>, GroupWireError> {
        (0..n).map(|_| self.take().map(OpId)).collect()
    }
}
