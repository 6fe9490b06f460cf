//! The initiator's side of the handshake: `read_msg2` on arbitrary bytes, after sending the
//! test vectors' msg1 to identity 2.
//!
//! Checks: nothing panics; a msg2 that is accepted proves the dialled key.
#![no_main]

use disims::crypto::{HandshakeError, Initiator, MSG3_LEN};
use disims_fuzz::{E_I, identity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dialled = identity(2).verifying_key();
    let (initiator, _msg1) = Initiator::new(&identity(1), &dialled, E_I);
    match initiator.read_msg2(data) {
        Ok((msg3, keys)) => {
            assert_eq!(keys.peer, dialled, "accepted a msg2 from another key");
            assert_eq!(msg3.len(), MSG3_LEN);
        }
        Err(HandshakeError::WrongPeer { expected, .. }) => {
            assert_eq!(&expected, dialled.as_bytes())
        }
        Err(_) => {}
    }
});
