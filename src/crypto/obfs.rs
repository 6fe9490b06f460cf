//! The primitives that make a version 2 connection look like uniform random bytes
//! (docs/protocol.md, "Handshake, version 2"), modelled on obfs4:
//!
//! - [`Ephemeral`]: an X25519 key pair whose public key travels as its Elligator2
//!   representative (the `Randomized` variant: a point of the whole curve, low-order part
//!   included, and random top bits), which is indistinguishable from 32 random bytes;
//! - [`ProberKey`]: the key, derived from the responder's public identity key, that the
//!   first message is authenticated with: only someone who knows the nick can make a first
//!   message the responder answers;
//! - [`LengthMask`]: the XSalsa20 keystream that hides every record length;
//! - [`PadRng`]: an XSalsa20 keystream used as a random source, cheap enough to draw every
//!   data frame's padding length from (`peer::padding`).
//!
//! Pure: callers pass the random bytes and the hour.

use std::fmt;

use curve25519_elligator2::elligator2::{map_to_montgomery_u, randomized_representative};
use ed25519_dalek::VerifyingKey;
use hmac::{Hmac, KeyInit, Mac};
use salsa20::XSalsa20;
use salsa20::cipher::{KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};

use super::kdf::SecretKey32;

/// Length of an Elligator2 representative (an ephemeral public key on the wire).
pub const REPR_LEN: usize = 32;
/// Length of the first message's MAC.
pub const MAC_LEN: usize = 16;

const EPHEMERAL_LABEL: &[u8] = b"disims v2 ephemeral";
const PROBER_LABEL: &[u8] = b"disims v2 prober key";
const RELAY_LABEL: &[u8] = b"disims v2 relay key";
const OPEN_RELAY_LABEL: &[u8] = b"disims v2 open relay key";
const DIAL_BACK_LABEL: &[u8] = b"disims v2 dial-back key";

/// An ephemeral X25519 key pair whose public key is representable, with its representative.
pub struct Ephemeral {
    secret: StaticSecret,
    repr: [u8; REPR_LEN],
}

impl Ephemeral {
    /// Derives a key pair from 32 fresh random bytes: candidate `i` (0, 1, ...) has the
    /// private key SHA-256(label || seed || i) and the tweak SHA-256(...)'s first byte
    /// re-hashed; the first candidate whose public key has a representative is taken
    /// (half of them do, so 2 tries on average). Each try is a base-point multiplication and
    /// one exponentiation (`randomized_representative`: the crate's `Randomized` variant,
    /// computed from projective coordinates).
    ///
    /// Each try is a fresh key on purpose. Deriving the next candidate from a failed one by
    /// a public step (adding 8·B, one point addition instead of a multiplication) would leave
    /// a trace anyone can check: the accepted point `Q`'s predecessor `Q - 8·B` has no
    /// representative whenever a try failed before, so `Q - 8·B` and `Q + 8·B` (which a
    /// representative determines, up to the sign of `Q`) both have one for 1 key in 8
    /// instead of 1 random string in 4: a censor tells version 2 apart after a few hundred
    /// connections.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        for i in 0u8..=255 {
            let candidate: [u8; 32] = Sha256::new()
                .chain_update(EPHEMERAL_LABEL)
                .chain_update(seed)
                .chain_update([i])
                .finalize()
                .into();
            let tweak = Sha256::digest(candidate)[0];
            if let Some(repr) = randomized_representative(&candidate, tweak).into_option() {
                return Self {
                    secret: StaticSecret::from(candidate),
                    repr,
                };
            }
        }
        // 256 candidates all unrepresentable: probability 2^-256.
        unreachable!("no representable key among 256 candidates")
    }

    /// The representative: what goes on the wire instead of the public key.
    pub fn representative(&self) -> &[u8; REPR_LEN] {
        &self.repr
    }

    /// X25519 with the peer's representative. The peer's point may carry a low-order part
    /// (that is what makes representatives uniform); the clamped scalar removes it. `None`
    /// when the result is all zeros (a low-order point: no contribution).
    pub fn agree(&self, peer_repr: &[u8; REPR_LEN]) -> Option<SharedSecret> {
        let dh = self.secret.diffie_hellman(&public_of(peer_repr));
        dh.was_contributory().then_some(dh)
    }
}

impl fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ephemeral")
            .field("representative", &super::handshake::hex(&self.repr))
            .finish_non_exhaustive()
    }
}

/// The X25519 public key a representative stands for (every 32-byte string is one): the
/// Elligator2 map straight to the Montgomery `u` (the top two bits cleared), which is what
/// `from_representative::<Randomized>` gives by way of the Edwards curve; one exponentiation
/// (`map_to_montgomery_u`), as `v` is not needed.
pub fn public_of(repr: &[u8; REPR_LEN]) -> PublicKey {
    PublicKey::from(map_to_montgomery_u(repr).0)
}

/// The key a first message is authenticated with. It says what the connection is for,
/// before any curve operation, and only someone who knows what it is derived from can make
/// a first message the responder answers:
/// - [`ProberKey::of`]: a peer session, SHA-256("disims v2 prober key" || R);
/// - [`ProberKey::relay`]: relay control at a relay known by its key,
///   SHA-256("disims v2 relay key" || R);
/// - [`ProberKey::open`]: relay control at a relay known only by its address (found in the
///   DHT), SHA-256("disims v2 open relay key"): public, answered only by open relays;
/// - [`ProberKey::dial_back`]: a relay's dial-back probe for the nonce `n` a gateway sent it,
///   SHA-256("disims v2 dial-back key" || T || n).
///
/// R and T are ed25519 public keys (32 bytes).
#[derive(Clone)]
pub struct ProberKey([u8; 32]);

impl ProberKey {
    fn derive(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for part in parts {
            h.update(part);
        }
        Self(h.finalize().into())
    }

    /// A peer session with `responder`.
    pub fn of(responder: &VerifyingKey) -> Self {
        Self::derive(&[PROBER_LABEL, responder.as_bytes()])
    }

    /// Relay control at the relay `relay`.
    pub fn relay(relay: &VerifyingKey) -> Self {
        Self::derive(&[RELAY_LABEL, relay.as_bytes()])
    }

    /// Relay control at a relay whose key the initiator does not know (an open relay).
    pub fn open() -> Self {
        Self::derive(&[OPEN_RELAY_LABEL])
    }

    /// The dial-back probe to `gateway` for its nonce `nonce`.
    pub fn dial_back(gateway: &VerifyingKey, nonce: &[u8; 16]) -> Self {
        Self::derive(&[DIAL_BACK_LABEL, gateway.as_bytes(), nonce])
    }

    /// A first message's head and padding under this key: `repr || mac || plen ^ t[16..18]
    /// || pad`, t = HMAC(key, repr || hour). A msg1 when `repr` is an ephemeral's
    /// representative; a dial-back probe when it is 32 random bytes.
    pub fn first_message(&self, repr: &[u8; REPR_LEN], hour: u64, pad: &[u8]) -> Vec<u8> {
        let tag = self.tag(repr, hour);
        let mut out = Vec::with_capacity(REPR_LEN + MAC_LEN + 2 + pad.len());
        out.extend_from_slice(repr);
        out.extend_from_slice(&tag[..MAC_LEN]);
        let [a, b] = u16::try_from(pad.len())
            .expect("padding fits a u16")
            .to_be_bytes();
        out.extend_from_slice(&[a ^ tag[MAC_LEN], b ^ tag[MAC_LEN + 1]]);
        out.extend_from_slice(pad);
        out
    }

    /// HMAC-SHA256(key, representative || hour as u64 BE): the MAC is its first 16 bytes,
    /// the mask of msg1's padding length the next 2.
    pub(crate) fn tag(&self, repr: &[u8; REPR_LEN], hour: u64) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(repr);
        mac.update(&hour.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The hour (of `hour - 1`, `hour`, `hour + 1`) whose MAC `mac` is, compared in
    /// constant time; `None` if none.
    pub(crate) fn hour_of(
        &self,
        repr: &[u8; REPR_LEN],
        mac: &[u8; MAC_LEN],
        hour: u64,
    ) -> Option<(u64, [u8; 32])> {
        [hour, hour.wrapping_sub(1), hour.wrapping_add(1)]
            .into_iter()
            .map(|h| (h, self.tag(repr, h)))
            .find(|(_, tag)| bool::from(tag[..MAC_LEN].ct_eq(mac)))
    }
}

impl fmt::Debug for ProberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProberKey(<redacted>)")
    }
}

/// Hides record lengths: each length is XORed with the next bytes of the XSalsa20 keystream
/// of its own key (nonce all zeros), so a record's header looks random and says nothing.
pub struct LengthMask(XSalsa20);

impl LengthMask {
    pub(crate) fn new(key: &SecretKey32) -> Self {
        Self(XSalsa20::new(key.as_array().into(), &[0u8; 24].into()))
    }

    /// XORs `bytes` with the next `bytes.len()` bytes of the keystream (masks and unmasks).
    pub fn apply(&mut self, bytes: &mut [u8]) {
        self.0.apply_keystream(bytes);
    }
}

impl fmt::Debug for LengthMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LengthMask(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_elligator2::{MapToPointVariant, MontgomeryPoint, Randomized};

    /// Deterministic, well-spread 32-byte strings (no RNG in unit tests).
    fn spread(i: u32) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"obfs test input")
            .chain_update(i.to_le_bytes())
            .finalize()
            .into()
    }

    /// The one-exponentiation representative is the crate's, for every tweak, on
    /// representable and unrepresentable keys alike.
    #[test]
    fn the_projective_representative_is_the_crates() {
        let mut representable = 0;
        for i in 0u32..3000 {
            let key = spread(i);
            let tweak = (i as u8).wrapping_mul(37);
            let ours = randomized_representative(&key, tweak).into_option();
            let crates = Randomized::to_representative(&key, tweak).into_option();
            assert_eq!(ours, crates, "key {i}");
            representable += usize::from(ours.is_some());
        }
        assert!((1300..=1700).contains(&representable), "{representable}");
    }

    /// The one-exponentiation map is the crate's, on spread inputs and on the edges (zero,
    /// one, the top two bits alone, which are ignored, and all ones: 2^254 - 1 once they are).
    #[test]
    fn the_one_exponentiation_map_is_the_crates() {
        let mut edges = [[0u8; 32], [0u8; 32], [0u8; 32], [0xff; 32]];
        edges[1][0] = 1;
        edges[2][31] = 0xc0;
        for (i, r) in (0u32..3000).map(spread).chain(edges).enumerate() {
            assert_eq!(
                map_to_montgomery_u(&r),
                MontgomeryPoint::map_to_point(&r),
                "input {i}"
            );
        }
    }

    /// The direct map and the crate's decoding agree on every representative tried, and a
    /// representative decodes to a key whose shared secrets are the clean key's.
    #[test]
    fn the_direct_map_decodes_as_the_crate_does() {
        for i in 0u32..2000 {
            let mut r = [0u8; 32];
            for (j, chunk) in r.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(
                    &(i.wrapping_mul(2_654_435_761) ^ (j as u32).wrapping_mul(0x9e37_79b9))
                        .to_le_bytes(),
                );
            }
            r[31] ^= (i as u8) << 6;
            let crate_way = MontgomeryPoint::from_representative::<Randomized>(&r).unwrap();
            assert_eq!(public_of(&r).as_bytes(), &crate_way.0, "representative {i}");
        }
        for seed in 0u8..50 {
            let e = Ephemeral::from_seed([seed; 32]);
            let other = StaticSecret::from([seed ^ 0xff; 32]);
            let clean = PublicKey::from(&e.secret);
            assert_eq!(
                other
                    .diffie_hellman(&public_of(e.representative()))
                    .as_bytes(),
                other.diffie_hellman(&clean).as_bytes(),
            );
        }
    }
}
/// A cryptographically secure random source that costs a few nanoseconds a draw: the
/// XSalsa20 keystream of a 32-byte key (nonce all zeros), which the caller takes from the
/// operating system once per session. Used for the padding length of each data frame,
/// where asking the operating system every frame would cost a system call.
pub struct PadRng(XSalsa20);

impl PadRng {
    /// `key`: 32 fresh random bytes (never reused: the draws would repeat).
    pub fn new(key: [u8; 32]) -> Self {
        Self(XSalsa20::new(&key.into(), &[0u8; 24].into()))
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.0.apply_keystream(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// A uniform value in `0..bound` (0 when `bound` is 0 or 1), without modulo bias: draws
    /// at or above the largest multiple of `bound` are drawn again (at most one in two,
    /// for any bound).
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = bound as u64;
        if bound <= 1 {
            return 0;
        }
        let limit = u64::MAX - u64::MAX % bound;
        loop {
            let x = self.next_u64();
            if x < limit {
                return (x % bound) as usize;
            }
        }
    }
}

impl fmt::Debug for PadRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PadRng(<redacted>)")
    }
}

#[cfg(test)]
mod pad_rng_tests {
    use super::PadRng;

    #[test]
    fn draws_stay_below_the_bound_and_cover_it_evenly() {
        let mut rng = PadRng::new([7; 32]);
        assert_eq!((rng.below(0), rng.below(1)), (0, 0));
        let mut counts = [0usize; 65];
        for _ in 0..65_000 {
            counts[rng.below(65)] += 1;
        }
        // 1000 expected per value; a fair source stays within 20 % (about 6 sigma).
        for (value, &n) in counts.iter().enumerate() {
            assert!((800..=1200).contains(&n), "{value} drawn {n} times");
        }
        // A bound just above a power of two (the worst case for rejection) and a large one.
        for bound in [(1usize << 31) + 1, usize::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(bound) < bound);
            }
        }
    }

    #[test]
    fn a_key_gives_its_own_sequence() {
        let draws = |key| {
            let mut rng = PadRng::new(key);
            (0..32).map(|_| rng.below(1 << 20)).collect::<Vec<_>>()
        };
        assert_eq!(draws([1; 32]), draws([1; 32]));
        assert_ne!(draws([1; 32]), draws([2; 32]));
    }

    #[test]
    fn debug_shows_no_key_or_state() {
        assert_eq!(format!("{:?}", PadRng::new([9; 32])), "PadRng(<redacted>)");
    }
}
