//! The responder's side of the handshake: `read_msg1` on arbitrary bytes, then `read_msg3`
//! on the rest of the input after a msg1-sized prefix.
//!
//! Input: `msg1 (MSG1_LEN bytes), msg3 (rest)`. If the prefix is not a valid msg1, msg3 goes
//! to the state reached with the test vectors' msg1, so the seed `msg1 || msg3` of an honest
//! run completes the handshake.
#![no_main]

use disims::crypto::{HandshakeError, MSG1_LEN, MSG2_LEN, Responder};
use disims_fuzz::{E_I, E_R, identity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let responder = || Responder::new(&identity(2), E_R);

    match responder().read_msg1(data) {
        Ok((_, msg2)) => {
            assert_eq!(data.len(), MSG1_LEN);
            assert_eq!(msg2.len(), MSG2_LEN);
        }
        Err(HandshakeError::WrongLength { found, .. }) => assert_eq!(found, data.len()),
        Err(_) => {}
    }

    if data.len() < MSG1_LEN {
        return;
    }
    let (msg1, msg3) = data.split_at(MSG1_LEN);
    let awaiting = match responder().read_msg1(msg1) {
        Ok((awaiting, _)) => awaiting,
        Err(_) => {
            let (_, msg1) =
                disims::crypto::Initiator::new(&identity(1), &identity(2).verifying_key(), E_I);
            responder().read_msg1(&msg1).expect("honest msg1").0
        }
    };
    if let Ok(keys) = awaiting.read_msg3(msg3) {
        // Only an initiator that holds its key can complete: here that is identity 1.
        assert_eq!(keys.peer, identity(1).verifying_key(), "msg3 forged");
    }
});
