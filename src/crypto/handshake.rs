//! The handshake state machine (SIGMA-I in the TLS 1.3 style), IO-free and typestate-driven:
//! [`Initiator`] -> msg1 -> [`Responder`] -> msg2 -> [`Initiator::read_msg2`] -> msg3 ->
//! [`AwaitingMsg3`] -> [`SessionKeys`]. Each state is consumed by its transition (as in rustls),
//! so a state can never process two messages.
//!
//! Byte layouts, key schedule and check order are specified in docs/protocol.md ("Handshake").

use std::fmt;

use crypto_secretbox::{AeadInPlace, Tag, XSalsa20Poly1305};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};

use super::PROTOCOL_VERSION;
use super::frame::{FrameOpener, FrameSealer, TAG_LEN, nonce};
use super::kdf::{
    INFO_DATA_I2R, INFO_DATA_R2I, INFO_HS_INITIATOR, INFO_HS_RESPONDER, LABEL, PROOF_INITIATOR,
    PROOF_LABEL_LEN, PROOF_RESPONDER, Schedule, hash,
};
use super::obfs::LengthMask;

/// First bytes of msg1.
pub const MAGIC: &[u8; 4] = b"DSMS";
/// msg1 body: MAGIC(4) || version u16 BE (2) || e_i (32).
pub const MSG1_LEN: usize = 4 + 2 + 32;
/// msg2 body: e_r (32) || secretbox(R_pub(32) || sig_r(64)).
pub const MSG2_LEN: usize = 32 + BOX_LEN;
/// msg3 body: secretbox(I_pub(32) || sig_i(64)).
pub const MSG3_LEN: usize = BOX_LEN;

/// Plaintext of the identity boxes in msg2 and msg3: an ed25519 public key and a signature.
pub(super) const PROOF_LEN: usize = 32 + 64;
/// An identity box without padding.
pub(super) const BOX_LEN: usize = TAG_LEN + PROOF_LEN;
/// Length of msg1's fixed prefix (magic and version), checked before the exact length so
/// that a future version with a longer msg1 is reported as `UnsupportedVersion`.
const MSG1_PREFIX_LEN: usize = 6;

/// Which handshake message an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeMessage {
    Msg1,
    Msg2,
    Msg3,
}

impl fmt::Display for HandshakeMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Msg1 => "msg1",
            Self::Msg2 => "msg2",
            Self::Msg3 => "msg3",
        })
    }
}

/// Why a handshake failed. Every variant means: close the connection, send nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("{message} has {found} bytes, expected {expected}")]
    WrongLength {
        message: HandshakeMessage,
        expected: usize,
        found: usize,
    },
    #[error("msg1 does not start with the DiSIMS magic (not a DiSIMS peer)")]
    BadMagic,
    #[error("peer speaks protocol version {0}, we speak version {PROTOCOL_VERSION}")]
    UnsupportedVersion(u16),
    #[error("{0}: peer's ephemeral key is low-order (non-contributory X25519 result)")]
    NonContributory(HandshakeMessage),
    #[error("{0}: handshake box failed authentication (tampered, or not for this handshake)")]
    Decrypt(HandshakeMessage),
    #[error(
        "{0}: the peer's identity key is not the canonical encoding of an ed25519 key of \
         large order"
    )]
    BadIdentityKey(HandshakeMessage),
    #[error("{0}: the peer's signature over the transcript does not verify")]
    BadSignature(HandshakeMessage),
    #[error(
        "msg1 does not prove knowledge of our key (a probe, a replay, a dialler that \
         expected another key, or a clock off by more than an hour)"
    )]
    NotForUs,
    #[error("{0}: {1} bytes of padding (at most {max} allowed)", max = super::handshake_v2::MAX_PAD)]
    Padding(HandshakeMessage, usize),
    #[error(
        "dialled key {} but the responder proved key {}",
        hex(expected),
        hex(found)
    )]
    WrongPeer {
        /// The ed25519 public key we dialled.
        expected: [u8; 32],
        /// The ed25519 public key that answered and proved possession of its secret key.
        found: [u8; 32],
    },
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a completed handshake yields, on both ends.
pub struct SessionKeys {
    /// The peer's proven ed25519 identity.
    pub peer: VerifyingKey,
    /// Seals our frames (our sending key).
    pub sealer: FrameSealer,
    /// Opens the peer's frames (the peer's sending key).
    pub opener: FrameOpener,
    /// th3, the hash of the whole handshake: a public session identifier.
    pub transcript_hash: [u8; 32],
    /// The handshake's protocol version (1: plain records; 2: masked lengths).
    pub version: u16,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("peer", &hex(self.peer.as_bytes()))
            .field("sealer", &self.sealer)
            .field("opener", &self.opener)
            .field("transcript_hash", &hex(&self.transcript_hash))
            .field("version", &self.version)
            .finish()
    }
}

/// The dialling side, after sending msg1 and while waiting for msg2.
pub struct Initiator {
    identity: SigningKey,
    expected_peer: VerifyingKey,
    ephemeral: StaticSecret,
    msg1: [u8; MSG1_LEN],
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator")
            .field("expected_peer", &hex(self.expected_peer.as_bytes()))
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Starts a handshake towards `expected_peer`; returns the state and the msg1 body.
    ///
    /// `ephemeral` = 32 fresh random bytes from the caller (tests pass fixed bytes).
    pub fn new(
        identity: &SigningKey,
        expected_peer: &VerifyingKey,
        ephemeral: [u8; 32],
    ) -> (Initiator, Vec<u8>) {
        let ephemeral = StaticSecret::from(ephemeral);
        let e_i = PublicKey::from(&ephemeral);
        let mut msg1 = [0u8; MSG1_LEN];
        msg1[..4].copy_from_slice(MAGIC);
        msg1[4..6].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        msg1[6..].copy_from_slice(e_i.as_bytes());
        let state = Initiator {
            identity: identity.clone(),
            expected_peer: *expected_peer,
            ephemeral,
            msg1,
        };
        (state, msg1.to_vec())
    }

    /// Processes msg2; on success returns the msg3 body and the session keys.
    pub fn read_msg2(self, msg2: &[u8]) -> Result<(Vec<u8>, SessionKeys), HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg2;
        let msg2: &[u8; MSG2_LEN] = msg2.try_into().map_err(|_| HandshakeError::WrongLength {
            message: M,
            expected: MSG2_LEN,
            found: msg2.len(),
        })?;
        let (e_r, sealed) = msg2.split_at(32);
        let e_r: [u8; 32] = e_r.try_into().map_err(|_| HandshakeError::Decrypt(M))?;
        let dh = contributory(self.ephemeral.diffie_hellman(&PublicKey::from(e_r)), M)?;
        let th1 = hash(&[LABEL, &self.msg1, &e_r]);
        let schedule = Schedule::new(&th1, dh.as_bytes());
        let k_hs_r = schedule.key(INFO_HS_RESPONDER);
        let k_hs_i = schedule.key(INFO_HS_INITIATOR);

        let (responder, sig_r) = open_proof(&k_hs_r.cipher(), sealed, M)?;
        verify(&responder, PROOF_RESPONDER, &th1, &sig_r, M)?;
        if responder != self.expected_peer {
            return Err(HandshakeError::WrongPeer {
                expected: self.expected_peer.to_bytes(),
                found: responder.to_bytes(),
            });
        }

        let th2 = hash(&[&th1, msg2]);
        let msg3 = seal_proof(&k_hs_i.cipher(), &self.identity, PROOF_INITIATOR, &th2);
        let th3 = hash(&[&th2, &msg3]);
        let keys = session_keys(responder, &dh, th3, Role::Initiator);
        Ok((msg3.to_vec(), keys))
    }
}

/// The accepting side, before msg1.
pub struct Responder {
    identity: SigningKey,
    ephemeral: StaticSecret,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("identity", &hex(self.identity.verifying_key().as_bytes()))
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// `ephemeral` = 32 fresh random bytes from the caller (tests pass fixed bytes).
    pub fn new(identity: &SigningKey, ephemeral: [u8; 32]) -> Responder {
        Responder {
            identity: identity.clone(),
            ephemeral: StaticSecret::from(ephemeral),
        }
    }

    /// Processes msg1; on success returns the next state and the msg2 body.
    pub fn read_msg1(self, msg1: &[u8]) -> Result<(AwaitingMsg3, Vec<u8>), HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg1;
        let wrong_length = HandshakeError::WrongLength {
            message: M,
            expected: MSG1_LEN,
            found: msg1.len(),
        };
        if msg1.len() < MSG1_PREFIX_LEN {
            return Err(wrong_length);
        }
        if &msg1[..4] != MAGIC {
            return Err(HandshakeError::BadMagic);
        }
        let version = u16::from_be_bytes([msg1[4], msg1[5]]);
        if version != PROTOCOL_VERSION {
            return Err(HandshakeError::UnsupportedVersion(version));
        }
        let e_i: [u8; 32] = msg1[MSG1_PREFIX_LEN..]
            .try_into()
            .map_err(|_| wrong_length)?;

        let dh = contributory(self.ephemeral.diffie_hellman(&PublicKey::from(e_i)), M)?;
        let e_r = PublicKey::from(&self.ephemeral);
        let th1 = hash(&[LABEL, msg1, e_r.as_bytes()]);
        let schedule = Schedule::new(&th1, dh.as_bytes());
        let k_hs_r = schedule.key(INFO_HS_RESPONDER);
        let k_hs_i = schedule.key(INFO_HS_INITIATOR);

        let sealed = seal_proof(&k_hs_r.cipher(), &self.identity, PROOF_RESPONDER, &th1);
        let mut msg2 = Vec::with_capacity(MSG2_LEN);
        msg2.extend_from_slice(e_r.as_bytes());
        msg2.extend_from_slice(&sealed);
        let th2 = hash(&[&th1, &msg2]);
        let state = AwaitingMsg3 {
            dh,
            hs_initiator: k_hs_i.cipher(),
            th2,
        };
        Ok((state, msg2))
    }
}

/// The responder after sending msg2, waiting for the initiator's proof.
pub struct AwaitingMsg3 {
    dh: SharedSecret,
    hs_initiator: XSalsa20Poly1305,
    th2: [u8; 32],
}

impl fmt::Debug for AwaitingMsg3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingMsg3").finish_non_exhaustive()
    }
}

impl AwaitingMsg3 {
    /// Processes msg3; on success the handshake is complete. Only now does the responder
    /// learn who the initiator is.
    pub fn read_msg3(self, msg3: &[u8]) -> Result<SessionKeys, HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg3;
        if msg3.len() != MSG3_LEN {
            return Err(HandshakeError::WrongLength {
                message: M,
                expected: MSG3_LEN,
                found: msg3.len(),
            });
        }
        let (initiator, sig_i) = open_proof(&self.hs_initiator, msg3, M)?;
        verify(&initiator, PROOF_INITIATOR, &self.th2, &sig_i, M)?;
        let th3 = hash(&[&self.th2, msg3]);
        Ok(session_keys(initiator, &self.dh, th3, Role::Responder))
    }
}

#[derive(Clone, Copy)]
pub(super) enum Role {
    Initiator,
    Responder,
}

/// The labels that make one version's keys and signatures its own.
pub(super) struct Labels {
    pub data_i2r: &'static [u8],
    pub data_r2i: &'static [u8],
    /// The record-length masks of version 2 (none in version 1).
    pub lengths: Option<(&'static [u8], &'static [u8])>,
}

const V1_LABELS: Labels = Labels {
    data_i2r: INFO_DATA_I2R,
    data_r2i: INFO_DATA_R2I,
    lengths: None,
};

fn session_keys(peer: VerifyingKey, dh: &SharedSecret, th3: [u8; 32], role: Role) -> SessionKeys {
    derive_session_keys(peer, dh, th3, role, &V1_LABELS, PROTOCOL_VERSION)
}

/// The data keys (and for version 2 the length masks) of a completed handshake.
pub(super) fn derive_session_keys(
    peer: VerifyingKey,
    dh: &SharedSecret,
    th3: [u8; 32],
    role: Role,
    labels: &Labels,
    version: u16,
) -> SessionKeys {
    let schedule = Schedule::new(&th3, dh.as_bytes());
    let pair = |i2r: &[u8], r2i: &[u8]| {
        let i2r = schedule.key(i2r);
        let r2i = schedule.key(r2i);
        match role {
            Role::Initiator => (i2r, r2i),
            Role::Responder => (r2i, i2r),
        }
    };
    let (send, recv) = pair(labels.data_i2r, labels.data_r2i);
    let mut sealer = FrameSealer::new(&send);
    let mut opener = FrameOpener::new(&recv);
    if let Some((i2r, r2i)) = labels.lengths {
        let (send, recv) = pair(i2r, r2i);
        sealer.mask_lengths(LengthMask::new(&send));
        opener.mask_lengths(LengthMask::new(&recv));
    }
    SessionKeys {
        peer,
        sealer,
        opener,
        transcript_hash: th3,
        version,
    }
}

/// Rejects the all-zero X25519 output that a low-order public key forces.
pub(super) fn contributory(
    dh: SharedSecret,
    m: HandshakeMessage,
) -> Result<SharedSecret, HandshakeError> {
    if dh.was_contributory() {
        Ok(dh)
    } else {
        Err(HandshakeError::NonContributory(m))
    }
}

/// secretbox(key, N(0), own_pub || Sign(identity, proof_label || th)), laid out tag first.
fn seal_proof(
    cipher: &XSalsa20Poly1305,
    identity: &SigningKey,
    proof_label: &[u8; PROOF_LABEL_LEN],
    th: &[u8; 32],
) -> [u8; BOX_LEN] {
    let sealed = seal_padded_proof(cipher, identity, proof_label, th, 0);
    sealed
        .try_into()
        .expect("an unpadded proof box has BOX_LEN bytes")
}

/// [`seal_proof`] with `pad` zero bytes after the signature, inside the box (version 2).
pub(super) fn seal_padded_proof(
    cipher: &XSalsa20Poly1305,
    identity: &SigningKey,
    proof_label: &[u8; PROOF_LABEL_LEN],
    th: &[u8; 32],
    pad: usize,
) -> Vec<u8> {
    let sig = identity.sign(&signed_message(proof_label, th));
    let mut sealed = vec![0u8; BOX_LEN + pad];
    sealed[TAG_LEN..TAG_LEN + 32].copy_from_slice(identity.verifying_key().as_bytes());
    sealed[TAG_LEN + 32..BOX_LEN].copy_from_slice(&sig.to_bytes());
    let tag = cipher
        .encrypt_in_place_detached(&nonce(0), b"", &mut sealed[TAG_LEN..])
        .expect("secretbox sealing cannot fail without associated data");
    sealed[..TAG_LEN].copy_from_slice(&tag);
    sealed
}

/// Opens an identity box (of [`BOX_LEN`] bytes, or more in version 2: what follows the
/// signature is padding); returns the claimed key (canonical, not of small order) and the
/// signature.
pub(super) fn open_proof(
    cipher: &XSalsa20Poly1305,
    sealed: &[u8],
    m: HandshakeMessage,
) -> Result<(VerifyingKey, Signature), HandshakeError> {
    if sealed.len() < BOX_LEN {
        return Err(HandshakeError::Decrypt(m));
    }
    let mut buf = sealed.to_vec();
    let (tag, body) = buf.split_at_mut(TAG_LEN);
    let tag = Tag::clone_from_slice(tag);
    cipher
        .decrypt_in_place_detached(&nonce(0), b"", body, &tag)
        .map_err(|_| HandshakeError::Decrypt(m))?;
    let (key, sig) = body[..PROOF_LEN].split_at(32);
    let key: [u8; 32] = key.try_into().map_err(|_| HandshakeError::Decrypt(m))?;
    // The one key check of the whole gateway: canonical and not of small order, so a
    // proven identity is always a PeerId (one key, one nick).
    let key = crate::identity::checked_key(&key).map_err(|_| HandshakeError::BadIdentityKey(m))?;
    let sig = Signature::from_slice(sig).map_err(|_| HandshakeError::BadSignature(m))?;
    Ok((key, sig))
}

pub(super) fn verify(
    key: &VerifyingKey,
    proof_label: &[u8; PROOF_LABEL_LEN],
    th: &[u8; 32],
    sig: &Signature,
    m: HandshakeMessage,
) -> Result<(), HandshakeError> {
    key.verify_strict(&signed_message(proof_label, th), sig)
        .map_err(|_| HandshakeError::BadSignature(m))
}

/// proof_label || th: the message each side signs.
fn signed_message(
    proof_label: &[u8; PROOF_LABEL_LEN],
    th: &[u8; 32],
) -> [u8; PROOF_LABEL_LEN + 32] {
    let mut msg = [0u8; PROOF_LABEL_LEN + 32];
    msg[..PROOF_LABEL_LEN].copy_from_slice(proof_label);
    msg[PROOF_LABEL_LEN..].copy_from_slice(th);
    msg
}
