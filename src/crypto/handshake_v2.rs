//! The version 2 handshake (issue 14): version 1's SIGMA-I, carried so that every byte looks
//! random to whoever does not know the responder's nick, and so that a prober without it
//! gets no answer. IO-free and typestate-driven like version 1; byte layouts and check order
//! in docs/protocol.md ("Handshake, version 2").
//!
//! ```text
//! msg1 = repr_i (32) || mac (16) || plen ^ t[16..18] (2) || pad (plen random bytes)
//!        t = HMAC-SHA256(SHA-256("disims v2 prober key" || R_pub), repr_i || hour_be8)
//!        mac = t[..16]; plen <= MAX_PAD
//! msg2 = repr_r (32) || blen ^ m_r (2) || box_r          th1 = H(LABEL_V2 || msg1 || repr_r)
//!        box_r = secretbox(k_hs_r, N(0), R_pub || Sign(R, "disims v2 responder proof" || th1)
//!                          || zeros)                      th2 = H(th1 || msg2[32..])
//! msg3 = blen ^ m_i (2) || box_i                          th3 = H(th2 || msg3)
//!        box_i = secretbox(k_hs_i, N(0), I_pub || Sign(I, "disims v2 initiator proof" || th2)
//!                          || zeros)
//! ```
//! ee = X25519 of the two ephemerals (their representatives on the wire); every key is
//! HKDF-SHA256(salt = the transcript hash, ikm = ee, info = its label).

use ed25519_dalek::{SigningKey, VerifyingKey};
use x25519_dalek::SharedSecret;

use super::handshake::{
    BOX_LEN, HandshakeError, HandshakeMessage, Labels, Role, SessionKeys, derive_session_keys,
    open_proof, seal_padded_proof, verify,
};
use super::kdf::{
    LABEL_V2, Schedule, SecretKey32, V2_DATA_I2R, V2_DATA_R2I, V2_HS_INITIATOR,
    V2_HS_LEN_INITIATOR, V2_HS_LEN_RESPONDER, V2_HS_RESPONDER, V2_LEN_I2R, V2_LEN_R2I,
    V2_PROOF_INITIATOR, V2_PROOF_RESPONDER, hash,
};
use super::obfs::{Ephemeral, MAC_LEN, ProberKey, REPR_LEN};

/// The protocol version of this handshake.
pub const VERSION_2: u16 = 2;
/// The fixed head of msg1: representative, MAC, masked padding length.
pub const MSG1_HEAD_LEN: usize = REPR_LEN + MAC_LEN + 2;
/// The fixed head of msg2: representative, masked box length.
pub const MSG2_HEAD_LEN: usize = REPR_LEN + 2;
/// The fixed head of msg3: the masked box length.
pub const MSG3_HEAD_LEN: usize = 2;
/// The most padding a handshake message may carry (msg1's random bytes, or the zeros in a
/// box); more is refused.
pub const MAX_PAD: usize = 1024;
/// The largest identity box (the proof and the most padding).
pub const MAX_BOX: usize = BOX_LEN + MAX_PAD;

const LABELS: Labels = Labels {
    data_i2r: V2_DATA_I2R,
    data_r2i: V2_DATA_R2I,
    lengths: Some((V2_LEN_I2R, V2_LEN_R2I)),
};

/// What the head of a first message says, once its MAC checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg1Head {
    /// How many padding bytes follow the head.
    pub pad_len: usize,
    /// The MAC: the key of the responder's replay cache.
    pub mac: [u8; MAC_LEN],
}

/// Checks the head of a first message (at least [`MSG1_HEAD_LEN`] bytes) against the
/// responder's prober key, for the hours around `hour`. Only HMACs, no curve operation:
/// a prober costs the responder three of them.
pub fn read_msg1_head(key: &ProberKey, head: &[u8], hour: u64) -> Result<Msg1Head, HandshakeError> {
    let head: &[u8; MSG1_HEAD_LEN] = head
        .get(..MSG1_HEAD_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(HandshakeError::NotForUs)?;
    let repr: &[u8; REPR_LEN] = head[..REPR_LEN].try_into().expect("32 bytes");
    let mac: [u8; MAC_LEN] = head[REPR_LEN..REPR_LEN + MAC_LEN]
        .try_into()
        .expect("16 bytes");
    let (_, tag) = key
        .hour_of(repr, &mac, hour)
        .ok_or(HandshakeError::NotForUs)?;
    let pad_len = usize::from(u16::from_be_bytes([
        head[REPR_LEN + MAC_LEN] ^ tag[MAC_LEN],
        head[REPR_LEN + MAC_LEN + 1] ^ tag[MAC_LEN + 1],
    ]));
    if pad_len > MAX_PAD {
        return Err(HandshakeError::Padding(HandshakeMessage::Msg1, pad_len));
    }
    Ok(Msg1Head { pad_len, mac })
}

/// The mask of a box length (the first two bytes of its HKDF output).
fn length_mask(schedule: &Schedule, label: &[u8]) -> [u8; 2] {
    let key = schedule.key(label);
    [key.as_array()[0], key.as_array()[1]]
}

/// Unmasks a box length and checks it.
fn box_len(head: &[u8], mask: [u8; 2], m: HandshakeMessage) -> Result<usize, HandshakeError> {
    let len = usize::from(u16::from_be_bytes([head[0] ^ mask[0], head[1] ^ mask[1]]));
    if !(BOX_LEN..=MAX_BOX).contains(&len) {
        return Err(HandshakeError::Padding(m, len.saturating_sub(BOX_LEN)));
    }
    Ok(len)
}

fn masked_len(len: usize, mask: [u8; 2]) -> [u8; 2] {
    let len = u16::try_from(len).expect("a box is at most MAX_BOX bytes");
    let [a, b] = len.to_be_bytes();
    [a ^ mask[0], b ^ mask[1]]
}

/// The dialling side, after sending msg1.
pub struct InitiatorV2 {
    identity: SigningKey,
    expected: Option<VerifyingKey>,
    ephemeral: Ephemeral,
    msg1: Vec<u8>,
}

impl InitiatorV2 {
    /// Starts a handshake towards `expected`. `pad` = the random bytes that follow the head
    /// (at most [`MAX_PAD`]: their number is the caller's random choice); `hour` = the
    /// current Unix hour.
    pub fn new(
        identity: &SigningKey,
        expected: &VerifyingKey,
        ephemeral: Ephemeral,
        pad: &[u8],
        hour: u64,
    ) -> (Self, Vec<u8>) {
        let key = ProberKey::of(expected);
        Self::with_prober_key(identity, &key, Some(expected), ephemeral, pad, hour)
    }

    /// [`InitiatorV2::new`] with msg1's MAC under `key` (what the connection is for: relay
    /// control, [`ProberKey`]), expecting the responder to prove `expected`, or any key
    /// when `None` (an open relay known by its address only; the proved key is
    /// `SessionKeys::peer`).
    pub fn with_prober_key(
        identity: &SigningKey,
        key: &ProberKey,
        expected: Option<&VerifyingKey>,
        ephemeral: Ephemeral,
        pad: &[u8],
        hour: u64,
    ) -> (Self, Vec<u8>) {
        assert!(pad.len() <= MAX_PAD, "msg1 padding over MAX_PAD");
        let msg1 = key.first_message(ephemeral.representative(), hour, pad);
        let state = Self {
            identity: identity.clone(),
            expected: expected.copied(),
            ephemeral,
            msg1: msg1.clone(),
        };
        (state, msg1)
    }

    /// Processes msg2's head ([`MSG2_HEAD_LEN`] bytes): the key agreement; returns the state
    /// that knows how long the box that follows is.
    pub fn read_msg2_head(self, head: &[u8]) -> Result<InitiatorAwaitingBox, HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg2;
        let head: [u8; MSG2_HEAD_LEN] =
            head.try_into().map_err(|_| wrong(M, MSG2_HEAD_LEN, head))?;
        let repr_r: [u8; REPR_LEN] = head[..REPR_LEN].try_into().expect("32 bytes");
        let ee = self
            .ephemeral
            .agree(&repr_r)
            .ok_or(HandshakeError::NonContributory(M))?;
        let th1 = hash(&[LABEL_V2, &self.msg1, &repr_r]);
        let schedule = Schedule::new(&th1, ee.as_bytes());
        let mask_r = length_mask(&schedule, V2_HS_LEN_RESPONDER);
        let box_len = box_len(&head[REPR_LEN..], mask_r, M)?;
        Ok(InitiatorAwaitingBox {
            identity: self.identity,
            expected: self.expected,
            ee,
            th1,
            schedule,
            masked: [head[REPR_LEN], head[REPR_LEN + 1]],
            box_len,
        })
    }
}

/// The initiator once msg2's head is read, before its box.
pub struct InitiatorAwaitingBox {
    identity: SigningKey,
    expected: Option<VerifyingKey>,
    ee: SharedSecret,
    th1: [u8; 32],
    /// HKDF extracted from `th1` and `ee`: the handshake keys and masks.
    schedule: Schedule,
    masked: [u8; 2],
    box_len: usize,
}

impl InitiatorAwaitingBox {
    /// The length of msg2's box, to read next.
    pub fn box_len(&self) -> usize {
        self.box_len
    }

    /// Processes msg2's box; on success returns msg3 (with `pad` zero bytes in its box) and
    /// the session keys.
    pub fn read_msg2_box(
        self,
        sealed: &[u8],
        pad: usize,
    ) -> Result<(Vec<u8>, SessionKeys), HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg2;
        if sealed.len() != self.box_len {
            return Err(wrong(M, self.box_len, sealed));
        }
        let k_hs_r = self.schedule.key(V2_HS_RESPONDER);
        let (responder, sig_r) = open_proof(&k_hs_r.cipher(), sealed, M)?;
        verify(&responder, V2_PROOF_RESPONDER, &self.th1, &sig_r, M)?;
        if let Some(expected) = self.expected
            && responder != expected
        {
            return Err(HandshakeError::WrongPeer {
                expected: expected.to_bytes(),
                found: responder.to_bytes(),
            });
        }
        let th2 = hash(&[&self.th1, &self.masked, sealed]);
        let k_hs_i = self.schedule.key(V2_HS_INITIATOR);
        let sealed_i = seal_padded_proof(
            &k_hs_i.cipher(),
            &self.identity,
            V2_PROOF_INITIATOR,
            &th2,
            pad.min(MAX_PAD),
        );
        let mask_i = length_mask(&self.schedule, V2_HS_LEN_INITIATOR);
        let mut msg3 = masked_len(sealed_i.len(), mask_i).to_vec();
        msg3.extend_from_slice(&sealed_i);
        let th3 = hash(&[&th2, &msg3]);
        let keys = derive_session_keys(
            responder,
            &self.ee,
            th3,
            Role::Initiator,
            &LABELS,
            VERSION_2,
        );
        Ok((msg3, keys))
    }
}

/// The accepting side, before msg1.
pub struct ResponderV2 {
    identity: SigningKey,
    key: ProberKey,
    ephemeral: Ephemeral,
}

impl ResponderV2 {
    pub fn new(identity: &SigningKey, ephemeral: Ephemeral) -> Self {
        Self {
            identity: identity.clone(),
            key: ProberKey::of(&identity.verifying_key()),
            ephemeral,
        }
    }

    /// A responder that checks first messages with another prober key: relay control
    /// ([`ProberKey::relay`], [`ProberKey::open`]; the accept loop matched msg1's MAC with
    /// it), or, in tests, a man in the middle who knows the dialled nick.
    pub fn with_prober_key(identity: &SigningKey, key: ProberKey, ephemeral: Ephemeral) -> Self {
        Self {
            identity: identity.clone(),
            key,
            ephemeral,
        }
    }

    /// Processes the whole msg1 (head and padding; its head checked again for `hour`);
    /// returns the next state and msg2 (with `pad` zero bytes in its box).
    pub fn read_msg1(
        self,
        msg1: &[u8],
        hour: u64,
        pad: usize,
    ) -> Result<(AwaitingMsg3V2, Vec<u8>), HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg1;
        let head = read_msg1_head(&self.key, msg1, hour)?;
        if msg1.len() != MSG1_HEAD_LEN + head.pad_len {
            return Err(wrong(M, MSG1_HEAD_LEN + head.pad_len, msg1));
        }
        let repr_i: [u8; REPR_LEN] = msg1[..REPR_LEN].try_into().expect("32 bytes");
        let ee = self
            .ephemeral
            .agree(&repr_i)
            .ok_or(HandshakeError::NonContributory(M))?;
        let repr_r = *self.ephemeral.representative();
        let th1 = hash(&[LABEL_V2, msg1, &repr_r]);
        let schedule = Schedule::new(&th1, ee.as_bytes());
        let k_hs_r = schedule.key(V2_HS_RESPONDER);
        let sealed = seal_padded_proof(
            &k_hs_r.cipher(),
            &self.identity,
            V2_PROOF_RESPONDER,
            &th1,
            pad.min(MAX_PAD),
        );
        let mask_r = length_mask(&schedule, V2_HS_LEN_RESPONDER);
        let mut msg2 = Vec::with_capacity(MSG2_HEAD_LEN + sealed.len());
        msg2.extend_from_slice(&repr_r);
        msg2.extend_from_slice(&masked_len(sealed.len(), mask_r));
        msg2.extend_from_slice(&sealed);
        let th2 = hash(&[&th1, &msg2[REPR_LEN..]]);
        let mask_i = length_mask(&schedule, V2_HS_LEN_INITIATOR);
        Ok((
            AwaitingMsg3V2 {
                ee,
                k_hs_i: schedule.key(V2_HS_INITIATOR),
                th2,
                mask_i,
            },
            msg2,
        ))
    }
}

/// The responder after sending msg2, waiting for the initiator's proof.
pub struct AwaitingMsg3V2 {
    ee: SharedSecret,
    k_hs_i: SecretKey32,
    th2: [u8; 32],
    mask_i: [u8; 2],
}

impl AwaitingMsg3V2 {
    /// The length of msg3's box, from its head ([`MSG3_HEAD_LEN`] bytes).
    pub fn box_len(&self, head: &[u8]) -> Result<usize, HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg3;
        if head.len() != MSG3_HEAD_LEN {
            return Err(wrong(M, MSG3_HEAD_LEN, head));
        }
        box_len(head, self.mask_i, M)
    }

    /// Processes the whole msg3 (head and box); on success the handshake is complete and
    /// the responder knows who the initiator is.
    pub fn read_msg3(self, msg3: &[u8]) -> Result<SessionKeys, HandshakeError> {
        const M: HandshakeMessage = HandshakeMessage::Msg3;
        let len = self.box_len(msg3.get(..MSG3_HEAD_LEN).unwrap_or(msg3))?;
        if msg3.len() != MSG3_HEAD_LEN + len {
            return Err(wrong(M, MSG3_HEAD_LEN + len, msg3));
        }
        let (initiator, sig_i) = open_proof(&self.k_hs_i.cipher(), &msg3[MSG3_HEAD_LEN..], M)?;
        verify(&initiator, V2_PROOF_INITIATOR, &self.th2, &sig_i, M)?;
        let th3 = hash(&[&self.th2, msg3]);
        Ok(derive_session_keys(
            initiator,
            &self.ee,
            th3,
            Role::Responder,
            &LABELS,
            VERSION_2,
        ))
    }
}

fn wrong(message: HandshakeMessage, expected: usize, found: &[u8]) -> HandshakeError {
    HandshakeError::WrongLength {
        message,
        expected,
        found: found.len(),
    }
}

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}
redacted_debug!(
    InitiatorV2,
    InitiatorAwaitingBox,
    ResponderV2,
    AwaitingMsg3V2
);
