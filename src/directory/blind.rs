//! Private address records (issue 14; pure, used by [`super::mainline`]): a record
//! stored under a key blinded from the identity key and the time period, with a
//! salt derived the same way, and a value encrypted with a key only those who know the
//! nick can derive, padded to one size. A DHT crawler sees unlinkable random-looking items;
//! anyone who knows the nick finds and reads the record. The model is Tor's v3 onion
//! service key blinding (rend-spec-v3, appendix A.2), with our own labels.
//!
//! ```text
//! period      = floor(unix_seconds / 86400)                        (u64, UTC days)
//! h           = SHA-512("disims v1 blind" || A || period_be8) mod l (a scalar)
//! A'          = h * A                       the blinded public key (BEP 44 "k")
//! a'          = h * a mod l                 a: the identity's expanded (clamped) scalar
//! prefix'     = SHA-512("disims v1 blind nonce" || prefix || A')[..32]
//! salt        = SHA-256("disims v1 record salt" || A || period_be8)[..16]
//! key         = SHA-256("disims v1 record key" || A || period_be8)
//! value       = nonce (24) || secretbox(key, nonce, len_be2 || record || zeros)
//!               always VALUE_LEN (800) bytes: the plaintext is padded to PLAINTEXT_LEN
//! ```
//! A' = a'·B since A = a·B, so a BEP 44 item signed with (a', prefix') verifies under A';
//! mainline 8 accepts such items (checked: `tests` below sign with it and verify with
//! ed25519-dalek's strict verifier, which mainline uses). Signing uses ed25519-dalek's
//! `hazmat::raw_sign` with an expanded key whose nonce prefix is derived from the
//! identity's own prefix, so nonces stay secret and distinct per blinded key.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256, Sha512};

use crate::identity::PeerId;

/// Length of a time period, in seconds (a UTC day).
pub const PERIOD_SECS: u64 = 86_400;
/// Every blinded record value has this many bytes (BEP 44 allows 1000).
pub const VALUE_LEN: usize = 800;
/// XSalsa20 nonce, then the Poly1305 tag: the rest is the padded plaintext.
pub const PLAINTEXT_LEN: usize = VALUE_LEN - 24 - 16;
/// The longest record that fits (after its 2-byte length).
pub const MAX_RECORD: usize = PLAINTEXT_LEN - 2;
/// BEP 44 salt length of a blinded record.
pub const SALT_LEN: usize = 16;

const BLIND_LABEL: &[u8] = b"disims v1 blind";
const NONCE_LABEL: &[u8] = b"disims v1 blind nonce";
const SALT_LABEL: &[u8] = b"disims v1 record salt";
const KEY_LABEL: &[u8] = b"disims v1 record key";

/// Why a blinded record could not be made or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlindError {
    #[error("record of {0} bytes does not fit a blinded value ({MAX_RECORD} at most)")]
    TooLong(usize),
    #[error("blinded value of {0} bytes, not {VALUE_LEN}")]
    BadLength(usize),
    #[error("blinded value does not decrypt under this nick's key for this period")]
    Decrypt,
    #[error("blinded value's inner length {0} is past its end")]
    BadInnerLength(usize),
    #[error("the blinded key is not a valid point")]
    BadKey,
}

/// The period of a Unix time.
pub fn period_of(unix_secs: u64) -> u64 {
    unix_secs / PERIOD_SECS
}

fn blinding_factor(identity: &PeerId, period: u64) -> Scalar {
    let mut h = Sha512::new();
    h.update(BLIND_LABEL);
    h.update(identity.as_bytes());
    h.update(period.to_be_bytes());
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn derived<const N: usize>(label: &[u8], identity: &PeerId, period: u64) -> [u8; N] {
    let mut h = Sha256::new();
    h.update(label);
    h.update(identity.as_bytes());
    h.update(period.to_be_bytes());
    let digest = h.finalize();
    let mut out = [0u8; N];
    out.copy_from_slice(&digest[..N]);
    out
}

/// What anyone who knows the nick can derive for one period: where the record is and how
/// to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindedLocation {
    pub period: u64,
    /// The blinded public key (BEP 44 `k`).
    pub key: [u8; 32],
    pub salt: [u8; SALT_LEN],
    value_key: [u8; 32],
}

impl BlindedLocation {
    /// The location of `identity`'s record in `period`.
    pub fn of(identity: &PeerId, period: u64) -> Result<Self, BlindError> {
        let point = CompressedEdwardsY(*identity.as_bytes())
            .decompress()
            .ok_or(BlindError::BadKey)?;
        let blinded = (blinding_factor(identity, period) * point).compress();
        Ok(Self {
            period,
            key: blinded.to_bytes(),
            salt: derived(SALT_LABEL, identity, period),
            value_key: derived(KEY_LABEL, identity, period),
        })
    }

    /// Encrypts and pads `record` (a record's bytes, v1 or v2) with `nonce` (random, 24
    /// bytes, fresh for every put).
    pub fn seal(&self, record: &[u8], nonce: [u8; 24]) -> Result<Vec<u8>, BlindError> {
        if record.len() > MAX_RECORD {
            return Err(BlindError::TooLong(record.len()));
        }
        let mut plain = Vec::with_capacity(PLAINTEXT_LEN);
        plain.extend_from_slice(&(record.len() as u16).to_be_bytes());
        plain.extend_from_slice(record);
        plain.resize(PLAINTEXT_LEN, 0);
        let cipher = XSalsa20Poly1305::new((&self.value_key).into());
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
            .map_err(|_| BlindError::Decrypt)?;
        let mut out = Vec::with_capacity(VALUE_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a value found at this location; returns the record's bytes.
    pub fn open(&self, value: &[u8]) -> Result<Vec<u8>, BlindError> {
        if value.len() != VALUE_LEN {
            return Err(BlindError::BadLength(value.len()));
        }
        let (nonce, sealed) = value.split_at(24);
        let cipher = XSalsa20Poly1305::new((&self.value_key).into());
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| BlindError::Decrypt)?;
        let len = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
        if len > MAX_RECORD {
            return Err(BlindError::BadInnerLength(len));
        }
        Ok(plain[2..2 + len].to_vec())
    }
}

/// The publisher's side: signs BEP 44 messages with the blinded secret of one period.
pub struct BlindedSigner {
    location: BlindedLocation,
    secret: ExpandedSecretKey,
    public: VerifyingKey,
}

impl BlindedSigner {
    /// The blinded signer of `identity` for `period`.
    pub fn new(identity: &SigningKey, period: u64) -> Result<Self, BlindError> {
        let own = PeerId::of(identity);
        let location = BlindedLocation::of(&own, period)?;
        let expanded = ExpandedSecretKey::from(identity.as_bytes());
        let h = blinding_factor(&own, period);
        let mut prefix = Sha512::new();
        prefix.update(NONCE_LABEL);
        prefix.update(expanded.hash_prefix);
        prefix.update(location.key);
        let mut hash_prefix = [0u8; 32];
        hash_prefix.copy_from_slice(&prefix.finalize()[..32]);
        let secret = ExpandedSecretKey {
            scalar: h * expanded.scalar,
            hash_prefix,
        };
        let public = VerifyingKey::from_bytes(&location.key).map_err(|_| BlindError::BadKey)?;
        Ok(Self {
            location,
            secret,
            public,
        })
    }

    pub fn location(&self) -> &BlindedLocation {
        &self.location
    }

    /// Signs `message` (BEP 44's signable bytes) under the blinded key.
    pub fn sign(&self, message: &[u8]) -> Signature {
        raw_sign::<Sha512>(&self.secret, message, &self.public)
    }
}

/// The bytes a BEP 44 mutable item's signature covers: `4:salt<len>:<salt>` when there is a
/// salt, then `3:seqi<seq>e1:v<len>:<value>` (bencoded pieces, concatenated).
pub fn bep44_signable(seq: i64, value: &[u8], salt: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 64);
    if let Some(salt) = salt {
        out.extend_from_slice(format!("4:salt{}:", salt.len()).as_bytes());
        out.extend_from_slice(salt);
    }
    out.extend_from_slice(format!("3:seqi{seq}e1:v{}:", value.len()).as_bytes());
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
#[path = "blind_tests.rs"]
mod tests;
