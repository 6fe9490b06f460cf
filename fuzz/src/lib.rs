//! Shared fixtures of the fuzz targets: the fixed keys of docs/test-vectors.md and the input
//! layout of `irc_client`, so that `examples/make_seeds.rs` writes seeds the targets parse.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use disims::crypto::{Initiator, Responder, SessionKeys};
use disims::identity::PeerId;
use ed25519_dalek::SigningKey;

/// The test-vector identities: 1 is the initiator (and the IRC user), 2 the responder (a peer).
pub fn identity(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Initiator ephemeral of the test vectors.
pub const E_I: [u8; 32] = [3; 32];
/// Responder ephemeral of the test vectors.
pub const E_R: [u8; 32] = [4; 32];

/// An honest handshake with the test-vector inputs.
pub struct Run {
    pub msg1: Vec<u8>,
    pub msg2: Vec<u8>,
    pub msg3: Vec<u8>,
    pub initiator: SessionKeys,
    pub responder: SessionKeys,
}

pub fn honest_run() -> Run {
    let (i_id, r_id) = (identity(1), identity(2));
    let (initiator, msg1) = Initiator::new(&i_id, &r_id.verifying_key(), E_I);
    let (awaiting, msg2) = Responder::new(&r_id, E_R)
        .read_msg1(&msg1)
        .expect("honest msg1");
    let (msg3, initiator) = initiator.read_msg2(&msg2).expect("honest msg2");
    let responder = awaiting.read_msg3(&msg3).expect("honest msg3");
    Run {
        msg1,
        msg2,
        msg3,
        initiator,
        responder,
    }
}

/// The IRC user's own identity (computed once: deriving a public key is costly per run).
pub fn own_peer() -> PeerId {
    static PEER: OnceLock<PeerId> = OnceLock::new();
    *PEER.get_or_init(|| PeerId::of(&identity(1)))
}

/// The peer that events come from.
pub fn other_peer() -> PeerId {
    static PEER: OnceLock<PeerId> = OnceLock::new();
    *PEER.get_or_init(|| PeerId::of(&identity(2)))
}

/// `irc_client` input: `flags, chunk_seed, irc bytes [EVENTS_MARKER event (0xff event)*]`.
/// Bit 0 of `flags` sets the password "pw". Each event is `selector, text bytes`.
pub const EVENTS_MARKER: &[u8] = b"\xffEV";
/// Separates events.
pub const EVENT_SEPARATOR: u8 = 0xff;
