//! Session messages: `WireMessage::decode` on arbitrary bytes, and the same bytes read as a
//! frame's plaintext (`wire::messages`: length-prefixed messages back to back). A message
//! that decodes must encode again to the same bytes (the layout is canonical) and decode to
//! the same message; a frame whose every message decodes must be rebuilt byte for byte by
//! `wire::push`.
#![no_main]

use disims::peer::wire::{self, WireMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = WireMessage::decode(data) {
        let mut bytes = Vec::new();
        message
            .encode(&mut bytes)
            .expect("a decoded message must encode");
        assert_eq!(bytes, data, "encoding is not canonical");
        assert_eq!(WireMessage::decode(&bytes), Ok(message));
    }
    let parsed: Vec<_> = wire::messages(data).collect();
    if !parsed.is_empty() && parsed.iter().all(Result::is_ok) {
        let mut frame = Vec::new();
        for message in parsed.into_iter().flatten() {
            wire::push(&mut frame, &message).expect("a decoded message must encode");
        }
        assert_eq!(frame, data, "frame encoding is not canonical");
    }
});
