//! The IO-free cryptographic core: the handshake state machine (`handshake.rs`), the key
//! schedule (`kdf.rs`), record/frame sealing (`frame.rs`), and the safety number users
//! compare (`safety.rs`). No sockets, no clock, no
//! randomness of its own: callers pass fresh ephemeral bytes and move records themselves.
//!
//! The wire format is specified in docs/protocol.md; fixed test vectors are in
//! docs/test-vectors.md and in `tests.rs`.

mod frame;
mod handshake;
#[cfg(test)]
mod identity_key_tests;
mod kdf;
mod safety;
#[cfg(test)]
mod tests;

pub use frame::{
    FrameError, FrameOpener, FrameSealer, MAX_DATA_RECORD, MAX_HANDSHAKE_RECORD, MAX_PLAINTEXT,
    RECORD_HEADER_LEN, TAG_LEN, encode_record, record_len,
};
pub use handshake::{
    AwaitingMsg3, HandshakeError, HandshakeMessage, Initiator, MAGIC, MSG1_LEN, MSG2_LEN, MSG3_LEN,
    Responder, SessionKeys,
};
pub use kdf::LABEL;
pub use safety::{FINGERPRINT_LABEL, SAFETY_GROUPS, SAFETY_LABEL, fingerprint, safety_number};

/// The protocol version sent in msg1 and bound into every transcript hash.
pub const PROTOCOL_VERSION: u16 = 1;
