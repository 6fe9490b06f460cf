//! Records and data frames: the length-prefixed record format, the limits, and the per-direction
//! XSalsa20-Poly1305 sealer and opener with their implicit 64-bit nonce counters.
//!
//! Byte layout (docs/protocol.md, "Frames"): a record is `u32 BE length || body`; a data record
//! body is `tag(16) || ciphertext(len)`, exactly what `crypto_secretbox` (NaCl's secretbox)
//! produces: the Poly1305 tag comes *before* the ciphertext. Sealing and opening work in place
//! with the detached AEAD API, so a frame costs no allocation and no copy beyond `out` growing.

use std::fmt;

use crypto_secretbox::{AeadInPlace, Nonce, Tag, XSalsa20Poly1305};

use super::kdf::SecretKey32;
use super::obfs::LengthMask;

/// Length of a record header (a big-endian u32 body length).
pub const RECORD_HEADER_LEN: usize = 4;
/// Largest plaintext a single data frame may carry.
pub const MAX_PLAINTEXT: usize = 65536;
/// Length of the Poly1305 tag that precedes every ciphertext.
pub const TAG_LEN: usize = 16;
/// Largest body of a data record: the tag plus a maximal plaintext.
pub const MAX_DATA_RECORD: usize = TAG_LEN + MAX_PLAINTEXT;
/// Largest body of a handshake record (msg1..msg3 are 38, 144 and 112 bytes).
pub const MAX_HANDSHAKE_RECORD: usize = 1024;

/// Errors of the record and frame layer. Any of them on receive means: close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("peer announced a record of {len} bytes; the maximum here is {max}")]
    RecordTooLarge { len: u32, max: usize },
    #[error("plaintext of {0} bytes exceeds the frame maximum of {MAX_PLAINTEXT}")]
    PlaintextTooLarge(usize),
    #[error(
        "data record of {0} bytes is not a valid frame (must be {TAG_LEN}..={MAX_DATA_RECORD})"
    )]
    BadRecordLength(usize),
    #[error("frame failed authentication: tampered, replayed, reordered or dropped")]
    Authentication,
    #[error("frame counter exhausted: the session must be re-established")]
    CounterExhausted,
}

/// Validates a record header against `max` before anything is allocated; returns the body length.
pub fn record_len(header: [u8; RECORD_HEADER_LEN], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header);
    usize::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .ok_or(FrameError::RecordTooLarge { len, max })
}

/// Appends a handshake record (header + body) — used for msg1..msg3.
///
/// # Panics
/// If `body` is longer than `u32::MAX` bytes (a caller bug: handshake bodies are tiny).
pub fn encode_record(body: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(body.len()).expect("record body longer than u32::MAX");
    out.reserve(RECORD_HEADER_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
}

/// The 24-byte nonce for counter `c`: 16 zero bytes, then `c` as a big-endian u64.
pub(crate) fn nonce(c: u64) -> Nonce {
    let mut n = Nonce::default();
    n[16..].copy_from_slice(&c.to_be_bytes());
    n
}

/// Seals the frames of one direction with its own key and counter.
pub struct FrameSealer {
    cipher: XSalsa20Poly1305,
    /// Counter for the next frame; `u64::MAX` is never used, so the counter can never wrap.
    next: u64,
    /// Version 2: the record headers are masked.
    mask: Option<LengthMask>,
    #[cfg(test)]
    key: [u8; 32],
}

impl FrameSealer {
    pub(crate) fn new(key: &SecretKey32) -> Self {
        Self {
            cipher: key.cipher(),
            next: 0,
            mask: None,
            #[cfg(test)]
            key: *key.as_bytes(),
        }
    }

    /// From now on, every record header is masked (version 2).
    pub(crate) fn mask_lengths(&mut self, mask: LengthMask) {
        self.mask = Some(mask);
    }

    /// Seals `plaintext` as the next frame and appends the whole data record (u32 header + body).
    pub fn seal_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(FrameError::PlaintextTooLarge(plaintext.len()));
        }
        if self.next == u64::MAX {
            return Err(FrameError::CounterExhausted);
        }
        let body_len = TAG_LEN + plaintext.len();
        let start = out.len();
        out.reserve(RECORD_HEADER_LEN + body_len);
        // Cannot truncate: body_len <= MAX_DATA_RECORD < u32::MAX.
        let mut header = (body_len as u32).to_be_bytes();
        if let Some(mask) = &mut self.mask {
            mask.apply(&mut header);
        }
        out.extend_from_slice(&header);
        let tag_at = out.len();
        out.extend_from_slice(&[0u8; TAG_LEN]);
        out.extend_from_slice(plaintext);
        match self.cipher.encrypt_in_place_detached(
            &nonce(self.next),
            b"",
            &mut out[tag_at + TAG_LEN..],
        ) {
            Ok(tag) => {
                out[tag_at..tag_at + TAG_LEN].copy_from_slice(&tag);
                self.next += 1;
                Ok(())
            }
            Err(_) => {
                // Unreachable with empty associated data; never leave plaintext in `out`.
                out.truncate(start);
                Err(FrameError::Authentication)
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn key_bytes(&self) -> [u8; 32] {
        self.key
    }

    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, c: u64) {
        self.next = c;
    }
}

impl fmt::Debug for FrameSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSealer")
            .field("next_counter", &self.next)
            .finish_non_exhaustive()
    }
}

/// Opens the frames of one direction; accepts only the exact next counter.
pub struct FrameOpener {
    cipher: XSalsa20Poly1305,
    next: u64,
    /// Version 2: the mask of the peer's record headers, until the reader takes it.
    mask: Option<LengthMask>,
    #[cfg(test)]
    key: [u8; 32],
}

impl FrameOpener {
    pub(crate) fn new(key: &SecretKey32) -> Self {
        Self {
            cipher: key.cipher(),
            next: 0,
            mask: None,
            #[cfg(test)]
            key: *key.as_bytes(),
        }
    }

    pub(crate) fn mask_lengths(&mut self, mask: LengthMask) {
        self.mask = Some(mask);
    }

    /// The mask of the peer's record headers (version 2), for the reader that splits the
    /// stream into records; `None` in version 1 (plain headers) or once taken.
    pub fn take_length_mask(&mut self) -> Option<LengthMask> {
        self.mask.take()
    }

    /// Authenticates and decrypts a data record body in place; returns the plaintext slice.
    ///
    /// On error the counter does not advance and `body` is unchanged; the caller must close
    /// the connection (a replayed, reordered or dropped frame can never open afterwards).
    pub fn open<'a>(&mut self, body: &'a mut [u8]) -> Result<&'a [u8], FrameError> {
        if body.len() < TAG_LEN || body.len() > MAX_DATA_RECORD {
            return Err(FrameError::BadRecordLength(body.len()));
        }
        if self.next == u64::MAX {
            return Err(FrameError::CounterExhausted);
        }
        let (tag, ciphertext) = body.split_at_mut(TAG_LEN);
        let tag = Tag::clone_from_slice(tag);
        self.cipher
            .decrypt_in_place_detached(&nonce(self.next), b"", ciphertext, &tag)
            .map_err(|_| FrameError::Authentication)?;
        self.next += 1;
        Ok(ciphertext)
    }

    #[cfg(test)]
    pub(crate) fn key_bytes(&self) -> [u8; 32] {
        self.key
    }

    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, c: u64) {
        self.next = c;
    }
}

impl fmt::Debug for FrameOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameOpener")
            .field("next_counter", &self.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pair() -> (FrameSealer, FrameOpener) {
        let key = SecretKey32::from_bytes([7; 32]);
        (FrameSealer::new(&key), FrameOpener::new(&key))
    }

    /// Seals one frame and returns its record body (header checked and stripped).
    fn seal(sealer: &mut FrameSealer, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        sealer.seal_into(plaintext, &mut out).expect("seal");
        let header: [u8; 4] = out[..4].try_into().expect("header");
        let len = record_len(header, MAX_DATA_RECORD).expect("record_len");
        assert_eq!(len, out.len() - RECORD_HEADER_LEN);
        out.split_off(RECORD_HEADER_LEN)
    }

    #[test]
    fn round_trip_at_boundary_sizes() {
        let (mut sealer, mut opener) = pair();
        for size in [0, 1, 100, 16384, MAX_PLAINTEXT] {
            let plaintext: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut body = seal(&mut sealer, &plaintext);
            assert_eq!(body.len(), TAG_LEN + size);
            assert_eq!(opener.open(&mut body).expect("open"), &plaintext[..]);
        }
    }

    #[test]
    fn seal_appends_after_existing_bytes() {
        let (mut sealer, mut opener) = pair();
        let mut out = b"prefix".to_vec();
        sealer.seal_into(b"abc", &mut out).expect("seal");
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(opener.open(&mut out[10..]).expect("open"), b"abc");
    }

    #[test]
    fn oversized_plaintext_refused_and_counter_kept() {
        let (mut sealer, mut opener) = pair();
        let mut out = Vec::new();
        let err = sealer.seal_into(&vec![0; MAX_PLAINTEXT + 1], &mut out);
        assert_eq!(err, Err(FrameError::PlaintextTooLarge(MAX_PLAINTEXT + 1)));
        assert!(out.is_empty());
        let mut body = seal(&mut sealer, b"next");
        assert_eq!(opener.open(&mut body).expect("open"), b"next");
    }

    #[test]
    fn every_flipped_bit_fails() {
        let (mut sealer, _) = pair();
        let body = seal(&mut sealer, &[0x5a; 100]);
        for bit in 0..body.len() * 8 {
            let (_, mut opener) = pair();
            let mut tampered = body.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                opener.open(&mut tampered),
                Err(FrameError::Authentication),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn truncated_and_extended_bodies_fail() {
        let (mut sealer, mut opener) = pair();
        let body = seal(&mut sealer, b"hello world");
        for len in 0..TAG_LEN {
            assert_eq!(
                opener.open(&mut body[..len].to_vec()),
                Err(FrameError::BadRecordLength(len))
            );
        }
        for len in TAG_LEN..body.len() {
            assert_eq!(
                opener.open(&mut body[..len].to_vec()),
                Err(FrameError::Authentication)
            );
        }
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(opener.open(&mut longer), Err(FrameError::Authentication));
        let mut huge = vec![0; MAX_DATA_RECORD + 1];
        assert_eq!(
            opener.open(&mut huge),
            Err(FrameError::BadRecordLength(MAX_DATA_RECORD + 1))
        );
        let mut intact = body;
        assert_eq!(opener.open(&mut intact).expect("open"), b"hello world");
    }

    #[test]
    fn replayed_reordered_and_dropped_frames_fail() {
        let (mut sealer, mut opener) = pair();
        let f: Vec<Vec<u8>> = (0..4u8).map(|i| seal(&mut sealer, &[i; 8])).collect();
        // Reordered: frame 1 before frame 0.
        assert_eq!(
            opener.open(&mut f[1].clone()),
            Err(FrameError::Authentication)
        );
        assert_eq!(opener.open(&mut f[0].clone()).expect("f0"), &[0; 8]);
        // Replayed: frame 0 again.
        assert_eq!(
            opener.open(&mut f[0].clone()),
            Err(FrameError::Authentication)
        );
        // Dropped: frame 1 never arrives, frame 2 does.
        assert_eq!(
            opener.open(&mut f[2].clone()),
            Err(FrameError::Authentication)
        );
        assert_eq!(opener.open(&mut f[1].clone()).expect("f1"), &[1; 8]);
    }

    #[test]
    fn frames_from_the_other_direction_fail() {
        let (mut a, _) = pair();
        let key = SecretKey32::from_bytes([8; 32]);
        let mut other = FrameOpener::new(&key);
        assert_eq!(
            other.open(&mut seal(&mut a, b"x")),
            Err(FrameError::Authentication)
        );
    }

    #[test]
    fn counters_never_wrap() {
        let (mut sealer, mut opener) = pair();
        sealer.set_counter(u64::MAX - 1);
        opener.set_counter(u64::MAX - 1);
        let mut body = seal(&mut sealer, b"last");
        assert_eq!(opener.open(&mut body).expect("open"), b"last");
        let mut out = Vec::new();
        assert_eq!(
            sealer.seal_into(b"one more", &mut out),
            Err(FrameError::CounterExhausted)
        );
        assert_eq!(opener.open(&mut body), Err(FrameError::CounterExhausted));
    }

    #[test]
    fn nonce_layout() {
        let n = nonce(0x0102_0304_0506_0708);
        assert_eq!(&n[..16], &[0; 16]);
        assert_eq!(&n[16..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn record_len_checks_before_allocation() {
        assert_eq!(record_len([0, 0, 0, 0], 10), Ok(0));
        assert_eq!(record_len([0, 0, 4, 0], MAX_HANDSHAKE_RECORD), Ok(1024));
        assert_eq!(
            record_len([0, 0, 4, 1], MAX_HANDSHAKE_RECORD),
            Err(FrameError::RecordTooLarge {
                len: 1025,
                max: 1024
            })
        );
        assert_eq!(
            record_len([0xff; 4], MAX_DATA_RECORD),
            Err(FrameError::RecordTooLarge {
                len: u32::MAX,
                max: MAX_DATA_RECORD
            })
        );
        assert_eq!(
            record_len((MAX_DATA_RECORD as u32).to_be_bytes(), MAX_DATA_RECORD),
            Ok(MAX_DATA_RECORD)
        );
    }

    #[test]
    fn encode_record_prefixes_length() {
        let mut out = vec![9];
        encode_record(b"abc", &mut out);
        assert_eq!(out, [9, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn debug_shows_no_key() {
        let (sealer, opener) = pair();
        let text = format!("{sealer:?} {opener:?}");
        assert!(!text.contains("7, 7"), "{text}");
        assert_eq!(
            text,
            "FrameSealer { next_counter: 0, .. } FrameOpener { next_counter: 0, .. }"
        );
    }

    proptest! {
        #[test]
        fn prop_round_trip(plaintexts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..5)) {
            let (mut sealer, mut opener) = pair();
            for plaintext in plaintexts {
                let mut body = seal(&mut sealer, &plaintext);
                prop_assert_eq!(opener.open(&mut body).expect("open"), &plaintext[..]);
            }
        }

        #[test]
        fn prop_open_never_panics(mut body in prop::collection::vec(any::<u8>(), 0..200)) {
            let (_, mut opener) = pair();
            prop_assert!(opener.open(&mut body).is_err());
        }
    }
}
