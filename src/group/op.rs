//! A group's signed changes ("ops"): what each says, its canonical byte encoding, and the
//! author's Ed25519 signature over it. Pure: values in, bytes out, and back; the only
//! checks here are the ones an op passes alone (bounds, canonical form, signature). Whether
//! its author was allowed to make it is the resolver's question (`resolve.rs`).
//!
//! ```text
//! offset size  field (integers big-endian)
//! 0      1     version = 1
//! 1      32    group id
//! 33     32    author (Ed25519 public key, the author's nick's 32 bytes)
//! 65     8     lamport: 0 for Create, else 1 + the largest lamport of the parents
//! 73     8     created_at_ms: the author's clock (shown, never used to order)
//! 81     1     n, the number of parents: 0 for Create, else 1..=32
//! 82     32n   parents: op ids, strictly ascending (sorted, no repeats)
//! 82+32n 1     kind, then its body:
//!              0 Create  nonce (16) | modes (1) | name_len (1) | name (1..=40, UTF-8)
//!              1 Invite  peer (32)
//!              2 Join    (empty)
//!              3 Part    reason_len (1) | reason (UTF-8)
//!              4 Kick    peer (32) | reason_len (1) | reason (UTF-8)
//!              5 Op      peer (32)
//!              6 Deop    peer (32)
//!              7 Topic   len (2) | text (UTF-8, 0..=390; empty clears the topic)
//!              8 Mode    set (1) | clear (1)      bits: 1 +i, 2 +t, 4 +m
//! end-64 64    signature: Ed25519(author, "disims v1 group op" || every byte before it)
//! ```
//! The op's id is SHA-256("disims v1 group op id" || every byte before the signature): a
//! second signature over the same content (Ed25519 signers may draw another nonce) is the
//! same op. The group id is SHA-256("disims v1 group id" || founder || created_at_ms ||
//! nonce || modes || name_len || name): the Create's content, so the Create proves who
//! founded the group, nobody else can found one with that id, and its founder cannot make
//! a second, different Create for it.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::identity::PeerId;

/// The only encoding version so far.
pub const OP_VERSION: u8 = 1;
/// Domain separation of the author's signature (unlike the handshake's, the relay proof's
/// and BEP 44's signed messages from their first bytes on).
pub const SIGN_LABEL: &[u8] = b"disims v1 group op";
/// Domain separation of an op's id.
pub const ID_LABEL: &[u8] = b"disims v1 group op id";
/// Domain separation of a group's id.
pub const GROUP_ID_LABEL: &[u8] = b"disims v1 group id";

/// At most this many parents (causal dependencies) per op.
pub const MAX_PARENTS: usize = 32;
/// Longest group name, in bytes (the suggested channel name, without its `#`).
pub const MAX_NAME: usize = 40;
/// Longest topic, in bytes (IRC's usual TOPICLEN).
pub const MAX_TOPIC: usize = 390;
/// Longest part or kick reason, in bytes.
pub const MAX_REASON: usize = 255;
/// Fixed bytes of every op: version, group, author, lamport, time, parent count, kind,
/// signature.
const FIXED: usize = 1 + 32 + 32 + 8 + 8 + 1 + 1 + 64;
/// The longest encoded op: every parent and the longest body (a topic).
pub const MAX_OP_BYTES: usize = FIXED + 32 * MAX_PARENTS + 2 + MAX_TOPIC;

const CREATE: u8 = 0;
const INVITE: u8 = 1;
const JOIN: u8 = 2;
const PART: u8 = 3;
const KICK: u8 = 4;
const OP: u8 = 5;
const DEOP: u8 = 6;
const TOPIC: u8 = 7;
const MODE: u8 = 8;

/// A group's id: SHA-256 of its founder and a random nonce (see the module header).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub [u8; 32]);

/// An op's id: SHA-256 of its signed content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub [u8; 32]);

impl GroupId {
    /// The id of the group whose Create op has this content: every field of the Create
    /// but the constant ones (version, lamport 0, no parents) and the id itself. So a
    /// founder cannot make two different Create ops for one group.
    pub fn derive(
        founder: &PeerId,
        created_at_ms: u64,
        nonce: &[u8; 16],
        modes: Modes,
        name: &str,
    ) -> GroupId {
        let mut h = Sha256::new();
        h.update(GROUP_ID_LABEL);
        h.update(founder.as_bytes());
        h.update(created_at_ms.to_be_bytes());
        h.update(nonce);
        h.update([modes.bits()]);
        // Names are at most MAX_NAME bytes (checked before an id is compared).
        h.update([name.len().min(255) as u8]);
        h.update(name.as_bytes());
        GroupId(h.finalize().into())
    }
}

fn short_hex(bytes: &[u8]) -> String {
    bytes[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", short_hex(&self.0))
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpId({})", short_hex(&self.0))
    }
}

/// A group's modes, as IRC names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Modes {
    /// +i: only operators invite.
    pub invite_only: bool,
    /// +t: only operators set the topic.
    pub topic_ops: bool,
    /// +m: only operators speak.
    pub moderated: bool,
}

impl Modes {
    /// The mode bits: 1 +i, 2 +t, 4 +m.
    pub fn bits(self) -> u8 {
        u8::from(self.invite_only) | u8::from(self.topic_ops) << 1 | u8::from(self.moderated) << 2
    }

    /// The modes of `bits`, or `None` for an unknown bit.
    pub fn from_bits(bits: u8) -> Option<Modes> {
        (bits & !7 == 0).then_some(Modes {
            invite_only: bits & 1 != 0,
            topic_ops: bits & 2 != 0,
            moderated: bits & 4 != 0,
        })
    }

    /// These modes with `set` added and `clear` removed.
    pub fn changed(self, set: Modes, clear: Modes) -> Modes {
        Modes::from_bits((self.bits() | set.bits()) & !clear.bits()).unwrap_or_default()
    }
}

/// What an op does: its kind and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Founds the group (the one op without parents): the founder is its first member and
    /// operator.
    Create {
        nonce: [u8; 16],
        modes: Modes,
        name: String,
    },
    /// Invites a peer: it may then Join.
    Invite { peer: PeerId },
    /// The author accepts an invitation.
    Join,
    /// The author leaves (or declines an invitation).
    Part { reason: String },
    /// Removes a member, or withdraws an invitation.
    Kick { peer: PeerId, reason: String },
    /// Makes a member an operator.
    Op { peer: PeerId },
    /// Takes a member's operator status (the author's own too).
    Deop { peer: PeerId },
    /// Sets the topic; empty clears it.
    Topic { text: String },
    /// Sets and clears modes.
    Mode { set: Modes, clear: Modes },
}

impl Action {
    /// The peer the action is about, when it is about another peer than its author.
    pub fn target(&self) -> Option<PeerId> {
        match self {
            Action::Invite { peer }
            | Action::Kick { peer, .. }
            | Action::Op { peer }
            | Action::Deop { peer } => Some(*peer),
            _ => None,
        }
    }
}

/// The content of an op, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub group: GroupId,
    pub author: PeerId,
    pub lamport: u64,
    pub created_at_ms: u64,
    /// Strictly ascending.
    pub parents: Vec<OpId>,
    pub action: Action,
}

/// Why bytes are not an op, or an op cannot be encoded or signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("an op of {0} bytes, more than {MAX_OP_BYTES}")]
    TooLong(usize),
    #[error("the op is truncated")]
    Truncated,
    #[error("{0} bytes follow the op's signature")]
    Trailing(usize),
    #[error("unknown op version {0}")]
    UnknownVersion(u8),
    #[error("unknown op kind {0}")]
    UnknownKind(u8),
    #[error("a key in the op is not a valid public key")]
    BadKey,
    #[error("{0} parents, more than {MAX_PARENTS}")]
    TooManyParents(usize),
    #[error("the parents are not strictly ascending")]
    ParentsNotSorted,
    #[error("a Create op needs lamport 0 and no parents, any other op parents and lamport >= 1")]
    BadGenesis,
    #[error("the group id is not derived from the Create op's content")]
    BadGroupId,
    #[error("a text of {len} bytes, more than {max}")]
    TextTooLong { len: usize, max: usize },
    #[error("a text is not UTF-8, or holds NUL, CR or LF")]
    BadText,
    #[error("the group name is empty or holds a space, comma, colon or control character")]
    BadName,
    #[error("unknown mode bits, the same mode set and cleared, or no mode at all")]
    BadModes,
    #[error("an op about its own author (invite, kick or op of oneself)")]
    SelfTarget,
    #[error("the signing key is not the op's author")]
    WrongSigner,
    #[error("the signature does not verify")]
    BadSignature,
}

/// An op with its author's signature, checked: the only form in which ops travel and are
/// kept. `bytes` is its canonical encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedOp {
    op: Op,
    id: OpId,
    bytes: Vec<u8>,
}

impl fmt::Debug for SignedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedOp")
            .field("id", &self.id)
            .field("author", &self.op.author.short())
            .field("lamport", &self.op.lamport)
            .field("action", &self.op.action)
            .finish()
    }
}

impl SignedOp {
    /// Encodes and signs `op` with `key`, which must be its author's.
    pub fn sign(op: Op, key: &SigningKey) -> Result<SignedOp, OpError> {
        if PeerId::of(key) != op.author {
            return Err(OpError::WrongSigner);
        }
        check(&op)?;
        let mut bytes = Vec::with_capacity(MAX_OP_BYTES);
        encode_content(&op, &mut bytes);
        let signature = key.sign(&signed_message(&bytes));
        let id = op_id(&bytes);
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(SignedOp { op, id, bytes })
    }

    /// Decodes an op from untrusted bytes and verifies its signature.
    pub fn decode(bytes: &[u8]) -> Result<SignedOp, OpError> {
        if bytes.len() > MAX_OP_BYTES {
            return Err(OpError::TooLong(bytes.len()));
        }
        let mut r = Reader(bytes);
        let op = decode_content(&mut r)?;
        let signature: [u8; 64] = r.take()?;
        if !r.0.is_empty() {
            return Err(OpError::Trailing(r.0.len()));
        }
        check(&op)?;
        let content = &bytes[..bytes.len() - 64];
        op.author
            .verifying_key()
            .verify_strict(&signed_message(content), &Signature::from_bytes(&signature))
            .map_err(|_| OpError::BadSignature)?;
        Ok(SignedOp {
            id: op_id(content),
            op,
            bytes: bytes.to_vec(),
        })
    }

    pub fn op(&self) -> &Op {
        &self.op
    }

    pub fn id(&self) -> OpId {
        self.id
    }

    /// The canonical encoding, signature included: what goes on the wire and to disk.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn author(&self) -> PeerId {
        self.op.author
    }
}

fn signed_message(content: &[u8]) -> Vec<u8> {
    [SIGN_LABEL, content].concat()
}

fn op_id(content: &[u8]) -> OpId {
    let mut h = Sha256::new();
    h.update(ID_LABEL);
    h.update(content);
    OpId(h.finalize().into())
}

/// The rules an op obeys on its own, for encoding and decoding alike.
fn check(op: &Op) -> Result<(), OpError> {
    if op.parents.len() > MAX_PARENTS {
        return Err(OpError::TooManyParents(op.parents.len()));
    }
    if op.parents.windows(2).any(|w| w[0] >= w[1]) {
        return Err(OpError::ParentsNotSorted);
    }
    let create = matches!(op.action, Action::Create { .. });
    if create != op.parents.is_empty() || create != (op.lamport == 0) {
        return Err(OpError::BadGenesis);
    }
    match &op.action {
        Action::Create { nonce, modes, name } => {
            check_name(name)?;
            if GroupId::derive(&op.author, op.created_at_ms, nonce, *modes, name) != op.group {
                return Err(OpError::BadGroupId);
            }
        }
        Action::Part { reason } | Action::Kick { reason, .. } => check_text(reason, MAX_REASON)?,
        Action::Topic { text } => check_text(text, MAX_TOPIC)?,
        Action::Mode { set, clear } => {
            if set.bits() & clear.bits() != 0 || set.bits() | clear.bits() == 0 {
                return Err(OpError::BadModes);
            }
        }
        Action::Invite { .. } | Action::Join | Action::Op { .. } | Action::Deop { .. } => {}
    }
    if matches!(
        op.action,
        Action::Invite { .. } | Action::Kick { .. } | Action::Op { .. }
    ) && op.action.target() == Some(op.author)
    {
        return Err(OpError::SelfTarget);
    }
    Ok(())
}

fn check_text(text: &str, max: usize) -> Result<(), OpError> {
    if text.len() > max {
        return Err(OpError::TextTooLong {
            len: text.len(),
            max,
        });
    }
    if text.contains(['\0', '\r', '\n']) {
        return Err(OpError::BadText);
    }
    Ok(())
}

/// A group name: 1..=[`MAX_NAME`] bytes, no space, comma, colon or control character (it
/// becomes part of an IRC channel name).
pub fn check_name(name: &str) -> Result<(), OpError> {
    if name.len() > MAX_NAME {
        return Err(OpError::TextTooLong {
            len: name.len(),
            max: MAX_NAME,
        });
    }
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | ',' | ':'))
    {
        return Err(OpError::BadName);
    }
    Ok(())
}

fn encode_content(op: &Op, out: &mut Vec<u8>) {
    out.push(OP_VERSION);
    out.extend_from_slice(&op.group.0);
    out.extend_from_slice(op.author.as_bytes());
    out.extend_from_slice(&op.lamport.to_be_bytes());
    out.extend_from_slice(&op.created_at_ms.to_be_bytes());
    // At most MAX_PARENTS (checked first).
    out.push(op.parents.len() as u8);
    for parent in &op.parents {
        out.extend_from_slice(&parent.0);
    }
    // Lengths below are bounded by `check`: names 40, reasons 255, topics 390 bytes.
    match &op.action {
        Action::Create { nonce, modes, name } => {
            out.push(CREATE);
            out.extend_from_slice(nonce);
            out.push(modes.bits());
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        Action::Invite { peer } => push_peer(out, INVITE, peer),
        Action::Join => out.push(JOIN),
        Action::Part { reason } => {
            out.push(PART);
            out.push(reason.len() as u8);
            out.extend_from_slice(reason.as_bytes());
        }
        Action::Kick { peer, reason } => {
            push_peer(out, KICK, peer);
            out.push(reason.len() as u8);
            out.extend_from_slice(reason.as_bytes());
        }
        Action::Op { peer } => push_peer(out, OP, peer),
        Action::Deop { peer } => push_peer(out, DEOP, peer),
        Action::Topic { text } => {
            out.push(TOPIC);
            out.extend_from_slice(&(text.len() as u16).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        Action::Mode { set, clear } => {
            out.push(MODE);
            out.push(set.bits());
            out.push(clear.bits());
        }
    }
}

fn push_peer(out: &mut Vec<u8>, kind: u8, peer: &PeerId) {
    out.push(kind);
    out.extend_from_slice(peer.as_bytes());
}

fn decode_content(r: &mut Reader<'_>) -> Result<Op, OpError> {
    let [version] = r.take()?;
    if version != OP_VERSION {
        return Err(OpError::UnknownVersion(version));
    }
    let group = GroupId(r.take()?);
    let author = r.peer()?;
    let lamport = u64::from_be_bytes(r.take()?);
    let created_at_ms = u64::from_be_bytes(r.take()?);
    let [n] = r.take()?;
    let n = usize::from(n);
    if n > MAX_PARENTS {
        return Err(OpError::TooManyParents(n));
    }
    let parents = (0..n)
        .map(|_| r.take().map(OpId))
        .collect::<Result<Vec<_>, _>>()?;
    let [kind] = r.take()?;
    let action = match kind {
        CREATE => {
            let nonce = r.take()?;
            let [bits] = r.take()?;
            let modes = Modes::from_bits(bits).ok_or(OpError::BadModes)?;
            let [len] = r.take()?;
            let name = r.text(usize::from(len))?;
            Action::Create { nonce, modes, name }
        }
        INVITE => Action::Invite { peer: r.peer()? },
        JOIN => Action::Join,
        PART => {
            let [len] = r.take()?;
            Action::Part {
                reason: r.text(usize::from(len))?,
            }
        }
        KICK => {
            let peer = r.peer()?;
            let [len] = r.take()?;
            Action::Kick {
                peer,
                reason: r.text(usize::from(len))?,
            }
        }
        OP => Action::Op { peer: r.peer()? },
        DEOP => Action::Deop { peer: r.peer()? },
        TOPIC => {
            let len = usize::from(u16::from_be_bytes(r.take()?));
            if len > MAX_TOPIC {
                return Err(OpError::TextTooLong {
                    len,
                    max: MAX_TOPIC,
                });
            }
            Action::Topic { text: r.text(len)? }
        }
        MODE => {
            let [set, clear] = r.take()?;
            Action::Mode {
                set: Modes::from_bits(set).ok_or(OpError::BadModes)?,
                clear: Modes::from_bits(clear).ok_or(OpError::BadModes)?,
            }
        }
        other => return Err(OpError::UnknownKind(other)),
    };
    Ok(Op {
        group,
        author,
        lamport,
        created_at_ms,
        parents,
        action,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], OpError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(OpError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    fn peer(&mut self) -> Result<PeerId, OpError> {
        PeerId::from_bytes(self.take()?).map_err(|_| OpError::BadKey)
    }

    fn text(&mut self, len: usize) -> Result<String, OpError> {
        if self.0.len() < len {
            return Err(OpError::Truncated);
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        let text = std::str::from_utf8(head).map_err(|_| OpError::BadText)?;
        Ok(text.to_owned())
    }
}

#[cfg(test)]
#[path = "op_tests.rs"]
mod tests;
