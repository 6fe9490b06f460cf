//! Session messages (the plaintext of every frame): `WireMessage::decode` on arbitrary bytes.
//! A message that decodes must encode again, to the same bytes (the layout is canonical),
//! and decode to the same message.
#![no_main]

use disims::peer::wire::WireMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = WireMessage::decode(data) else {
        return;
    };
    let mut bytes = Vec::new();
    message
        .encode(&mut bytes)
        .expect("a decoded message must encode");
    assert_eq!(bytes, data, "encoding is not canonical");
    assert_eq!(WireMessage::decode(&bytes), Ok(message));
});
