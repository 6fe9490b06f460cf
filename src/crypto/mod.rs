//! The IO-free cryptographic core: the handshake state machines (`handshake.rs`, and
//! `handshake_v2.rs` with `obfs.rs` for version 2's look of random bytes), the key
//! schedule (`kdf.rs`), record/frame sealing (`frame.rs`), and the safety number users
//! compare (`safety.rs`). No sockets, no clock, no
//! randomness of its own: callers pass fresh ephemeral bytes and move records themselves.
//!
//! The wire format is specified in docs/protocol.md; fixed test vectors are in
//! docs/test-vectors.md and in `tests.rs`.

mod frame;
mod handshake;
mod handshake_v2;
#[cfg(test)]
mod identity_key_tests;
mod kdf;
pub mod obfs;
mod safety;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_purpose;
#[cfg(test)]
mod tests_v2;
#[cfg(test)]
mod vectors_v2;

pub use frame::{
    FrameError, FrameOpener, FrameSealer, MAX_DATA_RECORD, MAX_HANDSHAKE_RECORD, MAX_PLAINTEXT,
    RECORD_HEADER_LEN, TAG_LEN, encode_record, record_len,
};
pub use handshake::{
    AwaitingMsg3, HandshakeError, HandshakeMessage, Initiator, MAGIC, MSG1_LEN, MSG2_LEN, MSG3_LEN,
    Responder, SessionKeys,
};
pub use handshake_v2::{
    AwaitingMsg3V2, InitiatorAwaitingBox, InitiatorV2, MAX_BOX, MAX_PAD, MSG1_HEAD_LEN,
    MSG2_HEAD_LEN, MSG3_HEAD_LEN, Msg1Head, ResponderV2, VERSION_2, read_msg1_head,
};
pub use kdf::{LABEL, LABEL_V2};
pub use safety::{FINGERPRINT_LABEL, SAFETY_GROUPS, SAFETY_LABEL, fingerprint, safety_number};

/// The protocol version sent in msg1 and bound into every transcript hash.
pub const PROTOCOL_VERSION: u16 = 1;
