//! Who we are and who a peer is: the ed25519 identity on disk, [`PeerId`], and the
//! nick <-> key mapping (52-character z-base-32, never truncated).
//!
//! A nick *is* an address: it encodes the peer's 32-byte ed25519 public key, so there is
//! exactly one key for every valid nick and exactly one nick for every key.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// Length of a nick: 256 bits in 5-bit z-base-32 symbols.
pub const NICK_LEN: usize = 52;

/// File name of the identity key inside the data dir.
pub const KEY_FILE: &str = "identity.key";

/// The z-base-32 alphabet (Zooko's human-oriented base-32, as used by pkarr).
const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// Errors about nicks and identity files.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("not a DiSIMS nick: expected {NICK_LEN} z-base-32 characters, got {0}")]
    NickLength(usize),
    #[error("not a DiSIMS nick: {0:?} is not a z-base-32 character")]
    NickChar(char),
    #[error("not a DiSIMS nick: non-canonical encoding (trailing bits set)")]
    NickTrailingBits,
    #[error("not a DiSIMS key: the bytes are not an ed25519 point")]
    NotAKey,
    #[error(
        "not a DiSIMS key: non-canonical encoding (y-coordinate not reduced below 2^255-19), \
         another spelling of a key that has one canonical form"
    )]
    NonCanonicalY,
    #[error(
        "not a DiSIMS key: non-canonical encoding (x = 0 with the sign bit set), \
         another spelling of a key that has one canonical form"
    )]
    NegativeZeroX,
    #[error(
        "not a DiSIMS key: a small-order point (a signature by it proves nothing, and no one \
         holds a secret for it)"
    )]
    SmallOrder,
    #[error(
        "identity key {path} is accessible by group or others (mode {mode:o}); \
         fix it with: chmod 600 {path}"
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },
    #[error(
        "data directory {path} is writable by group or others (mode {mode:o}), who could \
         replace your key; fix it with: chmod 700 {path}"
    )]
    DataDirPermissions { path: PathBuf, mode: u32 },
    #[error("identity key {path} is malformed: expected 32 bytes, found {len}")]
    KeyFileLength { path: PathBuf, len: usize },
    #[error("identity key {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// A peer's public identity: its ed25519 verifying key, validated as a curve point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId([u8; 32]);

/// The one check every public key from outside passes (nick, wire, handshake, DHT record,
/// store): the canonical encoding of an ed25519 point that is not of small order. So one key
/// has one encoding, hence one nick, and a key proves something when it signs.
///
/// Refused, in this order: a y-coordinate >= p = 2^255-19 (the 19 values y + p alias
/// y), x = 0 with the sign bit set (aliases of the two points with x = 0), bytes that are no
/// point, and the 8 points of small order (their "signatures" verify for many messages).
pub fn checked_key(bytes: &[u8; 32]) -> Result<VerifyingKey, IdentityError> {
    if !is_canonical_y(bytes) {
        return Err(IdentityError::NonCanonicalY);
    }
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| IdentityError::NotAKey)?;
    let sign = bytes[31] >> 7;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // x = 0 only at y = 1 and y = p - 1 (both small order): refuse the sign-bit spelling by
    // name first, so the reason says which alias it is.
    let mut p_minus_1 = [0xff; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    if sign == 1 && (y == one || y == p_minus_1) {
        return Err(IdentityError::NegativeZeroX);
    }
    if key.is_weak() {
        return Err(IdentityError::SmallOrder);
    }
    // Belt and braces: the point re-encodes to exactly these bytes.
    if key.to_edwards().compress().to_bytes() != *bytes {
        return Err(IdentityError::NonCanonicalY);
    }
    Ok(key)
}

/// Whether the 255-bit y-coordinate of an encoded point is below p = 2^255 - 19.
fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    // y >= p exactly when bits 0..255 are p..2^255-1: bytes[1..31] all 0xff, the top byte
    // 0x7f (sign bit ignored) and the low byte >= 0xed.
    let top_all_ones = bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff);
    !(top_all_ones && bytes[0] >= 0xed)
}

impl PeerId {
    /// Wraps raw key bytes, refusing all but the canonical encoding of a point that is not
    /// of small order ([`checked_key`]).
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdentityError> {
        checked_key(&bytes)?;
        Ok(Self(bytes))
    }

    /// The public key of a signing key.
    pub fn of(key: &SigningKey) -> Self {
        Self(key.verifying_key().to_bytes())
    }

    /// The raw 32 bytes of the public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as an ed25519 verifying key (always valid: checked at construction).
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.0).expect("PeerId holds a validated key")
    }

    /// Parses a nick (case-insensitive, as IRC nicks are) into the key it encodes.
    pub fn from_nick(nick: &str) -> Result<Self, IdentityError> {
        let len = nick.chars().count();
        if len != NICK_LEN {
            return Err(IdentityError::NickLength(len));
        }
        let mut out = [0u8; 32];
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut pos = 0;
        for c in nick.chars() {
            let lower = c.to_ascii_lowercase();
            let value = ZBASE32
                .iter()
                .position(|&a| a as char == lower)
                .ok_or(IdentityError::NickChar(c))? as u32;
            acc = (acc << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out[pos] = (acc >> bits) as u8;
                pos += 1;
                acc &= (1 << bits) - 1;
            }
        }
        // 52 * 5 = 260 bits: 4 bits remain and must be zero for the encoding to be canonical.
        if acc != 0 {
            return Err(IdentityError::NickTrailingBits);
        }
        Self::from_bytes(out)
    }

    /// The 52-character nick of this key.
    pub fn nick(&self) -> String {
        encode_zbase32(&self.0)
    }

    /// A short, stable fingerprint for logs and humans: the first 8 nick characters.
    pub fn short(&self) -> String {
        self.nick()[..8].to_string()
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.nick())
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.nick())
    }
}

/// Remembers nick -> key conversions for one front end: decoding a nick checks that it is
/// a valid curve point, which costs a field inversion (~20 µs), too slow to repeat for every
/// message to the same friend.
#[derive(Default)]
pub struct NickCache {
    by_nick: std::collections::HashMap<String, PeerId>,
}

impl NickCache {
    /// At most this many nicks are remembered; the cache starts over when full.
    pub const LIMIT: usize = 256;

    /// [`PeerId::from_nick`], remembered.
    pub fn peer(&mut self, nick: &str) -> Result<PeerId, IdentityError> {
        if let Some(peer) = self.by_nick.get(nick) {
            return Ok(*peer);
        }
        let peer = PeerId::from_nick(nick)?;
        if self.by_nick.len() >= Self::LIMIT {
            self.by_nick.clear();
        }
        self.by_nick.insert(nick.to_owned(), peer);
        Ok(peer)
    }
}

/// z-base-32 text of `bytes`, most significant bit first; the last symbol is zero-padded.
pub fn encode_zbase32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ZBASE32[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ZBASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Fresh secret bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], IdentityError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| IdentityError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Fills `buf` with fresh random bytes from the operating system.
pub fn fill_random(buf: &mut [u8]) -> Result<(), IdentityError> {
    getrandom::fill(buf).map_err(|e| IdentityError::Random(e.to_string()))
}

/// Loads the identity key from `data_dir`, creating it (mode 0600) on first start.
///
/// Returns the key and whether it was created now. A key file that group or others can
/// read is refused, as ssh refuses such private keys.
pub fn load_or_create(data_dir: &Path) -> Result<(SigningKey, bool), IdentityError> {
    match load(data_dir)? {
        Some(key) => Ok((key, false)),
        None => Ok((create(data_dir)?, true)),
    }
}

/// Loads the identity key from `data_dir`; `None` when there is none (nothing is created).
pub fn load(data_dir: &Path) -> Result<Option<SigningKey>, IdentityError> {
    let path = data_dir.join(KEY_FILE);
    let io_err = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    check_private_dir(data_dir)?;
    match fs::metadata(&path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(IdentityError::KeyFilePermissions { path, mode });
            }
            // Wiped from memory on drop, like the SigningKey made from it.
            let bytes = Zeroizing::new(fs::read(&path).map_err(io_err)?);
            let secret: Zeroizing<[u8; 32]> = match bytes.as_slice().try_into() {
                Ok(secret) => Zeroizing::new(secret),
                Err(_) => {
                    return Err(IdentityError::KeyFileLength {
                        path: path.clone(),
                        len: bytes.len(),
                    });
                }
            };
            Ok(Some(SigningKey::from_bytes(&secret)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(e)),
    }
}

/// Creates a new identity key in `data_dir` (mode 0600; the dir 0700 where missing); fails
/// if one exists.
fn create(data_dir: &Path) -> Result<SigningKey, IdentityError> {
    let path = data_dir.join(KEY_FILE);
    let io_err = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    create_private_dir(data_dir).map_err(|source| IdentityError::Io {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let secret = Zeroizing::new(random_bytes::<32>()?);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    file.write_all(secret.as_slice()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(SigningKey::from_bytes(&secret))
}

/// Refuses a data dir that group or others can write to (as ssh's StrictModes does): they
/// could replace the identity key or the store. Files inside are 0600, so a readable dir
/// reveals only their names. A missing dir is fine (it is created 0700).
pub fn check_private_dir(dir: &Path) -> Result<(), IdentityError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.permissions().mode() & 0o022 != 0 => {
            Err(IdentityError::DataDirPermissions {
                path: dir.to_path_buf(),
                mode: meta.permissions().mode() & 0o777,
            })
        }
        _ => Ok(()),
    }
}

/// Creates `dir` (and parents) with mode 0700 where it does not exist yet.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn nick_round_trips_and_is_52_chars() {
        for seed in 0..=255u8 {
            let id = PeerId::of(&key(seed));
            let nick = id.nick();
            assert_eq!(nick.len(), NICK_LEN);
            assert_eq!(PeerId::from_nick(&nick).unwrap(), id);
            assert_eq!(PeerId::from_nick(&nick.to_ascii_uppercase()).unwrap(), id);
        }
    }

    #[test]
    fn zbase32_matches_the_specification_vectors() {
        // Test vectors from the z-base-32 specification (Zooko O'Whielacronx, 2002).
        assert_eq!(encode_zbase32(&[0xF0, 0xBF, 0xC7]), "6n9hq");
        assert_eq!(encode_zbase32(&[0xD4, 0x7A, 0x04]), "4t7ye");
        assert_eq!(encode_zbase32(&[0x00]), "yy");
        assert_eq!(encode_zbase32(&[0xff; 32]), format!("{}o", "9".repeat(51)));
    }

    #[test]
    fn malformed_nicks_are_rejected() {
        let good = PeerId::of(&key(7)).nick();
        assert!(matches!(
            PeerId::from_nick(&good[..51]),
            Err(IdentityError::NickLength(51))
        ));
        assert!(matches!(
            PeerId::from_nick(&format!("{good}y")),
            Err(IdentityError::NickLength(53))
        ));
        assert!(matches!(
            PeerId::from_nick(""),
            Err(IdentityError::NickLength(0))
        ));
        let bad_char = format!("l{}", &good[1..]); // 'l' is not in z-base-32
        assert!(matches!(
            PeerId::from_nick(&bad_char),
            Err(IdentityError::NickChar('l'))
        ));
        let non_ascii = format!("é{}", &good[1..]);
        assert!(PeerId::from_nick(&non_ascii).is_err());
        // Set a trailing (padding) bit: the last symbol carries 1 data bit + 4 zero bits.
        let last = good.as_bytes()[51];
        let idx = ZBASE32.iter().position(|&a| a == last).unwrap();
        let tweaked = ZBASE32[idx ^ 1] as char;
        let non_canonical = format!("{}{}", &good[..51], tweaked);
        assert!(matches!(
            PeerId::from_nick(&non_canonical),
            Err(IdentityError::NickTrailingBits)
        ));
    }

    #[test]
    fn nick_cache_agrees_with_from_nick_and_stays_bounded() {
        let mut cache = NickCache::default();
        for seed in 0..=255u8 {
            let nick = PeerId::of(&key(seed)).nick();
            assert_eq!(
                cache.peer(&nick).unwrap(),
                PeerId::from_nick(&nick).unwrap()
            );
            assert_eq!(
                cache.peer(&nick).unwrap(),
                PeerId::from_nick(&nick).unwrap()
            );
        }
        cache
            .peer(&PeerId::of(&key(0)).nick().to_uppercase())
            .unwrap();
        assert!(cache.by_nick.len() <= NickCache::LIMIT);
        assert!(cache.peer("not-a-nick").is_err());
    }

    #[test]
    fn bytes_that_are_not_a_point_are_rejected() {
        // y = 2 is not the y-coordinate of any point on edwards25519.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(VerifyingKey::from_bytes(&not_a_point).is_err());
        assert!(matches!(
            PeerId::from_bytes(not_a_point),
            Err(IdentityError::NotAKey)
        ));
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let k = key(7);
        let secret_hex: String = k.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let debug = format!("{k:?} {:?}", PeerId::of(&k));
        assert!(!debug.contains(&secret_hex), "{debug}");
        assert!(!debug.contains("7, 7, 7"), "{debug}");
    }

    #[test]
    fn key_file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let (k1, created) = load_or_create(&data).unwrap();
        assert!(created);
        let mode = fs::metadata(data.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let (k2, created) = load_or_create(&data).unwrap();
        assert!(!created);
        assert_eq!(k1.to_bytes(), k2.to_bytes());
    }

    #[test]
    fn load_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(load(&data).unwrap().is_none());
        assert!(!data.exists(), "load made the data dir");
        let (key, _) = load_or_create(&data).unwrap();
        assert_eq!(load(&data).unwrap().unwrap().to_bytes(), key.to_bytes());
    }

    #[test]
    fn key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn data_dir_writable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o775)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("chmod 700"), "{err}");
        assert!(
            !dir.path().join(KEY_FILE).exists(),
            "no key is written into an open dir"
        );
    }

    #[test]
    fn truncated_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(&[1u8; 5])
            .unwrap();
        let result = load_or_create(dir.path());
        assert!(
            matches!(result, Err(IdentityError::KeyFileLength { len: 5, .. })),
            "{result:?}"
        );
    }
}

#[cfg(test)]
#[path = "identity_vectors.rs"]
mod vectors;
