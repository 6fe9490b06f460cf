//! What the group tests share: fixed keys.

use ed25519_dalek::SigningKey;

use crate::identity::PeerId;

/// The key of test member `n` (seed `n` repeated).
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn peer(n: u8) -> PeerId {
    PeerId::of(&key(n))
}
