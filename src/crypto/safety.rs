//! What two users compare to be sure they hold each other's real key: the safety number
//! (the same at both ends, computed from the two keys) and a key's short fingerprint.
//! Specified byte by byte in docs/protocol.md ("Safety number"); a vector is in
//! docs/test-vectors.md.

use sha2::{Digest, Sha256, Sha512};

/// Domain separation of the safety number's hash.
pub const SAFETY_LABEL: &[u8] = b"disims safety number v1";
/// Domain separation of a key's fingerprint.
pub const FINGERPRINT_LABEL: &[u8] = b"disims fingerprint v1";
/// Groups of five digits in a safety number.
pub const SAFETY_GROUPS: usize = 12;

/// The safety number of two ed25519 public keys: SHA-512 over [`SAFETY_LABEL`] and the two
/// keys in ascending byte order (so both ends get the same), then each of the first twelve
/// 5-byte chunks of the digest, read as a big-endian integer, modulo 100000, as five digits.
/// Twelve groups separated by spaces: 60 digits, about 199 bits.
pub fn safety_number(a: &[u8; 32], b: &[u8; 32]) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h = Sha512::new();
    h.update(SAFETY_LABEL);
    h.update(lo);
    h.update(hi);
    let digest = h.finalize();
    digest
        .chunks_exact(5)
        .take(SAFETY_GROUPS)
        .map(|chunk| {
            let n = chunk.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
            format!("{:05}", n % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A key's fingerprint: the first 16 bytes of SHA-256 over [`FINGERPRINT_LABEL`] and the
/// key, in lowercase hex, in eight groups of four separated by ':'.
pub fn fingerprint(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(FINGERPRINT_LABEL);
    h.update(key);
    let digest = h.finalize();
    digest[..16]
        .chunks_exact(2)
        .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> [u8; 32] {
        SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes()
    }

    #[test]
    fn both_ends_compute_the_same_number() {
        let (a, b, c) = (key(1), key(2), key(3));
        assert_eq!(safety_number(&a, &b), safety_number(&b, &a));
        assert_ne!(safety_number(&a, &b), safety_number(&a, &c));
        let number = safety_number(&a, &b);
        let groups: Vec<&str> = number.split(' ').collect();
        assert_eq!(groups.len(), SAFETY_GROUPS);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    /// The vector of docs/test-vectors.md ("Safety number").
    #[test]
    fn test_vector() {
        let (a, b) = (key(1), key(2));
        assert_eq!(safety_number(&a, &b), VECTOR_SAFETY);
        assert_eq!(fingerprint(&a), VECTOR_FINGERPRINT);
    }

    const VECTOR_SAFETY: &str =
        "06039 87608 88017 04022 21218 78498 02638 08806 61017 48399 31407 65807";
    const VECTOR_FINGERPRINT: &str = "6d23:3a34:02db:f31e:c794:cb18:abfb:39ea";
}
