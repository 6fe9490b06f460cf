//! The key schedule of the handshake: transcript hashing (SHA-256), every HKDF-SHA256 call
//! with its info label, and [`SecretKey32`], the 32-byte key holder that wipes itself on drop.
//!
//! The labels here are part of the wire protocol (docs/protocol.md, "Handshake"): changing any
//! of them changes every derived key and breaks interoperability.

use std::fmt;

use crypto_secretbox::{KeyInit, XSalsa20Poly1305};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Protocol label, the first input of the transcript hash.
pub const LABEL: &[u8] = b"DiSIMS/1 handshake";

pub(crate) const INFO_HS_RESPONDER: &[u8] = b"disims v1 hs responder";
pub(crate) const INFO_HS_INITIATOR: &[u8] = b"disims v1 hs initiator";
pub(crate) const INFO_DATA_I2R: &[u8] = b"disims v1 data initiator to responder";
pub(crate) const INFO_DATA_R2I: &[u8] = b"disims v1 data responder to initiator";

/// Length of both signature prefixes.
pub(crate) const PROOF_LABEL_LEN: usize = 25;
/// Domain-separation prefixes of the two signatures.
pub(crate) const PROOF_RESPONDER: &[u8; PROOF_LABEL_LEN] = b"disims v1 responder proof";
pub(crate) const PROOF_INITIATOR: &[u8; PROOF_LABEL_LEN] = b"disims v1 initiator proof";

/// Version 2's protocol label (the first input of its transcript hash) and its own labels.
pub const LABEL_V2: &[u8] = b"DiSIMS/2 handshake";
pub(crate) const V2_HS_RESPONDER: &[u8] = b"disims v2 hs responder";
pub(crate) const V2_HS_INITIATOR: &[u8] = b"disims v2 hs initiator";
pub(crate) const V2_HS_LEN_RESPONDER: &[u8] = b"disims v2 hs length responder";
pub(crate) const V2_HS_LEN_INITIATOR: &[u8] = b"disims v2 hs length initiator";
pub(crate) const V2_DATA_I2R: &[u8] = b"disims v2 data initiator to responder";
pub(crate) const V2_DATA_R2I: &[u8] = b"disims v2 data responder to initiator";
pub(crate) const V2_LEN_I2R: &[u8] = b"disims v2 length initiator to responder";
pub(crate) const V2_LEN_R2I: &[u8] = b"disims v2 length responder to initiator";
pub(crate) const V2_PROOF_RESPONDER: &[u8; PROOF_LABEL_LEN] = b"disims v2 responder proof";
pub(crate) const V2_PROOF_INITIATOR: &[u8; PROOF_LABEL_LEN] = b"disims v2 initiator proof";

/// A 32-byte symmetric key that is overwritten with zeros when dropped (`zeroize` uses
/// volatile writes, which the compiler cannot elide as dead stores).
pub(crate) struct SecretKey32([u8; 32]);

impl SecretKey32 {
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key's bytes, to key another primitive with (the caller must not copy them out).
    pub(crate) fn as_array(&self) -> &[u8; 32] {
        &self.0
    }

    /// The XSalsa20-Poly1305 cipher keyed with this key (the cipher wipes its copy on drop).
    pub(crate) fn cipher(&self) -> XSalsa20Poly1305 {
        XSalsa20Poly1305::new((&self.0).into())
    }
}

impl Drop for SecretKey32 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for SecretKey32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey32(<redacted>)")
    }
}

/// HKDF-SHA256 (RFC 5869) extract-then-expand to 32 bytes (tests; the handshakes extract
/// once per transcript stage with [`Schedule`]).
#[cfg(test)]
pub(crate) fn hkdf32(salt: &[u8; 32], ikm: &[u8; 32], info: &[u8]) -> SecretKey32 {
    Schedule::new(salt, ikm).key(info)
}

/// One HKDF extract (salt, ikm), expanded to as many 32-byte keys as there are labels: the
/// same keys as [`hkdf32`] with each label, for one extraction instead of one a key.
pub(crate) struct Schedule(Hkdf<Sha256>);

impl Schedule {
    pub(crate) fn new(salt: &[u8; 32], ikm: &[u8; 32]) -> Self {
        Self(Hkdf::<Sha256>::new(Some(salt), ikm))
    }

    /// HKDF-Expand(PRK, info, 32).
    pub(crate) fn key(&self, info: &[u8]) -> SecretKey32 {
        let mut okm = SecretKey32([0u8; 32]);
        // 32 bytes is far below HKDF's limit of 255 * 32, so expand cannot fail.
        self.0
            .expand(info, &mut okm.0)
            .expect("HKDF-SHA256 can always expand to 32 bytes");
        okm
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schedule(<redacted>)")
    }
}

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_shape_and_labels_differ() {
        let a = hkdf32(&[1; 32], &[2; 32], INFO_DATA_I2R);
        let b = hkdf32(&[1; 32], &[2; 32], INFO_DATA_R2I);
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(format!("{a:?}"), "SecretKey32(<redacted>)");
    }

    #[test]
    fn hash_is_sha256_of_concatenation() {
        assert_eq!(hash(&[b"ab", b"c"]), hash(&[b"abc"]));
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(hash(&[b"abc"])[..4], [0xba, 0x78, 0x16, 0xbf],);
    }
}
